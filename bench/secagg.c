/* secagg.c - secure aggregation at scale (bench/federated.sh): one round of
 * N clients x DIM values with a fraction dropping after masking; the
 * server's unmasking time, the clients' masking time, and the bytes on the
 * air against the unmasked update's; the sum checked against the plain one.
 * usage: secagg [CLIENTS] [DIM] [DROPOUT] [THREADS] [THRESHOLD]
 *        secagg prg [THREADS]: the keystream rate a thread of libsodium's
 *        stream ciphers (the masks' PRG candidates) with THREADS running
 *        at once (the unmasking keeps every core busy), and an X25519. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/federated.h"
#include "tinylarge/host.h"

#define PRG_BYTES (512u << 20)
#define PRG_CHUNK 16384u /* as the unmasking's chunks */

typedef struct prg_run {
    int cipher;
    double gbps;
} prg_run;

static const char *const prg_names[] = { "ChaCha20 (IETF)", "Salsa20", "XChaCha20", "Salsa20/12" };

static void *prg_thread(void *arg)
{
    prg_run *r = arg;
    static const uint8_t key[32] = { 7 };
    uint8_t nonce[24] = { 0 };
    uint8_t *buf = calloc(PRG_CHUNK, 1);
    if (!buf) {
        return NULL;
    }
    const double t0 = tl_monotonic_seconds();
    for (size_t done = 0; done < PRG_BYTES; done += PRG_CHUNK) {
        const uint64_t block = done / 64;
        switch (r->cipher) {
        case 0: crypto_stream_chacha20_ietf_xor_ic(buf, buf, PRG_CHUNK, nonce, (uint32_t)block, key); break;
        case 1: crypto_stream_salsa20_xor_ic(buf, buf, PRG_CHUNK, nonce, block, key); break;
        case 2: crypto_stream_xchacha20_xor_ic(buf, buf, PRG_CHUNK, nonce, block, key); break;
        default: memcpy(nonce, &block, 8); crypto_stream_salsa2012(buf, PRG_CHUNK, nonce, key); break;
        }
    }
    r->gbps = PRG_BYTES / (tl_monotonic_seconds() - t0) / 1e9;
    free(buf);
    return NULL;
}

static int prg_bench(int threads)
{
    if (sodium_init() < 0 || threads < 1 || threads > 16) {
        fprintf(stderr, "usage: secagg prg [THREADS 1..16]\n");
        return 2;
    }
    printf("| stream cipher (libsodium) | GB/s a thread, %d at once (slowest) |\n|---|---|\n", threads);
    for (int c = 0; c < 4; ++c) {
        prg_run runs[16];
        pthread_t tid[16];
        double slowest = 0.0;
        for (int t = 0; t < threads; ++t) {
            runs[t] = (prg_run){ c, 0.0 };
            if (pthread_create(&tid[t], NULL, prg_thread, &runs[t]) != 0) {
                return 1;
            }
        }
        for (int t = 0; t < threads; ++t) {
            pthread_join(tid[t], NULL);
            slowest = t == 0 || runs[t].gbps < slowest ? runs[t].gbps : slowest;
        }
        printf("| %s | %.2f |\n", prg_names[c], slowest);
    }
    uint8_t sk[32] = { 3 }, pk[32] = { 9 }, shared[32];
    const int n = 5000;
    const double t0 = tl_monotonic_seconds();
    for (int i = 0; i < n; ++i) {
        if (crypto_scalarmult(shared, sk, pk) != 0) {
            return 1;
        }
        pk[0] = shared[0] | 1; /* a different point each time */
    }
    printf("\nX25519 (one thread): %.1f us\n", (tl_monotonic_seconds() - t0) / n * 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "prg")) {
        return prg_bench(argc > 2 ? atoi(argv[2]) : 2);
    }
    const int n = argc > 1 ? atoi(argv[1]) : 1000;
    const size_t dim = argc > 2 ? (size_t)atol(argv[2]) : 44868;
    const double dropout = argc > 3 ? atof(argv[3]) : 0.3;
    const int threads = argc > 4 ? atoi(argv[4]) : 2;
    const double threshold = argc > 5 ? atof(argv[5]) : 0.5;
    if (n < 2 || dim < 1 || !(dropout >= 0.0 && dropout < 1.0) || threads < 1) {
        fprintf(stderr, "usage: secagg [CLIENTS >= 2] [DIM] [DROPOUT 0..1) [THREADS] [THRESHOLD]\n");
        return 2;
    }
    uint32_t *buf = malloc(sizeof(uint32_t) * (size_t)n * dim), **in = malloc(sizeof(uint32_t *) * (size_t)n);
    uint32_t *sum = malloc(sizeof(uint32_t) * dim), *plain = calloc(dim, sizeof(uint32_t));
    uint8_t *dropped = calloc((size_t)n, 1);
    if (!buf || !in || !sum || !plain || !dropped) {
        fprintf(stderr, "secagg: out of memory\n");
        return 1;
    }
    uint64_t s = 88172645463325252ull;
    const int drop = (int)(dropout * n + 0.5);
    for (int i = 0; i < n; ++i) {
        in[i] = buf + (size_t)i * dim;
        for (size_t k = 0; k < dim; ++k) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            in[i][k] = (uint32_t)(s >> 40) - (1u << 23); /* fixed-point values of +-2^23 */
        }
    }
    for (int placed = 0; placed < drop;) { /* exactly `drop` clients, spread at random */
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        const int i = (int)(s % (uint64_t)n);
        placed += !dropped[i];
        dropped[i] = 1;
    }
    for (int i = 0; i < n; ++i) {
        for (size_t k = 0; k < dim && !dropped[i]; ++k) {
            plain[k] += in[i][k];
        }
    }
    tl_secagg_params p = tl_secagg_default(n, dim, dropout, threshold);
    p.threads = threads;
    tl_secagg_stats st;
    const tl_status rc = tl_secagg_round(&p, (const uint32_t *const *)in, dropped, 1, sum, &st);
    if (rc != TL_OK) {
        fprintf(stderr, "secagg: the round failed: %s\n", tl_status_str(rc));
        return 1;
    }
    const int exact = memcmp(sum, plain, dim * sizeof(uint32_t)) == 0;
    printf("| clients | values | dropped | degree | threshold | server unmasking (s, %d threads) | "
           "masking per client (s) | bytes up per client / unmasked | sum |\n", threads);
    printf("|---|---|---|---|---|---|---|---|---|\n");
    printf("| %d | %zu | %d | %d | %d | %.3f | %.4f | %.3f | %s |\n", n, dim, st.dropped, p.degree, p.threshold,
           st.server_seconds, st.client_seconds / n, (double)st.bytes_up / (n - st.dropped) / (double)(dim * 4),
           exact ? "exact" : "WRONG");
    free(buf);
    free(in);
    free(sum);
    free(plain);
    free(dropped);
    return exact ? 0 : 1;
}
