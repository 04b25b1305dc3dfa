/* test_kernels.c - every int8 kernel against straightforward references.
 *
 * For each operator: random shapes (padding, stride 2, dilation, channel
 * multipliers, odd channel counts), random quantisation, and two checks: an
 * exact match with a naive integer reference written the way TFLite's
 * reference kernels compute (skip padded taps, raw bias, (x + offset) * w),
 * and agreement within one quantisation step with a float computation.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/fixedpoint.h"
#include "kernels/kernels.h"
#include "kernels/sigmoid16.h"
#include "test_util.h"
#include "tinylarge/convert.h"

enum { ITERATIONS = 300 };

static void test_requantize_matches_real_arithmetic(void **state)
{
    (void)state;
    test_rng r = { 11 };
    for (int i = 0; i < 100000; ++i) {
        const double real = exp(rng_float(&r, -12.0f, 1.0f));
        int32_t m, shift;
        tl_quantize_multiplier(real, &m, &shift);
        const int32_t acc = rng_int(&r, -(1 << 20), 1 << 20);
        const double expect = round((double)acc * real);
        const int32_t got = tl_requantize(acc, m, shift);
        assert_true(fabs(got - expect) <= 1.0);
    }
    /* The one saturating case of the doubling high multiply. */
    assert_int_equal(tl_sat_rounding_doubling_high_mul(INT32_MIN, INT32_MIN), INT32_MAX);
    assert_int_equal(tl_rounding_divide_by_pot(-5, 1), -3); /* ties away from zero */
    assert_int_equal(tl_rounding_divide_by_pot(5, 1), 3);
    assert_int_equal(tl_rounding_divide_by_pot(-4, 1), -2);
}

/* Fused activation clamps: worked values, and scales so small (or not a
 * number) that 6 / scale overflows an int give the int8 range, not
 * undefined behaviour (a fuzzed .tflite found this). */
static void test_activation_range(void **state)
{
    (void)state;
    int16_t lo, hi;
    tl_activation_range(TL_ACT_RELU6, 0.05f, -10, &lo, &hi);
    assert_true(lo == -10 && hi == 110); /* -10 + 6 / 0.05 */
    tl_activation_range(TL_ACT_RELU_N1_TO_1, 0.02f, 3, &lo, &hi);
    assert_true(lo == -47 && hi == 53);
    tl_activation_range(TL_ACT_RELU, 0.02f, 7, &lo, &hi);
    assert_true(lo == 7 && hi == 127);
    const float hostile[] = { 2.35e-38f, 1e-45f, 0.0f, NAN };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; ++i) {
        tl_activation_range(TL_ACT_RELU6, hostile[i], 5, &lo, &hi);
        assert_true(lo == 5 && (hi == 127 || isnan(hostile[i])));
        tl_activation_range(TL_ACT_RELU_N1_TO_1, hostile[i], 5, &lo, &hi);
        assert_true(lo >= -128 && hi <= 127);
    }
}

/* ---- convolution family ---- */

typedef struct conv_case {
    tl_conv_params p;
    int depthwise;
    int8_t *input, *weights, *output, *expect;
    int32_t *raw_bias, *requant, *ebias;
    float in_scale, out_scale, *w_scales;
    int32_t in_zp, out_zp;
    size_t in_size, out_size, w_count;
} conv_case;

static int32_t out_size_for(int32_t in, int32_t k, int32_t stride, int32_t dilation, int same)
{
    const int32_t eff = (k - 1) * dilation + 1;
    return same ? (in + stride - 1) / stride : (in - eff + stride) / stride;
}

static void make_conv(test_rng *r, conv_case *c, int depthwise, float zero_share)
{
    memset(c, 0, sizeof *c);
    tl_conv_params *p = &c->p;
    c->depthwise = depthwise;
    int same;
    do {
        p->batches = rng_int(r, 1, 2);
        p->in_h = rng_int(r, 1, 9);
        p->in_w = rng_int(r, 1, 9);
        /* Mostly small; every third case wide enough for the SIMD paths. */
        p->in_c = rng_int(r, 0, 2) == 0 ? rng_int(r, 14, 40) : rng_int(r, 1, 7);
        p->depth_multiplier = depthwise ? (rng_int(r, 0, 1) ? 1 : rng_int(r, 2, 3)) : 0;
        p->out_c = depthwise ? p->in_c * p->depth_multiplier : rng_int(r, 1, 9);
        p->out_stride = p->out_c;
        p->k_h = rng_int(r, 1, 3);
        p->k_w = rng_int(r, 1, 3);
        p->stride_h = rng_int(r, 1, 2);
        p->stride_w = rng_int(r, 1, 2);
        p->dilation_h = rng_int(r, 1, 2);
        p->dilation_w = rng_int(r, 1, 2);
        same = rng_int(r, 0, 1);
        p->out_h = out_size_for(p->in_h, p->k_h, p->stride_h, p->dilation_h, same);
        p->out_w = out_size_for(p->in_w, p->k_w, p->stride_w, p->dilation_w, same);
    } while (p->out_h < 1 || p->out_w < 1);
    if (same) {
        int32_t th = (p->out_h - 1) * p->stride_h + (p->k_h - 1) * p->dilation_h + 1 - p->in_h;
        int32_t tw = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dilation_w + 1 - p->in_w;
        p->pad_top = th > 0 ? th / 2 : 0;
        p->pad_left = tw > 0 ? tw / 2 : 0;
    }
    c->in_size = (size_t)p->batches * p->in_h * p->in_w * p->in_c;
    c->out_size = (size_t)p->batches * p->out_h * p->out_w * p->out_c;
    c->w_count = (size_t)p->k_h * p->k_w * p->out_c * (depthwise ? 1 : p->in_c);
    c->input = malloc(c->in_size);
    c->weights = malloc(c->w_count);
    c->output = malloc(c->out_size);
    c->expect = malloc(c->out_size);
    c->raw_bias = malloc(p->out_c * sizeof(int32_t));
    c->ebias = malloc(p->out_c * sizeof(int32_t));
    c->requant = malloc(2 * p->out_c * sizeof(int32_t));
    c->w_scales = malloc(p->out_c * sizeof(float));
    for (size_t i = 0; i < c->in_size; ++i) {
        c->input[i] = (int8_t)rng_int(r, -128, 127);
    }
    for (size_t i = 0; i < c->w_count; ++i) {
        c->weights[i] = rng_float(r, 0, 1) < zero_share ? 0 : (int8_t)rng_int(r, -127, 127);
    }
    c->in_scale = rng_float(r, 0.01f, 0.1f);
    c->in_zp = rng_int(r, -128, 127);
    c->out_zp = rng_int(r, -128, 127);
    const int32_t dot = p->k_h * p->k_w * (depthwise ? 1 : p->in_c);
    float w_mean = 0;
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        c->w_scales[oc] = rng_float(r, 0.002f, 0.02f);
        w_mean += c->w_scales[oc] / (float)p->out_c;
        c->raw_bias[oc] = rng_int(r, -20000, 20000);
    }
    /* An output scale that spreads results over the int8 range, with some
     * saturation at both ends. */
    c->out_scale = c->in_scale * w_mean * 128.0f * sqrtf((float)dot) / 40.0f;
    p->input_offset = -c->in_zp;
    p->output_offset = c->out_zp;
    const int act = rng_int(r, 0, 2);
    int16_t lo, hi;
    tl_activation_range((uint8_t)act, c->out_scale, c->out_zp, &lo, &hi);
    p->act_min = lo;
    p->act_max = hi;
    uint32_t bad;
    assert_int_equal(tl_conv_constants(depthwise ? TL_OP_DEPTHWISE_CONV_2D : TL_OP_CONV_2D, c->in_scale,
                                       c->in_zp, c->weights, c->w_count, c->w_scales, (uint32_t)p->out_c,
                                       c->raw_bias, c->out_scale, (uint32_t)p->out_c, c->requant, c->ebias,
                                       &bad),
                     TL_OK);
    p->input = c->input;
    p->output = c->output;
    p->filter = c->weights;
    p->bias = c->ebias;
    p->multiplier = c->requant;
    p->shift = c->requant + p->out_c;
}

static void free_conv(conv_case *c)
{
    free(c->input); free(c->weights); free(c->output); free(c->expect);
    free(c->raw_bias); free(c->ebias); free(c->requant); free(c->w_scales);
}

/* The naive reference: TFLite's loop structure, raw bias, skipped padding.
 * Also checks the float result, within one step, where not clamped. */
static void reference_conv(const conv_case *c)
{
    const tl_conv_params *p = &c->p;
    for (int32_t b = 0; b < p->batches; ++b)
    for (int32_t oy = 0; oy < p->out_h; ++oy)
    for (int32_t ox = 0; ox < p->out_w; ++ox)
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        int32_t acc = 0;
        double real = 0;
        for (int32_t ky = 0; ky < p->k_h; ++ky)
        for (int32_t kx = 0; kx < p->k_w; ++kx) {
            const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                continue;
            }
            const int8_t *x = c->input + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c;
            if (c->depthwise) {
                const int32_t ic = oc / p->depth_multiplier;
                const int32_t w = c->weights[(ky * p->k_w + kx) * p->out_c + oc];
                acc += (x[ic] + p->input_offset) * w;
            } else {
                for (int32_t ic = 0; ic < p->in_c; ++ic) {
                    const int32_t w = c->weights[((oc * p->k_h + ky) * p->k_w + kx) * p->in_c + ic];
                    acc += (x[ic] + p->input_offset) * w;
                }
            }
        }
        real = ((double)acc + c->raw_bias[oc]) * c->in_scale * c->w_scales[oc] / c->out_scale;
        acc += c->raw_bias[oc];
        acc = tl_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
        const size_t at = (((size_t)b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc;
        c->expect[at] = tl_clamp_s8(acc, p->act_min, p->act_max);
        double q = round(real) + c->out_zp;
        q = q < p->act_min ? p->act_min : (q > p->act_max ? p->act_max : q);
        assert_true(fabs(q - c->expect[at]) <= 1.0);
    }
}

static void test_conv2d_s8(void **state)
{
    (void)state;
    test_rng r = { 1 };
    for (int i = 0; i < ITERATIONS; ++i) {
        conv_case c;
        make_conv(&r, &c, 0, 0.0f);
        reference_conv(&c);
        tl_conv2d_s8(&c.p);
        assert_memory_equal(c.output, c.expect, c.out_size);
        free_conv(&c);
    }
}

static void test_depthwise_conv2d_s8(void **state)
{
    (void)state;
    test_rng r = { 2 };
    for (int i = 0; i < ITERATIONS; ++i) {
        conv_case c;
        make_conv(&r, &c, 1, 0.0f);
        reference_conv(&c);
        tl_depthwise_conv2d_s8(&c.p);
        assert_memory_equal(c.output, c.expect, c.out_size);
        free_conv(&c);
    }
}

static void test_conv2d_s4(void **state)
{
    (void)state;
    test_rng r = { 3 };
    for (int i = 0; i < ITERATIONS; ++i) {
        conv_case c;
        make_conv(&r, &c, 0, 0.0f);
        for (size_t k = 0; k < c.w_count; ++k) {
            c.weights[k] = (int8_t)(c.weights[k] >> 4); /* into [-8, 7] */
        }
        uint32_t bad;
        tl_conv_constants(TL_OP_CONV_2D, c.in_scale, c.in_zp, c.weights, c.w_count, c.w_scales,
                          (uint32_t)c.p.out_c, c.raw_bias, c.out_scale, (uint32_t)c.p.out_c,
                          c.requant, c.ebias, &bad);
        reference_conv(&c);
        uint8_t *packed;
        uint32_t packed_size;
        assert_int_equal(tl_pack_int4(c.weights, c.w_count, &packed, &packed_size), TL_OK);
        assert_int_equal(packed_size, (c.w_count + 1) / 2);
        c.p.filter = packed;
        tl_conv2d_s4(&c.p);
        assert_memory_equal(c.output, c.expect, c.out_size);
        free(packed);
        free_conv(&c);
    }
}

static void test_conv2d_sparse_s8(void **state)
{
    (void)state;
    test_rng r = { 4 };
    for (int i = 0; i < ITERATIONS; ++i) {
        conv_case c;
        make_conv(&r, &c, 0, 0.7f);
        reference_conv(&c);
        uint8_t *blob;
        uint32_t blob_size;
        assert_int_equal(tl_encode_sparse(c.weights, (uint32_t)c.p.out_c, (uint32_t)c.p.k_h,
                                          (uint32_t)c.p.k_w, (uint32_t)c.p.in_c, &blob, &blob_size),
                         TL_OK);
        c.p.filter = blob;
        tl_conv2d_sparse_s8(&c.p);
        assert_memory_equal(c.output, c.expect, c.out_size);
        free(blob);
        free_conv(&c);
    }
}

static void test_conv2d_bitmap_s8(void **state)
{
    (void)state;
    test_rng r = { 5 };
    const float sparsity[3] = { 0.0f, 0.5f, 0.9f };
    for (int i = 0; i < ITERATIONS; ++i) {
        conv_case c;
        make_conv(&r, &c, 0, sparsity[i % 3]);
        reference_conv(&c);
        uint8_t *blob;
        uint32_t blob_size;
        assert_int_equal(tl_encode_bitmap(c.weights, (uint32_t)c.p.out_c, (uint32_t)c.p.k_h, (uint32_t)c.p.k_w,
                                          (uint32_t)c.p.in_c, &blob, &blob_size),
                         TL_OK);
        c.p.filter = blob;
        tl_conv2d_bitmap_s8(&c.p);
        assert_memory_equal(c.output, c.expect, c.out_size);
        free(blob);
        free_conv(&c);
    }
}

static void test_bitmap_encoding_round_trips(void **state)
{
    (void)state;
    /* 2 output channels, 2 taps, 10 input channels (2 bitmap bytes a row). */
    int8_t w[2 * 2 * 10] = { 0 };
    w[0] = 5;        /* oc 0, tap 0, c 0 */
    w[9] = -3;       /* oc 0, tap 0, c 9 */
    w[10 + 8] = 7;   /* oc 0, tap 1, c 8 */
    w[30 + 1] = 127; /* oc 1, tap 1, c 1 */
    uint8_t *blob;
    uint32_t size;
    assert_int_equal(tl_encode_bitmap(w, 2, 2, 1, 10, &blob, &size), TL_OK);
    const uint32_t *words = (const uint32_t *)(void *)blob;
    assert_int_equal(words[0], 4);                  /* nnz */
    assert_int_equal(size, 4 + 4 * 3 + 2 * 2 * 2 + 4);
    assert_int_equal(words[1], 0);                  /* oc_start */
    assert_int_equal(words[2], 3);
    assert_int_equal(words[3], 4);
    const uint8_t *bits = (const uint8_t *)(words + 4);
    const uint8_t want_bits[8] = { 0x01, 0x02, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00 };
    assert_memory_equal(bits, want_bits, sizeof want_bits);
    const int8_t want_values[4] = { 5, -3, 7, 127 };
    assert_memory_equal(bits + 8, want_values, 4);
    free(blob);
    /* Smaller than dense int8 from 1/8 sparsity on; CSR needs about 3/4. */
    int8_t half[64 * 9 * 32];
    for (size_t i = 0; i < sizeof half; ++i) {
        half[i] = (int8_t)(i % 2 ? 0 : 1 + (int)(i % 100));
    }
    uint32_t csr_size;
    uint8_t *csr;
    assert_int_equal(tl_encode_bitmap(half, 64, 3, 3, 32, &blob, &size), TL_OK);
    assert_int_equal(tl_encode_sparse(half, 64, 3, 3, 32, &csr, &csr_size), TL_OK);
    assert_true(size < sizeof half * 2 / 3);  /* 50% sparse: 0.625 of dense + a little */
    assert_true(csr_size > sizeof half);      /* CSR is larger than dense here */
    free(blob);
    free(csr);
}

static void test_sparse_encoding_round_trips(void **state)
{
    (void)state;
    const int8_t w[2 * 2 * 1 * 3] = { 0, 5, 0, -3, 0, 0, 0, 0, 0, 1, 2, 127 };
    uint8_t *blob;
    uint32_t size;
    assert_int_equal(tl_encode_sparse(w, 2, 2, 1, 3, &blob, &size), TL_OK);
    const uint32_t *words = (const uint32_t *)(void *)blob;
    assert_int_equal(words[0], 5);                 /* nnz */
    assert_int_equal(size, 4 + 4 * 5 + 3 * 5);
    const uint32_t starts[5] = { 0, 1, 2, 2, 5 };  /* rows: (oc, ky) */
    assert_memory_equal(words + 1, starts, sizeof starts);
    const uint16_t *ch = (const uint16_t *)(words + 6);
    const int8_t *val = (const int8_t *)(ch + 5);
    int8_t dense[12] = { 0 };
    for (uint32_t row = 0; row < 4; ++row) {
        for (uint32_t k = starts[row]; k < starts[row + 1]; ++k) {
            dense[row * 3 + ch[k]] = val[k];
        }
    }
    assert_memory_equal(dense, w, sizeof w);
    free(blob);
    int8_t out_of_range = 8;
    uint8_t *packed;
    assert_int_equal(tl_pack_int4(&out_of_range, 1, &packed, &size), TL_ERR_QUANT);
}

/* A large positive bias saturates to act_max, a large negative one to act_min. */
static void test_conv_saturates(void **state)
{
    (void)state;
    int8_t in[4] = { 127, 127, 127, 127 }, w[8] = { 127, 127, 127, 127, -127, -127, -127, -127 };
    int8_t out[2];
    int32_t bias[2] = { 1 << 24, 1 << 24 }, mult[2], shift[2];
    tl_quantize_multiplier(0.5, &mult[0], &shift[0]);
    mult[1] = mult[0];
    shift[1] = shift[0];
    tl_conv_params p;
    memset(&p, 0, sizeof p);
    p.input = in; p.output = out; p.filter = w; p.bias = bias; p.multiplier = mult; p.shift = shift;
    p.batches = 1; p.in_h = 1; p.in_w = 1; p.in_c = 4; p.out_h = 1; p.out_w = 1; p.out_c = 2; p.out_stride = 2;
    p.k_h = p.k_w = p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
    p.act_min = -128; p.act_max = 127;
    tl_conv2d_s8(&p);
    assert_int_equal(out[0], 127);
    bias[0] = bias[1] = -(1 << 24);
    tl_conv2d_s8(&p);
    assert_int_equal(out[1], -128);
    p.act_min = -10; p.act_max = 20; /* a fused activation clamp */
    tl_conv2d_s8(&p);
    assert_int_equal(out[0], -10);
}

/* ---- pooling ---- */

static void test_pooling(void **state)
{
    (void)state;
    test_rng r = { 5 };
    for (int i = 0; i < ITERATIONS; ++i) {
        tl_pool_params p;
        memset(&p, 0, sizeof p);
        int same;
        do {
            p.batches = rng_int(&r, 1, 2);
            p.in_h = rng_int(&r, 1, 9);
            p.in_w = rng_int(&r, 1, 9);
            p.channels = rng_int(&r, 1, 6);
            p.k_h = rng_int(&r, 1, 4);
            p.k_w = rng_int(&r, 1, 4);
            p.stride_h = rng_int(&r, 1, 2);
            p.stride_w = rng_int(&r, 1, 2);
            same = rng_int(&r, 0, 1);
            p.out_h = out_size_for(p.in_h, p.k_h, p.stride_h, 1, same);
            p.out_w = out_size_for(p.in_w, p.k_w, p.stride_w, 1, same);
        } while (p.out_h < 1 || p.out_w < 1);
        if (same) {
            int32_t th = (p.out_h - 1) * p.stride_h + p.k_h - p.in_h;
            int32_t tw = (p.out_w - 1) * p.stride_w + p.k_w - p.in_w;
            p.pad_top = th > 0 ? th / 2 : 0;
            p.pad_left = tw > 0 ? tw / 2 : 0;
        }
        p.act_min = rng_int(&r, -128, -60);
        p.act_max = rng_int(&r, 60, 127);
        const size_t in_size = (size_t)p.batches * p.in_h * p.in_w * p.channels;
        const size_t out_size = (size_t)p.batches * p.out_h * p.out_w * p.channels;
        int8_t *in = malloc(in_size), *avg = malloc(out_size), *max = malloc(out_size);
        for (size_t k = 0; k < in_size; ++k) {
            in[k] = (int8_t)rng_int(&r, -128, 127);
        }
        p.input = in;
        p.output = avg;
        tl_avg_pool2d_s8(&p);
        p.output = max;
        tl_max_pool2d_s8(&p);
        for (int32_t b = 0; b < p.batches; ++b)
        for (int32_t oy = 0; oy < p.out_h; ++oy)
        for (int32_t ox = 0; ox < p.out_w; ++ox)
        for (int32_t c = 0; c < p.channels; ++c) {
            int32_t sum = 0, count = 0, best = -128;
            for (int32_t ky = 0; ky < p.k_h; ++ky)
            for (int32_t kx = 0; kx < p.k_w; ++kx) {
                const int32_t iy = oy * p.stride_h - p.pad_top + ky, ix = ox * p.stride_w - p.pad_left + kx;
                if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) {
                    continue;
                }
                const int32_t v = in[((b * p.in_h + iy) * p.in_w + ix) * p.channels + c];
                sum += v;
                ++count;
                best = v > best ? v : best;
            }
            assert_true(count > 0);
            /* round half away from zero */
            const int32_t mean = (int32_t)lround((double)sum / count);
            const size_t at = (((size_t)b * p.out_h + oy) * p.out_w + ox) * p.channels + c;
            assert_int_equal(avg[at], tl_clamp_s8(mean, p.act_min, p.act_max));
            assert_int_equal(max[at], tl_clamp_s8(best, p.act_min, p.act_max));
        }
        free(in); free(avg); free(max);
    }
}

/* ---- add ---- */

static void test_add(void **state)
{
    (void)state;
    test_rng r = { 6 };
    for (int i = 0; i < ITERATIONS; ++i) {
        const float s1 = rng_float(&r, 0.01f, 0.2f), s2 = rng_float(&r, 0.01f, 0.2f);
        const float so = (s1 + s2) * rng_float(&r, 0.6f, 1.5f);
        const int32_t z1 = rng_int(&r, -128, 127), z2 = rng_int(&r, -128, 127), zo = rng_int(&r, -128, 127);
        tl_op_rec rec;
        memset(&rec, 0, sizeof rec);
        assert_int_equal(tl_add_constants(s1, z1, s2, z2, so, zo, &rec), TL_OK);
        const int32_t n = rng_int(&r, 1, 200);
        int8_t *a = malloc((size_t)n), *b = malloc((size_t)n), *out = malloc((size_t)n);
        for (int32_t k = 0; k < n; ++k) {
            a[k] = (int8_t)rng_int(&r, -128, 127);
            b[k] = (int8_t)rng_int(&r, -128, 127);
        }
        tl_add_params p = { a, b, out, n,
                            { 0, rec.input_offset, rec.p[TL_ADD_INPUT2_OFFSET], rec.output_offset,
                              rec.p[TL_ADD_LEFT_SHIFT], rec.p[TL_ADD_INPUT1_MULT], rec.p[TL_ADD_INPUT1_SHIFT],
                              rec.p[TL_ADD_INPUT2_MULT], rec.p[TL_ADD_INPUT2_SHIFT], rec.p[TL_ADD_OUTPUT_MULT],
                              rec.p[TL_ADD_OUTPUT_SHIFT], -128, 127 } };
        tl_add_s8(&p);
        for (int32_t k = 0; k < n; ++k) {
            double q = round((s1 * (a[k] - z1) + s2 * (b[k] - z2)) / so) + zo;
            q = q < -128 ? -128 : (q > 127 ? 127 : q);
            assert_true(fabs(q - out[k]) <= 1.0);
        }
        /* In place: writing over input 1 gives the same result. */
        int8_t *copy = malloc((size_t)n);
        memcpy(copy, out, (size_t)n);
        p.output = a;
        tl_add_s8(&p);
        assert_memory_equal(a, copy, (size_t)n);
        free(a); free(b); free(out); free(copy);
    }
}

/* ---- 16x8: int16 activations, int8 weights ---- */

/* TFLite's QuantizeMultiplier: 0.75 is 0.75 * 2^31 with no shift, 3 is
 * 0.75 * 2^31 shifted left 2, a value that rounds up to 2^31 moves to the
 * next exponent; an infinity or NaN (a hostile file's scales) gives a shift
 * no operator's check accepts. */
static void test_quantize_multiplier_as_tflite_and_refusably_on_nonsense(void **state)
{
    (void)state;
    int32_t m, shift;
    tl_quantize_multiplier(0.75, &m, &shift);
    assert_int_equal(m, 1610612736);
    assert_int_equal(shift, 0);
    tl_quantize_multiplier(3.0, &m, &shift);
    assert_int_equal(m, 1610612736);
    assert_int_equal(shift, 2);
    tl_quantize_multiplier(1.0 - 1e-12, &m, &shift);
    assert_int_equal(m, 1073741824);
    assert_int_equal(shift, 1);
    tl_quantize_multiplier(INFINITY, &m, &shift);
    assert_int_equal(shift, 1024);
    tl_quantize_multiplier(NAN, &m, &shift);
    assert_int_equal(shift, 1024);
}

/* TFLite's 64-bit requantisation is within one step of the real product. */
static void test_requantize64_matches_real_arithmetic(void **state)
{
    (void)state;
    test_rng r = { 41 };
    for (int i = 0; i < 100000; ++i) {
        const double real = exp(rng_float(&r, -20.0f, 2.0f));
        int32_t m, shift;
        tl_quantize_multiplier(real, &m, &shift);
        if (shift > 7) {
            continue;
        }
        const int64_t acc = (int64_t)rng_int(&r, -(1 << 30), 1 << 30) * rng_int(&r, 1, 1 << 10);
        const double want = round((double)acc * real);
        if (fabs(want) < 2147483647.0) {
            /* the 16-bit multiplier costs precision: within 2^-15 relative */
            assert_true(fabs(tl_requantize64(acc, m, shift) - want) <= 1.0 + fabs(want) / 32768.0);
        }
    }
    assert_int_equal(tl_requantize64(3, 1 << 30, 1), 3);   /* x 1 */
    assert_int_equal(tl_requantize64(-5, 1 << 30, 0), -2); /* x 1/2: -2.5 rounds up (half towards +inf) */
}

/* Random 16x8 convolutions, depthwise and plain, int64 and int32 biases:
 * the naive loop (int64 sums, TFLite's requantisation for the bias type)
 * gives the same values, and they are within one step of the real ones. */
static void test_conv2d_s16_matches_the_naive_loop(void **state)
{
    (void)state;
    test_rng r = { 43 };
    for (int it = 0; it < ITERATIONS; ++it) {
        tl_conv16_params p;
        memset(&p, 0, sizeof p);
        p.depthwise = rng_int(&r, 0, 1);
        p.batches = 1;
        p.in_h = rng_int(&r, 1, 6);
        p.in_w = rng_int(&r, 1, 6);
        p.in_c = rng_int(&r, 1, 4);
        p.depth_multiplier = p.depthwise ? rng_int(&r, 1, 2) : 1;
        p.out_c = p.depthwise ? p.in_c * p.depth_multiplier : rng_int(&r, 1, 4);
        p.k_h = rng_int(&r, 1, 3);
        p.k_w = rng_int(&r, 1, 3);
        p.stride_h = p.stride_w = rng_int(&r, 1, 2);
        p.dilation_h = p.dilation_w = 1;
        p.pad_top = rng_int(&r, 0, p.k_h - 1);
        p.pad_left = rng_int(&r, 0, p.k_w - 1);
        p.out_h = (p.in_h + 2 * p.pad_top - p.k_h) / p.stride_h + 1;
        p.out_w = (p.in_w + 2 * p.pad_left - p.k_w) / p.stride_w + 1;
        if (p.out_h < 1 || p.out_w < 1) {
            continue;
        }
        const int32_t n_in = p.in_h * p.in_w * p.in_c, n_out = p.out_h * p.out_w * p.out_c;
        const int32_t n_w = p.depthwise ? p.k_h * p.k_w * p.out_c : p.out_c * p.k_h * p.k_w * p.in_c;
        int16_t *x = malloc((size_t)n_in * 2), *y = malloc((size_t)n_out * 2);
        int8_t *w = malloc((size_t)n_w);
        int32_t mult[8], shift[8], b32[8];
        int64_t b64[8];
        float wscale[8];
        const float in_scale = rng_float(&r, 1e-4f, 1e-3f), out_scale = rng_float(&r, 1e-3f, 1e-2f);
        for (int32_t k = 0; k < n_in; ++k) x[k] = (int16_t)rng_int(&r, -32768, 32767);
        for (int32_t k = 0; k < n_w; ++k) w[k] = (int8_t)rng_int(&r, -127, 127);
        const int acc32 = rng_int(&r, 0, 1);
        for (int32_t c = 0; c < p.out_c; ++c) {
            wscale[c] = rng_float(&r, 0.001f, 0.02f);
            tl_quantize_multiplier((double)in_scale * wscale[c] / out_scale, &mult[c], &shift[c]);
            b64[c] = rng_int(&r, -100000, 100000);
            b32[c] = (int32_t)b64[c];
        }
        p.input = x;
        p.output = y;
        p.filter = w;
        p.bias64 = acc32 ? NULL : (const uint8_t *)b64;
        p.bias32 = acc32 ? b32 : NULL;
        p.multiplier = mult;
        p.shift = shift;
        p.act_min = -32768;
        p.act_max = 32767;
        tl_conv2d_s16(&p);
        for (int32_t oy = 0; oy < p.out_h; ++oy)
        for (int32_t ox = 0; ox < p.out_w; ++ox)
        for (int32_t oc = 0; oc < p.out_c; ++oc) {
            int64_t acc = 0;
            for (int32_t ky = 0; ky < p.k_h; ++ky)
            for (int32_t kx = 0; kx < p.k_w; ++kx) {
                const int32_t iy = oy * p.stride_h - p.pad_top + ky, ix = ox * p.stride_w - p.pad_left + kx;
                if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) {
                    continue;
                }
                if (p.depthwise) {
                    acc += (int64_t)w[(ky * p.k_w + kx) * p.out_c + oc] * x[(iy * p.in_w + ix) * p.in_c + oc / p.depth_multiplier];
                } else {
                    for (int32_t ic = 0; ic < p.in_c; ++ic) {
                        acc += (int64_t)w[((oc * p.k_h + ky) * p.k_w + kx) * p.in_c + ic] * x[(iy * p.in_w + ix) * p.in_c + ic];
                    }
                }
            }
            acc += b64[oc];
            int32_t v = acc32 ? tl_requantize((int32_t)acc, mult[oc], shift[oc]) : tl_requantize64(acc, mult[oc], shift[oc]);
            v = v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
            assert_int_equal(y[(oy * p.out_w + ox) * p.out_c + oc], v);
            double real = round((double)acc * in_scale * wscale[oc] / out_scale);
            real = real < -32768 ? -32768 : (real > 32767 ? 32767 : real);
            assert_true(fabs(real - v) <= 1.0 + fabs(real) / 16384.0);
        }
        free(x); free(y); free(w);
    }
}

/* ---- transpose and pad: exact data movement ---- */

static void test_transpose_moves_every_element_where_the_permutation_says(void **state)
{
    (void)state;
    test_rng r = { 11 };
    for (int i = 0; i < ITERATIONS; ++i) {
        const int32_t element_size = i % 3 == 0 ? 1 : (i % 3 == 1 ? 2 : 4); /* int8, int16, int32 or float */
        int32_t dims[4], perm[4] = { 0, 1, 2, 3 };
        for (int k = 0; k < 4; ++k) {
            dims[k] = rng_int(&r, 1, 6);
        }
        for (int k = 3; k > 0; --k) { /* a random permutation */
            const int j = rng_int(&r, 0, k);
            const int32_t t = perm[k];
            perm[k] = perm[j];
            perm[j] = t;
        }
        const int32_t n = dims[0] * dims[1] * dims[2] * dims[3];
        uint8_t *in = malloc((size_t)(n * element_size)), *out = malloc((size_t)(n * element_size));
        for (int32_t k = 0; k < n * element_size; ++k) {
            in[k] = (uint8_t)rng_int(&r, 0, 255);
        }
        tl_transpose_params p = { in, out, element_size, { dims[0], dims[1], dims[2], dims[3] },
                                  { perm[0], perm[1], perm[2], perm[3] } };
        tl_transpose(&p);
        /* Naively: for each output index, the input index it names. */
        int32_t od[4];
        for (int k = 0; k < 4; ++k) {
            od[k] = dims[perm[k]];
        }
        int32_t o[4];
        for (o[0] = 0; o[0] < od[0]; ++o[0]) {
            for (o[1] = 0; o[1] < od[1]; ++o[1]) {
                for (o[2] = 0; o[2] < od[2]; ++o[2]) {
                    for (o[3] = 0; o[3] < od[3]; ++o[3]) {
                        int32_t x[4];
                        for (int k = 0; k < 4; ++k) {
                            x[perm[k]] = o[k];
                        }
                        const int32_t at = ((x[0] * dims[1] + x[1]) * dims[2] + x[2]) * dims[3] + x[3];
                        const int32_t to = ((o[0] * od[1] + o[1]) * od[2] + o[2]) * od[3] + o[3];
                        assert_memory_equal(out + to * element_size, in + at * element_size, (size_t)element_size);
                    }
                }
            }
        }
        free(in);
        free(out);
    }
}

static void test_pad_surrounds_the_input_with_the_value(void **state)
{
    (void)state;
    test_rng r = { 12 };
    for (int i = 0; i < ITERATIONS; ++i) {
        int32_t dims[4], before[4], after[4], od[4];
        for (int k = 0; k < 4; ++k) {
            dims[k] = rng_int(&r, 1, 5);
            before[k] = rng_int(&r, 0, 2);
            after[k] = rng_int(&r, 0, 2);
            od[k] = dims[k] + before[k] + after[k];
        }
        const int32_t n = dims[0] * dims[1] * dims[2] * dims[3], m = od[0] * od[1] * od[2] * od[3];
        int8_t *in = malloc((size_t)n), *out = malloc((size_t)m);
        for (int32_t k = 0; k < n; ++k) {
            in[k] = (int8_t)rng_int(&r, -128, 127);
        }
        const int8_t value = (int8_t)rng_int(&r, -128, 127);
        tl_pad_params p = { in, out, { dims[0], dims[1], dims[2], dims[3] },
                            { before[0], before[1], before[2], before[3] },
                            { after[0], after[1], after[2], after[3] }, value, 1 };
        tl_pad_s8(&p);
        int32_t o[4];
        for (o[0] = 0; o[0] < od[0]; ++o[0]) {
            for (o[1] = 0; o[1] < od[1]; ++o[1]) {
                for (o[2] = 0; o[2] < od[2]; ++o[2]) {
                    for (o[3] = 0; o[3] < od[3]; ++o[3]) {
                        int inside = 1;
                        int32_t x[4];
                        for (int k = 0; k < 4; ++k) {
                            x[k] = o[k] - before[k];
                            inside &= x[k] >= 0 && x[k] < dims[k];
                        }
                        const int32_t to = ((o[0] * od[1] + o[1]) * od[2] + o[2]) * od[3] + o[3];
                        const int8_t want =
                            inside ? in[((x[0] * dims[1] + x[1]) * dims[2] + x[2]) * dims[3] + x[3]] : value;
                        assert_int_equal(out[to], want);
                    }
                }
            }
        }
        free(in);
        free(out);
    }
}

/* int16 elements: the same movement two bytes at a time, the value int16. */
static void test_pad_int16_surrounds_the_input_with_the_value(void **state)
{
    (void)state;
    const int16_t in[6] = { -30000, 2, 3, 4, 5, 30000 }; /* [1, 2, 3, 1] */
    int16_t out[4 * 4];
    tl_pad_params p = { in, out, { 1, 2, 3, 1 }, { 0, 1, 0, 0 }, { 0, 1, 1, 0 }, -1234, 2 };
    tl_pad_s8(&p);
    for (int y = 0; y < 4; ++y) {
        for (int x = 0; x < 4; ++x) {
            const int inside = y >= 1 && y < 3 && x < 3;
            assert_int_equal(out[y * 4 + x], inside ? in[(y - 1) * 3 + x] : -1234);
        }
    }
}

/* ---- mean ---- */

/* TFLite's constants on a worked case: scales equal, 49 values (a 7x7
 * pool): 1.0 is 2^30 * 2^1 / 2^31; floor(log2 49) = 5 bits more, divided
 * by 49: 2^35 / 49 = 701219150 (truncated), shift 1 - 5. */
static void test_mean_constants_fold_one_over_the_count(void **state)
{
    (void)state;
    int32_t m, shift;
    assert_int_equal(tl_mean_constants(0.5f, 0.5f, 49, &m, &shift), TL_OK);
    assert_int_equal(m, 701219150);
    assert_int_equal(shift, -4);
    assert_int_equal(tl_mean_constants(0.5f, 0.5f, 1, &m, &shift), TL_OK);
    assert_int_equal(m, 1 << 30);
    assert_int_equal(shift, 1);
    assert_int_equal(tl_mean_constants(0.0f, 0.5f, 4, &m, &shift), TL_ERR_QUANT);
    assert_int_equal(tl_mean_constants(0.5f, 0.5f, 0, &m, &shift), TL_ERR_QUANT);
}

/* Random shapes and axis sets, int8 and int16: each output is the naive
 * sum over the input elements that share its kept coordinates, requantised
 * as TFLite does, and within one step of the real mean where not clamped. */
static void test_mean_averages_the_marked_dimensions(void **state)
{
    (void)state;
    test_rng r = { 13 };
    for (int i = 0; i < ITERATIONS; ++i) {
        const int wide = i % 2; /* int16 (16x8): zero points of 0 */
        int32_t dims[4], reduce[4], od[4], count = 1;
        for (int k = 0; k < 4; ++k) {
            dims[k] = rng_int(&r, 1, 7);
            reduce[k] = rng_int(&r, 0, 1);
            od[k] = reduce[k] ? 1 : dims[k];
            count *= reduce[k] ? dims[k] : 1;
        }
        const float in_scale = rng_float(&r, 0.01f, 0.2f), out_scale = rng_float(&r, 0.01f, 0.2f);
        const int32_t in_zp = wide ? 0 : rng_int(&r, -20, 20), out_zp = wide ? 0 : rng_int(&r, -20, 20);
        const int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
        tl_mean_params p;
        memset(&p, 0, sizeof p);
        assert_int_equal(tl_mean_constants(in_scale, out_scale, (uint32_t)count, &p.multiplier, &p.shift), TL_OK);
        const int32_t n = dims[0] * dims[1] * dims[2] * dims[3], m = od[0] * od[1] * od[2] * od[3];
        int16_t *in = malloc((size_t)n * 2), *out = malloc((size_t)m * 2);
        int8_t *in8 = malloc((size_t)n), *out8 = malloc((size_t)m);
        int32_t *sum = calloc((size_t)m, sizeof *sum);
        for (int32_t k = 0; k < n; ++k) {
            in[k] = (int16_t)rng_int(&r, lo, hi);
            in8[k] = (int8_t)in[k];
        }
        p.input = wide ? (const void *)in : (const void *)in8;
        p.output = wide ? (void *)out : (void *)out8;
        p.element_size = wide ? 2 : 1;
        memcpy(p.in_dims, dims, sizeof dims);
        memcpy(p.reduce, reduce, sizeof reduce);
        p.input_offset = -in_zp;
        p.output_offset = out_zp;
        tl_mean(&p);
        int32_t x[4];
        for (x[0] = 0; x[0] < dims[0]; ++x[0])
        for (x[1] = 0; x[1] < dims[1]; ++x[1])
        for (x[2] = 0; x[2] < dims[2]; ++x[2])
        for (x[3] = 0; x[3] < dims[3]; ++x[3]) {
            int32_t o[4];
            for (int k = 0; k < 4; ++k) {
                o[k] = reduce[k] ? 0 : x[k];
            }
            sum[((o[0] * od[1] + o[1]) * od[2] + o[2]) * od[3] + o[3]] +=
                in[((x[0] * dims[1] + x[1]) * dims[2] + x[2]) * dims[3] + x[3]];
        }
        for (int32_t k = 0; k < m; ++k) {
            int32_t want = tl_requantize(sum[k] - in_zp * count, p.multiplier, p.shift) + out_zp;
            want = want < lo ? lo : (want > hi ? hi : want);
            const int32_t got = wide ? out[k] : out8[k];
            assert_int_equal(got, want);
            const double real = round((double)(sum[k] - in_zp * count) / count * in_scale / out_scale) + out_zp;
            if (real > lo && real < hi) {
                assert_true(fabs(real - got) <= 1.0);
            }
        }
        free(in);
        free(out);
        free(in8);
        free(out8);
        free(sum);
    }
}

/* ---- softmax ---- */

static void test_softmax(void **state)
{
    (void)state;
    test_rng r = { 7 };
    for (int i = 0; i < ITERATIONS; ++i) {
        const float scale = rng_float(&r, 0.01f, 0.3f);
        tl_op_rec rec;
        memset(&rec, 0, sizeof rec);
        assert_int_equal(tl_softmax_constants(1.0f, scale, &rec), TL_OK);
        const int32_t rows = rng_int(&r, 1, 3), depth = rng_int(&r, 1, 40);
        int8_t *in = malloc((size_t)(rows * depth)), *out = malloc((size_t)(rows * depth));
        for (int32_t k = 0; k < rows * depth; ++k) {
            in[k] = (int8_t)rng_int(&r, -128, 127);
        }
        tl_softmax_params p = { in, out, NULL, rows, depth, rec.p[TL_SOFTMAX_INPUT_MULT],
                                rec.p[TL_SOFTMAX_INPUT_LEFT_SHIFT], rec.p[TL_SOFTMAX_DIFF_MIN] };
        tl_softmax_s8(&p);
        for (int32_t row = 0; row < rows; ++row) {
            int32_t max = -128;
            double sum = 0;
            for (int32_t c = 0; c < depth; ++c) {
                max = in[row * depth + c] > max ? in[row * depth + c] : max;
            }
            for (int32_t c = 0; c < depth; ++c) {
                sum += exp(scale * (in[row * depth + c] - max));
            }
            for (int32_t c = 0; c < depth; ++c) {
                double q = round(exp(scale * (in[row * depth + c] - max)) / sum * 256.0) - 128;
                q = q > 127 ? 127 : q;
                assert_true(fabs(q - out[row * depth + c]) <= 1.0);
            }
        }
        /* In place gives the same bytes. */
        int8_t *copy = malloc((size_t)(rows * depth));
        memcpy(copy, out, (size_t)(rows * depth));
        p.output = in;
        tl_softmax_s8(&p);
        assert_memory_equal(in, copy, (size_t)(rows * depth));
        free(in); free(out); free(copy);
    }
    /* Equal logits: every class gets exactly 1/4, i.e. 64 - 128. */
    tl_op_rec rec;
    memset(&rec, 0, sizeof rec);
    tl_softmax_constants(1.0f, 0.1f, &rec);
    int8_t in[4] = { 5, 5, 5, 5 }, out[4];
    tl_softmax_params p = { in, out, NULL, 1, 4, rec.p[0], rec.p[1], rec.p[2] };
    tl_softmax_s8(&p);
    for (int k = 0; k < 4; ++k) {
        assert_int_equal(out[k], -64);
    }
}

/* The int16 output (TFLite's int8-in, int16-out softmax): within one step
 * of the real probability at scale 1/65536, zero point -32768, and equal
 * logits split exactly. */
static void test_softmax_int16_output(void **state)
{
    (void)state;
    test_rng r = { 17 };
    for (int i = 0; i < ITERATIONS; ++i) {
        const float scale = rng_float(&r, 0.01f, 0.3f);
        tl_op_rec rec;
        memset(&rec, 0, sizeof rec);
        assert_int_equal(tl_softmax_constants(1.0f, scale, &rec), TL_OK);
        const int32_t depth = rng_int(&r, 1, 40);
        int8_t in[40], unused[40];
        int16_t out[40];
        for (int32_t k = 0; k < depth; ++k) {
            in[k] = (int8_t)rng_int(&r, -128, 127);
        }
        tl_softmax_params p = { in, unused, out, 1, depth, rec.p[TL_SOFTMAX_INPUT_MULT],
                                rec.p[TL_SOFTMAX_INPUT_LEFT_SHIFT], rec.p[TL_SOFTMAX_DIFF_MIN] };
        tl_softmax_s8(&p);
        int32_t max = -128;
        double sum = 0;
        for (int32_t c = 0; c < depth; ++c) {
            max = in[c] > max ? in[c] : max;
        }
        for (int32_t c = 0; c < depth; ++c) {
            sum += exp(scale * (in[c] - max));
        }
        for (int32_t c = 0; c < depth; ++c) {
            double q = round(exp(scale * (in[c] - max)) / sum * 65536.0) - 32768;
            q = q > 32767 ? 32767 : q;
            /* The int8 path's exp keeps 31 bits; 16 output bits see its
             * rounding: within a few steps of 1/65536. */
            assert_true(fabs(q - out[c]) <= 4.0);
        }
    }
    tl_op_rec rec;
    memset(&rec, 0, sizeof rec);
    tl_softmax_constants(1.0f, 0.1f, &rec);
    int8_t in[2] = { -128, -128 }, unused[2];
    int16_t out[2];
    tl_softmax_params p = { in, unused, out, 1, 2, rec.p[0], rec.p[1], rec.p[2] };
    tl_softmax_s8(&p);
    assert_int_equal(out[0], 0); /* one half: 32768 - 32768 */
    assert_int_equal(out[1], 0);
}

/* ---- logistic, tanh ---- */

/* The Q0.31 results of gemmlowp's logistic and tanh on Q4.27 inputs
 * across their range are within 2^-24 (logistic) and 2^-22 (tanh, whose
 * (1 - e) / (1 + e) loses bits near 0) of the real functions. */
static void test_fixed_point_logistic_and_tanh_are_close_to_real(void **state)
{
    (void)state;
    for (int32_t raw = -(15 << 27); raw < (15 << 27); raw += 997 * 4096 + 1) {
        const double x = raw / (double)(1 << 27);
        const double l = tl_fp_logistic(raw, 4) / 2147483648.0, t = tl_fp_tanh(raw, 4) / 2147483648.0;
        assert_true(fabs(l - 1.0 / (1.0 + exp(-x))) < 1.0 / (1 << 24));
        assert_true(fabs(t - tanh(x)) < 1.0 / (1 << 22));
    }
    assert_int_equal(tl_fp_logistic(0, 4), 1 << 30);
    assert_int_equal(tl_fp_tanh(0, 4), 0);
}

/* Every int8 input at several scales and zero points: within one step of
 * the real function at the output's fixed scale, saturating beyond the
 * radius, monotone. */
static void test_logistic_and_tanh_follow_the_real_functions(void **state)
{
    (void)state;
    const float scales[5] = { 0.01f, 0.05f, 0.1f, 0.25f, 1.0f };
    for (int s = 0; s < 5; ++s) {
        for (int32_t zp = -30; zp <= 30; zp += 15) {
            tl_sigmoid_params p;
            int8_t in[256], out_l[256], out_t[256];
            for (int i = 0; i < 256; ++i) {
                in[i] = (int8_t)(i - 128);
            }
            assert_int_equal(tl_sigmoid_constants(scales[s], &p.multiplier, &p.shift, &p.radius), TL_OK);
            p.input = in;
            p.count = 256;
            p.input_offset = -zp;
            p.output = out_l;
            tl_logistic_s8(&p);
            p.output = out_t;
            tl_tanh_s8(&p);
            for (int i = 0; i < 256; ++i) {
                const double x = (in[i] - zp) * (double)scales[s];
                double l = round(256.0 / (1.0 + exp(-x))) - 128, t = round(128.0 * tanh(x));
                l = l > 127 ? 127 : l;
                t = t > 127 ? 127 : (t < -128 ? -128 : t);
                assert_true(fabs(l - out_l[i]) <= 1.0);
                assert_true(fabs(t - out_t[i]) <= 1.0);
                if (i > 0) {
                    assert_true(out_l[i] >= out_l[i - 1] && out_t[i] >= out_t[i - 1]);
                }
            }
        }
    }
}

/* ---- the 16-bit sigmoid table and the integer LSTM ---- */

/* Each entry of the table is sigmoid(i / 24) in Q0.16, within 1.5 of the
 * last bit (TFLite's values are not a plain rounding). */
static void test_sigmoid_table_holds_sigmoid_of_i_over_24(void **state)
{
    (void)state;
    for (int i = 0; i < 256; ++i) {
        const double want = 65536.0 / (1.0 + exp(-i / 24.0));
        assert_true(fabs(tl_sigmoid_table_q16[i] - want) <= 1.5);
    }
    /* The interpolated functions: within 2^-10 of the real ones over Q3.12. */
    for (int32_t x = -32768; x < 32768; x += 7) {
        const double real = x / 4096.0;
        assert_true(fabs(tl_sigmoid_s16(x) / 32768.0 - 1.0 / (1.0 + exp(-real))) < 1.0 / 1024);
        assert_true(fabs(tl_tanh_s16(x, 3, 0) / 32768.0 - tanh(real)) < 1.0 / 512);
    }
}

static double sigmoid_of(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* A random LSTM quantised as TFLite does it (int8 activations and
 * weights, int32 biases at input x weight scale, a 2^-11 int16 cell), run
 * over 6 steps for 2 batches (batch- and time-major): the hidden outputs
 * stay within a few int8 steps of the float LSTM's, and both layouts agree. */
static void test_lstm_follows_the_float_lstm(void **state)
{
    (void)state;
    enum { B = 2, T = 6, I = 5, S = 4 };
    test_rng r = { 29 };
    const float s_x = 0.05f, s_h = 1.0f / 128, s_w = 0.02f, s_c = 1.0f / 2048;
    const int32_t zp_x = 3, zp_h = -2;
    int8_t wx[4][S][I], wh[4][S][S];
    int32_t bias[4][S];
    double fwx[4][S][I], fwh[4][S][S], fb[4][S];
    for (int g = 0; g < 4; ++g) {
        for (int o = 0; o < S; ++o) {
            for (int d = 0; d < I; ++d) {
                wx[g][o][d] = (int8_t)rng_int(&r, -100, 100);
                fwx[g][o][d] = wx[g][o][d] * s_w;
            }
            for (int d = 0; d < S; ++d) {
                wh[g][o][d] = (int8_t)rng_int(&r, -100, 100);
                fwh[g][o][d] = wh[g][o][d] * s_w;
            }
            bias[g][o] = rng_int(&r, -500, 500);
            fb[g][o] = bias[g][o] * (double)(s_x * s_w);
        }
    }
    tl_lstm_header k;
    memset(&k, 0, sizeof k);
    k.input_offset = -zp_x;
    k.hidden_offset = -zp_h;
    k.hidden_zero_point = zp_h;
    k.cell_scale_power = -11;
    for (int g = 0; g < 4; ++g) {
        tl_quantize_multiplier((double)(s_x * s_w) * 4096.0, &k.input_mult[g], &k.input_shift[g]);
        tl_quantize_multiplier((double)(s_h * s_w) * 4096.0, &k.recurrent_mult[g], &k.recurrent_shift[g]);
    }
    tl_quantize_multiplier(1.0 / 32768.0, &k.forget_mult, &k.forget_shift);
    tl_quantize_multiplier(1.0 / 32768.0 / 32768.0 / s_c, &k.update_mult, &k.update_shift);
    tl_quantize_multiplier(1.0 / 32768.0 / 32768.0 / s_h, &k.hidden_mult, &k.hidden_shift);
    int8_t x[B][T][I], xt[T][B][I];
    for (int b = 0; b < B; ++b) {
        for (int t = 0; t < T; ++t) {
            for (int d = 0; d < I; ++d) {
                x[b][t][d] = xt[t][b][d] = (int8_t)rng_int(&r, -128, 127);
            }
        }
    }
    int8_t out[B][T][S], out_t[T][B][S];
    for (int layout = 0; layout < 2; ++layout) {
        int8_t hidden[B][S];
        int16_t cell[5][B][S];
        memset(hidden, zp_h, sizeof hidden);
        memset(cell, 0, sizeof cell);
        k.time_major = layout;
        tl_lstm_params p;
        p.header = &k;
        p.input = layout ? &xt[0][0][0] : &x[0][0][0];
        p.output = layout ? &out_t[0][0][0] : &out[0][0][0];
        p.hidden = &hidden[0][0];
        p.cell = &cell[0][0][0];
        p.buffers = &cell[1][0][0];
        p.buffer_stride = B * S;
        p.input_weights = &wx[0][0][0];
        p.recurrent_weights = &wh[0][0][0];
        p.bias = &bias[0][0];
        p.batches = B;
        p.time_steps = T;
        p.n_input = I;
        p.n_state = S;
        tl_lstm_s8(&p);
    }
    int worst = 0;
    for (int b = 0; b < B; ++b) {
        double h[S] = { 0 }, c[S] = { 0 };
        for (int t = 0; t < T; ++t) {
            double gates[4][S];
            for (int g = 0; g < 4; ++g) {
                for (int o = 0; o < S; ++o) {
                    double acc = fb[g][o];
                    for (int d = 0; d < I; ++d) {
                        acc += fwx[g][o][d] * (x[b][t][d] - zp_x) * s_x;
                    }
                    for (int d = 0; d < S; ++d) {
                        acc += fwh[g][o][d] * h[d];
                    }
                    gates[g][o] = g == TL_LSTM_CELL_GATE ? tanh(acc) : sigmoid_of(acc);
                }
            }
            for (int o = 0; o < S; ++o) {
                c[o] = gates[TL_LSTM_FORGET_GATE][o] * c[o] + gates[TL_LSTM_INPUT_GATE][o] * gates[TL_LSTM_CELL_GATE][o];
                h[o] = gates[TL_LSTM_OUTPUT_GATE][o] * tanh(c[o]);
                double q = round(h[o] / s_h) + zp_h;
                q = q < -128 ? -128 : (q > 127 ? 127 : q);
                const int diff = abs((int)q - out[b][t][o]);
                worst = diff > worst ? diff : worst;
                h[o] = (out[b][t][o] - zp_h) * s_h; /* follow the integer path's state */
                assert_int_equal(out[b][t][o], out_t[t][b][o]);
            }
        }
    }
    assert_true(worst <= 2);
}

/* ---- quantize, dequantize ---- */

/* Every integer pair: (x - in_zp) requantised by in_scale / out_scale, plus
 * out_zp, clamped to the output type; float to integer rounds halves away
 * from zero (worked cases included); integer to float is scale * (x - zp). */
static void test_quantize_converts_between_types(void **state)
{
    (void)state;
    test_rng r = { 19 };
    const uint32_t types[3] = { TL_DTYPE_INT8, TL_DTYPE_INT16, TL_DTYPE_INT32 };
    for (int i = 0; i < ITERATIONS; ++i) {
        const uint32_t from = types[rng_int(&r, 0, 2)], to = types[rng_int(&r, 0, 2)];
        const float in_scale = rng_float(&r, 0.0005f, 0.2f), out_scale = rng_float(&r, 0.0005f, 0.2f);
        const int32_t in_zp = from == TL_DTYPE_INT8 ? rng_int(&r, -20, 20) : 0;
        const int32_t out_zp = to == TL_DTYPE_INT8 ? rng_int(&r, -20, 20) : 0;
        int32_t raw[64];
        union { int8_t s8[64]; int16_t s16[64]; int32_t s32[64]; } in, out;
        const int32_t lo = from == TL_DTYPE_INT8 ? -128 : from == TL_DTYPE_INT16 ? -32768 : -1000000;
        const int32_t hi = from == TL_DTYPE_INT8 ? 127 : from == TL_DTYPE_INT16 ? 32767 : 1000000;
        for (int k = 0; k < 64; ++k) {
            raw[k] = rng_int(&r, lo, hi);
            if (from == TL_DTYPE_INT8) in.s8[k] = (int8_t)raw[k];
            else if (from == TL_DTYPE_INT16) in.s16[k] = (int16_t)raw[k];
            else in.s32[k] = raw[k];
        }
        tl_quantize_params p;
        memset(&p, 0, sizeof p);
        p.input = &in;
        p.output = &out;
        p.in_dtype = from;
        p.out_dtype = to;
        p.count = 64;
        p.input_offset = -in_zp;
        p.output_offset = out_zp;
        tl_quantize_multiplier((double)in_scale / (double)out_scale, &p.multiplier, &p.shift);
        tl_quantize(&p);
        const int64_t olo = to == TL_DTYPE_INT8 ? -128 : to == TL_DTYPE_INT16 ? -32768 : INT32_MIN;
        const int64_t ohi = to == TL_DTYPE_INT8 ? 127 : to == TL_DTYPE_INT16 ? 32767 : INT32_MAX;
        for (int k = 0; k < 64; ++k) {
            int64_t want = (int64_t)tl_requantize(raw[k] - in_zp, p.multiplier, p.shift) + out_zp;
            want = want < olo ? olo : (want > ohi ? ohi : want);
            const int64_t got = to == TL_DTYPE_INT8 ? out.s8[k] : to == TL_DTYPE_INT16 ? out.s16[k] : out.s32[k];
            assert_int_equal(got, want);
            double real = round((raw[k] - in_zp) * (double)in_scale / out_scale) + out_zp;
            real = real < (double)olo ? (double)olo : (real > (double)ohi ? (double)ohi : real);
            assert_true(fabs(real - (double)got) <= 1.0);
        }
    }
    /* float -> int8 at scale 0.5, zero point 3: halves go away from zero. */
    const float x[8] = { 0.25f, 0.75f, -0.25f, -0.75f, 100.0f, -100.0f, 1.0f / 0.0f, 0.0f / 0.0f };
    const int8_t want8[8] = { 4, 5, 2, 1, 127, -128, 127, 3 };
    int8_t got8[8];
    tl_quantize_params q;
    memset(&q, 0, sizeof q);
    q.input = x;
    q.output = got8;
    q.in_dtype = TL_DTYPE_FLOAT32;
    q.out_dtype = TL_DTYPE_INT8;
    q.count = 8;
    q.output_offset = 3;
    q.scale = 0.5f;
    tl_quantize(&q);
    assert_memory_equal(got8, want8, 8);
    /* int16 -> float at scale 0.25, zero point 0. */
    const int16_t x16[3] = { -4, 0, 32767 };
    float f[3];
    memset(&q, 0, sizeof q);
    q.input = x16;
    q.output = f;
    q.in_dtype = TL_DTYPE_INT16;
    q.out_dtype = TL_DTYPE_FLOAT32;
    q.count = 3;
    q.scale = 0.25f;
    tl_quantize(&q);
    assert_true(f[0] == -1.0f && f[1] == 0.0f && f[2] == 8191.75f);
}

/* ---- SVDF ---- */

/* TFLite Micro's loop structure, naively: shift the state, the feature
 * matmul into the newest column, the time products into a scratch per
 * filter, then bias plus the rank's filters per unit, requantised. */
static void reference_svdf(const tl_svdf_params *p, int32_t *state, int8_t *out)
{
    const int32_t n_filter = p->n_unit * p->rank, total = p->batches * n_filter * p->n_memory;
    const int32_t lo = p->state16 ? -32768 : -128, hi = p->state16 ? 32767 : 127;
    for (int32_t k = 0; k + 1 < total; ++k) {
        state[k] = state[k + 1];
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t f = 0; f < n_filter; ++f) {
            int32_t dot = 0;
            for (int32_t c = 0; c < p->n_input; ++c) {
                dot += p->feature_weights[f * p->n_input + c] * (p->input[b * p->n_input + c] + p->input_offset);
            }
            int32_t v = tl_requantize(dot, p->feature_multiplier, p->feature_shift) + p->state_zero_point;
            state[(b * n_filter + f) * p->n_memory + p->n_memory - 1] = v < lo ? lo : (v > hi ? hi : v);
        }
        int32_t scratch[256];
        for (int32_t f = 0; f < n_filter; ++f) {
            scratch[f] = 0;
            for (int32_t j = 0; j < p->n_memory; ++j) {
                const int32_t w = p->state16 ? p->time_weights16[f * p->n_memory + j] : p->time_weights8[f * p->n_memory + j];
                scratch[f] += w * (state[(b * n_filter + f) * p->n_memory + j] - p->state_zero_point);
            }
        }
        for (int32_t u = 0; u < p->n_unit; ++u) {
            int32_t acc = p->bias ? p->bias[u] : 0;
            for (int32_t k = 0; k < p->rank; ++k) {
                acc += scratch[u * p->rank + k];
            }
            out[b * p->n_unit + u] = tl_clamp_s8(tl_requantize(acc, p->output_multiplier, p->output_shift) + p->output_offset,
                                                 -128, 127);
        }
    }
}

static void test_svdf_matches_the_reference_over_several_steps(void **state)
{
    (void)state;
    test_rng r = { 23 };
    for (int i = 0; i < ITERATIONS; ++i) {
        tl_svdf_params p;
        memset(&p, 0, sizeof p);
        p.batches = rng_int(&r, 1, 2);
        p.n_input = rng_int(&r, 1, 20);
        p.n_unit = rng_int(&r, 1, 8);
        p.rank = rng_int(&r, 1, 3);
        p.n_memory = rng_int(&r, 1, 10);
        const int wide = rng_int(&r, 0, 1);
        const int32_t n_filter = p.n_unit * p.rank, total = p.batches * n_filter * p.n_memory;
        int8_t input[40], out[16], want[16], wf[24 * 20], wt8[24 * 10], st8[2 * 24 * 10];
        int16_t wt16[24 * 10], st16[2 * 24 * 10];
        int32_t bias[8], ref_state[2 * 24 * 10];
        for (int32_t k = 0; k < n_filter * p.n_input; ++k) wf[k] = (int8_t)rng_int(&r, -128, 127);
        for (int32_t k = 0; k < n_filter * p.n_memory; ++k) {
            wt8[k] = (int8_t)rng_int(&r, -128, 127);
            wt16[k] = (int16_t)rng_int(&r, -3000, 3000);
        }
        for (int32_t k = 0; k < p.n_unit; ++k) bias[k] = rng_int(&r, -5000, 5000);
        p.feature_weights = wf;
        p.time_weights8 = wide ? NULL : wt8;
        p.time_weights16 = wide ? wt16 : NULL;
        p.bias = rng_int(&r, 0, 1) ? bias : NULL;
        p.state8 = wide ? NULL : st8;
        p.state16 = wide ? st16 : NULL;
        p.input_offset = rng_int(&r, -10, 10);
        p.output_offset = rng_int(&r, -10, 10);
        p.state_zero_point = wide ? 0 : rng_int(&r, -10, 10);
        tl_quantize_multiplier(rng_float(&r, 0.001f, 0.05f), &p.feature_multiplier, &p.feature_shift);
        tl_quantize_multiplier(rng_float(&r, 0.0001f, 0.01f), &p.output_multiplier, &p.output_shift);
        for (int32_t k = 0; k < total; ++k) {
            ref_state[k] = p.state_zero_point;
            st8[k] = (int8_t)p.state_zero_point;
            st16[k] = 0;
        }
        for (int step = 0; step < 4; ++step) { /* the state carries over */
            for (int32_t k = 0; k < p.batches * p.n_input; ++k) input[k] = (int8_t)rng_int(&r, -128, 127);
            p.input = input;
            p.output = out;
            tl_svdf_s8(&p);
            reference_svdf(&p, ref_state, want);
            assert_memory_equal(out, want, (size_t)(p.batches * p.n_unit));
            for (int32_t k = 0; k < total; ++k) {
                assert_int_equal(wide ? st16[k] : st8[k], ref_state[k]);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requantize_matches_real_arithmetic),
        cmocka_unit_test(test_activation_range),
        cmocka_unit_test(test_quantize_multiplier_as_tflite_and_refusably_on_nonsense),
        cmocka_unit_test(test_requantize64_matches_real_arithmetic),
        cmocka_unit_test(test_conv2d_s16_matches_the_naive_loop),
        cmocka_unit_test(test_transpose_moves_every_element_where_the_permutation_says),
        cmocka_unit_test(test_pad_surrounds_the_input_with_the_value),
        cmocka_unit_test(test_pad_int16_surrounds_the_input_with_the_value),
        cmocka_unit_test(test_mean_constants_fold_one_over_the_count),
        cmocka_unit_test(test_mean_averages_the_marked_dimensions),
        cmocka_unit_test(test_softmax_int16_output),
        cmocka_unit_test(test_quantize_converts_between_types),
        cmocka_unit_test(test_fixed_point_logistic_and_tanh_are_close_to_real),
        cmocka_unit_test(test_logistic_and_tanh_follow_the_real_functions),
        cmocka_unit_test(test_sigmoid_table_holds_sigmoid_of_i_over_24),
        cmocka_unit_test(test_lstm_follows_the_float_lstm),
        cmocka_unit_test(test_svdf_matches_the_reference_over_several_steps),
        cmocka_unit_test(test_conv2d_s8),
        cmocka_unit_test(test_depthwise_conv2d_s8),
        cmocka_unit_test(test_conv2d_s4),
        cmocka_unit_test(test_conv2d_sparse_s8),
        cmocka_unit_test(test_sparse_encoding_round_trips),
        cmocka_unit_test(test_conv2d_bitmap_s8),
        cmocka_unit_test(test_bitmap_encoding_round_trips),
        cmocka_unit_test(test_conv_saturates),
        cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
