/* clients.c - the federated simulator's clients (sim.h): who takes part
 * in a round, their local work on worker threads (host-class training,
 * MCU-class learning on the device runtime) and what they send
 * (clipping, compression). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "tinylarge/learn.h"

/* ---- clients' local training, on worker threads ---- */

typedef struct worker {
    sim *s;
    int index;
    float *state;
} worker;

static tl_status train_client(sim *s, tl_trainer *t, tl_cut_link *link, float *state, int slot)
{
    const tl_fed_config *cfg = s->cfg;
    const int client = s->chosen[slot];
    tl_net *net = tl_trainer_net(t);
    const double up = link->bytes_up, down = link->bytes_down;
    const float *start = s->edge_state ? s->edge_state[client % cfg->edges] : s->global;
    tl_fed_state_set(net, start);
    tl_status st = tl_trainer_restart(t, &s->shards[client], stream(cfg->seed, PURPOSE_TRAIN, (uint64_t)s->round,
                                                                     (uint64_t)client));
    if (st != TL_OK) {
        return st;
    }
    tl_trainer_set_proximal(t, start, cfg->prox_mu);
    tl_trainer_set_rate(t, tl_fed_round_rate(cfg, s->round));
    tl_train_report rep;
    char error[256];
    for (int e = 0; e < cfg->local_epochs && st == TL_OK; ++e) {
        st = tl_trainer_epoch(t, &rep, error, sizeof error);
    }
    if (st != TL_OK) {
        return st;
    }
    tl_fed_state_get(net, state);
    /* SplitFed's air: the cut's traffic, then the device's half up for
     * averaging and back down (zero without a cut). */
    s->split_up[slot] = link->bytes_up - up + 4.0 * (double)s->device_half;
    s->split_down[slot] = link->bytes_down - down + 4.0 * (double)s->device_half;
    float *u = s->updates[slot];
    const float factor = s->attacker[client] && cfg->attack == TL_ATTACK_SIGN_FLIP ? -1.0f
                         : s->attacker[client] && cfg->attack == TL_ATTACK_SCALE  ? 10.0f
                                                                                   : 1.0f;
    for (size_t i = 0; i < s->dim; ++i) {
        u[i] = factor * (state[i] - start[i]);
    }
    return TL_OK;
}

/* An MCU-class client: the device runtime's learner on the int8 global
 * model, over up to mcu_samples of its shard; its update is the head's
 * delta, zero elsewhere (the aggregation knows which values it covers). */
static tl_status learn_on_device(sim *s, int slot)
{
    const tl_fed_config *cfg = s->cfg;
    const int client = s->chosen[slot];
    const tl_dataset *d = &s->shards[client];
    const uint32_t arena_size = tl_model_arena_size(&s->model);
    const size_t work_size = tl_learn_work_size(&s->model, NULL);
    void *arena = malloc(arena_size + 16), *work = malloc(work_size + 16);
    uint32_t *order = malloc(sizeof(uint32_t) * (size_t)d->n);
    tl_status st = arena && work && order ? TL_OK : TL_ERR_NOMEM;
    tl_learner l;
    tl_interp it;
    if (st == TL_OK) {
        st = tl_learn_init(&l, &s->model, work, work_size, NULL);
    }
    if (st == TL_OK) {
        st = tl_interp_init(&it, &s->model, arena, arena_size);
    }
    const int n = d->n < cfg->mcu_samples ? d->n : cfg->mcu_samples;
    if (st == TL_OK) {
        tl_shuffle(order, d->n, stream(cfg->seed, PURPOSE_TRAIN, (uint64_t)s->round, (uint64_t)client), 0);
        st = tl_learn_dataset(&l, &it, d, order, (uint32_t)n, NULL);
    }
    float *u = s->updates[slot];
    if (st == TL_OK && tl_learn_delta_count(&l) != s->head_count) {
        st = TL_ERR_SHAPE;
    }
    if (st == TL_OK) {
        memset(u, 0, s->dim * sizeof(float));
        st = tl_learn_delta(&l, u + s->head_at, (uint32_t)s->head_count);
    }
    if (st == TL_OK && s->attacker[client] && cfg->attack != TL_ATTACK_LABEL_FLIP) {
        const float factor = cfg->attack == TL_ATTACK_SIGN_FLIP ? -1.0f : 10.0f;
        for (size_t i = 0; i < s->head_count; ++i) {
            u[s->head_at + i] *= factor;
        }
    }
    if (!(cfg->dp_clip > 0.0f)) {
        s->weights[slot] = (double)n / ((double)s->train.n / cfg->clients);
    }
    free(arena);
    free(work);
    free(order);
    return st;
}

static void *worker_run(void *arg)
{
    worker *w = arg;
    sim *s = w->s;
    for (;;) {
        const int slot = atomic_fetch_add(&s->next, 1);
        if (slot >= s->chosen_count) {
            break;
        }
        if (s->dropped[slot] || !mine(s, s->chosen[slot])) {
            continue; /* it drops before sending (its training changes nothing), or another edge trains it */
        }
        const tl_status st = s->mcu[s->chosen[slot]] ? learn_on_device(s, slot)
                                                    : train_client(s, s->trainers[w->index],
                                                                   &s->cut_links[w->index], w->state, slot);
        if (st != TL_OK) {
            s->worker_status = st;
        }
    }
    return NULL;
}

tl_status tl_sim_train_round(sim *s)
{
    const int threads = s->cfg->threads;
    worker w[64];
    pthread_t tid[64];
    atomic_store(&s->next, 0);
    s->worker_status = TL_OK;
    int started = 0;
    for (int i = 0; i < threads; ++i) {
        w[i].s = s;
        w[i].index = i;
        w[i].state = malloc(s->dim * sizeof(float));
        if (!w[i].state) {
            s->worker_status = TL_ERR_NOMEM;
        }
    }
    for (int i = 1; i < threads && s->worker_status == TL_OK; ++i) {
        if (pthread_create(&tid[i], NULL, worker_run, &w[i]) != 0) {
            break;
        }
        started = i;
    }
    if (s->worker_status == TL_OK) {
        worker_run(&w[0]);
    }
    for (int i = 1; i <= started; ++i) {
        pthread_join(tid[i], NULL);
    }
    for (int i = 0; i < threads; ++i) {
        free(w[i].state);
    }
    return s->worker_status;
}

/* ---- selection, and what a client sends ---- */

double tl_sim_normal(uint64_t *rng)
{
    const double u1 = uniform(rng) + 1e-12, u2 = uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* The energy a round costs a client (a share of its battery): local
 * training, then its update at this round's rate. */
static double round_cost(const sim *s, int client, double rate)
{
    const size_t bytes = tl_compress_bytes(&s->cfg->compress, s->mcu[client] ? s->head_count : s->dim);
    return 0.05 + 0.01 * (double)bytes * 8.0 / rate;
}

/* Who takes part. Every client has a usual uplink rate (log-normal around
 * 1 Mbit/s, fixed) that fades round to round (x e^{0.5 N(0,1)}), and a
 * battery (starts at 0.5..1, recharges 0.05 a round, pays round_cost when
 * chosen). Uniform selection: K clients without replacement. Aware
 * selection: only clients whose battery covers the round with 0.2 to spare,
 * drawn without replacement with weight min(1, rate / 1 Mbit/s) x battery
 * (Efraimidis-Spirakis keys u^(1/w)); fewer than K if fewer qualify. Then
 * each chosen client drops with probability `dropout` from a stream of its
 * own, so the same clients drop whatever else the run does. */
void tl_sim_choose_clients(sim *s)
{
    const tl_fed_config *cfg = s->cfg;
    const int n = cfg->clients;
    double *key = malloc(sizeof(double) * (size_t)n);
    double *now = malloc(sizeof(double) * (size_t)n);
    int *all = malloc(sizeof(int) * (size_t)n);
    for (int c = 0; c < n; ++c) {
        uint64_t fade = stream(cfg->seed, PURPOSE_CHANNEL, (uint64_t)s->round, (uint64_t)c);
        now[c] = s->median_rate[c] * exp(0.5 * tl_sim_normal(&fade));
        all[c] = c;
    }
    uint64_t rng = stream(cfg->seed, PURPOSE_SELECT, (uint64_t)s->round, 0);
    int eligible = n;
    if (cfg->selection == TL_SELECT_AWARE) {
        eligible = 0;
        for (int c = 0; c < n; ++c) {
            const double w = (now[c] < 1e6 ? now[c] / 1e6 : 1.0) * s->battery[c];
            const double u = uniform(&rng);
            if (s->battery[c] >= round_cost(s, c, now[c]) + 0.2 && w > 0.0) {
                key[c] = pow(u > 0.0 ? u : 1e-300, 1.0 / w);
                all[eligible++] = c;
            }
        }
        /* The K largest keys first. */
        for (int i = 0; i < eligible && i < cfg->per_round; ++i) {
            int best = i;
            for (int j = i + 1; j < eligible; ++j) {
                best = key[all[j]] > key[all[best]] ? j : best;
            }
            const int t = all[i];
            all[i] = all[best];
            all[best] = t;
        }
    } else {
        for (int i = 0; i < cfg->per_round; ++i) { /* a partial Fisher-Yates */
            int j = i + (int)(uniform(&rng) * (n - i));
            j = j < n ? j : n - 1;
            const int t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
    }
    s->chosen_count = eligible < cfg->per_round ? eligible : cfg->per_round;
    /* In client order, so aggregation sums in the same order every run. */
    for (int i = 0; i < s->chosen_count; ++i) {
        for (int j = i + 1; j < s->chosen_count; ++j) {
            if (all[j] < all[i]) {
                const int t = all[i];
                all[i] = all[j];
                all[j] = t;
            }
        }
    }
    for (int i = 0; i < s->chosen_count; ++i) {
        const int c = all[i];
        s->chosen[i] = c;
        s->rate[i] = now[c];
        uint64_t d = stream(cfg->seed, PURPOSE_DROP, (uint64_t)s->round, (uint64_t)c);
        s->dropped[i] = cfg->dropout > 0.0f && uniform(&d) < cfg->dropout;
        s->weights[i] = cfg->dp_clip > 0.0f ? 1.0 : (double)s->shards[c].n / ((double)s->train.n / cfg->clients);
        s->battery[c] -= round_cost(s, c, now[c]);
    }
    for (int c = 0; c < n; ++c) {
        s->battery[c] = s->battery[c] + 0.05 < 1.0 ? s->battery[c] + 0.05 : 1.0;
    }
    free(key);
    free(now);
    free(all);
}

tl_status tl_sim_prepare_updates(sim *s)
{
    const tl_fed_config *cfg = s->cfg;
    for (int i = 0; i < s->chosen_count; ++i) {
        if (s->dropped[i]) {
            continue;
        }
        const int client = s->chosen[i];
        if (cfg->dp_clip > 0.0f) {
            tl_dp_clip(s->updates[i], s->dim, cfg->dp_clip);
        }
        if (cfg->compress.kind != TL_COMPRESS_NONE) {
            if (cfg->compress.kind == TL_COMPRESS_TOPK && !s->residual[client]) {
                s->residual[client] = calloc(s->dim, sizeof(float));
                if (!s->residual[client]) {
                    return TL_ERR_NOMEM;
                }
            }
            uint64_t rng = stream(cfg->seed, PURPOSE_COMPRESS, (uint64_t)s->round, (uint64_t)client);
            const size_t at = s->mcu[client] ? s->head_at : 0, n = s->mcu[client] ? s->head_count : s->dim;
            s->update_bytes[i] = tl_compress_apply(&cfg->compress, s->updates[i] + at,
                                                   s->residual[client] ? s->residual[client] + at : NULL, n, &rng);
            if (s->update_bytes[i] == 0) {
                return TL_ERR_NOMEM;
            }
        } else if (cfg->split_cut > 0 && !s->mcu[client]) {
            s->update_bytes[i] = (size_t)s->split_up[i];
        } else {
            s->update_bytes[i] = tl_compress_bytes(&cfg->compress, s->mcu[client] ? s->head_count : s->dim);
        }
    }
    return TL_OK;
}
