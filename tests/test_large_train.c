/* test_large_train.c - data, training, checkpoints and resuming.
 *
 * The training runs use a few hundred real Fashion-MNIST images (Debian's
 * dataset-fashion-mnist, installed by scripts/install-deps.sh); without the
 * package those tests are skipped, never passed silently.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zlib.h>

#include "tinylarge/convert.h"
#include "tinylarge/large.h"
#include "tinylarge/host.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tl_train_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int have_dataset(void)
{
    return access(TL_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0;
}

static void write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims, int rank,
                      const uint8_t *data, size_t size)
{
    uint8_t header[20]; /* magic and up to 4 dimensions */
    size_t h = 0;
    for (int i = -1; i < rank; ++i) {
        const uint32_t v = i < 0 ? magic : dims[i];
        header[h++] = (uint8_t)(v >> 24);
        header[h++] = (uint8_t)(v >> 16);
        header[h++] = (uint8_t)(v >> 8);
        header[h++] = (uint8_t)v;
    }
    gzFile f = gzopen(path, gz ? "wb" : "wbT");
    assert_non_null(f);
    gzwrite(f, header, (unsigned)h);
    if (size) {
        gzwrite(f, data, (unsigned)size);
    }
    gzclose(f);
}

static void test_idx_reading(void **state)
{
    (void)state;
    char images[128], labels[128], error[256];
    snprintf(images, sizeof images, "%s/img.gz", dir);
    snprintf(labels, sizeof labels, "%s/lab", dir);
    uint8_t pix[3 * 2 * 2];
    for (int i = 0; i < 12; ++i) {
        pix[i] = (uint8_t)(i * 20);
    }
    const uint8_t lab[3] = { 7, 0, 2 };
    const uint32_t idims[3] = { 3, 2, 2 }, ldims[1] = { 3 };
    write_idx(images, 1, 0x803, idims, 3, pix, sizeof pix);
    write_idx(labels, 0, 0x801, ldims, 1, lab, sizeof lab);   /* plain, not gzip */
    tl_dataset ds;
    assert_int_equal(tl_dataset_load_idx(images, labels, 0, &ds, error, sizeof error), TL_OK);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.h, 2);
    assert_int_equal(ds.c, 1);
    assert_int_equal(ds.classes, 8); /* 1 + the largest label read */
    assert_memory_equal(ds.pixels, pix, sizeof pix);
    assert_memory_equal(ds.labels, lab, sizeof lab);
    /* Normalised batch without augmentation: (p / 255 - mean) / std. */
    float x[8];
    uint8_t y[2];
    const uint32_t order[3] = { 2, 0, 1 };
    tl_dataset_batch(&ds, order, 0, 2, 0.5f, 0.25f, 0, 0, NULL, x, y);
    assert_int_equal(y[0], 2);
    assert_int_equal(y[1], 7);
    assert_true(fabsf(x[0] - ((160.0f / 255.0f - 0.5f) / 0.25f)) < 1e-5f);
    tl_dataset_free(&ds);
    /* limit */
    assert_int_equal(tl_dataset_load_idx(images, labels, 2, &ds, error, sizeof error), TL_OK);
    assert_int_equal(ds.n, 2);
    tl_dataset_free(&ds);
    /* Four dimensions: channels last. */
    const uint32_t cdims[4] = { 1, 2, 2, 3 }, one[1] = { 1 };
    write_idx(images, 1, 0x804, cdims, 4, pix, sizeof pix);
    write_idx(labels, 0, 0x801, one, 1, lab, 1);
    assert_int_equal(tl_dataset_load_idx(images, labels, 0, &ds, error, sizeof error), TL_OK);
    assert_true(ds.n == 1 && ds.h == 2 && ds.w == 2 && ds.c == 3);
    assert_memory_equal(ds.pixels, pix, sizeof pix);
    tl_dataset_free(&ds);
    write_idx(images, 1, 0x803, idims, 3, pix, sizeof pix);
    write_idx(labels, 0, 0x801, ldims, 1, lab, sizeof lab);
    /* Errors name the file and the problem. */
    assert_int_equal(tl_dataset_load_idx(labels, labels, 0, &ds, error, sizeof error), TL_ERR_FORMAT);
    assert_non_null(strstr(error, "/lab: not an IDX file of 3 to 4 dimensions"));
    write_idx(images, 1, 0x803, idims, 3, pix, 7); /* short */
    assert_int_equal(tl_dataset_load_idx(images, labels, 0, &ds, error, sizeof error), TL_ERR_TRUNCATED);
    assert_non_null(strstr(error, "img.gz: truncated"));
    assert_int_equal(tl_dataset_load_dir(dir, 1, 0, &ds, error, sizeof error), TL_ERR_IO);
    assert_non_null(strstr(error, ": no training split (x_train.npy and y_train.npy, or MNIST-style IDX files"));
}

static void test_shuffle_is_a_seeded_permutation(void **state)
{
    (void)state;
    uint32_t a[1000], b[1000], c[1000];
    tl_shuffle(a, 1000, 5, 0);
    tl_shuffle(b, 1000, 5, 0);
    tl_shuffle(c, 1000, 5, 1);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    uint8_t seen[1000] = { 0 };
    for (int i = 0; i < 1000; ++i) {
        assert_true(a[i] < 1000 && !seen[a[i]]);
        seen[a[i]] = 1;
    }
}

static tl_train_config small_run(const char *out, const char *arch, int epochs)
{
    tl_train_config cfg;
    tl_train_defaults(&cfg);
    cfg.arch = arch;
    cfg.epochs = epochs;
    cfg.batch = 32;
    cfg.limit_train = 640;
    cfg.limit_test = 300;
    cfg.threads = 1;
    cfg.warmup_epochs = 0;
    cfg.out = out;
    cfg.quiet = 1;
    return cfg;
}

static void test_tiny_training_learns(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char out[128], error[256] = "";
    snprintf(out, sizeof out, "%s/tiny.tlc", dir);
    tl_train_config cfg = small_run(out, "student-tiny", 4);
    cfg.lr = 0.1f;
    tl_train_report rep;
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_OK);
    assert_int_equal(rep.epochs_run, 4);
    /* Chance is 10%; a few hundred images and four epochs reach far beyond. */
    assert_true(rep.test_accuracy[0] > 0.45f);
    assert_true(rep.train_loss < 1.6f); /* from ~2.3 = log(10) */
    /* The checkpoint evaluates to the accuracy it reports. */
    tl_net net;
    tl_checkpoint_info info;
    assert_int_equal(tl_checkpoint_load(out, 64, &net, NULL, &info, error, sizeof error), TL_OK);
    assert_string_equal(info.arch, "student-tiny");
    assert_int_equal(info.epoch, 4);
    tl_dataset test;
    assert_int_equal(tl_dataset_load_dir(NULL, 0, 300, &test, error, sizeof error), TL_OK);
    float acc[TL_MAX_EXITS];
    assert_int_equal(tl_evaluate(&net, &test, info.mean, info.std, acc, NULL), TL_OK);
    assert_true(fabsf(acc[0] - info.accuracy) < 1e-6f);
    tl_dataset_free(&test);
    tl_net_free(&net);
}

/* A multi-exit network trains every exit (weighted loss sum). */
static void test_multi_exit_training(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char out[128], error[256] = "";
    snprintf(out, sizeof out, "%s/exits.tlc", dir);
    tl_train_report rep;
    tl_train_config cfg = small_run(out, "student-exits", 3);
    cfg.lr = 0.1f;
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_OK);
    assert_int_equal(rep.exit_count, 2);
    assert_true(rep.test_accuracy[0] > 0.3f); /* the early exit learned too */
    assert_true(rep.test_accuracy[1] > 0.3f);
}

static void test_checkpoint_round_trip_and_corruption(void **state)
{
    (void)state;
    char path[128], error[256] = "";
    snprintf(path, sizeof path, "%s/rt.tlc", dir);
    tl_net net;
    assert_int_equal(tl_net_build_arch(&net, "student-exits", 28, 28, 1, 10), TL_OK);
    assert_int_equal(tl_net_finalize(&net, 4, 9), TL_OK);
    for (int i = 0; i < net.count; ++i) {
        if (net.nodes[i].kind == TL_LAYER_BATCHNORM) {
            net.nodes[i].running_mean[0] = 0.25f * (float)i;
        }
    }
    tl_optim opt;
    memset(&opt, 0, sizeof opt);
    assert_int_equal(tl_optim_init(&opt, net.param_count), TL_OK);
    opt.step = 77;
    opt.m[3] = 1.5f;
    tl_checkpoint_info info = { "student-exits", 28, 28, 1, 10, 3, 0.3f, 0.4f, 0.5f, 9 };
    assert_int_equal(tl_checkpoint_save(path, &net, &opt, &info), TL_OK);
    tl_net back;
    tl_optim back_opt;
    memset(&back_opt, 0, sizeof back_opt);
    tl_checkpoint_info back_info;
    assert_int_equal(tl_checkpoint_load(path, 4, &back, &back_opt, &back_info, error, sizeof error), TL_OK);
    assert_memory_equal(back.params, net.params, net.param_count * sizeof(float));
    assert_int_equal(back_opt.step, 77);
    assert_true(back_opt.m[3] == 1.5f);
    assert_int_equal(back_info.epoch, 3);
    for (int i = 0; i < net.count; ++i) {
        if (net.nodes[i].kind == TL_LAYER_BATCHNORM) {
            assert_true(back.nodes[i].running_mean[0] == 0.25f * (float)i);
        }
    }
    tl_net_free(&back);
    tl_optim_free(&back_opt);
    /* A flipped byte: refused, with the reason. */
    FILE *f = fopen(path, "r+b");
    fseek(f, 200, SEEK_SET);
    fputc(0x5A, f);
    fclose(f);
    assert_int_equal(tl_checkpoint_load(path, 4, &back, NULL, NULL, error, sizeof error), TL_ERR_DIGEST);
    assert_non_null(strstr(error, "corrupt checkpoint"));
    /* Truncated, missing, or not a checkpoint at all. */
    assert_int_equal(truncate(path, 100), 0);
    assert_int_not_equal(tl_checkpoint_load(path, 4, &back, NULL, NULL, error, sizeof error), TL_OK);
    assert_int_equal(tl_checkpoint_load("/nonexistent/x.tlc", 4, &back, NULL, NULL, error, sizeof error),
                     TL_ERR_IO);
    assert_non_null(strstr(error, "/nonexistent/x.tlc: cannot read"));
    tl_optim_free(&opt);
    tl_net_free(&net);
}

/* With a constant learning rate, 2 epochs in one run and 1 + 1 (resumed)
 * must give bit-identical weights. */
static void test_resume_is_bit_exact(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char whole[128], part[128], error[256] = "";
    snprintf(whole, sizeof whole, "%s/w.tlc", dir);
    snprintf(part, sizeof part, "%s/p.tlc", dir);
    tl_train_report rep;
    tl_train_config cfg = small_run(whole, "student-tiny", 2);
    cfg.limit_train = 192;
    cfg.schedule = TL_SCHED_CONSTANT;
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_OK);
    tl_train_config one = cfg;
    one.out = part;
    one.epochs = 1;
    assert_int_equal(tl_train(&one, &rep, error, sizeof error), TL_OK);
    tl_train_config rest = cfg;
    rest.out = part;
    rest.resume = part;
    assert_int_equal(tl_train(&rest, &rep, error, sizeof error), TL_OK);
    tl_net a, b;
    assert_int_equal(tl_checkpoint_load(whole, 8, &a, NULL, NULL, error, sizeof error), TL_OK);
    assert_int_equal(tl_checkpoint_load(part, 8, &b, NULL, NULL, error, sizeof error), TL_OK);
    assert_memory_equal(a.params, b.params, a.param_count * sizeof(float));
    tl_net_free(&a);
    tl_net_free(&b);
}

/* Two training threads (replicas sharing the weights) learn as one does. */
static void test_training_threads(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char one[128], two[128], error[256] = "";
    snprintf(one, sizeof one, "%s/th1.tlc", dir);
    snprintf(two, sizeof two, "%s/th2.tlc", dir);
    tl_train_report r1, r2;
    tl_train_config cfg = small_run(one, "student-tiny", 3);
    cfg.lr = 0.1f;
    assert_int_equal(tl_train(&cfg, &r1, error, sizeof error), TL_OK);
    cfg.out = two;
    cfg.threads = 2;
    assert_int_equal(tl_train(&cfg, &r2, error, sizeof error), TL_OK);
    assert_true(r2.test_accuracy[0] > 0.4f);
    assert_true(fabsf(r1.test_accuracy[0] - r2.test_accuracy[0]) < 0.06f);
    /* The replicas share one weight array: the checkpoint is one network. */
    tl_net net;
    assert_int_equal(tl_checkpoint_load(two, 8, &net, NULL, NULL, error, sizeof error), TL_OK);
    tl_net_free(&net);
}

/* A deliberately weak teacher: student-tiny, a few epochs on little data. */
static void train_weak_teacher(const char *path, int epochs)
{
    char error[256] = "";
    tl_train_report rep;
    tl_train_config cfg = small_run(path, "student-tiny", epochs);
    cfg.lr = 0.1f;
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_OK);
}

/* A student-tiny distilled from `teacher` on `views` fixed views, the
 * teacher's pass split across two threads. */
static tl_train_config views_run(const char *out, const char *teacher, int epochs, uint64_t seed, int views)
{
    tl_train_config d = small_run(out, "student-tiny", epochs);
    d.lr = 0.1f;
    d.seed = seed;
    d.teacher = teacher;
    d.teacher_views = views;
    d.threads = 2;
    return d;
}

/* The largest difference between two checkpoints' weights. */
static float largest_difference(const char *a_path, const char *b_path)
{
    char error[256] = "";
    tl_net a, b;
    assert_int_equal(tl_checkpoint_load(a_path, 8, &a, NULL, NULL, error, sizeof error), TL_OK);
    assert_int_equal(tl_checkpoint_load(b_path, 8, &b, NULL, NULL, error, sizeof error), TL_OK);
    assert_int_equal(a.param_count, b.param_count);
    float worst = 0;
    for (size_t i = 0; i < a.param_count; ++i) {
        const float diff = fabsf(a.params[i] - b.params[i]);
        worst = diff > worst ? diff : worst;
    }
    tl_net_free(&a);
    tl_net_free(&b);
    return worst;
}

static void test_distillation_runs(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char teacher[128], student[128], error[256] = "";
    snprintf(teacher, sizeof teacher, "%s/t.tlc", dir);
    snprintf(student, sizeof student, "%s/s.tlc", dir);
    tl_train_report rep;
    train_weak_teacher(teacher, 3);
    tl_train_config d = small_run(student, "student-tiny", 3);
    d.lr = 0.1f;
    d.teacher = teacher;
    assert_int_equal(tl_train(&d, &rep, error, sizeof error), TL_OK);
    /* Learns well beyond chance (10%) from a deliberately weak teacher. */
    assert_true(rep.test_accuracy[0] > 0.3f);
    /* Teacher and student share architecture, seed and data: without the
     * distillation term they would be bit-identical. */
    tl_net t, st;
    assert_int_equal(tl_checkpoint_load(teacher, 8, &t, NULL, NULL, error, sizeof error), TL_OK);
    assert_int_equal(tl_checkpoint_load(student, 8, &st, NULL, NULL, error, sizeof error), TL_OK);
    assert_memory_not_equal(t.params, st.params, t.param_count * sizeof(float));
    /* The cached teacher (run once, un-augmented, here on two threads) gives
     * the same soft targets as the teacher run on every batch: without
     * augmentation the two students agree up to rounding. */
    char live[128];
    snprintf(live, sizeof live, "%s/live.tlc", dir);
    d.augment = 0;
    d.threads = 2;
    assert_int_equal(tl_train(&d, &rep, error, sizeof error), TL_OK);
    tl_train_config l = d;
    l.out = live;
    l.teacher_live = 1;
    assert_int_equal(tl_train(&l, &rep, error, sizeof error), TL_OK);
    const float worst = largest_difference(student, live);
    printf("cached vs live teacher: largest weight difference %g\n", (double)worst);
    assert_true(worst < 1e-3f);
    assert_true(largest_difference(student, teacher) > 1e-2f);
    tl_net_free(&t);
    tl_net_free(&st);
    /* A missing teacher is an error naming it. */
    d.teacher = "/nonexistent/teacher.tlc";
    assert_int_equal(tl_train(&d, &rep, error, sizeof error), TL_ERR_IO);
    assert_non_null(strstr(error, "teacher.tlc: cannot read"));
    /* A teacher for other images or other classes is refused by name, cached or live. */
    const struct { int h, w, classes; const char *says; } wrong[] = {
        { 28, 28, 5, "the teacher has 5 outputs, the data 10 classes" },
        { 14, 14, 10, "the teacher takes 14x14x1 images, the data has 28x28x1" },
    };
    char other[128];
    snprintf(other, sizeof other, "%s/other.tlc", dir);
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; ++i) {
        tl_net o;
        assert_int_equal(tl_net_build_arch(&o, "student-tiny", wrong[i].h, wrong[i].w, 1, wrong[i].classes), TL_OK);
        assert_int_equal(tl_net_finalize(&o, 4, 1), TL_OK);
        tl_checkpoint_info oi = { "student-tiny", wrong[i].h, wrong[i].w, 1, wrong[i].classes, 1, 0.3f, 0.4f, 0.5f, 1 };
        assert_int_equal(tl_checkpoint_save(other, &o, NULL, &oi), TL_OK);
        tl_net_free(&o);
        d.teacher = other;
        for (int live_teacher = 0; live_teacher < 2; ++live_teacher) {
            d.teacher_live = live_teacher;
            error[0] = 0;
            assert_int_equal(tl_train(&d, &rep, error, sizeof error), TL_ERR_SHAPE);
            assert_non_null(strstr(error, "other.tlc: "));
            assert_non_null(strstr(error, wrong[i].says));
        }
    }
}

/* Augmented views: a view is a shift in [-2, 2] and an optional mirror, the
 * same for the same (seed, image, view) on every call; cutout adds a square
 * centred anywhere in the image without changing the rest of the view. */
static void test_views(void **state)
{
    (void)state;
    int seen[5][5][2], cut_corners[2][2];
    memset(seen, 0, sizeof seen);
    memset(cut_corners, 0, sizeof cut_corners);
    int differs = 0;
    for (uint32_t image = 0; image < 2000; ++image) {
        for (int v = 0; v < 4; ++v) {
            const tl_view a = tl_view_of(9, image, v, 28, 28, 0), b = tl_view_of(9, image, v, 28, 28, 0);
            assert_int_equal(a.dy, b.dy);
            assert_int_equal(a.dx, b.dx);
            assert_int_equal(a.flip, b.flip);
            assert_int_equal(a.cut, 0);
            assert_true(a.dy >= -2 && a.dy <= 2 && a.dx >= -2 && a.dx <= 2 && (a.flip == 0 || a.flip == 1));
            seen[a.dy + 2][a.dx + 2][a.flip]++;
            const tl_view c = tl_view_of(9, image, v, 28, 28, 8);
            assert_true(c.dy == a.dy && c.dx == a.dx && c.flip == a.flip && c.cut == 8);
            assert_true(c.cut_y >= -4 && c.cut_y <= 23 && c.cut_x >= -4 && c.cut_x <= 23); /* centre in [0, 28) */
            cut_corners[c.cut_y == -4][c.cut_x == 23]++;
            const tl_view o = tl_view_of(10, image, v, 28, 28, 0); /* another seed */
            differs += o.dy != a.dy || o.dx != a.dx || o.flip != a.flip;
        }
    }
    for (int i = 0; i < 50; ++i) {
        /* 8,000 draws over 50 views: each about 160 times. */
        assert_true(seen[i / 10][(i / 2) % 5][i % 2] > 100);
    }
    assert_true(differs > 7000);
    /* A centre row and column each come up about 8,000 / 28 times. */
    assert_true(cut_corners[1][0] + cut_corners[1][1] > 200 && cut_corners[0][1] + cut_corners[1][1] > 200);
    /* Pixels: a 3x4 image 1..12; shifted down-right by one and mirrored. */
    uint8_t px[12], label = 3;
    for (int i = 0; i < 12; ++i) {
        px[i] = (uint8_t)(i + 1);
    }
    const tl_dataset ds = { px, &label, 1, 3, 4, 1, 10 };
    float out[12], clean[12];
    uint8_t y;
    const tl_view none = { 0, 0, 0, 0, 0, 0 }, moved = { 1, -1, 1, 0, 0, 0 };
    tl_dataset_view(&ds, 0, 0.0f, 1.0f / 255.0f, none, out);
    tl_dataset_batch(&ds, NULL, 0, 1, 0.0f, 1.0f / 255.0f, 0, 0, NULL, clean, &y);
    assert_memory_equal(out, clean, sizeof out);
    assert_int_equal(y, 3);
    assert_true(out[5] == 6.0f);
    tl_dataset_view(&ds, 0, 0.0f, 1.0f / 255.0f, moved, out);
    /* out(y, x) = img(y + 1, (3 - x) - 1): row 0 reads row 1 mirrored and shifted. */
    const float want[12] = { 7, 6, 5, 0, 11, 10, 9, 0, 0, 0, 0, 0 };
    for (int i = 0; i < 12; ++i) {
        assert_true(fabsf(out[i] - want[i]) < 1e-4f);
    }
    /* Without cutout a draw takes three numbers from the stream, as before
     * cutout existed, so earlier runs keep their views: these four follow
     * each other from state 77 (worked out from the xorshift apart from this code). */
    const int stream[4][3] = { { 2, 0, 1 }, { -2, 0, 0 }, { 2, 2, 0 }, { 0, -2, 0 } };
    uint64_t rng = 77;
    for (int i = 0; i < 4; ++i) {
        const tl_view v = tl_view_draw(&rng, 28, 28, 0);
        assert_true(v.dy == stream[i][0] && v.dx == stream[i][1] && v.flip == stream[i][2] && v.cut == 0);
    }
    /* Cutout after the move: a 2x2 square at (-1, 2) leaves row 0, columns
     * 2..3 at the mean (0 once normalised with mean 1); a padded pixel stays
     * at -1, the image's black. */
    const tl_view cut = { 1, -1, 1, 2, -1, 2 };
    tl_dataset_view(&ds, 0, 1.0f / 255.0f, 1.0f / 255.0f, cut, out);
    const float want_cut[12] = { 6, 5, 0, 0, 10, 9, 8, -1, -1, -1, -1, -1 };
    for (int i = 0; i < 12; ++i) {
        assert_true(fabsf(out[i] - want_cut[i]) < 1e-4f);
    }
}

/* Distillation on fixed views: the cached logits of each view are the
 * teacher's logits for the very pixels the student trains on, so the cached
 * run and the live run (the teacher on every batch of the same views) train
 * the same student, and it differs from the student of the clean-image cache. */
static void test_distillation_views(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char teacher[128], cached_path[128], live_path[128], clean_path[128], error[256] = "";
    snprintf(teacher, sizeof teacher, "%s/vt.tlc", dir);
    snprintf(cached_path, sizeof cached_path, "%s/vc.tlc", dir);
    snprintf(live_path, sizeof live_path, "%s/vl.tlc", dir);
    snprintf(clean_path, sizeof clean_path, "%s/v0.tlc", dir);
    tl_train_report rep;
    train_weak_teacher(teacher, 2);
    tl_train_config d = views_run(cached_path, teacher, 2, 5, 3);
    assert_int_equal(tl_train(&d, &rep, error, sizeof error), TL_OK);
    assert_true(rep.test_accuracy[0] > 0.3f);
    tl_train_config l = d;
    l.out = live_path;
    l.teacher_live = 1;
    assert_int_equal(tl_train(&l, &rep, error, sizeof error), TL_OK);
    tl_train_config c = d;
    c.out = clean_path;
    c.teacher_views = 0;
    assert_int_equal(tl_train(&c, &rep, error, sizeof error), TL_OK);
    const float worst = largest_difference(cached_path, live_path), apart = largest_difference(cached_path, clean_path);
    printf("views: cached vs live largest weight difference %g, vs the clean-image cache %g\n", (double)worst,
           (double)apart);
    assert_true(worst < 1e-3f);
    assert_true(apart > 1e-2f);
    /* With cutout the teacher's pass masks the same squares as the student's
     * batches: cached and live agree again, and both differ from no cutout. */
    tl_train_config cc = d, cl = l;
    char cut_cached[128], cut_live[128];
    snprintf(cut_cached, sizeof cut_cached, "%s/vcc.tlc", dir);
    snprintf(cut_live, sizeof cut_live, "%s/vcl.tlc", dir);
    cc.out = cut_cached;
    cl.out = cut_live;
    cc.cutout = cl.cutout = 10;
    assert_int_equal(tl_train(&cc, &rep, error, sizeof error), TL_OK);
    assert_int_equal(tl_train(&cl, &rep, error, sizeof error), TL_OK);
    const float cut_worst = largest_difference(cut_cached, cut_live);
    const float cut_apart = largest_difference(cut_cached, cached_path);
    printf("views with cutout: cached vs live %g, vs no cutout %g\n", (double)cut_worst, (double)cut_apart);
    assert_true(cut_worst < 1e-3f);
    assert_true(cut_apart > 1e-2f);
    /* Cutout is an augmentation and is bounded. */
    const struct { int cutout, augment; const char *why; } bad_cut[] = {
        { 4, 0, "cutout is an augmentation; it cannot go without augmentation" },
        { -1, 1, "cutout must be 0 to 64 pixels" },
        { TL_CUTOUT_MAX + 1, 1, "cutout must be 0 to 64 pixels" },
    };
    for (size_t i = 0; i < sizeof bad_cut / sizeof bad_cut[0]; ++i) {
        tl_train_config e = d;
        e.teacher_views = 0;
        e.cutout = bad_cut[i].cutout;
        e.augment = bad_cut[i].augment;
        error[0] = 0;
        assert_int_equal(tl_train(&e, &rep, error, sizeof error), TL_ERR_ARG);
        assert_non_null(strstr(error, bad_cut[i].why));
    }
    /* Views need augmentation and a teacher, and are bounded. */
    const struct { int views, augment, has_teacher; const char *why; } bad[] = {
        { 3, 0, 1, "teacher views are augmented views; they cannot go without augmentation" },
        { 3, 1, 0, "the teacher's options need a teacher" },
        { TL_TEACHER_VIEWS_MAX + 1, 1, 1, "teacher views must be 0 to 64" },
        { -1, 1, 1, "teacher views must be 0 to 64" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        tl_train_config e = d;
        e.teacher_views = bad[i].views;
        e.augment = bad[i].augment;
        e.teacher = bad[i].has_teacher ? teacher : NULL;
        error[0] = 0;
        assert_int_equal(tl_train(&e, &rep, error, sizeof error), TL_ERR_ARG);
        assert_non_null(strstr(error, bad[i].why));
    }
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fclose(f);
    return size;
}

/* One distillation with a teacher cache file; the report says whether the
 * logits were read from it and whether they were saved to it. */
static void cache_run(tl_train_config cfg, const char *out, int read, int written)
{
    char error[256] = "";
    tl_train_report rep;
    cfg.out = out;
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_OK);
    assert_int_equal(rep.teacher_cache_read, read);
    assert_int_equal(rep.teacher_cache_written, written);
}

/* The teacher's logits kept in a file: the first run saves them, the same
 * run again reads them and trains the same student bit for bit (as does a
 * run without the file); other views, another teacher, a corrupt or a cut
 * file are not read: the teacher runs again and the file is replaced. A
 * file that cannot be written costs only the save. */
static void test_teacher_cache_file(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char teacher[128], other[128], cache[128], a[128], b[128], c[128], nowhere[160], error[256] = "";
    snprintf(teacher, sizeof teacher, "%s/ct.tlc", dir);
    snprintf(other, sizeof other, "%s/ct2.tlc", dir);
    snprintf(cache, sizeof cache, "%s/logits.tltc", dir);
    snprintf(a, sizeof a, "%s/ca.tlc", dir);
    snprintf(b, sizeof b, "%s/cb.tlc", dir);
    snprintf(c, sizeof c, "%s/cc.tlc", dir);
    snprintf(nowhere, sizeof nowhere, "%s/no-such-folder/logits.tltc", dir);
    train_weak_teacher(teacher, 1);
    tl_train_config d = small_run(a, "student-tiny", 1);
    d.teacher = teacher;
    d.teacher_views = 2;
    d.seed = 5;
    d.teacher_cache = cache;
    cache_run(d, a, 0, 1);
    /* key (100 bytes), 2 views x 640 images x 10 logits, digest (32 bytes) */
    assert_int_equal(file_size(cache), 100 + 2 * 640 * 10 * 4 + 32);
    cache_run(d, b, 1, 0);
    assert_true(largest_difference(a, b) == 0.0f);
    tl_train_config plain = d;
    plain.teacher_cache = NULL;
    cache_run(plain, c, 0, 0);
    assert_true(largest_difference(a, c) == 0.0f);
    /* Other views (seed, count, cutout) are another key; the file then
     * holds the new run's logits, and the first run's are gone. */
    tl_train_config seed6 = d, views3 = d, cut = d;
    seed6.seed = 6;
    views3.teacher_views = 3;
    cut.cutout = 6;
    cache_run(seed6, b, 0, 1);
    cache_run(seed6, b, 1, 0);
    cache_run(views3, b, 0, 1);
    assert_int_equal(file_size(cache), 100 + 3 * 640 * 10 * 4 + 32);
    cache_run(cut, b, 0, 1);
    cache_run(d, b, 0, 1);
    /* Un-augmented images' logits hold for every seed. */
    tl_train_config clean = d, clean6 = seed6;
    clean.teacher_views = clean6.teacher_views = 0;
    cache_run(clean, b, 0, 1);
    cache_run(clean6, b, 1, 0);
    /* Another teacher is another key. */
    train_weak_teacher(other, 2);
    tl_train_config t2 = clean;
    t2.teacher = other;
    cache_run(t2, b, 0, 1);
    /* A sealed file of another format version (1 had no flip field) is not read. */
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(tl_read_file(cache, &bytes, &size), TL_OK);
    bytes[4] = 1;
    crypto_hash_sha256(bytes + size - 32, bytes, size - 32);
    assert_int_equal(tl_write_file_atomic(cache, bytes, size), TL_OK);
    free(bytes);
    cache_run(t2, b, 0, 1);
    cache_run(t2, b, 1, 0);
    /* A flipped byte, then a cut file: not read, replaced by good ones. */
    FILE *f = fopen(cache, "r+b");
    assert_non_null(f);
    fseek(f, 500, SEEK_SET);
    const int byte = fgetc(f);
    fseek(f, 500, SEEK_SET);
    fputc(byte ^ 0x10, f);
    fclose(f);
    cache_run(t2, b, 0, 1);
    cache_run(t2, b, 1, 0);
    assert_int_equal(truncate(cache, 60), 0);
    cache_run(t2, b, 0, 1);
    cache_run(t2, b, 1, 0);
    /* No file can be written there: the run trains all the same. */
    tl_train_config lost = d;
    lost.teacher_cache = nowhere;
    cache_run(lost, c, 0, 0);
    assert_true(largest_difference(a, c) == 0.0f);
    /* A live teacher has no logits to keep; no teacher, nothing to cache. */
    tl_train_report rep;
    tl_train_config live = d, none = plain;
    live.teacher_live = 1;
    none.teacher = NULL;
    none.teacher_views = 0;
    none.teacher_cache = cache;
    assert_int_equal(tl_train(&live, &rep, error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "a teacher cache keeps the logits of a teacher run once; it cannot go with a live"));
    error[0] = 0;
    assert_int_equal(tl_train(&none, &rep, error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "the teacher's options need a teacher"));
}

/* Mirrors every (one-channel) image of a dataset left to right. */
static void mirror_images(tl_dataset *d)
{
    for (long row = 0; row < (long)d->n * d->h; ++row) {
        uint8_t *p = d->pixels + (size_t)row * d->w;
        for (int a = 0, b = d->w - 1; a < b; ++a, --b) {
            const uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

/* The mean of several networks' logits, and over mirrored images: one
 * network alone is tl_evaluate's accuracy, the same network twice changes
 * nothing, and on images that are their own mirror --flip changes nothing
 * either; data of other classes is refused. */
static void test_evaluate_mean(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char path[128], error[256] = "";
    snprintf(path, sizeof path, "%s/em.tlc", dir);
    train_weak_teacher(path, 2);
    tl_net net;
    tl_checkpoint_info info;
    assert_int_equal(tl_checkpoint_load(path, 64, &net, NULL, &info, error, sizeof error), TL_OK);
    tl_dataset test;
    assert_int_equal(tl_dataset_load_dir(NULL, 0, 300, &test, error, sizeof error), TL_OK);
    float plain[TL_MAX_EXITS], loss, one = -1, twice = -1, flipped = -1;
    assert_int_equal(tl_evaluate(&net, &test, info.mean, info.std, plain, &loss), TL_OK);
    tl_net *list[2] = { &net, &net };
    const float means[2] = { info.mean, info.mean }, stds[2] = { info.std, info.std };
    assert_int_equal(tl_evaluate_mean(list, means, stds, 1, &test, 0, &one), TL_OK);
    assert_int_equal(tl_evaluate_mean(list, means, stds, 2, &test, 0, &twice), TL_OK);
    assert_true(one == plain[0]);
    assert_true(twice == plain[0]);
    printf("evaluate_mean: accuracy %.4f\n", (double)plain[0]);
    assert_true(plain[0] > 0.2f); /* a network that tells classes apart, not a constant */
    /* --flip sums the logits of each image and its mirror: the same on the
     * mirrored data, where the plain accuracy differs. */
    float flip_d = -1, flip_m = -1, plain_m[TL_MAX_EXITS];
    assert_int_equal(tl_evaluate_mean(list, means, stds, 1, &test, 1, &flip_d), TL_OK);
    mirror_images(&test);
    assert_int_equal(tl_evaluate(&net, &test, info.mean, info.std, plain_m, &loss), TL_OK);
    assert_int_equal(tl_evaluate_mean(list, means, stds, 1, &test, 1, &flip_m), TL_OK);
    printf("evaluate_mean: plain %.4f, mirrored %.4f, both %.4f\n", (double)plain[0], (double)plain_m[0],
           (double)flip_d);
    assert_true(plain_m[0] != plain[0]);
    assert_true(flip_m == flip_d);
    /* Mirror every row into itself: flipping then shows the same image. */
    for (int i = 0; i < test.n; ++i) {
        uint8_t *img = test.pixels + (size_t)i * test.h * test.w;
        for (int y = 0; y < test.h; ++y) {
            for (int x = 0; x < test.w / 2; ++x) {
                img[y * test.w + test.w - 1 - x] = img[y * test.w + x];
            }
        }
    }
    assert_int_equal(tl_evaluate(&net, &test, info.mean, info.std, plain, &loss), TL_OK);
    assert_int_equal(tl_evaluate_mean(list, means, stds, 1, &test, 1, &flipped), TL_OK);
    assert_true(flipped == plain[0]);
    test.classes = 5;
    assert_int_equal(tl_evaluate_mean(list, means, stds, 1, &test, 0, &one), TL_ERR_SHAPE);
    assert_int_equal(tl_evaluate_mean(list, means, stds, 0, &test, 0, &one), TL_ERR_ARG);
    tl_dataset_free(&test);
    tl_net_free(&net);
}

/* Writes the first n images of a Fashion-MNIST split, each mirrored left
 * to right, as IDX files in `to` (the layout tl_dataset_load_dir reads). */
static void write_mirrored_split(const char *to, int train, int n)
{
    char error[256] = "", images[192], labels[192];
    tl_dataset d;
    assert_int_equal(tl_dataset_load_dir(NULL, train, n, &d, error, sizeof error), TL_OK);
    mirror_images(&d);
    const char *split = train ? "train" : "t10k";
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", to, split);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", to, split);
    const uint32_t idims[3] = { (uint32_t)d.n, (uint32_t)d.h, (uint32_t)d.w }, ldims[1] = { (uint32_t)d.n };
    write_idx(images, 1, 0x803, idims, 3, d.pixels, (size_t)d.n * d.h * d.w);
    write_idx(labels, 1, 0x801, ldims, 1, d.labels, (size_t)d.n);
    tl_dataset_free(&d);
}

/* The logits a teacher cache file holds (after its 100-byte key). */
static float *cache_logits(const char *path, size_t count)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    float *logits = malloc(count * sizeof(float));
    assert_non_null(logits);
    assert_int_equal(fseek(f, 100, SEEK_SET), 0);
    assert_int_equal(fread(logits, sizeof(float), count, f), count);
    fclose(f);
    return logits;
}

/* Asserts that the cache `mean_path` holds the mean of the logits in
 * `a_path` and `b_path`, and that those two differ (else the check is
 * empty). */
static void assert_cache_is_mean(const char *mean_path, const char *a_path, const char *b_path, size_t count,
                                 const char *what)
{
    float *a = cache_logits(a_path, count), *b = cache_logits(b_path, count), *mean = cache_logits(mean_path, count);
    float worst = 0, apart = 0;
    for (size_t i = 0; i < count; ++i) {
        worst = fmaxf(worst, fabsf(mean[i] - 0.5f * (a[i] + b[i])));
        apart = fmaxf(apart, fabsf(a[i] - b[i]));
    }
    printf("%s: largest difference from the mean %g (the two differ by up to %g)\n", what, (double)worst,
           (double)apart);
    assert_true(worst < 1e-5f);
    assert_true(apart > 1e-2f);
    free(a);
    free(b);
    free(mean);
}

/* --teacher-flip: each soft target is the mean of the teacher's logits of
 * the image and of its mirror, checked against a run on mirrored data;
 * cached and live agree on views with flip, and flip is part of the cache
 * key. */
static void test_teacher_flip(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char teacher[128], mirrored[128], plain_cache[160], mirror_cache[160], flip_cache[160], out[128];
    char cached[128], live[128];
    snprintf(teacher, sizeof teacher, "%s/ft.tlc", dir);
    snprintf(mirrored, sizeof mirrored, "%s/mirrored", dir);
    snprintf(plain_cache, sizeof plain_cache, "%s/plain.tltc", dir);
    snprintf(mirror_cache, sizeof mirror_cache, "%s/mirror.tltc", dir);
    snprintf(flip_cache, sizeof flip_cache, "%s/flip.tltc", dir);
    snprintf(out, sizeof out, "%s/fo.tlc", dir);
    snprintf(cached, sizeof cached, "%s/fc.tlc", dir);
    snprintf(live, sizeof live, "%s/fl.tlc", dir);
    assert_int_equal(mkdir(mirrored, 0755), 0);
    write_mirrored_split(mirrored, 1, 640);
    write_mirrored_split(mirrored, 0, 300);
    train_weak_teacher(teacher, 1);
    tl_train_config d = small_run(out, "student-tiny", 1);
    d.teacher = teacher;
    d.teacher_cache = plain_cache;
    cache_run(d, out, 0, 1);
    tl_train_config m = d;
    m.data_dir = mirrored;
    m.teacher_cache = mirror_cache;
    cache_run(m, out, 0, 1);
    tl_train_config f = d;
    f.teacher_flip = 1;
    f.teacher_cache = flip_cache;
    cache_run(f, out, 0, 1);
    const size_t count = 640 * 10;
    assert_cache_is_mean(flip_cache, plain_cache, mirror_cache, count, "teacher flip");
    /* Flip is part of the key: the plain file is not read for a flip run. */
    tl_train_config f2 = f;
    f2.teacher_cache = plain_cache;
    cache_run(f2, out, 0, 1);
    cache_run(f2, out, 1, 0);
    /* On views, with cutout: the cached and the live teacher agree. */
    tl_train_config vc = d, vl;
    vc.teacher_cache = NULL;
    vc.teacher_views = 2;
    vc.cutout = 6;
    vc.teacher_flip = 1;
    vl = vc;
    vl.teacher_live = 1;
    cache_run(vc, cached, 0, 0);
    cache_run(vl, live, 0, 0);
    const float agree = largest_difference(cached, live);
    printf("teacher flip on views: cached vs live %g\n", (double)agree);
    assert_true(agree < 1e-3f);
}

/* The decoupled, z-scored and correlation losses train through the same
 * path: beyond chance from a weak teacher, their own students, and with
 * zero weights they are the cross-entropy alone, so the student is the
 * teacher's own run, bit for bit (same architecture, seed and data). Bad
 * weights are refused by name. */
static void test_decoupled_distillation(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char teacher[128], hinton[128], dkd[128], off[128], error[256] = "";
    snprintf(teacher, sizeof teacher, "%s/dt.tlc", dir);
    snprintf(hinton, sizeof hinton, "%s/dh.tlc", dir);
    snprintf(dkd, sizeof dkd, "%s/dd.tlc", dir);
    snprintf(off, sizeof off, "%s/d0.tlc", dir);
    tl_train_report rep;
    train_weak_teacher(teacher, 2);
    tl_train_config h = small_run(hinton, "student-tiny", 2);
    h.lr = 0.1f;
    h.teacher = teacher;
    assert_int_equal(tl_train(&h, &rep, error, sizeof error), TL_OK);
    tl_train_config d = h;
    d.out = dkd;
    d.kd = TL_KD_DECOUPLED;
    d.dkd_warmup = 1;
    assert_int_equal(tl_train(&d, &rep, error, sizeof error), TL_OK);
    assert_true(rep.test_accuracy[0] > 0.3f);
    assert_true(largest_difference(dkd, hinton) > 1e-2f);
    assert_true(largest_difference(dkd, teacher) > 1e-2f);
    tl_train_config z = d;
    z.out = off;
    z.dkd_alpha = 0;
    z.dkd_beta = 0;
    assert_int_equal(tl_train(&z, &rep, error, sizeof error), TL_OK);
    assert_true(largest_difference(off, teacher) == 0.0f);
    /* A warm-up far beyond the run keeps the weights near 0 throughout: the
     * student stays close to the cross-entropy one (rounding-sized nudges
     * grow over 40 steps of momentum SGD, to a few thousandths), where a
     * 1-epoch warm-up takes it over ten times as far. */
    tl_train_config slow = d;
    slow.out = off;
    slow.dkd_warmup = 1e6f;
    assert_int_equal(tl_train(&slow, &rep, error, sizeof error), TL_OK);
    const float near = largest_difference(off, teacher), away = largest_difference(dkd, teacher);
    printf("decoupled: warm-up 1e6 moves the weights by %g, warm-up 1 by %g\n", (double)near, (double)away);
    assert_true(near < 1e-2f);
    assert_true(away > 10 * near);
    const struct { float temperature, beta, warmup; } bad[] = { { 0, 8, 2 }, { 4, -1, 2 }, { 4, 8, -1 } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        tl_train_config e = d;
        e.temperature = bad[i].temperature;
        e.dkd_beta = bad[i].beta;
        e.dkd_warmup = bad[i].warmup;
        error[0] = 0;
        assert_int_equal(tl_train(&e, &rep, error, sizeof error), TL_ERR_ARG);
        assert_non_null(strstr(error, "distillation needs a positive temperature"));
    }
    /* The z-scored and correlation losses, the same way: each its own
     * student beyond chance, at alpha 0 the cross-entropy alone (the
     * teacher's run, bit for bit), a negative weight refused. */
    for (int kind = TL_KD_ZSCORE; kind <= TL_KD_PEARSON; ++kind) {
        tl_train_config r = h;
        r.out = dkd;
        r.kd = (tl_kd_kind)kind;
        r.temperature = kind == TL_KD_ZSCORE ? 2.0f : 4.0f;
        r.alpha = kind == TL_KD_ZSCORE ? 0.7f : 0.5f;
        assert_int_equal(tl_train(&r, &rep, error, sizeof error), TL_OK);
        assert_true(rep.test_accuracy[0] > 0.3f);
        assert_true(largest_difference(dkd, hinton) > 1e-2f);
        assert_true(largest_difference(dkd, teacher) > 1e-2f);
        r.out = off;
        r.alpha = 0;
        assert_int_equal(tl_train(&r, &rep, error, sizeof error), TL_OK);
        assert_true(largest_difference(off, teacher) == 0.0f);
        *(kind == TL_KD_ZSCORE ? &r.zkd_weight : &r.pkd_weight) = -1;
        assert_int_equal(tl_train(&r, &rep, error, sizeof error), TL_ERR_ARG);
        assert_non_null(strstr(error, "non-negative weights"));
    }
    tl_train_config zs = h;
    zs.kd = (tl_kd_kind)7;
    assert_int_equal(tl_train(&zs, &rep, error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "unknown distillation loss 7"));
}

/* Attention transfer: a student distilled with it learns; over one step
 * the teacher's maps cached with its views (the pass on two threads) move
 * the student as the teacher run live on that batch does, and the term
 * moves it (over many steps training amplifies rounding, so runs are
 * compared step by step); what it cannot go with is refused. */
static void test_attention_transfer(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char teacher[128], cached_path[128], live_path[128], plain_path[128], error[256] = "";
    snprintf(teacher, sizeof teacher, "%s/at-t.tlc", dir);
    snprintf(cached_path, sizeof cached_path, "%s/at-c.tlc", dir);
    snprintf(live_path, sizeof live_path, "%s/at-l.tlc", dir);
    snprintf(plain_path, sizeof plain_path, "%s/at-p.tlc", dir);
    tl_train_report rep;
    train_weak_teacher(teacher, 2);
    tl_train_config d = views_run(cached_path, teacher, 3, 3, 2);
    d.attention = 1000;
    assert_int_equal(tl_train(&d, &rep, error, sizeof error), TL_OK);
    printf("attention: test accuracy %.3f, loss %.3f\n", (double)rep.test_accuracy[0], (double)rep.train_loss);
    assert_true(rep.test_accuracy[0] > 0.3f);
    assert_true(isfinite(rep.train_loss));
    tl_train_config one = d; /* one step of one batch */
    one.epochs = 1;
    one.limit_train = one.batch;
    assert_int_equal(tl_train(&one, &rep, error, sizeof error), TL_OK);
    tl_train_config l = one;
    l.out = live_path;
    l.teacher_live = 1;
    assert_int_equal(tl_train(&l, &rep, error, sizeof error), TL_OK);
    tl_train_config p = one;
    p.out = plain_path;
    p.attention = 0;
    assert_int_equal(tl_train(&p, &rep, error, sizeof error), TL_OK);
    const float worst = largest_difference(cached_path, live_path), apart = largest_difference(cached_path, plain_path);
    printf("attention, one step: cached vs live largest weight difference %g, vs no attention %g\n", (double)worst,
           (double)apart);
    assert_true(worst < 1e-5f);
    assert_true(apart > 1e-4f);
    /* Refused: with a cache file or mirrored targets (neither keeps maps),
     * without a teacher, with a negative or infinite weight. */
    for (int bad = 0; bad < 5; ++bad) {
        tl_train_config e = d;
        e.teacher_cache = bad == 0 ? plain_path : NULL;
        e.teacher_flip = bad == 1;
        e.teacher = bad == 2 ? NULL : teacher;
        e.teacher_views = bad == 2 ? 0 : d.teacher_views;
        e.attention = bad == 3 ? -1.0f : bad == 4 ? INFINITY : 1000.0f;
        error[0] = 0;
        assert_int_equal(tl_train(&e, &rep, error, sizeof error), TL_ERR_ARG);
        assert_non_null(strstr(error, bad <= 1   ? "attention transfer needs the teacher's feature maps"
                                      : bad == 2 ? "the teacher's options need a teacher"
                                                 : "attention transfer needs a finite non-negative weight"));
    }
}

/* An ensemble's soft targets are the mean of its teachers' logits (checked
 * against each teacher's cache); a teacher twice is that teacher, bit for
 * bit; the ensemble is its own cache key; bad ensembles are refused. */
static void test_teacher_ensemble(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char t1[128], t2[128], c1[160], c2[160], c12[160], out[128], single[128], twice[128], missing[160];
    char error[256] = "";
    snprintf(t1, sizeof t1, "%s/et1.tlc", dir);
    snprintf(t2, sizeof t2, "%s/et2.tlc", dir);
    snprintf(c1, sizeof c1, "%s/e1.tltc", dir);
    snprintf(c2, sizeof c2, "%s/e2.tltc", dir);
    snprintf(c12, sizeof c12, "%s/e12.tltc", dir);
    snprintf(out, sizeof out, "%s/eo.tlc", dir);
    snprintf(single, sizeof single, "%s/es.tlc", dir);
    snprintf(twice, sizeof twice, "%s/ew.tlc", dir);
    snprintf(missing, sizeof missing, "%s/no-such-teacher.tlc", dir);
    train_weak_teacher(t1, 1);
    train_weak_teacher(t2, 2);
    tl_train_config a = views_run(out, t1, 1, 3, 2), b = a, ab = a;
    a.teacher_cache = c1;
    b.teacher = t2;
    b.teacher_cache = c2;
    ab.more_teachers[0] = t2;
    ab.more_teacher_count = 1;
    ab.teacher_cache = c12;
    cache_run(a, out, 0, 1);
    cache_run(b, out, 0, 1);
    cache_run(ab, out, 0, 1);
    cache_run(ab, out, 1, 0);
    const size_t count = 2 * 640 * 10;
    assert_cache_is_mean(c12, c1, c2, count, "teacher ensemble");
    /* The ensemble's file is not the first teacher's, nor the other order's. */
    tl_train_config a12 = a, ba = ab;
    a12.teacher_cache = c12;
    ba.teacher = t2;
    ba.more_teachers[0] = t1;
    cache_run(a12, out, 0, 1);
    cache_run(ab, out, 0, 1);
    cache_run(ba, out, 0, 1);
    /* The same teacher twice: the same soft targets, the same student. */
    tl_train_config one = a, two = a;
    one.teacher_cache = two.teacher_cache = NULL;
    two.more_teachers[0] = t1;
    two.more_teacher_count = 1;
    cache_run(one, single, 0, 0);
    cache_run(two, twice, 0, 0);
    assert_true(largest_difference(single, twice) == 0.0f);
    /* Refused: live, with attention, too many, a missing checkpoint. */
    tl_train_report rep;
    tl_train_config live = two, att = two, many = two, gone = two, hole = two;
    live.teacher_live = 1;
    live.teacher_views = 0;
    att.attention = 100;
    att.teacher_views = 0;
    many.more_teacher_count = TL_TEACHERS_MAX;
    hole.more_teacher_count = 2;
    hole.more_teachers[1] = NULL;
    const tl_train_config *bad[] = { &live, &att, &many };
    const char *why[] = { "scored once before training; it cannot go with a live teacher",
                          "scored once before training; it cannot go with attention transfer",
                          "an ensemble is 2 to 4 teachers" };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; ++k) {
        error[0] = 0;
        assert_int_equal(tl_train(bad[k], &rep, error, sizeof error), TL_ERR_ARG);
        assert_non_null(strstr(error, why[k]));
    }
    error[0] = 0;
    assert_int_equal(tl_train(&hole, &rep, error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "teacher 3 of the ensemble has no checkpoint"));
    gone.more_teachers[0] = missing;
    error[0] = 0;
    assert_int_not_equal(tl_train(&gone, &rep, error, sizeof error), TL_OK);
    assert_non_null(strstr(error, missing));
}

/* A labelled set of n samples, label i % classes (no pixels needed). */
static tl_dataset labelled(int n, int classes, uint8_t *labels)
{
    tl_dataset ds;
    memset(&ds, 0, sizeof ds);
    for (int i = 0; i < n; ++i) {
        labels[i] = (uint8_t)(i % classes);
    }
    ds.labels = labels;
    ds.n = n;
    ds.classes = classes;
    return ds;
}

/* The mean over shards of the largest class's share of the shard. */
static double mean_top_share(const tl_dataset *ds, const int *shard_of, int shards)
{
    double sum = 0;
    for (int k = 0; k < shards; ++k) {
        int count[256] = { 0 }, total = 0, top = 0;
        for (int i = 0; i < ds->n; ++i) {
            if (shard_of[i] == k) {
                ++total;
                top = ++count[ds->labels[i]] > top ? count[ds->labels[i]] : top;
            }
        }
        sum += total ? (double)top / total : 0;
    }
    return sum / shards;
}

static void partitions_deal_every_sample_and_skew_as_asked(void **state)
{
    (void)state;
    enum { N = 2000, SHARDS = 10 };
    static uint8_t labels[N];
    static int shard_of[N], again[N];
    const tl_dataset ds = labelled(N, 10, labels);
    /* IID: sizes within one of each other, the same deal for the same seed. */
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_IID, SHARDS, 0, 0, 7, shard_of), TL_OK);
    int size[SHARDS] = { 0 };
    for (int i = 0; i < N; ++i) {
        assert_true(shard_of[i] >= 0 && shard_of[i] < SHARDS);
        ++size[shard_of[i]];
    }
    for (int k = 0; k < SHARDS; ++k) {
        assert_true(size[k] == N / SHARDS);
    }
    assert_true(mean_top_share(&ds, shard_of, SHARDS) < 0.2);
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_IID, SHARDS, 0, 0, 7, again), TL_OK);
    assert_memory_equal(shard_of, again, sizeof shard_of);
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_IID, SHARDS, 0, 0, 8, again), TL_OK);
    assert_memory_not_equal(shard_of, again, sizeof shard_of);
    /* Dirichlet: a small alpha skews each shard towards few classes, a large
     * one is near IID; every sample is dealt either way. */
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_DIRICHLET, SHARDS, 0.1, 0, 3, shard_of), TL_OK);
    for (int i = 0; i < N; ++i) {
        assert_true(shard_of[i] >= 0 && shard_of[i] < SHARDS);
    }
    const double skewed = mean_top_share(&ds, shard_of, SHARDS);
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_DIRICHLET, SHARDS, 100.0, 0, 3, shard_of), TL_OK);
    const double even = mean_top_share(&ds, shard_of, SHARDS);
    assert_true(skewed > 0.5);
    assert_true(even < 0.25);
    /* k labels per shard: no shard holds more than k classes. */
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_LABELS, SHARDS, 0, 2, 5, shard_of), TL_OK);
    for (int k = 0; k < SHARDS; ++k) {
        int seen[10] = { 0 }, distinct = 0;
        for (int i = 0; i < N; ++i) {
            if (shard_of[i] == k && !seen[labels[i]]++) {
                ++distinct;
            }
        }
        assert_true(distinct >= 1 && distinct <= 2);
    }
    /* Refused: no shards, alpha not positive, k that cannot cover the classes. */
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_IID, 0, 0, 0, 1, shard_of), TL_ERR_ARG);
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_DIRICHLET, SHARDS, 0, 0, 1, shard_of), TL_ERR_ARG);
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_LABELS, 3, 0, 2, 1, shard_of), TL_ERR_ARG);
    assert_int_equal(tl_dataset_partition(&ds, TL_PARTITION_LABELS, SHARDS, 0, 11, 1, shard_of), TL_ERR_ARG);
}

static void count_line(void *ctx, const char *line)
{
    int *lines = ctx;
    lines[0]++;
    lines[1] += strstr(line, "training student-tiny") != NULL;
    lines[2] += strncmp(line, "epoch ", 6) == 0;
}

static int same_bytes(const char *a, const char *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    if (tl_read_file(a, &x, &nx) != TL_OK || tl_read_file(b, &y, &ny) != TL_OK) {
        return 0;
    }
    const int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

/* The trainer a caller drives: steps one at a time, then epochs, give the
 * very checkpoint tl_train writes; it trains on a shard of a partition (a
 * federated client's data) and logs through the caller's callback. */
static void a_driven_trainer_matches_a_whole_run_and_trains_on_a_shard(void **state)
{
    (void)state;
    if (!have_dataset()) {
        skip();
    }
    char whole[128], driven[128], error[256] = "";
    snprintf(whole, sizeof whole, "%s/whole.tlc", dir);
    snprintf(driven, sizeof driven, "%s/driven.tlc", dir);
    tl_train_report rep;
    tl_train_config cfg = small_run(whole, "student-tiny", 2);
    cfg.limit_train = 600;
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_OK);
    tl_dataset train, test;
    assert_int_equal(tl_dataset_load_dir(NULL, 1, cfg.limit_train, &train, error, sizeof error), TL_OK);
    assert_int_equal(tl_dataset_load_dir(NULL, 0, cfg.limit_test, &test, error, sizeof error), TL_OK);
    tl_train_config by_hand = cfg;
    by_hand.out = NULL;
    by_hand.quiet = 0;
    int lines[3] = { 0, 0, 0 };
    by_hand.log = count_line;
    by_hand.log_ctx = lines;
    tl_trainer *t;
    assert_int_equal(tl_trainer_init(&t, &by_hand, &train, &test, &rep, error, sizeof error), TL_OK);
    for (int k = 0; k < 3; ++k) {
        assert_int_equal(tl_trainer_step(t), TL_OK); /* part of epoch 1 by single steps */
    }
    assert_int_equal(tl_trainer_epochs_done(t), 0);
    assert_int_equal(tl_trainer_epoch(t, &rep, error, sizeof error), TL_OK); /* its rest */
    assert_int_equal(tl_trainer_epoch(t, &rep, error, sizeof error), TL_OK);
    assert_int_equal(tl_trainer_epochs_done(t), 2);
    assert_int_equal(tl_trainer_save(t, driven), TL_OK);
    assert_true(same_bytes(whole, driven));
    float acc[16];
    assert_int_equal(tl_trainer_evaluate(t, &test, acc), TL_OK);
    assert_true(acc[0] == rep.test_accuracy[0]);
    tl_trainer_free(t);
    assert_int_equal(lines[1], 1); /* the run announced */
    assert_int_equal(lines[2], 2); /* a line per epoch */
    /* A shard: the first of three IID shards, trained on alone. */
    int *shard_of = malloc((size_t)train.n * sizeof *shard_of);
    assert_int_equal(tl_dataset_partition(&train, TL_PARTITION_IID, 3, 0, 0, 9, shard_of), TL_OK);
    tl_dataset shard = train;
    const size_t sample = (size_t)train.h * train.w * train.c;
    shard.pixels = malloc((size_t)train.n * sample);
    shard.labels = malloc((size_t)train.n);
    shard.n = 0;
    for (int i = 0; i < train.n; ++i) {
        if (shard_of[i] == 0) {
            memcpy(shard.pixels + (size_t)shard.n * sample, train.pixels + (size_t)i * sample, sample);
            shard.labels[shard.n++] = train.labels[i];
        }
    }
    assert_int_equal(shard.n, 200);
    tl_train_config client = cfg;
    client.out = NULL;
    client.epochs = 8;
    client.batch = 16;
    client.lr = 0.1f;
    assert_int_equal(tl_trainer_init(&t, &client, &shard, &test, &rep, error, sizeof error), TL_OK);
    while (tl_trainer_epochs_done(t) < client.epochs) {
        assert_int_equal(tl_trainer_epoch(t, &rep, error, sizeof error), TL_OK);
    }
    printf("a client of 200 images, 8 epochs: test accuracy %.3f\n", (double)rep.test_accuracy[0]);
    assert_true(rep.test_accuracy[0] > 0.3f); /* ten classes: chance is 0.1 */
    tl_trainer_free(t);
    /* A configuration the library refuses is refused at init too. */
    client.epochs = 0;
    assert_int_equal(tl_trainer_init(&t, &client, &shard, &test, &rep, error, sizeof error), TL_ERR_ARG);
    assert_null(t);
    free(shard_of);
    free(shard.pixels);
    free(shard.labels);
    tl_dataset_free(&train);
    tl_dataset_free(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_reading),
        cmocka_unit_test(test_shuffle_is_a_seeded_permutation),
        cmocka_unit_test(test_checkpoint_round_trip_and_corruption),
        cmocka_unit_test(test_tiny_training_learns),
        cmocka_unit_test(test_multi_exit_training),
        cmocka_unit_test(test_resume_is_bit_exact),
        cmocka_unit_test(test_training_threads),
        cmocka_unit_test(test_distillation_runs),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_distillation_views),
        cmocka_unit_test(test_decoupled_distillation),
        cmocka_unit_test(test_teacher_cache_file),
        cmocka_unit_test(test_evaluate_mean),
        cmocka_unit_test(test_teacher_flip),
        cmocka_unit_test(test_attention_transfer),
        cmocka_unit_test(test_teacher_ensemble),
        cmocka_unit_test(partitions_deal_every_sample_and_skew_as_asked),
        cmocka_unit_test(a_driven_trainer_matches_a_whole_run_and_trains_on_a_shard),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
