/* secagg.h - secure aggregation: the server learns only the sum of the
 * clients' fixed-point updates (src/federated/secagg.c). Its own library
 * (tl_secagg), because both sides use it: the simulator (federated.h) and
 * the edge server and its devices over CoAP (coap.h). */
#ifndef TINYLARGE_SECAGG_H
#define TINYLARGE_SECAGG_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bonawitz et al. 2017 with SecAgg+'s sparse graph (Bell et al. 2020):
 * each client agrees an X25519 key with each of its `degree` neighbours on a
 * ring (Harary graph) and masks its fixed-point update, modulo 2^32, with
 * Salsa20 streams seeded by those keys (one added, one subtracted, so pair
 * masks cancel in the sum) and by a seed of its own; it deals Shamir shares
 * (threshold t over GF(2^8)) of that seed and of its mask key to its
 * neighbours, encrypted for each. When clients drop after masking, the
 * survivors' shares rebuild the dropped clients' keys, so the server
 * removes the masks that no longer cancel, and the survivors' own seeds. The
 * server learns the sum of the survivors' vectors and nothing else: equal,
 * bit for bit, to the plain modular sum. */

typedef struct tl_secagg_params {
    int clients;           /* n, this round's */
    int degree;            /* neighbours each (even, < n; n - 1: everyone) */
    int threshold;         /* shares that rebuild a secret (> degree / 2) */
    size_t dim;            /* uint32 values a client sends */
    int threads;           /* the server's unmasking threads */
} tl_secagg_params;

/* Degree and threshold for n clients expecting a `dropout` fraction to
 * drop, with threshold t = floor(threshold x degree) + 1: the smallest even
 * degree, from 2 ceil(log2 n) up (SecAgg+'s O(log n)), at which every
 * neighbourhood keeps t survivors but with odds below 1e-4 in the round;
 * everyone when n is small (or no degree up to 254 does). threshold 0.5
 * (t > half the neighbours, Bonawitz et al.'s rule) keeps a server that lies
 * about who dropped from collecting both shares of one client; a lower one
 * (1/3) needs a smaller graph and suits an honest-but-curious server with
 * fewer than t colluding neighbours. Two unmasking threads. */
tl_secagg_params tl_secagg_default(int clients, size_t dim, double dropout, double threshold);

typedef struct tl_secagg_stats {
    size_t bytes_up;       /* every client message to the server: keys, encrypted
                              shares, masked vector, shares at unmasking */
    size_t bytes_down;     /* the server's relays: keys, shares, the survivor list */
    double client_seconds; /* the mask computation of all clients together */
    double server_seconds; /* unmasking: rebuilding secrets, removing masks */
    int dropped, rebuilt;  /* clients dropped; secrets the server rebuilt */
} tl_secagg_stats;

/* ---- the protocol's steps, one party each (a real client and the edge
 * server call these; tl_secagg_round calls them for every party) ---- */

/* A client's secrets and the public keys it advertises. */
typedef struct tl_secagg_client {
    uint8_t c_sk[32], s_sk[32], b[32]; /* never leave the client (b and s_sk only as shares) */
    uint8_t c_pk[32], s_pk[32];        /* c: seals shares; s: agrees masks */
} tl_secagg_client;

#define TL_SECAGG_BOX_BYTES 80 /* a sealed share pair: 2 x 32 bytes + a 16-byte MAC */

/* The keys from 96 bytes of secret randomness (the OS's, on a client). */
void tl_secagg_client_keys(tl_secagg_client *c, const uint8_t secret[96]);

/* Neighbour q (0 <= q < degree) of client i; the position of j among i's
 * neighbours (its Shamir x is position + 1), -1 if it is not one. */
int tl_secagg_neighbour(const tl_secagg_params *p, int i, int q);
int tl_secagg_position(const tl_secagg_params *p, int i, int j);

/* 1. share: client i deals Shamir shares of its s_sk and b to its
 * neighbours, boxes[q * TL_SECAGG_BOX_BYTES] sealed for neighbour q with
 * the key agreed from c_pks[j * 32] (every client's c key, by index). rng
 * draws the polynomials' coefficients. TL_ERR_SIGNATURE: a bad peer key. */
tl_status tl_secagg_deal(const tl_secagg_params *p, int i, const tl_secagg_client *c, const uint8_t *c_pks,
                         uint64_t *rng, uint8_t *boxes);

/* 2. masked input: masked[dim] = input + PRG(b) + sum over the live
 * neighbours j (live[j]: dealt its shares; NULL: all) of +-PRG(s_ij),
 * mod 2^32. masked may be input. */
tl_status tl_secagg_mask(const tl_secagg_params *p, int i, const tl_secagg_client *c, const uint8_t *s_pks,
                         const uint8_t *live, const uint32_t *input, uint32_t *masked);

/* 3. open: survivor j, given the boxes its neighbours dealt it (held[q *
 * TL_SECAGG_BOX_BYTES] from neighbour q) and who survived, opens for each
 * live neighbour i the share of b (i survived) or of s_sk (i dropped):
 * opened[q * 32], have[q] = 1. TL_ERR_SIGNATURE: a box that is not the one
 * i sealed for j. */
tl_status tl_secagg_open(const tl_secagg_params *p, int j, const tl_secagg_client *c, const uint8_t *c_pks,
                         const uint8_t *held, const uint8_t *live, const uint8_t *survived, uint8_t *opened,
                         uint8_t *have);

/* The server: sum[dim], the survivors' masked vectors summed mod 2^32,
 * unmasked in place into the sum of their inputs. opened[(i * degree +
 * pos) * 32] (have[...] = 1) is the share of client i's secret opened by
 * its neighbour at position pos. Runs on p->threads. TL_ERR_STATE: fewer
 * than `threshold` shares of some live client; TL_ERR_SIGNATURE: shares
 * that rebuild another key than the one advertised. */
tl_status tl_secagg_unmask(const tl_secagg_params *p, const uint8_t *s_pks, const uint8_t *opened,
                           const uint8_t *have, const uint8_t *live, const uint8_t *survived, uint32_t *sum);

/* One round of the protocol, every party simulated in this process (the
 * messages are real bytes: keys, encrypted shares, masked vectors). inputs
 * [n][dim] are the clients' fixed-point vectors; dropped[i] says client i
 * sends its key and shares but not its masked vector. sum[dim] gets the
 * sum, modulo 2^32, of the survivors' inputs. `seed` makes the clients'
 * secrets reproducible (a real client draws them from the OS). TL_ERR_STATE:
 * some dropped client's or survivor's neighbourhood kept fewer than
 * `threshold` survivors, so the round cannot be unmasked. */
tl_status tl_secagg_round(const tl_secagg_params *p, const uint32_t *const *inputs, const uint8_t *dropped,
                          uint64_t seed, uint32_t *sum, tl_secagg_stats *stats);

/* Shamir's secret sharing over GF(2^8), byte by byte: shares[i] (size
 * bytes each) for x = xs[i] (distinct, non-zero). Exposed for tests. */
void tl_shamir_split(const uint8_t *secret, size_t size, int threshold, int count, const uint8_t *xs,
                     uint8_t *const *shares, uint64_t *rng);
void tl_shamir_combine(const uint8_t *const *shares, const uint8_t *xs, int count, size_t size, uint8_t *secret);

/* Fixed point for secure aggregation: v * 2^frac_bits rounded to nearest,
 * clamped to +-limit, as the uint32 two's complement. */
void tl_fixed_encode(const float *v, size_t dim, int frac_bits, int32_t limit, uint32_t *out);
void tl_fixed_decode(const uint32_t *sum, size_t dim, int frac_bits, float *out);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_SECAGG_H */
