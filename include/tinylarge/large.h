/* large.h - the LargeML training engine: float32 networks in NHWC, trained
 * on the host with OpenBLAS.
 *
 * A network is a list of nodes in execution order; each node reads one or
 * two earlier nodes (a residual ADD reads two), so ResNet blocks and
 * early-exit heads are plain lists. All parameters live in one flat array
 * (and their gradients in another), which keeps optimisers, checkpoints and
 * gradient averaging across processes one loop each.
 */
#ifndef TINYLARGE_LARGE_H
#define TINYLARGE_LARGE_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/catalogue.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_layer_kind {
    TL_LAYER_INPUT = 0,
    TL_LAYER_CONV = 1,        /* k_h x k_w, stride, SAME or VALID, OHWI weights */
    TL_LAYER_DWCONV = 2,      /* depthwise, multiplier 1, 1HWC weights */
    TL_LAYER_DENSE = 3,       /* [out, in] weights over the flattened input */
    TL_LAYER_BATCHNORM = 4,   /* per channel; train / eval modes */
    TL_LAYER_RELU = 5,
    TL_LAYER_RELU6 = 6,
    TL_LAYER_MAXPOOL = 7,
    TL_LAYER_AVGPOOL = 8,
    TL_LAYER_GLOBAL_AVGPOOL = 9,
    TL_LAYER_ADD = 10,        /* residual: in[0] + in[1] */
    TL_LAYER_DROPOUT = 11,
    TL_LAYER_COUNT_ = 12
} tl_layer_kind;

/* One node. Shapes are per sample (h, w, c); activations hold a batch. */
typedef struct tl_node {
    tl_layer_kind kind;
    int in[2];                  /* input node indices (-1: none) */
    int h, w, c;                /* output shape */
    int k_h, k_w, stride_h, stride_w, same, pad_top, pad_left;
    float rate;                 /* dropout rate */
    size_t weight_at, weight_count;   /* slices of the flat parameter array */
    size_t bias_at, bias_count;       /* (batchnorm: gamma, beta) */
    float *running_mean, *running_var;    /* batchnorm state (not trained) */
    float *saved_mean, *saved_invstd;     /* batchnorm batch statistics */
    float *out, *dout;          /* [batch, h, w, c] */
    int32_t *argmax;            /* maxpool: winning input index per output */
    uint8_t *mask;              /* dropout mask */
    int grad_ready;             /* backward: dout already holds gradient */
    int grad_seed;              /* set before a backward pass by a caller that wrote a loss's
                                   gradient into this (non-exit) node's dout, as attention
                                   transfer does; consumers add to it; backward clears it */
    char name[32];
} tl_node;

#define TL_MAX_EXITS 8

typedef struct tl_net {
    tl_node *nodes;
    int count;
    int capacity;
    int batch;                  /* samples the activations are sized for */
    float *params, *grads;      /* flat, param_count each */
    size_t param_count;
    int exits[TL_MAX_EXITS];    /* logits nodes, shallowest first */
    float exit_weights[TL_MAX_EXITS];
    int exit_count;
    int training;               /* batchnorm and dropout modes */
    uint64_t rng;               /* dropout stream */
    float *scratch, *scratch2;  /* im2col / col2im buffers */
    size_t scratch_size;
    size_t im2col_floats;       /* column-buffer budget of a convolution chunk;
                                   0 = the default (tests make it tiny) */
    int conv_direct;            /* floats a vector of the direct kernels stride-1
                                   convolutions use where they apply: 16 (AVX-512)
                                   or 8 (AVX2); 0: im2col only. Set by finalize to
                                   the widest the CPU runs; tests may lower it */
    float *direct_in, *direct_w; /* padded image and reordered filters */
    char arch[32];              /* architecture name, for checkpoints */
    /* Split learning (tl_net_set_cut): node `cut`'s activation, once
     * computed, and its gradient, once complete, pass through cut_fn in
     * place: what crosses between the device's half and the edge's. */
    int cut;                    /* 0: no cut */
    void (*cut_fn)(void *ctx, float *values, int count, size_t per_sample, int backward);
    void *cut_ctx;
    const int *conv_widths;     /* while building a channel-pruned net: each */
    int conv_width_count;       /* convolution's output channels, in order */
    int conv_width_next;
} tl_net;

/* Split learning: nodes [1, node] are the device's half, the rest the
 * edge's; fn sees (and may change in place, e.g. quantise) the cut's
 * activation after the forward pass reaches it and its gradient before
 * the backward pass goes below it. node 0 or fn NULL: no cut.
 * TL_ERR_SHAPE: a later node reads one before the cut (a skip connection
 * over it: more than the cut's activation would cross). */
tl_status tl_net_set_cut(tl_net *net, int node, void (*fn)(void *ctx, float *values, int count, size_t per_sample,
                                                            int backward),
                         void *ctx);

/* ---- building (src/large/net.c) ---- */

/* Starts a network with an input of h x w x c; returns the input node (0). */
tl_status tl_net_init(tl_net *net, int h, int w, int c);
void tl_net_free(tl_net *net);

/* Layer constructors: each appends a node reading `in` and returns its
 * index, or -1 (bad arguments). */
int tl_net_conv(tl_net *net, int in, int out_c, int k, int stride, int same);
int tl_net_dwconv(tl_net *net, int in, int k, int stride, int same);
int tl_net_dense(tl_net *net, int in, int out);
int tl_net_batchnorm(tl_net *net, int in);
int tl_net_relu(tl_net *net, int in);
int tl_net_relu6(tl_net *net, int in);
int tl_net_maxpool(tl_net *net, int in, int k, int stride);
int tl_net_avgpool(tl_net *net, int in, int k, int stride);
int tl_net_global_avgpool(tl_net *net, int in);
int tl_net_add(tl_net *net, int a, int b);
int tl_net_dropout(tl_net *net, int in, float rate);

/* Declares `node` (a dense layer's output) as an exit with a loss weight. */
tl_status tl_net_add_exit(tl_net *net, int node, float weight);

/* Allocates parameters (He-initialised from `seed`) and activations for
 * `batch` samples. Call once, after building. */
tl_status tl_net_finalize(tl_net *net, int batch, uint64_t seed);

/* Builds a named architecture (see tl_arch_names); `classes` outputs. */
tl_status tl_net_build_arch(tl_net *net, const char *arch, int h, int w, int c, int classes);
/* NULL-terminated list of architecture names, and a one-line description. */
const char *const *tl_arch_names(void);
const char *tl_arch_describe(const char *arch);

/* ---- running (src/large/layers.c) ---- */

/* Floats a vector of the widest direct stride-1 convolution kernels this
 * CPU runs (built with GCC on x86-64): 16 with AVX-512, 8 with AVX2 and
 * FMA, 0 elsewhere; tl_net_finalize sets net->conv_direct from it. */
int tl_conv_direct_available(void);

/* Forward pass on n <= batch samples of input x [n, h, w, c]. */
void tl_net_forward(tl_net *net, const float *x, int n);
/* Backward pass: the exits' dout must be set; accumulates into grads. */
void tl_net_backward(tl_net *net, int n);
void tl_net_zero_grads(tl_net *net);
/* Split learning across processes: the device's half runs nodes [1, cut]
 * (forward_until) and, given the gradient of node cut's output, goes back
 * through them (backward_until); the edge's half takes node cut's output
 * (forward_after), and with the exits' dout set goes back to node cut + 1,
 * leaving the gradient the device needs in nodes[cut].dout
 * (backward_after). No node above the cut may read one below it
 * (tl_net_set_cut checks) and no exit may lie at or below it. */
void tl_net_forward_until(tl_net *net, const float *x, int n, int cut);
void tl_net_forward_after(tl_net *net, const float *cut_values, int n, int cut);
void tl_net_backward_after(tl_net *net, int n, int cut);
void tl_net_backward_until(tl_net *net, const float *cut_gradient, int n, int cut);
/* Values a sample of node `node` holds (0 for no such node). */
size_t tl_net_node_values(const tl_net *net, int node);

/* ---- losses (src/large/loss.c) ---- */

/* Softmax cross-entropy of logits [n, classes] against labels: returns the
 * mean loss, writes d(loss)/d(logits) * scale into dlogits (may be NULL),
 * and counts correct arg-max predictions into *correct (may be NULL). */
float tl_softmax_cross_entropy(const float *logits, const uint8_t *labels, int n, int classes,
                               float scale, float *dlogits, int *correct);

/* Knowledge distillation (Hinton et al. 2015): alpha * T^2 * KL(teacher/T ||
 * student/T) + (1 - alpha) * CE(student, labels). Returns the mean loss and
 * writes its gradient * scale into dlogits. */
float tl_distillation_loss(const float *student, const float *teacher, const uint8_t *labels,
                           int n, int classes, float temperature, float alpha, float scale,
                           float *dlogits, int *correct);

/* Decoupled knowledge distillation (Zhao et al. 2022): CE(student, labels)
 * + T^2 (alpha * TCKD + beta * NCKD), where TCKD is the KL divergence
 * between teacher and student on (target, rest) and NCKD the one between
 * their softmaxes over the non-target classes. Hinton's KL term is TCKD +
 * (1 - q_t) NCKD, q_t the teacher's target probability: its NCKD weight
 * shrinks just where the teacher is sure, which beta lifts. Returns the mean
 * loss and writes its gradient * scale into dlogits; NAN for classes < 2. */
float tl_decoupled_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                     int classes, float temperature, float alpha, float beta, float scale,
                                     float *dlogits, int *correct);

/* Knowledge distillation on z-scored logits (Sun et al. 2024, "logit
 * standardization"): each row of student and teacher logits becomes
 * (x - mean) / std before the temperature, so the student matches the
 * teacher's relations between classes, not the size of its logits (which a
 * small student may not reach). (1 - alpha) CE(student, labels) + alpha *
 * weight * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)); the paper's
 * CIFAR setting is T 2, CE weight 0.1, KD weight 9 (alpha 0.9, weight 10).
 * Returns the mean loss and writes its gradient * scale into dlogits; NAN
 * for classes < 2. */
float tl_zscore_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                  int classes, float temperature, float alpha, float weight, float scale,
                                  float *dlogits, int *correct);

/* Distillation by correlation (the inter-class relation of Huang et al.
 * 2022, "DIST"): (1 - alpha) CE(student, labels) + alpha * weight * T^2 *
 * (1 - rho), rho the Pearson correlation between the student's and the
 * teacher's softmax at T of the same sample. Like the z-scored loss it asks
 * for the teacher's ranking of the classes, not its exact probabilities,
 * which a stronger teacher puts out of a small student's reach; DIST's
 * intra-class term (a correlation over the batch) is left out, so the loss
 * stays a sum over samples (the same on any number of threads). Returns the
 * mean loss and writes its gradient * scale into dlogits; NAN for
 * classes < 2. */
float tl_pearson_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                   int classes, float temperature, float alpha, float weight, float scale,
                                   float *dlogits, int *correct);

/* Attention transfer (Zagoruyko & Komodakis 2017): a layer's attention
 * map is the mean over channels of its squared activations at each pixel,
 * scaled to unit length per sample. tl_attention_map writes the map of one
 * sample's activations [pixels, channels] into q [pixels] and returns the
 * length before scaling (0: q is all zeros). */
double tl_attention_map(const float *act, int pixels, int channels, float *q);

/* beta / 2 * the mean over samples and pixels of (q - target)^2, q the
 * maps of act [n, pixels, channels], target row b at target + b *
 * target_stride (unit maps, as tl_attention_map makes). Writes the
 * gradient * scale into dact [n, pixels, channels] (may be NULL); q is
 * scratch of `pixels` floats. */
float tl_attention_loss(const float *act, int n, int pixels, int channels, const float *target, size_t target_stride,
                        float beta, float scale, float *dact, float *q);

#define TL_ATTENTION_MAX 4

/* Where a student's attention maps are matched to a teacher's: for each
 * spatial size (above 1x1) both networks have, the last node of that size
 * in each (the output of a stage, before it is pooled or strided away),
 * in the student's order. */
typedef struct tl_attention_points {
    int count;
    int student[TL_ATTENTION_MAX], teacher[TL_ATTENTION_MAX];
    int pixels[TL_ATTENTION_MAX];
    int offset[TL_ATTENTION_MAX]; /* of each map in a sample's row of all maps */
    int floats;                   /* a sample's row: the sum of pixels */
} tl_attention_points;

/* Fills *points; TL_ERR_SHAPE when the two share no size (or more than
 * TL_ATTENTION_MAX). */
tl_status tl_attention_match(const tl_net *student, const tl_net *teacher, tl_attention_points *points);

/* What a training step needs for attention transfer: the points, the
 * weight and the teacher's maps of the step's samples [count, floats]. */
typedef struct tl_attention {
    const tl_attention_points *points;
    float beta;
    const float *teacher_maps;
} tl_attention;

typedef enum tl_kd_kind {
    TL_KD_HINTON = 0,           /* alpha T^2 KL + (1 - alpha) CE */
    TL_KD_DECOUPLED = 1,        /* CE + T^2 (alpha TCKD + beta NCKD) */
    TL_KD_ZSCORE = 2,           /* as Hinton's on z-scored logits, the KL term times beta */
    TL_KD_PEARSON = 3           /* alpha beta T^2 (1 - correlation) + (1 - alpha) CE */
} tl_kd_kind;

/* Which distillation loss a training step uses, with its weights. */
typedef struct tl_kd_params {
    tl_kd_kind kind;
    float temperature, alpha, beta;
} tl_kd_params;

/* The loss kd names (one of the four above, with its weights; beta is the
 * decoupled loss's beta and the z-scored and correlation losses' weight):
 * what a training step calls. NAN for an unknown kind. */
float tl_kd_loss(const tl_kd_params *kd, const float *student, const float *teacher, const uint8_t *labels, int n,
                 int classes, float scale, float *dlogits, int *correct);

/* ---- optimisers (src/large/optim.c) ---- */

typedef enum tl_optim_kind { TL_OPTIM_SGD = 0, TL_OPTIM_ADAMW = 1 } tl_optim_kind;
typedef enum tl_schedule_kind { TL_SCHED_CONSTANT = 0, TL_SCHED_STEP = 1, TL_SCHED_COSINE = 2 } tl_schedule_kind;

typedef struct tl_optim {
    tl_optim_kind kind;
    float lr, momentum, weight_decay, beta1, beta2, eps;
    tl_schedule_kind schedule;
    int warmup_steps;            /* linear warm-up from 0 */
    int step_every;              /* step schedule: multiply by step_gamma every N steps */
    float step_gamma;
    long total_steps;            /* cosine: decays to 0 over this many steps */
    long step;                   /* steps taken (part of the checkpoint) */
    float *m, *v;                /* momentum / Adam moments, param_count each */
    size_t count;
} tl_optim;

tl_status tl_optim_init(tl_optim *opt, size_t param_count);
void tl_optim_free(tl_optim *opt);
/* The learning rate the next step will use. */
float tl_optim_lr(const tl_optim *opt);
/* One update of params from grads (weight decay skips biases/batchnorm
 * parameters, given as a mask: decay[i] != 0 where it applies). */
void tl_optim_step(tl_optim *opt, float *params, const float *grads, const uint8_t *decay);
/* 1 where weight decay applies (conv / dense weights), 0 elsewhere. */
uint8_t *tl_net_decay_mask(const tl_net *net);

/* ---- data (src/large/data.c) ---- */

#define TL_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define TL_FASHION_MNIST_MEAN 0.2860f
#define TL_FASHION_MNIST_STD 0.3530f

/* Images as uint8 pixels [n, h, w, c] (normalised when a batch is made). */
typedef struct tl_dataset {
    uint8_t *pixels;
    uint8_t *labels;
    int n, h, w, c, classes;
} tl_dataset;

/* Reads an IDX image file (N x H x W, or N x H x W x C bytes) and its
 * label file (gzip or plain, via zlib), at most `limit` samples (0: all).
 * classes is 1 + the largest label read. On failure `error` names the file
 * and what is wrong. */
tl_status tl_dataset_load_idx(const char *images, const char *labels, int limit, tl_dataset *out,
                              char *error, size_t error_size);
/* The same from NumPy .npy arrays: uint8 images (N x H x W or N x H x W x
 * C), integer labels (N or N x 1, each 0..255). */
tl_status tl_dataset_load_npy(const char *images, const char *labels, int limit, tl_dataset *out,
                              char *error, size_t error_size);

/* The train (train != 0) or test split of a dataset folder (NULL: the
 * Fashion-MNIST folder Debian's dataset-fashion-mnist package installs):
 * x_train.npy / y_train.npy / x_test.npy / y_test.npy, or MNIST-style IDX
 * files (train- and t10k- or test-, images-idx3 or -idx4, labels-idx1,
 * gzip or plain). classes is the folder's: 1 + the largest label of either
 * split's whole label file, whatever `limit` keeps. */
tl_status tl_dataset_load_dir(const char *dir, int train, int limit, tl_dataset *out, char *error,
                              size_t error_size);

/* How a dataset is dealt out to shards (federated clients), each seeded:
 * IID (a shuffled deal), Dirichlet(alpha) over labels (each class split
 * among the shards in Dirichlet proportions: small alpha, skewed shards),
 * or k labels per shard (each shard draws k classes and gets a share of
 * each). shard_of[i] is sample i's shard. */
typedef enum tl_partition_kind {
    TL_PARTITION_IID = 0,
    TL_PARTITION_DIRICHLET = 1,
    TL_PARTITION_LABELS = 2
} tl_partition_kind;

tl_status tl_dataset_partition(const tl_dataset *ds, tl_partition_kind kind, int shards, double alpha,
                               int labels_per_shard, uint64_t seed, int *shard_of);
void tl_dataset_free(tl_dataset *ds);

/* A device's own distribution, for on-device learning: label skew (keep
 * only the listed classes; the label values stay as they are) and a
 * covariate shift of the pixels. tl_dataset_select copies the samples whose
 * label is in keep[0..count) into *out (the same class count). */
tl_status tl_dataset_select(const tl_dataset *ds, const int *keep, int count, tl_dataset *out);

typedef enum tl_shift_kind {
    TL_SHIFT_NONE = 0,
    TL_SHIFT_ROTATE = 1,      /* every image turned by `amount` degrees about its centre
                                 (nearest pixel; corners outside are 0) */
    TL_SHIFT_BRIGHTNESS = 2,  /* `amount` added to every pixel, clipped to 0..255 */
    TL_SHIFT_NOISE = 3        /* Gaussian noise of standard deviation `amount`, clipped */
} tl_shift_kind;

/* On-device learning fed from a dataset, as a device feeds it its own
 * samples (src/large/learn_data.c): for each of `count` samples (image
 * order[i % ds->n]), the image as the model's input (pixel - 128), the
 * backbone up to the head, one tl_learn_add. With `log` (may be NULL), the
 * inputs and labels are also written there as a sample log's records
 * (learn.h), after its header. TL_ERR_SHAPE: the model does not take the
 * data's images. */
struct tl_learner;
struct tl_interp;
tl_status tl_learn_dataset(struct tl_learner *learner, struct tl_interp *interp, const tl_dataset *ds,
                           const uint32_t *order, uint32_t count, uint8_t *log);

/* Image `image` as the device models take it: int8 = pixel - 128, into
 * in[h * w * c] (the exported models' input, docs/large.md). */
void tl_dataset_device_input(const tl_dataset *ds, uint32_t image, int8_t *in);

/* Applies the shift in place; noise is drawn from `seed`. */
tl_status tl_dataset_shift(tl_dataset *ds, tl_shift_kind kind, double amount, uint64_t seed);
/* One split of a dataset folder as a device sees it: the classes kept
 * (count 0: all), then the shift (noise seeded by seed, the test split's
 * by another); error names a class the data does not have. */
tl_status tl_dataset_load_shifted(const char *dir, int train, const int *keep, int count, tl_shift_kind shift,
                                  double amount, uint64_t seed, tl_dataset *out, char *error, size_t error_size);
/* "rotate:30", "brightness:60", "noise:25" or "none"; 0 on success. */
int tl_shift_parse(const char *text, tl_shift_kind *kind, double *amount);

/* One augmented view of an image: shifted by (dy, dx) in [-2, 2] after
 * 2-pixel zero padding (a random crop), then mirrored if flip; then, if
 * cut > 0, the cut x cut square at (cut_y, cut_x) (clipped to the image)
 * set to the mean (Cutout, DeVries and Taylor 2017). */
typedef struct tl_view {
    int dy, dx, flip;
    int cut, cut_y, cut_x;
} tl_view;

/* A view of an h x w image drawn from *rng, with a cutout square of side
 * `cutout` centred anywhere in the image (0: none, and *rng advances as it
 * did before cutout existed); the view numbered `view` of image `image` for
 * a seed (the same on every call: a teacher scores it once, the student
 * sees it in any epoch). */
tl_view tl_view_draw(uint64_t *rng, int h, int w, int cutout);
tl_view tl_view_of(uint64_t seed, uint32_t image, int view, int h, int w, int cutout);

/* Writes image `image` seen through `view` to dst [h, w, c], normalised as
 * (p / 255 - mean) / std. */
void tl_dataset_view(const tl_dataset *ds, uint32_t image, float mean, float std, tl_view view, float *dst);

/* Fills x [count, h, w, c] and y with samples order[first .. first+count),
 * normalised as (p / 255 - mean) / std; with augment != 0, a random crop
 * after 2-pixel zero padding, a random horizontal flip and a cutout square
 * of side `cutout` (0: none), from *rng. */
void tl_dataset_batch(const tl_dataset *ds, const uint32_t *order, int first, int count, float mean,
                      float std, int augment, int cutout, uint64_t *rng, float *x, uint8_t *y);

/* As tl_dataset_batch, but each sample is one of its image's `views` fixed
 * views (tl_view_of with `seed` and `cutout`), drawn from *rng; chosen[b]
 * says which. */
void tl_dataset_batch_views(const tl_dataset *ds, const uint32_t *order, int first, int count, float mean,
                            float std, uint64_t seed, int views, int cutout, uint64_t *rng, float *x, uint8_t *y,
                            int *chosen);

/* A deterministic permutation of [0, n) for (seed, epoch). */
void tl_shuffle(uint32_t *order, int n, uint64_t seed, int epoch);

/* What crosses a split-learning cut (src/large/split_learning.c): the
 * activations up and their gradients down, each sample's values as int8
 * with one float scale (bits 8), or float32 (bits 32); the bytes counted.
 * Pass tl_cut_exchange and a tl_cut_link to tl_net_set_cut. */
typedef struct tl_cut_link {
    int bits;                   /* 8 or 32 */
    double bytes_up, bytes_down;
    long samples;               /* forward passes' samples through the cut */
} tl_cut_link;
void tl_cut_exchange(void *link, float *values, int count, size_t per_sample, int backward);

/* Split learning across processes (the device's half in one, the edge's
 * in another, a link between; src/large/split_learning.c).
 *
 * On the wire: "TLCX", u32 samples, u32 values a sample, u8 bits (8 or
 * 32), u8 labels follow (0/1), 2 zero bytes; the labels (a byte a
 * sample); each sample's values as a float scale and int8 values
 * (rounded as tl_cut_exchange does) or as float32. Activations go up with
 * their labels, gradients come down without. */
size_t tl_cut_wire_size(int n, size_t per_sample, int bits, int with_labels);
/* Writes tl_cut_wire_size bytes to out (labels NULL: none); returns them. */
size_t tl_cut_encode(uint8_t *out, const float *values, const uint8_t *labels, int n, size_t per_sample, int bits);
/* TL_ERR_FORMAT: not a cut message; TL_ERR_SHAPE: not per_sample values a
 * sample, more than max_n samples, labels present or missing against
 * `labels`, or a size that does not add up. */
tl_status tl_cut_decode(const uint8_t *in, size_t size, size_t per_sample, int max_n, float *values, uint8_t *labels,
                        int *n, int *bits);
/* TL_OK when node `cut` can split net across processes: a node inside it,
 * no exit at or below it, no skip connection over it. */
tl_status tl_split_check(const tl_net *net, int cut);
/* The edge's step: the cut's values of n samples in; its half forward,
 * the loss at the exits, back to the cut, its update; the gradient at the
 * cut (n x its values) out, and the last exit's loss and hits. */
tl_status tl_split_edge_step(tl_net *net, tl_optim *opt, const uint8_t *decay, int cut, const float *cut_values,
                             const uint8_t *labels, int n, float *cut_gradient, double *loss, int *hits);
/* What carries a batch's cut values (and labels) to the edge and brings
 * their gradient back (n x per_sample floats into cut_gradient). */
typedef tl_status (*tl_split_send)(void *ctx, const float *cut_values, const uint8_t *labels, int n,
                                   size_t per_sample, float *cut_gradient);
/* The device's step: its half forward on x, send, its half back from the
 * gradient that came, its update. A failed send leaves the weights as
 * they were. cut_gradient: n x the cut's values, the caller's. */
tl_status tl_split_device_step(tl_net *net, tl_optim *opt, const uint8_t *decay, int cut, const float *x,
                               const uint8_t *labels, int n, tl_split_send send, void *ctx, float *cut_gradient);
/* The device's half's state (nodes 1..cut: weights, biases, batch norm's
 * running statistics) as floats, so the edge can join the two halves. */
size_t tl_split_half_floats(const tl_net *net, int cut);
void tl_split_half_pack(const tl_net *net, int cut, float *out);
void tl_split_half_unpack(tl_net *net, int cut, const float *in);

/* The edge's side as a server runs it (serve --split-learn): its half of
 * a checkpoint, trained one request at a time, SGD (lr, momentum 0.9,
 * weight decay 5e-4); the device's half joined into it on request and the
 * whole written to `out`. */
typedef struct tl_split_server_options {
    const char *checkpoint;
    int cut;
    float lr;                   /* default 0.05 */
    const char *out;            /* the joined model (NULL: none) */
} tl_split_server_options;
typedef struct tl_split_server tl_split_server;
tl_status tl_split_server_open(const tl_split_server_options *o, tl_split_server **server, char *error,
                               size_t error_size);
void tl_split_server_close(tl_split_server *server);
/* "arch=..&cut=..&values=..&batch=..&classes=..&steps=..&samples=..&loss=..&train_accuracy=..": what a device needs to
 * know (its half's architecture, the cut) and how training goes. */
void tl_split_server_describe(const tl_split_server *server, char *text, size_t size);
/* A device's batch at the cut in (the wire above, with labels); the
 * gradient at the cut out (*answer: malloc'd, the same bits). */
tl_status tl_split_server_train(tl_split_server *server, const uint8_t *message, size_t size, uint8_t **answer,
                                size_t *answer_size, char *error, size_t error_size);
/* The device's half (tl_split_half_pack's floats) joined; the whole saved. */
tl_status tl_split_server_join(tl_split_server *server, const uint8_t *half, size_t size, char *error,
                               size_t error_size);

/* ---- checkpoints (src/large/checkpoint.c) ---- */

/* What a checkpoint says about itself. */
typedef struct tl_checkpoint_info {
    char arch[32];
    int h, w, c, classes;
    int epoch;                  /* epochs completed */
    float mean, std;            /* input normalisation */
    float accuracy;             /* test accuracy of the last exit at save time */
    uint64_t seed;
} tl_checkpoint_info;

/* Saves weights, batch-norm statistics, the dropout stream and (if opt is
 * not NULL) the optimiser state, sealed with a SHA-256 digest; written to a
 * temporary file and renamed, so a crash never leaves half a checkpoint. */
tl_status tl_checkpoint_save(const char *path, const tl_net *net, const tl_optim *opt,
                             const tl_checkpoint_info *info);

/* Builds the checkpoint's architecture for `batch` samples and restores it
 * (and the optimiser's state if opt is not NULL). `error` says what is
 * wrong with a missing, corrupt or mismatched file. */
tl_status tl_checkpoint_load(const char *path, int batch, tl_net *net, tl_optim *opt,
                             tl_checkpoint_info *info, char *error, size_t error_size);

/* ---- training (src/large/train.c) ---- */

/* Most fixed views of each image a distillation may cache (the teacher's
 * cached logits take views * images * classes floats). */
#define TL_TEACHER_VIEWS_MAX 64
#define TL_CUTOUT_MAX 64 /* pixels; the square is clipped to the image */
#define TL_TEACHERS_MAX 4 /* teachers one distillation may average */

typedef struct tl_train_config {
    const char *arch;           /* architecture name (ignored when resuming) */
    const char *data_dir;       /* NULL: Debian's dataset-fashion-mnist folder */
    const char *out;            /* checkpoint written after every epoch */
    const char *resume;         /* checkpoint to continue from, or NULL */
    const char *teacher;        /* distil from this checkpoint, or NULL */
    const char *more_teachers[TL_TEACHERS_MAX - 1]; /* an ensemble: the soft targets come from the
                                   mean of all teachers' logits (cached pass only: not with
                                   teacher_live or attention) */
    int more_teacher_count;
    int teacher_live;           /* 1: run the teacher on every augmented batch; 0: once per
                                   training image (or view), before the first epoch */
    int teacher_views;          /* 0: the teacher scores un-augmented images; K: K fixed
                                   augmented views of each, the only views the student sees */
    int teacher_flip;           /* 1: the teacher's logits of an image are the mean of its
                                   logits of the image and of its mirror (twice the cost) */
    float attention;            /* > 0: attention transfer at every size student and teacher
                                   share, this weight (beta; 1000 in the paper); not with
                                   teacher_cache or teacher_flip */
    const char *teacher_cache;  /* file keeping the teacher's logits between runs, or NULL
                                   (read when it matches the teacher, data and views; else
                                   written after the teacher's pass); not with teacher_live */
    int epochs, batch, threads;
    int limit_train, limit_test;   /* 0: the whole split */
    int augment;
    int cutout;                 /* with augment: side of the square Cutout masks (0: none) */
    uint64_t seed;
    tl_optim_kind optimizer;
    float lr, momentum, weight_decay;
    tl_schedule_kind schedule;
    int warmup_epochs;
    float temperature, alpha;   /* distillation (alpha: the KL term's weight, Hinton's loss) */
    tl_kd_kind kd;              /* the distillation loss (Hinton's by default) */
    float dkd_alpha, dkd_beta;  /* TL_KD_DECOUPLED: CE + T^2 (dkd_alpha TCKD + dkd_beta NCKD) */
    float dkd_warmup;           /* epochs over which the decoupled term ramps up from 0 */
    float zkd_weight;           /* TL_KD_ZSCORE: the KL term's weight on top of alpha */
    float pkd_weight;           /* TL_KD_PEARSON: the correlation term's weight on top of alpha */
    const char *init;           /* start from this checkpoint's weights (fresh optimiser), or NULL */
    float prune;                /* target fraction of conv/dense weights pruned to zero (0: none) */
    float prune_channels;       /* with init: remove this fraction of filters first (0: none) */
    int qat_bits;               /* quantisation-aware training of conv/dense weights: 4 or 8 (0: off) */
    int alone;                  /* 1: one process's run even under mpirun (a federated client,
                                   whose processes are edges, not batch slices) */
    int split_cut;              /* > 0: split learning, the net cut after this node (the
                                   device's half below, the edge's above; one thread) */
    int split_bits;             /* what crosses: 8 (int8, a scale a sample) or 32 */
    tl_cut_link *split_link;    /* counts the bytes (NULL: the trainer's own) */
    int progress;               /* 1: a progress bar on stderr; 0: log lines */
    int quiet;                  /* no output at all (tests) */
    /* Where the run's log lines go (NULL: stderr): the run announced, the
     * teacher's pass, each epoch's figures. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} tl_train_config;

/* ---- structured (channel) pruning (src/large/prune_channels.c) ---- */

/* Filters a convolution of `channels` keeps when pruned by `fraction`. */
int tl_prune_width(int channels, float fraction);

/* Every convolution's output channels after pruning by `fraction` (those
 * feeding a residual add keep all), in node order. */
tl_status tl_conv_widths(const tl_net *net, float fraction, int *widths, int capacity, int *count);

/* A copy of `src` with the weakest `fraction` of each prunable
 * convolution's filters removed (ranked by the |gamma| of the batch norm
 * after them, else their L1 norm), along with their batch-norm channels and
 * consumers' input channels; architecture "ARCH@F", finalized for `batch`.
 * TL_ERR_ARG for a fraction outside (0, 1) or an already pruned network. */
tl_status tl_net_prune_channels(const tl_net *src, float fraction, int batch, tl_net *dst);

/* Sensible defaults for Fashion-MNIST (SGD 0.05, cosine, batch 128, ...). */
void tl_train_defaults(tl_train_config *cfg);

typedef struct tl_train_report {
    int epochs_run;
    float train_loss, train_accuracy;
    float test_accuracy[TL_MAX_EXITS];
    int exit_count;
    size_t param_count;
    double seconds, images_per_second;
    int rank, processes;        /* this process among the MPI processes (0 of 1 alone) */
    int teacher_cache_read;     /* 1: the teacher's logits came from cfg->teacher_cache */
    int teacher_cache_written;  /* 1: the teacher ran and its logits were saved there */
} tl_train_report;

/* The configuration's rules, checked once for the library and the command
 * line alike: positive epochs, batch and rate; a known architecture (unless
 * resuming or warm-starting); what goes with what among the teacher's
 * options. TL_ERR_ARG with the reason. */
tl_status tl_train_check(const tl_train_config *cfg, char *error, size_t error_size);

/* A trainer the caller drives: over any dataset (a federated client's
 * shard, say), a step or an epoch at a time. init checks the configuration,
 * builds (or resumes, or warm-starts) the network, opens the teacher (live,
 * cached in memory or in a file, an ensemble, with attention maps: one
 * source) and the training threads; the datasets must outlive it. An epoch
 * ends with the test accuracy in `report` and, with cfg->out, a checkpoint.
 * cfg->epochs sets the schedule's length; nothing stops a caller from
 * running fewer. */
typedef struct tl_trainer tl_trainer;

tl_status tl_trainer_init(tl_trainer **trainer, const tl_train_config *cfg, const tl_dataset *train,
                          const tl_dataset *test, tl_train_report *report, char *error, size_t error_size);
/* One step: a batch forward and backward, and the optimiser's update. */
tl_status tl_trainer_step(tl_trainer *trainer);
/* The rest of the current epoch's steps, then its end (test accuracy,
 * checkpoint). */
tl_status tl_trainer_epoch(tl_trainer *trainer, tl_train_report *report, char *error, size_t error_size);
int tl_trainer_epochs_done(const tl_trainer *trainer);
tl_status tl_trainer_evaluate(tl_trainer *trainer, const tl_dataset *ds, float *accuracy);
/* A checkpoint that resumes the run exactly (weights, statistics, optimiser). */
tl_status tl_trainer_save(const tl_trainer *trainer, const char *path);
tl_net *tl_trainer_net(tl_trainer *trainer);
/* Fills the report's totals (parameters, time, images per second). */
void tl_trainer_finish(const tl_trainer *trainer, tl_train_report *report);
void tl_trainer_free(tl_trainer *trainer);
/* A fresh local run on `train` (same image shape; it must outlive the
 * trainer's use of it) from the network's current weights: epoch 0, the
 * optimiser's state cleared, the shuffle and augmentation drawn from
 * `seed`. What a federated client does at each round it takes part in. */
tl_status tl_trainer_restart(tl_trainer *trainer, const tl_dataset *train, uint64_t seed);
/* FedProx (Li et al. 2020): mu / 2 * |w - center|^2 joins every step's
 * loss (center: param_count floats, kept by the caller); mu 0 removes it. */
void tl_trainer_set_proximal(tl_trainer *trainer, const float *center, float mu);
/* The optimiser's base rate from now on (a federated client's rate for
 * the round, when the run decays it over the rounds). */
void tl_trainer_set_rate(tl_trainer *trainer, float lr);

/* This process's rank and the number of processes when launched by
 * mpirun (MPI started once, finalised at exit); 0 of 1 otherwise or in a
 * build without MPI. */
void tl_mpi_world(int *rank, int *size);

/* A whole run (what `tinylarge train` and `distill` do): the data from
 * cfg->data_dir, then a trainer's epochs. */
tl_status tl_train(const tl_train_config *cfg, tl_train_report *report, char *error, size_t error_size);

/* Accuracy (and mean loss) of every exit on a dataset, in eval mode. */
tl_status tl_evaluate(tl_net *net, const tl_dataset *ds, float mean, float std, float *accuracy,
                      float *loss);

/* Accuracy of the mean of `count` networks' last-exit logits (an ensemble;
 * net m normalises with means[m], stds[m]), each also on the mirrored image
 * when `flip` (test-time augmentation). The logits are summed, so one
 * network without flip has tl_evaluate's accuracy. TL_ERR_SHAPE when a
 * network does not take the data's images or classes. */
tl_status tl_evaluate_mean(tl_net *const *nets, const float *means, const float *stds, int count,
                           const tl_dataset *ds, int flip, float *accuracy);

/* ---- threads (src/large/replicas.c) ---- */

/* Data parallelism inside one process: replicas of a network share its
 * parameter array; each runs forward and backward on a slice of the batch in
 * its own thread (BLAS single-threaded), their gradients are summed into the
 * master's and their batch-norm running statistics averaged. */
typedef struct tl_replicas {
    tl_net *master;
    tl_net *extra;              /* count - 1 replicas */
    int count;
} tl_replicas;

/* The master must come from tl_net_build_arch (its `arch` names it). */
tl_status tl_replicas_init(tl_replicas *r, tl_net *master, int count);
void tl_replicas_free(tl_replicas *r);

/* Forward, per-exit loss, backward on x[count] (y labels), split across the
 * replicas; grads (zeroed first) end up in the master. Each sample's
 * gradient is weighted 1 / denominator (the global batch size, for MPI).
 * With teacher_logits ([count, classes]) and kd every exit uses the
 * distillation loss kd names (cross-entropy without either); with `at`
 * (may be NULL) the attention-transfer loss joins them. Adds the last
 * exit's loss sum (plus the attention term's) and correct count. */
tl_status tl_replicas_train_step(tl_replicas *r, const float *x, const uint8_t *y, int count, int denominator,
                                 const float *teacher_logits, const tl_kd_params *kd, const tl_attention *at,
                                 double *loss_sum, long *hits);

/* Magnitude pruning: zeroes the `fraction` of conv/dense weights (the decay
 * mask's entries) with the smallest magnitudes, over the whole network;
 * returns the fraction of those weights now zero. */
float tl_prune_magnitude(tl_net *net, const uint8_t *prunable, float fraction);

/* Fake quantisation for quantisation-aware training: rounds every conv and
 * dense weight to its per-output-channel symmetric grid of `bits` bits (the
 * grid export uses; depthwise weights always 8 bits), saving the float
 * weights in `shadow` (param_count floats) to be put back by
 * tl_restore_weights after backward (straight-through estimator). */
void tl_fake_quantize(tl_net *net, int bits, float *shadow);
void tl_restore_weights(tl_net *net, const float *shadow);

/* ---- export to the device format (src/large/export.c) ---- */

struct tl_graph;

typedef struct tl_export_options {
    int calibration_images;     /* training images for activation ranges (default 500) */
    uint8_t weight_dtype;       /* TL_DTYPE_INT8 (default), TL_DTYPE_INT4 or TL_DTYPE_SPARSE_INT8 */
} tl_export_options;

/* Post-training quantisation of a trained network into a device graph:
 * batch norm folded into the preceding convolution, ReLU/ReLU6 fused, int8
 * per-channel symmetric weights, int8 asymmetric activations with ranges
 * from `calibration` (eval-mode float forward passes), every exit ending in
 * a softmax. The device input is int8 = pixel - 128 (see docs/large.md).
 * On failure `error` names the node that cannot be exported. */
tl_status tl_export_net(tl_net *net, const tl_checkpoint_info *info, const tl_dataset *calibration,
                        const tl_export_options *options, struct tl_graph *graph, char *error,
                        size_t error_size);

/* Accuracy of every exit of a .tlm model on a dataset, run through the
 * device runtime (inputs quantised as the export defines). */
tl_status tl_runtime_accuracy(const uint8_t *model, size_t size, const tl_dataset *ds, float *accuracy,
                             int *exit_count);

/* The early-exit cascade the device runs (tl_interp_run_to_exit): a sample
 * stops at the first exit whose top-1 probability reaches `threshold`
 * (0..1; the last exit takes the rest). Per exit: its accuracy when every
 * sample goes there, the MACs to reach it, the share of samples that stop
 * there, and their accuracy; and the cascade's accuracy and mean MACs. */
typedef struct tl_cascade_report {
    int exits;
    float threshold;
    float accuracy[TL_MAX_EXITS];       /* every sample through this exit */
    uint64_t macs[TL_MAX_EXITS];        /* operators up to this exit */
    float share[TL_MAX_EXITS];          /* samples that stop here */
    float stop_accuracy[TL_MAX_EXITS];  /* accuracy of those */
    float cascade_accuracy;
    double mean_macs;
} tl_cascade_report;

tl_status tl_runtime_cascade(const uint8_t *model, size_t size, const tl_dataset *ds, float threshold,
                            tl_cascade_report *report);

/* ---- the variant catalogue (src/large/catalogue_build.c) ---- */

/* Cortex-M4 instructions of one inference of a model file, or -1 when not
 * measured (the command line runs it under QEMU). */
typedef int64_t (*tl_m4_measure_fn)(void *ctx, const char *model_path);

typedef struct tl_catalogue_spec {
    const char *checkpoint;     /* the trained network */
    const char *dir;            /* where the variants and fine-tuned checkpoints go */
    const char *data_dir;       /* NULL: Fashion-MNIST */
    float channels[4];          /* structured pruning fractions (0: none) */
    int channel_count;
    float sparsity[8];          /* weight sparsities (0: dense) */
    int sparsity_count;
    int bits[4];                /* 8 and/or 4 */
    int bits_count;
    uint32_t finetune_epochs, finetune_limit, limit, calibration;
    float finetune_lr;
    tl_m4_measure_fn measure;   /* NULL: no M4 figures */
    void *measure_ctx;
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} tl_catalogue_spec;

/* Builds every variant (channels x sparsity x bits x exit) into spec->dir
 * and out[] (at most `capacity`), measured; the caller marks the Pareto
 * front and writes the tables (catalogue.h). */
tl_status tl_catalogue_build(const tl_catalogue_spec *spec, tl_variant *out, int capacity, int *count,
                             char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_LARGE_H */
