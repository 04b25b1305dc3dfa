/* split.c - the cost of each cut between device and edge (split.h). */
#include "tinylarge/split.h"

uint64_t tl_split_estimated_instructions(const tl_model *m, uint32_t op)
{
    return (uint64_t)((double)tl_op_macs(m, op) * TL_M4_INSTRUCTIONS_PER_MAC + 0.5) + TL_M4_INSTRUCTIONS_PER_OPERATOR;
}

tl_status tl_split_costs(const tl_model *m, const uint64_t *op_instructions, const double *edge_seconds,
                         const tl_split_link *link, tl_split_objective objective, tl_split_cut *cuts,
                         uint32_t *chosen)
{
    if ((objective != TL_SPLIT_LATENCY && objective != TL_SPLIT_ENERGY) || !(link->rate_bps > 0.0) ||
        !(link->ips > 0.0) || !(link->rtt_s >= 0.0)) {
        return TL_ERR_ARG;
    }
    const uint32_t ops = m->header->op_count;
    double edge_after = 0.0;
    for (uint32_t op = 0; op < ops; ++op) {
        edge_after += edge_seconds[op];
    }
    uint64_t instructions = 0;
    *chosen = ops;
    for (uint32_t k = 0; k <= ops; ++k) {
        tl_split_cut *c = &cuts[k];
        c->ops_on_device = k;
        c->device_instructions = instructions;
        c->bytes = tl_model_cut_bytes(m, k);
        c->device_s = (double)instructions / link->ips;
        const double sent = k < ops ? (double)c->bytes + link->overhead_bytes : 0.0;
        c->uplink_s = k < ops ? sent * 8.0 / link->rate_bps + link->rtt_s : 0.0;
        c->edge_s = edge_after;
        c->total_s = c->device_s + c->uplink_s + c->edge_s;
        c->energy_j = (double)instructions * link->joules_per_instruction + sent * 8.0 * link->joules_per_bit;
        if (k < ops) {
            instructions += op_instructions[k];
            edge_after -= edge_seconds[k];
            edge_after = edge_after < 0.0 ? 0.0 : edge_after; /* rounding */
        }
    }
    for (uint32_t k = 0; k <= ops; ++k) {
        const tl_split_cut *best = &cuts[*chosen], *c = &cuts[k];
        const int faster = c->total_s < best->total_s || (c->total_s == best->total_s && c->bytes < best->bytes);
        if (objective == TL_SPLIT_ENERGY ? c->energy_j < best->energy_j || (c->energy_j == best->energy_j && faster)
                                         : faster) {
            *chosen = k;
        }
    }
    return TL_OK;
}

tl_status tl_pipeline_schedule(const uint32_t *block_end, const uint64_t *work, uint32_t blocks,
                               const tl_split_link *link, tl_pipeline_times *times)
{
    if (!block_end || !work || !times || blocks == 0 || !(link->rate_bps > 0.0) || !(link->ips > 0.0) ||
        !(link->rtt_s >= 0.0)) {
        return TL_ERR_ARG;
    }
    double done = 0.0, compute = 0.0, arrival = 0.0;
    for (uint32_t k = 0; k < blocks; ++k) {
        arrival = link->rtt_s + (double)block_end[k] * 8.0 / link->rate_bps;
        const double t = (double)work[k] / link->ips;
        done = (done > arrival ? done : arrival) + t; /* waits for the block, or for the work before it */
        compute += t;
    }
    times->download_s = arrival;
    times->compute_s = compute;
    times->sequential_s = arrival + compute;
    times->pipelined_s = done;
    return TL_OK;
}
