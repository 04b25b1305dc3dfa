/* planner.c - in-situ model selection: which variant a device downloads now.
 *
 * Cost model (docs/planner.md):
 *   rate      = efficiency * bandwidth * log2(1 + SNR)   (or a measured rate)
 *   download  = bytes * 8 / rate + ceil(bytes / block) * rtt
 *   inference = MACs / MAC rate, or measured M4 instructions / instruction
 *               rate when the device gives one and every variant was measured
 *   energy    = inference * MAC rate * joules per MAC   (= MACs * J/MAC)
 * A variant fits when its bytes fit the flash slot, its arena the RAM, its
 * download + first inference the deadline and its energy the budget. The
 * most accurate fitting variant wins; ties go to fewer bytes, then the
 * faster inference. When none fits, the reason names the constraint that excluded the
 * variants that passed every earlier check.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/planner.h"

double tl_channel_rate(const tl_channel *c)
{
    if (c->measured_bps > 0) {
        return c->measured_bps;
    }
    const double efficiency = c->efficiency > 0 ? c->efficiency : 0.5;
    return efficiency * c->bandwidth_hz * log2(1.0 + pow(10.0, c->snr_db / 10.0));
}

double tl_download_seconds(const tl_channel *c, uint64_t bytes)
{
    const double rate = tl_channel_rate(c);
    if (!(rate > 0)) {
        return INFINITY;
    }
    const uint32_t block = c->block_bytes ? c->block_bytes : 1024;
    const uint64_t blocks = (bytes + block - 1) / block;
    return (double)bytes * 8.0 / rate + (double)blocks * c->rtt_s;
}

/* Whether a densifying device installs this variant's dense form: the
 * device's own rule (dense when it has packed filters and fits the flash). */
static int runs_dense(const tl_variant *v, const tl_device_profile *d)
{
    return d->densify && v->dense_bytes > 0 && v->dense_bytes <= d->flash_bytes;
}

/* M4 instructions of one inference as the device will run the variant. */
static int64_t instructions(const tl_variant *v, const tl_device_profile *d)
{
    return runs_dense(v, d) ? v->dense_m4_instructions : v->m4_instructions;
}

tl_status tl_plan_choose(const tl_variant *v, int count, const tl_device_profile *d, const tl_channel *c,
                         double deadline_s, tl_plan *plan)
{
    if (!plan) {
        return TL_ERR_ARG;
    }
    memset(plan, 0, sizeof *plan);
    plan->index = -1;
    plan->then_index = -1;
    if (!v || count < 0 || !d || !c) {
        return TL_ERR_ARG;
    }
    if (count == 0) {
        snprintf(plan->reason, sizeof plan->reason, "the catalogue is empty");
        return TL_ERR_UNSUPPORTED;
    }
    /* MACs say little about a sparse kernel's time (fewer MACs, more
     * instructions per MAC) or an int4 one's (the same MACs, unpacking):
     * where every variant was measured, its instructions time it. Energy
     * follows time: a microcontroller draws about the same power whatever
     * it runs, and MAC rate * J/MAC is that power. */
    plan->by_instructions = d->instructions_per_second > 0;
    for (int i = 0; i < count; ++i) {
        plan->by_instructions &= instructions(&v[i], d) > 0 && v[i].m4_instructions > 0;
    }
    /* How far each variant got through the checks, for the reason. */
    enum { FLASH, RAM, DEADLINE, ENERGY, FITS };
    int furthest = FLASH;
    uint64_t smallest = UINT64_MAX, smallest_arena = UINT64_MAX;
    double fastest = INFINITY, least_energy = INFINITY;
    /* Candidates: every variant whole (2i), and as its prefix (2i + 1) when
     * the whole variant fits everything but the deadline: a prefix is a way
     * to meet a deadline, never a reason to prefer a transient model. */
    int whole_stage = FLASH;
    for (int candidate = 0; candidate < 2 * count; ++candidate) {
        const int i = candidate / 2, prefix = candidate % 2;
        if (prefix && (v[i].prefix_planes == 0 || v[i].prefix_bytes == 0 || whole_stage != DEADLINE)) {
            continue;
        }
        const double download = tl_download_seconds(c, prefix ? v[i].prefix_bytes : v[i].bytes);
        const float accuracy = prefix ? v[i].prefix_accuracy : v[i].accuracy;
        /* A prefix runs as the stream decodes it: packed, never made dense. */
        const int dense = !prefix && runs_dense(&v[i], d);
        const double inference = plan->by_instructions
                                     ? (double)(prefix ? v[i].m4_instructions : instructions(&v[i], d)) /
                                           d->instructions_per_second
                                 : d->macs_per_second > 0 ? (double)v[i].macs / d->macs_per_second
                                                          : INFINITY;
        const double energy = plan->by_instructions ? inference * d->macs_per_second * d->joules_per_mac
                                                    : (double)v[i].macs * d->joules_per_mac;
        int stage = FLASH;
        if (v[i].bytes <= d->flash_bytes) {
            stage = RAM;
            if (v[i].arena <= d->ram_bytes) {
                stage = DEADLINE;
                if (deadline_s <= 0 || download + inference <= deadline_s) {
                    stage = ENERGY;
                    if (d->energy_budget_j <= 0 || energy <= d->energy_budget_j) {
                        stage = FITS;
                    }
                }
            }
        }
        if (!prefix) {
            whole_stage = stage;
        }
        smallest = v[i].bytes < smallest ? v[i].bytes : smallest;
        if (stage >= RAM && v[i].arena < smallest_arena) {
            smallest_arena = v[i].arena;
        }
        if (stage >= DEADLINE && download + inference < fastest) {
            fastest = download + inference;
        }
        if (stage >= ENERGY && energy < least_energy) {
            least_energy = energy;
        }
        furthest = stage > furthest ? stage : furthest;
        if (stage != FITS) {
            continue;
        }
        const tl_variant *best = plan->index >= 0 ? &v[plan->index] : NULL;
        const float best_accuracy = !best ? 0 : plan->prefix_planes ? best->prefix_accuracy : best->accuracy;
        /* Ties: fewer bytes, then the faster inference, then the whole model (seen first). */
        if (!best || accuracy > best_accuracy ||
            (accuracy == best_accuracy &&
             (v[i].bytes < best->bytes || (v[i].bytes == best->bytes && inference < plan->inference_s)))) {
            plan->index = i;
            plan->prefix_planes = prefix ? (int)v[i].prefix_planes : 0;
            plan->download_s = download;
            plan->inference_s = inference;
            plan->energy_j = energy;
            plan->dense_bytes = dense ? v[i].dense_bytes : 0;
        }
    }
    const char *timed_by = plan->by_instructions ? " (M4 instructions)" : "";
    if (plan->index >= 0) {
        const tl_variant *b = &v[plan->index];
        if (plan->prefix_planes) {
            snprintf(plan->reason, sizeof plan->reason,
                     "%s, progressive, first %d of 8 planes: accuracy %.4f (%.4f when complete), %llu of %llu bytes,"
                     " download %.3f s + inference %.3f s%s, %.3g J", b->name, plan->prefix_planes,
                     (double)b->prefix_accuracy, (double)b->accuracy, (unsigned long long)b->prefix_bytes,
                     (unsigned long long)b->bytes, plan->download_s, plan->inference_s, timed_by, plan->energy_j);
        } else {
            char dense[48] = "";
            if (plan->dense_bytes) {
                snprintf(dense, sizeof dense, " (%llu made dense)", (unsigned long long)plan->dense_bytes);
            }
            snprintf(plan->reason, sizeof plan->reason,
                     "%s: accuracy %.4f, %llu bytes%s, download %.3f s + inference %.3f s%s, %.3g J", b->name,
                     (double)b->accuracy, (unsigned long long)b->bytes, dense, plan->download_s, plan->inference_s,
                     timed_by, plan->energy_j);
            /* The deadline cost accuracy: the best without it follows. (A
             * prefix needs no follower: the rest of its stream is that.) */
            tl_plan unhurried;
            if (deadline_s > 0 && tl_plan_choose(v, count, d, c, 0, &unhurried) == TL_OK &&
                v[unhurried.index].accuracy > b->accuracy) {
                plan->then_index = unhurried.index;
                const size_t used = strlen(plan->reason);
                snprintf(plan->reason + used, sizeof plan->reason - used, "; then %s (accuracy %.4f)",
                         v[unhurried.index].name, (double)v[unhurried.index].accuracy);
            }
        }
        return TL_OK;
    }
    switch (furthest) {
    case FLASH:
        snprintf(plan->reason, sizeof plan->reason, "no variant fits %llu bytes of flash (smallest: %llu bytes)",
                 (unsigned long long)d->flash_bytes, (unsigned long long)smallest);
        break;
    case RAM:
        snprintf(plan->reason, sizeof plan->reason,
                 "no variant that fits the flash fits %llu bytes of RAM (smallest arena: %llu bytes)",
                 (unsigned long long)d->ram_bytes, (unsigned long long)smallest_arena);
        break;
    case DEADLINE:
        snprintf(plan->reason, sizeof plan->reason,
                 "no variant that fits in memory meets the %.3f s deadline at %.0f bit/s (fastest: %.3f s%s)",
                 deadline_s, tl_channel_rate(c), fastest, timed_by);
        break;
    default:
        snprintf(plan->reason, sizeof plan->reason,
                 "no variant that meets the deadline fits the %.3g J energy budget (least: %.3g J)", d->energy_budget_j,
                 least_energy);
        break;
    }
    return TL_ERR_UNSUPPORTED;
}
