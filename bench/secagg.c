/* secagg.c - secure aggregation at scale (bench/federated.sh): one round of
 * N clients x DIM values with a fraction dropping after masking; the
 * server's unmasking time, the clients' masking time, and the bytes on the
 * air against the unmasked update's; the sum checked against the plain one.
 * usage: secagg [CLIENTS] [DIM] [DROPOUT] [THREADS] [THRESHOLD] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/federated.h"

int main(int argc, char **argv)
{
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
