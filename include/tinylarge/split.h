/* split.h - where to cut a model between device and edge (src/edge/split.c),
 * in the style of Neurosurgeon (Kang et al. 2017): for each cut (the first
 * k operators on the device, the rest on the edge), the device's time from
 * its operators' measured Cortex-M4 instructions at its instruction rate,
 * the bytes that cross the cut (every activation made before it and used
 * after it), their time on the uplink plus the round trip, the edge's time
 * for the rest (measured), and the device's energy (instructions and bits
 * sent). The cut with the least latency, or the least device energy, is
 * chosen. */
#ifndef TINYLARGE_SPLIT_H
#define TINYLARGE_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/device.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_split_link {
    double rate_bps;            /* uplink */
    double rtt_s;               /* round trip to the edge */
    double ips;                 /* the device's instructions per second */
    double joules_per_instruction;
    double joules_per_bit;      /* the device's radio, sending */
    uint32_t overhead_bytes;    /* a request's own bytes beside the cut's (IP, UDP, CoAP,
                                 * its query): on a slow link they cost as much as a small cut */
} tl_split_link;

/* The defaults' energy: a Cortex-M4 class MCU at about 0.3 nJ an
 * instruction, a low-power cellular radio at about 100 nJ a bit sent (both
 * assumptions to replace with the device's own; docs/collaborative.md). */
#define TL_SPLIT_JOULES_PER_INSTRUCTION 0.3e-9
#define TL_SPLIT_JOULES_PER_BIT 100e-9

typedef struct tl_split_cut {
    uint32_t ops_on_device;     /* k: 0 = all on the edge, op_count = all on the device */
    uint64_t device_instructions;
    uint32_t bytes;             /* crossing the cut (0 when all runs on the device) */
    double device_s, uplink_s, edge_s, total_s;
    double energy_j;            /* the device's */
} tl_split_cut;

/* Without a measurement (no QEMU): an operator's Cortex-M4 instructions
 * from its MACs at the student's measured ratio (12.56 M instructions for
 * its 7.62 M MACs on src/device/kernels' DSP path) plus a fixed cost an
 * operator. A device's MAC rate times this ratio is its instruction rate. */
#define TL_M4_INSTRUCTIONS_PER_MAC 1.65
#define TL_M4_INSTRUCTIONS_PER_OPERATOR 500u
uint64_t tl_split_estimated_instructions(const tl_model *model, uint32_t op);

/* What the chosen cut minimises: the answer's latency, or the device's
 * energy (a battery device that can wait; ties go to the faster cut). */
typedef enum tl_split_objective {
    TL_SPLIT_LATENCY = 0,
    TL_SPLIT_ENERGY = 1
} tl_split_objective;

/* cuts[op_count + 1], one per k. op_instructions[op]: the device's per
 * operator; edge_seconds[op]: the edge's. *chosen: the k of least total
 * latency or energy (latency ties: fewer bytes). */
tl_status tl_split_costs(const tl_model *model, const uint64_t *op_instructions, const double *edge_seconds,
                         const tl_split_link *link, tl_split_objective objective, tl_split_cut *cuts,
                         uint32_t *chosen);

/* Layer-pipelined download (tl_pipeline, device.h): the model's bytes come
 * in blocks, block k ending at byte block_end[k], at link->rate_bps after
 * link->rtt_s (the request's round trip); work[k] is the device's
 * instructions that block's arrival allows (hash it, run the operators
 * whose bytes are then in; at the last, verify the file and run the rest),
 * done in order at link->ips. */
typedef struct tl_pipeline_times {
    double download_s;          /* the last byte in */
    double compute_s;           /* all the work, back to back */
    double sequential_s;        /* download, then all the work */
    double pipelined_s;         /* the answer, the work done as the bytes come */
} tl_pipeline_times;

tl_status tl_pipeline_schedule(const uint32_t *block_end, const uint64_t *work, uint32_t blocks,
                               const tl_split_link *link, tl_pipeline_times *times);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_SPLIT_H */
