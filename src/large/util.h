/* util.h - small helpers shared inside src/large (not public API). */
#ifndef TL_LARGE_UTIL_H
#define TL_LARGE_UTIL_H

#include <stddef.h>

#include "tinylarge/status.h"

/* Output pixels per im2col chunk of a convolution with `k` = KH*KW*C
 * columns, over `total` output pixels of the batch, for a column buffer of
 * `budget` floats (0: TL_IM2COL_FLOATS). The default keeps the column buffer
 * and its gradient in a core's L2 cache while the GEMMs read and write them
 * (1 MiB each; measured: with 16 MiB chunks the student trained at 650
 * images/s instead of 900). */
#define TL_IM2COL_FLOATS ((size_t)1 << 18)
static inline size_t tl_conv_chunk(size_t budget, size_t k, size_t total)
{
    size_t rows = (budget ? budget : TL_IM2COL_FLOATS) / (k ? k : 1);
    rows = rows < 1 ? 1 : rows;
    return rows < total ? rows : total;
}

#endif /* TL_LARGE_UTIL_H */
