/* privacy.c - differential privacy for federated rounds: clipping, the
 * Gaussian mechanism and its Rényi accountant (federated.h). */
#include <math.h>

#include "tinylarge/federated.h"

double tl_dp_clip(float *u, size_t dim, double clip)
{
    double norm = 0.0;
    for (size_t i = 0; i < dim; ++i) {
        norm += (double)u[i] * (double)u[i];
    }
    norm = sqrt(norm);
    if (norm > clip && norm > 0.0) {
        const float f = (float)(clip / norm);
        for (size_t i = 0; i < dim; ++i) {
            u[i] *= f;
        }
    }
    return norm;
}

static double uniform_open(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
}

void tl_dp_noise(float *values, size_t dim, double sigma, uint64_t *rng)
{
    for (size_t i = 0; i < dim; ++i) { /* Box-Muller */
        const double r = sqrt(-2.0 * log(uniform_open(rng))), t = 6.283185307179586 * uniform_open(rng);
        values[i] += (float)(sigma * r * cos(t));
    }
}

static double log_add(double a, double b)
{
    if (a == -INFINITY) {
        return b;
    }
    const double hi = a > b ? a : b, lo = a > b ? b : a;
    return hi + log1p(exp(lo - hi));
}

/* RDP of order alpha (an integer >= 2) of the Gaussian mechanism with
 * noise multiplier sigma, sampled at rate q: for q = 1, alpha / (2
 * sigma^2); else the binomial expansion
 *   1/(alpha-1) log sum_k C(alpha,k) (1-q)^(alpha-k) q^k exp((k^2-k)/(2 sigma^2)),
 * in logs so large orders do not overflow. */
static double rdp_order(double q, double sigma, int alpha)
{
    if (q >= 1.0) {
        return alpha / (2.0 * sigma * sigma);
    }
    double total = -INFINITY;
    for (int k = 0; k <= alpha; ++k) {
        const double log_binom = lgamma(alpha + 1.0) - lgamma(k + 1.0) - lgamma(alpha - k + 1.0);
        const double term = log_binom + (alpha - k) * log1p(-q) + k * log(q) +
                            ((double)k * k - k) / (2.0 * sigma * sigma);
        total = log_add(total, term);
    }
    return total / (alpha - 1);
}

double tl_dp_epsilon(double q, double sigma, int rounds, double delta)
{
    if (!(sigma > 0.0) || rounds < 1 || !(delta > 0.0 && delta < 1.0) || !(q > 0.0)) {
        return rounds < 1 ? 0.0 : INFINITY;
    }
    double best = INFINITY;
    for (int alpha = 2; alpha <= 256; ++alpha) {
        const double eps = rounds * rdp_order(q, sigma, alpha) + log(1.0 / delta) / (alpha - 1);
        best = eps < best ? eps : best;
    }
    return best;
}

double tl_dp_noise_for(double q, int rounds, double delta, double epsilon)
{
    if (!(epsilon > 0.0) || rounds < 1) {
        return 0.0;
    }
    double lo = 0.01, hi = 0.01;
    while (tl_dp_epsilon(q, hi, rounds, delta) > epsilon) {
        lo = hi;
        hi *= 2.0;
        if (hi > 1e4) {
            return 0.0;
        }
    }
    for (int i = 0; i < 60; ++i) { /* epsilon falls as sigma grows */
        const double mid = 0.5 * (lo + hi);
        if (tl_dp_epsilon(q, mid, rounds, delta) > epsilon) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return hi;
}
