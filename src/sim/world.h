/* world.h - the simulator's world as its engine files share it: devices,
 * cells, links, broadcasts, rounds, cuts, and the helpers the request
 * paths use (engine.c owns them; rounds.c runs federated rounds, cut.c
 * split inference). Internal to src/sim/. */
#ifndef TL_SIM_WORLD_H
#define TL_SIM_WORLD_H

#include <math.h>
#include <stdint.h>

#include "sim_internal.h"
#include "sim_shard.h"
#include "tinylarge/federated.h"
#include "tinylarge/planner.h"

#define NS 1000000000.0
#define NONE8 0xff
#define NO_TIME UINT64_MAX

enum { KIND_DEVICE = 1, KIND_DOWNLINK = 2, KIND_UPLINK = 3, KIND_BROADCAST = 4, KIND_ROUND = 5 };
#define KEY(kind, id) (((uint64_t)(kind) << 56) | (uint64_t)(id))

/* What a device is doing. */
enum {
    IDLE = 0, FETCHING, DOWNLOADING, WAITING_BROADCAST, INFERRING, UPLOADING, AT_EDGE, LEARNING, SENDING_UPDATE,
    SPLIT_HEAD                  /* running the device's operators before the cut */
};

/* A device: its whole state. Mobility is piecewise linear (a leg to a
 * waypoint, a pause), evaluated only when the device picks its cell. */
typedef struct sim_device {
    uint32_t id;
    uint16_t cell;
    uint8_t cls, app_day, app_night;
    uint8_t model_app, stage, op_app;       /* installed model's app (NONE8: none) */
    int8_t model_variant, op_variant;
    uint8_t op_downloaded, op_cloud;        /* the request waited for a download; the edge answers it */
    uint8_t op_split;                       /* ... it is split with the edge */
    uint8_t background;                     /* the download under way is for later requests */
    int8_t prefetch;                        /* a variant to download once the edge has answered (-1: none) */
    uint16_t flavour_day, flavour_night, model_flavour, op_flavour;
    uint16_t day_start_min, day_end_min;
    uint16_t handover_to;                   /* a handover waiting to trigger (UINT16_MAX: none) */
    uint32_t model_version, op_version;
    float x, y, wx, wy, speed;              /* position at leg_t0; waypoint; m/s */
    float sinr_dl, sinr_ul;                 /* dB, at the last pick */
    float op_edge_s;                        /* a split request: the edge's part, seconds */
    uint32_t op_cut_bytes;                  /* ... and the bytes crossing its cut */
    uint32_t square;                        /* the radio map's square of the last pick */
    uint32_t fl_round;                      /* the round its update under way belongs to */
    uint32_t leg, requests;
    uint32_t broadcast_next;                /* next member of a broadcast (UINT32_MAX: end) */
    uint64_t leg_t0_ns, leg_t1_ns, pause_until_ns;
    uint64_t next_ns;                       /* the pending timer (NO_TIME: none) */
    uint64_t op_start_ns, op_mark_ns;       /* the request's time; when the transfer began */
} sim_device;

typedef struct sim_flow {
    double finish;              /* in the link's virtual time */
    uint32_t owner;             /* device id, or SIM_FLOW_BROADCAST | session */
    uint32_t weight;            /* its share of the time: 1, a broadcast its members */
} sim_flow;
#define SIM_FLOW_BROADCAST 0x80000000u

/* One direction of one cell, shared by its active transfers. Round robin
 * and proportional fair both give each of n flows 1/n of the time (a
 * broadcast to k devices k shares: it carries k devices' bytes), so a
 * flow's finish in "virtual time" (time per share) is fixed when it
 * starts: a heap of finishes, O(log n) per start or end. */
typedef struct sim_link {
    sim_flow *flows;
    uint32_t n, capacity;
    uint64_t weight;            /* the shares of the flows under way */
    double v;
    uint64_t last_ns, next_ns;
} sim_link;

typedef struct sim_broadcast {
    uint64_t object;
    uint32_t members, count;    /* first member; how many */
    uint32_t bytes;
    float min_sinr;
    int sending;                /* 0: gathering; 1: on the air; -1: free */
    uint64_t start_ns;
} sim_broadcast;

/* A region's federated round for one task: who was asked, whose update
 * arrived by the deadline. */
typedef struct sim_round {
    uint32_t number;            /* rounds opened so far (the current one, while open) */
    int open;
    uint64_t deadline_ns;
    uint32_t *arrived;          /* device ids, in order of arrival */
    uint32_t arrived_count, arrived_capacity;
} sim_round;

typedef struct sim_cut {
    int known;
    uint32_t ops_on_device, ops, bytes;
    double device_s, edge_s;
} sim_cut;

typedef struct sim_cell {
    sim_link down, up;
    sim_broadcast *broadcasts;
    int broadcast_count, broadcast_capacity;
} sim_cell;

typedef struct sim_world {
    const tl_sim_config *config;
    sim_radio radio;
    sim_shard shard;
    sim_queue queue;
    sim_device *devices;        /* this rank's */
    uint32_t count, capacity;
    uint32_t *where;            /* device id -> index here (UINT32_MAX: elsewhere) */
    sim_cell *cells;
    uint64_t *edge_busy_ns;     /* per edge server: its compute queue's end */
    sim_cache *edge_caches, *region_caches;
    int regions, edges;
    int8_t *plans;              /* planner's choice per (class, app, SINR, load); -2: not asked yet */
    int8_t factory[TL_SIM_MAX_CLASSES][TL_SIM_MAX_APPS];
    /* Adaptive, for later requests: the most accurate variant whose
     * inference alone meets the deadline (-1: none). */
    int8_t for_later[TL_SIM_MAX_CLASSES][TL_SIM_MAX_APPS];
    double zipf_norm[TL_SIM_MAX_APPS];
    uint64_t end_ns;
    tl_sim_results *results;
    uint64_t events;
    int by_instructions[TL_SIM_MAX_APPS];
    double edge_accuracy[TL_SIM_MAX_APPS], edge_macs[TL_SIM_MAX_APPS];
    sim_runtime runtime;        /* the device runtime (fidelity full, cascade) */
    /* The cascade at fast fidelity: each variant's answers to the first
     * cascade_images test images, as the runtime gave them. */
    float *calib_confidence[TL_SIM_MAX_APPS][TL_SIM_MAX_APP_VARIANTS];
    uint8_t *calib_correct[TL_SIM_MAX_APPS][TL_SIM_MAX_APP_VARIANTS];
    uint32_t calib_count;
    sim_round *rounds;          /* per region and task (federated) */
    /* Split: the cut the cost model chose per (class, app, variant, uplink
     * SINR bucket, load bucket); the costs per operator of each variant. */
    struct sim_cut *cuts;
    int cut_variants;           /* the most variants an app has (the memo's stride) */
    uint64_t *split_ops[TL_SIM_MAX_APPS][TL_SIM_MAX_APP_VARIANTS];
    double *split_edge_s[TL_SIM_MAX_APPS][TL_SIM_MAX_APP_VARIANTS];
    tl_agg_rule fl_rule;
    tl_compression fl_compression;
    uint64_t next_round_ns;
    double pf_gain_db[65];      /* proportional fair's SINR gain with n users, 10 log10 H(n), n <= 64 */
    tl_status failure;
} sim_world;

#define PLAN_SINR_MIN (-10)
#define PLAN_SINR_BUCKETS 41
#define PLAN_LOAD_BUCKETS 16

/* How the planner and the split model see a channel: SINR in 1 dB buckets
 * from PLAN_SINR_MIN, the transfers sharing the cell in doublings. Each
 * bucket is answered at its lower SINR and its larger number of sharers. */
static inline void sim_channel_bucket(double sinr_db, uint32_t sharers, int *sinr_bucket, int *load_bucket)
{
    int sb = (int)floor(sinr_db) - PLAN_SINR_MIN;
    *sinr_bucket = sb < 0 ? 0 : sb >= PLAN_SINR_BUCKETS ? PLAN_SINR_BUCKETS - 1 : sb;
    int lb = 0;
    while ((1u << (lb + 1)) <= sharers && lb < PLAN_LOAD_BUCKETS - 1) {
        lb++;
    }
    *load_bucket = lb;
}

/* A bucket's rate on `hz` of bandwidth. */
static inline double sim_bucket_rate(const tl_sim_config *config, int sinr_bucket, int load_bucket, double hz)
{
    return sim_spectral_efficiency(config, (double)(sinr_bucket + PLAN_SINR_MIN)) * hz /
           (double)(1u << (load_bucket + 1));
}

static inline uint64_t to_ns(double s)
{
    return s <= 0 ? 0 : (uint64_t)ceil(s * NS);
}

static inline int region_of(const sim_world *w, int cell)
{
    return cell / w->config->cells_per_region;
}

/* ---- engine.c: what the request paths share ---- */
void sim_fail(sim_world *w, tl_status s);
void sim_set_timer(sim_world *w, sim_device *d, uint64_t t_ns);
void sim_schedule_next_request(sim_world *w, sim_device *d, uint64_t now);
double sim_compute_energy_j(const sim_world *w, int cls, double seconds);
void sim_add_energy(sim_world *w, int cls, double joules);
/* Whether the device's own answer is right, and how sure it was. */
int sim_local_outcome(sim_world *w, const sim_device *d, int app, int variant, float *confidence);
/* A transfer's seconds alone on a link of hz at this SINR (fading or the
 * proportional-fair gain with `sharers` users); salt tells its draws apart. */
double sim_transfer_work(const sim_world *w, const sim_device *d, double sinr_db, uint32_t sharers, double hz,
                         uint64_t bytes, uint32_t salt);
/* A transfer joins a cell's link (weight: its scheduler shares). */
void sim_link_add(sim_world *w, sim_link *l, int kind, int cell, uint64_t now, double work_s, uint32_t owner,
                  uint32_t weight);

/* ---- rounds.c: federated rounds ---- */
tl_status sim_rounds_init(sim_world *w, char *error, size_t error_size);
void sim_rounds_free(sim_world *w);
tl_status sim_open_rounds(sim_world *w, uint64_t now);
void sim_close_round(sim_world *w, int region, int app, uint64_t now);
void sim_send_update(sim_world *w, sim_device *d, uint64_t now);
void sim_update_sent(sim_world *w, sim_device *d, uint64_t now);

/* ---- cut.c: split inference ---- */
tl_status sim_cuts_init(sim_world *w, char *error, size_t error_size);
void sim_cuts_free(sim_world *w);
const sim_cut *sim_choose_cut(sim_world *w, const sim_device *d, int app, int variant);
void sim_start_split(sim_world *w, sim_device *d, const sim_cut *cut, uint64_t now);
void sim_send_cut(sim_world *w, sim_device *d, uint64_t now);

#endif /* TL_SIM_WORLD_H */
