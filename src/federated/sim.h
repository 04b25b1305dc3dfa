/* sim.h - the federated simulator's run state, shared by its files
 * (simulate.c: setup, rounds, aggregation; clients.c: selection and the
 * clients' work). Internal to src/federated/. */
#ifndef TL_FEDERATED_SIM_H
#define TL_FEDERATED_SIM_H

#include <stdatomic.h>
#include <stdint.h>

#include "tinylarge/device.h"
#include "tinylarge/federated.h"

static inline uint64_t stream(uint64_t seed, uint64_t purpose, uint64_t round, uint64_t client)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ull ^ purpose * 0xD1B54A32D192ED03ull ^ round * 0x94D049BB133111EBull ^
                 client * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) | 1;
}

static inline double uniform(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) / 9007199254740992.0;
}

enum { PURPOSE_SELECT = 1, PURPOSE_DROP, PURPOSE_TRAIN, PURPOSE_COMPRESS, PURPOSE_NOISE, PURPOSE_ATTACKERS,
       PURPOSE_SECAGG, PURPOSE_MCU, PURPOSE_PROFILE, PURPOSE_CHANNEL };

/* Everything one run holds. */
typedef struct sim {
    const tl_fed_config *cfg;
    tl_dataset train, test, probe;  /* probe: one image, for the trainers' epoch ends */
    tl_dataset *shards;
    uint8_t *attacker;
    size_t dim;
    float *global;                  /* the cloud's state */
    float **edge_state;             /* two levels: each edge's state */
    double *edge_weight;
    float **updates;                /* per chosen client of the round */
    size_t *update_bytes;           /* ... and what each costs on the air */
    double *weights;
    float **residual;               /* top-k error feedback, per client (lazily) */
    int *chosen, *dropped;
    int chosen_count, round;
    tl_trainer **trainers;
    tl_cut_link *cut_links;         /* SplitFed: each trainer's count of what crossed */
    double *split_up, *split_down;  /* ... per chosen client this round */
    size_t device_half;             /* state values on the device's side of the cut */
    tl_net eval;
    tl_checkpoint_info info;
    tl_server_opt opt;
    double secagg_seconds;          /* the server's unmasking, all rounds */
    uint8_t *mcu;                   /* per client: MCU-class (learns the head on the device) */
    uint8_t *tlm;                   /* the round's global model as the devices get it (int8) */
    size_t tlm_size;
    tl_model model;
    size_t head_at, head_count;     /* the last exit's dense layer in the state */
    int round_has_mcu;
    int round_void, group_void;     /* secure aggregation could not unmask: no update */
    double *median_rate, *battery;  /* per client: its usual uplink (bit/s), its charge (0..1) */
    double *rate;                   /* per chosen client: this round's uplink */
    int rank, processes;            /* under mpirun: this edge of `edges` processes */
    atomic_int next;
    tl_status worker_status;
    char error[256];
} sim;

/* Whether this process trains and aggregates a client: every one alone;
 * under mpirun, the clients of its own edge (client mod edges = rank). */
static inline int mine(const sim *s, int client)
{
    return s->processes == 1 || client % s->cfg->edges == s->rank;
}

/* clients.c */
void tl_sim_choose_clients(sim *s);
tl_status tl_sim_train_round(sim *s);
tl_status tl_sim_prepare_updates(sim *s);
double tl_sim_normal(uint64_t *rng);

#endif /* TL_FEDERATED_SIM_H */
