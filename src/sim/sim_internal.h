/* sim_internal.h - the simulator's parts shared between its files: the
 * counter-based random numbers, the radio model, the event queue and the
 * library caches. */
#ifndef TL_SIM_INTERNAL_H
#define TL_SIM_INTERNAL_H

#include <stdint.h>

#include "tinylarge/sim.h"

/* ---- random numbers: a pure function of (seed, stream, id, counter) ----
 * No generator state: a device's n-th draw is the same on any rank, in any
 * order of events, so sharding cannot change a result. */
enum {
    SIM_RNG_PLACE = 1, SIM_RNG_CLASS, SIM_RNG_APP, SIM_RNG_REQUEST, SIM_RNG_OUTCOME, SIM_RNG_SHADOW,
    SIM_RNG_FADE, SIM_RNG_WAYPOINT, SIM_RNG_CONTEXT, SIM_RNG_FLAVOUR, SIM_RNG_LOS, SIM_RNG_FEDERATED
};

static inline uint64_t sim_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t sim_hash(uint64_t seed, uint32_t stream, uint64_t id, uint64_t counter)
{
    return sim_mix(sim_mix(sim_mix(seed ^ ((uint64_t)stream << 56)) ^ id) ^ counter);
}

/* Uniform in [0, 1). */
static inline double sim_uniform(uint64_t seed, uint32_t stream, uint64_t id, uint64_t counter)
{
    return (double)(sim_hash(seed, stream, id, counter) >> 11) * (1.0 / 9007199254740992.0);
}

double sim_normal(uint64_t seed, uint32_t stream, uint64_t id, uint64_t counter);

/* ---- radio ---- */
typedef struct sim_cell_geo {
    double x, y;
    int neighbours[18];         /* cells within two rings */
    int neighbour_count;
} sim_cell_geo;

#define SIM_MAP_SQUARE_M 25.0

typedef struct sim_radio_square {
    uint16_t cell[3];
    float rx_dbm[3];
    double sum_mw;
} sim_radio_square;

typedef struct sim_radio {
    const tl_sim_config *config;
    int cells;
    sim_cell_geo *geo;
    int span;                   /* axial lookup: (2 rings + 1)^2 */
    int *axial;                 /* axial (q, r) -> cell, or -1 */
    double hex_radius;          /* centre to corner */
    double bandwidth_dl_hz, bandwidth_ul_hz;    /* effective, after overhead and TDD split */
    double noise_dl_dbm, noise_ul_dbm;
    double bs_tx_dbm;           /* the cells' transmit power */
    sim_radio_square *map;
    int map_side;
    double map_origin;
} sim_radio;

tl_status sim_radio_init(sim_radio *radio, const tl_sim_config *config, char *error, size_t error_size);
void sim_radio_free(sim_radio *radio);

/* The cell whose hexagon holds (x, y) (the nearest cell outside the layout). */
int sim_radio_cell_at(const sim_radio *radio, double x, double y);

/* Path loss (dB) of TR 38.901 UMa/UMi with its LOS probability drawn. */
double sim_path_loss_db(const tl_sim_config *config, double d2d, int los);
double sim_los_probability(const tl_sim_config *config, double d2d);

/* Spectral efficiency (bit/s/Hz) at an SINR (dB): CQI table or Shannon. */
double sim_spectral_efficiency(const tl_sim_config *config, double sinr_db);

typedef struct sim_link_quality {
    int cell;
    double sinr_dl_db, sinr_ul_db;
} sim_link_quality;

/* The radio map (built once from the seed): per 25 m square, the three
 * strongest cells (shadowing and line of sight included) and the summed
 * power of all nearby cells. */
tl_status sim_radio_build_map(sim_radio *radio, uint64_t seed, char *error, size_t error_size);
uint32_t sim_radio_square_at(const sim_radio *radio, double x, double y);

/* The serving cell in a square - the strongest; a device leaves `serving`
 * (-1: none yet) only for a cell 3 dB stronger - and its downlink and
 * uplink SINR (dB). With `stay`, the quality of `serving` itself. */
void sim_radio_attach(const sim_radio *radio, uint32_t square, double ue_tx_dbm, int serving, int stay,
                      sim_link_quality *quality);

/* A uniform point in the layout. */
void sim_radio_place(const sim_radio *radio, uint64_t seed, uint32_t stream, uint64_t id, uint64_t counter,
                     double *x, double *y);

/* ---- the event queue: a 4-ary heap of (time, key) ---- */
typedef struct sim_event {
    uint64_t t_ns;
    uint64_t key;               /* kind << 56 | id: ties go by key, the same on every rank */
} sim_event;

typedef struct sim_queue {
    sim_event *heap;
    size_t count, capacity;
} sim_queue;

tl_status sim_queue_push(sim_queue *queue, uint64_t t_ns, uint64_t key);
int sim_queue_pop(sim_queue *queue, sim_event *event);
void sim_queue_free(sim_queue *queue);

static inline int sim_queue_peek(const sim_queue *queue, uint64_t *t_ns)
{
    if (queue->count == 0) {
        return 0;
    }
    *t_ns = queue->heap[0].t_ns;
    return 1;
}

/* ---- a model cache (one tier of the library at one place) ---- */
typedef struct sim_cache_item {
    uint64_t object;            /* (app, flavour, variant, version) */
    uint64_t bytes;
    uint64_t last_use;          /* LRU: a use counter */
    uint64_t uses;              /* LFU */
    double popularity;          /* popularity-aware: the object's known request share */
} sim_cache_item;

typedef struct sim_cache {
    sim_cache_item *items;
    int count, capacity;
    uint64_t bytes, capacity_bytes;
    uint64_t clock;
    tl_sim_policy policy;
} sim_cache;

tl_status sim_cache_init(sim_cache *cache, double capacity_bytes, tl_sim_policy policy);
void sim_cache_free(sim_cache *cache);
/* 1 when the object is held (and counts the use). */
int sim_cache_lookup(sim_cache *cache, uint64_t object);
/* Offers the object after a miss: the policy decides whether it stays and what leaves. */
void sim_cache_offer(sim_cache *cache, uint64_t object, uint64_t bytes, double popularity);

/* ---- the device runtime's outcomes (fidelity.c) ---- */
#include "tinylarge/device.h"
#include "tinylarge/large.h"

typedef struct sim_runtime_model {
    uint8_t *data;
    size_t size;
    tl_model model;
    int ready;
} sim_runtime_model;

typedef struct sim_runtime {
    int loaded;
    tl_dataset test;
    sim_runtime_model models[TL_SIM_MAX_APPS][TL_SIM_MAX_APP_VARIANTS];
    uint8_t *arena;
    size_t arena_size;
} sim_runtime;

/* Loads each variant's NAME.tlm from beside its catalogue (those missing
 * are skipped) and the test split; an error if no variant has a model. */
tl_status sim_runtime_open(sim_runtime *rt, const tl_sim_config *config, char *error, size_t error_size);
int sim_runtime_has(const sim_runtime *rt, int app, int variant);
/* Runs a variant on test image `image` (modulo the split): right or not,
 * and its margin confidence (tl_offload_confidence). */
tl_status sim_runtime_infer(sim_runtime *rt, int app, int variant, uint32_t image, int *correct, float *confidence);
void sim_runtime_close(sim_runtime *rt);

/* a / b, or 0 when b is 0: the results' shares. */
static inline double sim_ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

/* The p-quantile (upper bin edge, seconds) of a latency histogram. */
double sim_percentile(const uint64_t *histogram, uint64_t count, double p);

/* The name of a cache policy, as scenarios spell it. */
const char *sim_policy_name(int policy);

#endif /* TL_SIM_INTERNAL_H */
