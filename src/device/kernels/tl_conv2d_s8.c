/* tl_conv2d_s8.c - CONV_2D (and FULLY_CONNECTED) with dense int8 weights.
 *
 * No im2col buffer: the kernel walks the input window in place. The bias it
 * receives is the "effective bias" bias - in_zp * sum(w), so a valid tap
 * needs only sum(x * w); a padded tap is treated as an input equal to the
 * zero point (zp * sum(w) over the tap), which is exactly what TFLite's
 * "skip the tap" contributes once the bias is folded.
 * A pixel's valid taps form a rectangle; with dilation 1 each valid filter
 * row is one contiguous run of bytes in both input and filter, so border
 * pixels run as fast as interior ones. Four output channels are computed
 * per pass, so each input byte loaded feeds four multiply-accumulates
 * (dot.h). The Arm DSP build runs its own path instead (conv2d_dsp: two
 * pixels by two channels over sign-extended windows). With a fused residual ADD, each output value is requantised as
 * usual and then added to the residual element at the same index (TFLite's
 * ADD arithmetic); the residual is read just before that element is
 * written, so the output may overwrite the residual in place.
 */
#include "dot.h"
#include "fixedpoint.h"
#include "kernels.h"

#if defined(TL_DOT_DSP)
/* Windows of at most this many bytes (filter height x width x input
 * channels) are gathered into a stack buffer, padded taps as the zero
 * point: a first layer such as KWS's (10 x 4 taps, one channel) then runs
 * one 40-byte dot product per channel group instead of ten 4-byte rows
 * and a padding correction. */
#define CONV_GATHER_MAX 64

/* The valid taps of one output pixel, read in place or gathered. */
typedef struct conv_window {
    const int8_t *x;        /* input at the first valid tap, channel 0 */
    int32_t rows, span;     /* valid filter rows; bytes of one run of valid taps */
    int32_t x_row;          /* input bytes from one filter row to the next */
    int32_t cols, x_col;    /* runs in a row, input bytes apart (1 and 0 but with
                               dilation_w > 1, where each tap is a run) */
    int32_t w_first;        /* filter offset of the first valid tap */
    int32_t ky0, ky1, kx0, kx1;
    int padded;             /* taps outside the window to add as the zero point */
} conv_window;

/* Filter rows of one pixel's window (rows of them, the first reading input
 * row iy), padded taps as the zero point: each row is zero point, one run
 * of valid bytes, zero point. */
static void gather_rows(const tl_conv_params *p, const int8_t *image, int32_t iy, int32_t ix0,
                        int32_t rows, int8_t *buffer)
{
    const int8_t zero_point = (int8_t)-p->input_offset;
    const int32_t row_len = p->k_w * p->in_c;
    int32_t kx0, kx1;
    tl_valid_taps(ix0, p->k_w, 1, p->in_w, &kx0, &kx1);
    const int32_t before = kx0 * p->in_c, run = (kx1 - kx0) * p->in_c;
    for (int32_t r = 0; r < rows; ++r, iy += p->dilation_h, buffer += row_len) {
        int32_t i = 0;
        if (iy >= 0 && iy < p->in_h) {
            const int8_t *x = image + (iy * p->in_w + ix0 + kx0) * p->in_c;
            for (; i < before; ++i) {
                buffer[i] = zero_point;
            }
            for (int32_t j = 0; j < run; ++j) {
                buffer[i + j] = x[j];
            }
            i += run;
        }
        for (; i < row_len; ++i) {
            buffer[i] = zero_point;
        }
    }
}

/* Every output channel of one pixel, four at a time, on the Arm DSP
 * extension. Out of line on purpose: inlined into the pixel loops, gcc
 * spilled the dot product's pointers (28 instructions per 16 MACs, and
 * ~90 per output around it). */
static void __attribute__((noinline)) conv_pixel_dsp(const tl_conv_params *params,
                                                     const conv_window *win, int8_t *out,
                                                     const tl_residual_add *add)
{
    const tl_conv_params p = *params;
    const conv_window v = *win;
    const int8_t *filter = (const int8_t *)p.filter;
    const int32_t row_len = p.k_w * p.in_c;
    const int32_t filter_size = p.k_h * row_len;
    const int32_t zero_point = -p.input_offset;
    const int32_t last = p.out_c - 1;
    for (int32_t oc = 0; oc < p.out_c; oc += 4) {
        /* A short last block repeats its last channel and stores only the
         * real ones. */
        const int32_t c1 = oc + 1 < last ? oc + 1 : last;
        const int32_t c2 = oc + 2 < last ? oc + 2 : last;
        const int32_t c3 = oc + 3 < last ? oc + 3 : last;
        const int8_t *w0 = filter + oc * filter_size + v.w_first;
        const int8_t *w1 = filter + c1 * filter_size + v.w_first;
        const int8_t *w2 = filter + c2 * filter_size + v.w_first;
        const int8_t *w3 = filter + c3 * filter_size + v.w_first;
        int32_t acc[4] = { p.bias[oc], p.bias[c1], p.bias[c2], p.bias[c3] };
        const int8_t *x = v.x;
        for (int32_t r = 0, k = 0; r < v.rows && v.cols > 0;) {
            tl_dot4_s8(x + k * v.x_col, w0 + k * p.in_c, w1 + k * p.in_c, w2 + k * p.in_c,
                       w3 + k * p.in_c, v.span, acc);
            if (++k == v.cols) { /* the row's runs done: the next row */
                k = 0;
                ++r;
                x += v.x_row;
                w0 += row_len;
                w1 += row_len;
                w2 += row_len;
                w3 += row_len;
            }
        }
        if (v.padded) {
            const int8_t *w[4] = { filter + oc * filter_size, filter + c1 * filter_size,
                                   filter + c2 * filter_size, filter + c3 * filter_size };
            for (int32_t ky = 0; ky < p.k_h; ++ky) {
                for (int32_t kx = 0; kx < p.k_w; ++kx) {
                    if (ky >= v.ky0 && ky < v.ky1 && kx >= v.kx0 && kx < v.kx1) {
                        continue;
                    }
                    const int32_t wo = ky * row_len + kx * p.in_c;
                    for (int32_t k = 0; k < 4; ++k) {
                        acc[k] += zero_point * tl_sum_s8(w[k] + wo, p.in_c);
                    }
                }
            }
        }
        const int32_t n = p.out_c - oc < 4 ? p.out_c - oc : 4;
        for (int32_t k = 0; k < n; ++k) {
            const int32_t q = tl_requantize_dsp(acc[k], p.multiplier[oc + k], p.shift[oc + k]);
            int8_t o = tl_clamp_s8(q + p.output_offset, p.act_min, p.act_max);
            if (p.residual) {
                const int8_t r = p.residual[(out - p.output) + oc + k];
                o = add->conv_is_input1 ? tl_add_element(o, r, add) : tl_add_element(r, o, add);
            }
            out[oc + k] = o;
        }
    }
}

/* Windows of at most this many bytes run two pixels at a time: both
 * windows sign-extended once into a stack buffer, four int16 words per four
 * bytes (pixel 0 even and odd bytes, pixel 1 even and odd), then every pair
 * of output channels reads them with two LDRDs; the last size % 4 bytes
 * are multiplied one by one. 1.25 KB of stack, against CMSIS-NN's im2col
 * buffer of the same kind in the arena. */
#define CONV_PAIR_MAX 256

/* acc[2 * pixel + channel] += the two windows in xb (the layout above)
 * dotted with the filter rows w0 and w1, len bytes (a multiple of 4, > 0).
 * 18 instructions per 16 MACs: all 14 registers again, so written out and
 * out of line as tl_dot4_s8_dsp is. */
static __attribute__((noinline)) void mac_2x2(const int32_t *xb, const int8_t *w0, const int8_t *w1,
                                              int32_t len, int32_t acc[4])
{
    register int32_t a00 __asm__("r0") = acc[0];
    int32_t a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t at = -len, x0e, x0o, x1e, x1o, t, te;
    w0 += len;
    w1 += len;
    __asm__("1:\n\t"
            "ldrd %[x1e], %[x1o], [%[xb], #8]\n\t"
            "ldrd %[x0e], %[x0o], [%[xb]], #16\n\t"
            "ldr %[t], [%[w0], %[at]]\n\t"
            "sxtb16 %[te], %[t]\n\t"
            "sxtb16 %[t], %[t], ror #8\n\t"
            "smlad %[a00], %[x0e], %[te], %[a00]\n\t"
            "smlad %[a00], %[x0o], %[t], %[a00]\n\t"
            "smlad %[a10], %[x1e], %[te], %[a10]\n\t"
            "smlad %[a10], %[x1o], %[t], %[a10]\n\t"
            "ldr %[t], [%[w1], %[at]]\n\t"
            "sxtb16 %[te], %[t]\n\t"
            "sxtb16 %[t], %[t], ror #8\n\t"
            "smlad %[a01], %[x0e], %[te], %[a01]\n\t"
            "smlad %[a01], %[x0o], %[t], %[a01]\n\t"
            "smlad %[a11], %[x1e], %[te], %[a11]\n\t"
            "smlad %[a11], %[x1o], %[t], %[a11]\n\t"
            "adds %[at], %[at], #4\n\t"
            "bne 1b"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [at] "+r"(at),
              [xb] "+r"(xb), [x0e] "=&r"(x0e), [x0o] "=&r"(x0o), [x1e] "=&r"(x1e),
              [x1o] "=&r"(x1o), [t] "=&r"(t), [te] "=&r"(te)
            : [w0] "r"(w0), [w1] "r"(w1)
            : "cc", "memory");
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* mac_2x2 for the last n < 4 bytes, tail[pixel] holding them. Out of line
 * so that the channel loop's registers stay as they are without it. */
static __attribute__((noinline)) void mac_2x2_tail(int8_t tail[2][4], const int8_t *w0,
                                                   const int8_t *w1, int32_t n, int32_t acc[4])
{
    for (int32_t t = 0; t < n; ++t) {
        acc[0] += tail[0][t] * w0[t];
        acc[1] += tail[0][t] * w1[t];
        acc[2] += tail[1][t] * w0[t];
        acc[3] += tail[1][t] * w1[t];
    }
}

/* acc += the two pixels' windows (buffer, then the last len - whole bytes
 * in tail) dotted with the filter rows w0 and w1 over len bytes; whole is
 * len & ~3, found once by the caller. */
static inline void mac_pair(const int32_t *buffer, int8_t tail[2][4], const int8_t *w0, const int8_t *w1,
                            int32_t whole, int32_t len, int32_t acc[4])
{
    if (whole > 0) {
        mac_2x2(buffer, w0, w1, whole, acc);
    }
    if (whole < len) {
        mac_2x2_tail(tail, w0 + whole, w1 + whole, len - whole, acc);
    }
}

/* The fused ADD of one output value with its residual element. Out of
 * line: inlined into every store, it made gcc call the whole store instead. */
static __attribute__((noinline)) int8_t fused_add(const tl_conv_params *p, const int8_t *out,
                                                  int32_t oc, int8_t value, const tl_residual_add *add)
{
    const int8_t r = p->residual[(out - p->output) + oc];
    return add->conv_is_input1 ? tl_add_element(value, r, add) : tl_add_element(r, value, add);
}

/* One requantised output value at out[oc], with the fused ADD if any. */
static inline void store_output(const tl_conv_params *p, int8_t *out, int32_t oc, int32_t acc,
                                const tl_residual_add *add)
{
    const int32_t q = tl_requantize_dsp(acc, p->multiplier[oc], p->shift[oc]);
    const int8_t o = tl_clamp_s8(q + p->output_offset, p->act_min, p->act_max);
    out[oc] = p->residual ? fused_add(p, out, oc, o, add) : o;
}

/* Sign-extends one window (rows of span bytes, x_row apart; span a multiple
 * of 4) into the word slots 2 * pixel and 2 * pixel + 1 of buffer. */
static void widen_window(const int8_t *x, int32_t rows, int32_t span, int32_t x_row, int32_t pixel,
                         int32_t *buffer)
{
    int32_t *slot = buffer + 2 * pixel;
    for (int32_t r = 0; r < rows; ++r, x += x_row) {
        for (int32_t i = 0; i < span; i += 4, slot += 4) {
            const uint32_t v = tl_load32(x + i);
            slot[0] = __sxtb16(v);
            slot[1] = tl_sxtb16_ror8(v);
        }
    }
}

/* Filter rows ky .. ky + rows - 1 of pixel (oy, ox)'s window into the
 * buffer's slots for pixel: read in place when they are inside and whole
 * words, gathered first otherwise. Their last size % 4 bytes go to tail. */
static void widen_pixel(const tl_conv_params *p, const int8_t *image, int32_t oy, int32_t ox,
                        int32_t ky, int32_t rows, int32_t pixel, int8_t *gathered, int32_t *buffer,
                        int8_t *tail)
{
    const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
    const int32_t ix0 = ox * p->stride_w - p->pad_left;
    const int32_t row_len = p->k_w * p->in_c;
    const int32_t size = rows * row_len;
    const int inside = iy >= 0 && iy + (rows - 1) * p->dilation_h < p->in_h && ix0 >= 0 &&
                       ix0 + p->k_w <= p->in_w;
    if (inside && row_len % 4 == 0) {
        const int32_t row_stride = p->in_w * p->in_c;
        widen_window(image + iy * row_stride + ix0 * p->in_c, rows, row_len,
                     p->dilation_h * row_stride, pixel, buffer);
        return;
    }
    gather_rows(p, image, iy, ix0, rows, gathered);
    const int32_t whole = size & ~3;
    widen_window(gathered, 1, whole, 0, pixel, buffer);
    for (int32_t i = whole; i < size; ++i) {
        tail[i - whole] = gathered[i];
    }
}

/* One pixel, every output channel (conv_pixel_dsp), its window in place or
 * gathered when small and not one run of bytes. */
static void conv_single_dsp(const tl_conv_params *p, const int8_t *image, int32_t oy, int32_t ox,
                            int8_t *out, const tl_residual_add *add)
{
    const int32_t row_len = p->k_w * p->in_c;
    const int32_t row_stride = p->in_w * p->in_c;
    const int32_t filter_size = p->k_h * row_len;
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ix0 = ox * p->stride_w - p->pad_left;
    int32_t ky0, ky1, kx0, kx1;
    tl_valid_taps(iy0, p->k_h, p->dilation_h, p->in_h, &ky0, &ky1);
    tl_valid_taps(ix0, p->k_w, p->dilation_w, p->in_w, &kx0, &kx1);
    const int padded = p->input_offset != 0 && (ky0 > 0 || ky1 < p->k_h || kx0 > 0 || kx1 < p->k_w);
    const int runs = p->dilation_w == 1; /* each row's valid taps one run of bytes */
    int8_t gathered[CONV_GATHER_MAX];
    conv_window win = { .x = gathered, .rows = 1, .span = filter_size, .cols = 1 }; /* the whole window, gathered */
    if (filter_size > CONV_GATHER_MAX || !runs || (!padded && ky1 - ky0 <= 1)) {
        const conv_window in_place = {
            .x = image + (iy0 + ky0 * p->dilation_h) * row_stride + (ix0 + kx0 * p->dilation_w) * p->in_c,
            .rows = ky1 - ky0,
            .span = runs ? (kx1 - kx0) * p->in_c : p->in_c,
            .x_row = p->dilation_h * row_stride,
            .cols = runs ? 1 : kx1 - kx0,
            .x_col = p->dilation_w * p->in_c,
            .w_first = ky0 * row_len + kx0 * p->in_c,
            .ky0 = ky0, .ky1 = ky1, .kx0 = kx0, .kx1 = kx1,
            .padded = padded };
        win = in_place;
    } else {
        gather_rows(p, image, iy0, ix0, p->k_h, gathered);
    }
    conv_pixel_dsp(p, &win, out, add);
}

/* Windows over CONV_PAIR_MAX bytes run two pixels at a time one filter row
 * after another, the sums of up to this many output channels on the stack
 * between rows (ResNet-8's 3 x 3 x 64 windows). */
#define CONV_CHUNKED_CHANNELS 64

/* Two pixels, i and i + 1, of a layer whose windows are taken a filter row
 * at a time (conv2d_dsp). */
static __attribute__((noinline)) void conv_pair_by_rows(const tl_conv_params *p, const int8_t *image,
                                                        int32_t i, int8_t *out, int32_t *buffer,
                                                        int8_t *gathered, const tl_residual_add *add)
{
    const int8_t *filter = (const int8_t *)p->filter;
    const int32_t row_len = p->k_w * p->in_c;
    const int32_t filter_size = p->k_h * row_len;
    const int32_t whole = row_len & ~3;
    int32_t sums[2][CONV_CHUNKED_CHANNELS];
    int8_t tail[2][4];
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        sums[0][oc] = sums[1][oc] = p->bias[oc];
    }
    for (int32_t ky = 0; ky < p->k_h; ++ky) {
        widen_pixel(p, image, i / p->out_w, i % p->out_w, ky, 1, 0, gathered, buffer, tail[0]);
        widen_pixel(p, image, (i + 1) / p->out_w, (i + 1) % p->out_w, ky, 1, 1, gathered, buffer, tail[1]);
        for (int32_t oc = 0; oc < p->out_c; oc += 2) {
            const int32_t oc1 = oc + 1 < p->out_c ? oc + 1 : oc;
            const int8_t *w0 = filter + oc * filter_size + ky * row_len;
            const int8_t *w1 = filter + oc1 * filter_size + ky * row_len;
            int32_t acc[4] = { sums[0][oc], sums[0][oc1], sums[1][oc], sums[1][oc1] };
            mac_pair(buffer, tail, w0, w1, whole, row_len, acc);
            sums[0][oc] = acc[0];
            sums[1][oc] = acc[2];
            sums[0][oc1] = acc[1];
            sums[1][oc1] = acc[3];
        }
    }
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        store_output(p, out, oc, sums[0][oc], add);
        store_output(p, out + p->out_stride, oc, sums[1][oc], add);
    }
}

/* CONV_2D with dilation 1 across the image on the DSP extension: pixels in
 * pairs where the window allows (whole, or a filter row at a time), the
 * rest one at a time. */
static void conv2d_dsp(const tl_conv_params *params, const tl_residual_add *add)
{
    const tl_conv_params p = *params;
    const int8_t *filter = (const int8_t *)p.filter;
    const int32_t filter_size = p.k_h * p.k_w * p.in_c;
    const int32_t pixels = p.out_h * p.out_w;
    /* Pixel pairs read windows whose rows are runs of bytes. */
    const int32_t whole = filter_size & ~3; /* bytes the DSP loop takes; the rest one by one */
    const int pairs = filter_size <= CONV_PAIR_MAX && pixels > 1 && p.dilation_w == 1;
    const int pairs_by_rows = !pairs && pixels > 1 && p.k_w * p.in_c <= CONV_PAIR_MAX &&
                              p.out_c <= CONV_CHUNKED_CHANNELS && p.dilation_w == 1;
    int32_t buffer[CONV_PAIR_MAX];
    int8_t gathered[CONV_PAIR_MAX];
    int8_t tail[2][4];
    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * p.in_w * p.in_c;
        int8_t *out = p.output + b * pixels * p.out_stride;
        int32_t i = 0;
        for (; pairs && i + 2 <= pixels; i += 2, out += 2 * p.out_stride) {
            widen_pixel(&p, image, i / p.out_w, i % p.out_w, 0, p.k_h, 0, gathered, buffer, tail[0]);
            widen_pixel(&p, image, (i + 1) / p.out_w, (i + 1) % p.out_w, 0, p.k_h, 1, gathered, buffer,
                        tail[1]);
            for (int32_t oc = 0; oc < p.out_c; oc += 2) {
                /* An odd last channel is computed twice and stored once. */
                const int32_t oc1 = oc + 1 < p.out_c ? oc + 1 : oc;
                int32_t acc[4] = { p.bias[oc], p.bias[oc1], p.bias[oc], p.bias[oc1] };
                mac_pair(buffer, tail, filter + oc * filter_size, filter + oc1 * filter_size, whole, filter_size,
                         acc);
                store_output(&p, out, oc, acc[0], add);
                store_output(&p, out + p.out_stride, oc, acc[2], add);
                if (oc1 != oc) {
                    store_output(&p, out, oc1, acc[1], add);
                    store_output(&p, out + p.out_stride, oc1, acc[3], add);
                }
            }
        }
        for (; pairs_by_rows && i + 2 <= pixels; i += 2, out += 2 * p.out_stride) {
            conv_pair_by_rows(&p, image, i, out, buffer, gathered, add);
        }
        for (; i < pixels; ++i, out += p.out_stride) {
            conv_single_dsp(&p, image, i / p.out_w, i % p.out_w, out, add);
        }
    }
}
#endif

void tl_conv2d_s8(const tl_conv_params *params)
{
    /* A local copy: stores through int8_t pointers may alias anything, and
     * would otherwise force a reload of every parameter after each store. */
    const tl_conv_params p = *params;
    const tl_residual_add no_add = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    const tl_residual_add add = p.residual_add ? *p.residual_add : no_add;
#if defined(TL_DOT_DSP)
    conv2d_dsp(&p, &add);
#else
    const int8_t *filter = (const int8_t *)p.filter;
    const int32_t zero_point = -p.input_offset;
    const int32_t row_len = p.k_w * p.in_c;
    const int32_t row_stride = p.in_w * p.in_c;
    const int32_t filter_size = p.k_h * row_len;
    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * row_stride;
        int8_t *out = p.output + b * p.out_h * p.out_w * p.out_stride;
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_top;
            int32_t ky0, ky1;
            tl_valid_taps(iy0, p.k_h, p.dilation_h, p.in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p.out_w; ++ox, out += p.out_stride) {
                const int32_t ix0 = ox * p.stride_w - p.pad_left;
                int32_t kx0, kx1;
                tl_valid_taps(ix0, p.k_w, p.dilation_w, p.in_w, &kx0, &kx1);
                const int padded = zero_point != 0 &&
                                   (ky0 > 0 || ky1 < p.k_h || kx0 > 0 || kx1 < p.k_w);
                for (int32_t oc = 0; oc < p.out_c; oc += 4) {
                    /* Four channels at a time; a short last block repeats its
                     * last channel and stores only the real ones. */
                    const int32_t n = p.out_c - oc < 4 ? p.out_c - oc : 4;
                    const int8_t *w[4];
                    int32_t acc[4];
                    for (int32_t k = 0; k < 4; ++k) {
                        const int32_t c = oc + (k < n ? k : n - 1);
                        w[k] = filter + c * filter_size;
                        acc[k] = p.bias[c];
                    }
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *x = image + (iy0 + ky * p.dilation_h) * row_stride;
                        if (p.dilation_w == 1) {
                            const int32_t wo = ky * row_len + kx0 * p.in_c;
                            tl_dot4_s8(x + (ix0 + kx0) * p.in_c, w[0] + wo, w[1] + wo, w[2] + wo,
                                       w[3] + wo, (kx1 - kx0) * p.in_c, acc);
                            continue;
                        }
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            const int32_t wo = (ky * p.k_w + kx) * p.in_c;
                            tl_dot4_s8(x + (ix0 + kx * p.dilation_w) * p.in_c, w[0] + wo, w[1] + wo,
                                       w[2] + wo, w[3] + wo, p.in_c, acc);
                        }
                    }
                    if (padded) {
                        for (int32_t ky = 0; ky < p.k_h; ++ky) {
                            for (int32_t kx = 0; kx < p.k_w; ++kx) {
                                if (ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1) {
                                    continue;
                                }
                                const int32_t wo = (ky * p.k_w + kx) * p.in_c;
                                for (int32_t k = 0; k < 4; ++k) {
                                    acc[k] += zero_point * tl_sum_s8(w[k] + wo, p.in_c);
                                }
                            }
                        }
                    }
                    for (int32_t k = 0; k < n; ++k) {
                        const int32_t v = tl_requantize(acc[k], p.multiplier[oc + k], p.shift[oc + k]);
                        int8_t q = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                        if (p.residual) {
                            const int8_t r = p.residual[(out - p.output) + oc + k];
                            q = add.conv_is_input1 ? tl_add_element(q, r, &add) : tl_add_element(r, q, &add);
                        }
                        out[oc + k] = q;
                    }
                }
            }
        }
    }
#endif
}
