/* test_federated.c - the federated pieces on their own: rules that hold
 * off attackers, the server's optimisers, compression, Shamir, secure
 * aggregation's exact sum with dropouts, the privacy accountant. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "tinylarge/federated.h"

#define DIM 64

/* n honest updates near `centre` (+-0.1) and `bad` attackers sending `evil`. */
static void make_updates(float (*u)[DIM], const float **ptr, int n, int bad, float centre, float evil, uint64_t seed)
{
    test_rng r = { seed };
    for (int i = 0; i < n; ++i) {
        for (int k = 0; k < DIM; ++k) {
            u[i][k] = i < n - bad ? centre + rng_float(&r, -0.1f, 0.1f) : evil;
        }
        ptr[i] = u[i];
    }
}

static float max_error(const float *v, float centre)
{
    float e = 0.0f;
    for (int k = 0; k < DIM; ++k) {
        e = fabsf(v[k] - centre) > e ? fabsf(v[k] - centre) : e;
    }
    return e;
}

static void robust_rules_hold_off_a_fifth_of_attackers_where_the_mean_does_not(void **state)
{
    (void)state;
    float u[10][DIM], out[DIM];
    const float *ptr[10];
    make_updates(u, ptr, 10, 2, 1.0f, -10.0f, 7); /* two sign-flipped, scaled attackers */
    tl_agg_rule rule;
    assert_int_equal(tl_agg_parse("mean", &rule), 0);
    assert_int_equal(tl_fed_aggregate(&rule, ptr, NULL, 10, DIM, out), TL_OK);
    assert_true(max_error(out, 1.0f) > 1.5f); /* the mean is dragged away */
    const char *robust[] = { "median", "trimmed:0.2", "krum:2", "multikrum:2:5" };
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(tl_agg_parse(robust[i], &rule), 0);
        assert_int_equal(tl_fed_aggregate(&rule, ptr, NULL, 10, DIM, out), TL_OK);
        assert_true(max_error(out, 1.0f) <= 0.1f);
    }
    /* The mean weighs by samples. */
    const float a[2] = { 1.0f, 1.0f }, b[2] = { 4.0f, 4.0f };
    const float *two[2] = { a, b };
    const double w[2] = { 3.0, 1.0 };
    assert_int_equal(tl_agg_parse("mean", &rule), 0);
    assert_int_equal(tl_fed_aggregate(&rule, two, w, 2, 2, out), TL_OK);
    assert_true(fabsf(out[0] - 1.75f) < 1e-6f);
}

static void rules_refuse_what_they_cannot_do(void **state)
{
    (void)state;
    tl_agg_rule rule;
    assert_int_equal(tl_agg_parse("trimmed:0.5", &rule), -1);
    assert_int_equal(tl_agg_parse("krum", &rule), -1);
    assert_int_equal(tl_agg_parse("multikrum:1", &rule), -1);
    assert_int_equal(tl_agg_parse("average", &rule), -1);
    float u[4][DIM], out[DIM];
    const float *ptr[4];
    make_updates(u, ptr, 4, 0, 0.0f, 0.0f, 1);
    assert_int_equal(tl_agg_parse("krum:1", &rule), 0);
    assert_int_equal(tl_fed_aggregate(&rule, ptr, NULL, 4, DIM, out), TL_ERR_ARG); /* needs n > 2f + 2 */
    assert_int_equal(tl_fed_aggregate(&rule, ptr, NULL, 0, DIM, out), TL_ERR_ARG);
}

static void the_servers_optimisers_step_toward_the_update(void **state)
{
    (void)state;
    const tl_server_kind kinds[3] = { TL_SERVER_AVG, TL_SERVER_ADAM, TL_SERVER_YOGI };
    for (int i = 0; i < 3; ++i) {
        tl_server_opt opt;
        assert_int_equal(tl_server_opt_init(&opt, kinds[i], i == 0 ? 1.0f : 0.1f, 2, 2), TL_OK);
        float global[2] = { 0.0f, 0.0f };
        const float update[2] = { 0.5f, -0.25f };
        tl_server_opt_apply(&opt, global, update);
        if (i == 0) {
            assert_true(global[0] == 0.5f && global[1] == -0.25f);
        } else { /* adaptive: a step of about lr in the update's sign */
            assert_true(global[0] > 0.0f && global[0] < 0.2f);
            assert_true(global[1] < 0.0f && global[1] > -0.2f);
        }
        tl_server_opt_free(&opt);
    }
    tl_server_opt bad;
    assert_int_equal(tl_server_opt_init(&bad, TL_SERVER_AVG, 0.0f, 2, 2), TL_ERR_ARG);
    assert_int_equal(tl_server_opt_init(&bad, TL_SERVER_ADAM, 0.01f, 2, 3), TL_ERR_ARG);
}

/* Batch norm's running statistics are averaged, not stepped: under FedAdam
 * a variance that the clients' mean moves from 1.0 to 0.2 lands on 0.2
 * (a normalised step would move it by about lr, and from a small variance
 * below zero), and FedAvg's server rate does not scale them either. */
static void the_server_takes_the_mean_of_batch_norm_statistics(void **state)
{
    (void)state;
    const tl_server_kind kinds[3] = { TL_SERVER_AVG, TL_SERVER_ADAM, TL_SERVER_YOGI };
    for (int i = 0; i < 3; ++i) {
        tl_server_opt opt;
        assert_int_equal(tl_server_opt_init(&opt, kinds[i], i == 0 ? 0.5f : 0.1f, 3, 1), TL_OK);
        float global[3] = { 0.0f, 0.3f, 1.0f }; /* a weight, a running mean, a running variance */
        const float update[3] = { 0.5f, -0.25f, -0.8f };
        tl_server_opt_apply(&opt, global, update);
        assert_float_equal(global[1], 0.05f, 1e-6f);
        assert_float_equal(global[2], 0.2f, 1e-6f);
        if (i == 0) {
            assert_float_equal(global[0], 0.25f, 1e-6f); /* the rate applies to the parameter */
        } else {
            assert_true(global[0] > 0.0f && global[0] < 0.2f);
        }
        tl_server_opt_free(&opt);
    }
}

static void int8_rounding_is_unbiased_and_topk_carries_the_rest(void **state)
{
    (void)state;
    tl_compression c;
    assert_int_equal(tl_compress_parse("int8", &c), 0);
    assert_int_equal(tl_compress_bytes(&c, 1000), 1000 + 4 * 4);
    /* Many roundings of the same value average to it. */
    double mean = 0.0;
    uint64_t rng = 99;
    for (int t = 0; t < 2000; ++t) {
        float v[2] = { 1.0f, 0.3f }; /* scale 1/127: 0.3 lies between two levels */
        tl_compress_apply(&c, v, NULL, 2, &rng);
        mean += v[1];
    }
    assert_true(fabs(mean / 2000 - 0.3) < 0.002);
    assert_int_equal(tl_compress_parse("topk:0.25", &c), 0);
    float v[8] = { 0.1f, -5.0f, 0.2f, 3.0f, 0.0f, 0.05f, -0.3f, 0.01f };
    float residual[8] = { 0 };
    assert_int_equal(tl_compress_apply(&c, v, residual, 8, &rng), 16); /* 2 kept: (index, value) */
    const float sent[8] = { 0, -5.0f, 0, 3.0f, 0, 0, 0, 0 };
    assert_memory_equal(v, sent, sizeof sent);
    assert_true(residual[2] == 0.2f && residual[1] == 0.0f && residual[6] == -0.3f);
    /* Next round the residual joins: 0.2 + 0.2 now beats 0.3 - 0.3. */
    float w[8] = { 0, 0, 0.2f, 0, 0, 0, -0.3f, 0 };
    tl_compress_apply(&c, w, residual, 8, &rng);
    assert_true(w[6] == -0.6f && w[2] == 0.4f);
    assert_int_equal(tl_compress_parse("topk:0", &c), -1);
    assert_int_equal(tl_compress_parse("zip", &c), -1);
    /* int8z: the same values as int8 (same stream), fewer bytes when most
     * are small, as an update's are. */
    enum { LONG = 4096 };
    float *a = malloc(LONG * sizeof(float)), *b = malloc(LONG * sizeof(float));
    uint64_t ra = 5, rb = 5, noise = 11;
    for (int i = 0; i < LONG; ++i) {
        noise ^= noise << 13, noise ^= noise >> 7, noise ^= noise << 17;
        const double u = (double)(noise >> 11) / 9007199254740992.0;
        a[i] = b[i] = (float)((u - 0.5) * (i % 64 == 0 ? 1.0 : 0.02)); /* a few large, most small */
    }
    tl_compression plain, packed;
    assert_int_equal(tl_compress_parse("int8", &plain), 0);
    assert_int_equal(tl_compress_parse("int8z", &packed), 0);
    assert_int_equal(packed.kind, TL_COMPRESS_INT8Z);
    assert_int_equal(tl_compress_apply(&plain, a, NULL, LONG, &ra), LONG + 4 * (LONG / 256));
    const size_t z = tl_compress_apply(&packed, b, NULL, LONG, &rb);
    assert_memory_equal(a, b, LONG * sizeof(float));
    assert_true(z > 0 && z < (LONG + 4 * (LONG / 256)) * 3 / 4);
    free(a);
    free(b);
}

static void shamir_rebuilds_from_any_threshold_of_shares(void **state)
{
    (void)state;
    uint8_t secret[32], back[32], store[6][32];
    uint8_t *shares[6];
    const uint8_t xs[6] = { 1, 2, 3, 4, 5, 6 };
    for (int i = 0; i < 32; ++i) {
        secret[i] = (uint8_t)(i * 7 + 3);
    }
    for (int i = 0; i < 6; ++i) {
        shares[i] = store[i];
    }
    uint64_t rng = 5;
    tl_shamir_split(secret, 32, 4, 6, xs, shares, &rng);
    const uint8_t *pick[4] = { store[5], store[1], store[3], store[2] };
    const uint8_t px[4] = { 6, 2, 4, 3 };
    tl_shamir_combine(pick, px, 4, 32, back);
    assert_memory_equal(back, secret, 32);
    tl_shamir_combine(pick, px, 3, 32, back); /* below the threshold: not the secret */
    assert_memory_not_equal(back, secret, 32);
}

static void secure_aggregation_sums_exactly_with_a_third_dropped(void **state)
{
    (void)state;
    const int n = 30;
    const size_t dim = 1000;
    uint32_t *in[30], *buf = malloc(sizeof(uint32_t) * n * dim), sum[1000], plain[1000] = { 0 };
    uint8_t dropped[30];
    test_rng r = { 42 };
    float v[1000];
    for (int i = 0; i < n; ++i) {
        in[i] = buf + (size_t)i * dim;
        for (size_t k = 0; k < dim; ++k) {
            v[k] = rng_float(&r, -2.0f, 2.0f);
        }
        tl_fixed_encode(v, dim, 16, INT32_MAX / n, in[i]);
        dropped[i] = (uint8_t)(i % 3 == 1); /* 10 of 30 */
        for (size_t k = 0; k < dim && !dropped[i]; ++k) {
            plain[k] += in[i][k];
        }
    }
    tl_secagg_params p = tl_secagg_default(n, dim, 0.34, 0.5);
    p.degree = 18; /* a sparse graph, not everyone */
    p.threshold = 10;
    tl_secagg_stats st;
    assert_int_equal(tl_secagg_round(&p, (const uint32_t *const *)in, dropped, 7, sum, &st), TL_OK);
    assert_memory_equal(sum, plain, sizeof sum);
    assert_int_equal(st.dropped, 10);
    assert_int_equal(st.rebuilt, 30); /* 10 mask keys, 20 seeds */
    assert_true(st.bytes_up > 20 * dim * 4);
    /* Without dropouts the default graph is SecAgg+'s 2 ceil(log2 n). */
    p = tl_secagg_default(n, dim, 0.0, 0.5);
    assert_int_equal(p.degree, 10);
    assert_int_equal(p.threshold, 6);
    /* The complete graph too. */
    p.degree = n - 1;
    p.threshold = n / 2 + 1;
    assert_int_equal(tl_secagg_round(&p, (const uint32_t *const *)in, dropped, 8, sum, &st), TL_OK);
    assert_memory_equal(sum, plain, sizeof sum);
    /* The decoded sum is the sum of what was encoded, to 2^-16 each. */
    float back[1000];
    tl_fixed_decode(sum, dim, 16, back);
    assert_true(fabsf(back[0] - (float)(int32_t)plain[0] / 65536.0f) < 1e-6f);
    /* Too many dropped around someone: the round cannot be unmasked. */
    memset(dropped, 0, sizeof dropped);
    for (int i = 0; i < 12; ++i) {
        dropped[i] = 1;
    }
    p.degree = 8;
    p.threshold = 5;
    assert_int_equal(tl_secagg_round(&p, (const uint32_t *const *)in, dropped, 9, sum, &st), TL_ERR_STATE);
    free(buf);
}

static void the_accountant_spends_more_epsilon_on_less_noise_and_more_rounds(void **state)
{
    (void)state;
    /* Full participation, sigma 1, one round: the Gaussian mechanism's RDP
     * alpha / 2 gives eps = min_a a/2 + log(1e5)/(a-1) = 5.29 (a = 5.8: 5 or 6 here). */
    const double one = tl_dp_epsilon(1.0, 1.0, 1, 1e-5);
    assert_true(one > 5.2 && one < 5.5);
    assert_true(tl_dp_epsilon(1.0, 2.0, 1, 1e-5) < one);
    assert_true(tl_dp_epsilon(1.0, 1.0, 10, 1e-5) > one);
    assert_true(tl_dp_epsilon(0.1, 1.0, 10, 1e-5) < tl_dp_epsilon(1.0, 1.0, 10, 1e-5)); /* sampling amplifies */
    assert_true(isinf(tl_dp_epsilon(0.1, 0.0, 10, 1e-5)));
    /* The noise for a budget spends at most it, and a little less noise would not. */
    const double sigma = tl_dp_noise_for(0.1, 50, 1e-5, 3.0);
    assert_true(sigma > 0.3 && sigma < 5.0);
    assert_true(tl_dp_epsilon(0.1, sigma, 50, 1e-5) <= 3.0);
    assert_true(tl_dp_epsilon(0.1, sigma * 0.99, 50, 1e-5) > 3.0);
    float u[4] = { 3.0f, 4.0f, 0.0f, 0.0f };
    assert_true(fabs(tl_dp_clip(u, 4, 1.0) - 5.0) < 1e-9);
    assert_true(fabsf(u[0] - 0.6f) < 1e-6f && fabsf(u[1] - 0.8f) < 1e-6f);
}

/* The local rate over the rounds: constant by default; a cosine starts
 * at lr, halves at mid-run and ends near zero. */
static void a_cosine_schedule_takes_the_local_rate_from_lr_toward_zero(void **state)
{
    (void)state;
    tl_fed_config cfg;
    tl_fed_defaults(&cfg);
    cfg.lr = 0.08f;
    cfg.rounds = 50;
    assert_float_equal(tl_fed_round_rate(&cfg, 1), 0.08f, 0.0f);
    assert_float_equal(tl_fed_round_rate(&cfg, 50), 0.08f, 0.0f);
    cfg.lr_schedule = TL_SCHED_COSINE;
    assert_float_equal(tl_fed_round_rate(&cfg, 1), 0.08f, 1e-7f);
    assert_float_equal(tl_fed_round_rate(&cfg, 26), 0.04f, 1e-7f);
    assert_float_equal(tl_fed_round_rate(&cfg, 50), 0.08f * 0.5f * (1.0f + cosf(3.14159265f * 49.0f / 50.0f)), 1e-7f);
    assert_true(tl_fed_round_rate(&cfg, 50) < 0.0002f);
    for (int r = 2; r <= 50; ++r) {
        assert_true(tl_fed_round_rate(&cfg, r) < tl_fed_round_rate(&cfg, r - 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_cosine_schedule_takes_the_local_rate_from_lr_toward_zero),
        cmocka_unit_test(robust_rules_hold_off_a_fifth_of_attackers_where_the_mean_does_not),
        cmocka_unit_test(rules_refuse_what_they_cannot_do),
        cmocka_unit_test(the_servers_optimisers_step_toward_the_update),
        cmocka_unit_test(the_server_takes_the_mean_of_batch_norm_statistics),
        cmocka_unit_test(int8_rounding_is_unbiased_and_topk_carries_the_rest),
        cmocka_unit_test(shamir_rebuilds_from_any_threshold_of_shares),
        cmocka_unit_test(secure_aggregation_sums_exactly_with_a_third_dropped),
        cmocka_unit_test(the_accountant_spends_more_epsilon_on_less_noise_and_more_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
