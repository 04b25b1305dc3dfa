/* secagg.c - secure aggregation (Bonawitz et al. 2017, with SecAgg+'s
 * sparse neighbourhoods): each party's steps (federated.h), which the
 * edge server and its devices call over CoAP, and a whole round with every
 * party in this process, for the simulator.
 *
 * The four steps, as in the paper:
 *   0. advertise: each client sends two X25519 public keys (c: to encrypt
 *      shares, s: to agree masks); the server relays the neighbours'.
 *   1. share: each client draws a mask seed b and deals Shamir shares of b
 *      and of its s secret key to its neighbours, each share encrypted
 *      (XSalsa20-Poly1305) under the key it agrees with that neighbour.
 *   2. masked input: y_i = x_i + PRG(b_i) + sum_{j > i} PRG(s_ij)
 *      - sum_{j < i} PRG(s_ij) (mod 2^32), PRG = Salsa20; some drop here.
 *   3. unmask: told who survived, each survivor opens the shares it holds:
 *      of b for a surviving neighbour, of s for a dropped one (never both
 *      for one client). The server rebuilds those secrets and removes the
 *      masks that do not cancel.
 * Masks are added in a fixed order of uint32 words (little-endian
 * keystream), so the sum is exact.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tinylarge/secagg.h"
#include "tinylarge/host.h"

/* ---- GF(2^8) (AES's polynomial x^8 + x^4 + x^3 + x + 1) and Shamir ---- */

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
    uint8_t p = 0;
    while (b) {
        if (b & 1u) {
            p ^= a;
        }
        a = (uint8_t)((a << 1) ^ ((a & 0x80u) ? 0x1bu : 0u));
        b >>= 1;
    }
    return p;
}

static uint8_t gf_inv(uint8_t a)
{
    uint8_t r = 1; /* a^254 = a^-1 */
    for (int i = 0; i < 7; ++i) {
        a = gf_mul(a, a);
        r = gf_mul(r, a);
    }
    return r;
}

static uint64_t next_u64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

void tl_shamir_split(const uint8_t *secret, size_t size, int threshold, int count, const uint8_t *xs,
                     uint8_t *const *shares, uint64_t *rng)
{
    uint8_t coef[256];
    for (size_t b = 0; b < size; ++b) {
        coef[0] = secret[b];
        for (int k = 1; k < threshold; ++k) {
            coef[k] = (uint8_t)(next_u64(rng) >> 56);
        }
        for (int i = 0; i < count; ++i) {
            uint8_t y = 0; /* Horner */
            for (int k = threshold - 1; k >= 0; --k) {
                y = (uint8_t)(gf_mul(y, xs[i]) ^ coef[k]);
            }
            shares[i][b] = y;
        }
    }
}

void tl_shamir_combine(const uint8_t *const *shares, const uint8_t *xs, int count, size_t size, uint8_t *secret)
{
    uint8_t lagrange[256];
    for (int i = 0; i < count; ++i) { /* l_i(0) = prod_{j != i} x_j / (x_j - x_i) */
        uint8_t num = 1, den = 1;
        for (int j = 0; j < count; ++j) {
            if (j != i) {
                num = gf_mul(num, xs[j]);
                den = gf_mul(den, (uint8_t)(xs[j] ^ xs[i]));
            }
        }
        lagrange[i] = gf_mul(num, gf_inv(den));
    }
    for (size_t b = 0; b < size; ++b) {
        uint8_t s = 0;
        for (int i = 0; i < count; ++i) {
            s ^= gf_mul(shares[i][b], lagrange[i]);
        }
        secret[b] = s;
    }
}

/* ---- fixed point ---- */

void tl_fixed_encode(const float *v, size_t dim, int frac_bits, int32_t limit, uint32_t *out)
{
    const double scale = ldexp(1.0, frac_bits);
    for (size_t i = 0; i < dim; ++i) {
        double q = nearbyint((double)v[i] * scale);
        q = q > limit ? limit : (q < -limit ? -limit : q);
        out[i] = (uint32_t)(int32_t)q;
    }
}

void tl_fixed_decode(const uint32_t *sum, size_t dim, int frac_bits, float *out)
{
    const double scale = ldexp(1.0, -frac_bits);
    for (size_t i = 0; i < dim; ++i) {
        out[i] = (float)((double)(int32_t)sum[i] * scale);
    }
}

/* ---- the protocol ---- */

/* P(Binomial(k, keep) < t). */
static double below_threshold(int k, double keep, int t)
{
    double p = 0.0;
    for (int s = 0; s < t && s <= k; ++s) {
        p += exp(lgamma(k + 1.0) - lgamma(s + 1.0) - lgamma(k - s + 1.0) + s * log(keep) +
                 (k - s) * log1p(-keep));
    }
    return p;
}

tl_secagg_params tl_secagg_default(int clients, size_t dim, double dropout, double threshold)
{
    tl_secagg_params p = { clients, clients - 1, 0, dim, 2 };
    const double f = threshold > 0.0 && threshold < 1.0 ? threshold : 0.5;
    /* The smallest even degree (from 2 ceil(log2 n)) whose neighbourhoods
     * all keep a threshold of survivors but with odds below 1e-4 in the
     * round, at the expected dropout; everyone when n is small. */
    const double keep = 1.0 - (dropout > 0.0 ? dropout : 0.0);
    int k0 = 4; /* at least 2 ceil(log2 n), SecAgg+'s O(log n) */
    while (k0 < 64 && (1 << (k0 / 2)) < clients) {
        k0 += 2;
    }
    for (int k = k0; keep > f && k < clients - 1 && k <= 254; k += 2) {
        if (clients * below_threshold(k, keep, (int)(f * k) + 1) < 1e-4) {
            p.degree = k;
            break;
        }
    }
    p.threshold = (int)(f * p.degree) + 1;
    return p;
}

/* Neighbour q (0-based) of client i: offsets +1, -1, +2, -2, ... on the
 * ring, or everyone else in order when the graph is complete. */
int tl_secagg_neighbour(const tl_secagg_params *p, int i, int q)
{
    const int n = p->clients;
    if (p->degree >= n - 1) {
        return q < i ? q : q + 1;
    }
    const int off = q / 2 + 1;
    return (q % 2 == 0) ? (i + off) % n : (i - off + n) % n;
}

int tl_secagg_position(const tl_secagg_params *p, int i, int j)
{
    const int n = p->clients;
    if (j == i || j < 0 || j >= n) {
        return -1;
    }
    if (p->degree >= n - 1) {
        return j < i ? j : j - 1;
    }
    /* tl_secagg_neighbour()'s inverse: offset +d is position 2(d - 1), -d is 2(d - 1) + 1. */
    const int ahead = (j - i + n) % n, behind = n - ahead;
    if (ahead <= p->degree / 2) {
        return 2 * (ahead - 1);
    }
    return behind <= p->degree / 2 ? 2 * (behind - 1) + 1 : -1;
}

/* The key two clients agree from X25519, bound to the pair and a purpose. */
static int pair_key(const uint8_t *sk, const uint8_t *peer_pk, int i, int j, char purpose, uint8_t key[32])
{
    uint8_t shared[32];
    if (crypto_scalarmult(shared, sk, peer_pk) != 0) {
        return -1;
    }
    const uint32_t lo = (uint32_t)(i < j ? i : j), hi = (uint32_t)(i < j ? j : i);
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, shared, 32);
    crypto_generichash_update(&h, (const uint8_t *)&lo, 4);
    crypto_generichash_update(&h, (const uint8_t *)&hi, 4);
    crypto_generichash_update(&h, (const uint8_t *)&purpose, 1);
    crypto_generichash_final(&h, key, 32);
    sodium_memzero(shared, sizeof shared);
    return 0;
}

/* One mask to add (+1) or subtract (-1) over the whole vector. */
typedef struct mask_job {
    uint8_t key[32];
    int sign;
} mask_job;

#define CHUNK_WORDS 4096u /* 16 KB of keystream at a time: stays in L1/L2 */

/* Word-wise addition modulo 2^32; restrict (the keystream buffer is never
 * the accumulator) lets the compiler use vector adds. */
static void add_words(uint32_t *restrict acc, const uint32_t *restrict ks, size_t n)
{
    for (size_t k = 0; k < n; ++k) {
        acc[k] += ks[k];
    }
}

static void sub_words(uint32_t *restrict acc, const uint32_t *restrict ks, size_t n)
{
    for (size_t k = 0; k < n; ++k) {
        acc[k] -= ks[k];
    }
}

/* acc[w0, w1) +-= the Salsa20 keystream of `key` at words [w0, w1) (w0 a
 * multiple of 16: a 64-byte block). Salsa20 (all 20 rounds) rather than
 * ChaCha20: the fastest of libsodium's stream ciphers here, 14% ahead with
 * both cores busy (bench/secagg.c prg), and the unmasking is mostly
 * keystream. A key masks one
 * vector once, so the nonce can be fixed. */
static void apply_mask(uint32_t *acc, size_t w0, size_t w1, const uint8_t key[32], int sign, uint32_t *buf)
{
    static const uint8_t nonce[crypto_stream_salsa20_NONCEBYTES] = { 0 };
    for (size_t w = w0; w < w1; w += CHUNK_WORDS) {
        const size_t n = w1 - w < CHUNK_WORDS ? w1 - w : CHUNK_WORDS;
        memset(buf, 0, n * 4);
        crypto_stream_salsa20_xor_ic((uint8_t *)buf, (const uint8_t *)buf, n * 4, nonce, (uint64_t)(w / 16), key);
        if (sign > 0) {
            add_words(acc + w, buf, n);
        } else {
            sub_words(acc + w, buf, n);
        }
    }
}

typedef struct slice {
    void (*fn)(void *, int, int);
    void *ctx;
    int t, threads;
} slice;

static void *run_slice(void *arg)
{
    const slice *sl = arg;
    sl->fn(sl->ctx, sl->t, sl->threads);
    return NULL;
}

/* Runs fn(ctx, t, threads) for t in [0, threads), on threads - 1 new
 * threads and this one. */
static void run_parallel(int threads, void (*fn)(void *ctx, int t, int threads), void *ctx)
{
    threads = threads < 1 ? 1 : (threads > 16 ? 16 : threads);
    slice sl[16];
    pthread_t tid[16];
    int started[16] = { 0 };
    for (int t = 0; t < threads; ++t) {
        sl[t] = (slice){ fn, ctx, t, threads };
    }
    for (int t = 1; t < threads; ++t) {
        started[t] = pthread_create(&tid[t], NULL, run_slice, &sl[t]) == 0;
    }
    fn(ctx, 0, threads);
    for (int t = 1; t < threads; ++t) {
        if (started[t]) {
            pthread_join(tid[t], NULL);
        } else {
            fn(ctx, t, threads); /* no thread: this one does its share */
        }
    }
}

typedef struct mask_work {
    uint32_t *acc;
    size_t dim;
    const mask_job *jobs;
    size_t count;
    atomic_int failed;
} mask_work;

/* Thread t's share: every job over its slice of the vector (whole 64-byte
 * keystream blocks), so no two threads touch the same words. */
static void mask_slice(void *ctx, int t, int threads)
{
    mask_work *m = ctx;
    const size_t blocks = (m->dim + 15) / 16;
    size_t w0 = blocks * (size_t)t / (size_t)threads * 16, w1 = blocks * (size_t)(t + 1) / (size_t)threads * 16;
    w0 = w0 > m->dim ? m->dim : w0;
    w1 = w1 > m->dim ? m->dim : w1;
    uint32_t *buf = malloc(CHUNK_WORDS * 4);
    if (!buf) {
        atomic_store(&m->failed, 1);
        return;
    }
    for (size_t j = 0; j < m->count; ++j) {
        apply_mask(m->acc, w0, w1, m->jobs[j].key, m->jobs[j].sign, buf);
    }
    free(buf);
}

/* Applies every job to acc[dim], the vector split across `threads`. */
static tl_status apply_masks(uint32_t *acc, size_t dim, const mask_job *jobs, size_t count, int threads)
{
    mask_work m = { acc, dim, jobs, count, 0 };
    run_parallel(threads, mask_slice, &m);
    return atomic_load(&m.failed) ? TL_ERR_NOMEM : TL_OK;
}

/* ---- a client's steps ---- */

void tl_secagg_client_keys(tl_secagg_client *c, const uint8_t secret[96])
{
    memcpy(c->c_sk, secret, 32);
    memcpy(c->s_sk, secret + 32, 32);
    memcpy(c->b, secret + 64, 32);
    crypto_scalarmult_base(c->c_pk, c->c_sk);
    crypto_scalarmult_base(c->s_pk, c->s_sk);
}

#define SHARE_PLAIN 64 /* share of s_sk, share of b */

/* Dealer `from` seals for holder `to`: the nonce binds the box to the pair
 * and its direction, so a box relayed to the wrong holder does not open. */
static void share_nonce(int from, int to, uint8_t nonce[crypto_secretbox_NONCEBYTES])
{
    memset(nonce, 0, crypto_secretbox_NONCEBYTES);
    memcpy(nonce, &from, 4);
    memcpy(nonce + 4, &to, 4);
}

static int valid_params(const tl_secagg_params *p)
{
    const int n = p->clients, k = p->degree, t = p->threshold;
    return n >= 2 && k >= 1 && k <= n - 1 && k <= 254 && t >= 1 && t <= k && (k == n - 1 || k % 2 == 0) &&
           sodium_init() >= 0;
}

tl_status tl_secagg_deal(const tl_secagg_params *p, int i, const tl_secagg_client *c, const uint8_t *c_pks,
                         uint64_t *rng, uint8_t *boxes)
{
    if (!valid_params(p) || i < 0 || i >= p->clients) {
        return TL_ERR_ARG;
    }
    const int k = p->degree;
    uint8_t xs[254] = { 0 }, plain[254][SHARE_PLAIN];
    uint8_t *share_s[254] = { 0 }, *share_b[254] = { 0 };
    for (int q = 0; q < k; ++q) {
        xs[q] = (uint8_t)(q + 1); /* a holder's x: its position among i's neighbours, + 1 */
        share_s[q] = plain[q];
        share_b[q] = plain[q] + 32;
    }
    tl_shamir_split(c->s_sk, 32, p->threshold, k, xs, share_s, rng);
    tl_shamir_split(c->b, 32, p->threshold, k, xs, share_b, rng);
    tl_status st = TL_OK;
    for (int q = 0; q < k && st == TL_OK; ++q) {
        const int j = tl_secagg_neighbour(p, i, q);
        uint8_t key[32], nonce[crypto_secretbox_NONCEBYTES];
        if (pair_key(c->c_sk, c_pks + (size_t)j * 32, i, j, 'e', key) != 0) {
            st = TL_ERR_SIGNATURE; /* a neighbour's key is a low-order point */
            break;
        }
        share_nonce(i, j, nonce);
        crypto_secretbox_easy(boxes + (size_t)q * TL_SECAGG_BOX_BYTES, plain[q], SHARE_PLAIN, nonce, key);
        sodium_memzero(key, sizeof key);
    }
    sodium_memzero(plain, sizeof plain);
    return st;
}

tl_status tl_secagg_mask(const tl_secagg_params *p, int i, const tl_secagg_client *c, const uint8_t *s_pks,
                         const uint8_t *live, const uint32_t *input, uint32_t *masked)
{
    if (!valid_params(p) || i < 0 || i >= p->clients) {
        return TL_ERR_ARG;
    }
    mask_job jobs[255];
    size_t n = 0;
    memcpy(jobs[n].key, c->b, 32);
    jobs[n++].sign = 1;
    for (int q = 0; q < p->degree; ++q) {
        const int j = tl_secagg_neighbour(p, i, q);
        if (live && !live[j]) {
            continue; /* j dealt no shares: it is out of the round, and nobody masks with it */
        }
        if (pair_key(c->s_sk, s_pks + (size_t)j * 32, i, j, 'm', jobs[n].key) != 0) {
            sodium_memzero(jobs, sizeof jobs);
            return TL_ERR_SIGNATURE;
        }
        jobs[n++].sign = j > i ? 1 : -1;
    }
    memmove(masked, input, p->dim * sizeof(uint32_t));
    const tl_status st = apply_masks(masked, p->dim, jobs, n, 1);
    sodium_memzero(jobs, sizeof jobs);
    return st;
}

tl_status tl_secagg_open(const tl_secagg_params *p, int j, const tl_secagg_client *c, const uint8_t *c_pks,
                         const uint8_t *held, const uint8_t *live, const uint8_t *survived, uint8_t *opened,
                         uint8_t *have)
{
    if (!valid_params(p) || j < 0 || j >= p->clients) {
        return TL_ERR_ARG;
    }
    tl_status st = TL_OK;
    for (int q = 0; q < p->degree && st == TL_OK; ++q) {
        const int i = tl_secagg_neighbour(p, j, q); /* the dealer of held[q] */
        have[q] = 0;
        if (!live[i]) {
            continue;
        }
        uint8_t key[32], nonce[crypto_secretbox_NONCEBYTES], got[SHARE_PLAIN];
        share_nonce(i, j, nonce);
        if (pair_key(c->c_sk, c_pks + (size_t)i * 32, j, i, 'e', key) != 0 ||
            crypto_secretbox_open_easy(got, held + (size_t)q * TL_SECAGG_BOX_BYTES, TL_SECAGG_BOX_BYTES, nonce,
                                       key) != 0) {
            st = TL_ERR_SIGNATURE; /* not the box i sealed for j */
        } else {
            /* Never both shares of one client: b if it survived, s if it dropped. */
            memcpy(opened + (size_t)q * 32, got + (survived[i] ? 32 : 0), 32);
            have[q] = 1;
        }
        sodium_memzero(key, sizeof key);
        sodium_memzero(got, sizeof got);
    }
    return st;
}

/* ---- the server's unmasking ---- */

typedef struct unmask_ctx {
    const tl_secagg_params *p;
    const uint8_t *s_pks, *opened, *have, *live, *survived;
    const size_t *first_job;
    mask_job *jobs;
    atomic_int status; /* a failure (any thread may set it) */
} unmask_ctx;

/* Rebuilds client i's secret and writes the masks to remove into its slots. */
static tl_status unmask_client(const unmask_ctx *u, int i)
{
    const tl_secagg_params *p = u->p;
    const int k = p->degree, t = p->threshold;
    if (!u->live[i]) {
        return TL_OK;
    }
    const uint8_t *shares[254];
    uint8_t sx[254];
    int m = 0;
    for (int q = 0; q < k && m < t; ++q) {
        if (u->have[(size_t)i * k + q]) {
            shares[m] = u->opened + ((size_t)i * k + q) * 32;
            sx[m++] = (uint8_t)(q + 1);
        }
    }
    if (m < t) {
        return TL_ERR_STATE; /* too few survivors around client i */
    }
    uint8_t secret[32];
    tl_shamir_combine(shares, sx, t, 32, secret);
    mask_job *job = u->jobs + u->first_job[i];
    tl_status st = TL_OK;
    if (u->survived[i]) {
        memcpy(job->key, secret, 32); /* its own mask seed b */
        job->sign = -1;
    } else {
        uint8_t pk[32];
        crypto_scalarmult_base(pk, secret);
        if (sodium_memcmp(pk, u->s_pks + (size_t)i * 32, 32) != 0) {
            st = TL_ERR_SIGNATURE; /* the shares do not rebuild the key it advertised */
        }
        for (int q = 0; q < k && st == TL_OK; ++q) {
            const int j = tl_secagg_neighbour(p, i, q);
            if (!u->survived[j]) {
                continue; /* neither sent: their pair mask is in no vector */
            }
            /* Survivor j added +PRG(s_ji) if i > j, else -PRG(s_ji): take it back. */
            if (pair_key(secret, u->s_pks + (size_t)j * 32, i, j, 'm', job->key) != 0) {
                st = TL_ERR_SIGNATURE;
            }
            (job++)->sign = i > j ? -1 : 1;
        }
    }
    sodium_memzero(secret, sizeof secret);
    return st;
}

static void unmask_slice(void *ctx, int t, int threads)
{
    unmask_ctx *u = ctx;
    for (int i = t; i < u->p->clients; i += threads) {
        const tl_status st = unmask_client(u, i);
        if (st != TL_OK) {
            atomic_store(&u->status, (int)st); /* any failure voids the round; which one wins does not matter */
        }
    }
}

tl_status tl_secagg_unmask(const tl_secagg_params *p, const uint8_t *s_pks, const uint8_t *opened,
                           const uint8_t *have, const uint8_t *live, const uint8_t *survived, uint32_t *sum)
{
    if (!valid_params(p)) {
        return TL_ERR_ARG;
    }
    const int n = p->clients, k = p->degree;
    for (int i = 0; i < n; ++i) {
        if (survived[i] && !live[i]) {
            return TL_ERR_ARG; /* a masked vector from a client that dealt no shares */
        }
    }
    /* Each client's masks to remove have their own slots in `jobs` (a
     * survivor: its seed; a dropped one: one per surviving neighbour), so
     * the secrets are rebuilt on the threads too. */
    size_t *first_job = malloc(sizeof(size_t) * ((size_t)n + 1));
    size_t jobs_n = 0;
    for (int i = 0; first_job && i < n; ++i) {
        first_job[i] = jobs_n;
        if (!live[i]) {
            continue;
        }
        if (survived[i]) {
            jobs_n += 1;
            continue;
        }
        for (int q = 0; q < k; ++q) {
            jobs_n += survived[tl_secagg_neighbour(p, i, q)] != 0;
        }
    }
    mask_job *jobs = first_job ? malloc(sizeof(mask_job) * (jobs_n ? jobs_n : 1)) : NULL;
    if (!jobs) {
        free(first_job);
        return TL_ERR_NOMEM;
    }
    first_job[n] = jobs_n;
    unmask_ctx uc = { p, s_pks, opened, have, live, survived, first_job, jobs, TL_OK };
    run_parallel(p->threads, unmask_slice, &uc);
    tl_status status = (tl_status)atomic_load(&uc.status);
    if (status == TL_OK) {
        status = apply_masks(sum, p->dim, jobs, jobs_n, p->threads);
    }
    sodium_memzero(jobs, sizeof(mask_job) * jobs_n);
    free(jobs);
    free(first_job);
    return status;
}

/* ---- one round, every party in this process ---- */

/* A client's secret bytes, reproducible from (seed, client). */
static void derive(uint64_t seed, int client, uint8_t out[96])
{
    static const char what[3] = { 'c', 's', 'b' };
    for (int w = 0; w < 3; ++w) {
        uint8_t in[13];
        memcpy(in, &seed, 8);
        memcpy(in + 8, &client, 4);
        in[12] = (uint8_t)what[w];
        crypto_generichash(out + 32 * w, 32, in, sizeof in, NULL, 0);
    }
}

tl_status tl_secagg_round(const tl_secagg_params *p, const uint32_t *const *inputs, const uint8_t *dropped,
                          uint64_t seed, uint32_t *sum, tl_secagg_stats *stats)
{
    if (!valid_params(p)) {
        return TL_ERR_ARG;
    }
    const int n = p->clients, k = p->degree;
    memset(stats, 0, sizeof *stats);
    const size_t dim = p->dim;
    tl_secagg_client *pt = calloc((size_t)n, sizeof *pt);
    uint8_t *c_pks = malloc((size_t)n * 32), *s_pks = malloc((size_t)n * 32);
    uint8_t *boxes = malloc((size_t)n * (size_t)k * TL_SECAGG_BOX_BYTES); /* [dealer][position] */
    uint8_t *held = malloc((size_t)k * TL_SECAGG_BOX_BYTES);               /* one holder's, relayed */
    uint32_t *masked = malloc(dim * sizeof(uint32_t));
    uint8_t *opened = malloc((size_t)n * (size_t)k * 32); /* [dealer][position]: the share opened */
    uint8_t *have = calloc((size_t)n * (size_t)k, 1);
    uint8_t *live = malloc((size_t)n), *survived = malloc((size_t)n);
    uint8_t mine[254 * 32], mine_have[254];
    tl_status status = TL_OK;
    if (!pt || !c_pks || !s_pks || !boxes || !held || !masked || !opened || !have || !live || !survived) {
        status = TL_ERR_NOMEM;
        goto done;
    }
    /* 0. advertise keys */
    for (int i = 0; i < n; ++i) {
        uint8_t secret[96];
        derive(seed, i, secret);
        tl_secagg_client_keys(&pt[i], secret);
        sodium_memzero(secret, sizeof secret);
        memcpy(c_pks + (size_t)i * 32, pt[i].c_pk, 32);
        memcpy(s_pks + (size_t)i * 32, pt[i].s_pk, 32);
        live[i] = 1;
        survived[i] = !dropped[i];
    }
    stats->bytes_up += (size_t)n * 64;
    stats->bytes_down += (size_t)n * (size_t)k * 64;
    /* 1. share keys */
    uint64_t rng = (seed ^ 0x5EC5A66ull) * 0x9E3779B97F4A7C15ull | 1;
    for (int i = 0; i < n && status == TL_OK; ++i) {
        status = tl_secagg_deal(p, i, &pt[i], c_pks, &rng, boxes + (size_t)i * k * TL_SECAGG_BOX_BYTES);
    }
    stats->bytes_up += (size_t)n * (size_t)k * TL_SECAGG_BOX_BYTES;
    stats->bytes_down += (size_t)n * (size_t)k * TL_SECAGG_BOX_BYTES;
    /* 2. masked inputs: the survivors' summed as they arrive */
    memset(sum, 0, dim * sizeof(uint32_t));
    const double c0 = tl_monotonic_seconds();
    int survivors = 0;
    for (int i = 0; i < n && status == TL_OK; ++i) {
        status = tl_secagg_mask(p, i, &pt[i], s_pks, live, inputs[i], masked);
        if (status == TL_OK && survived[i]) {
            for (size_t w = 0; w < dim; ++w) {
                sum[w] += masked[w];
            }
            ++survivors;
            stats->bytes_up += dim * 4;
        } else if (status == TL_OK) {
            stats->dropped++;
        }
    }
    stats->client_seconds = tl_monotonic_seconds() - c0;
    /* 3. unmask: the survivor list goes out; each survivor opens the boxes
     * its neighbours dealt it, relayed by the server. */
    stats->bytes_down += (size_t)survivors * (size_t)n / 8;
    for (int j = 0; j < n && status == TL_OK; ++j) {
        if (!survived[j]) {
            continue;
        }
        for (int q = 0; q < k; ++q) {
            const int i = tl_secagg_neighbour(p, j, q);
            memcpy(held + (size_t)q * TL_SECAGG_BOX_BYTES,
                   boxes + ((size_t)i * k + (size_t)tl_secagg_position(p, i, j)) * TL_SECAGG_BOX_BYTES,
                   TL_SECAGG_BOX_BYTES);
        }
        status = tl_secagg_open(p, j, &pt[j], c_pks, held, live, survived, mine, mine_have);
        for (int q = 0; q < k && status == TL_OK; ++q) {
            const int i = tl_secagg_neighbour(p, j, q);
            const size_t slot = (size_t)i * k + (size_t)tl_secagg_position(p, i, j);
            memcpy(opened + slot * 32, mine + (size_t)q * 32, 32);
            have[slot] = mine_have[q];
            stats->bytes_up += 32 + 4;
        }
    }
    const double s0 = tl_monotonic_seconds();
    if (status == TL_OK) {
        status = tl_secagg_unmask(p, s_pks, opened, have, live, survived, sum);
    }
    stats->server_seconds = tl_monotonic_seconds() - s0;
    stats->rebuilt = status == TL_OK ? n : 0;
done:
    if (pt) {
        sodium_memzero(pt, (size_t)n * sizeof *pt);
    }
    sodium_memzero(mine, sizeof mine);
    free(pt);
    free(c_pks);
    free(s_pks);
    free(boxes);
    free(held);
    free(masked);
    free(opened);
    free(have);
    free(live);
    free(survived);
    return status;
}
