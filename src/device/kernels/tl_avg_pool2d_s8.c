/* tl_avg_pool2d_s8.c - AVERAGE_POOL_2D, int8.
 *
 * Averages only the taps inside the image (padding is not counted) and
 * rounds half away from zero, as TFLite does. Four channels are summed
 * together, so each window tap costs one pass of the loop for four values
 * (the loop's own overhead was most of the work on the Cortex-M4); the
 * last channels of a depth not divisible by four go one at a time.
 */
#include "kernels.h"

static int8_t average(int32_t sum, int32_t count, int32_t lo, int32_t hi)
{
    /* count > 0: the loader rejects windows wholly in padding. */
    sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return tl_clamp_s8(sum, lo, hi);
}

void tl_avg_pool2d_s8(const tl_pool_params *p)
{
    const int32_t c_count = p->channels;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = (const int8_t *)p->input + b * p->in_h * p->in_w * c_count;
        int8_t *out = (int8_t *)p->output + b * p->out_h * p->out_w * c_count;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t y_start, y_end;
            tl_valid_taps(iy0, p->k_h, 1, p->in_h, &y_start, &y_end);
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += c_count) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t x_start, x_end;
                tl_valid_taps(ix0, p->k_w, 1, p->in_w, &x_start, &x_end);
                const int32_t count = (y_end - y_start) * (x_end - x_start);
                int32_t c = 0;
                for (; c + 4 <= c_count; c += 4) {
                    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    for (int32_t fy = y_start; fy < y_end; ++fy) {
                        const int8_t *tap = image + ((iy0 + fy) * p->in_w + ix0 + x_start) * c_count + c;
                        for (int32_t fx = x_start; fx < x_end; ++fx, tap += c_count) {
                            s0 += tap[0];
                            s1 += tap[1];
                            s2 += tap[2];
                            s3 += tap[3];
                        }
                    }
                    out[c] = average(s0, count, p->act_min, p->act_max);
                    out[c + 1] = average(s1, count, p->act_min, p->act_max);
                    out[c + 2] = average(s2, count, p->act_min, p->act_max);
                    out[c + 3] = average(s3, count, p->act_min, p->act_max);
                }
                for (; c < c_count; ++c) {
                    int32_t sum = 0;
                    for (int32_t fy = y_start; fy < y_end; ++fy) {
                        const int8_t *tap = image + ((iy0 + fy) * p->in_w + ix0 + x_start) * c_count + c;
                        for (int32_t fx = x_start; fx < x_end; ++fx, tap += c_count) {
                            sum += *tap;
                        }
                    }
                    out[c] = average(sum, count, p->act_min, p->act_max);
                }
            }
        }
    }
}
