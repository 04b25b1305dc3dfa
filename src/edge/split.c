/* split.c - the cost of each cut between device and edge (split.h). */
#include "tinylarge/split.h"
#include "tinylarge/format.h"

uint32_t tl_split_bytes(const tl_model *m, uint32_t k)
{
    const uint32_t ops = m->header->op_count;
    if (k >= ops) {
        return 0; /* all on the device: nothing to send */
    }
    uint32_t bytes = 0;
    for (uint32_t t = 0; t < m->header->tensor_count; ++t) {
        if (m->tensors[t].data_offset != TL_NONE) {
            continue; /* a constant: both halves hold their own */
        }
        /* Made before the cut (a graph input counts as made at the start)... */
        int made = -1, is_input = 0;
        for (uint32_t i = 0; i < m->header->input_count; ++i) {
            is_input |= m->io[i] == t;
        }
        for (uint32_t op = 0; op < ops && !is_input; ++op) {
            if (m->ops[op].output == t) {
                made = (int)op;
            }
        }
        if (!is_input && (made < 0 || (uint32_t)made >= k)) {
            continue;
        }
        /* ... and read after it. */
        int used_after = 0;
        for (uint32_t op = k; op < ops && !used_after; ++op) {
            for (uint32_t j = 0; j < m->ops[op].input_count; ++j) {
                used_after |= m->ops[op].inputs[j] == t;
            }
        }
        bytes += used_after ? m->tensors[t].data_size : 0;
    }
    return bytes;
}

tl_status tl_split_costs(const tl_model *m, const uint64_t *op_instructions, const double *edge_seconds,
                         const tl_split_link *link, tl_split_cut *cuts, uint32_t *chosen)
{
    if (!(link->rate_bps > 0.0) || !(link->ips > 0.0) || !(link->rtt_s >= 0.0)) {
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
        c->bytes = tl_split_bytes(m, k);
        c->device_s = (double)instructions / link->ips;
        c->uplink_s = k < ops ? (double)c->bytes * 8.0 / link->rate_bps + link->rtt_s : 0.0;
        c->edge_s = edge_after;
        c->total_s = c->device_s + c->uplink_s + c->edge_s;
        c->energy_j = (double)instructions * link->joules_per_instruction +
                      (double)c->bytes * 8.0 * link->joules_per_bit;
        if (k < ops) {
            instructions += op_instructions[k];
            edge_after -= edge_seconds[k];
            edge_after = edge_after < 0.0 ? 0.0 : edge_after; /* rounding */
        }
    }
    for (uint32_t k = 0; k <= ops; ++k) {
        const tl_split_cut *best = &cuts[*chosen];
        if (cuts[k].total_s < best->total_s || (cuts[k].total_s == best->total_s && cuts[k].bytes < best->bytes)) {
            *chosen = k;
        }
    }
    return TL_OK;
}
