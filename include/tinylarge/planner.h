/* planner.h - the in-situ planner: which variant of a model's catalogue a device
 * should download now. The planner picks the most accurate variant that
 * fits the device's flash and RAM, whose download plus first inference
 * meet the deadline over the current radio channel, and whose inference
 * fits the energy budget (docs/planner.md documents the cost model). */
#ifndef TINYLARGE_PLANNER_H
#define TINYLARGE_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/catalogue.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_device_profile {
    uint64_t flash_bytes;       /* room for the model (one slot) */
    uint64_t ram_bytes;         /* room for the arena */
    double macs_per_second;     /* sustained int8 MAC rate */
    double joules_per_mac;      /* energy per MAC (0: not limited) */
    double energy_budget_j;     /* energy allowed per inference (0: not limited) */
    /* > 0: instructions per second (a Cortex-M4 at f Hz: about f). When
     * every variant of the catalogue has measured m4_instructions, they time
     * the inference instead of its MACs: a sparse or int4 kernel does fewer
     * or the same MACs in more instructions. */
    double instructions_per_second;
    /* The device makes packed variants dense when the dense form fits its
     * flash (`tinylarge device --densify`): those run as dense int8. */
    int densify;
} tl_device_profile;

typedef struct tl_channel {
    double bandwidth_hz;        /* with snr_db: rate = efficiency * B * log2(1 + SNR) */
    double snr_db;
    double efficiency;          /* share of the Shannon rate achieved (default 0.5) */
    double measured_bps;        /* > 0: a measured rate, used instead */
    double rtt_s;               /* round trip per block */
    uint32_t block_bytes;       /* CoAP block size (RFC 7959), default 1024 */
} tl_channel;

/* Achievable bits per second of a channel. */
double tl_channel_rate(const tl_channel *channel);

/* Seconds to download `bytes` (payload time + one round trip per block). */
double tl_download_seconds(const tl_channel *channel, uint64_t bytes);

typedef struct tl_plan {
    int index;                  /* chosen variant, or -1 */
    int prefix_planes;          /* > 0: run this progressive prefix first (the deadline is met by it) */
    int then_index;             /* >= 0: the deadline is met by a less accurate variant; this one,
                                   the best without the deadline, follows once that one runs (-1: none) */
    double download_s, inference_s, energy_j;
    int by_instructions;        /* inference timed by measured M4 instructions, not MACs */
    uint64_t dense_bytes;       /* > 0: the device will install the dense form, this big */
    char reason[256];           /* why this one, or why none fits */
} tl_plan;

/* Chooses the variant of highest accuracy that fits flash, RAM, deadline
 * (download + first inference, seconds; 0: none) and energy; ties go to
 * fewer bytes, then the faster inference. Inference takes MACs / MAC rate,
 * or instructions / instruction rate (see tl_device_profile); energy is that
 * time at the device's power, MAC rate * joules per MAC. A variant with a progressive prefix is also
 * a candidate as that prefix (first inference after prefix_bytes, at
 * prefix_accuracy): it wins only where the whole variant would miss the
 * deadline. Where the deadline made it take a whole variant less accurate
 * than the best without one, then_index names that best: a device with
 * no model runs the small one first and fetches the better one after (a
 * small sibling first). TL_ERR_UNSUPPORTED when none fits, with the constraint that
 * excluded the last candidates named in plan->reason. */
tl_status tl_plan_choose(const tl_variant *variants, int count, const tl_device_profile *device,
                         const tl_channel *channel, double deadline_s, tl_plan *plan);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_PLANNER_H */
