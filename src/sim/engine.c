/* engine.c - the simulator's world and its events.
 *
 * Devices ask for inferences; the strategy decides where each runs. A device
 * without the model its task needs now asks the edge, whose planner (the
 * project's own tl_plan_choose, on the real catalogue) picks the variant; the
 * model comes from the three-tier library (edge cache, regional library,
 * central library) and down the cell's shared downlink, then runs on the
 * device. Cells share their bandwidth between active transfers (flow-level:
 * round robin or proportional fair). docs/sim.md describes the model and
 * what it leaves out.
 *
 * Determinism: every random draw is a function of (seed, device, counter),
 * events are ordered by (time, key) with a key fixed by the scenario, and
 * regions (the cells that share a regional library) never touch another
 * region's state between handover ticks; so a region's history is the same
 * whichever rank runs it, and the results - integers - sum the same. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/host.h"
#include "world.h"

/* ---- time of day and context ---- */

static double hour_of_day(const sim_world *w, uint64_t t_ns)
{
    return fmod(w->config->start_hour + (double)t_ns / NS / 3600.0, 24.0);
}

static int is_day(const sim_device *d, double hour)
{
    const double minute = hour * 60.0;
    return minute >= d->day_start_min && minute < d->day_end_min;
}

static uint32_t model_version_at(const sim_world *w, uint64_t t_ns)
{
    const double u = w->config->update_interval_s;
    return u > 0 ? (uint32_t)((double)t_ns / NS / u) : 0;
}

/* A flavour's known share of its task's requests (Zipf): what the
 * popularity-aware caches rank by. */
static double flavour_popularity(const sim_world *w, int app, int flavour)
{
    return pow(flavour + 1.0, -w->config->zipf) / w->zipf_norm[app];
}

static uint64_t object_id(int app, int flavour, int variant, uint32_t version)
{
    return ((uint64_t)app << 56) | ((uint64_t)(flavour & 0xffff) << 40) | ((uint64_t)(variant & 0xff) << 32) | version;
}

static int draw_weighted(const double *weights, int count, double u)
{
    double total = 0;
    for (int i = 0; i < count; i++) {
        total += weights[i];
    }
    double acc = 0;
    for (int i = 0; i < count; i++) {
        acc += weights[i];
        if (u * total < acc) {
            return i;
        }
    }
    return count - 1;
}

static int draw_zipf(const sim_world *w, int app, double u)
{
    const tl_sim_app *a = &w->config->apps[app];
    double acc = 0;
    for (int f = 0; f < a->flavours; f++) {
        acc += flavour_popularity(w, app, f);
        if (u < acc) {
            return f;
        }
    }
    return a->flavours - 1;
}

/* ---- costs of a variant on a class ---- */

static double inference_seconds(const sim_world *w, int cls, int app, int variant)
{
    const tl_sim_class *c = &w->config->classes[cls];
    const tl_variant *v = &w->config->apps[app].variants[variant];
    if (w->by_instructions[app]) {
        return (double)v->m4_instructions * c->m4_instruction_factor / c->instructions_per_second;
    }
    return (double)v->macs / c->macs_per_second;
}

double sim_compute_energy_j(const sim_world *w, int cls, double seconds)
{
    const tl_sim_class *c = &w->config->classes[cls];
    return seconds * c->instructions_per_second * c->joules_per_instruction;
}

void sim_add_energy(sim_world *w, int cls, double joules)
{
    w->results->classes[cls].energy_uj += (uint64_t)llround(joules * 1e6);
}

static tl_device_profile class_profile(const sim_world *w, int cls)
{
    const tl_sim_class *c = &w->config->classes[cls];
    tl_device_profile p;
    memset(&p, 0, sizeof p);
    p.flash_bytes = (uint64_t)c->flash_bytes;
    p.ram_bytes = (uint64_t)c->ram_bytes;
    p.macs_per_second = c->macs_per_second;
    p.instructions_per_second = c->instructions_per_second / c->m4_instruction_factor;
    return p;
}

/* ---- the planner: the project's own, asked once per (class, app, SINR
 * bucket, load bucket) and remembered: the same question gets the same
 * answer, and asking a million times would only repeat it. ---- */

static int plan_variant(sim_world *w, int cls, int app, double sinr_db, uint32_t sharers)
{
    const tl_sim_config *config = w->config;
    const tl_sim_app *a = &config->apps[app];
    int sb, lb;
    sim_channel_bucket(sinr_db, sharers, &sb, &lb);
    const size_t slot = (((size_t)cls * TL_SIM_MAX_APPS + (size_t)app) * PLAN_SINR_BUCKETS + (size_t)sb) *
                            PLAN_LOAD_BUCKETS + (size_t)lb;
    if (w->plans[slot] != -2) {
        return w->plans[slot];
    }
    tl_device_profile profile = class_profile(w, cls);
    /* The channel the planner is told: the bucket's lower SINR, shared by
     * the bucket's larger number of transfers. */
    tl_channel channel;
    memset(&channel, 0, sizeof channel);
    channel.measured_bps = sim_bucket_rate(config, sb, lb, w->radio.bandwidth_dl_hz);
    channel.rtt_s = config->block_rtt_s;
    channel.block_bytes = 1024;
    int chosen = -1;
    if (config->strategy == TL_SIM_ADAPTIVE) {
        tl_plan plan;
        /* -1 when none meets the deadline: the request goes to the edge,
         * or (without the cloud fallback) the smallest variant that fits
         * comes anyway. */
        /* The edge plans for the worst case of its library: a miss in
         * every tier (the model comes from the central library), and the
         * scheduling delay on the air. */
        const double fetch = config->air_latency_s + 2.0 * (config->edge_region_s + config->region_central_s);
        const double deadline = a->deadline_s - fetch;
        if (deadline > 0 &&
            tl_plan_choose(a->variants, a->variant_count, &profile, &channel, deadline, &plan) == TL_OK) {
            chosen = plan.index;
        } else if (!config->cloud_fallback) {
            for (int v = 0; v < a->variant_count; v++) {
                const tl_variant *x = &a->variants[v];
                if (x->bytes <= profile.flash_bytes && x->arena <= profile.ram_bytes &&
                    (chosen < 0 || x->bytes < a->variants[chosen].bytes)) {
                    chosen = v;
                }
            }
        }
    } else {
        /* Always the full model: uncompressed (no pruning, the most bits)
         * where it fits the device, whatever the channel and the deadline;
         * else the least compressed that fits. */
        for (int v = 0; v < a->variant_count; v++) {
            const tl_variant *x = &a->variants[v];
            if (x->bytes > profile.flash_bytes || x->arena > profile.ram_bytes) {
                continue;
            }
            const tl_variant *c = chosen >= 0 ? &a->variants[chosen] : NULL;
            if (!c || (x->sparsity == 0) > (c->sparsity == 0) ||
                ((x->sparsity == 0) == (c->sparsity == 0) &&
                 (x->bits > c->bits || (x->bits == c->bits && x->accuracy > c->accuracy)))) {
                chosen = v;
            }
        }
    }
    w->plans[slot] = (int8_t)chosen;
    return chosen;
}

/* ---- results ---- */

static int latency_bin(double s)
{
    if (s <= 1e-5) {
        return 0;
    }
    int b = (int)floor((log10(s) + 5.0) * TL_SIM_LATENCY_BINS / 9.0) + 1;
    return b < 0 ? 0 : b >= TL_SIM_LATENCY_BINS ? TL_SIM_LATENCY_BINS - 1 : b;
}

double tl_sim_latency_bin_edge(int i)
{
    return pow(10.0, (double)i * 9.0 / TL_SIM_LATENCY_BINS - 5.0);
}

static void record_request(sim_world *w, sim_device *d, uint64_t done_ns, int app, int served, int correct)
{
    tl_sim_results *r = w->results;
    const tl_sim_app *a = &w->config->apps[app];
    const double latency = (double)(done_ns - d->op_start_ns) / NS;
    const int met = served && latency <= a->deadline_s + 1e-12;
    correct = served && correct;
    const int slice = (int)((double)d->op_start_ns / (double)w->end_ns * TL_SIM_TIME_BINS);
    const int s = slice < 0 ? 0 : slice >= TL_SIM_TIME_BINS ? TL_SIM_TIME_BINS - 1 : slice;
    r->requests++;
    r->met += (uint64_t)met;
    r->correct += (uint64_t)correct;
    r->failed += !served;
    r->latency[latency_bin(latency)]++;
    const uint64_t us = (uint64_t)llround(latency * 1e6);
    r->latency_sum_us += us;
    r->latency_max_us = us > r->latency_max_us ? us : r->latency_max_us;
    r->time_requests[s]++;
    r->time_met[s] += (uint64_t)met;
    r->time_correct[s] += (uint64_t)correct;
    r->classes[d->cls].requests++;
    r->classes[d->cls].met += (uint64_t)met;
    r->classes[d->cls].correct += (uint64_t)correct;
    r->cell_requests[d->cell]++;
    r->cell_met[d->cell] += (uint64_t)met;
    if (d->op_downloaded) {
        r->download_requests++;
        r->download_met += (uint64_t)met;
        r->download_latency[latency_bin(latency)]++;
        r->download_latency_sum_us += us;
    }
}

/* Whether the device's own answer is right, and how sure it was (1: not
 * known). The device runtime computes it for the sampled devices of
 * fidelity full; the cascade at fast fidelity takes one of the test images
 * the runtime answered at the start; otherwise it is drawn from the
 * variant's measured accuracy. */
int sim_local_outcome(sim_world *w, const sim_device *d, int app, int variant, float *confidence)
{
    const tl_sim_config *config = w->config;
    const uint64_t draw = sim_hash(config->seed, SIM_RNG_OUTCOME, d->id, d->requests);
    *confidence = 1.0f;
    if (config->fidelity_full && d->id % config->full_every == 0 && sim_runtime_has(&w->runtime, app, variant)) {
        int correct;
        float sure;
        if (sim_runtime_infer(&w->runtime, app, variant, (uint32_t)(draw >> 32), &correct, &sure) == TL_OK) {
            w->results->runtime_inferences++;
            *confidence = sure;
            return correct;
        }
    }
    if (w->calib_correct[app][variant]) {
        const uint32_t k = (uint32_t)((draw >> 32) % w->calib_count);
        *confidence = w->calib_confidence[app][variant][k];
        return w->calib_correct[app][variant][k];
    }
    return (double)(draw >> 11) * (1.0 / 9007199254740992.0) < config->apps[app].variants[variant].accuracy;
}

static int edge_outcome(const sim_world *w, const sim_device *d, int app)
{
    return sim_uniform(w->config->seed, SIM_RNG_OUTCOME, d->id, (uint64_t)d->requests | (1ull << 40)) <
           w->edge_accuracy[app];
}

void sim_fail(sim_world *w, tl_status s)
{
    if (w->failure == TL_OK) {
        w->failure = s;
    }
}

void sim_set_timer(sim_world *w, sim_device *d, uint64_t t_ns)
{
    d->next_ns = t_ns;
    if (t_ns < w->end_ns && sim_queue_push(&w->queue, t_ns, KEY(KIND_DEVICE, d->id)) != TL_OK) {
        sim_fail(w, TL_ERR_NOMEM);
    }
}

void sim_schedule_next_request(sim_world *w, sim_device *d, uint64_t now)
{
    const int app = is_day(d, hour_of_day(w, now)) ? d->app_day : d->app_night;
    const double mean = w->config->apps[app].interval_s;
    const double u = sim_uniform(w->config->seed, SIM_RNG_REQUEST, d->id, d->requests);
    d->stage = IDLE;
    if (w->config->burst) {
        d->next_ns = NO_TIME; /* one request each */
        return;
    }
    sim_set_timer(w, d, now + to_ns(-log(1.0 - u) * mean));
}

/* ---- cell links ---- */

static void link_advance(sim_link *l, uint64_t now)
{
    if (l->n > 0 && now > l->last_ns) {
        l->v += (double)(now - l->last_ns) / NS / (double)l->weight;
    }
    l->last_ns = now;
}

static int flow_before(const sim_flow *a, const sim_flow *b)
{
    return a->finish < b->finish || (a->finish == b->finish && a->owner < b->owner);
}

static void link_schedule(sim_world *w, sim_link *l, int kind, int cell, uint64_t now)
{
    if (l->n == 0) {
        l->next_ns = NO_TIME;
        return;
    }
    double left = (l->flows[0].finish - l->v) * (double)l->weight;
    const uint64_t t = now + (left > 0 ? to_ns(left) : 0);
    if (t == l->next_ns) {
        return;
    }
    l->next_ns = t;
    if (t < w->end_ns && sim_queue_push(&w->queue, t, KEY(kind, cell)) != TL_OK) {
        sim_fail(w, TL_ERR_NOMEM);
    }
}

void sim_link_add(sim_world *w, sim_link *l, int kind, int cell, uint64_t now, double work_s, uint32_t owner,
                     uint32_t weight)
{
    link_advance(l, now);
    if (l->n == l->capacity) {
        const uint32_t capacity = l->capacity ? l->capacity * 2 : 8;
        sim_flow *flows = realloc(l->flows, capacity * sizeof *flows);
        if (!flows) {
            sim_fail(w, TL_ERR_NOMEM);
            return;
        }
        l->flows = flows;
        l->capacity = capacity;
    }
    const sim_flow f = { l->v + work_s / (double)weight, owner, weight };
    l->weight += weight;
    uint32_t i = l->n++;
    while (i > 0 && flow_before(&f, &l->flows[(i - 1) / 2])) {
        l->flows[i] = l->flows[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    l->flows[i] = f;
    link_schedule(w, l, kind, cell, now);
}

static sim_flow link_pop(sim_link *l)
{
    const sim_flow top = l->flows[0];
    l->weight -= top.weight;
    const sim_flow last = l->flows[--l->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= l->n) {
            break;
        }
        if (c + 1 < l->n && flow_before(&l->flows[c + 1], &l->flows[c])) {
            c++;
        }
        if (!flow_before(&l->flows[c], &last)) {
            break;
        }
        l->flows[i] = l->flows[c];
        i = c;
    }
    if (l->n > 0) {
        l->flows[i] = last;
    }
    return top;
}

/* A transfer's length alone on the link: its bits over the rate its SINR
 * gets. Round robin: one Rayleigh fade per transfer. Proportional fair
 * rides the fades: with n users it serves each near its peaks, an SINR
 * gain of about H(n) = 1 + 1/2 + ... + 1/n (exponential fading). */
double sim_transfer_work(const sim_world *w, const sim_device *d, double sinr_db, uint32_t sharers, double hz,
                            uint64_t bytes, uint32_t salt)
{
    const tl_sim_config *config = w->config;
    double s = sinr_db;
    if (config->fading) {
        if (config->proportional_fair) {
            s += sharers <= 64 ? w->pf_gain_db[sharers] : 10.0 * log10(log((double)sharers) + 0.5772156649);
        } else {
            const double u = sim_uniform(config->seed, SIM_RNG_FADE, d->id, (uint64_t)d->requests * 4 + salt);
            s += 10.0 * log10(-log(1.0 - u) + 1e-12);
        }
    }
    return (double)bytes * 8.0 / (sim_spectral_efficiency(config, s) * hz);
}

/* ---- the library: edge cache, regional library, central library ---- */

static double fetch_seconds(sim_world *w, const sim_device *d, uint64_t object, uint64_t bytes, double popularity)
{
    const tl_sim_config *config = w->config;
    tl_sim_results *r = w->results;
    sim_cache *edge = &w->edge_caches[d->cell / config->cells_per_edge];
    sim_cache *region = &w->region_caches[region_of(w, d->cell)];
    const double hop_bytes_s = (double)bytes * 8.0 / config->backhaul_bps;
    r->tier_lookups[0]++;
    if (sim_cache_lookup(edge, object)) {
        r->tier_hits[0]++;
        return 0;
    }
    double s = 2.0 * config->edge_region_s + hop_bytes_s;
    r->backhaul_bytes += bytes;
    r->tier_lookups[1]++;
    if (sim_cache_lookup(region, object)) {
        r->tier_hits[1]++;
    } else {
        r->tier_lookups[2]++;
        r->tier_hits[2]++; /* the central library holds every model */
        s += 2.0 * config->region_central_s + hop_bytes_s;
        r->backhaul_bytes += bytes;
        sim_cache_offer(region, object, bytes, popularity);
    }
    sim_cache_offer(edge, object, bytes, popularity);
    return s;
}

/* ---- a request's path ---- */

static void finish_local(sim_world *w, sim_device *d, uint64_t now)
{
    /* The model is installed: infer on the device. */
    const int app = d->op_app, variant = d->op_variant;
    const double infer = inference_seconds(w, d->cls, app, variant);
    sim_add_energy(w, d->cls, sim_compute_energy_j(w, d->cls, infer));
    d->stage = INFERRING;
    sim_set_timer(w, d, now + to_ns(infer));
}

static void start_download(sim_world *w, sim_device *d, uint64_t now);

/* Inference at the edge: the input goes up, the edge server runs the
 * catalogue's most accurate variant, the result comes down. */
static void start_cloud(sim_world *w, sim_device *d, uint64_t now)
{
    const tl_sim_app *a = &w->config->apps[d->op_app];
    d->op_cloud = 1;
    sim_add_energy(w, d->cls, w->config->classes[d->cls].wake_s * w->config->classes[d->cls].rx_watts);
    sim_cell *cell = &w->cells[d->cell];
    const double work = sim_transfer_work(w, d, d->sinr_ul, cell->up.n + 1, w->radio.bandwidth_ul_hz,
                                      (uint64_t)a->input_bytes, 1);
    d->stage = UPLOADING;
    d->op_mark_ns = now;
    w->results->classes[d->cls].bytes_up += (uint64_t)a->input_bytes;
    w->results->air_bytes_up += (uint64_t)a->input_bytes;
    sim_link_add(w, &cell->up, KIND_UPLINK, d->cell, now, work, d->id, 1);
}

static void on_request(sim_world *w, sim_device *d, uint64_t now)
{
    const tl_sim_config *config = w->config;
    const int day = is_day(d, hour_of_day(w, now));
    const int app = day ? d->app_day : d->app_night;
    const int flavour = day ? d->flavour_day : d->flavour_night;
    d->requests++;
    d->op_start_ns = now;
    d->op_app = (uint8_t)app;
    d->op_flavour = (uint16_t)flavour;
    d->op_downloaded = 0;
    d->op_cloud = 0;
    d->op_split = 0;
    if (config->strategy == TL_SIM_DEVICE) {
        d->op_variant = w->factory[d->cls][app];
        if (d->op_variant < 0) {
            record_request(w, d, now, app, 0, 0);
            sim_schedule_next_request(w, d, now);
            return;
        }
        finish_local(w, d, now);
        return;
    }
    if (config->strategy == TL_SIM_CLOUD) {
        start_cloud(w, d, now);
        return;
    }
    const uint32_t version = model_version_at(w, now);
    if (d->model_app == app && d->model_flavour == flavour && d->model_version == version && d->model_variant >= 0) {
        d->op_variant = d->model_variant;
        const sim_cut *cut = config->strategy == TL_SIM_SPLIT ? sim_choose_cut(w, d, app, d->op_variant) : NULL;
        if (cut && cut->ops_on_device < cut->ops) {
            w->results->split_requests++;
            w->results->split_ops_on_device += cut->ops_on_device;
            sim_start_split(w, d, cut, now);
            return;
        }
        finish_local(w, d, now);
        return;
    }
    /* The edge plans the download. */
    const sim_cell *cell = &w->cells[d->cell];
    uint32_t sharers = cell->down.n + 1;
    if (config->burst && sharers < config->devices) {
        sharers = config->devices; /* everyone asks at once: the planner is told so */
    }
    const int variant = plan_variant(w, d->cls, app, d->sinr_dl, sharers);
    if (variant < 0) {
        w->results->plans_none++;
        if (config->strategy == TL_SIM_ADAPTIVE) {
            /* Nothing downloaded now would answer in time: this inference
             * runs at the edge, and a variant that will answer the next
             * ones in time comes down afterwards. */
            d->prefetch = w->for_later[d->cls][app];
            d->op_version = version;
            start_cloud(w, d, now);
            return;
        }
        record_request(w, d, now, app, 0, 0);
        sim_schedule_next_request(w, d, now);
        return;
    }
    d->op_variant = (int8_t)variant;
    d->op_version = version;
    d->op_downloaded = 1;
    const tl_variant *v = &config->apps[app].variants[variant];
    const uint64_t object = object_id(app, flavour, variant, version);
    const double fetch = fetch_seconds(w, d, object, v->bytes, flavour_popularity(w, app, flavour));
    d->stage = FETCHING;
    sim_set_timer(w, d, now + to_ns(fetch + config->air_latency_s));
}

/* Layer-pipelined download and inference (SLIDE): layer k runs once its
 * weights are in and layer k-1 is done. Download progress is taken as even
 * over the transfer. Returns the inference's end after the download began. */
static double pipelined_end(const tl_sim_app *a, double download_s, double infer_s)
{
    double t = 0, arrived = 0;
    for (int k = 0; k < a->layers; k++) {
        arrived += a->layer_bytes[k];
        const double in = download_s * (arrived > 1 ? 1 : arrived);
        t = (in > t ? in : t) + infer_s * a->layer_compute[k];
    }
    return t;
}

static void download_done(sim_world *w, sim_device *d, uint64_t now)
{
    const tl_sim_app *a = &w->config->apps[d->op_app];
    const tl_variant *v = &a->variants[d->op_variant];
    /* CoAP block-wise transfer waits a round trip per block (RFC 7959), as
     * the planner counts it: the link is free meanwhile. */
    now += to_ns((double)((v->bytes + 1023) / 1024) * w->config->block_rtt_s);
    const double download = (double)(now - d->op_mark_ns) / NS;
    const tl_sim_class *cls = &w->config->classes[d->cls];
    sim_add_energy(w, d->cls, (download + cls->wake_s) * cls->rx_watts);
    d->model_app = d->op_app;
    d->model_flavour = d->op_flavour;
    d->model_variant = d->op_variant;
    d->model_version = d->op_version;
    w->results->downloads++;
    w->results->classes[d->cls].downloads++;
    w->results->classes[d->cls].bytes_down += v->bytes;
    if (d->background) {
        /* Downloaded while the edge answered: ready for the next request. */
        d->background = 0;
        sim_schedule_next_request(w, d, now);
        return;
    }
    const double infer = inference_seconds(w, d->cls, d->op_app, d->op_variant);
    sim_add_energy(w, d->cls, sim_compute_energy_j(w, d->cls, infer));
    d->stage = INFERRING;
    /* The first answer: after the whole model, or sooner when layers run
     * as they arrive. */
    uint64_t end = now + to_ns(infer);
    if (w->config->pipeline && a->layers > 0) {
        const uint64_t piped = d->op_mark_ns + to_ns(pipelined_end(a, download, infer));
        end = piped < end ? piped : end;
    }
    sim_set_timer(w, d, end);
}

static void start_download(sim_world *w, sim_device *d, uint64_t now)
{
    const tl_sim_config *config = w->config;
    const tl_sim_app *a = &config->apps[d->op_app];
    const tl_variant *v = &a->variants[d->op_variant];
    sim_cell *cell = &w->cells[d->cell];
    d->op_mark_ns = now;
    if (config->broadcast && a->shared_fraction > 0 && d->sinr_dl >= config->broadcast_min_sinr_db) {
        /* The shared layers come once per cell for every device that needs
         * them within the gathering window; then each gets its own rest.
         * A device below the broadcast's SINR floor would slow it for all:
         * it gets its model by unicast. */
        const uint64_t object = object_id(d->op_app, 0, d->op_variant, d->op_version);
        int s = -1;
        for (int i = 0; i < cell->broadcast_count; i++) {
            if (cell->broadcasts[i].sending == 0 && cell->broadcasts[i].object == object) {
                s = i;
                break;
            }
        }
        if (s < 0) {
            for (int i = 0; i < cell->broadcast_count && s < 0; i++) {
                if (cell->broadcasts[i].sending < 0) {
                    s = i;
                }
            }
            if (s < 0) {
                if (cell->broadcast_count == cell->broadcast_capacity) {
                    const int capacity = cell->broadcast_capacity ? cell->broadcast_capacity * 2 : 4;
                    sim_broadcast *b = realloc(cell->broadcasts, (size_t)capacity * sizeof *b);
                    if (!b) {
                        sim_fail(w, TL_ERR_NOMEM);
                        return;
                    }
                    cell->broadcasts = b;
                    cell->broadcast_capacity = capacity;
                }
                s = cell->broadcast_count++;
            }
            sim_broadcast *b = &cell->broadcasts[s];
            b->object = object;
            b->members = UINT32_MAX;
            b->count = 0;
            b->bytes = (uint32_t)((double)v->bytes * a->shared_fraction);
            b->min_sinr = 1e9f;
            b->sending = 0;
            b->start_ns = now + to_ns(config->broadcast_wait_s);
            if (b->start_ns < w->end_ns &&
                sim_queue_push(&w->queue, b->start_ns, KEY(KIND_BROADCAST, (uint64_t)d->cell << 20 | (uint64_t)s)) != TL_OK) {
                sim_fail(w, TL_ERR_NOMEM);
            }
        }
        sim_broadcast *b = &cell->broadcasts[s];
        d->broadcast_next = b->members;
        b->members = d->id;
        b->count++;
        b->min_sinr = d->sinr_dl < b->min_sinr ? d->sinr_dl : b->min_sinr;
        d->stage = WAITING_BROADCAST;
        return;
    }
    d->stage = DOWNLOADING;
    w->results->air_bytes_down += v->bytes;
    const double work = sim_transfer_work(w, d, d->sinr_dl, cell->down.n + 1, w->radio.bandwidth_dl_hz, v->bytes, 0);
    sim_link_add(w, &cell->down, KIND_DOWNLINK, d->cell, now, work, d->id, 1);
}

static sim_device *device_here(sim_world *w, uint32_t id)
{
    const uint32_t i = w->where[id];
    return i == UINT32_MAX ? NULL : &w->devices[i];
}

static void on_broadcast_start(sim_world *w, int cell_id, int s, uint64_t now)
{
    sim_cell *cell = &w->cells[cell_id];
    sim_broadcast *b = &cell->broadcasts[s];
    if (b->sending != 0 || b->start_ns != now) {
        return;
    }
    b->sending = 1;
    w->results->broadcasts++;
    w->results->broadcast_members += b->count;
    w->results->air_bytes_down += b->bytes;
    /* One transmission at the rate the weakest member can decode. */
    const double work = (double)b->bytes * 8.0 / (sim_spectral_efficiency(w->config, b->min_sinr) * w->radio.bandwidth_dl_hz);
    sim_link_add(w, &cell->down, KIND_DOWNLINK, cell_id, now, work, SIM_FLOW_BROADCAST | (uint32_t)s, b->count);
}

static void on_broadcast_done(sim_world *w, int cell_id, int s, uint64_t now)
{
    sim_cell *cell = &w->cells[cell_id];
    sim_broadcast *b = &cell->broadcasts[s];
    uint32_t id = b->members;
    b->sending = -1;
    while (id != UINT32_MAX) {
        sim_device *d = device_here(w, id);
        if (!d) {
            break;
        }
        id = d->broadcast_next;
        const tl_sim_app *a = &w->config->apps[d->op_app];
        const uint64_t rest = a->variants[d->op_variant].bytes - b->bytes;
        d->stage = DOWNLOADING;
        w->results->air_bytes_down += rest;
        const double work = sim_transfer_work(w, d, d->sinr_dl, cell->down.n + 1, w->radio.bandwidth_dl_hz, rest, 2);
        sim_link_add(w, &cell->down, KIND_DOWNLINK, cell_id, now, work, d->id, 1);
    }
}

static void on_link(sim_world *w, int kind, int cell_id, uint64_t now)
{
    sim_cell *cell = &w->cells[cell_id];
    sim_link *l = kind == KIND_DOWNLINK ? &cell->down : &cell->up;
    if (l->next_ns != now) {
        return; /* rescheduled since */
    }
    link_advance(l, now);
    l->next_ns = NO_TIME;
    /* Everything due now (a tolerance for rounding to whole nanoseconds). */
    while (l->n > 0 && l->flows[0].finish <= l->v + 1e-9) {
        const sim_flow f = link_pop(l);
        if (f.owner & SIM_FLOW_BROADCAST) {
            on_broadcast_done(w, cell_id, (int)(f.owner & ~SIM_FLOW_BROADCAST), now);
            continue;
        }
        sim_device *d = device_here(w, f.owner);
        if (!d) {
            continue;
        }
        if (kind == KIND_DOWNLINK) {
            download_done(w, d, now);
        } else if (d->stage == SENDING_UPDATE) {
            sim_update_sent(w, d, now);
        } else {
            /* Uploaded: the edge server's queue, then the result comes down. */
            const tl_sim_config *config = w->config;
            const tl_sim_app *a = &config->apps[d->op_app];
            sim_add_energy(w, d->cls, (double)(now - d->op_mark_ns) / NS * config->classes[d->cls].tx_watts);
            uint64_t *busy = &w->edge_busy_ns[cell_id / config->cells_per_edge];
            const uint64_t start = *busy > now ? *busy : now;
            *busy = start + to_ns(d->op_split ? d->op_edge_s : w->edge_macs[d->op_app] / config->edge_macs_per_second);
            const double result_s = a->result_bytes * 8.0 /
                                    (sim_spectral_efficiency(config, d->sinr_dl) * w->radio.bandwidth_dl_hz /
                                     (double)(cell->down.n + 1));
            w->results->classes[d->cls].bytes_down += (uint64_t)a->result_bytes;
            w->results->air_bytes_down += (uint64_t)a->result_bytes;
            sim_add_energy(w, d->cls, result_s * config->classes[d->cls].rx_watts);
            d->stage = AT_EDGE;
            sim_set_timer(w, d, *busy + to_ns(result_s + config->air_latency_s));
        }
    }
    link_schedule(w, l, kind, cell_id, now);
}

/* The download for later requests (after the edge answered this one). */
static void start_prefetch(sim_world *w, sim_device *d, uint64_t now)
{
    const tl_sim_config *config = w->config;
    const int variant = d->prefetch;
    d->prefetch = -1;
    d->background = 1;
    d->op_variant = (int8_t)variant;
    const uint64_t object = object_id(d->op_app, d->op_flavour, variant, d->op_version);
    const double fetch = fetch_seconds(w, d, object, config->apps[d->op_app].variants[variant].bytes,
                                       flavour_popularity(w, d->op_app, d->op_flavour));
    d->stage = FETCHING;
    sim_set_timer(w, d, now + to_ns(fetch + config->air_latency_s));
}

static void on_device_timer(sim_world *w, sim_device *d, uint64_t now)
{
    switch (d->stage) {
    case IDLE:
        on_request(w, d, now);
        break;
    case FETCHING:
        start_download(w, d, now);
        break;
    case LEARNING:
        sim_send_update(w, d, now);
        break;
    case SPLIT_HEAD:
        sim_send_cut(w, d, now);
        break;
    case INFERRING: {
        float sure;
        const int correct = sim_local_outcome(w, d, d->op_app, d->op_variant, &sure);
        if (w->config->cascade_threshold > 0 && w->config->strategy != TL_SIM_DEVICE &&
            sure < w->config->cascade_threshold) {
            /* The cascade: an answer this unsure goes to the edge's model. */
            w->results->offloaded++;
            start_cloud(w, d, now);
            break;
        }
        record_request(w, d, now, d->op_app, 1, correct);
        sim_schedule_next_request(w, d, now);
        break;
    }
    case AT_EDGE: {
        float sure;
        /* A split request's answer is the device's model's, finished at the edge. */
        const int correct = d->op_split ? sim_local_outcome(w, d, d->op_app, d->op_variant, &sure)
                                        : edge_outcome(w, d, d->op_app);
        record_request(w, d, now, d->op_app, 1, correct);
        if (d->prefetch >= 0) {
            start_prefetch(w, d, now);
        } else {
            sim_schedule_next_request(w, d, now);
        }
        break;
    }
    default:
        break;
    }
}

/* ---- mobility ---- */

static void next_leg(sim_world *w, sim_device *d)
{
    const tl_sim_config *config = w->config;
    const tl_sim_class *c = &config->classes[d->cls];
    const uint64_t seed = config->seed;
    d->leg++;
    d->x = d->wx;
    d->y = d->wy;
    double tx, ty;
    sim_radio_place(&w->radio, seed, SIM_RNG_WAYPOINT, d->id, d->leg, &tx, &ty);
    if (c->mobility == TL_SIM_GRID) {
        /* Streets every 100 m: the destination is a crossing. */
        tx = round(tx / 100.0) * 100.0;
        ty = round(ty / 100.0) * 100.0;
    }
    d->wx = (float)tx;
    d->wy = (float)ty;
    const double u = sim_uniform(seed, SIM_RNG_WAYPOINT, d->id, (uint64_t)d->leg * 64 + 63);
    d->speed = (float)(c->speed_min + (c->speed_max - c->speed_min) * u);
    if (d->speed < 0.1f) {
        d->speed = 0.1f;
    }
    const double dist = c->mobility == TL_SIM_GRID ? fabs(tx - d->x) + fabs(ty - d->y) : hypot(tx - d->x, ty - d->y);
    d->leg_t0_ns = d->pause_until_ns;
    d->leg_t1_ns = d->leg_t0_ns + to_ns(dist / d->speed);
    const double pause = c->pause_max_s * sim_uniform(seed, SIM_RNG_WAYPOINT, d->id, (uint64_t)d->leg * 64 + 62);
    d->pause_until_ns = d->leg_t1_ns + to_ns(pause);
}

static void position_at(sim_world *w, sim_device *d, uint64_t now, double *x, double *y)
{
    while (now >= d->pause_until_ns) {
        next_leg(w, d);
    }
    if (now >= d->leg_t1_ns) {
        *x = d->wx;
        *y = d->wy;
        return;
    }
    const double f = (double)(now - d->leg_t0_ns) / (double)(d->leg_t1_ns - d->leg_t0_ns);
    if (w->config->classes[d->cls].mobility == TL_SIM_GRID) {
        /* Along x first, then along y. */
        const double lx = fabs(d->wx - d->x), ly = fabs(d->wy - d->y), walked = f * (lx + ly);
        if (walked <= lx) {
            *x = d->x + (d->wx > d->x ? walked : -walked);
            *y = d->y;
        } else {
            *x = d->wx;
            *y = d->y + (d->wy > d->y ? walked - lx : -(walked - lx));
        }
        return;
    }
    *x = d->x + (d->wx - d->x) * f;
    *y = d->y + (d->wy - d->y) * f;
}

/* Picks the device's cell in a square. A handover needs the better cell
 * at two picks in a row (time to trigger: one handover period), which
 * keeps a device at a cell's edge from bouncing between two cells. */
static void attach(sim_world *w, sim_device *d, uint32_t square, int serving)
{
    sim_link_quality q;
    const double tx = w->config->classes[d->cls].tx_dbm;
    sim_radio_attach(&w->radio, square, tx, serving, 0, &q);
    if (serving >= 0 && q.cell != serving) {
        if (d->handover_to != q.cell) {
            d->handover_to = (uint16_t)q.cell;
            sim_radio_attach(&w->radio, square, tx, serving, 1, &q);
        }
    } else {
        d->handover_to = UINT16_MAX;
    }
    d->cell = (uint16_t)q.cell;
    d->sinr_dl = (float)q.sinr_dl_db;
    d->sinr_ul = (float)q.sinr_ul_db;
    d->square = square;
}

/* ---- devices: creation, placement on ranks ---- */

static void device_init(sim_world *w, sim_device *d, uint32_t id)
{
    const tl_sim_config *config = w->config;
    const uint64_t seed = config->seed;
    memset(d, 0, sizeof *d);
    d->id = id;
    double shares[TL_SIM_MAX_CLASSES], day[TL_SIM_MAX_APPS], night[TL_SIM_MAX_APPS];
    for (int i = 0; i < config->class_count; i++) {
        shares[i] = config->classes[i].share;
    }
    for (int i = 0; i < config->app_count; i++) {
        day[i] = config->apps[i].share;
        night[i] = config->apps[i].night_share;
    }
    d->cls = (uint8_t)draw_weighted(shares, config->class_count, sim_uniform(seed, SIM_RNG_CLASS, id, 0));
    d->app_day = (uint8_t)draw_weighted(day, config->app_count, sim_uniform(seed, SIM_RNG_APP, id, 0));
    d->app_night = (uint8_t)draw_weighted(night, config->app_count, sim_uniform(seed, SIM_RNG_APP, id, 1));
    d->flavour_day = (uint16_t)draw_zipf(w, d->app_day, sim_uniform(seed, SIM_RNG_FLAVOUR, id, 0));
    d->flavour_night = (uint16_t)draw_zipf(w, d->app_night, sim_uniform(seed, SIM_RNG_FLAVOUR, id, 1));
    /* Days start between 6:00 and 8:00 and end between 18:00 and 20:00. */
    d->day_start_min = (uint16_t)(360 + 120 * sim_uniform(seed, SIM_RNG_CONTEXT, id, 0));
    d->day_end_min = (uint16_t)(1080 + 120 * sim_uniform(seed, SIM_RNG_CONTEXT, id, 1));
    d->model_app = NONE8;
    d->model_variant = -1;
    d->broadcast_next = UINT32_MAX;
    d->handover_to = UINT16_MAX;
    d->prefetch = -1;
    d->next_ns = NO_TIME;
    double x, y;
    if (config->burst) {
        /* Everyone in the centre cell. */
        const double s = w->radio.hex_radius;
        for (uint64_t k = 0;; k++) {
            x = (sim_uniform(seed, SIM_RNG_PLACE, id, 2 * k) - 0.5) * 1.7320508 * s;
            y = (sim_uniform(seed, SIM_RNG_PLACE, id, 2 * k + 1) - 0.5) * 2.0 * s;
            if (sim_radio_cell_at(&w->radio, x, y) == 0) {
                break;
            }
        }
    } else {
        sim_radio_place(&w->radio, seed, SIM_RNG_PLACE, id, 0, &x, &y);
    }
    d->wx = (float)x;
    d->wy = (float)y;
    d->x = (float)x;
    d->y = (float)y;
    if (config->classes[d->cls].mobility != TL_SIM_STATIC && !config->burst) {
        d->pause_until_ns = 0;
        next_leg(w, d);
        double px, py;
        position_at(w, d, 0, &px, &py);
        x = px;
        y = py;
    } else {
        d->pause_until_ns = NO_TIME;
        d->leg_t1_ns = 0;
    }
    attach(w, d, sim_radio_square_at(&w->radio, x, y), -1);
    if (config->burst) {
        d->cell = 0;
    }
    if (config->strategy == TL_SIM_DEVICE) {
        d->model_app = d->app_day;
        d->model_variant = w->factory[d->cls][d->app_day];
    }
}

static tl_status add_local(sim_world *w, const sim_device *d)
{
    if (w->count == w->capacity) {
        const uint32_t capacity = w->capacity ? w->capacity * 2 : 1024;
        sim_device *devices = realloc(w->devices, (size_t)capacity * sizeof *devices);
        if (!devices) {
            return TL_ERR_NOMEM;
        }
        w->devices = devices;
        w->capacity = capacity;
    }
    w->where[d->id] = w->count;
    w->devices[w->count++] = *d;
    return TL_OK;
}

static void remove_local(sim_world *w, uint32_t index)
{
    w->where[w->devices[index].id] = UINT32_MAX;
    if (index != w->count - 1) {
        w->devices[index] = w->devices[w->count - 1];
        w->where[w->devices[index].id] = index;
    }
    w->count--;
}

static int rank_of_cell(const sim_world *w, int cell)
{
    return region_of(w, cell) % w->shard.size;
}

/* A handover tick: moving devices pick their cell; devices whose region
 * another rank runs go there (only idle ones: a transfer finishes where it
 * began). */
static tl_status handover_tick(sim_world *w, uint64_t now)
{
    sim_device *out = NULL;
    int *dest = NULL;
    size_t out_count = 0, out_capacity = 0;
    for (uint32_t i = 0; i < w->count;) {
        sim_device *d = &w->devices[i];
        if (w->config->classes[d->cls].mobility == TL_SIM_STATIC || d->stage != IDLE) {
            i++;
            continue;
        }
        double x, y;
        position_at(w, d, now, &x, &y);
        /* A new pick once the device is in another square of the map. */
        const uint32_t square = sim_radio_square_at(&w->radio, x, y);
        if (square != d->square || d->handover_to != UINT16_MAX) {
            const int before = d->cell;
            attach(w, d, square, before);
            w->results->handovers += d->cell != before;
        }
        const int rank = rank_of_cell(w, d->cell);
        if (rank != w->shard.rank) {
            if (out_count == out_capacity) {
                out_capacity = out_capacity ? out_capacity * 2 : 256;
                sim_device *o = realloc(out, out_capacity * sizeof *o);
                int *r = realloc(dest, out_capacity * sizeof *r);
                if (!o || !r) {
                    free(o ? o : out);
                    free(r ? r : dest);
                    return TL_ERR_NOMEM;
                }
                out = o;
                dest = r;
            }
            out[out_count] = *d;
            dest[out_count++] = rank;
            remove_local(w, i);
            continue;
        }
        i++;
    }
    sim_device *in = NULL;
    size_t in_count = 0;
    tl_status s = sim_shard_exchange(&w->shard, out, dest, out_count, sizeof *out, (void **)&in, &in_count);
    free(out);
    free(dest);
    for (size_t k = 0; s == TL_OK && k < in_count; k++) {
        s = add_local(w, &in[k]);
        if (s == TL_OK && in[k].next_ns != NO_TIME) {
            s = sim_queue_push(&w->queue, in[k].next_ns, KEY(KIND_DEVICE, in[k].id));
        }
    }
    free(in);
    return s;
}

/* ---- setup and the loop ---- */

static tl_status world_init(sim_world *w, const tl_sim_config *config, tl_sim_results *results, char *error,
                            size_t error_size)
{
    memset(w, 0, sizeof *w);
    w->config = config;
    w->results = results;
    sim_shard_init(&w->shard);
    tl_status s = sim_radio_init(&w->radio, config, error, error_size);
    if (s == TL_OK) {
        s = sim_radio_build_map(&w->radio, config->seed, error, error_size);
    }
    if (s != TL_OK) {
        return s;
    }
    if (w->radio.cells > 65535) {
        return tl_fail(error, error_size, TL_ERR_ARG, "sim: %d cells are more than 65,535", w->radio.cells);
    }
    w->end_ns = to_ns(config->duration_s);
    w->regions = (w->radio.cells + config->cells_per_region - 1) / config->cells_per_region;
    w->edges = (w->radio.cells + config->cells_per_edge - 1) / config->cells_per_edge;
    w->cells = calloc((size_t)w->radio.cells, sizeof *w->cells);
    w->edge_busy_ns = calloc((size_t)w->edges, sizeof *w->edge_busy_ns);
    w->edge_caches = calloc((size_t)w->edges, sizeof *w->edge_caches);
    w->region_caches = calloc((size_t)w->regions, sizeof *w->region_caches);
    const size_t plan_slots = (size_t)TL_SIM_MAX_CLASSES * TL_SIM_MAX_APPS * PLAN_SINR_BUCKETS * PLAN_LOAD_BUCKETS;
    w->plans = malloc(plan_slots);
    w->where = malloc((size_t)config->devices * sizeof *w->where);
    results->cells = w->radio.cells;
    results->cell_requests = calloc((size_t)w->radio.cells, sizeof *results->cell_requests);
    results->cell_met = calloc((size_t)w->radio.cells, sizeof *results->cell_met);
    if (!w->cells || !w->edge_busy_ns || !w->edge_caches || !w->region_caches || !w->plans || !w->where ||
        !results->cell_requests || !results->cell_met) {
        return tl_fail(error, error_size, TL_ERR_NOMEM, "sim: out of memory for %u devices", config->devices);
    }
    memset(w->plans, -2, plan_slots);
    memset(w->where, 0xff, (size_t)config->devices * sizeof *w->where);
    for (int e = 0; e < w->edges; e++) {
        sim_cache_init(&w->edge_caches[e], config->edge_cache_bytes, config->policy);
    }
    for (int r = 0; r < w->regions; r++) {
        sim_cache_init(&w->region_caches[r], config->region_cache_bytes, config->policy);
    }
    for (int c = 0; c < w->radio.cells; c++) {
        w->cells[c].down.next_ns = w->cells[c].up.next_ns = NO_TIME;
    }
    for (int a = 0; a < config->app_count; a++) {
        const tl_sim_app *app = &config->apps[a];
        for (int f = 0; f < app->flavours; f++) {
            w->zipf_norm[a] += pow(f + 1.0, -config->zipf);
        }
        w->by_instructions[a] = 1;
        for (int v = 0; v < app->variant_count; v++) {
            w->by_instructions[a] &= app->variants[v].m4_instructions >= 0;
        }
    }
    /* H(n) = 1 + 1/2 + ... + 1/n: proportional fair's gain over n faded users. */
    double harmonic = 0;
    for (int n = 1; n <= 64; n++) {
        harmonic += 1.0 / n;
        w->pf_gain_db[n] = 10.0 * log10(harmonic);
    }
    if (config->fl_enabled && (s = sim_rounds_init(w, error, error_size)) != TL_OK) {
        return s;
    }
    /* The edge's model per task: as the scenario says, or the catalogue's best. */
    for (int a = 0; a < config->app_count; a++) {
        const tl_sim_app *app = &config->apps[a];
        int best = 0;
        for (int v = 1; v < app->variant_count; v++) {
            best = app->variants[v].accuracy > app->variants[best].accuracy ? v : best;
        }
        w->edge_accuracy[a] = app->edge_accuracy > 0 ? app->edge_accuracy : app->variants[best].accuracy;
        w->edge_macs[a] = app->edge_macs > 0 ? app->edge_macs : (double)app->variants[best].macs;
    }
    if (config->fidelity_full || config->cascade_threshold > 0 || config->strategy == TL_SIM_SPLIT) {
        s = sim_runtime_open(&w->runtime, config, error, error_size);
        if (s != TL_OK) {
            return s;
        }
    }
    if (config->strategy == TL_SIM_SPLIT && (s = sim_cuts_init(w, error, error_size)) != TL_OK) {
        return s;
    }
    if (config->cascade_threshold > 0) {
        /* Each device model's answers and confidence on the first test
         * images: the cascade's outcomes at fast fidelity. */
        w->calib_count = config->cascade_images < (uint32_t)w->runtime.test.n ? config->cascade_images
                                                                              : (uint32_t)w->runtime.test.n;
        for (int a = 0; a < config->app_count; a++) {
            for (int v = 0; v < config->apps[a].variant_count; v++) {
                if (!sim_runtime_has(&w->runtime, a, v)) {
                    continue;
                }
                w->calib_confidence[a][v] = malloc(w->calib_count * sizeof(float));
                w->calib_correct[a][v] = malloc(w->calib_count);
                if (!w->calib_confidence[a][v] || !w->calib_correct[a][v]) {
                    return tl_fail(error, error_size, TL_ERR_NOMEM, "sim: out of memory for the cascade");
                }
                for (uint32_t k = 0; k < w->calib_count; k++) {
                    int correct;
                    s = sim_runtime_infer(&w->runtime, a, v, k, &correct, &w->calib_confidence[a][v][k]);
                    if (s != TL_OK) {
                        return tl_fail(error, error_size, s, "sim: %s of %s does not run on the test images (%s)",
                                       config->apps[a].variants[v].name, config->apps[a].catalogue_path,
                                       tl_status_str(s));
                    }
                    w->calib_correct[a][v][k] = (uint8_t)correct;
                }
            }
        }
    }
    /* Device-only: what the factory installs, the most accurate variant
     * that fits (the planner without a channel or deadline). */
    for (int c = 0; c < config->class_count; c++) {
        for (int a = 0; a < config->app_count; a++) {
            tl_device_profile p = class_profile(w, c);
            tl_channel ch = { 0, 0, 0.5, 1e9, 0, 1024 };
            tl_plan plan;
            const tl_sim_app *app = &config->apps[a];
            w->factory[c][a] = tl_plan_choose(app->variants, app->variant_count, &p, &ch, 0, &plan) == TL_OK
                                   ? (int8_t)plan.index : -1;
            int later = -1;
            for (int v = 0; v < app->variant_count; v++) {
                const tl_variant *x = &app->variants[v];
                if (x->bytes > p.flash_bytes || x->arena > p.ram_bytes ||
                    inference_seconds(w, c, a, v) > app->deadline_s) {
                    continue;
                }
                if (later < 0 || x->accuracy > app->variants[later].accuracy ||
                    (x->accuracy == app->variants[later].accuracy && x->bytes < app->variants[later].bytes)) {
                    later = v;
                }
            }
            w->for_later[c][a] = (int8_t)later;
        }
    }
    return TL_OK;
}

static void world_free(sim_world *w)
{
    for (int c = 0; w->cells && c < w->radio.cells; c++) {
        free(w->cells[c].down.flows);
        free(w->cells[c].up.flows);
        free(w->cells[c].broadcasts);
    }
    for (int e = 0; w->edge_caches && e < w->edges; e++) {
        sim_cache_free(&w->edge_caches[e]);
    }
    for (int r = 0; w->region_caches && r < w->regions; r++) {
        sim_cache_free(&w->region_caches[r]);
    }
    for (int a = 0; a < TL_SIM_MAX_APPS; a++) {
        for (int v = 0; v < TL_SIM_MAX_APP_VARIANTS; v++) {
            free(w->calib_confidence[a][v]);
            free(w->calib_correct[a][v]);
        }
    }
    sim_cuts_free(w);
    sim_rounds_free(w);
    sim_runtime_close(&w->runtime);
    free(w->cells);
    free(w->edge_busy_ns);
    free(w->edge_caches);
    free(w->region_caches);
    free(w->plans);
    free(w->where);
    free(w->devices);
    sim_queue_free(&w->queue);
    sim_radio_free(&w->radio);
}

static void progress_line(const sim_world *w, uint64_t now, double wall, uint64_t events)
{
    const double frac = (double)now / (double)w->end_ns;
    char bar[31];
    const int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[30] = 0;
    const double v = (double)now / NS;
    fprintf(stderr, "\rsim [%s] %3.0f%%  virtual %02d:%02d:%02d of %.0f s  wall %.1f s  %.2f M events/s ", bar,
            frac * 100, (int)(v / 3600), (int)fmod(v / 60, 60), (int)fmod(v, 60), w->config->duration_s, wall,
            wall > 0 ? (double)events / wall / 1e6 : 0);
}

tl_status tl_sim_run(const tl_sim_config *config, tl_sim_results *results, tl_sim_timing *timing, char *error,
                     size_t error_size)
{
    memset(results, 0, sizeof *results);
    memset(timing, 0, sizeof *timing);
    const double wall0 = tl_monotonic_seconds();
    sim_world w;
    tl_status s = world_init(&w, config, results, error, error_size);
    for (uint32_t id = 0; s == TL_OK && id < config->devices; id++) {
        sim_device d;
        device_init(&w, &d, id);
        if (rank_of_cell(&w, d.cell) != w.shard.rank) {
            continue;
        }
        s = add_local(&w, &d);
        sim_device *here = &w.devices[w.count - 1];
        if (s == TL_OK) {
            uint64_t first;
            if (config->burst) {
                first = to_ns(config->burst_spread_s * sim_uniform(config->seed, SIM_RNG_REQUEST, id, 1u << 30));
            } else {
                const tl_sim_app *a = &config->apps[here->app_day];
                first = to_ns(a->interval_s * sim_uniform(config->seed, SIM_RNG_REQUEST, id, 1u << 30));
            }
            sim_set_timer(&w, here, first);
        }
    }
    if (s != TL_OK) {
        if (s == TL_ERR_NOMEM) {
            tl_fail(error, error_size, s, "sim: out of memory placing %u devices", config->devices);
        }
        world_free(&w);
        return s;
    }
    timing->setup_s = tl_monotonic_seconds() - wall0;
    const double loop0 = tl_monotonic_seconds();
    const uint64_t tick = to_ns(config->handover_s);
    uint64_t next_tick = tick;
    double last_print = loop0;
    const int show = config->progress && w.shard.rank == 0;
    for (;;) {
        uint64_t t;
        const int have = sim_queue_peek(&w.queue, &t);
        const uint64_t limit = next_tick < w.end_ns ? next_tick : w.end_ns;
        if (!have || t >= limit) {
            if (limit >= w.end_ns) {
                break;
            }
            /* Every rank reaches every tick, with or without events. */
            s = handover_tick(&w, next_tick);
            if (s == TL_OK && config->fl_enabled && next_tick >= w.next_round_ns) {
                /* Rounds open at the first handover tick of their period:
                 * every rank at the same virtual time, devices settled. */
                s = sim_open_rounds(&w, next_tick);
                w.next_round_ns = (next_tick / to_ns(config->fl_round_s) + 1) * to_ns(config->fl_round_s);
            }
            if (s != TL_OK) {
                break;
            }
            next_tick += tick;
            const double now_wall = tl_monotonic_seconds();
            if (show && now_wall - last_print > 0.5) {
                progress_line(&w, next_tick - tick, now_wall - loop0, w.events * (uint64_t)w.shard.size);
                last_print = now_wall;
            }
            continue;
        }
        sim_event e;
        sim_queue_pop(&w.queue, &e);
        const int kind = (int)(e.key >> 56);
        const uint64_t id = e.key & ((1ull << 56) - 1);
        if (kind == KIND_DEVICE) {
            sim_device *d = device_here(&w, (uint32_t)id);
            if (!d || d->next_ns != e.t_ns) {
                continue; /* moved to another rank, or superseded */
            }
            d->next_ns = NO_TIME;
            on_device_timer(&w, d, e.t_ns);
        } else if (kind == KIND_BROADCAST) {
            on_broadcast_start(&w, (int)(id >> 20), (int)(id & 0xfffff), e.t_ns);
        } else if (kind == KIND_ROUND) {
            sim_close_round(&w, (int)(id / TL_SIM_MAX_APPS), (int)(id % TL_SIM_MAX_APPS), e.t_ns);
        } else {
            on_link(&w, kind, (int)id, e.t_ns);
        }
        w.events++;
        if (w.failure != TL_OK) {
            s = w.failure;
            break;
        }
    }
    if (show) {
        progress_line(&w, w.end_ns, tl_monotonic_seconds() - loop0, w.events * (uint64_t)w.shard.size);
        fputc('\n', stderr);
    }
    if (s == TL_OK) {
        for (uint32_t i = 0; i < w.count; i++) {
            const sim_device *d = &w.devices[i];
            results->classes[d->cls].devices++;
            if (d->model_variant >= 0 && d->model_app != NONE8) {
                results->classes[d->cls].model_bytes += config->apps[d->model_app].variants[d->model_variant].bytes;
            }
        }
        const double loop_s = tl_monotonic_seconds() - loop0;
        uint64_t events = w.events;
        s = sim_shard_reduce(&w.shard, results, &events);
        timing->events = events;
        timing->wall_s = tl_monotonic_seconds() - wall0;
        timing->events_per_second = loop_s > 0 ? (double)events / loop_s / w.shard.size : 0;
        timing->ranks = w.shard.size;
        timing->bytes_per_device = (double)sizeof(sim_device) + sizeof(uint32_t) + sizeof(sim_event);
    } else {
        tl_fail(error, error_size, s, "sim: %s", s == TL_ERR_NOMEM ? "out of memory" : "a rank failed");
    }
    world_free(&w);
    return s;
}

void tl_sim_results_free(tl_sim_results *results)
{
    free(results->cell_requests);
    free(results->cell_met);
    results->cell_requests = results->cell_met = NULL;
}

double sim_percentile(const uint64_t *histogram, uint64_t count, double p)
{
    if (count == 0) {
        return 0;
    }
    const double want = p * (double)count;
    uint64_t acc = 0;
    for (int i = 0; i < TL_SIM_LATENCY_BINS; i++) {
        acc += histogram[i];
        if ((double)acc >= want) {
            return tl_sim_latency_bin_edge(i);
        }
    }
    return tl_sim_latency_bin_edge(TL_SIM_LATENCY_BINS - 1);
}

double tl_sim_latency_percentile(const tl_sim_results *results, double p)
{
    return sim_percentile(results->latency, results->requests, p);
}
