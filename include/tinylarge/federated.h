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
 * moments (beta1, beta2) and a floor tau. */
typedef enum tl_server_kind { TL_SERVER_AVG = 0, TL_SERVER_ADAM = 1, TL_SERVER_YOGI = 2 } tl_server_kind;

typedef struct tl_server_opt {
    tl_server_kind kind;
    float lr;              /* 1 for FedAvg; ~0.01 to 0.1 for the adaptive ones */
    float beta1, beta2, tau;
    float *m, *v;          /* moments, dim each (adaptive only) */
    size_t dim;
} tl_server_opt;

tl_status tl_server_opt_init(tl_server_opt *opt, tl_server_kind kind, float lr, size_t dim);
void tl_server_opt_free(tl_server_opt *opt);
void tl_server_opt_apply(tl_server_opt *opt, float *global, const float *update);

/* ---- update compression (src/federated/compress.c) ---- */

typedef enum tl_compress_kind {
    TL_COMPRESS_NONE = 0,  /* float32: 4 bytes a value */
    TL_COMPRESS_INT8 = 1,  /* int8 with stochastic rounding, one float scale per
                              TL_COMPRESS_BLOCK values: unbiased */
    TL_COMPRESS_TOPK = 2   /* the `ratio` largest values by magnitude, as (u32 index,
                              f32 value); what is left out is carried to the
                              next round (error feedback, Stich et al. 2018) */
} tl_compress_kind;

#define TL_COMPRESS_BLOCK 256

typedef struct tl_compression {
    tl_compress_kind kind;
    float ratio;           /* top-k: the fraction kept, (0, 1] */
} tl_compression;

/* "none", "int8", "topk:0.05"; 0 on success. */
int tl_compress_parse(const char *text, tl_compression *c);

/* Bytes on the air of one update of `dim` values. */
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

/* ---- secure aggregation (src/federated/secagg.c) ----
 * Bonawitz et al. 2017 with SecAgg+'s sparse graph (Bell et al. 2020):
 * each client agrees an X25519 key with each of its `degree` neighbours on a
 * ring (Harary graph) and masks its fixed-point update, modulo 2^32, with
 * ChaCha20 streams seeded by those keys (one added, one subtracted, so pair
 * masks cancel in the sum) and by a seed of its own; it deals Shamir shares
 * (threshold t over GF(2^8)) of that seed and of its mask key to its
 * neighbours, encrypted for each. When clients drop after masking, the
 * survivors' shares rebuild the dropped clients' keys, so the server
 * removes the masks that no longer cancel, and the survivors' own seeds. The
 * server learns the sum of the survivors' vectors and nothing else: equal,
 * bit for bit, to the plain modular sum. */

typedef struct tl_secagg_params {
    int clients;           /* n, this round's */
    int degree;            /* neighbours each (even, < n; n - 1: everyone) */
    int threshold;         /* shares that rebuild a secret (> degree / 2) */
    size_t dim;            /* uint32 values a client sends */
    int threads;           /* the server's unmasking threads */
} tl_secagg_params;

/* Degree and threshold for n clients expecting a `dropout` fraction to
 * drop, with threshold t = floor(threshold x degree) + 1: the smallest even
 * degree, from 2 ceil(log2 n) up (SecAgg+'s O(log n)), at which every
 * neighbourhood keeps t survivors but with odds below 1e-4 in the round;
 * everyone when n is small (or no degree up to 254 does). threshold 0.5
 * (t > half the neighbours, Bonawitz et al.'s rule) keeps a server that lies
 * about who dropped from collecting both shares of one client; a lower one
 * (1/3) needs a smaller graph and suits an honest-but-curious server with
 * fewer than t colluding neighbours. Two unmasking threads. */
tl_secagg_params tl_secagg_default(int clients, size_t dim, double dropout, double threshold);

typedef struct tl_secagg_stats {
    size_t bytes_up;       /* every client message to the server: keys, encrypted
                              shares, masked vector, shares at unmasking */
    size_t bytes_down;     /* the server's relays: keys, shares, the survivor list */
    double client_seconds; /* the mask computation of all clients together */
    double server_seconds; /* unmasking: rebuilding secrets, removing masks */
    int dropped, rebuilt;  /* clients dropped; secrets the server rebuilt */
} tl_secagg_stats;

/* ---- the protocol's steps, one party each (a real client and the edge
 * server call these; tl_secagg_round calls them for every party) ---- */

/* A client's secrets and the public keys it advertises. */
typedef struct tl_secagg_client {
    uint8_t c_sk[32], s_sk[32], b[32]; /* never leave the client (b and s_sk only as shares) */
    uint8_t c_pk[32], s_pk[32];        /* c: seals shares; s: agrees masks */
} tl_secagg_client;

#define TL_SECAGG_BOX_BYTES 80 /* a sealed share pair: 2 x 32 bytes + a 16-byte MAC */

/* The keys from 96 bytes of secret randomness (the OS's, on a client). */
void tl_secagg_client_keys(tl_secagg_client *c, const uint8_t secret[96]);

/* Neighbour q (0 <= q < degree) of client i; the position of j among i's
 * neighbours (its Shamir x is position + 1), -1 if it is not one. */
int tl_secagg_neighbour(const tl_secagg_params *p, int i, int q);
int tl_secagg_position(const tl_secagg_params *p, int i, int j);

/* 1. share: client i deals Shamir shares of its s_sk and b to its
 * neighbours, boxes[q * TL_SECAGG_BOX_BYTES] sealed for neighbour q with
 * the key agreed from c_pks[j * 32] (every client's c key, by index). rng
 * draws the polynomials' coefficients. TL_ERR_SIGNATURE: a bad peer key. */
tl_status tl_secagg_deal(const tl_secagg_params *p, int i, const tl_secagg_client *c, const uint8_t *c_pks,
                         uint64_t *rng, uint8_t *boxes);

/* 2. masked input: masked[dim] = input + PRG(b) + sum over the live
 * neighbours j (live[j]: dealt its shares; NULL: all) of +-PRG(s_ij),
 * mod 2^32. masked may be input. */
tl_status tl_secagg_mask(const tl_secagg_params *p, int i, const tl_secagg_client *c, const uint8_t *s_pks,
                         const uint8_t *live, const uint32_t *input, uint32_t *masked);

/* 3. open: survivor j, given the boxes its neighbours dealt it (held[q *
 * TL_SECAGG_BOX_BYTES] from neighbour q) and who survived, opens for each
 * live neighbour i the share of b (i survived) or of s_sk (i dropped):
 * opened[q * 32], have[q] = 1. TL_ERR_SIGNATURE: a box that is not the one
 * i sealed for j. */
tl_status tl_secagg_open(const tl_secagg_params *p, int j, const tl_secagg_client *c, const uint8_t *c_pks,
                         const uint8_t *held, const uint8_t *live, const uint8_t *survived, uint8_t *opened,
                         uint8_t *have);

/* The server: sum[dim], the survivors' masked vectors summed mod 2^32,
 * unmasked in place into the sum of their inputs. opened[(i * degree +
 * pos) * 32] (have[...] = 1) is the share of client i's secret opened by
 * its neighbour at position pos. Runs on p->threads. TL_ERR_STATE: fewer
 * than `threshold` shares of some live client; TL_ERR_SIGNATURE: shares
 * that rebuild another key than the one advertised. */
tl_status tl_secagg_unmask(const tl_secagg_params *p, const uint8_t *s_pks, const uint8_t *opened,
                           const uint8_t *have, const uint8_t *live, const uint8_t *survived, uint32_t *sum);

/* One round of the protocol, every party simulated in this process (the
 * messages are real bytes: keys, encrypted shares, masked vectors). inputs
 * [n][dim] are the clients' fixed-point vectors; dropped[i] says client i
 * sends its key and shares but not its masked vector. sum[dim] gets the
 * sum, modulo 2^32, of the survivors' inputs. `seed` makes the clients'
 * secrets reproducible (a real client draws them from the OS). TL_ERR_STATE:
 * some dropped client's or survivor's neighbourhood kept fewer than
 * `threshold` survivors, so the round cannot be unmasked. */
tl_status tl_secagg_round(const tl_secagg_params *p, const uint32_t *const *inputs, const uint8_t *dropped,
                          uint64_t seed, uint32_t *sum, tl_secagg_stats *stats);

/* Shamir's secret sharing over GF(2^8), byte by byte: shares[i] (size
 * bytes each) for x = xs[i] (distinct, non-zero). Exposed for tests. */
void tl_shamir_split(const uint8_t *secret, size_t size, int threshold, int count, const uint8_t *xs,
                     uint8_t *const *shares, uint64_t *rng);
void tl_shamir_combine(const uint8_t *const *shares, const uint8_t *xs, int count, size_t size, uint8_t *secret);

/* Fixed point for secure aggregation: v * 2^frac_bits rounded to nearest,
 * clamped to +-limit, as the uint32 two's complement. */
void tl_fixed_encode(const float *v, size_t dim, int frac_bits, int32_t limit, uint32_t *out);
void tl_fixed_decode(const uint32_t *sum, size_t dim, int frac_bits, float *out);

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
    uint64_t seed;
    const char *out;           /* the global model's checkpoint, or NULL */
    int quiet;
    void (*log)(void *ctx, const char *line);  /* one line a round (NULL: stderr) */
    void *log_ctx;
} tl_fed_config;

void tl_fed_defaults(tl_fed_config *cfg);

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
