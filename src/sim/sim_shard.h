/* sim_shard.h - the simulator across MPI ranks: which rank this is, moving
 * devices between ranks at handover ticks, and summing the results. With
 * one process (or a build without MPI) each is a no-op. */
#ifndef TL_SIM_SHARD_H
#define TL_SIM_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/sim.h"

typedef struct sim_shard {
    int rank, size;
} sim_shard;

void sim_shard_init(sim_shard *shard);

/* Sends items[i] (item_size bytes each) to rank dest[i]; *in gets what the
 * other ranks sent here (malloc'd, caller frees), in rank order. */
tl_status sim_shard_exchange(const sim_shard *shard, const void *items, const int *dest, size_t count,
                             size_t item_size, void **in, size_t *in_count);

/* Sums the results (and the event counts) over the ranks, on every rank. */
tl_status sim_shard_reduce(const sim_shard *shard, tl_sim_results *results, uint64_t *events);

#endif /* TL_SIM_SHARD_H */
