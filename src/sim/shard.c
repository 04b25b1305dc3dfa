/* shard.c - the simulator's MPI layer (sim_shard.h). Regions are dealt to
 * ranks round robin; devices that cross into another rank's region move
 * with their whole state at a handover tick, so ranks need no other
 * synchronisation: a region's events only touch that region. */
#include <stdlib.h>
#include <string.h>

#include "sim_shard.h"

#ifdef TL_HAVE_MPI
#include <mpi.h>
#endif

void tl_sim_ranks(int *rank, int *size)
{
    *rank = 0;
    *size = 1;
#ifdef TL_HAVE_MPI
    int ready = 0;
    MPI_Initialized(&ready);
    if (ready) {
        MPI_Comm_rank(MPI_COMM_WORLD, rank);
        MPI_Comm_size(MPI_COMM_WORLD, size);
    }
#endif
}

void sim_shard_init(sim_shard *shard)
{
    tl_sim_ranks(&shard->rank, &shard->size);
}

tl_status sim_shard_exchange(const sim_shard *shard, const void *items, const int *dest, size_t count,
                             size_t item_size, void **in, size_t *in_count)
{
    *in = NULL;
    *in_count = 0;
    if (shard->size == 1) {
        return TL_OK;
    }
#ifdef TL_HAVE_MPI
    const int n = shard->size;
    int *send_counts = calloc((size_t)n, sizeof *send_counts), *recv_counts = calloc((size_t)n, sizeof *recv_counts);
    int *send_offsets = calloc((size_t)n, sizeof *send_offsets), *recv_offsets = calloc((size_t)n, sizeof *recv_offsets);
    char *sorted = malloc(count * item_size + 1);
    tl_status s = TL_OK;
    if (!send_counts || !recv_counts || !send_offsets || !recv_offsets || !sorted) {
        s = TL_ERR_NOMEM;
    }
    /* Every rank takes part, even one that failed: the others would wait. */
    for (size_t i = 0; s == TL_OK && i < count; i++) {
        send_counts[dest[i]] += (int)item_size;
    }
    for (int r = 1; s == TL_OK && r < n; r++) {
        send_offsets[r] = send_offsets[r - 1] + send_counts[r - 1];
    }
    if (s == TL_OK) {
        int *fill = calloc((size_t)n, sizeof *fill);
        if (!fill) {
            s = TL_ERR_NOMEM;
        }
        for (size_t i = 0; s == TL_OK && i < count; i++) {
            memcpy(sorted + send_offsets[dest[i]] + fill[dest[i]], (const char *)items + i * item_size, item_size);
            fill[dest[i]] += (int)item_size;
        }
        free(fill);
    }
    if (s != TL_OK && send_counts) {
        memset(send_counts, 0, (size_t)n * sizeof *send_counts);
    }
    int dummy[1] = { 0 };
    MPI_Alltoall(send_counts ? send_counts : dummy, 1, MPI_INT, recv_counts ? recv_counts : dummy, 1, MPI_INT,
                 MPI_COMM_WORLD);
    size_t total = 0;
    for (int r = 0; recv_counts && r < n; r++) {
        recv_offsets[r] = (int)total;
        total += (size_t)recv_counts[r];
    }
    char *received = malloc(total + 1);
    if (!received) {
        s = TL_ERR_NOMEM;
    }
    if (send_counts && recv_counts && received && sorted) {
        MPI_Alltoallv(sorted, send_counts, send_offsets, MPI_BYTE, received, recv_counts, recv_offsets, MPI_BYTE,
                      MPI_COMM_WORLD);
    }
    free(send_counts);
    free(recv_counts);
    free(send_offsets);
    free(recv_offsets);
    free(sorted);
    if (s != TL_OK) {
        free(received);
        return s;
    }
    *in = received;
    *in_count = total / item_size;
    return TL_OK;
#else
    (void)items;
    (void)dest;
    (void)count;
    (void)item_size;
    return TL_ERR_STATE;
#endif
}

tl_status sim_shard_reduce(const sim_shard *shard, tl_sim_results *results, uint64_t *events)
{
    if (shard->size == 1) {
        return TL_OK;
    }
#ifdef TL_HAVE_MPI
    /* Every figure before `cells` is a uint64_t. */
    _Static_assert(offsetof(tl_sim_results, cells) % sizeof(uint64_t) == 0, "results: counters first");
    const int words = (int)(offsetof(tl_sim_results, cells) / sizeof(uint64_t));
    uint64_t longest = results->latency_max_us;
    MPI_Allreduce(MPI_IN_PLACE, results, words, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, results->cell_requests, results->cells, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, results->cell_met, results->cells, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, events, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    /* The latency maximum is a maximum, not a sum. */
    MPI_Allreduce(MPI_IN_PLACE, &longest, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    results->latency_max_us = longest;
    return TL_OK;
#else
    (void)results;
    (void)events;
    return TL_ERR_STATE;
#endif
}
