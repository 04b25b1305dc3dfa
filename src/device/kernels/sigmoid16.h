/* sigmoid16.h - the 16-bit sigmoid and tanh of TFLite's int16 kernels and
 * of its integer LSTM: a 256-entry table of sigmoid(i / 24) in Q0.16,
 * linearly interpolated, tanh read from it as 2 sigmoid(2x) - 1. The table
 * holds the values TFLite's kernels use (they differ from a plain rounding
 * of the function in the last bit in 44 places, by up to 1.1, so they are
 * data, not a formula); test_kernels checks each against sigmoid(i / 24).
 */
#ifndef TL_SIGMOID16_H
#define TL_SIGMOID16_H

#include <stdint.h>

/* In sigmoid16.c: one copy however many kernels read it. */
extern const uint16_t tl_sigmoid_table_q16[256];

/* sigmoid(x) for an int16 x scaled by `multiplier` then right-shifted by
 * `shift` into the table's units (2^9 per entry), as an int16 in Q0.15. */
static inline int16_t tl_sigmoid_s16_scaled(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t rounding = shift > 0 ? 1 << (shift - 1) : 0;
    const int32_t v = (x * multiplier + rounding) >> shift;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t hi = a >> 9;
    uint32_t r;
    if (hi >= 255) {
        r = 0x7FFFu << 10;
    } else {
        const uint32_t lo_val = tl_sigmoid_table_q16[hi], hi_val = tl_sigmoid_table_q16[hi + 1];
        r = (lo_val << 9) + (a & 0x1FFu) * (hi_val - lo_val);
    }
    r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
    return (int16_t)(r >> 10);
}

/* sigmoid(x) for x in Q3.12 (the LSTM's gates): the table's units are x * 3. */
static inline int16_t tl_sigmoid_s16(int32_t x)
{
    return tl_sigmoid_s16_scaled(x, 3, 0);
}

/* tanh(x) for an int16 x scaled by `multiplier` then right-shifted by
 * `shift` into the table's units (2^8 per entry), as an int16 in Q0.15. */
static inline int16_t tl_tanh_s16(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t rounding = shift > 0 ? 1 << (shift - 1) : 0;
    const int32_t v = (x * multiplier + rounding) >> shift;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t hi = a >> 8;
    int32_t r;
    if (hi >= 255) {
        r = 0xFFFF << 8;
    } else {
        const uint32_t lo_val = tl_sigmoid_table_q16[hi], hi_val = tl_sigmoid_table_q16[hi + 1];
        r = (int32_t)((lo_val << 8) + (a & 0xFFu) * (hi_val - lo_val));
    }
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(r >> 8);
}

#endif /* TL_SIGMOID16_H */
