/* quant.c - the int8 quantisation constants of each operator.
 *
 * One place for the formulas TensorFlow Lite Micro uses in its kernels'
 * Prepare step, down to where it multiplies in float before widening to
 * double: these constants decide whether our outputs equal its outputs byte
 * for byte. Used by the TFLite importer and the graph builder.
 */
#include <math.h>
#include <string.h>

#include "tinylarge/convert.h"

void tl_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift)
{
    if (real == 0.0) {
        *multiplier = 0;
        *shift = 0;
        return;
    }
    if (!isfinite(real)) {
        /* A hostile file's scales (a zero, an infinity) got here: a shift
         * no operator accepts, so that the loader's checks refuse it. */
        *multiplier = INT32_MAX;
        *shift = 1024;
        return;
    }
    int exponent;
    const double q = frexp(real, &exponent);
    int64_t q_fixed = (int64_t)round(q * (double)(1ll << 31));
    if (q_fixed == (1ll << 31)) {
        q_fixed /= 2;
        ++exponent;
    }
    if (exponent < -31) { /* flush multipliers below 2^-31 to zero, as TFLite */
        exponent = 0;
        q_fixed = 0;
    }
    *multiplier = (int32_t)q_fixed;
    *shift = exponent;
}

/* round(real / scale) as an int. Beyond +-512 the sum with an int8 zero
 * point lies outside [-128, 127] either way, so clamping there changes no
 * range, and a tiny (or NaN) scale from a hostile file cannot overflow the
 * conversion. */
static int32_t quantized_level(float real, float scale)
{
    float q = roundf(real / scale);
    if (!(q >= -512.0f)) {
        q = -512.0f;
    }
    if (!(q <= 512.0f)) {
        q = 512.0f;
    }
    return (int32_t)q;
}

void tl_activation_range(uint8_t activation, float scale, int32_t zero_point, int16_t *act_min,
                         int16_t *act_max)
{
    int32_t lo = -128, hi = 127;
    if (activation == TL_ACT_RELU || activation == TL_ACT_RELU6) {
        lo = zero_point > lo ? zero_point : lo;
    }
    if (activation == TL_ACT_RELU6) {
        const int32_t six = zero_point + quantized_level(6.0f, scale);
        hi = six < hi ? six : hi;
    }
    if (activation == TL_ACT_RELU_N1_TO_1) {
        const int32_t m1 = zero_point + quantized_level(-1.0f, scale);
        const int32_t p1 = zero_point + quantized_level(1.0f, scale);
        lo = m1 > lo ? m1 : lo;
        hi = p1 < hi ? p1 : hi;
    }
    *act_min = (int16_t)lo;
    *act_max = (int16_t)hi;
}

void tl_activation_range16(uint8_t activation, float scale, int16_t *act_min, int16_t *act_max)
{
    /* As for int8 with a zero point of 0 and the int16 range; levels of
     * +-1 and 6 past it saturate. */
    double lo = -32768, hi = 32767;
    const double six = round(6.0 / (double)scale), one = round(1.0 / (double)scale);
    if (activation == TL_ACT_RELU || activation == TL_ACT_RELU6) {
        lo = 0;
    }
    if (activation == TL_ACT_RELU6 && six < hi) {
        hi = six;
    }
    if (activation == TL_ACT_RELU_N1_TO_1) {
        lo = -one > lo ? -one : lo;
        hi = one < hi ? one : hi;
    }
    *act_min = (int16_t)lo;
    *act_max = (int16_t)hi;
}

tl_status tl_conv_constants(uint8_t opcode, float input_scale, int32_t input_zero_point,
                            const int8_t *weights, uint64_t count, const float *filter_scales,
                            uint32_t scale_count, const int32_t *bias, float output_scale,
                            uint32_t out_c, int32_t *requant, int32_t *effective_bias,
                            uint32_t *bad_channel)
{
    if (out_c == 0 || count % out_c != 0 || (scale_count != 1 && scale_count != out_c)) {
        return TL_ERR_ARG;
    }
    const int depthwise = opcode == TL_OP_DEPTHWISE_CONV_2D;
    const uint64_t dot = count / out_c;
    /* The device's accumulator bound (see check_requant in src/device/model.c). */
    const int64_t max_bias = INT32_MAX - (int64_t)dot * 128 * 128;
    for (uint32_t c = 0; c < out_c; ++c) {
        const float fscale = filter_scales[scale_count > 1 ? c : 0];
        double real;
        if (opcode == TL_OP_FULLY_CONNECTED) {
            /* TFLite Micro's fully-connected multiplies the scales in float first. */
            real = (double)(input_scale * fscale) / (double)output_scale;
        } else {
            real = (double)input_scale * (double)fscale / (double)output_scale;
        }
        if (!isfinite(real) || real < 0) {
            if (bad_channel) {
                *bad_channel = c;
            }
            return TL_ERR_QUANT;
        }
        tl_quantize_multiplier(real, &requant[c], &requant[out_c + c]);
        int64_t sum = 0;
        if (depthwise) {
            for (uint64_t i = c; i < count; i += out_c) {
                sum += weights[i];
            }
        } else {
            for (uint64_t i = 0; i < dot; ++i) {
                sum += weights[c * dot + i];
            }
        }
        const int64_t effective = (int64_t)(bias ? bias[c] : 0) - (int64_t)input_zero_point * sum;
        if (requant[out_c + c] > 30 || effective < -max_bias || effective > max_bias) {
            if (bad_channel) {
                *bad_channel = c;
            }
            return TL_ERR_QUANT;
        }
        effective_bias[c] = (int32_t)effective;
    }
    return TL_OK;
}

tl_status tl_add_constants(float scale1, int32_t zp1, float scale2, int32_t zp2, float out_scale,
                           int32_t out_zp, tl_op_rec *rec)
{
    return tl_add_constants_shifted(scale1, zp1, scale2, zp2, out_scale, out_zp, 20, rec);
}

tl_status tl_add_constants_shifted(float scale1, int32_t zp1, float scale2, int32_t zp2, float out_scale,
                                   int32_t out_zp, int left_shift, tl_op_rec *rec)
{
    if (!(scale1 > 0) || !(scale2 > 0) || !(out_scale > 0) || !isfinite(scale1) || !isfinite(scale2) ||
        !isfinite(out_scale)) {
        return TL_ERR_QUANT;
    }
    /* TFLite Micro's add and sub: inputs to a common scale with 20 bits of
     * headroom (int8) or 15 (int16). */
    const double twice_max = 2 * (double)(scale1 > scale2 ? scale1 : scale2);
    const double real1 = (double)scale1 / twice_max;
    const double real2 = (double)scale2 / twice_max;
    const double real_out = twice_max / ((1 << left_shift) * (double)out_scale);
    if (!isfinite(real_out)) {
        return TL_ERR_QUANT;
    }
    rec->input_offset = -zp1;
    rec->output_offset = out_zp;
    rec->p[TL_ADD_INPUT2_OFFSET] = -zp2;
    rec->p[TL_ADD_LEFT_SHIFT] = left_shift;
    tl_quantize_multiplier(real1, &rec->p[TL_ADD_INPUT1_MULT], &rec->p[TL_ADD_INPUT1_SHIFT]);
    tl_quantize_multiplier(real2, &rec->p[TL_ADD_INPUT2_MULT], &rec->p[TL_ADD_INPUT2_SHIFT]);
    tl_quantize_multiplier(real_out, &rec->p[TL_ADD_OUTPUT_MULT], &rec->p[TL_ADD_OUTPUT_SHIFT]);
    if (rec->p[TL_ADD_INPUT1_SHIFT] > 0 || rec->p[TL_ADD_INPUT2_SHIFT] > 0 ||
        rec->p[TL_ADD_OUTPUT_SHIFT] > 0) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

tl_status tl_softmax_constants(float beta, float input_scale, tl_op_rec *rec)
{
    /* TFLite's PreprocessSoftmaxScaling with 5 integer bits for the input. */
    const int int_bits = 5;
    double real = (double)beta * (double)input_scale * (double)(1 << (31 - int_bits));
    if (!isfinite(real) || !(real > 1.0)) {
        return TL_ERR_QUANT;
    }
    if (real > (double)((1ll << 31) - 1)) {
        real = (double)((1ll << 31) - 1);
    }
    int32_t multiplier, left_shift;
    tl_quantize_multiplier(real, &multiplier, &left_shift);
    if (real <= 1.0 || left_shift < 0 || left_shift > 30) {
        return TL_ERR_QUANT;
    }
    /* CalculateInputRadius; differences are at least -255, so clamp there. */
    const double radius = 1.0 * ((1 << int_bits) - 1) * (double)(1ll << (31 - int_bits)) /
                          (double)(1ll << left_shift);
    rec->p[TL_SOFTMAX_INPUT_MULT] = multiplier;
    rec->p[TL_SOFTMAX_INPUT_LEFT_SHIFT] = left_shift;
    rec->p[TL_SOFTMAX_DIFF_MIN] = radius > 255 ? -255 : -(int32_t)floor(radius);
    return TL_OK;
}

tl_status tl_mean_constants(float input_scale, float output_scale, uint32_t count, int32_t *multiplier,
                            int32_t *shift)
{
    if (!(input_scale > 0) || !(output_scale > 0) || !isfinite(input_scale) || !isfinite(output_scale) ||
        count == 0) {
        return TL_ERR_QUANT;
    }
    const double real = (double)input_scale / (double)output_scale;
    if (!isfinite(real)) {
        return TL_ERR_QUANT;
    }
    int32_t m, e;
    tl_quantize_multiplier(real, &m, &e);
    /* TFLite's QuantizedMeanOrSum folds 1 / count into the multiplier:
     * floor(log2 count) more bits, at most 32 and at most 31 + shift. */
    int bits = 0;
    while (bits < 62 && (1ull << (bits + 1)) <= count) {
        ++bits;
    }
    bits = bits < 32 ? bits : 32;
    bits = bits < 31 + e ? bits : 31 + e;
    *multiplier = (int32_t)(((int64_t)m << bits) / (int64_t)count);
    *shift = e - bits;
    return *shift >= -31 && *shift <= 30 ? TL_OK : TL_ERR_QUANT;
}

tl_status tl_sigmoid_constants(float input_scale, int32_t *multiplier, int32_t *shift, int32_t *radius)
{
    if (!(input_scale > 0) || !isfinite(input_scale)) {
        return TL_ERR_QUANT;
    }
    enum { INT_BITS = 4 };
    const double real = (double)input_scale * (double)(1 << (31 - INT_BITS));
    int exponent;
    const double q = frexp(real, &exponent);
    const double m = round(q * (double)(1ll << 31));
    if (m >= (double)(1ll << 31) || exponent > 30 || exponent < -31) {
        return TL_ERR_QUANT; /* TFLite Micro would overflow its int32 here */
    }
    *multiplier = (int32_t)m;
    *shift = exponent;
    /* TFLite's CalculateInputRadius(4, shift, 31). */
    const double max_rescaled = 1.0 * ((1 << INT_BITS) - 1) * (double)(1ll << (31 - INT_BITS)) / ldexp(1.0, exponent);
    const double r = floor(max_rescaled);
    *radius = r > 65536.0 ? 65536 : (int32_t)r;
    return TL_OK;
}

static float exp_of(float x)
{
    return expf(x);
}

static float one_over_one_plus(float x)
{
    return 1.0f / (1.0f + x);
}

/* TFLite's gen_lut<float, int16_t, int16_t>: 512 samples of f over
 * [lo, hi] in float, each biased by half the error of linear
 * interpolation at its interval's midpoint, then f(hi) for the last slope. */
static void gen_lut16(float (*f)(float), float lo, float hi, int16_t *lut)
{
    const int steps = 512;
    const float step = (hi - lo) / (float)steps, half_step = step / 2;
    const float scale = 65536.0f / 2.0f; /* (max - min + 1) / (output_max - output_min), outputs on [-1, 1] */
    for (int i = 0; i < steps; ++i) {
        const float val = f(lo + (float)i * step);
        const float val_mid = f(lo + (float)i * step + half_step);
        const float val_next = f(lo + (float)(i + 1) * step);
        const float sample = roundf(val * scale);
        const float interp = roundf((val_next * scale + roundf(val * scale)) / 2);
        const float mid = roundf(val_mid * scale);
        const float bias = roundf((interp - mid) / 2);
        const float v = sample - bias;
        lut[i] = (int16_t)(v < -32768.0f ? -32768.0f : (v > 32767.0f ? 32767.0f : v));
    }
    const float last = roundf(f(hi) * scale);
    lut[steps] = (int16_t)(last < -32768.0f ? -32768.0f : (last > 32767.0f ? 32767.0f : last));
}

void tl_softmax16_tables(int16_t exp_lut[513], int16_t reciprocal_lut[513])
{
    gen_lut16(exp_of, -10.0f, 0.0f, exp_lut);
    gen_lut16(one_over_one_plus, 0.0f, 1.0f, reciprocal_lut);
}
