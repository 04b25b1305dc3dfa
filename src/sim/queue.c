/* queue.c - the simulator's event queue and its library caches.
 *
 * The queue is a 4-ary heap of 16-byte (time, key) entries: half the depth
 * of a binary heap over a million pending events, and a node's children
 * share a cache line. Time is in integer nanoseconds and ties go by key,
 * so the order of events is total and the same on every rank. */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static inline int event_before(const sim_event *a, const sim_event *b)
{
    return a->t_ns < b->t_ns || (a->t_ns == b->t_ns && a->key < b->key);
}

tl_status sim_queue_push(sim_queue *queue, uint64_t t_ns, uint64_t key)
{
    if (queue->count == queue->capacity) {
        const size_t capacity = queue->capacity ? queue->capacity * 2 : 1024;
        sim_event *heap = realloc(queue->heap, capacity * sizeof *heap);
        if (!heap) {
            return TL_ERR_NOMEM;
        }
        queue->heap = heap;
        queue->capacity = capacity;
    }
    const sim_event e = { t_ns, key };
    size_t i = queue->count++;
    while (i > 0) {
        const size_t parent = (i - 1) / 4;
        if (!event_before(&e, &queue->heap[parent])) {
            break;
        }
        queue->heap[i] = queue->heap[parent];
        i = parent;
    }
    queue->heap[i] = e;
    return TL_OK;
}

int sim_queue_pop(sim_queue *queue, sim_event *event)
{
    if (queue->count == 0) {
        return 0;
    }
    *event = queue->heap[0];
    const sim_event last = queue->heap[--queue->count];
    const size_t n = queue->count;
    size_t i = 0;
    for (;;) {
        const size_t first = 4 * i + 1;
        if (first >= n) {
            break;
        }
        size_t best = first;
        const size_t end = first + 4 < n ? first + 4 : n;
        for (size_t c = first + 1; c < end; c++) {
            if (event_before(&queue->heap[c], &queue->heap[best])) {
                best = c;
            }
        }
        if (!event_before(&queue->heap[best], &last)) {
            break;
        }
        queue->heap[i] = queue->heap[best];
        i = best;
    }
    if (n > 0) {
        queue->heap[i] = last;
    }
    return 1;
}

void sim_queue_free(sim_queue *queue)
{
    free(queue->heap);
    memset(queue, 0, sizeof *queue);
}

/* ---- caches ----
 * A tier holds few objects (models x variants x versions), so a linear scan
 * is simpler than an index and fast enough: lookups happen per download,
 * not per inference. */

tl_status sim_cache_init(sim_cache *cache, double capacity_bytes, tl_sim_policy policy)
{
    memset(cache, 0, sizeof *cache);
    cache->capacity_bytes = capacity_bytes > 0 ? (uint64_t)capacity_bytes : 0;
    cache->policy = policy;
    return TL_OK;
}

void sim_cache_free(sim_cache *cache)
{
    free(cache->items);
    memset(cache, 0, sizeof *cache);
}

int sim_cache_lookup(sim_cache *cache, uint64_t object)
{
    cache->clock++;
    for (int i = 0; i < cache->count; i++) {
        if (cache->items[i].object == object) {
            cache->items[i].last_use = cache->clock;
            cache->items[i].uses++;
            return 1;
        }
    }
    return 0;
}

/* The item the policy gives up first. */
static int cache_victim(const sim_cache *cache)
{
    int victim = 0;
    for (int i = 1; i < cache->count; i++) {
        const sim_cache_item *a = &cache->items[i], *b = &cache->items[victim];
        int worse;
        switch (cache->policy) {
        case TL_SIM_LFU:
            worse = a->uses < b->uses || (a->uses == b->uses && a->last_use < b->last_use);
            break;
        case TL_SIM_POPULARITY:
            worse = a->popularity < b->popularity || (a->popularity == b->popularity && a->last_use < b->last_use);
            break;
        default:
            worse = a->last_use < b->last_use;
            break;
        }
        if (worse) {
            victim = i;
        }
    }
    return victim;
}

void sim_cache_offer(sim_cache *cache, uint64_t object, uint64_t bytes, double popularity)
{
    if (bytes > cache->capacity_bytes) {
        return;
    }
    /* Popularity-aware admission: a less popular object than all those it
     * would push out is not admitted (it would evict better ones). */
    if (cache->policy == TL_SIM_POPULARITY && cache->bytes + bytes > cache->capacity_bytes) {
        uint64_t freeable = cache->capacity_bytes - cache->bytes;
        for (int i = 0; i < cache->count; i++) {
            if (cache->items[i].popularity < popularity) {
                freeable += cache->items[i].bytes;
            }
        }
        if (freeable < bytes) {
            return;
        }
    }
    while (cache->bytes + bytes > cache->capacity_bytes && cache->count > 0) {
        const int v = cache_victim(cache);
        cache->bytes -= cache->items[v].bytes;
        cache->items[v] = cache->items[--cache->count];
    }
    if (cache->count == cache->capacity) {
        const int capacity = cache->capacity ? cache->capacity * 2 : 16;
        sim_cache_item *items = realloc(cache->items, (size_t)capacity * sizeof *items);
        if (!items) {
            return; /* not cached: the simulation goes on, with one miss more later */
        }
        cache->items = items;
        cache->capacity = capacity;
    }
    cache->clock++;
    cache->items[cache->count++] = (sim_cache_item){ object, bytes, cache->clock, 1, popularity };
    cache->bytes += bytes;
}
