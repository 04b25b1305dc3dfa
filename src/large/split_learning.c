/* split_learning.c - what crosses a split-learning cut (large.h): the
 * device's half sends the cut's activations, the edge's half returns their
 * gradients; both as int8 with a float scale a sample (symmetric, rounded
 * to nearest) or as float32, counted. The training itself is the engine's:
 * tl_net_set_cut makes every pass go through here at the cut. */
#include <math.h>

#include "tinylarge/large.h"

void tl_cut_exchange(void *ctx, float *values, int count, size_t per_sample, int backward)
{
    tl_cut_link *link = ctx;
    const size_t bytes = link->bits == 8 ? per_sample + 4 : 4 * per_sample;
    if (backward) {
        link->bytes_down += (double)bytes * count;
    } else {
        link->bytes_up += (double)bytes * count;
        link->samples += count;
    }
    if (link->bits != 8) {
        return; /* float32: sent as it is */
    }
    for (int b = 0; b < count; ++b) {
        float *v = values + (size_t)b * per_sample;
        float top = 0.0f;
        for (size_t i = 0; i < per_sample; ++i) {
            top = fabsf(v[i]) > top ? fabsf(v[i]) : top;
        }
        const float scale = top / 127.0f;
        for (size_t i = 0; i < per_sample && scale > 0.0f; ++i) {
            v[i] = nearbyintf(v[i] / scale) * scale; /* what the other side decodes */
        }
    }
}
