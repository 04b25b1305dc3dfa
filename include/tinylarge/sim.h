/* sim.h - the 6G network simulator (src/sim): a discrete-event simulation in
 * virtual time of a city of devices on hexagonal cells, with edge servers, a
 * three-tier model library (edge cache, regional library, central library)
 * and the project's own planner choosing what each device downloads.
 * Deterministic for a scenario and a seed, whatever the number of MPI ranks
 * (docs/sim.md says how). */
#ifndef TINYLARGE_SIM_H
#define TINYLARGE_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/catalogue.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_SIM_MAX_CLASSES 8
#define TL_SIM_MAX_APPS 8
#define TL_SIM_MAX_APP_VARIANTS 16
#define TL_SIM_MAX_LAYERS 32
#define TL_SIM_LATENCY_BINS 360   /* log-spaced, 10 us .. 10,000 s: 40 a decade */
#define TL_SIM_TIME_BINS 48       /* the run cut in 48 slices (half hours of a day) */
#define TL_SIM_TIERS 3            /* edge cache, regional library, central library */

typedef enum tl_sim_strategy {
    TL_SIM_ADAPTIVE = 0,        /* in-situ: the planner picks the variant for device, channel, deadline */
    TL_SIM_FULL,                /* always the most accurate variant that fits the device's memory */
    TL_SIM_CLOUD,               /* every inference at the edge: input up, result down */
    TL_SIM_DEVICE,              /* the factory model only: no downloads */
    TL_SIM_SPLIT                /* the full model on the device, each inference split with the edge
                                   where the split cost model (tl_split_costs) says */
} tl_sim_strategy;

/* The strategies as scenarios and --strategy spell them: "adaptive|full|cloud|device|split". */
#define TL_SIM_STRATEGIES "adaptive|full|cloud|device|split"
const char *tl_sim_strategy_name(tl_sim_strategy strategy);

typedef enum tl_sim_policy { TL_SIM_LRU = 0, TL_SIM_LFU, TL_SIM_POPULARITY } tl_sim_policy;
typedef enum tl_sim_mobility { TL_SIM_STATIC = 0, TL_SIM_WAYPOINT, TL_SIM_GRID } tl_sim_mobility;

/* A device class: a kind of hardware (docs/sim.md gives the sources). */
typedef struct tl_sim_class {
    char name[24];
    double share;               /* of the devices */
    double ram_bytes, flash_bytes;
    double instructions_per_second;
    double m4_instruction_factor;   /* its instructions per Cortex-M4 instruction (the catalogue counts M4's) */
    double macs_per_second;     /* for catalogues without instruction counts */
    double joules_per_instruction;
    double tx_dbm;              /* uplink transmit power */
    double rx_watts, tx_watts;  /* radio power while receiving / sending */
    double wake_s;              /* the radio's time awake per exchange beyond the transfer itself
                                   (connection resume, scheduling, the tail before it sleeps) */
    tl_sim_mobility mobility;
    double speed_min, speed_max;    /* m/s */
    double pause_max_s;
} tl_sim_class;

/* An application (a task) with its model family and deadline. */
typedef struct tl_sim_app {
    char name[24];
    char catalogue[256];        /* catalogue.csv path (relative: to the scenario file) */
    char catalogue_path[768];   /* ... resolved (its .tlm files lie beside it) */
    double share;               /* of the devices running it by day */
    double night_share;         /* ... by night (context changes over the day) */
    double deadline_s;
    double interval_s;          /* mean time between inference requests */
    double input_bytes, result_bytes;   /* what cloud inference sends up and down */
    double shared_fraction;     /* of a model's bytes shared by every variant (broadcast) */
    int layers;                 /* per-layer profile for layer-pipelined download (0: none) */
    double layer_bytes[TL_SIM_MAX_LAYERS];  /* shares of the bytes, in order */
    double layer_compute[TL_SIM_MAX_LAYERS];/* shares of the compute */
    int flavours;               /* distinct models of this task (languages, sites...), Zipf-popular */
    double model_bytes;         /* > 0: the catalogue scaled so its largest variant is this big */
    double edge_accuracy;       /* the edge's model for this task (cloud and cascade; 0: the best variant's) */
    double edge_macs;           /* ... and its MACs (0: the best variant's) */
    /* Loaded from the catalogue: */
    int variant_count;
    tl_variant variants[TL_SIM_MAX_APP_VARIANTS];
} tl_sim_app;

typedef struct tl_sim_config {
    char path[512];             /* the scenario file (for relative paths and the report) */
    char name[64];
    uint64_t seed;
    uint32_t devices;
    double duration_s;
    double start_hour;          /* the hour of day at virtual time 0 */
    /* Cells and radio */
    int rings;                  /* hexagonal layout: 1 + 3 r (r + 1) cells */
    double inter_site_m;
    int umi;                    /* 3GPP TR 38.901 UMi street canyon (else UMa) */
    double carrier_ghz;
    double bandwidth_mhz;
    int numerology;             /* subcarrier spacing 15 * 2^mu kHz */
    double overhead;            /* share of resources for control and reference signals */
    double dl_share;            /* TDD: share of slots for the downlink */
    double bs_tx_dbm, noise_figure_db, bs_noise_figure_db;
    int power_scales;           /* bs_tx_dbm is per 100 MHz: power grows with the bandwidth */
    double interference_load;   /* how busy neighbouring cells are, 0..1 */
    int shadowing, fading;
    int proportional_fair;      /* scheduler: proportional fair (else round robin) */
    int shannon;                /* rate: Shannon with a gap (else CQI table) */
    double shannon_gap_db;
    double air_latency_s;       /* one scheduling round trip on the air */
    double handover_s;          /* how often mobile devices pick their cell */
    /* Edge, backhaul and library */
    int cells_per_edge, cells_per_region;
    double edge_macs_per_second;
    double edge_region_s, region_central_s;    /* backhaul one-way delays */
    double backhaul_bps;
    double edge_cache_bytes, region_cache_bytes;
    tl_sim_policy policy;
    double zipf;
    double update_interval_s;   /* a new version of every model this often (0: never) */
    /* Strategy */
    tl_sim_strategy strategy;
    int broadcast;              /* shared layers once per cell (multicast) */
    double broadcast_wait_s;    /* how long a cell gathers devices for one broadcast */
    double broadcast_min_sinr_db;   /* devices below this SINR get their model by unicast */
    int pipeline;               /* layer-pipelined download and inference */
    int cloud_fallback;         /* adaptive, no variant meets the deadline: 1 the edge answers,
                                   0 the smallest variant that fits comes anyway (late) */
    double block_rtt_s;         /* what the planner assumes per CoAP block */
    /* Burst: every device asks at once (the connectivity experiment) */
    int burst;                  /* 0: normal day; 1: all devices in the centre cell ask at t = 0 */
    double burst_spread_s;
    /* Federated rounds: every round_s each region's edge picks `fl_clients`
     * devices per task among those holding its model; they learn and send
     * their update (compressed as `fl_compress` says) by the deadline; the
     * edge combines what arrived with `fl_rule` (tl_fed_aggregate). */
    int fl_enabled;
    double fl_round_s, fl_deadline_s;
    int fl_clients;
    int fl_aware;               /* selection: 0 uniform, 1 the best uplinks */
    char fl_rule[32], fl_compress[32];
    int fl_values;              /* values in an update (the student's head: 650) */
    double fl_attackers;        /* share of devices that send a poisoned update */
    double fl_train_instructions;   /* a round's local learning, Cortex-M4 instructions */
    /* Classes and apps */
    int class_count, app_count;
    tl_sim_class classes[TL_SIM_MAX_CLASSES];
    tl_sim_app apps[TL_SIM_MAX_APPS];
    int fidelity_full;          /* compute a sample's inferences with the device runtime */
    uint32_t full_every;        /* ... every full_every-th device (default 100) */
    char data_dir[512];         /* test images for the runtime ("": Fashion-MNIST from Debian) */
    double cascade_threshold;   /* > 0: a device's answer less sure than this (margin) goes to the edge */
    uint32_t cascade_images;    /* test images that measure each variant's confidence (fast fidelity) */
    /* Output */
    int progress;               /* a progress bar on stderr */
} tl_sim_config;

/* The scenario's defaults: sim/city.ini overrides them. */
void tl_sim_config_defaults(tl_sim_config *config);

/* Reads an INI scenario (libinih) over the defaults; unknown sections or
 * keys and bad values are errors naming the file and line. */
tl_status tl_sim_config_load(tl_sim_config *config, const char *path, char *error, size_t error_size);

/* Sets one key ("section.key=value", as --set takes it). */
tl_status tl_sim_config_set(tl_sim_config *config, const char *assignment, char *error, size_t error_size);

/* Loads each app's catalogue and checks the whole scenario. */
tl_status tl_sim_config_finish(tl_sim_config *config, char *error, size_t error_size);

/* Every simulated figure: integers (sums over devices and cells), so any
 * order of adding them - any number of ranks - gives the same results. */
typedef struct tl_sim_class_results {
    uint64_t devices, requests, met, correct;
    uint64_t downloads, bytes_down, bytes_up;
    uint64_t energy_uj;         /* device energy, microjoules */
    uint64_t model_bytes;       /* the installed models' bytes, summed at the end */
} tl_sim_class_results;

typedef struct tl_sim_results {
    uint64_t requests, met, correct, failed;
    uint64_t downloads, plans_none;
    uint64_t handovers;
    uint64_t latency[TL_SIM_LATENCY_BINS];
    uint64_t time_requests[TL_SIM_TIME_BINS], time_correct[TL_SIM_TIME_BINS], time_met[TL_SIM_TIME_BINS];
    uint64_t tier_lookups[TL_SIM_TIERS], tier_hits[TL_SIM_TIERS];
    uint64_t backhaul_bytes;
    uint64_t air_bytes_down, air_bytes_up;  /* bytes the cells sent (a broadcast once) */
    uint64_t broadcasts, broadcast_members;
    uint64_t latency_max_us;
    uint64_t offloaded;         /* cascade: answers the edge gave instead */
    uint64_t split_requests, split_ops_on_device, split_bytes_up;   /* split: requests cut, their
                                   operators run on the device (summed), bytes sent up */
    uint64_t fl_rounds, fl_selected, fl_received, fl_late, fl_bytes_up, fl_failed;
    int64_t fl_cosine_micro;    /* summed over rounds: cos(combined update, true direction) x 1e6 */
    uint64_t download_requests, download_met;   /* requests that waited for a download */
    uint64_t latency_sum_us, download_latency_sum_us;
    uint64_t download_latency[TL_SIM_LATENCY_BINS];
    uint64_t runtime_inferences;/* outcomes computed by the device runtime */
    tl_sim_class_results classes[TL_SIM_MAX_CLASSES];
    int cells;
    uint64_t *cell_requests, *cell_met;     /* per cell */
} tl_sim_results;

/* Wall-clock figures: not part of the results. */
typedef struct tl_sim_timing {
    uint64_t events;
    double wall_s, events_per_second;
    int ranks;
    double bytes_per_device;
    double setup_s;
} tl_sim_timing;

/* Runs the scenario. Under mpirun each rank runs the cells of its regions
 * and every rank ends with the same results. */
tl_status tl_sim_run(const tl_sim_config *config, tl_sim_results *results, tl_sim_timing *timing, char *error,
                     size_t error_size);

void tl_sim_results_free(tl_sim_results *results);

/* A latency percentile (seconds, the upper edge of its bin). */
double tl_sim_latency_percentile(const tl_sim_results *results, double p);
/* The upper edge of latency bin i, seconds. */
double tl_sim_latency_bin_edge(int i);

/* Writes {"scenario", "results", "timing"} atomically. */
tl_status tl_sim_write_json(const char *path, const tl_sim_config *config, const tl_sim_results *results,
                            const tl_sim_timing *timing, char *error, size_t error_size);

/* Writes DIR/index.html: one page, SVG plots (gnuplot) inline. */
tl_status tl_sim_write_report(const char *dir, const tl_sim_config *config, const tl_sim_results *results,
                              const tl_sim_timing *timing, char *error, size_t error_size);

/* The rank of this process and the number of ranks (1, 0 without MPI). */
void tl_sim_ranks(int *rank, int *size);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_SIM_H */
