/* federated.h - the large model learns from the tiny ones: federated
 * learning (src/federated/).
 *
 * A round: the server sends the global model's state to the round's
 * clients; each trains locally and sends back its update (its state minus
 * the global one); the server combines the updates by a rule (a weighted
 * mean, or a robust rule against poisoned updates) and applies the result
 * through its optimiser (FedAvg's step, or FedAdam / FedYogi). Around that:
 * compression of the updates (int8 with stochastic rounding, top-k with
 * error feedback), secure aggregation (the server learns only the sum of
 * fixed-point updates), differential privacy (clipping, Gaussian noise, a
 * Rényi accountant). The pieces are plain functions over float vectors, so
 * the simulator, the edge's CoAP rounds and the benchmarks share them.
 */
#ifndef TINYLARGE_FEDERATED_H
#define TINYLARGE_FEDERATED_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/large.h"
#include "tinylarge/secagg.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- a model's state: what a round moves (src/federated/state.c) ----
 * The trained parameters, then every batch norm's running mean and
 * variance (averaged like the weights, so the global model evaluates
 * without local statistics). */
size_t tl_fed_state_size(const tl_net *net);
void tl_fed_state_get(const tl_net *net, float *state);
void tl_fed_state_set(tl_net *net, const float *state);

/* ---- combining updates (src/federated/aggregate.c) ---- */

typedef enum tl_agg_kind {
    TL_AGG_MEAN = 0,       /* weighted by each client's samples (FedAvg) */
    TL_AGG_MEDIAN = 1,     /* coordinate-wise median (Yin et al. 2018) */
    TL_AGG_TRIMMED = 2,    /* coordinate-wise mean of what is left after dropping
                              the `trim` fraction at each end (Yin et al. 2018) */
    TL_AGG_KRUM = 3,       /* the update closest to its n - f - 2 nearest others
                              (Blanchard et al. 2017) */
    TL_AGG_MULTIKRUM = 4   /* the mean of the `select` best by Krum's score */
} tl_agg_kind;

typedef struct tl_agg_rule {
    tl_agg_kind kind;
    float trim;            /* TL_AGG_TRIMMED: fraction dropped at each end, [0, 0.5) */
    int byzantine;         /* Krum: f, the attackers tolerated (n > 2f + 2) */
    int select;            /* Multi-Krum: m updates averaged */
} tl_agg_rule;

/* "mean", "median", "trimmed:0.2", "krum:2", "multikrum:2:5"; 0 on success. */
int tl_agg_parse(const char *text, tl_agg_rule *rule);
const char *tl_agg_name(tl_agg_kind kind);

/* Combines `count` updates of `dim` floats into out[dim]. weights (may be
 * NULL: all equal) weigh the mean and Multi-Krum's mean; the median and the
 * trimmed mean count clients, not samples. TL_ERR_NOMEM, or TL_ERR_ARG: no updates, or too few for the rule (Krum: count > 2f + 2). */
tl_status tl_fed_aggregate(const tl_agg_rule *rule, const float *const *updates, const double *weights, int count,
                           size_t dim, float *out);

/* The server's optimiser (Reddi et al. 2021, "Adaptive Federated
 * Optimization"): FedAvg adds lr * the combined update to the global
 * state; FedAdam and FedYogi treat minus the update as a gradient with
 * moments (beta1, beta2) and a floor tau. The state's tail from `params`
 * on (batch norm's running means and variances, tl_fed_state_get) holds
 * statistics, not parameters: it takes the clients' mean as it is, as
 * every strategy would average them — a normalised step would move each
 * statistic by about lr whatever its scale, and push variances below 0. */
typedef enum tl_server_kind { TL_SERVER_AVG = 0, TL_SERVER_ADAM = 1, TL_SERVER_YOGI = 2 } tl_server_kind;

typedef struct tl_server_opt {
    tl_server_kind kind;
    float lr;              /* 1 for FedAvg; ~0.01 to 0.1 for the adaptive ones */
    float beta1, beta2, tau;
    float *m, *v;          /* moments, params each (adaptive only) */
    size_t dim, params;    /* params <= dim: the values the step applies to */
} tl_server_opt;

tl_status tl_server_opt_init(tl_server_opt *opt, tl_server_kind kind, float lr, size_t dim, size_t params);
void tl_server_opt_free(tl_server_opt *opt);
void tl_server_opt_apply(tl_server_opt *opt, float *global, const float *update);

/* ---- update compression (src/federated/compress.c) ---- */

typedef enum tl_compress_kind {
    TL_COMPRESS_NONE = 0,  /* float32: 4 bytes a value */
    TL_COMPRESS_INT8 = 1,  /* int8 with stochastic rounding, one float scale per
                              TL_COMPRESS_BLOCK values: unbiased */
    TL_COMPRESS_TOPK = 2,  /* the `ratio` largest values by magnitude, as (u32 index,
                              f32 value); what is left out is carried to the
                              next round (error feedback, Stich et al. 2018) */
    TL_COMPRESS_INT8Z = 3  /* int8 as above, its bytes and scales then deflated
                              (zlib): the small integers cost fewer than 8 bits */
} tl_compress_kind;

#define TL_COMPRESS_BLOCK 256

typedef struct tl_compression {
    tl_compress_kind kind;
    float ratio;           /* top-k: the fraction kept, (0, 1] */
} tl_compression;

/* "none", "int8", "int8z", "topk:0.05"; 0 on success. */
int tl_compress_parse(const char *text, tl_compression *c);

/* Bytes on the air of one update of `dim` values (int8z: before deflating,
 * a bound; tl_compress_apply says what it came to). */
size_t tl_compress_bytes(const tl_compression *c, size_t dim);

/* Replaces update[dim] by what the server decodes from its compressed form
 * (the client's side and the server's in one: the simulator does not need
 * the bytes themselves). residual[dim] (top-k; may be NULL otherwise) is the
 * client's error-feedback memory, added before selection and updated after;
 * *rng drives the stochastic rounding. Returns the bytes on the air (0: out
 * of memory). */
size_t tl_compress_apply(const tl_compression *c, float *update, float *residual, size_t dim, uint64_t *rng);

/* ---- differential privacy (src/federated/privacy.c) ---- */

/* Scales update[dim] so its L2 norm is at most clip; returns the norm before. */
double tl_dp_clip(float *update, size_t dim, double clip);

/* Adds Gaussian noise of standard deviation sigma to every value, from *rng. */
void tl_dp_noise(float *values, size_t dim, double sigma, uint64_t *rng);

/* The epsilon at `delta` after `rounds` rounds of the subsampled Gaussian
 * mechanism (sampling rate q, noise multiplier sigma = noise std / clip),
 * by Rényi DP (Mironov 2017; the subsampled bound of Mironov, Talwar and
 * Zhang 2019 for integer orders 2..256), converted with
 * eps = rdp(a) + log(1/delta) / (a - 1), the best order. INFINITY if sigma
 * is 0. */
double tl_dp_epsilon(double q, double sigma, int rounds, double delta);

/* The smallest noise multiplier whose epsilon after `rounds` is at most
 * `epsilon` (bisection on tl_dp_epsilon); 0 if none up to 10^4. */
double tl_dp_noise_for(double q, int rounds, double delta, double epsilon);

/* ---- the edge's rounds over CoAP (src/federated/edge_round.c) ----
 * Devices learn the head of the model the edge serves and send their
 * deltas (coap.h: /round, /update); when a round has its updates the
 * server calls tl_round_publish: the rule combines the deltas (weighted by
 * the devices' weights), the model's head takes the result (tl_learn_apply,
 * then the learner's write-back), and the model goes to the library as the
 * next version (signed), with the previous version's tags. */
struct tl_library;
struct tl_round_state;

typedef struct tl_round_publisher {
    tl_agg_rule rule;
    const uint8_t *secret_key;  /* signs the new versions (NULL: unsigned) */
    const char *work_dir;       /* where the new catalogue is written (NULL: $TMPDIR) */
} tl_round_publisher;

/* A tl_round_done_fn (coap.h); ctx is a tl_round_publisher. */
tl_status tl_round_publish(void *ctx, struct tl_library *library, const char *name,
                           const struct tl_round_state *round, int *version, char *error, size_t error_size);

/* ---- the simulator (src/federated/simulate.c): `tinylarge federate` ---- */

typedef enum tl_attack_kind {
    TL_ATTACK_NONE = 0,
    TL_ATTACK_SIGN_FLIP = 1,   /* sends minus its update */
    TL_ATTACK_SCALE = 2,       /* sends its update times 10 */
    TL_ATTACK_LABEL_FLIP = 3   /* trains on label classes - 1 - y */
} tl_attack_kind;

typedef enum tl_selection_kind {
    TL_SELECT_UNIFORM = 0,     /* K clients uniformly at random */
    TL_SELECT_AWARE = 1        /* clients whose battery covers the round, favouring good
                                  channels and full batteries (docs/federated.md) */
} tl_selection_kind;

typedef struct tl_fed_config {
    const char *arch;
    const char *init;          /* start from this checkpoint (its architecture), or NULL */
    const char *data_dir;      /* NULL: Fashion-MNIST */
    int clients, per_round, rounds, local_epochs, batch;
    float lr, momentum, weight_decay;
    tl_schedule_kind lr_schedule; /* the local rate over the rounds: constant, or
                                     TL_SCHED_COSINE from lr down toward 0 */
    tl_partition_kind partition;
    tl_selection_kind selection;
    double alpha;              /* Dirichlet */
    int labels_per_shard;      /* shards:k */
    tl_server_kind server;
    float server_lr;
    float prox_mu;             /* FedProx's mu (0: FedAvg's local objective) */
    tl_agg_rule rule;
    float attackers;           /* fraction of clients that attack */
    tl_attack_kind attack;
    int secagg;                /* 1: masked fixed-point sums */
    float secagg_threshold;    /* shares that rebuild a secret, as a fraction of the
                                  neighbours (default 0.5: more than half) */
    int fixed_point;           /* 1: fixed-point sums without masks (secagg's arithmetic) */
    int frac_bits;             /* fixed point's fraction bits (default 16) */
    float dropout;             /* probability a chosen client drops after masking */
    tl_compression compress;
    float dp_clip, dp_noise;   /* dp_clip > 0: clip each update to this L2 norm;
                                  dp_noise: noise std = dp_noise * dp_clip on the sum */
    float mcu;                 /* fraction of clients that are MCU-class: they get the int8
                                  model and learn its head with the device runtime's learner */
    int mcu_samples;           /* local samples an MCU-class client learns from a round */
    int edges;                 /* > 0: two levels, clients -> `edges` aggregators -> cloud;
                                  under mpirun, one process per edge */
    int edge_rounds;           /* rounds between the cloud's aggregations (two levels) */
    int test_limit;            /* test images measured each round (0: all) */
    int train_limit;           /* training images dealt to clients (0: all) */
    int threads;               /* clients trained at once */
    int split_cut;             /* > 0: SplitFed, host-class clients train split after this
                                  node (tl_net_set_cut): activations up, gradients down, the
                                  device halves (and the edge's) averaged each round */
    int split_bits;            /* what crosses the cut: 8 (default) or 32 */
    uint64_t seed;
    const char *out;           /* the global model's checkpoint, or NULL */
    int quiet;
    void (*log)(void *ctx, const char *line);  /* one line a round (NULL: stderr) */
    void *log_ctx;
} tl_fed_config;

void tl_fed_defaults(tl_fed_config *cfg);
/* The clients' local rate in round `round` (1 to cfg->rounds): cfg->lr, or
 * with TL_SCHED_COSINE lr * (1 + cos(pi * (round - 1) / rounds)) / 2. */
float tl_fed_round_rate(const tl_fed_config *cfg, int round);

typedef struct tl_fed_round {
    int round;
    float accuracy;
    double bytes_up, bytes_down, cloud_bytes_up;
    double seconds;
    double air_seconds;        /* the slowest sender's upload at its simulated rate */
    int clients, dropped;
    double epsilon;            /* DP so far (0 without it) */
} tl_fed_round;

typedef struct tl_fed_report {
    tl_fed_round *rounds;      /* rounds_run entries (free with tl_fed_report_free) */
    int rounds_run;
    float initial_accuracy, final_accuracy;
    uint8_t model_sha256[32];  /* SHA-256 of the global model's checkpoint bytes */
    size_t dim;                /* values in the model's state */
    double secagg_server_seconds;  /* unmasking, all rounds */
    double epsilon;
    int rank;                  /* under mpirun: this process (only 0 reports) */
} tl_fed_report;

tl_status tl_fed_run(const tl_fed_config *cfg, tl_fed_report *report, char *error, size_t error_size);
void tl_fed_report_free(tl_fed_report *report);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_FEDERATED_H */
