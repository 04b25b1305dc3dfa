/* rounds.c - federated rounds over the simulated network: each region's
 * edge asks devices holding a task's model for an update, the uplinks
 * carry them, and at the deadline the edge combines what arrived with the
 * project's own aggregation (tl_fed_aggregate) after the project's own
 * update compression (tl_compress_apply). docs/sim.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/host.h"
#include "world.h"

tl_status sim_rounds_init(sim_world *w, char *error, size_t error_size)
{
    const tl_sim_config *config = w->config;
    w->rounds = calloc((size_t)w->regions * TL_SIM_MAX_APPS, sizeof *w->rounds);
    if (!w->rounds || tl_agg_parse(config->fl_rule, &w->fl_rule) != 0 ||
        tl_compress_parse(config->fl_compress, &w->fl_compression) != 0) {
        return tl_fail(error, error_size, w->rounds ? TL_ERR_ARG : TL_ERR_NOMEM, "sim: [federated] %s",
                       w->rounds ? "rule or compress not understood" : "out of memory");
    }
    w->next_round_ns = to_ns(config->fl_round_s);
    return TL_OK;
}

void sim_rounds_free(sim_world *w)
{
    for (int r = 0; w->rounds && r < w->regions * TL_SIM_MAX_APPS; r++) {
        free(w->rounds[r].arrived);
    }
    free(w->rounds);
}

/* A device's update reached the edge (counted if its round is still open). */
void sim_update_sent(sim_world *w, sim_device *d, uint64_t now)
{
    const tl_sim_class *c = &w->config->classes[d->cls];
    sim_add_energy(w, d->cls, (double)(now - d->op_mark_ns) / NS * c->tx_watts + c->wake_s * c->rx_watts);
    sim_round *r = &w->rounds[region_of(w, d->cell) * TL_SIM_MAX_APPS + d->model_app];
    if (r->open && r->number == d->fl_round) {
        if (r->arrived_count == r->arrived_capacity) {
            const uint32_t capacity = r->arrived_capacity ? r->arrived_capacity * 2 : 32;
            uint32_t *grown = realloc(r->arrived, capacity * sizeof *grown);
            if (!grown) {
                sim_fail(w, TL_ERR_NOMEM);
                return;
            }
            r->arrived = grown;
            r->arrived_capacity = capacity;
        }
        r->arrived[r->arrived_count++] = d->id;
        w->results->fl_received++;
    } else {
        w->results->fl_late++;
    }
    sim_schedule_next_request(w, d, now);
}

/* Learnt: the update goes up the cell's uplink. */
void sim_send_update(sim_world *w, sim_device *d, uint64_t now)
{
    const size_t bytes = tl_compress_bytes(&w->fl_compression, (size_t)w->config->fl_values);
    d->stage = SENDING_UPDATE;
    d->op_mark_ns = now;
    w->results->fl_bytes_up += bytes;
    w->results->classes[d->cls].bytes_up += bytes;
    w->results->air_bytes_up += bytes;
    sim_cell *cell = &w->cells[d->cell];
    const double work = sim_transfer_work(w, d, d->sinr_ul, cell->up.n + 1, w->radio.bandwidth_ul_hz, bytes, 3);
    sim_link_add(w, &cell->up, KIND_UPLINK, d->cell, now, work, d->id, 1);
}

/* One device's update, as the edge decodes it: the round's true direction
 * plus the device's own noise (its data differ), or, from an attacker,
 * ten times the opposite; compressed and decoded by the project's own
 * update compression. Returns the bytes it costs on the air. */
static size_t make_update(const sim_world *w, uint32_t device, uint32_t round, int app, float *u, float *residual)
{
    const tl_sim_config *config = w->config;
    const uint64_t key = ((uint64_t)round << 8) | (uint64_t)app;
    const int attacker = sim_uniform(config->seed, SIM_RNG_FEDERATED, device, key << 1) < config->fl_attackers;
    for (int i = 0; i < config->fl_values; i++) {
        const double truth = sim_normal(config->seed, SIM_RNG_FEDERATED, 0xffffffffu, (key << 20) + (uint64_t)i);
        const double own = sim_normal(config->seed, SIM_RNG_FEDERATED, device, (key << 20) + (uint64_t)i);
        u[i] = (float)(attacker ? -10.0 * truth : truth + own);
    }
    memset(residual, 0, (size_t)config->fl_values * sizeof *residual);
    uint64_t rng = sim_hash(config->seed, SIM_RNG_FEDERATED, device, key | (1ull << 60)) | 1;
    return tl_compress_apply(&w->fl_compression, u, residual, (size_t)config->fl_values, &rng);
}

typedef struct fl_candidate {
    double score;
    uint32_t index;
    uint32_t id;
} fl_candidate;

static int candidate_order(const void *a, const void *b)
{
    const fl_candidate *x = a, *y = b;
    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

/* Opens a round in every region of this rank for every task: the edge asks
 * `fl_clients` idle devices that hold the task's model (uniformly, by a
 * draw; or aware: the best uplinks), which learn and send their update. */
tl_status sim_open_rounds(sim_world *w, uint64_t now)
{
    const tl_sim_config *config = w->config;
    const uint32_t number = (uint32_t)(now / to_ns(config->fl_round_s));
    fl_candidate *cand = malloc((size_t)(w->count ? w->count : 1) * sizeof *cand);
    if (!cand) {
        return TL_ERR_NOMEM;
    }
    for (int region = 0; region < w->regions; region++) {
        if (region % w->shard.size != w->shard.rank) {
            continue;
        }
        for (int app = 0; app < config->app_count; app++) {
            uint32_t n = 0;
            for (uint32_t i = 0; i < w->count; i++) {
                const sim_device *d = &w->devices[i];
                if (d->stage == IDLE && d->model_app == app && d->model_variant >= 0 && region_of(w, d->cell) == region) {
                    const double draw = sim_uniform(config->seed, SIM_RNG_FEDERATED, d->id, (uint64_t)number << 8 | (uint64_t)app);
                    cand[n++] = (fl_candidate){ config->fl_aware ? d->sinr_ul : draw, i, d->id };
                }
            }
            sim_round *r = &w->rounds[region * TL_SIM_MAX_APPS + app];
            r->number = number;
            r->open = 1;
            r->arrived_count = 0;
            r->deadline_ns = now + to_ns(config->fl_deadline_s);
            if (n == 0) {
                continue;
            }
            /* The same choice whatever order the rank holds its devices in. */
            qsort(cand, n, sizeof *cand, candidate_order);
            const uint32_t take = n < (uint32_t)config->fl_clients ? n : (uint32_t)config->fl_clients;
            for (uint32_t k = 0; k < take; k++) {
                /* It learns first (its head, on its own samples), then sends. */
                sim_device *d = &w->devices[cand[k].index];
                const tl_sim_class *c = &config->classes[d->cls];
                const double learn = config->fl_train_instructions * c->m4_instruction_factor / c->instructions_per_second;
                sim_add_energy(w, d->cls, sim_compute_energy_j(w, d->cls, learn));
                d->stage = LEARNING;
                d->fl_round = number;
                w->results->fl_selected++;
                sim_set_timer(w, d, now + to_ns(learn));
            }
            if (r->deadline_ns < w->end_ns &&
                sim_queue_push(&w->queue, r->deadline_ns, KEY(KIND_ROUND, (uint64_t)region * TL_SIM_MAX_APPS + (uint64_t)app)) != TL_OK) {
                free(cand);
                return TL_ERR_NOMEM;
            }
        }
    }
    free(cand);
    return TL_OK;
}

/* The round's deadline: the edge combines what arrived with the rule and
 * scores it against the direction the honest devices share. */
void sim_close_round(sim_world *w, int region, int app, uint64_t now)
{
    const tl_sim_config *config = w->config;
    sim_round *r = &w->rounds[region * TL_SIM_MAX_APPS + app];
    if (!r->open || r->deadline_ns != now) {
        return;
    }
    r->open = 0;
    if (r->arrived_count == 0) {
        return;
    }
    const size_t dim = (size_t)config->fl_values;
    const uint32_t count = r->arrived_count;
    float *block = malloc((count + 3) * dim * sizeof *block);
    const float **updates = malloc(count * sizeof *updates);
    if (!block || !updates) {
        free(block);
        free(updates);
        sim_fail(w, TL_ERR_NOMEM);
        return;
    }
    /* In id order: the edge's result must not depend on arrival ties. */
    for (uint32_t i = 1; i < count; i++) {
        for (uint32_t j = i; j > 0 && r->arrived[j - 1] > r->arrived[j]; j--) {
            const uint32_t t = r->arrived[j];
            r->arrived[j] = r->arrived[j - 1];
            r->arrived[j - 1] = t;
        }
    }
    float *residual = block + (count + 2) * dim;
    for (uint32_t i = 0; i < count; i++) {
        make_update(w, r->arrived[i], r->number, app, block + i * dim, residual);
        updates[i] = block + i * dim;
    }
    float *combined = block + count * dim, *truth = block + (count + 1) * dim;
    w->results->fl_rounds++;
    if (tl_fed_aggregate(&w->fl_rule, updates, NULL, (int)count, dim, combined) != TL_OK) {
        w->results->fl_failed++; /* too few updates for the rule (Krum needs n > 2f + 2) */
    } else {
        const uint64_t key = ((uint64_t)r->number << 8) | (uint64_t)app;
        double dot = 0, a2 = 0, b2 = 0;
        for (size_t i = 0; i < dim; i++) {
            truth[i] = (float)sim_normal(config->seed, SIM_RNG_FEDERATED, 0xffffffffu, (key << 20) + (uint64_t)i);
            dot += (double)combined[i] * truth[i];
            a2 += (double)combined[i] * combined[i];
            b2 += (double)truth[i] * truth[i];
        }
        w->results->fl_cosine_micro += a2 > 0 && b2 > 0 ? llround(dot / sqrt(a2 * b2) * 1e6) : 0;
    }
    free(block);
    free(updates);
}
