/* ed25519.c - Ed25519 signature verification (RFC 8032) for the device.
 *
 * Small rather than fast: field elements are 16 limbs of 16 bits (products
 * fit one 32x32->64 multiply-accumulate, which the Cortex-M4 does in one
 * instruction), points are in extended coordinates, and [S]B - [h]A is one
 * double-and-add over both scalars (Straus). No tables beyond the curve's
 * constants, no heap, a few hundred bytes of stack. It is not constant time
 * and need not be: everything it sees is public.
 *
 * What it accepts is what libsodium accepts (see ed25519.h); the constants
 * below were computed from the curve's definition, p = 2^255 - 19,
 * d = -121665/121666, B = (x, 4/5) with x even.
 */
#include <string.h>

#include "tinylarge/ed25519.h"

/* value = sum limb[i] * 2^(16 i). Limbs may run past 16 bits or below 0
 * between multiplications; fe_mul brings them back. */
typedef int32_t fe[16];

static const fe fe_d = { 0x78a3, 0x1359, 0x4dca, 0x75eb, 0xd8ab, 0x4141, 0x0a4d, 0x0070,
                         0xe898, 0x7779, 0x4079, 0x8cc7, 0xfe73, 0x2b6f, 0x6cee, 0x5203 };
static const fe fe_d2 = { 0xf159, 0x26b2, 0x9b94, 0xebd6, 0xb156, 0x8283, 0x149a, 0x00e0,
                          0xd130, 0xeef3, 0x80f2, 0x198e, 0xfce7, 0x56df, 0xd9dc, 0x2406 };
static const fe fe_sqrtm1 = { 0xa0b0, 0x4a0e, 0x1b27, 0xc4ee, 0xe478, 0xad2f, 0x1806, 0x2f43,
                              0xd7a7, 0x3dfb, 0x0099, 0x2b4d, 0xdf0b, 0x4fc1, 0x2480, 0x2b83 };

typedef struct ge {
    fe x, y, z, t;               /* x = X/Z, y = Y/Z, x y = T/Z */
} ge;

static const ge ge_base = {
    { 0xd51a, 0x8f25, 0x2d60, 0xc956, 0xa7b2, 0x9525, 0xc760, 0x692c,
      0xdc5c, 0xfdd6, 0xe231, 0xc0a4, 0x53fe, 0xcd6e, 0x36d3, 0x2169 },
    { 0x6658, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666,
      0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666 },
    { 1 },
    { 0xdda3, 0xa5b7, 0x8ab3, 0x6dde, 0x52f5, 0x7751, 0x9f80, 0x20f0,
      0xe37d, 0x64ab, 0x4e8e, 0x66ea, 0x7665, 0xd78b, 0x5f0f, 0x6787 },
};

/* The group order L = 2^252 + 27742317777372353535851937790883648493,
 * little-endian 32-bit words. */
static const uint32_t group_order[8] = { 0x5cf5d3ed, 0x5812631a, 0xa2f79cd6, 0x14def9de,
                                         0x00000000, 0x00000000, 0x00000000, 0x10000000 };

/* ---- field arithmetic mod p = 2^255 - 19 ---- */

/* One carry pass: every limb to [0, 2^16), the carry out of the top limb
 * folded back into limb 0 (2^256 = 38 mod p). Returns that carry. */
static int64_t carry_pass(int64_t t[16])
{
    int64_t c = 0;
    for (int i = 0; i < 16; ++i) {
        t[i] += c;
        c = t[i] >> 16;          /* floor: >> of a negative int64 is arithmetic on every target we build */
        t[i] -= c * 65536;
    }
    t[0] += 38 * c;
    return c;
}

static void fe_add(fe o, const fe a, const fe b)
{
    for (int i = 0; i < 16; ++i) {
        o[i] = a[i] + b[i];
    }
}

static void fe_sub(fe o, const fe a, const fe b)
{
    for (int i = 0; i < 16; ++i) {
        o[i] = a[i] - b[i];
    }
}

/* Column by column, each column folded as it is summed (2^256 = 38 mod p),
 * so the sum stays in a register pair (multiply-accumulate on the M4)
 * instead of a table in memory. Limbs of a and b below 2^20 in magnitude:
 * a term is below 2^46 with the 38, a column of 16 below 2^50. */
static void fe_mul(fe o, const fe a, const fe b)
{
    int32_t b38[16];
    for (int j = 0; j < 16; ++j) {
        b38[j] = 38 * b[j];
    }
    int64_t t[16];
    for (int k = 0; k < 16; ++k) {
        int64_t column = 0;
        for (int i = 0; i <= k; ++i) {
            column += (int64_t)a[i] * b[k - i];
        }
        for (int i = k + 1; i < 16; ++i) {
            column += (int64_t)a[i] * b38[k + 16 - i];
        }
        t[k] = column;
    }
    carry_pass(t);
    carry_pass(t);
    for (int i = 0; i < 16; ++i) {
        o[i] = (int32_t)t[i];
    }
}

static void fe_sq(fe o, const fe a)
{
    fe_mul(o, a, a);
}

/* The canonical 32 bytes (value in [0, p)). */
static void fe_pack(uint8_t out[32], const fe a)
{
    int64_t t[16];
    for (int i = 0; i < 16; ++i) {
        t[i] = a[i];
    }
    while (carry_pass(t) != 0) {
        /* a negative value folds up by 2^256 - 38 a pass until it is not */
    }
    for (int round = 0; round < 2; ++round) { /* value < 2^256 < 2p + 38: at most two p to take away */
        int64_t m[16], borrow = 0;
        for (int i = 0; i < 16; ++i) {
            const int64_t limb_of_p = i == 0 ? 0xffed : i == 15 ? 0x7fff : 0xffff;
            m[i] = t[i] - limb_of_p - borrow;
            borrow = m[i] < 0;
            m[i] += borrow * 65536;
        }
        if (!borrow) {
            memcpy(t, m, sizeof t);
        }
    }
    for (int i = 0; i < 16; ++i) {
        out[2 * i] = (uint8_t)t[i];
        out[2 * i + 1] = (uint8_t)(t[i] >> 8);
    }
}

static void fe_unpack(fe o, const uint8_t in[32])
{
    for (int i = 0; i < 16; ++i) {
        o[i] = in[2 * i] | (int32_t)in[2 * i + 1] << 8;
    }
    o[15] &= 0x7fff;
}

static int fe_is_zero(const fe a)
{
    uint8_t b[32];
    fe_pack(b, a);
    uint8_t any = 0;
    for (int i = 0; i < 32; ++i) {
        any |= b[i];
    }
    return any == 0;
}

static int fe_is_negative(const fe a)
{
    uint8_t b[32];
    fe_pack(b, a);
    return b[0] & 1;
}

/* a^e for an exponent all of whose bits from `top` down are 1 except those
 * in `zero_bits` (a mask over bits 0..31): p - 2 and (p - 5) / 8 are such. */
static void fe_pow_ones(fe o, const fe a, int top, uint32_t zero_bits)
{
    fe c;
    memcpy(c, a, sizeof c);
    for (int i = top - 1; i >= 0; --i) {
        fe_sq(c, c);
        if (i >= 32 || !((zero_bits >> i) & 1)) {
            fe_mul(c, c, a);
        }
    }
    memcpy(o, c, sizeof c);
}

static void fe_invert(fe o, const fe a)
{
    fe_pow_ones(o, a, 254, (1u << 2) | (1u << 4)); /* p - 2 = 2^255 - 21 */
}

static void fe_pow_p58(fe o, const fe a)
{
    fe_pow_ones(o, a, 251, 1u << 1); /* (p - 5) / 8 = 2^252 - 3 */
}

/* ---- points on -x^2 + y^2 = 1 + d x^2 y^2 ---- */

static void ge_identity(ge *r)
{
    memset(r, 0, sizeof *r);
    r->y[0] = 1;
    r->z[0] = 1;
}

/* Unified addition (Hisil, Wong, Carter, Dawson 2008, a = -1). */
static void ge_add(ge *r, const ge *p, const ge *q)
{
    fe a, b, c, d, t;
    fe_sub(a, p->y, p->x);
    fe_sub(t, q->y, q->x);
    fe_mul(a, a, t);
    fe_add(b, p->y, p->x);
    fe_add(t, q->y, q->x);
    fe_mul(b, b, t);
    fe_mul(c, p->t, q->t);
    fe_mul(c, c, fe_d2);
    fe_mul(d, p->z, q->z);
    fe_add(d, d, d);
    fe e, f, g, h;
    fe_sub(e, b, a);
    fe_sub(f, d, c);
    fe_add(g, d, c);
    fe_add(h, b, a);
    fe_mul(r->x, e, f);
    fe_mul(r->y, g, h);
    fe_mul(r->t, e, h);
    fe_mul(r->z, f, g);
}

/* Doubling in 4 squarings and 4 multiplications (same paper). */
static void ge_double(ge *r, const ge *p)
{
    fe a, b, c, e, f, g, h;
    fe_sq(a, p->x);
    fe_sq(b, p->y);
    fe_sq(c, p->z);
    fe_add(c, c, c);
    fe_add(e, p->x, p->y);
    fe_sq(e, e);
    fe_sub(e, e, a);
    fe_sub(e, e, b);
    fe_sub(g, b, a);
    fe_sub(f, g, c);
    fe_add(h, a, b);
    fe_sub(h, (const int32_t[16]){ 0 }, h);
    fe_mul(r->x, e, f);
    fe_mul(r->y, g, h);
    fe_mul(r->t, e, h);
    fe_mul(r->z, f, g);
}

static void ge_encode(uint8_t out[32], const ge *p)
{
    fe zi, x, y;
    fe_invert(zi, p->z);
    fe_mul(x, p->x, zi);
    fe_mul(y, p->y, zi);
    fe_pack(out, y);
    out[31] ^= (uint8_t)(fe_is_negative(x) << 7);
}

/* y from the low 255 bits, x from the curve equation and the top bit:
 * x = u v^3 (u v^7)^((p-5)/8) with u = y^2 - 1, v = d y^2 + 1, times
 * sqrt(-1) when that squares to -u/v. Non-zero if no such point exists. */
static int ge_decode(ge *r, const uint8_t s[32])
{
    fe y2, u, v, v3, x, check;
    static const fe one = { 1 };
    fe_unpack(r->y, s);
    memcpy(r->z, one, sizeof one);
    fe_sq(y2, r->y);
    fe_sub(u, y2, one);
    fe_mul(v, y2, fe_d);
    fe_add(v, v, one);
    fe_sq(v3, v);
    fe_mul(v3, v3, v);
    fe_sq(x, v3);
    fe_mul(x, x, v);
    fe_mul(x, x, u);
    fe_pow_p58(x, x);
    fe_mul(x, x, v3);
    fe_mul(x, x, u);
    fe_sq(check, x);
    fe_mul(check, check, v);
    fe diff;
    fe_sub(diff, check, u);
    if (!fe_is_zero(diff)) {
        fe_add(diff, check, u);
        if (!fe_is_zero(diff)) {
            return -1;
        }
        fe_mul(x, x, fe_sqrtm1);
    }
    if (fe_is_negative(x) != (s[31] >> 7)) {
        fe_sub(x, (const int32_t[16]){ 0 }, x);
    }
    memcpy(r->x, x, sizeof x);
    fe_mul(r->t, r->x, r->y);
    return 0;
}

/* Of order dividing 8 (the identity among them): [8]P has x = 0. */
static int ge_small_order(const ge *p)
{
    ge q;
    ge_double(&q, p);
    ge_double(&q, &q);
    ge_double(&q, &q);
    return fe_is_zero(q.x);
}

/* y below p: the one encoding libsodium accepts for a public key. */
static int y_canonical(const uint8_t s[32])
{
    if ((s[31] & 0x7f) != 0x7f || s[0] < 0xed) {
        return 1;
    }
    for (int i = 1; i < 31; ++i) {
        if (s[i] != 0xff) {
            return 1;
        }
    }
    return 0;
}

/* ---- scalars mod L ---- */

static void load_words(uint32_t w[8], const uint8_t b[32])
{
    for (int i = 0; i < 8; ++i) {
        w[i] = b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
    }
}

static int below_order(const uint32_t w[8])
{
    for (int i = 7; i >= 0; --i) {
        if (w[i] != group_order[i]) {
            return w[i] < group_order[i];
        }
    }
    return 0;
}

/* The 512-bit hash mod L, a bit at a time (r = 2r + bit, less L when it
 * reaches L): a few hundred thousand instructions, next to millions for the
 * point arithmetic, in ten lines that are plainly right. */
static void reduce_hash(uint8_t out[32], const uint8_t hash[64])
{
    uint32_t r[8] = { 0 };
    for (int bit = 511; bit >= 0; --bit) {
        for (int i = 7; i > 0; --i) {
            r[i] = r[i] << 1 | r[i - 1] >> 31;
        }
        r[0] = r[0] << 1 | ((hash[bit >> 3] >> (bit & 7)) & 1u);
        if (!below_order(r)) {
            uint32_t borrow = 0;
            for (int i = 0; i < 8; ++i) {
                const uint64_t d = (uint64_t)r[i] - group_order[i] - borrow;
                r[i] = (uint32_t)d;
                borrow = (uint32_t)(d >> 63);
            }
        }
    }
    for (int i = 0; i < 8; ++i) {
        for (int k = 0; k < 4; ++k) {
            out[4 * i + k] = (uint8_t)(r[i] >> (8 * k));
        }
    }
}

static int scalar_bit(const uint8_t s[32], int i)
{
    return (s[i >> 3] >> (i & 7)) & 1;
}

/* ---- verification ---- */

void tl_ed25519_check_init(tl_ed25519_check *check, const uint8_t signature[64], const uint8_t public_key[32])
{
    memcpy(check->signature, signature, 64);
    memcpy(check->public_key, public_key, 32);
    tl_sha512_init(&check->hash);
    tl_sha512_update(&check->hash, signature, 32);
    tl_sha512_update(&check->hash, public_key, 32);
}

void tl_ed25519_check_update(tl_ed25519_check *check, const void *message, size_t size)
{
    tl_sha512_update(&check->hash, message, size);
}

tl_status tl_ed25519_check_final(tl_ed25519_check *check)
{
    const uint8_t *r_bytes = check->signature, *s_bytes = check->signature + 32;
    uint8_t digest[64], h[32];
    tl_sha512_final(&check->hash, digest);
    reduce_hash(h, digest);
    uint32_t s_words[8];
    load_words(s_words, s_bytes);
    ge a, r;
    if (!below_order(s_words) || !y_canonical(check->public_key) || ge_decode(&a, check->public_key) != 0 ||
        ge_small_order(&a) || ge_decode(&r, r_bytes) != 0 || ge_small_order(&r)) {
        return TL_ERR_SIGNATURE;
    }
    /* [S]B + [h](-A), both scalars in one pass from their top bit. */
    ge neg_a = a, both, q;
    fe_sub(neg_a.x, (const int32_t[16]){ 0 }, a.x);
    fe_sub(neg_a.t, (const int32_t[16]){ 0 }, a.t);
    ge_add(&both, &ge_base, &neg_a);
    ge_identity(&q);
    for (int i = 252; i >= 0; --i) { /* S and h are below L < 2^253 */
        ge_double(&q, &q);
        const int sb = scalar_bit(s_bytes, i), hb = scalar_bit(h, i);
        if (sb || hb) {
            ge_add(&q, &q, sb && hb ? &both : sb ? &ge_base : &neg_a);
        }
    }
    uint8_t encoded[32];
    ge_encode(encoded, &q);
    return memcmp(encoded, r_bytes, 32) == 0 ? TL_OK : TL_ERR_SIGNATURE;
}

tl_status tl_ed25519_verify(const uint8_t signature[64], const void *message, size_t size,
                            const uint8_t public_key[32])
{
    tl_ed25519_check check;
    tl_ed25519_check_init(&check, signature, public_key);
    tl_ed25519_check_update(&check, message, size);
    return tl_ed25519_check_final(&check);
}
