/* simulate.c - `tinylarge federate`: N clients in one process, each with a
 * shard of the dataset, running the same round code a deployment runs
 * (federated.h): selection, local training, attacks, compression, privacy,
 * secure or plain aggregation, the server's optimiser, and optionally two
 * levels (clients -> edge aggregators -> the cloud).
 *
 * Reproducible: a client's local run, its compression noise, who drops out
 * and who attacks are each drawn from streams of (seed, round, client), so
 * the same seed gives the same global model whatever the thread count, and
 * --dropout drops the same clients with or without --secagg. The clients'
 * side (selection, local work, what they send) is clients.c; the run's
 * state is sim.h.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#ifdef TL_HAVE_MPI
#include <mpi.h>
#endif

#include "tinylarge/convert.h"
#include "tinylarge/federated.h"
#include "tinylarge/host.h"
#include "tinylarge/learn.h"
#include "sim.h"

void tl_fed_defaults(tl_fed_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->arch = "student";
    cfg->clients = 10;
    cfg->per_round = 10;
    cfg->rounds = 10;
    cfg->local_epochs = 1;
    cfg->batch = 32;
    cfg->lr = 0.05f;
    cfg->momentum = 0.9f;
    cfg->weight_decay = 5e-4f;
    cfg->partition = TL_PARTITION_IID;
    cfg->alpha = 0.5;
    cfg->labels_per_shard = 2;
    cfg->server = TL_SERVER_AVG;
    cfg->server_lr = 1.0f;
    cfg->rule.kind = TL_AGG_MEAN;
    cfg->frac_bits = 16;
    cfg->secagg_threshold = 0.5f;
    cfg->edge_rounds = 1;
    cfg->mcu_samples = 200;
    cfg->threads = 2;
    cfg->seed = 1;
}

void tl_fed_report_free(tl_fed_report *r)
{
    free(r->rounds);
    r->rounds = NULL;
}

/* splitmix64: one independent stream per (seed, purpose, round, client). */
/* ---- the round's aggregation ---- */

/* Fixed-point sum of the group's (weighted) updates, masked or not; the
 * survivors' total weight rides in the last word, so the server divides by
 * it without learning anyone's. out: the mean update. */
static tl_status fixed_point_mean(sim *s, const int *slots, int count, float *out, double *bytes_up,
                                  double *bytes_down, double *server_seconds)
{
    const tl_fed_config *cfg = s->cfg;
    const size_t dim = s->dim, words = dim + 2; /* the values, the host clients' weight, everyone's */
    const int32_t limit = (int32_t)(INT32_MAX / (count > 0 ? count : 1));
    uint32_t *buf = calloc((size_t)count * words, sizeof(uint32_t));
    uint32_t **in = malloc(sizeof(uint32_t *) * (size_t)(count > 0 ? count : 1));
    uint8_t *gone = malloc((size_t)(count > 0 ? count : 1));
    uint32_t *sum = calloc(words, sizeof(uint32_t));
    float *scaled = malloc(dim * sizeof(float));
    tl_status st = buf && in && gone && sum && scaled ? TL_OK : TL_ERR_NOMEM;
    int alive = 0;
    for (int g = 0; g < count && st == TL_OK; ++g) {
        const int slot = slots[g];
        in[g] = buf + (size_t)g * words;
        gone[g] = (uint8_t)s->dropped[slot];
        if (gone[g]) {
            continue; /* a vector never sent: its contents do not matter */
        }
        ++alive;
        const float w = (float)s->weights[slot];
        for (size_t i = 0; i < dim; ++i) {
            scaled[i] = w * s->updates[slot][i];
        }
        const float both[2] = { s->mcu[s->chosen[slot]] ? 0.0f : w, w };
        tl_fixed_encode(scaled, dim, cfg->frac_bits, limit, in[g]);
        tl_fixed_encode(both, 2, cfg->frac_bits, limit, in[g] + dim);
    }
    if (st == TL_OK && cfg->secagg && count >= 2) {
        tl_secagg_params p = tl_secagg_default(count, words, cfg->dropout, cfg->secagg_threshold);
        tl_secagg_stats stats;
        st = tl_secagg_round(&p, (const uint32_t *const *)in, gone, stream(cfg->seed, PURPOSE_SECAGG,
                                                                             (uint64_t)s->round, (uint64_t)slots[0]),
                             sum, &stats);
        if (st == TL_ERR_ARG) {
            snprintf(s->error, sizeof s->error, "secure aggregation of %d clients at dropout %.2f: no neighbourhood "
                     "of up to 254 keeps a threshold of %.2f of it (lower --secagg-threshold or the dropout)", count,
                     (double)cfg->dropout, (double)cfg->secagg_threshold);
        }
        if (st == TL_ERR_STATE) {
            /* Too few survivors around someone to rebuild a secret: the
             * protocol aborts and the round leaves the model as it was. */
            s->round_void = s->group_void = 1;
            memset(sum, 0, words * sizeof(uint32_t));
            st = TL_OK;
        }
        *bytes_up += (double)stats.bytes_up;
        *bytes_down += (double)stats.bytes_down;
        *server_seconds += stats.server_seconds;
    } else if (st == TL_OK) {
        for (int g = 0; g < count; ++g) {
            for (size_t i = 0; i < words && !gone[g]; ++i) {
                sum[i] += in[g][i];
            }
        }
        *bytes_up += (double)alive * (double)words * 4;
    }
    if (st == TL_OK) {
        /* The head's values come from every client, the rest from host-class
         * ones only (an MCU-class client's update covers just the head). */
        float total[2];
        tl_fixed_decode(sum, dim, cfg->frac_bits, out);
        tl_fixed_decode(sum + dim, 2, cfg->frac_bits, total);
        for (size_t i = 0; i < dim; ++i) {
            const float t = i >= s->head_at && i < s->head_at + s->head_count ? total[1] : total[0];
            out[i] = t > 0.0f ? out[i] / t : 0.0f;
        }
    }
    free(buf);
    free(in);
    free(gone);
    free(sum);
    free(scaled);
    return st;
}

/* Combines the updates of the group's survivors into out (the step to
 * apply); counts the bytes. */
static tl_status aggregate_group(sim *s, const int *slots, int count, float *out, tl_fed_round *r)
{
    const tl_fed_config *cfg = s->cfg;
    if (cfg->secagg || cfg->fixed_point) {
        return fixed_point_mean(s, slots, count, out, &r->bytes_up, &r->bytes_down, &s->secagg_seconds);
    }
    const float **u = malloc(sizeof(float *) * (size_t)(count > 0 ? count : 1));
    double *w = malloc(sizeof(double) * (size_t)(count > 0 ? count : 1));
    if (!u || !w) {
        free(u);
        free(w);
        return TL_ERR_NOMEM;
    }
    /* Host-class survivors first: they cover every value; then the
     * MCU-class ones, who cover the head only. */
    int hosts = 0, alive = 0;
    for (int pass = 0; pass < 2; ++pass) {
        for (int g = 0; g < count; ++g) {
            const int slot = slots[g];
            if (!s->dropped[slot] && s->mcu[s->chosen[slot]] == pass) {
                u[alive] = s->updates[slot];
                w[alive++] = s->weights[slot];
                r->bytes_up += (double)s->update_bytes[slot];
            }
        }
        hosts = pass == 0 ? alive : hosts;
    }
    tl_status st = TL_OK;
    memset(out, 0, s->dim * sizeof(float));
    if (hosts > 0) {
        st = tl_fed_aggregate(&cfg->rule, u, w, hosts, s->dim, out);
    }
    if (st == TL_OK && alive > hosts) {
        for (int i = 0; i < alive; ++i) {
            u[i] += s->head_at; /* the head's slice of each update */
        }
        st = tl_fed_aggregate(&cfg->rule, u, w, alive, s->head_count, out + s->head_at);
    }
    if (st == TL_ERR_ARG) {
        snprintf(s->error, sizeof s->error, "round %d: %s cannot combine %d updates", s->round,
                 tl_agg_name(cfg->rule.kind), hosts > 0 ? hosts : alive);
    }
    free(u);
    free(w);
    return st;
}

/* ---- a run ---- */

static tl_status fail(sim *s, char *error, size_t size, tl_status st, const char *what)
{
    snprintf(error, size, "%s", s->error[0] ? s->error : what);
    return st;
}

static tl_status setup(sim *s, char *error, size_t error_size)
{
    const tl_fed_config *cfg = s->cfg;
    tl_status st = tl_dataset_load_dir(cfg->data_dir, 1, cfg->train_limit, &s->train, error, error_size);
    if (st == TL_OK) {
        st = tl_dataset_load_dir(cfg->data_dir, 0, cfg->test_limit, &s->test, error, error_size);
    }
    if (st != TL_OK) {
        return st;
    }
    if (s->train.n < cfg->clients) {
        snprintf(error, error_size, "%d training images for %d clients", s->train.n, cfg->clients);
        return TL_ERR_ARG;
    }
    /* The shards, dealt as the partition says. */
    int *shard_of = malloc(sizeof(int) * (size_t)s->train.n);
    int *sizes = calloc((size_t)cfg->clients, sizeof(int));
    s->shards = calloc((size_t)cfg->clients, sizeof(tl_dataset));
    if (!shard_of || !sizes || !s->shards) {
        free(shard_of);
        free(sizes);
        return TL_ERR_NOMEM;
    }
    st = tl_dataset_partition(&s->train, cfg->partition, cfg->clients, cfg->alpha, cfg->labels_per_shard, cfg->seed,
                              shard_of);
    const size_t sample = (size_t)s->train.h * s->train.w * s->train.c;
    for (int i = 0; i < s->train.n && st == TL_OK; ++i) {
        sizes[shard_of[i]]++;
    }
    for (int c = 0; c < cfg->clients && st == TL_OK; ++c) {
        tl_dataset *d = &s->shards[c];
        *d = s->train;
        d->n = 0;
        d->pixels = malloc(sample * (size_t)(sizes[c] ? sizes[c] : 1));
        d->labels = malloc((size_t)(sizes[c] ? sizes[c] : 1));
        st = d->pixels && d->labels ? TL_OK : TL_ERR_NOMEM;
    }
    for (int i = 0; i < s->train.n && st == TL_OK; ++i) {
        tl_dataset *d = &s->shards[shard_of[i]];
        memcpy(d->pixels + (size_t)d->n * sample, s->train.pixels + (size_t)i * sample, sample);
        d->labels[d->n++] = s->train.labels[i];
    }
    free(shard_of);
    free(sizes);
    if (st != TL_OK) {
        return st;
    }
    for (int c = 0; c < cfg->clients; ++c) {
        if (s->shards[c].n == 0) { /* a shard the partition left empty: one image, so it can train */
            memcpy(s->shards[c].pixels, s->train.pixels, sample);
            s->shards[c].labels[0] = s->train.labels[0];
            s->shards[c].n = 1;
        }
    }
    /* The attackers: a seeded choice of clients; label flippers train on
     * classes - 1 - y from now on. */
    s->attacker = calloc((size_t)cfg->clients, 1);
    if (!s->attacker) {
        return TL_ERR_NOMEM;
    }
    const int bad = (int)floorf(cfg->attackers * (float)cfg->clients + 0.5f);
    uint64_t rng = stream(cfg->seed, PURPOSE_ATTACKERS, 0, 0);
    for (int placed = 0; placed < bad;) {
        const int c = (int)(uniform(&rng) * cfg->clients);
        if (c < cfg->clients && !s->attacker[c]) {
            s->attacker[c] = 1;
            ++placed;
            if (cfg->attack == TL_ATTACK_LABEL_FLIP) {
                for (int i = 0; i < s->shards[c].n; ++i) {
                    s->shards[c].labels[i] = (uint8_t)(s->shards[c].classes - 1 - s->shards[c].labels[i]);
                }
            }
        }
    }
    /* The MCU-class clients: another seeded choice. */
    s->mcu = calloc((size_t)cfg->clients, 1);
    if (!s->mcu) {
        return TL_ERR_NOMEM;
    }
    const int small = (int)floorf(cfg->mcu * (float)cfg->clients + 0.5f);
    uint64_t pick = stream(cfg->seed, PURPOSE_MCU, 0, 0);
    for (int placed = 0; placed < small;) {
        const int c = (int)(uniform(&pick) * cfg->clients);
        if (c < cfg->clients && !s->mcu[c]) {
            s->mcu[c] = 1;
            ++placed;
        }
    }
    /* Each client's radio and battery (see choose_clients). */
    s->median_rate = malloc(sizeof(double) * (size_t)cfg->clients);
    s->battery = malloc(sizeof(double) * (size_t)cfg->clients);
    s->rate = malloc(sizeof(double) * (size_t)cfg->per_round);
    if (!s->median_rate || !s->battery || !s->rate) {
        return TL_ERR_NOMEM;
    }
    for (int c = 0; c < cfg->clients; ++c) {
        uint64_t profile = stream(cfg->seed, PURPOSE_PROFILE, 0, (uint64_t)c);
        s->median_rate[c] = 1e6 * exp(tl_sim_normal(&profile));
        s->battery[c] = 0.5 + 0.5 * uniform(&profile);
    }
    /* One image for the trainers' end-of-epoch test (the global model is
     * measured on the real test split). */
    s->probe = s->test;
    s->probe.n = 1;
    /* The trainers: one a thread, each fresh from the same seed. */
    tl_train_config tc;
    tl_train_defaults(&tc);
    tc.arch = cfg->arch;
    tc.init = cfg->init;
    tc.epochs = cfg->local_epochs;
    tc.batch = cfg->batch;
    tc.lr = cfg->lr;
    tc.momentum = cfg->momentum;
    tc.weight_decay = cfg->weight_decay;
    tc.schedule = TL_SCHED_CONSTANT;
    tc.warmup_epochs = 0;
    tc.augment = 0;
    tc.threads = 1;
    tc.seed = cfg->seed;
    tc.quiet = 1;
    tc.alone = 1; /* under mpirun the processes are edges, not slices of a batch */
    s->trainers = calloc((size_t)cfg->threads, sizeof(tl_trainer *));
    s->cut_links = calloc((size_t)cfg->threads, sizeof(tl_cut_link));
    s->split_up = calloc((size_t)cfg->per_round, sizeof(double));
    s->split_down = calloc((size_t)cfg->per_round, sizeof(double));
    if (!s->trainers || !s->cut_links || !s->split_up || !s->split_down) {
        return TL_ERR_NOMEM;
    }
    tc.split_cut = cfg->split_cut;
    tc.split_bits = cfg->split_bits ? cfg->split_bits : 8;
    tl_train_report rep;
    for (int i = 0; i < cfg->threads; ++i) {
        tc.split_link = &s->cut_links[i];
        st = tl_trainer_init(&s->trainers[i], &tc, &s->shards[0], &s->probe, &rep, error, error_size);
        if (st != TL_OK) {
            return st;
        }
    }
    tl_net *net = tl_trainer_net(s->trainers[0]);
    s->dim = tl_fed_state_size(net);
    /* SplitFed: the device's half of the state (weights, batch-norm
     * statistics) is what a client sends for averaging beside the cut's
     * activations; the edge keeps the rest. */
    for (int i = 1; i <= cfg->split_cut && i < net->count; ++i) {
        const tl_node *n = &net->nodes[i];
        s->device_half += n->weight_count + n->bias_count + (n->kind == TL_LAYER_BATCHNORM ? 2 * (size_t)n->c : 0);
    }
    /* The global model starts as the trainers' net does: the same seed, or
     * the same checkpoint. */
    const char *arch = cfg->arch;
    tl_checkpoint_info from;
    if (cfg->init) {
        st = tl_checkpoint_load(cfg->init, 256, &s->eval, NULL, &from, error, error_size);
        arch = from.arch;
        if (st == TL_OK && (from.h != s->train.h || from.w != s->train.w || from.c != s->train.c ||
                            from.classes != s->train.classes)) {
            snprintf(error, error_size, "%s: a %dx%dx%d, %d-class network, but the data is %dx%dx%d with %d classes",
                     cfg->init, from.h, from.w, from.c, from.classes, s->train.h, s->train.w, s->train.c,
                     s->train.classes);
            return TL_ERR_SHAPE;
        }
    } else {
        st = tl_net_build_arch(&s->eval, cfg->arch, s->train.h, s->train.w, s->train.c, s->train.classes);
        if (st == TL_OK) {
            st = tl_net_finalize(&s->eval, 256, cfg->seed);
        }
    }
    if (st != TL_OK || tl_fed_state_size(&s->eval) != s->dim) {
        if (!cfg->init) {
            snprintf(error, error_size, "cannot build architecture '%s'", cfg->arch);
        }
        return st != TL_OK ? st : TL_ERR_STATE;
    }
    s->global = malloc(s->dim * sizeof(float));
    s->updates = calloc((size_t)cfg->per_round, sizeof(float *));
    s->update_bytes = calloc((size_t)cfg->per_round, sizeof(size_t));
    s->weights = calloc((size_t)cfg->per_round, sizeof(double));
    s->chosen = calloc((size_t)cfg->per_round, sizeof(int));
    s->dropped = calloc((size_t)cfg->per_round, sizeof(int));
    s->residual = calloc((size_t)cfg->clients, sizeof(float *));
    if (!s->global || !s->updates || !s->update_bytes || !s->weights || !s->chosen || !s->dropped || !s->residual) {
        return TL_ERR_NOMEM;
    }
    for (int i = 0; i < cfg->per_round; ++i) {
        s->updates[i] = malloc(s->dim * sizeof(float));
        if (!s->updates[i]) {
            return TL_ERR_NOMEM;
        }
    }
    tl_fed_state_get(net, s->global);
    const tl_node *head = &s->eval.nodes[s->eval.exits[s->eval.exit_count - 1]];
    s->head_at = head->weight_at;
    s->head_count = head->weight_count + head->bias_count;
    if (head->kind != TL_LAYER_DENSE || head->bias_at != head->weight_at + head->weight_count) {
        snprintf(error, error_size, "%s: its last exit is not a dense layer", cfg->arch);
        return TL_ERR_UNSUPPORTED;
    }
    if (cfg->edges > 0) {
        s->edge_state = calloc((size_t)cfg->edges, sizeof(float *));
        s->edge_weight = calloc((size_t)cfg->edges, sizeof(double));
        if (!s->edge_state || !s->edge_weight) {
            return TL_ERR_NOMEM;
        }
        for (int e = 0; e < cfg->edges; ++e) {
            s->edge_state[e] = malloc(s->dim * sizeof(float));
            if (!s->edge_state[e]) {
                return TL_ERR_NOMEM;
            }
            memcpy(s->edge_state[e], s->global, s->dim * sizeof(float));
        }
    }
    memset(&s->info, 0, sizeof s->info);
    snprintf(s->info.arch, sizeof s->info.arch, "%s", arch);
    s->info.h = s->train.h;
    s->info.w = s->train.w;
    s->info.c = s->train.c;
    s->info.classes = s->train.classes;
    s->info.mean = TL_FASHION_MNIST_MEAN;
    s->info.std = TL_FASHION_MNIST_STD;
    s->info.seed = cfg->seed;
    return tl_server_opt_init(&s->opt, cfg->server, cfg->server_lr, s->dim, net->param_count);
}

static float evaluate(sim *s, const float *state)
{
    float acc[TL_MAX_EXITS];
    tl_fed_state_set(&s->eval, state);
    tl_evaluate(&s->eval, &s->test, s->info.mean, s->info.std, acc, NULL);
    return acc[s->eval.exit_count - 1];
}

/* The global model as a device gets it: exported to int8, activation
 * ranges from the server's proxy images (the first 256 of the training
 * split: a server holds some public data of the task). */
static tl_status export_global(sim *s)
{
    tl_fed_state_set(&s->eval, s->global);
    tl_graph g;
    const tl_export_options opt = { 256, TL_DTYPE_INT8 };
    tl_dataset proxy = s->train;
    proxy.n = proxy.n < 256 ? proxy.n : 256;
    tl_status st = tl_export_net(&s->eval, &s->info, &proxy, &opt, &g, s->error, sizeof s->error);
    if (st != TL_OK) {
        return st;
    }
    free(s->tlm);
    s->tlm = NULL;
    st = tl_graph_serialize(&g, &s->tlm, &s->tlm_size);
    tl_graph_free(&g);
    if (st == TL_OK) {
        st = tl_model_load(&s->model, s->tlm, s->tlm_size, 0);
    }
    if (st == TL_OK && tl_learn_work_size(&s->model, NULL) == 0) {
        snprintf(s->error, sizeof s->error, "%s: the exported model has no head an MCU-class client can learn",
                 s->cfg->arch);
        st = TL_ERR_UNSUPPORTED;
    }
    return st;
}

/* ---- edges as processes (mpirun -n E tinylarge federate --edges E) ----
 * Each process is an edge: it trains and aggregates its own clients. At a
 * cloud round process 0 gathers the edges' states and weights, takes their
 * mean in edge order (the single process's arithmetic, so the model is the
 * same bit for bit) and sends it back to all. */

static void gather_edges(sim *s)
{
#ifdef TL_HAVE_MPI
    if (s->processes > 1) {
        float *all = s->rank == 0 ? malloc(s->dim * sizeof(float) * (size_t)s->processes) : NULL;
        double *weights = malloc(sizeof(double) * (size_t)s->processes);
        MPI_Gather(s->edge_state[s->rank], (int)s->dim, MPI_FLOAT, all, (int)s->dim, MPI_FLOAT, 0, MPI_COMM_WORLD);
        MPI_Gather(&s->edge_weight[s->rank], 1, MPI_DOUBLE, weights, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        for (int e = 0; s->rank == 0 && all && weights && e < s->processes; ++e) {
            memcpy(s->edge_state[e], all + (size_t)e * s->dim, s->dim * sizeof(float));
            s->edge_weight[e] = weights[e];
        }
        free(all);
        free(weights);
    }
#else
    (void)s;
#endif
}

static void share_global(sim *s)
{
#ifdef TL_HAVE_MPI
    if (s->processes > 1) {
        MPI_Bcast(s->global, (int)s->dim, MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
#else
    (void)s;
#endif
}

/* The round's figures over every edge process (each counted its own clients). */
static void sum_figures(sim *s, tl_fed_round *r)
{
#ifdef TL_HAVE_MPI
    if (s->processes > 1) {
        double sums[3] = { r->bytes_up, r->bytes_down, (double)r->dropped };
        double peaks[2] = { r->air_seconds, (double)s->round_void };
        MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, peaks, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        r->bytes_up = sums[0];
        r->bytes_down = sums[1];
        r->dropped = (int)sums[2];
        r->air_seconds = peaks[0];
        s->round_void = peaks[1] > 0.0;
    }
#else
    (void)s;
    (void)r;
#endif
}

/* One round; r gets its figures. */
static tl_status run_round(sim *s, tl_fed_round *r, float *step)
{
    const tl_fed_config *cfg = s->cfg;
    tl_sim_choose_clients(s);
    s->round_void = 0;
    tl_status st = TL_OK;
    s->round_has_mcu = 0;
    for (int i = 0; i < s->chosen_count; ++i) {
        s->round_has_mcu |= s->mcu[s->chosen[i]] && !s->dropped[i];
    }
    if (s->round_has_mcu) {
        st = export_global(s);
    }
    if (st == TL_OK) {
        st = tl_sim_train_round(s);
    }
    if (st == TL_OK) {
        st = tl_sim_prepare_updates(s);
    }
    if (st != TL_OK) {
        return st;
    }
    r->clients = s->chosen_count;
    for (int i = 0; i < s->chosen_count; ++i) {
        if (!mine(s, s->chosen[i])) {
            continue; /* another process counts it */
        }
        r->dropped += s->dropped[i];
        /* The round waits for its slowest upload. */
        const int c = s->chosen[i];
        const double secs = (double)tl_compress_bytes(&cfg->compress, s->mcu[c] ? s->head_count : s->dim) * 8.0 /
                            s->rate[i];
        r->air_seconds = !s->dropped[i] && secs > r->air_seconds ? secs : r->air_seconds;
    }
    /* The global model goes down to each chosen client: float32 to a
     * host-class one, the int8 model to an MCU-class one. */
    for (int i = 0; i < s->chosen_count; ++i) {
        if (mine(s, s->chosen[i])) {
            r->bytes_down += s->mcu[s->chosen[i]] ? (double)s->tlm_size
                             : cfg->split_cut > 0  ? s->split_down[i] /* gradients, and the device's half */
                                                   : (double)s->dim * 4;
        }
    }
    int slots[4096];
    const int groups = cfg->edges > 0 ? cfg->edges : 1;
    for (int e = 0; e < groups; ++e) {
        if (s->processes > 1 && e != s->rank) {
            continue; /* another process is that edge */
        }
        int count = 0;
        double weight = 0.0;
        for (int i = 0; i < s->chosen_count; ++i) {
            if (cfg->edges == 0 || s->chosen[i] % cfg->edges == e) {
                slots[count++] = i;
                weight += s->dropped[i] ? 0.0 : s->weights[i];
            }
        }
        s->group_void = 0;
        st = aggregate_group(s, slots, count, step, r);
        if (st != TL_OK) {
            return st;
        }
        if (s->group_void) {
            continue;
        }
        if (cfg->dp_clip > 0.0f && cfg->dp_noise > 0.0f) {
            /* Gaussian noise of std sigma * C on the sum of clipped updates:
             * on their mean, sigma * C / (clients that sent). */
            int alive = 0;
            for (int g = 0; g < count; ++g) {
                alive += !s->dropped[slots[g]];
            }
            uint64_t rng = stream(cfg->seed, PURPOSE_NOISE, (uint64_t)s->round, (uint64_t)e);
            if (alive > 0) {
                tl_dp_noise(step, s->dim, (double)cfg->dp_noise * cfg->dp_clip / alive, &rng);
            }
        }
        if (cfg->edges > 0) {
            for (size_t i = 0; i < s->dim; ++i) {
                s->edge_state[e][i] += step[i];
            }
            s->edge_weight[e] += weight;
        } else {
            tl_server_opt_apply(&s->opt, s->global, step);
        }
    }
    if (cfg->edges > 0) {
        /* The cloud: every edge_rounds rounds, the edges' weighted mean; each
         * edge sends its state up (float32) and gets the new one back. */
        if (s->round % cfg->edge_rounds == 0 || s->round == cfg->rounds) {
            gather_edges(s);
            double total = 0.0;
            for (int e = 0; e < cfg->edges; ++e) {
                total += s->edge_weight[e];
            }
            for (size_t i = 0; i < s->dim && total > 0.0; ++i) {
                double v = 0.0;
                for (int e = 0; e < cfg->edges; ++e) {
                    v += s->edge_weight[e] * (double)s->edge_state[e][i];
                }
                s->global[i] = (float)(v / total);
            }
            share_global(s);
            for (int e = 0; e < cfg->edges; ++e) {
                memcpy(s->edge_state[e], s->global, s->dim * sizeof(float));
                s->edge_weight[e] = 0.0;
            }
            r->cloud_bytes_up = (double)cfg->edges * (double)s->dim * 4;
        }
    } else {
        r->cloud_bytes_up = r->bytes_up;
    }
    sum_figures(s, r);
    return TL_OK;
}

static tl_status digest_checkpoint(sim *s, const char *path, uint8_t digest[32])
{
    tl_fed_state_set(&s->eval, s->global);
    s->info.epoch = s->round; /* a round counts as an epoch of the global model */
    tl_status st = tl_checkpoint_save(path, &s->eval, NULL, &s->info);
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (st == TL_OK) {
        st = tl_read_file(path, &bytes, &size);
    }
    if (st == TL_OK) {
        crypto_hash_sha256(digest, bytes, size);
    }
    free(bytes);
    return st;
}

static void release(sim *s)
{
    const tl_fed_config *cfg = s->cfg;
    for (int c = 0; s->shards && c < cfg->clients; ++c) {
        tl_dataset_free(&s->shards[c]);
    }
    free(s->shards);
    for (int i = 0; s->trainers && i < cfg->threads; ++i) {
        if (s->trainers[i]) {
            tl_trainer_free(s->trainers[i]);
        }
    }
    free(s->trainers);
    free(s->cut_links);
    free(s->split_up);
    free(s->split_down);
    for (int i = 0; s->updates && i < cfg->per_round; ++i) {
        free(s->updates[i]);
    }
    free(s->updates);
    free(s->update_bytes);
    for (int c = 0; s->residual && c < cfg->clients; ++c) {
        free(s->residual[c]);
    }
    free(s->residual);
    for (int e = 0; s->edge_state && e < cfg->edges; ++e) {
        free(s->edge_state[e]);
    }
    free(s->edge_state);
    free(s->edge_weight);
    free(s->weights);
    free(s->chosen);
    free(s->dropped);
    free(s->attacker);
    free(s->mcu);
    free(s->median_rate);
    free(s->battery);
    free(s->rate);
    free(s->tlm);
    free(s->global);
    tl_server_opt_free(&s->opt);
    if (s->eval.nodes) {
        tl_net_free(&s->eval);
    }
    tl_dataset_free(&s->train);
    tl_dataset_free(&s->test);
}

float tl_fed_round_rate(const tl_fed_config *cfg, int round)
{
    if (cfg->lr_schedule != TL_SCHED_COSINE || cfg->rounds < 1) {
        return cfg->lr;
    }
    return (float)(0.5 * cfg->lr * (1.0 + cos(3.141592653589793 * (double)(round - 1) / (double)cfg->rounds)));
}

/* What does not go together, said once for the library and the CLI. */
static tl_status check_config(const tl_fed_config *cfg, char *error, size_t size)
{
    const char *why = NULL;
    if (cfg->clients < 1 || cfg->per_round < 1 || cfg->per_round > cfg->clients || cfg->per_round > 4096) {
        why = "per round: 1 to the number of clients (at most 4096)";
    } else if (cfg->rounds < 1 || cfg->local_epochs < 1 || cfg->batch < 1 || cfg->threads < 1 || cfg->threads > 64) {
        why = "rounds, local epochs, batch and threads (1 to 64) must be positive";
    } else if (cfg->lr_schedule != TL_SCHED_CONSTANT && cfg->lr_schedule != TL_SCHED_COSINE) {
        why = "the local rate over the rounds is constant or cosine";
    } else if ((cfg->secagg || cfg->fixed_point) && cfg->rule.kind != TL_AGG_MEAN) {
        why = "secure aggregation gives the server only the sum: the aggregate must be the mean";
    } else if (cfg->edges > 0 && cfg->server != TL_SERVER_AVG) {
        why = "two levels average at the edges and the cloud: the server optimiser must be FedAvg's";
    } else if (cfg->edges > cfg->per_round || cfg->edges < 0 || cfg->edge_rounds < 1) {
        why = "edges: at most the clients per round, and edge rounds >= 1";
    } else if (cfg->dp_noise > 0.0f && !(cfg->dp_clip > 0.0f)) {
        why = "DP noise is a multiple of the clipping norm: give a clip too";
    } else if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f) || !(cfg->attackers >= 0.0f && cfg->attackers < 1.0f)) {
        why = "dropout and attackers are fractions in [0, 1)";
    } else if (!(cfg->mcu >= 0.0f && cfg->mcu <= 1.0f) || cfg->mcu_samples < 1 || (cfg->mcu > 0.0f && cfg->edges > 0)) {
        why = "MCU-class clients: a fraction in [0, 1], samples >= 1, and (for now) one level";
    } else if (cfg->split_bits != 0 && cfg->split_bits != 8 && cfg->split_bits != 32) {
        why = "what crosses a split cut is 8 or 32 bits";
    } else if (cfg->split_cut < 0 || (cfg->split_cut > 0 && (cfg->compress.kind != TL_COMPRESS_NONE || cfg->secagg ||
                                                             cfg->fixed_point || cfg->edges > 0))) {
        why = "SplitFed (a split cut) sends the device's half in float32: not with compression, secure "
              "aggregation, fixed point or two levels (yet)";
    } else if (!(cfg->secagg_threshold >= 0.1f && cfg->secagg_threshold < 1.0f)) {
        why = "the secure-aggregation threshold is a fraction of the neighbours in [0.1, 1)";
    } else if (cfg->frac_bits < 4 || cfg->frac_bits > 28) {
        why = "fixed point: 4 to 28 fraction bits";
    }
    if (why) {
        snprintf(error, size, "%s", why);
        return TL_ERR_ARG;
    }
    return TL_OK;
}

tl_status tl_fed_run(const tl_fed_config *cfg, tl_fed_report *report, char *error, size_t error_size)
{
    memset(report, 0, sizeof *report);
    tl_status st = check_config(cfg, error, error_size);
    if (st != TL_OK) {
        return st;
    }
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium did not start");
        return TL_ERR_STATE;
    }
    sim s;
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    tl_mpi_world(&s.rank, &s.processes);
    if (s.processes > 1 && cfg->edges != s.processes) {
        snprintf(error, error_size, "under mpirun each process is an edge: run %d processes for --edges %d, or "
                 "give --edges %d", cfg->edges, cfg->edges, s.processes);
        return TL_ERR_ARG;
    }
    if (s.processes > 1 && (cfg->mcu > 0.0f)) {
        snprintf(error, error_size, "edges as processes take host-class clients only (for now)");
        return TL_ERR_ARG;
    }
    report->rank = s.rank;
    float *step = NULL;
    st = setup(&s, error, error_size);
    report->rounds = calloc((size_t)cfg->rounds, sizeof(tl_fed_round));
    step = malloc((s.dim ? s.dim : 1) * sizeof(float));
    if (st == TL_OK && (!report->rounds || !step)) {
        st = TL_ERR_NOMEM;
        snprintf(error, error_size, "out of memory");
    }
    if (st != TL_OK) {
        free(step);
        release(&s);
        return st;
    }
    report->dim = s.dim;
    /* Under mpirun every process holds the global model; process 0 measures and reports it. */
    report->initial_accuracy = s.rank == 0 ? evaluate(&s, s.global) : 0.0f;
    tl_log_fn log = cfg->quiet || s.rank != 0 ? NULL : cfg->log ? cfg->log : tl_log_stderr;
    tl_log(log, cfg->log_ctx, "federated %s: %d clients (%d a round, %d attacking), %zu values in the model, "
           "accuracy %.4f before", s.info.arch, cfg->clients, cfg->per_round,
           (int)floorf(cfg->attackers * (float)cfg->clients + 0.5f), s.dim, (double)report->initial_accuracy);
    const double q = (double)cfg->per_round / cfg->clients;
    for (int round = 1; round <= cfg->rounds; ++round) {
        s.round = round;
        tl_fed_round *r = &report->rounds[round - 1];
        r->round = round;
        const double t0 = tl_monotonic_seconds();
        st = run_round(&s, r, step);
        if (st != TL_OK) {
            fail(&s, error, error_size, st, st == TL_ERR_NOMEM ? "out of memory" : "a round failed");
            break;
        }
        r->accuracy = s.rank == 0 ? evaluate(&s, s.global) : 0.0f;
        s.info.accuracy = r->accuracy;
        r->seconds = tl_monotonic_seconds() - t0;
        r->epsilon = cfg->dp_clip > 0.0f && cfg->dp_noise > 0.0f ? tl_dp_epsilon(q, cfg->dp_noise, round, 1e-5) : 0.0;
        report->rounds_run = round;
        char privacy[96] = "";
        if (r->epsilon > 0.0) {
            snprintf(privacy, sizeof privacy, ", epsilon %.2f", r->epsilon);
        }
        if (s.round_void) {
            snprintf(privacy + strlen(privacy), sizeof privacy - strlen(privacy),
                     "; void: too few survivors to unmask, the model stays");
        }
        tl_log(log, cfg->log_ctx, "round %d/%d: accuracy %.4f, %d clients (%d dropped), up %.2f MB, down %.2f MB, "
               "%.1f s%s", round, cfg->rounds, (double)r->accuracy, r->clients, r->dropped, r->bytes_up / 1e6,
               r->bytes_down / 1e6, r->seconds, privacy);
    }
    if (st == TL_OK) {
        report->final_accuracy = report->rounds[cfg->rounds - 1].accuracy;
        report->epsilon = report->rounds[cfg->rounds - 1].epsilon;
        report->secagg_server_seconds = s.secagg_seconds;
        char tmp[512] = "";
        const char *path = s.rank == 0 ? cfg->out : NULL;
        if (!path) { /* the digest needs the checkpoint's bytes: a private temporary file */
            const char *dir = getenv("TMPDIR");
            snprintf(tmp, sizeof tmp, "%s/tinylarge-federate-XXXXXX", dir && dir[0] ? dir : "/tmp");
            const int fd = mkstemp(tmp);
            if (fd >= 0) {
                close(fd);
            }
            path = tmp;
        }
        st = digest_checkpoint(&s, path, report->model_sha256);
        if (tmp[0]) {
            remove(tmp);
        }
        if (st != TL_OK) {
            snprintf(error, error_size, "%s: cannot write the global model", path);
        }
    }
    free(step);
    release(&s);
    return st;
}
