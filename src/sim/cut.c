/* cut.c - split inference in the simulator: where to cut each inference
 * between device and edge, decided by the project's split cost model
 * (tl_split_costs) for the device's class and its uplink now. docs/sim.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/host.h"
#include "tinylarge/split.h"
#include "world.h"

tl_status sim_cuts_init(sim_world *w, char *error, size_t error_size)
{
    const tl_sim_config *config = w->config;
    /* Per operator: the device's Cortex-M4 instructions, estimated as
     * split does without QEMU (3 a MAC + 500) and scaled to the
     * variant's measured total; the edge's time at its MAC rate. */
    for (int a = 0; a < config->app_count; a++) {
        w->cut_variants = config->apps[a].variant_count > w->cut_variants ? config->apps[a].variant_count
                                                                          : w->cut_variants;
        for (int v = 0; v < config->apps[a].variant_count; v++) {
            if (!sim_runtime_has(&w->runtime, a, v)) {
                continue;
            }
            const tl_model *m = &w->runtime.models[a][v].model;
            const uint32_t ops = m->header->op_count;
            w->split_ops[a][v] = calloc(ops + 1, sizeof(uint64_t));
            w->split_edge_s[a][v] = calloc(ops + 1, sizeof(double));
            if (!w->split_ops[a][v] || !w->split_edge_s[a][v]) {
                return tl_fail(error, error_size, TL_ERR_NOMEM, "sim: out of memory for split costs");
            }
            double estimate = 0;
            for (uint32_t op = 0; op < ops; op++) {
                estimate += 3.0 * (double)tl_op_macs(m, op) + 500.0;
            }
            const int64_t measured = config->apps[a].variants[v].m4_instructions;
            const double scale = measured > 0 && estimate > 0 ? (double)measured / estimate : 1.0;
            for (uint32_t op = 0; op < ops; op++) {
                w->split_ops[a][v][op] = (uint64_t)llround((3.0 * (double)tl_op_macs(m, op) + 500.0) * scale);
                w->split_edge_s[a][v][op] = (double)tl_op_macs(m, op) / config->edge_macs_per_second + 1e-6;
            }
        }
    }
    w->cuts = calloc((size_t)config->class_count * (size_t)config->app_count * (size_t)w->cut_variants *
                         PLAN_SINR_BUCKETS * PLAN_LOAD_BUCKETS, sizeof *w->cuts);
    if (!w->cuts) {
        return tl_fail(error, error_size, TL_ERR_NOMEM, "sim: out of memory for split cuts");
    }
    return TL_OK;
}

void sim_cuts_free(sim_world *w)
{
    for (int a = 0; a < TL_SIM_MAX_APPS; a++) {
        for (int v = 0; v < TL_SIM_MAX_APP_VARIANTS; v++) {
            free(w->split_ops[a][v]);
            free(w->split_edge_s[a][v]);
        }
    }
    free(w->cuts);
}

/* Where to cut this inference: the project's split cost model
 * (tl_split_costs, Neurosurgeon-style) for the device's class, its uplink
 * now and the edge's rate; asked once per (class, app, variant, SINR
 * bucket, load bucket). NULL: the variant has no device model to cut. */
const sim_cut *sim_choose_cut(sim_world *w, const sim_device *d, int app, int variant)
{
    if (!w->split_ops[app][variant]) {
        return NULL;
    }
    const tl_sim_config *config = w->config;
    const tl_sim_class *c = &config->classes[d->cls];
    int sb, lb;
    sim_channel_bucket(d->sinr_ul, w->cells[d->cell].up.n + 1, &sb, &lb);
    const size_t slot =
        ((((size_t)d->cls * (size_t)config->app_count + (size_t)app) * (size_t)w->cut_variants + (size_t)variant) *
             PLAN_SINR_BUCKETS + (size_t)sb) * PLAN_LOAD_BUCKETS + (size_t)lb;
    sim_cut *cut = &w->cuts[slot];
    if (cut->known) {
        return cut;
    }
    const tl_model *m = &w->runtime.models[app][variant].model;
    const uint32_t ops = m->header->op_count;
    tl_split_cut *cuts = malloc((ops + 1) * sizeof *cuts);
    if (!cuts) {
        sim_fail(w, TL_ERR_NOMEM);
        return NULL;
    }
    tl_split_link link;
    memset(&link, 0, sizeof link);
    link.rate_bps = sim_bucket_rate(config, sb, lb, w->radio.bandwidth_ul_hz);
    link.rtt_s = 2.0 * config->air_latency_s;
    link.ips = c->instructions_per_second / c->m4_instruction_factor;
    link.joules_per_instruction = c->joules_per_instruction * c->m4_instruction_factor;
    link.joules_per_bit = c->tx_watts / (link.rate_bps > 0 ? link.rate_bps : 1);
    link.overhead_bytes = 100;
    uint32_t chosen = 0;
    if (tl_split_costs(m, w->split_ops[app][variant], w->split_edge_s[app][variant], &link, TL_SPLIT_LATENCY, cuts,
                       &chosen) != TL_OK) {
        chosen = ops; /* a link the model cannot use: all on the device */
    }
    cut->known = 1;
    cut->ops = ops;
    cut->ops_on_device = chosen;
    cut->bytes = chosen == ops ? 0 : cuts[chosen].bytes;
    cut->device_s = cuts[chosen].device_s;
    cut->edge_s = cuts[chosen].edge_s;
    free(cuts);
    return cut;
}

/* The cut's first operators on the device; then its activations go up. */
void sim_start_split(sim_world *w, sim_device *d, const sim_cut *cut, uint64_t now)
{
    sim_add_energy(w, d->cls, sim_compute_energy_j(w, d->cls, cut->device_s));
    /* The cut is kept as chosen: the uplink may be busier when the head is done. */
    d->op_cut_bytes = cut->bytes;
    d->op_edge_s = (float)cut->edge_s;
    d->op_split = 1;
    d->stage = SPLIT_HEAD;
    sim_set_timer(w, d, now + to_ns(cut->device_s));
}

void sim_send_cut(sim_world *w, sim_device *d, uint64_t now)
{
    const uint32_t bytes = d->op_cut_bytes + 100; /* the activations and the request's own bytes */
    sim_add_energy(w, d->cls, w->config->classes[d->cls].wake_s * w->config->classes[d->cls].rx_watts);
    sim_cell *cell = &w->cells[d->cell];
    const double work = sim_transfer_work(w, d, d->sinr_ul, cell->up.n + 1, w->radio.bandwidth_ul_hz, bytes, 1);
    d->stage = UPLOADING;
    d->op_mark_ns = now;
    w->results->classes[d->cls].bytes_up += bytes;
    w->results->air_bytes_up += bytes;
    w->results->split_bytes_up += bytes;
    sim_link_add(w, &cell->up, KIND_UPLINK, d->cell, now, work, d->id, 1);
}
