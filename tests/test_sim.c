/* test_sim.c - the network simulator's parts and its promises: TR 38.901
 * path loss figures, the CQI table, the hexagonal layout, the event order,
 * the cache policies, scenario errors that name the line and key, and
 * whole runs: processor sharing of a cell's downlink to the microsecond,
 * broadcasting the shared layers once, the same results for the same seed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_internal.h"
#include "tinylarge/sim.h"

static void test_path_loss_follows_tr_38_901(void **state)
{
    (void)state;
    tl_sim_config c;
    tl_sim_config_defaults(&c);
    c.carrier_ghz = 3.5;
    /* UMa LOS below the breakpoint (560 m at 3.5 GHz): 28 + 22 log10(d3D) + 20 log10(fc). */
    const double d3d = sqrt(200.0 * 200.0 + 23.5 * 23.5);
    assert_true(fabs(sim_path_loss_db(&c, 200, 1) - (28.0 + 22.0 * log10(d3d) + 20.0 * log10(3.5))) < 1e-9);
    /* NLOS is never below LOS, and grows with distance. */
    assert_true(sim_path_loss_db(&c, 200, 0) > sim_path_loss_db(&c, 200, 1));
    assert_true(sim_path_loss_db(&c, 400, 0) > sim_path_loss_db(&c, 200, 0));
    /* Beyond the breakpoint the slope is 40 dB a decade. */
    const double far = sim_path_loss_db(&c, 2000, 1) - sim_path_loss_db(&c, 1000, 1);
    assert_true(fabs(far - 40.0 * log10(sqrt(2000.0 * 2000 + 23.5 * 23.5) / sqrt(1000.0 * 1000 + 23.5 * 23.5))) < 1e-9);
    /* LOS probability: 1 within 18 m, then 18/d + exp(-d/63)(1 - 18/d). */
    assert_true(sim_los_probability(&c, 10) == 1.0);
    assert_true(fabs(sim_los_probability(&c, 100) - (0.18 + exp(-100.0 / 63.0) * 0.82)) < 1e-12);
    c.umi = 1;
    assert_true(fabs(sim_los_probability(&c, 100) - (0.18 + exp(-100.0 / 36.0) * 0.82)) < 1e-12);
}

static void test_cqi_table_gives_spectral_efficiency(void **state)
{
    (void)state;
    tl_sim_config c;
    tl_sim_config_defaults(&c);
    assert_true(sim_spectral_efficiency(&c, -20) == 0.05);    /* below CQI 1: repetitions */
    assert_true(sim_spectral_efficiency(&c, -6.7) == 0.1523); /* CQI 1 */
    assert_true(sim_spectral_efficiency(&c, 10.3) == 2.4063); /* CQI 9 */
    assert_true(sim_spectral_efficiency(&c, 40) == 5.5547);   /* CQI 15 */
    c.shannon = 1;
    c.shannon_gap_db = 3;
    assert_true(fabs(sim_spectral_efficiency(&c, 13) - log2(1 + pow(10, 1.0))) < 1e-12);
}

static void test_hexagonal_layout_numbers_cells_ring_by_ring(void **state)
{
    (void)state;
    tl_sim_config c;
    tl_sim_config_defaults(&c);
    c.rings = 2;
    sim_radio r;
    char error[256];
    assert_int_equal(sim_radio_init(&r, &c, error, sizeof error), TL_OK);
    assert_int_equal(r.cells, 19);
    for (int i = 0; i < r.cells; i++) {
        /* A site's own position lies in its own hexagon. */
        assert_int_equal(sim_radio_cell_at(&r, r.geo[i].x, r.geo[i].y), i);
        const double d = hypot(r.geo[i].x, r.geo[i].y);
        /* Cells 1..6 are the first ring, 500 m out; 7..18 the second. */
        assert_true(i == 0 ? d < 1e-9 : i <= 6 ? fabs(d - 500) < 1e-6 : d > 800);
    }
    assert_int_equal(r.geo[0].neighbour_count, 18);
    /* 100 MHz at 30 kHz: 273 resource blocks. */
    assert_true(fabs(r.bandwidth_dl_hz - 273 * 12 * 30e3 * (1 - c.overhead) * c.dl_share) < 1e-3);
    sim_radio_free(&r);
}

static void test_events_come_in_time_then_key_order(void **state)
{
    (void)state;
    sim_queue q = { 0 };
    const uint64_t times[] = { 50, 10, 30, 10, 20, 10, 40 };
    const uint64_t keys[] = { 1, 9, 3, 2, 5, 7, 4 };
    for (int i = 0; i < 7; i++) {
        assert_int_equal(sim_queue_push(&q, times[i], keys[i]), TL_OK);
    }
    const uint64_t want_t[] = { 10, 10, 10, 20, 30, 40, 50 }, want_k[] = { 2, 7, 9, 5, 3, 4, 1 };
    sim_event e;
    for (int i = 0; i < 7; i++) {
        assert_true(sim_queue_pop(&q, &e));
        assert_true(e.t_ns == want_t[i] && e.key == want_k[i]);
    }
    assert_false(sim_queue_pop(&q, &e));
    sim_queue_free(&q);
}

static void test_cache_policies_evict_what_they_promise(void **state)
{
    (void)state;
    sim_cache c;
    /* LRU: the least recently used leaves. */
    sim_cache_init(&c, 300, TL_SIM_LRU);
    sim_cache_offer(&c, 1, 100, 0.1);
    sim_cache_offer(&c, 2, 100, 0.1);
    sim_cache_offer(&c, 3, 100, 0.1);
    assert_true(sim_cache_lookup(&c, 1));
    sim_cache_offer(&c, 4, 100, 0.1);
    assert_false(sim_cache_lookup(&c, 2));
    assert_true(sim_cache_lookup(&c, 1) && sim_cache_lookup(&c, 3) && sim_cache_lookup(&c, 4));
    sim_cache_free(&c);
    /* LFU: the least used leaves, however recent. */
    sim_cache_init(&c, 200, TL_SIM_LFU);
    sim_cache_offer(&c, 1, 100, 0.1);
    sim_cache_offer(&c, 2, 100, 0.1);
    assert_true(sim_cache_lookup(&c, 1) && sim_cache_lookup(&c, 1));
    sim_cache_offer(&c, 3, 100, 0.1);
    assert_false(sim_cache_lookup(&c, 2));
    assert_true(sim_cache_lookup(&c, 1));
    sim_cache_free(&c);
    /* Popularity: a less popular model is not let in at a more popular one's cost. */
    sim_cache_init(&c, 200, TL_SIM_POPULARITY);
    sim_cache_offer(&c, 1, 100, 0.5);
    sim_cache_offer(&c, 2, 100, 0.3);
    sim_cache_offer(&c, 3, 100, 0.1);
    assert_false(sim_cache_lookup(&c, 3));
    sim_cache_offer(&c, 4, 100, 0.4);
    assert_true(sim_cache_lookup(&c, 1) && sim_cache_lookup(&c, 4));
    assert_false(sim_cache_lookup(&c, 2));
    /* Larger than the whole cache: never held. */
    sim_cache_offer(&c, 5, 1000, 0.9);
    assert_false(sim_cache_lookup(&c, 5));
    sim_cache_free(&c);
}

/* The repository's catalogues for the two built-in apps (a scenario outside
 * sim/ must name them). */
#define CATALOGUES                                                                                                    \
    "[app.vision-tiny]\ncatalogue = " TL_SIM_DIR "/student.csv\n[app.vision-large]\ncatalogue = " TL_SIM_DIR         \
    "/teacher.csv\n"

static char scenario_path[256];

static void write_scenario(const char *text)
{
    FILE *f = fopen(scenario_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static tl_status load(tl_sim_config *c, const char *text, char *error, size_t size)
{
    write_scenario(text);
    tl_sim_config_defaults(c);
    tl_status s = tl_sim_config_load(c, scenario_path, error, size);
    if (s == TL_OK) {
        s = tl_sim_config_finish(c, error, size);
    }
    return s;
}

static void test_scenario_errors_name_the_line_and_the_key(void **state)
{
    (void)state;
    tl_sim_config c;
    char error[512];
    assert_int_equal(load(&c, "[scenario]\ndevices = 5\n[radio]\nrings = 1\nbogus = 3\n", error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, ":5: [radio] bogus: unknown key (rings,"));
    assert_int_equal(load(&c, "[radio]\nscheduler = fastest\n", error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, ":2: [radio] scheduler: \"fastest\" is not one of round-robin|proportional-fair"));
    assert_int_equal(load(&c, "[scenario]\ndevices = 2.5\n", error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "devices: 2.5 is out of range (a whole number in"));
    assert_int_equal(load(&c, "[weather]\nrain = 1\n", error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "[weather]: unknown section"));
    assert_int_equal(load(&c, CATALOGUES "[app.x]\ncatalogue = no-such.csv\nday_share = 1\n", error, sizeof error),
                     TL_ERR_ARG);
    assert_non_null(strstr(error, "[app.x] catalogue:"));
    assert_non_null(strstr(error, "no-such.csv"));
    assert_int_equal(load(&c, CATALOGUES "[edge]\ncells_per_region = 7\ncells_per_edge = 2\n", error, sizeof error),
                     TL_ERR_ARG);
    assert_non_null(strstr(error, "multiple of cells_per_edge"));
    tl_sim_config_defaults(&c);
    assert_int_equal(tl_sim_config_load(&c, "/no/such/scenario.ini", error, sizeof error), TL_ERR_IO);
    assert_non_null(strstr(error, "/no/such/scenario.ini: cannot read the scenario"));
    /* --set: SECTION.KEY=VALUE, class and app sections included. */
    tl_sim_config_defaults(&c);
    assert_int_equal(tl_sim_config_set(&c, "class.m4.mips=200", error, sizeof error), TL_OK);
    assert_true(c.classes[1].instructions_per_second == 200e6);
    assert_int_equal(tl_sim_config_set(&c, "radio.bandwidth_mhz=20", error, sizeof error), TL_OK);
    assert_true(c.bandwidth_mhz == 20);
    assert_int_equal(tl_sim_config_set(&c, "radio.rings", error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "expected SECTION.KEY=VALUE"));
}

/* One cell, every device at the SINR floor (0.05 bit/s/Hz), the same model,
 * all asking at t = 0, no delays elsewhere: processor sharing finishes all
 * N transfers together, at N times one transfer's time alone. */
static const char *burst_scenario =
    "[scenario]\nseed = 3\ndevices = 10\nduration_s = 60\n"
    "[radio]\nrings = 0\nbs_tx_dbm = -50\nfading = 0\nshadowing = 0\nair_latency_ms = 0\n"
    "[edge]\nedge_region_ms = 0\nregion_central_ms = 0\nbackhaul_mbps = 1e9\n"
    "[strategy]\nmode = full\nblock_rtt_ms = 0\n"
    "[burst]\nenabled = 1\n"
    "[class.m0plus]\nshare = 0\n[class.m4]\nshare = 0\n[class.m7]\nshare = 0\n[class.esp32]\nshare = 0\n"
    CATALOGUES "[app.vision-tiny]\nday_share = 1\nnight_share = 1\ndeadline_ms = 10000\n"
    "[app.vision-large]\nday_share = 0\nnight_share = 0\n";

static void run_burst(tl_sim_results *r, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text, "%s", burst_scenario);
    strncat(text, extra, sizeof text - strlen(text) - 1);
    tl_sim_config c;
    char error[512];
    assert_int_equal(load(&c, text, error, sizeof error), TL_OK);
    c.progress = 0;
    tl_sim_timing t;
    assert_int_equal(tl_sim_run(&c, r, &t, error, sizeof error), TL_OK);
}

static void test_a_cell_shares_its_downlink_between_transfers(void **state)
{
    (void)state;
    tl_sim_results r;
    run_burst(&r, "");
    assert_true(r.requests == 10 && r.downloads == 10 && r.met == 10);
    /* 273 blocks x 12 x 30 kHz x 0.86 x 0.75 of the time; 49,072 bytes at 0.05 bit/s/Hz. */
    const double hz = 273 * 12 * 30e3 * 0.86 * 0.75;
    const double alone = 49072 * 8 / (0.05 * hz);
    const double phone_inference = 22549800 * 0.1 / 20e9;
    const double want_us = (10 * alone + phone_inference) * 1e6;
    assert_true(fabs((double)r.latency_max_us - want_us) < 2.0);
    /* All ten finish together: one histogram bin holds them. */
    int bins = 0;
    for (int i = 0; i < TL_SIM_LATENCY_BINS; i++) {
        bins += r.latency[i] > 0;
    }
    assert_int_equal(bins, 1);
    assert_true(r.air_bytes_down == 10 * 49072ull);
    tl_sim_results_free(&r);
}

static void test_broadcast_sends_the_shared_layers_once(void **state)
{
    (void)state;
    tl_sim_results r;
    run_burst(&r, "[strategy]\nbroadcast = 1\nbroadcast_wait_ms = 1\n[app.vision-tiny]\nshared_fraction = 0.75\n");
    assert_true(r.broadcasts == 1 && r.broadcast_members == 10);
    const double hz = 273 * 12 * 30e3 * 0.86 * 0.75;
    const double shared = 36804, rest = 49072 - 36804;
    /* The cell gathers for 1 ms (the first device's model came from the
     * central library a nanosecond after the others'). */
    const double want_us = (0.001 + (shared + 10 * rest) * 8 / (0.05 * hz) + 22549800 * 0.1 / 20e9) * 1e6;
    assert_true(fabs((double)r.latency_max_us - want_us) < 3.0);
    assert_true(r.air_bytes_down == (uint64_t)(shared + 10 * rest));
    tl_sim_results_free(&r);
}

static void test_the_same_seed_gives_the_same_results(void **state)
{
    (void)state;
    const char *text = "[scenario]\ndevices = 400\nduration_s = 7200\nseed = 7\n[radio]\nrings = 2\n[edge]\n"
                       "cells_per_region = 1\n" CATALOGUES;
    tl_sim_results a, b, other;
    tl_sim_timing t;
    tl_sim_config c;
    char error[512];
    assert_int_equal(load(&c, text, error, sizeof error), TL_OK);
    c.progress = 0;
    assert_int_equal(tl_sim_run(&c, &a, &t, error, sizeof error), TL_OK);
    assert_int_equal(tl_sim_run(&c, &b, &t, error, sizeof error), TL_OK);
    assert_true(a.requests > 1000 && a.downloads > 50 && a.handovers > 0);
    assert_memory_equal(&a, &b, offsetof(tl_sim_results, cells));
    assert_memory_equal(a.cell_met, b.cell_met, (size_t)a.cells * sizeof *a.cell_met);
    c.seed = 8;
    assert_int_equal(tl_sim_run(&c, &other, &t, error, sizeof error), TL_OK);
    assert_true(other.requests != a.requests || other.correct != a.correct);
    uint64_t per_class = 0;
    for (int i = 0; i < c.class_count; i++) {
        per_class += a.classes[i].requests;
    }
    assert_true(per_class == a.requests);
    tl_sim_results_free(&a);
    tl_sim_results_free(&b);
    tl_sim_results_free(&other);
}

int main(void)
{
    snprintf(scenario_path, sizeof scenario_path, "/tmp/test_sim_%d.ini", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_loss_follows_tr_38_901),
        cmocka_unit_test(test_cqi_table_gives_spectral_efficiency),
        cmocka_unit_test(test_hexagonal_layout_numbers_cells_ring_by_ring),
        cmocka_unit_test(test_events_come_in_time_then_key_order),
        cmocka_unit_test(test_cache_policies_evict_what_they_promise),
        cmocka_unit_test(test_scenario_errors_name_the_line_and_the_key),
        cmocka_unit_test(test_a_cell_shares_its_downlink_between_transfers),
        cmocka_unit_test(test_broadcast_sends_the_shared_layers_once),
        cmocka_unit_test(test_the_same_seed_gives_the_same_results),
    };
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(scenario_path);
    return failed;
}
