/* cmd_cascade.c - `tinylarge cascade`: the early-exit cascade of a
 * multi-exit model on Fashion-MNIST test images, per exit and per
 * confidence threshold (what the device's tl_interp_run_to_exit does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/large.h"

int tl_cmd_cascade(int argc, char **argv)
{
    const char *path = NULL, *data = NULL, *list = NULL;
    float thresholds[16] = { 0.5f, 0.7f, 0.8f, 0.9f, 0.95f };
    int n_thresholds = 5;
    uint32_t limit = 0;
    const tl_opt options[] = {
        { "--thresholds", TL_OPT_TEXT, &list, 0, 0, "LIST", "comma-separated probabilities (default 0.5,0.7,0.8,0.9,0.95)",
          NULL },
        { "--limit", TL_OPT_U32, &limit, 1, 4294967295.0, "N", "test images (default: all)", NULL },
        { "--data", TL_OPT_TEXT, &data, 0, 0, "DIR", "dataset folder: IDX or .npy files (default Fashion-MNIST)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "cascade",
        "usage: tinylarge cascade MODEL.tlm [--thresholds LIST] [--limit N] [--data DIR]\n\n"
        "Runs a multi-exit model as the device does: each test image stops at the first\n"
        "exit whose top-1 probability reaches the threshold (the last exit takes the\n"
        "rest). Prints, per exit, its accuracy alone, the MACs to reach it, and for each\n"
        "threshold the share of images that stop there; then the cascade's accuracy and\n"
        "mean MACs per image.",
        options, &path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (list) {
        n_thresholds = 0;
        for (const char *p = list; *p && n_thresholds < 16;) {
            char *end;
            const float t = strtof(p, &end);
            if (end == p || !(t >= 0 && t <= 1) || (*end && *end != ',')) {
                fprintf(stderr, "tinylarge cascade: --thresholds takes probabilities in [0, 1] like 0.5,0.9, not '%s'\n",
                        list);
                return 2;
            }
            thresholds[n_thresholds++] = t;
            p = *end ? end + 1 : end;
        }
    }
    if (!path) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("cascade", "need a model");
    }
    uint8_t *buf;
    tl_model m;
    if (tl_cli_load_model("cascade", path, &buf, &m) != 0) {
        return 1;
    }
    char error[512];
    tl_dataset test;
    if (tl_dataset_load_dir(data, 0, (int)limit, &test, error, sizeof error) != TL_OK) {
        free(buf);
        return tl_cli_fail("cascade", "%s", error);
    }
    int rc = 0;
    for (int t = 0; t < n_thresholds && rc == 0; ++t) {
        tl_cascade_report r;
        const tl_status s = tl_runtime_cascade(buf, m.header->file_size, &test, thresholds[t], &r);
        if (s != TL_OK) {
            rc = tl_cli_fail("cascade", "%s: %s", path, tl_status_str(s));
            break;
        }
        if (t == 0) {
            printf("%s: %d exit%s, %d test images\n", path, r.exits, r.exits == 1 ? "" : "s", test.n);
            printf("%6s %10s %12s\n", "exit", "accuracy", "MACs");
            for (int e = 0; e < r.exits; ++e) {
                printf("%6d %9.2f%% %12llu\n", e, 100.0 * r.accuracy[e], (unsigned long long)r.macs[e]);
            }
            printf("\n%9s", "threshold");
            for (int e = 0; e < r.exits; ++e) {
                printf("   stop at %d (acc.)", e);
            }
            printf(" %10s %12s %8s\n", "cascade", "mean MACs", "of last");
        }
        printf("%9.2f", (double)r.threshold);
        for (int e = 0; e < r.exits; ++e) {
            printf("   %6.1f%% (%5.1f%%)", 100.0 * r.share[e], 100.0 * r.stop_accuracy[e]);
        }
        printf(" %9.2f%% %12.0f %7.2fx\n", 100.0 * r.cascade_accuracy, r.mean_macs,
               r.exits ? r.mean_macs / (double)r.macs[r.exits - 1] : 0);
    }
    tl_dataset_free(&test);
    free(buf);
    return rc;
}
