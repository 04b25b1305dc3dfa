/* kernels.c - firmware that holds the Cortex-M4 convolution kernels to a
 * plain reference on shapes the MLPerf models never have. The DSP paths
 * (two pixels by two channels over a widened window, one pixel by four
 * channels, gathered or in-place windows, the depthwise pixel routine) each
 * pick their cases by shape, so random shapes reach every branch: odd pixel
 * and channel counts, windows that are not whole words, windows over the
 * two-pixel limit, padding with zero and non-zero zero points, strides,
 * dilation, a fused residual ADD. The reference is TFLite's arithmetic
 * written out directly: the raw bias, each valid tap's (x - zero point) * w,
 * then the same requantisation; and the DSP requantisation itself against
 * TFLite's on 20,000 values. Prints "kernel cases: N passed, M failed".
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "kernels/dot.h"
#include "kernels/kernels.h"

#define MAX_IN (9 * 9 * 24)
#define MAX_OUT (9 * 9 * 24)
#define MAX_FILTER (24 * 5 * 5 * 24)
#define MAX_C 24

typedef struct rng {
    uint32_t state;
} rng;

static uint32_t next(rng *r)
{
    r->state = r->state * 1664525u + 1013904223u;
    return r->state >> 8;
}

/* A value in [lo, hi]. */
static int32_t pick(rng *r, int32_t lo, int32_t hi)
{
    return lo + (int32_t)(next(r) % (uint32_t)(hi - lo + 1));
}

static int8_t input[MAX_IN], filter[MAX_FILTER], residual[MAX_OUT];
static int8_t got[MAX_OUT], want[MAX_OUT];
static int32_t raw_bias[MAX_C], bias[MAX_C], multiplier[MAX_C], shift[MAX_C];

static int32_t out_size(int32_t in, int32_t k, int32_t stride, int32_t dilation, int32_t pad)
{
    const int32_t span = (k - 1) * dilation + 1;
    return (in + 2 * pad - span) / stride + 1;
}

/* TFLite's CONV_2D / DEPTHWISE_CONV_2D for one output value. */
static int8_t reference(const tl_conv_params *p, int depthwise, int32_t b, int32_t oy, int32_t ox,
                        int32_t oc, const tl_residual_add *add)
{
    int32_t acc = raw_bias[oc];
    const int32_t ic0 = depthwise ? oc / p->depth_multiplier : 0;
    const int32_t channels = depthwise ? 1 : p->in_c;
    for (int32_t ky = 0; ky < p->k_h; ++ky) {
        for (int32_t kx = 0; kx < p->k_w; ++kx) {
            const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                continue;
            }
            for (int32_t c = 0; c < channels; ++c) {
                const int32_t x = input[((b * p->in_h + iy) * p->in_w + ix) * p->in_c + ic0 + c];
                const int32_t w = depthwise ? filter[(ky * p->k_w + kx) * p->out_c + oc]
                                            : filter[((oc * p->k_h + ky) * p->k_w + kx) * p->in_c + c];
                acc += (x + p->input_offset) * w;
            }
        }
    }
    const int32_t v = tl_requantize(acc, multiplier[oc], shift[oc]) + p->output_offset;
    int8_t q = tl_clamp_s8(v, p->act_min, p->act_max);
    if (add) {
        const int8_t r = residual[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc];
        q = add->conv_is_input1 ? tl_add_element(q, r, add) : tl_add_element(r, q, add);
    }
    return q;
}

/* One random case; returns 1 when the kernel's output equals the reference. */
static int run_case(rng *r, int depthwise)
{
    tl_conv_params p;
    memset(&p, 0, sizeof p);
    p.batches = pick(r, 1, 2);
    p.in_c = pick(r, 1, depthwise ? 12 : 24);
    p.depth_multiplier = depthwise ? pick(r, 1, 2) : 1;
    p.out_c = depthwise ? p.in_c * p.depth_multiplier : pick(r, 1, MAX_C);
    if (p.out_c > MAX_C) {
        p.out_c = MAX_C;
        p.in_c = MAX_C / p.depth_multiplier;
    }
    p.k_h = pick(r, 1, 5);
    p.k_w = pick(r, 1, 5);
    p.stride_h = pick(r, 1, 2);
    p.stride_w = pick(r, 1, 2);
    p.dilation_h = pick(r, 0, 3) == 0 ? 2 : 1;
    p.dilation_w = pick(r, 0, 5) == 0 ? 2 : 1;
    p.in_h = pick(r, 1, 9);
    p.in_w = pick(r, 1, 9);
    p.pad_top = pick(r, 0, p.k_h / 2 + 1);
    p.pad_left = pick(r, 0, p.k_w / 2 + 1);
    p.out_h = out_size(p.in_h, p.k_h, p.stride_h, p.dilation_h, p.pad_top);
    p.out_w = out_size(p.in_w, p.k_w, p.stride_w, p.dilation_w, p.pad_left);
    if (p.out_h < 1 || p.out_w < 1 || p.batches * p.in_h * p.in_w * p.in_c > MAX_IN ||
        p.batches * p.out_h * p.out_w * p.out_c > MAX_OUT) {
        return -1; /* not a shape: drawn again */
    }
    p.out_stride = p.out_c;
    p.input_offset = pick(r, 0, 2) == 0 ? 0 : pick(r, -127, 128);
    p.output_offset = pick(r, -128, 127);
    p.act_min = pick(r, 0, 1) ? -128 : p.output_offset;
    p.act_max = 127;
    const int32_t in_count = p.batches * p.in_h * p.in_w * p.in_c;
    for (int32_t i = 0; i < in_count; ++i) {
        input[i] = (int8_t)pick(r, -128, 127);
    }
    const int32_t taps = p.k_h * p.k_w;
    const int32_t filter_count = depthwise ? taps * p.out_c : p.out_c * taps * p.in_c;
    for (int32_t i = 0; i < filter_count; ++i) {
        filter[i] = (int8_t)pick(r, -127, 127);
    }
    /* One case in eight: accumulators beyond 2^30 and shifts of -1 to 1,
     * which the fast requantisation leaves to the general one. */
    const int wide = pick(r, 0, 7) == 0;
    for (int32_t oc = 0; oc < p.out_c; ++oc) {
        const int32_t large = (1 << 30) + (int32_t)(next(r) % (1u << 29)) * (next(r) % 2 ? 1 : -1);
        raw_bias[oc] = wide ? (next(r) % 2 ? large : -large) : pick(r, -40000, 40000);
        multiplier[oc] = pick(r, 1 << 30, 0x7FFFFFFF);
        shift[oc] = wide ? pick(r, -1, 1) : -pick(r, 7, 14);
        /* The effective bias the converter stores: bias - in_zp * sum(w). */
        int32_t sum = 0;
        for (int32_t t = 0; t < taps; ++t) {
            for (int32_t c = 0; c < (depthwise ? 1 : p.in_c); ++c) {
                sum += depthwise ? filter[t * p.out_c + oc] : filter[(oc * taps + t) * p.in_c + c];
            }
        }
        bias[oc] = raw_bias[oc] + p.input_offset * sum;
    }
    const int32_t out_count = p.batches * p.out_h * p.out_w * p.out_c;
    tl_residual_add add = { pick(r, 0, 1), pick(r, -128, 127), pick(r, -128, 127), pick(r, -128, 127), 20,
                            pick(r, 1 << 30, 0x7FFFFFFF), -1, pick(r, 1 << 30, 0x7FFFFFFF), -1,
                            pick(r, 1 << 30, 0x7FFFFFFF), -19, -128, 127 };
    const int fused = !depthwise && pick(r, 0, 3) == 0;
    for (int32_t i = 0; i < out_count; ++i) {
        residual[i] = (int8_t)pick(r, -128, 127);
    }
    p.input = input;
    p.output = got;
    p.filter = filter;
    p.bias = bias;
    p.multiplier = multiplier;
    p.shift = shift;
    p.residual = fused ? residual : NULL;
    p.residual_add = fused ? &add : NULL;
    if (depthwise) {
        tl_depthwise_conv2d_s8(&p);
    } else {
        tl_conv2d_s8(&p);
    }
    int ok = 1;
    for (int32_t b = 0, i = 0; b < p.batches; ++b) {
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            for (int32_t ox = 0; ox < p.out_w; ++ox) {
                for (int32_t oc = 0; oc < p.out_c; ++oc, ++i) {
                    want[i] = reference(&p, depthwise, b, oy, ox, oc, fused ? &add : NULL);
                    ok &= want[i] == got[i];
                }
            }
        }
    }
    if (!ok) {
        board_write(depthwise ? "FAIL depthwise" : "FAIL conv");
        const int32_t shape[] = { p.batches, p.in_h, p.in_w, p.in_c, p.out_c, p.k_h, p.k_w, p.stride_h,
                                  p.stride_w, p.dilation_h, p.dilation_w, p.pad_top, p.pad_left,
                                  p.input_offset, fused };
        for (uint32_t i = 0; i < sizeof shape / sizeof shape[0]; ++i) {
            board_write(" ");
            board_write_i32(shape[i]);
        }
        board_write("\n");
    }
    return ok;
}

/* The DSP requantisation against TFLite's arithmetic (fixedpoint.h) on
 * accumulators around its 2^30 bound, ties of the rounding shift, and
 * every shift; returns how many of `count` differ. */
static uint32_t requantize_mismatches(rng *r, uint32_t count)
{
    uint32_t bad = 0;
    for (uint32_t i = 0; i < count; ++i) {
        const int32_t shift = -(int32_t)(next(r) % 32) + (i % 7 == 0 ? (int32_t)(next(r) % 3) : 0);
        const int32_t multiplier = (int32_t)(0x40000000u + next(r) % 0x40000000u);
        int32_t acc = (int32_t)((next(r) << 8) ^ next(r));
        if (i % 4 == 1) {
            acc = (int32_t)(0x40000000u - 8u + next(r) % 16u) * (i % 8 == 1 ? -1 : 1); /* at the bound */
        } else if (i % 4 == 2) {
            acc >>= next(r) % 31; /* small values, where ties happen */
        }
        bad += tl_requantize_dsp(acc, multiplier, shift) != tl_requantize(acc, multiplier, shift);
    }
    return bad;
}

int main(void)
{
    rng r = { 20261207u };
    uint32_t passed = 0, failed = 0;
    for (int depthwise = 0; depthwise <= 1; ++depthwise) {
        for (int n = 0; n < 300;) {
            const int ok = run_case(&r, depthwise);
            if (ok >= 0) {
                ++n;
                ok ? ++passed : ++failed;
            }
        }
    }
    const uint32_t requantized = 20000, wrong = requantize_mismatches(&r, requantized);
    wrong ? ++failed : ++passed;
    board_write("requantisation: ");
    board_write_u32(requantized - wrong);
    board_write(" of ");
    board_write_u32(requantized);
    board_write(" as TFLite's\n");
    board_write("kernel cases: ");
    board_write_u32(passed);
    board_write(" passed, ");
    board_write_u32(failed);
    board_write(" failed\n");
    board_exit(failed == 0);
    return 0;
}
