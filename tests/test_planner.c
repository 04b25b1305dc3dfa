/* test_planner.c - in-situ variant selection on hand-made catalogues:
 * the cost model's arithmetic, choices under each constraint, ties, and the
 * reason given when nothing fits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tiny_model.h"
#include "tinylarge/edge.h"
#include "tinylarge/split.h"

/* name, exit, sparsity, bits, accuracy, bytes, macs, arena, m4, pareto, prefix planes, bytes, accuracy,
 * dense bytes, dense m4 */
static const tl_variant catalogue[] = {
    { "big", 1, 0, 8, 0.92f, 60000, 8000000, 40000, -1, 0, 0, 0, 0, 0, -1 },
    { "int4", 1, 0, 4, 0.90f, 32000, 8000000, 40000, -1, 0, 0, 0, 0, 0, -1 },
    { "early", 0, 0, 8, 0.85f, 9000, 4000000, 40000, -1, 0, 0, 0, 0, 0, -1 },
    { "early4", 0, 0, 4, 0.80f, 5000, 4000000, 20000, -1, 0, 0, 0, 0, 0, -1 },
};
enum { N = 4 };

static tl_device_profile roomy(void)
{
    tl_device_profile d = { 1 << 20, 1 << 20, 1e8, 0, 0, 0, 0 };
    return d;
}

static tl_channel fast(void)
{
    tl_channel c = { 1e6, 20.0, 0.5, 0, 0.01, 1024 };
    return c;
}

static void test_cost_model(void **state)
{
    (void)state;
    tl_channel c = { 1e6, 0.0, 0.5, 0, 0.1, 1024 };     /* SNR 0 dB: log2(2) = 1 */
    assert_true(fabs(tl_channel_rate(&c) - 0.5e6) < 1e-6);
    assert_true(fabs(tl_download_seconds(&c, 1024) - (8192 / 0.5e6 + 0.1)) < 1e-9);
    assert_true(fabs(tl_download_seconds(&c, 1025) - (8200 / 0.5e6 + 0.2)) < 1e-9); /* two blocks */
    c.efficiency = 0;                                     /* default 0.5 */
    assert_true(fabs(tl_channel_rate(&c) - 0.5e6) < 1e-6);
    c.measured_bps = 250000;                              /* a measurement wins */
    assert_true(fabs(tl_channel_rate(&c) - 250000) < 1e-9);
    c.measured_bps = 0;
    c.bandwidth_hz = 0;
    assert_true(isinf(tl_download_seconds(&c, 1)));
}

static void test_choices(void **state)
{
    (void)state;
    tl_device_profile d = roomy();
    tl_channel c = fast();
    tl_plan p;
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &c, 0, &p), TL_OK);
    assert_string_equal(catalogue[p.index].name, "big");        /* room for everything: most accurate */
    d.flash_bytes = 40000;
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &c, 0, &p), TL_OK);
    assert_string_equal(catalogue[p.index].name, "int4");       /* 60 KB does not fit */
    d.ram_bytes = 30000;
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &c, 0, &p), TL_OK);
    assert_string_equal(catalogue[p.index].name, "early4");     /* only its arena fits */
    /* A slow link and a deadline: 60 KB at ~100 kbit/s is ~4.8 s, 9 KB ~0.7 s. */
    d = roomy();
    tl_channel slow = { 1e5, 0.0, 1.0, 0, 0.01, 1024 };
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &slow, 1.0, &p), TL_OK);
    assert_string_equal(catalogue[p.index].name, "early");
    assert_true(p.download_s + p.inference_s <= 1.0);
    assert_non_null(strstr(p.reason, "early: accuracy 0.8500"));
    /* ... and the best without the deadline follows it (a small sibling first). */
    assert_string_equal(catalogue[p.then_index].name, "big");
    assert_non_null(strstr(p.reason, "; then big (accuracy 0.9200)"));
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &slow, 0, &p), TL_OK);
    assert_int_equal(p.then_index, -1); /* no deadline: the best at once, nothing follows */
    d.flash_bytes = 40000; /* what follows must fit too: the best that does is int4 */
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &slow, 1.0, &p), TL_OK);
    assert_string_equal(catalogue[p.index].name, "early");
    assert_string_equal(catalogue[p.then_index].name, "int4");
    d = roomy();
    /* Energy: 8 M MACs at 1 nJ each is 8 mJ; a 5 mJ budget leaves the early exits. */
    d.joules_per_mac = 1e-9;
    d.energy_budget_j = 5e-3;
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &c, 0, &p), TL_OK);
    assert_string_equal(catalogue[p.index].name, "early");
    assert_true(fabs(p.energy_j - 4e-3) < 1e-12);
}

static void test_ties(void **state)
{
    (void)state;
    const tl_variant tied[] = {
        { "a", 0, 0, 8, 0.9f, 20000, 5000, 100, -1, 0, 0, 0, 0, 0, -1 },
        { "b", 0, 0, 8, 0.9f, 10000, 9000, 100, -1, 0, 0, 0, 0, 0, -1 },   /* fewer bytes wins */
        { "c", 0, 0, 8, 0.9f, 10000, 7000, 100, -1, 0, 0, 0, 0, 0, -1 },   /* same bytes: fewer MACs wins */
    };
    tl_device_profile d = roomy();
    tl_channel c = fast();
    tl_plan p;
    assert_int_equal(tl_plan_choose(tied, 3, &d, &c, 0, &p), TL_OK);
    assert_string_equal(tied[p.index].name, "c");
}

/* The figures of a real catalogue (the main job's student): the 50%-sparse
 * model does 59% of the MACs in 2.6 times the instructions of the dense
 * one, int4 the same MACs in 1.37 times; made dense, both run in the dense
 * int8 instructions (bench/densify.sh). */
static const tl_variant measured[] = {
    { "dense8", 0, 0, 8, 0.791f, 49072, 7621120, 37632, 22586760, 0, 0, 0, 0, 0, -1 },
    { "dense4", 0, 0, 4, 0.794f, 27040, 7621120, 37632, 31021280, 0, 0, 0, 0, 49072, 22586760 },
    { "sparse8", 0, 0.5f, 8, 0.798f, 33152, 4522066, 37632, 58548680, 0, 0, 0, 0, 49072, 22586760 },
};

/* Measured instructions time the inference when the device gives an
 * instruction rate and every variant was measured (the dense forms count
 * only for a densifying device). */
static void test_instructions(void **state)
{
    (void)state;
    tl_variant v[3];
    memcpy(v, measured, sizeof v);
    tl_device_profile d = { 1 << 20, 1 << 20, 20e6, 0, 0, 0, 0 };
    tl_channel c = { 0, 0, 1.0, 1e6, 0, 1024 };
    tl_plan p;
    /* By MACs, sparse8 takes 0.265 s + 0.226 s: it seems the fastest. */
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0.72, &p), TL_OK);
    assert_string_equal(v[p.index].name, "sparse8");
    assert_int_equal(p.by_instructions, 0);
    assert_true(fabs(p.inference_s - 4522066 / 20e6) < 1e-12);
    assert_null(strstr(p.reason, "M4 instructions"));
    /* At 64 M instructions/s it takes 0.915 s to infer; dense4 0.216 + 0.485 s fits. */
    d.instructions_per_second = 64e6;
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0.72, &p), TL_OK);
    assert_string_equal(v[p.index].name, "dense4");
    assert_int_equal(p.by_instructions, 1);
    assert_true(fabs(p.inference_s - 31021280 / 64e6) < 1e-12);
    assert_non_null(strstr(p.reason, "inference 0.485 s (M4 instructions)"));
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0.6, &p), TL_ERR_UNSUPPORTED);
    assert_non_null(strstr(p.reason, "(fastest: 0.701 s (M4 instructions))"));
    /* No deadline: the most accurate, whatever its speed. */
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0, &p), TL_OK);
    assert_string_equal(v[p.index].name, "sparse8");
    /* Energy follows time at the device's power, 20 M MAC/s * 1 nJ = 20 mW:
     * sparse8 costs 18.3 mJ, not the 4.5 mJ its MACs suggest. */
    d.joules_per_mac = 1e-9;
    d.energy_budget_j = 10e-3;
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0, &p), TL_OK);
    assert_string_equal(v[p.index].name, "dense4");
    assert_true(fabs(p.energy_j - 31021280 / 64e6 * 20e6 * 1e-9) < 1e-12);
    d.energy_budget_j = 0;
    /* One variant not measured: every variant is timed by its MACs. */
    v[0].m4_instructions = -1;
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0.72, &p), TL_OK);
    assert_string_equal(v[p.index].name, "sparse8");
    assert_int_equal(p.by_instructions, 0);
    /* Ties on accuracy and bytes go to the faster inference, here the one
     * with fewer instructions though it has more MACs. */
    const tl_variant tied[] = {
        { "a", 0, 0, 8, 0.9f, 10000, 5000, 100, 90000, 0, 0, 0, 0, 0, -1 },
        { "b", 0, 0, 8, 0.9f, 10000, 9000, 100, 40000, 0, 0, 0, 0, 0, -1 },
    };
    assert_int_equal(tl_plan_choose(tied, 2, &d, &c, 0, &p), TL_OK);
    assert_string_equal(tied[p.index].name, "b");
    d.instructions_per_second = 0;
    assert_int_equal(tl_plan_choose(tied, 2, &d, &c, 0, &p), TL_OK);
    assert_string_equal(tied[p.index].name, "a");
}

/* A densifying device runs a pruned or int4 variant as dense int8 when the
 * dense form fits its flash: then the dense form's instructions time it. */
static void test_densify(void **state)
{
    (void)state;
    tl_variant v[3];
    memcpy(v, measured, sizeof v);
    tl_device_profile d = { 1 << 20, 1 << 20, 20e6, 0, 0, 64e6, 0 };
    tl_channel c = { 0, 0, 1.0, 1e6, 0, 1024 };
    tl_plan p;
    /* Packed, sparse8 takes 0.265 s + 0.915 s; made dense 0.265 s + 0.353 s. */
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0.72, &p), TL_OK);
    assert_string_equal(v[p.index].name, "dense4");
    assert_int_equal(p.dense_bytes, 0);
    d.densify = 1;
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0.72, &p), TL_OK);
    assert_string_equal(v[p.index].name, "sparse8");
    assert_int_equal(p.dense_bytes, 49072);
    assert_true(fabs(p.inference_s - 22586760 / 64e6) < 1e-12);
    assert_non_null(strstr(p.reason, "sparse8: accuracy 0.7980, 33152 bytes (49072 made dense), download 0.265 s"
                                     " + inference 0.353 s (M4 instructions)"));
    /* The dense form does not fit 40 KB of flash: the device keeps the
     * packed model, timed as such; dense4 (packed) is the one that fits. */
    d.flash_bytes = 40000;
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0.72, &p), TL_OK);
    assert_string_equal(v[p.index].name, "dense4");
    assert_int_equal(p.dense_bytes, 0);
    assert_true(fabs(p.inference_s - 31021280 / 64e6) < 1e-12);
    /* The dense form was not measured: every variant is timed by its MACs. */
    d.flash_bytes = 1 << 20;
    v[2].dense_m4_instructions = -1;
    assert_int_equal(tl_plan_choose(v, 3, &d, &c, 0.72, &p), TL_OK);
    assert_int_equal(p.by_instructions, 0);
    assert_string_equal(v[p.index].name, "sparse8");
    assert_true(fabs(p.inference_s - 4522066 / 20e6) < 1e-12);
}

/* A progressive prefix is chosen only where the whole model misses the
 * deadline, and only when it beats the other variants that meet it. */
static void test_progressive_prefix(void **state)
{
    (void)state;
    tl_variant v[N];
    memcpy(v, catalogue, sizeof v);
    v[0].prefix_planes = 5; /* "big": 5 of 8 planes, 39 KB, 0.915 */
    v[0].prefix_bytes = 39000;
    v[0].prefix_accuracy = 0.915f;
    tl_device_profile d = roomy();
    tl_channel c = fast();
    tl_plan p;
    assert_int_equal(tl_plan_choose(v, N, &d, &c, 0, &p), TL_OK); /* no deadline: the whole model */
    assert_string_equal(v[p.index].name, "big");
    assert_int_equal(p.prefix_planes, 0);
    v[0].prefix_accuracy = 0.93f; /* a prefix measured above its whole model (noise) is still not preferred */
    assert_int_equal(tl_plan_choose(v, N, &d, &c, 0, &p), TL_OK);
    assert_int_equal(p.prefix_planes, 0);
    v[0].prefix_accuracy = 0.915f;
    /* 100 kbit/s, 0 rtt: big whole 4.8 s, its prefix 3.12 s (+0.08 s inference), int4 2.56 s. */
    tl_channel slow = { 0, 0, 1.0, 1e5, 0, 1024 };
    assert_int_equal(tl_plan_choose(v, N, &d, &slow, 3.5, &p), TL_OK);
    assert_string_equal(v[p.index].name, "big");
    assert_int_equal(p.prefix_planes, 5);
    assert_true(fabs(p.download_s - 3.12) < 1e-9);
    assert_non_null(strstr(p.reason, "big, progressive, first 5 of 8 planes: accuracy 0.9150 (0.9200 when complete)"));
    assert_int_equal(p.then_index, -1); /* the rest of the stream is the better model */
    assert_int_equal(tl_plan_choose(v, N, &d, &slow, 3.0, &p), TL_OK); /* the prefix misses too */
    assert_string_equal(v[p.index].name, "int4");
    assert_int_equal(p.prefix_planes, 0);
    v[0].prefix_accuracy = 0.89f; /* a worse prefix than int4 whole: int4 wins at 3.5 s */
    assert_int_equal(tl_plan_choose(v, N, &d, &slow, 3.5, &p), TL_OK);
    assert_string_equal(v[p.index].name, "int4");
    /* The prefix does not lift the flash limit: the whole model is stored. */
    v[0].prefix_accuracy = 0.95f;
    d.flash_bytes = 50000;
    assert_int_equal(tl_plan_choose(v, N, &d, &slow, 3.5, &p), TL_OK);
    assert_string_equal(v[p.index].name, "int4");
}

static void test_nothing_fits(void **state)
{
    (void)state;
    tl_device_profile d = roomy();
    tl_channel c = fast();
    tl_plan p;
    d.flash_bytes = 4000;
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &c, 0, &p), TL_ERR_UNSUPPORTED);
    assert_int_equal(p.index, -1);
    assert_string_equal(p.reason, "no variant fits 4000 bytes of flash (smallest: 5000 bytes)");
    d = roomy();
    d.ram_bytes = 10000;
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &c, 0, &p), TL_ERR_UNSUPPORTED);
    assert_string_equal(p.reason, "no variant that fits the flash fits 10000 bytes of RAM (smallest arena: 20000 bytes)");
    d = roomy();
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &c, 0.001, &p), TL_ERR_UNSUPPORTED);
    assert_non_null(strstr(p.reason, "meets the 0.001 s deadline"));
    d.joules_per_mac = 1e-9;
    d.energy_budget_j = 1e-3;
    assert_int_equal(tl_plan_choose(catalogue, N, &d, &c, 0, &p), TL_ERR_UNSUPPORTED);
    assert_non_null(strstr(p.reason, "energy budget (least: 0.004 J)"));
    assert_int_equal(tl_plan_choose(catalogue, 0, &d, &c, 0, &p), TL_ERR_UNSUPPORTED);
    assert_string_equal(p.reason, "the catalogue is empty");
}

static void test_catalogue_csv(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_catalogue_XXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto\n"
               "e0-s00-int8,0,0.00,8,0.7880,49072,7621120,37632,22598920,1\n"
               "e0-s00-int4,0,0.00,4,0.7730,27040,7621120,37632,-1,1\n");
    fclose(f);
    tl_variant v[4];
    int count;
    char error[256];
    assert_int_equal(tl_catalogue_read(path, v, 4, &count, error, sizeof error), TL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(v[1].name, "e0-s00-int4");
    assert_int_equal(v[0].bytes, 49072);
    assert_int_equal(v[1].m4_instructions, -1);
    assert_true(fabsf(v[0].accuracy - 0.788f) < 1e-6f);
    assert_int_equal(tl_catalogue_read(path, v, 1, &count, error, sizeof error), TL_ERR_BOUNDS);
    /* The progressive prefix columns (catalogues since migration 3). */
    f = fopen(path, "w");
    fprintf(f, "variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto,"
               "prefix_planes,prefix_bytes,prefix_accuracy\n"
               "e0-s00-int8,0,0.00,8,0.7880,49072,7621120,37632,22598920,1,5,32911,0.7790\n"
               "e0-s00-int4,0,0.00,4,0.7730,27040,7621120,37632,-1,1,0,0,0.0000\n");
    fclose(f);
    assert_int_equal(tl_catalogue_read(path, v, 4, &count, error, sizeof error), TL_OK);
    assert_int_equal(v[0].prefix_planes, 5);
    assert_int_equal(v[0].prefix_bytes, 32911);
    assert_true(fabsf(v[0].prefix_accuracy - 0.779f) < 1e-6f);
    assert_int_equal(v[1].prefix_planes, 0);
    assert_int_equal(v[0].dense_bytes, 0);
    assert_int_equal(v[0].dense_m4_instructions, -1);
    /* The dense form's columns (catalogues since migration 4). */
    f = fopen(path, "w");
    fprintf(f, "variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto,"
               "prefix_planes,prefix_bytes,prefix_accuracy,dense_bytes,dense_m4_instructions\n"
               "e0-s00-int8,0,0.00,8,0.7880,49072,7621120,37632,22598920,1,5,32911,0.7790,0,-1\n"
               "e0-s00-int4,0,0.00,4,0.7730,27040,7621120,37632,31021280,1,0,0,0.0000,49072,22586760\n");
    fclose(f);
    assert_int_equal(tl_catalogue_read(path, v, 4, &count, error, sizeof error), TL_OK);
    assert_int_equal(count, 2);
    assert_int_equal(v[0].dense_bytes, 0);
    assert_int_equal(v[0].dense_m4_instructions, -1);
    assert_int_equal(v[1].dense_bytes, 49072);
    assert_int_equal(v[1].dense_m4_instructions, 22586760);
    f = fopen(path, "w");
    fprintf(f, "variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto\n"
               "e0-s00-int8,0,0.00,8,0.7880,49072,7621120,37632,22598920,1,0,0,0.5,7\n");
    fclose(f);
    assert_int_equal(tl_catalogue_read(path, v, 4, &count, error, sizeof error), TL_ERR_FORMAT);
    assert_non_null(strstr(error, "line 2 is not a catalogue row")); /* 14 columns */
    f = fopen(path, "w");
    fprintf(f, "variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto\n"
               "e0-s00-int8,0,0.00,8,0.7880,49072,7621120,37632,22598920,1,9,100,0.5\n");
    fclose(f);
    assert_int_equal(tl_catalogue_read(path, v, 4, &count, error, sizeof error), TL_ERR_FORMAT);
    assert_non_null(strstr(error, "line 2 is not a catalogue row")); /* 9 planes */
    f = fopen(path, "w");
    fprintf(f, "name,size\nx,1\n");
    fclose(f);
    assert_int_equal(tl_catalogue_read(path, v, 4, &count, error, sizeof error), TL_ERR_FORMAT);
    assert_non_null(strstr(error, "not a tinylarge catalogue"));
    /* A variant names a file beside the catalogue: no path in it. */
    f = fopen(path, "w");
    fprintf(f, "variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions\n"
               "../secret,0,0.00,8,0.7880,49072,7621120,37632,-1\n");
    fclose(f);
    assert_int_equal(tl_catalogue_read(path, v, 4, &count, error, sizeof error), TL_ERR_FORMAT);
    unlink(path);
    assert_int_equal(tl_catalogue_read(path, v, 4, &count, error, sizeof error), TL_ERR_IO);
}

/* What tl_catalogue_write writes, CSV and JSON, reads back the same. */
static void a_catalogue_round_trips_through_csv_and_json(void **state)
{
    (void)state;
    char dir[] = "/tmp/tl_catalogue_dir_XXXXXX", path[128], error[256];
    assert_non_null(mkdtemp(dir));
    tl_variant v[4], back[4];
    memcpy(v, catalogue, sizeof v);
    v[1].prefix_planes = 5;
    v[1].prefix_bytes = 20001;
    v[1].prefix_accuracy = 0.8875f;
    v[2].dense_bytes = 9999;
    v[2].dense_m4_instructions = 123456789012ll;
    tl_catalogue_mark_pareto(v, N);
    assert_true(v[0].pareto && v[1].pareto && v[2].pareto && v[3].pareto); /* each the best at its size */
    v[3].accuracy = 0.95f; /* now early4 beats all: smaller and better */
    tl_catalogue_mark_pareto(v, N);
    assert_true(!v[0].pareto && !v[1].pareto && !v[2].pareto && v[3].pareto);
    assert_int_equal(tl_catalogue_write(dir, v, N, error, sizeof error), TL_OK);
    for (int form = 0; form < 2; ++form) {
        int count = 0;
        snprintf(path, sizeof path, "%s/catalogue.%s", dir, form ? "json" : "csv");
        assert_int_equal(tl_catalogue_read(path, back, 4, &count, error, sizeof error), TL_OK);
        assert_int_equal(count, N);
        for (int i = 0; i < N; ++i) {
            assert_string_equal(back[i].name, v[i].name);
            assert_true(back[i].exit == v[i].exit && back[i].bits == v[i].bits && back[i].bytes == v[i].bytes &&
                        back[i].macs == v[i].macs && back[i].arena == v[i].arena && back[i].pareto == v[i].pareto &&
                        back[i].m4_instructions == v[i].m4_instructions &&
                        back[i].prefix_planes == v[i].prefix_planes && back[i].prefix_bytes == v[i].prefix_bytes &&
                        back[i].dense_bytes == v[i].dense_bytes &&
                        back[i].dense_m4_instructions == v[i].dense_m4_instructions);
            assert_true(fabsf(back[i].accuracy - v[i].accuracy) < 1e-4f);
            assert_true(fabsf(back[i].prefix_accuracy - v[i].prefix_accuracy) < 1e-4f);
        }
    }
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static tl_status decode_text(const char *query, tl_plan_request *r, char *error, size_t size)
{
    return tl_plan_request_decode(query, strlen(query), r, error, size);
}

static void a_plan_request_round_trips_and_bad_numbers_are_named(void **state)
{
    (void)state;
    tl_plan_request r, back;
    memset(&r, 0, sizeof r);
    r.profile.flash_bytes = 262144;
    r.profile.ram_bytes = 65536;
    r.profile.macs_per_second = 2e7;
    r.profile.instructions_per_second = 6.4e7;
    r.profile.joules_per_mac = 1e-9;
    r.profile.energy_budget_j = 0.25;
    r.profile.densify = 1;
    r.rate_bps = 250000;
    r.deadline_s = 1.5;
    snprintf(r.device, sizeof r.device, "dev-7");
    snprintf(r.name, sizeof r.name, "fashion");
    snprintf(r.context, sizeof r.context, "task=fashion&location=hall");
    char query[512], error[256];
    assert_int_equal(tl_plan_request_encode(&r, query, sizeof query), TL_OK);
    assert_int_equal(decode_text(query, &back, error, sizeof error), TL_OK);
    assert_true(back.profile.flash_bytes == r.profile.flash_bytes && back.profile.ram_bytes == r.profile.ram_bytes);
    assert_true(back.profile.macs_per_second == r.profile.macs_per_second);
    assert_true(back.profile.instructions_per_second == r.profile.instructions_per_second);
    assert_true(back.profile.joules_per_mac == r.profile.joules_per_mac);
    assert_true(back.profile.energy_budget_j == r.profile.energy_budget_j);
    assert_true(back.rate_bps == r.rate_bps && back.deadline_s == r.deadline_s && back.profile.densify == 1);
    assert_string_equal(back.device, "dev-7");
    assert_string_equal(back.name, "fashion");
    assert_string_equal(back.context, "task=fashion&location=hall");
    assert_int_equal(tl_plan_request_encode(&r, query, 20), TL_ERR_ARG); /* does not fit */
    /* Numbers are read whole; each bad one is named. */
    static const struct { const char *query, *message; } bad[] = {
        { "flash=1abc&ram=1&macs=1&rate=1", "flash= takes a whole number of bytes, not '1abc'" },
        { "flash=-1&ram=1&macs=1&rate=1", "flash= takes a whole number of bytes, not '-1'" },
        { "flash=99999999999999999999999&ram=1&macs=1&rate=1", "flash= takes a whole number of bytes" },
        { "flash=1&ram=1&macs=nan&rate=1", "macs= takes a non-negative number, not 'nan'" },
        { "flash=1&ram=1&macs=1&rate=1e999", "rate= takes a non-negative number, not '1e999'" },
        { "flash=1&ram=1&macs=1&rate=1&ips=-1", "ips= takes a non-negative number, not '-1'" },
        { "flash=1&ram=1&macs=0&rate=1", "rate and macs must be positive" },
        { "flash=1&ram=1&macs=1&rate=1&densify=yes", "densify takes 0 or 1" },
        { "flash=1&ram=1&macs=1", "plan needs flash, ram, macs and rate" },
        /* context pairs are key=value: what the server keeps is what the
         * device meant (found by fuzz_edge: these did not survive a round trip) */
        { "flash=1&ram=1&macs=1&rate=1&hall", "context pair 'hall' is not key=value" },
        { "flash=1&ram=1&macs=1&rate=1&=hall", "context pair '=hall' is not key=value" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        assert_int_equal(decode_text(bad[i].query, &back, error, sizeof error), TL_ERR_ARG);
        if (!strstr(error, bad[i].message)) {
            fail_msg("%s: '%s' does not say '%s'", bad[i].query, error, bad[i].message);
        }
    }
    /* A NUL byte inside a query (a CoAP option may hold one) would end the
     * text early on the server's side: refused. */
    static const char with_nul[] = "flash=1&ram=1&macs=1&rate=1&task=a\0b";
    assert_int_equal(tl_plan_request_decode(with_nul, sizeof with_nul - 1, &back, error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "the query holds a NUL byte"));
}

/* The split cost model (split.h) on a two-operator model (FULLY_CONNECTED
 * 1024 -> 16, SOFTMAX): the bytes at each cut, and the cut moving towards
 * the device as the uplink slows and towards the edge as it speeds up. */
static void the_cut_moves_towards_the_device_as_the_rate_falls(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t size;
    assert_int_equal(wide_model_bytes(3, &buf, &size), 0);
    tl_model m;
    assert_int_equal(tl_model_load(&m, buf, size, 0), TL_OK);
    assert_int_equal(m.header->op_count, 2);
    assert_int_equal(tl_model_cut_bytes(&m, 0), 1024); /* the input */
    assert_int_equal(tl_model_cut_bytes(&m, 1), 16);   /* the logits */
    assert_int_equal(tl_model_cut_bytes(&m, 2), 0);    /* nothing leaves the device */
    const uint64_t device[2] = { 100000, 1000000 };
    const double edge[2] = { 1e-4, 1e-6 };
    tl_split_cut cuts[3];
    uint32_t chosen[3];
    const double rates[3] = { 1e3, 1e5, 1e8 };
    for (int r = 0; r < 3; ++r) {
        const tl_split_link link = { rates[r], 0.001, 64e6, 0.3e-9, 100e-9, 0 };
        assert_int_equal(tl_split_costs(&m, device, edge, &link, TL_SPLIT_LATENCY, cuts, &chosen[r]), TL_OK);
        for (int k = 0; k < 3; ++k) {
            assert_true(fabs(cuts[k].total_s - (cuts[k].device_s + cuts[k].uplink_s + cuts[k].edge_s)) < 1e-12);
        }
        assert_true(fabs(cuts[1].device_s - 100000 / 64e6) < 1e-12);
        assert_true(fabs(cuts[1].uplink_s - (16 * 8 / rates[r] + 0.001)) < 1e-12);
        assert_true(fabs(cuts[1].energy_j - (100000 * 0.3e-9 + 16 * 8 * 100e-9)) < 1e-15);
        assert_true(cuts[2].uplink_s == 0.0 && cuts[2].edge_s == 0.0);
    }
    assert_int_equal(chosen[0], 2); /* 1 kbit/s: all on the device */
    assert_int_equal(chosen[1], 1); /* 100 kbit/s: the logits cross, not the image */
    assert_int_equal(chosen[2], 0); /* 100 Mbit/s: all on the edge */
    /* A request's own 200 bytes (headers, query) cost more at 100 kbit/s
     * than the device's last operator: the device keeps it. */
    const tl_split_link heavy = { 1e5, 0.001, 64e6, 0.3e-9, 100e-9, 200 };
    assert_int_equal(tl_split_costs(&m, device, edge, &heavy, TL_SPLIT_LATENCY, cuts, &chosen[0]), TL_OK);
    assert_true(fabs(cuts[1].uplink_s - ((16 + 200) * 8 / 1e5 + 0.001)) < 1e-12);
    assert_true(fabs(cuts[1].energy_j - (100000 * 0.3e-9 + (16 + 200) * 8 * 100e-9)) < 1e-15);
    assert_int_equal(cuts[1].bytes, 16);
    assert_int_equal(chosen[0], 2);
    /* Least energy: the 16-byte cut after 100 K instructions (0.043 mJ)
     * beats sending the image (0.82 mJ) and running all 1.1 M (0.33 mJ),
     * at any rate, even where all on the edge is faster. */
    const tl_split_link fast = { 1e8, 0.001, 64e6, 0.3e-9, 100e-9, 0 };
    assert_int_equal(tl_split_costs(&m, device, edge, &fast, TL_SPLIT_ENERGY, cuts, &chosen[0]), TL_OK);
    assert_int_equal(chosen[0], 1);
    assert_true(cuts[1].energy_j < cuts[0].energy_j && cuts[1].energy_j < cuts[2].energy_j);
    assert_true(cuts[0].total_s < cuts[1].total_s);
    /* A radio that costs nothing to send with: the device computes nothing. */
    const tl_split_link free_radio = { 1e3, 0.001, 64e6, 0.3e-9, 0.0, 0 };
    assert_int_equal(tl_split_costs(&m, device, edge, &free_radio, TL_SPLIT_ENERGY, cuts, &chosen[0]), TL_OK);
    assert_int_equal(chosen[0], 0);
    /* Free arithmetic and a free radio: every cut costs 0 J, the tie goes to the faster one (1 kbit/s: the device). */
    const tl_split_link free_all = { 1e3, 0.001, 64e6, 0.0, 0.0, 0 };
    assert_int_equal(tl_split_costs(&m, device, edge, &free_all, TL_SPLIT_ENERGY, cuts, &chosen[0]), TL_OK);
    assert_int_equal(chosen[0], 2);
    assert_int_equal(tl_split_costs(&m, device, edge, &fast, (tl_split_objective)7, cuts, &chosen[0]), TL_ERR_ARG);
    const tl_split_link bad = { 0.0, 0.001, 64e6, 0.3e-9, 100e-9, 0 };
    assert_int_equal(tl_split_costs(&m, device, edge, &bad, TL_SPLIT_LATENCY, cuts, &chosen[0]), TL_ERR_ARG);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_model),
        cmocka_unit_test(test_choices),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_instructions),
        cmocka_unit_test(test_densify),
        cmocka_unit_test(test_progressive_prefix),
        cmocka_unit_test(test_nothing_fits),
        cmocka_unit_test(test_catalogue_csv),
        cmocka_unit_test(a_catalogue_round_trips_through_csv_and_json),
        cmocka_unit_test(a_plan_request_round_trips_and_bad_numbers_are_named),
        cmocka_unit_test(the_cut_moves_towards_the_device_as_the_rate_falls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
