/* cmd_train.c - `tinylarge train`, `tinylarge distill` and `tinylarge eval`. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tinylarge/large.h"

static void usage_train(FILE *out, int distill)
{
    fprintf(out, "usage: tinylarge %s %s--arch NAME --out CKPT [options]\n\n", distill ? "distill" : "train",
            distill ? "--teacher CKPT " : "");
    fprintf(out, "%s on Fashion-MNIST (Debian's dataset-fashion-mnist), writing a\n"
                 "checkpoint after every epoch (atomically).\n\n",
            distill ? "Trains a student from a teacher's softened outputs (Hinton et al. 2015)"
                    : "Trains a network");
    fprintf(out, "architectures:\n");
    for (const char *const *n = tl_arch_names(); *n; ++n) {
        fprintf(out, "  %-14s %s\n", *n, tl_arch_describe(*n));
    }
    fprintf(out, "\noptions:\n"
                 "  --arch NAME        architecture (default student)\n"
                 "  --out CKPT         checkpoint to write (required)\n"
                 "  --epochs N         epochs (default 10)\n"
                 "  --batch N          batch size (default 128)\n"
                 "  --lr X             peak learning rate (default 0.05 SGD, use ~0.002 for AdamW)\n"
                 "  --optimizer NAME   sgd (momentum 0.9) or adamw (default sgd)\n"
                 "  --wd X             weight decay (default 5e-4)\n"
                 "  --schedule NAME    cosine, step or constant (default cosine), 1 warm-up epoch\n"
                 "  --threads N        training threads, each on a slice of the batch (default 1)\n"
                 "  --seed N           seed of initialisation, shuffling, augmentation (default 1)\n"
                 "  --no-augment       no random crop / flip\n"
                 "  --cutout N         also mask a random N x N square of each augmented image\n"
                 "                     with the mean (Cutout; default 0: none; at most %d)\n"
                 "  --limit N          use the first N training images (and N/6 test images)\n"
                 "  --data DIR         dataset folder: IDX or .npy files (default %s)\n"
                 "  --resume CKPT      continue a run from its checkpoint\n"
                 "  --init CKPT        start from a checkpoint's weights (fine-tuning; fresh optimiser)\n"
                 "  --prune S          prune the fraction S of conv/dense weights (magnitude, gradual)\n"
                 "  --prune-channels F with --init: remove the fraction F of each convolution's filters\n"
                 "                     (structured: smaller compute and arena), then fine-tune\n"
                 "  --qat BITS         quantisation-aware training for BITS-bit weights (4 or 8)\n",
                 TL_CUTOUT_MAX, TL_FASHION_MNIST_DIR);
    if (distill) {
        fprintf(out, "  --teacher CKPT     the teacher's checkpoint (required); given 2 to %d times, an\n"
                     "                     ensemble: soft targets from the mean of the teachers' logits\n"
                     "                     (not with --teacher-live or --attention)\n"
                     "  --temperature T    softening temperature (default 4)\n"
                     "  --alpha A          weight of the distillation term (default 0.7)\n"
                     "  --kd LOSS          hinton (default): alpha T^2 KL + (1 - alpha) CE; dkd,\n"
                     "                     decoupled (Zhao et al. 2022): CE + T^2 (a TCKD + b NCKD);\n"
                     "                     zscore (Sun et al. 2024): alpha W T^2 KL + (1 - alpha) CE\n"
                     "                     with both logits as (x - mean) / std before T; or pearson\n"
                     "                     (DIST's inter-class term, Huang et al. 2022): alpha P T^2\n"
                     "                     (1 - correlation of the softmaxes at T) + (1 - alpha) CE\n"
                     "  --dkd-alpha A      dkd: weight a of the target-class term (default 1)\n"
                     "  --dkd-beta B       dkd: weight b of the non-target term (default 8)\n"
                     "  --dkd-warmup E     dkd: epochs over which both weights ramp up from 0 (default 2)\n"
                     "  --zkd-weight W     zscore: the KL term's extra weight W (default 10; the paper's\n"
                     "                     CIFAR setting is --alpha 0.9 --zkd-weight 10 --temperature 2)\n"
                     "  --pkd-weight P     pearson: the correlation term's extra weight P (default 2;\n"
                     "                     with --alpha 0.5, DIST's CIFAR ratio to the CE)\n"
                     "  --teacher-live     run the teacher on every augmented batch (default: once per\n"
                     "                     training image before the first epoch, then cached)\n"
                     "  --teacher-views K  the teacher scores K fixed augmented views of each training\n"
                     "                     image once (K passes); the student trains on those views\n"
                     "                     with their own soft targets (default 0: un-augmented\n"
                     "                     images scored, fresh views trained on; at most %d)\n"
                     "  --attention BETA   also match the student's attention maps to the teacher's\n"
                     "                     (Zagoruyko & Komodakis 2017) at each feature-map size both\n"
                     "                     have, weight BETA (the paper's is 1000; default 0: off;\n"
                     "                     not with --teacher-cache or --teacher-flip)\n"
                     "  --teacher-flip     soft targets averaged over each image (view) and its mirror\n"
                     "                     (the teacher runs twice; 94.51%% against 94.32%% for the\n"
                     "                     reference teacher)\n"
                     "  --teacher-cache F  keep the teacher's cached logits in file F: read when F holds\n"
                     "                     those of this teacher, data and views (seed, count,\n"
                     "                     cutout), else computed and saved there (not with\n"
                     "                     --teacher-live)\n",
                TL_TEACHERS_MAX, TL_TEACHER_VIEWS_MAX);
    }
}

static int parse_float(const char *text, float *out)
{
    char *end;
    *out = strtof(text, &end);
    return *text && !*end ? 0 : -1;
}

/* An option that takes a number: a float field (any finite value >= 0) or
 * an int field (0 to `most`, `unit` naming it in the message). */
typedef struct {
    const char *name;
    int distill_only;
    float *real;
    int *whole;
    int most;
    const char *unit;
} number_option;

static const number_option *find_number(const number_option *table, size_t count, const char *name, int distill)
{
    for (size_t k = 0; k < count; ++k) {
        if (!strcmp(table[k].name, name) && (distill || !table[k].distill_only)) {
            return &table[k];
        }
    }
    return NULL;
}

static int run_training(int argc, char **argv, int distill)
{
    const char *cmd = distill ? "distill" : "train";
    tl_train_config cfg;
    tl_train_defaults(&cfg);
    cfg.progress = isatty(STDERR_FILENO);
    enum { MOST = 1000000 };
    const number_option numbers[] = {
        { "--lr", 0, &cfg.lr, NULL, 0, NULL },
        { "--wd", 0, &cfg.weight_decay, NULL, 0, NULL },
        { "--temperature", 1, &cfg.temperature, NULL, 0, NULL },
        { "--alpha", 1, &cfg.alpha, NULL, 0, NULL },
        { "--dkd-alpha", 1, &cfg.dkd_alpha, NULL, 0, NULL },
        { "--dkd-beta", 1, &cfg.dkd_beta, NULL, 0, NULL },
        { "--dkd-warmup", 1, &cfg.dkd_warmup, NULL, 0, NULL },
        { "--zkd-weight", 1, &cfg.zkd_weight, NULL, 0, NULL },
        { "--pkd-weight", 1, &cfg.pkd_weight, NULL, 0, NULL },
        { "--attention", 1, &cfg.attention, NULL, 0, NULL },
        { "--epochs", 0, NULL, &cfg.epochs, MOST, "" },
        { "--batch", 0, NULL, &cfg.batch, MOST, "" },
        { "--threads", 0, NULL, &cfg.threads, MOST, "" },
        { "--cutout", 0, NULL, &cfg.cutout, TL_CUTOUT_MAX, " pixels" },
        { "--teacher-views", 1, NULL, &cfg.teacher_views, TL_TEACHER_VIEWS_MAX, "" },
    };
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t u;
        const number_option *number;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_train(stdout, distill);
            return 0;
        } else if (!strcmp(a, "--no-augment")) {
            cfg.augment = 0;
            continue;
        } else if (distill && !strcmp(a, "--teacher-live")) {
            cfg.teacher_live = 1;
            continue;
        } else if (distill && !strcmp(a, "--teacher-flip")) {
            cfg.teacher_flip = 1;
            continue;
        } else if (!v) {
            usage_train(stderr, distill);
            return tl_cli_fail(cmd, "unknown or incomplete option '%s'", a);
        }
        ++i;
        if (!strcmp(a, "--arch")) {
            cfg.arch = v;
        } else if (!strcmp(a, "--out")) {
            cfg.out = v;
        } else if (!strcmp(a, "--resume")) {
            cfg.resume = v;
        } else if (!strcmp(a, "--init")) {
            cfg.init = v;
        } else if (!strcmp(a, "--data")) {
            cfg.data_dir = v;
        } else if (distill && !strcmp(a, "--teacher")) {
            if (!cfg.teacher) {
                cfg.teacher = v;
            } else if (cfg.more_teacher_count < TL_TEACHERS_MAX - 1) {
                cfg.more_teachers[cfg.more_teacher_count++] = v;
            } else {
                return tl_cli_fail(cmd, "at most %d --teacher checkpoints (an ensemble), not more", TL_TEACHERS_MAX);
            }
        } else if (distill && !strcmp(a, "--teacher-cache")) {
            cfg.teacher_cache = v;
        } else if (!strcmp(a, "--optimizer")) {
            if (strcmp(v, "sgd") && strcmp(v, "adamw")) {
                return tl_cli_fail(cmd, "--optimizer takes sgd or adamw, not '%s'", v);
            }
            cfg.optimizer = strcmp(v, "sgd") ? TL_OPTIM_ADAMW : TL_OPTIM_SGD;
        } else if (!strcmp(a, "--schedule")) {
            if (!strcmp(v, "cosine")) {
                cfg.schedule = TL_SCHED_COSINE;
            } else if (!strcmp(v, "step")) {
                cfg.schedule = TL_SCHED_STEP;
            } else if (!strcmp(v, "constant")) {
                cfg.schedule = TL_SCHED_CONSTANT;
            } else {
                return tl_cli_fail(cmd, "--schedule takes cosine, step or constant, not '%s'", v);
            }
        } else if (!strcmp(a, "--prune")) {
            float f;
            if (parse_float(v, &f) || !(f >= 0 && f < 1)) {
                return tl_cli_fail(cmd, "--prune needs a fraction in [0, 1), not '%s'", v);
            }
            cfg.prune = f;
        } else if (!strcmp(a, "--prune-channels")) {
            float f;
            if (parse_float(v, &f) || !(f > 0 && f < 1)) {
                return tl_cli_fail(cmd, "--prune-channels needs a fraction in (0, 1), not '%s'", v);
            }
            cfg.prune_channels = f;
        } else if (distill && !strcmp(a, "--kd")) {
            if (strcmp(v, "hinton") && strcmp(v, "dkd") && strcmp(v, "zscore") && strcmp(v, "pearson")) {
                return tl_cli_fail(cmd, "--kd takes hinton, dkd, zscore or pearson, not '%s'", v);
            }
            cfg.kd = !strcmp(v, "dkd")      ? TL_KD_DECOUPLED
                     : !strcmp(v, "zscore") ? TL_KD_ZSCORE
                     : !strcmp(v, "pearson") ? TL_KD_PEARSON
                                            : TL_KD_HINTON;
        } else if ((number = find_number(numbers, sizeof numbers / sizeof numbers[0], a, distill))) {
            if (number->real) {
                float f;
                if (parse_float(v, &f) || !(f >= 0) || !isfinite(f)) {
                    return tl_cli_fail(cmd, "%s needs a non-negative number, not '%s'", a, v);
                }
                *number->real = f;
            } else if (tl_cli_parse_u32(v, &u)) {
                return tl_cli_fail(cmd, "%s needs a non-negative integer, not '%s'", a, v);
            } else if (u > (uint32_t)number->most) {
                return tl_cli_fail(cmd, "%s takes 0 to %d%s, not '%s'", a, number->most, number->unit, v);
            } else {
                *number->whole = (int)u;
            }
        } else if (!strcmp(a, "--seed")) {
            if (tl_cli_parse_u32(v, &u)) {
                return tl_cli_fail(cmd, "--seed needs a non-negative integer, not '%s'", v);
            }
            cfg.seed = u;
        } else if (!strcmp(a, "--limit")) {
            if (tl_cli_parse_u32(v, &u) || u > INT32_MAX) {
                return tl_cli_fail(cmd, "--limit needs a non-negative integer, not '%s'", v);
            }
            cfg.limit_train = (int)u;
            cfg.limit_test = (int)(u / 6 ? u / 6 : 1);
        } else if (!strcmp(a, "--qat")) {
            if (tl_cli_parse_u32(v, &u) || (u != 4 && u != 8)) {
                return tl_cli_fail(cmd, "--qat takes 4 or 8, not '%s'", v);
            }
            cfg.qat_bits = (int)u;
        } else {
            usage_train(stderr, distill);
            return tl_cli_fail(cmd, "unknown option '%s'", a);
        }
    }
    if (!cfg.out) {
        usage_train(stderr, distill);
        return tl_cli_fail(cmd, "need --out CKPT");
    }
    if (distill && !cfg.teacher) {
        return tl_cli_fail(cmd, "need --teacher CKPT");
    }
    if (cfg.more_teacher_count > 0 && (cfg.teacher_live || cfg.attention > 0)) {
        return tl_cli_fail(cmd, "an ensemble of teachers is scored once before training; it cannot go with %s",
                           cfg.teacher_live ? "--teacher-live" : "--attention");
    }
    if (cfg.teacher_cache && cfg.teacher_live) {
        return tl_cli_fail(cmd, "--teacher-cache keeps the logits of a teacher run once; it cannot go with "
                                "--teacher-live");
    }
    if (cfg.attention > 0 && (cfg.teacher_cache || cfg.teacher_flip)) {
        return tl_cli_fail(cmd, "--attention needs the teacher's feature maps, which neither --teacher-cache "
                                "nor --teacher-flip keeps; leave those out");
    }
    if (cfg.teacher_views > 0 && !cfg.augment) {
        return tl_cli_fail(cmd, "--teacher-views trains on augmented views; it cannot go with --no-augment");
    }
    if (cfg.cutout > 0 && !cfg.augment) {
        return tl_cli_fail(cmd, "--cutout is an augmentation; it cannot go with --no-augment");
    }
    if (cfg.prune_channels > 0 && !cfg.init) {
        return tl_cli_fail(cmd, "--prune-channels needs --init CKPT (the trained network to prune)");
    }
    if (!cfg.resume && !cfg.init && !tl_arch_describe(cfg.arch)) {
        return tl_cli_fail(cmd, "unknown architecture '%s' (see --help)", cfg.arch);
    }
    if (cfg.epochs < 1 || cfg.batch < 1 || !(cfg.lr > 0)) {
        return tl_cli_fail(cmd, "--epochs, --batch and --lr must be positive");
    }
    tl_train_report rep;
    char error[512] = "";
    tl_status s = tl_train(&cfg, &rep, error, sizeof error);
    if (s != TL_OK) {
        return tl_cli_fail(cmd, "%s", error[0] ? error : tl_status_str(s));
    }
    if (rep.rank != 0) {
        return 0; /* under mpirun, rank 0 reports */
    }
    printf("%s: %zu parameters, %d epochs in %.1f s (%.0f images/s), test accuracy", cfg.out, rep.param_count,
           rep.epochs_run, rep.seconds, rep.images_per_second);
    for (int e = 0; e < rep.exit_count; ++e) {
        printf("%s%.4f", e ? " / " : " ", (double)rep.test_accuracy[e]);
    }
    printf(rep.exit_count > 1 ? " (per exit)\n" : "\n");
    return 0;
}

int tl_cmd_train(int argc, char **argv) { return run_training(argc, argv, 0); }
int tl_cmd_distill(int argc, char **argv) { return run_training(argc, argv, 1); }

/* Most checkpoints one `eval` averages. */
#define EVAL_MAX_MODELS 8

int tl_cmd_eval(int argc, char **argv)
{
    const char *paths[EVAL_MAX_MODELS], *data = NULL;
    int count = 0, flip = 0;
    uint32_t limit = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: tinylarge eval CKPT [CKPT ...] [--flip] [--data DIR] [--limit N]\n\n"
                   "Test accuracy of every exit of a checkpoint on Fashion-MNIST's test split.\n"
                   "With several checkpoints (at most %d), also the accuracy of their mean\n"
                   "logits (an ensemble); with --flip, also that of the mean over each test\n"
                   "image and its mirror (test-time augmentation).\n",
                   EVAL_MAX_MODELS);
            return 0;
        } else if (!strcmp(argv[i], "--flip")) {
            flip = 1;
        } else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            data = argv[++i];
        } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            if (tl_cli_parse_u32(argv[++i], &limit)) {
                return tl_cli_fail("eval", "--limit needs a non-negative integer, not '%s'", argv[i]);
            }
        } else if (argv[i][0] == '-') {
            return tl_cli_fail("eval", "unexpected argument '%s'", argv[i]);
        } else if (count == EVAL_MAX_MODELS) {
            return tl_cli_fail("eval", "at most %d checkpoints, not more ('%s')", EVAL_MAX_MODELS, argv[i]);
        } else {
            paths[count++] = argv[i];
        }
    }
    if (!count) {
        return tl_cli_fail("eval", "need a checkpoint");
    }
    char error[512] = "";
    tl_net nets[EVAL_MAX_MODELS];
    tl_net *list[EVAL_MAX_MODELS];
    tl_checkpoint_info infos[EVAL_MAX_MODELS];
    float means[EVAL_MAX_MODELS], stds[EVAL_MAX_MODELS];
    int loaded = 0, status = 0;
    for (; loaded < count; ++loaded) {
        if (tl_checkpoint_load(paths[loaded], 256, &nets[loaded], NULL, &infos[loaded], error, sizeof error) != TL_OK) {
            status = tl_cli_fail("eval", "%s", error);
            break;
        }
        list[loaded] = &nets[loaded];
        means[loaded] = infos[loaded].mean;
        stds[loaded] = infos[loaded].std;
    }
    tl_dataset test;
    memset(&test, 0, sizeof test);
    if (!status && tl_dataset_load_dir(data, 0, (int)limit, &test, error, sizeof error) != TL_OK) {
        status = tl_cli_fail("eval", "%s", error);
    }
    for (int m = 0; !status && m < count; ++m) {
        tl_net *net = &nets[m];
        float acc[TL_MAX_EXITS], loss;
        if (tl_evaluate(net, &test, means[m], stds[m], acc, &loss) != TL_OK) {
            status = tl_cli_fail("eval", "%s: out of memory", paths[m]);
            break;
        }
        printf("%s: %s, %zu parameters, %d epochs, %d test images, loss %.4f, accuracy", paths[m], infos[m].arch,
               net->param_count, infos[m].epoch, test.n, (double)loss);
        for (int e = 0; e < net->exit_count; ++e) {
            printf("%s%.4f", e ? " / " : " ", (double)acc[e]);
        }
        printf(net->exit_count > 1 ? " (per exit)\n" : "\n");
    }
    if (!status && (count > 1 || flip)) {
        float acc = 0;
        const tl_status s = tl_evaluate_mean(list, means, stds, count, &test, flip, &acc);
        if (s == TL_ERR_SHAPE) {
            status = tl_cli_fail("eval", "the checkpoints differ in input shape or classes from each other or the data");
        } else if (s != TL_OK) {
            status = tl_cli_fail("eval", "%s", tl_status_str(s));
        } else {
            printf("mean of %d checkpoint%s%s: %d test images, accuracy %.4f\n", count, count > 1 ? "s" : "",
                   flip ? " over each image and its mirror" : "", test.n, (double)acc);
        }
    }
    for (int m = 0; m < loaded; ++m) {
        tl_net_free(&nets[m]);
    }
    tl_dataset_free(&test);
    return status;
}
