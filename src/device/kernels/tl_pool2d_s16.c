/* tl_pool2d_s16.c - AVERAGE_POOL_2D and MAX_POOL_2D of int16 (16x8)
 * tensors, TFLite's int16 reference pooling: as the int8 kernels (taps
 * inside the image only, the average rounded half away from zero), with
 * int16 elements. The int8 kernels stay apart: they are the hot ones. */
#include "kernels.h"

static int32_t clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static void pool_s16(const tl_pool_params *p, int average)
{
    const int32_t c_count = p->channels;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = (const int16_t *)p->input + b * p->in_h * p->in_w * c_count;
        int16_t *out = (int16_t *)p->output + b * p->out_h * p->out_w * c_count;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t y_start, y_end;
            tl_valid_taps(iy0, p->k_h, 1, p->in_h, &y_start, &y_end);
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += c_count) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t x_start, x_end;
                tl_valid_taps(ix0, p->k_w, 1, p->in_w, &x_start, &x_end);
                const int32_t count = (y_end - y_start) * (x_end - x_start);
                for (int32_t c = 0; c < c_count; ++c) {
                    int32_t sum = 0, best = -32768;
                    for (int32_t fy = y_start; fy < y_end; ++fy) {
                        const int16_t *row = image + ((iy0 + fy) * p->in_w + ix0) * c_count + c;
                        for (int32_t fx = x_start; fx < x_end; ++fx) {
                            const int32_t v = row[fx * c_count];
                            sum += v;
                            best = v > best ? v : best;
                        }
                    }
                    /* count > 0: the loader rejects windows wholly in padding. */
                    const int32_t v = average ? (sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count) : best;
                    out[c] = (int16_t)clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}

void tl_avg_pool2d_s16(const tl_pool_params *p)
{
    pool_s16(p, 1);
}

void tl_max_pool2d_s16(const tl_pool_params *p)
{
    pool_s16(p, 0);
}
