/* cmd_train.c - `tinylarge train`, `tinylarge distill` and `tinylarge eval`. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/large.h"

static void list_architectures(FILE *out)
{
    fprintf(out, "\narchitectures:\n");
    for (const char *const *n = tl_arch_names(); *n; ++n) {
        fprintf(out, "  %-14s %s\n", *n, tl_arch_describe(*n));
    }
}

static int run_training(int argc, char **argv, int distill)
{
    const char *cmd = distill ? "distill" : "train";
    tl_train_config cfg;
    tl_train_defaults(&cfg);
    cfg.progress = isatty(STDERR_FILENO);
    enum { MOST = 1000000 };
    int no_augment = 0, optimizer = 0, schedule = 0, kd = 0, qat = -1, split_bits = 0;
    uint32_t limit = 0, seed = (uint32_t)cfg.seed;
    tl_opt_list teachers = { { NULL }, 0 };
    const tl_opt distill_options[] = {
        { "--teacher", TL_OPT_LIST, &teachers, 0, 0, "CKPT", "the teacher's checkpoint (required); given 2 to 4 times, an\n"
          "ensemble: soft targets from the mean of the teachers' logits\n(not with --teacher-live or --attention)", NULL },
        { "--temperature", TL_OPT_FLOAT, &cfg.temperature, 0, 0, "T", "softening temperature (default 4)", NULL },
        { "--alpha", TL_OPT_FLOAT, &cfg.alpha, 0, 0, "A", "weight of the distillation term (default 0.7)", NULL },
        { "--kd", TL_OPT_CHOICE, &kd, 0, 0, "hinton|dkd|zscore|pearson",
          "hinton (default): alpha T^2 KL + (1 - alpha) CE; dkd,\n"
          "decoupled (Zhao et al. 2022): CE + T^2 (a TCKD + b NCKD);\n"
          "zscore (Sun et al. 2024): alpha W T^2 KL + (1 - alpha) CE\n"
          "with both logits as (x - mean) / std before T; or pearson\n"
          "(DIST's inter-class term, Huang et al. 2022): alpha P T^2\n"
          "(1 - correlation of the softmaxes at T) + (1 - alpha) CE", NULL },
        { "--dkd-alpha", TL_OPT_FLOAT, &cfg.dkd_alpha, 0, 0, "A", "dkd: weight a of the target-class term (default 1)", NULL },
        { "--dkd-beta", TL_OPT_FLOAT, &cfg.dkd_beta, 0, 0, "B", "dkd: weight b of the non-target term (default 8)", NULL },
        { "--dkd-warmup", TL_OPT_FLOAT, &cfg.dkd_warmup, 0, 0, "E", "dkd: epochs over which both weights ramp up from 0\n"
          "(default 2)", NULL },
        { "--zkd-weight", TL_OPT_FLOAT, &cfg.zkd_weight, 0, 0, "W", "zscore: the KL term's extra weight W (default 10; the\n"
          "paper's CIFAR setting is --alpha 0.9 --zkd-weight 10 --temperature 2)", NULL },
        { "--pkd-weight", TL_OPT_FLOAT, &cfg.pkd_weight, 0, 0, "P", "pearson: the correlation term's extra weight P (default 2;\n"
          "with --alpha 0.5, DIST's CIFAR ratio to the CE)", NULL },
        { "--teacher-live", TL_OPT_FLAG, &cfg.teacher_live, 0, 0, NULL, "run the teacher on every augmented batch (default:\n"
          "once per training image before the first epoch, then cached)", NULL },
        { "--teacher-views", TL_OPT_INT, &cfg.teacher_views, 0, TL_TEACHER_VIEWS_MAX, "K", "the teacher scores K fixed\n"
          "augmented views of each training image once (K passes); the\nstudent trains on those views with their own "
          "soft targets\n(default 0: un-augmented images scored, fresh views trained on)", NULL },
        { "--attention", TL_OPT_FLOAT, &cfg.attention, 0, 0, "BETA", "also match the student's attention maps to the\n"
          "teacher's (Zagoruyko & Komodakis 2017) at each feature-map\nsize both have, weight BETA (the paper's is 1000; "
          "default 0:\noff; not with --teacher-cache or --teacher-flip)", NULL },
        { "--teacher-flip", TL_OPT_FLAG, &cfg.teacher_flip, 0, 0, NULL, "soft targets averaged over each image (view) and its mirror\n"
          "(the teacher runs twice)", NULL },
        { "--teacher-cache", TL_OPT_TEXT, &cfg.teacher_cache, 0, 0, "F", "keep the teacher's cached logits in file F: read\n"
          "when F holds those of this teacher, data and views, else\ncomputed and saved there (not with --teacher-live)",
          NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_opt options[] = {
        { "--arch", TL_OPT_TEXT, &cfg.arch, 0, 0, "NAME", "architecture (default student)", NULL },
        { "--out", TL_OPT_TEXT, &cfg.out, 0, 0, "CKPT", "checkpoint to write (required)", NULL },
        { "--epochs", TL_OPT_INT, &cfg.epochs, 0, MOST, "N", "epochs (default 10)", NULL },
        { "--batch", TL_OPT_INT, &cfg.batch, 0, MOST, "N", "batch size (default 128)", NULL },
        { "--lr", TL_OPT_FLOAT, &cfg.lr, 0, 0, "X", "peak learning rate (default 0.05 SGD, use ~0.002 for AdamW)", NULL },
        { "--optimizer", TL_OPT_CHOICE, &optimizer, 0, 0, "sgd|adamw", "sgd (momentum 0.9) or adamw (default sgd)", NULL },
        { "--wd", TL_OPT_FLOAT, &cfg.weight_decay, 0, 0, "X", "weight decay (default 5e-4)", NULL },
        { "--schedule", TL_OPT_CHOICE, &schedule, 0, 0, "cosine|step|constant", "the learning rate's schedule (default\n"
          "cosine), 1 warm-up epoch", NULL },
        { "--threads", TL_OPT_INT, &cfg.threads, 0, MOST, "N", "training threads, each on a slice of the batch (default 1)",
          NULL },
        { "--seed", TL_OPT_U32, &seed, 0, 4294967295.0, "N", "seed of initialisation, shuffling, augmentation (default 1)",
          NULL },
        { "--no-augment", TL_OPT_FLAG, &no_augment, 0, 0, NULL, "no random crop / flip", NULL },
        { "--cutout", TL_OPT_INT, &cfg.cutout, 0, TL_CUTOUT_MAX, "N", "also mask a random N x N square of each augmented\n"
          "image with the mean (Cutout; default 0: none)", NULL },
        { "--limit", TL_OPT_U32, &limit, 0, 2147483647.0, "N", "use the first N training images (and N/6 test images)",
          NULL },
        { "--data", TL_OPT_TEXT, &cfg.data_dir, 0, 0, "DIR", "dataset folder: IDX or .npy files (default Fashion-MNIST)",
          NULL },
        { "--resume", TL_OPT_TEXT, &cfg.resume, 0, 0, "CKPT", "continue a run from its checkpoint", NULL },
        { "--init", TL_OPT_TEXT, &cfg.init, 0, 0, "CKPT", "start from a checkpoint's weights (fine-tuning; fresh\n"
          "optimiser)", NULL },
        { "--prune", TL_OPT_FLOAT, &cfg.prune, 0, 0.999999, "S", "prune the fraction S of conv/dense weights (magnitude,\n"
          "gradual)", NULL },
        { "--prune-channels", TL_OPT_FLOAT, &cfg.prune_channels, 0.000001, 0.999999, "F", "with --init: remove the\n"
          "fraction F of each convolution's filters (structured: smaller\ncompute and arena), then fine-tune", NULL },
        { "--qat", TL_OPT_CHOICE, &qat, 0, 0, "4|8", "quantisation-aware training for BITS-bit weights", NULL },
        { "--split-cut", TL_OPT_INT, &cfg.split_cut, 1, 100000, "NODE", "split learning: the device's half is the network\n"
          "up to this node, the edge's the rest; only the node's activations (up)\n"
          "and their gradients (down) cross, counted", NULL },
        { "--split-bits", TL_OPT_CHOICE, &split_bits, 0, 0, "8|32", "what crosses the cut: int8 with a scale a sample\n"
          "(default) or float32", NULL },
        { "", distill ? TL_OPT_GROUP : TL_OPT_END, NULL, 0, 0, NULL, NULL, distill_options },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        cmd,
        distill ? "usage: tinylarge distill --teacher CKPT --arch NAME --out CKPT [options]\n\n"
                  "Trains a student from a teacher's softened outputs (Hinton et al. 2015) on a\n"
                  "dataset folder (Fashion-MNIST by default), writing a checkpoint after every\n"
                  "epoch (atomically)."
                : "usage: tinylarge train --arch NAME --out CKPT [options]\n\n"
                  "Trains a network on a dataset folder (Fashion-MNIST by default), writing a\n"
                  "checkpoint after every epoch (atomically).",
        options, NULL, 0, list_architectures
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    cfg.augment = !no_augment;
    cfg.seed = seed;
    cfg.optimizer = optimizer ? TL_OPTIM_ADAMW : TL_OPTIM_SGD;
    cfg.schedule = schedule == 0 ? TL_SCHED_COSINE : schedule == 1 ? TL_SCHED_STEP : TL_SCHED_CONSTANT;
    cfg.kd = kd == 1 ? TL_KD_DECOUPLED : kd == 2 ? TL_KD_ZSCORE : kd == 3 ? TL_KD_PEARSON : TL_KD_HINTON;
    if (qat >= 0) {
        cfg.qat_bits = qat ? 8 : 4;
    }
    tl_cut_link cut = { 0, 0.0, 0.0, 0 };
    cfg.split_bits = split_bits == 1 ? 32 : 8;
    cfg.split_link = &cut;
    if (limit > 0) { /* 0: every image */
        cfg.limit_train = (int)limit;
        cfg.limit_test = (int)(limit / 6 ? limit / 6 : 1);
    }
    if (teachers.count > TL_TEACHERS_MAX) {
        return tl_cli_fail(cmd, "at most %d --teacher checkpoints (an ensemble), not more", TL_TEACHERS_MAX);
    }
    for (int k = 0; k < teachers.count; ++k) {
        if (k == 0) {
            cfg.teacher = teachers.item[0];
        } else {
            cfg.more_teachers[cfg.more_teacher_count++] = teachers.item[k];
        }
    }
    if (!cfg.out) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail(cmd, "need --out CKPT");
    }
    if (distill && !cfg.teacher) {
        return tl_cli_fail(cmd, "need --teacher CKPT");
    }
    char error[512] = "";
    if (tl_train_check(&cfg, error, sizeof error) != TL_OK) { /* the library's own rules, one place */
        return tl_cli_fail(cmd, "%s", error);
    }
    tl_train_report rep;
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
    if (cfg.split_cut > 0 && cut.samples > 0) {
        printf("split learning at node %d: %.1f MB of activations up (training and test passes), %.1f MB of "
               "gradients down (%.0f bytes a sample each way, %d-bit)\n", cfg.split_cut, cut.bytes_up / 1e6, cut.bytes_down / 1e6,
               cut.bytes_up / (double)cut.samples, cfg.split_bits);
    }
    return 0;
}

int tl_cmd_train(int argc, char **argv) { return run_training(argc, argv, 0); }
int tl_cmd_distill(int argc, char **argv) { return run_training(argc, argv, 1); }

/* Most checkpoints one `eval` averages. */
#define EVAL_MAX_MODELS 8

int tl_cmd_eval(int argc, char **argv)
{
    const char *paths[EVAL_MAX_MODELS + 1], *data = NULL;
    int count = 0, flip = 0;
    uint32_t limit = 0;
    const tl_opt options[] = {
        { "--flip", TL_OPT_FLAG, &flip, 0, 0, NULL, "also the accuracy over each test image and its mirror", NULL },
        { "--data", TL_OPT_TEXT, &data, 0, 0, "DIR", "dataset folder: IDX or .npy files (default Fashion-MNIST)", NULL },
        { "--limit", TL_OPT_U32, &limit, 0, 2147483647.0, "N", "test images (default: all)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "eval",
        "usage: tinylarge eval CKPT [CKPT ...] [--flip] [--data DIR] [--limit N]\n\n"
        "Test accuracy of every exit of a checkpoint on the test split. With several\n"
        "checkpoints (at most 8), also the accuracy of their mean logits (an\n"
        "ensemble); with --flip, also that of the mean over each test image and its\n"
        "mirror (test-time augmentation).",
        options, paths, EVAL_MAX_MODELS + 1, NULL
    };
    const int parsed = tl_opt_parse(&spec, argc, argv, &count);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (count > EVAL_MAX_MODELS) {
        return tl_cli_fail("eval", "at most %d checkpoints, not more ('%s')", EVAL_MAX_MODELS, paths[EVAL_MAX_MODELS]);
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
