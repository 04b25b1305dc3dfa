/* cmd_pipeline.c - `tinylarge pipeline`: how soon a device with a pending
 * input answers while its model is still arriving (tl_pipeline, device.h),
 * against downloading first and computing after, on a given link. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/device.h"
#include "tinylarge/host.h"
#include "tinylarge/split.h"

#define BLOCK 1024u /* a CoAP Block2 block (SZX 6), as the runner feeds it */

/* Without QEMU: tl_split_estimated_instructions (as `split`), and
 * the Cortex-M4's SHA-256 at 53 instructions a byte (the runner's
 * measurement of a 1 KB block's hash, 1,365 ticks). */
#define EST_HASH_PER_BYTE 53u

/* The host's own pipeline over the file in blocks, into a slot whose
 * bytes not yet arrived are garbage; ops_after[k]: operators finished once
 * block k is in. 1 when its answer equals the whole model's on the same
 * seeded input (`run --seed 1`), 0 when not, -1 when it failed. */
static int host_pipeline(const uint8_t *file, const tl_model *whole, uint32_t blocks, uint32_t *ops_after)
{
    const uint32_t size = whole->size;
    const uint32_t arena_size = tl_model_arena_size(whole);
    uint8_t *slot = aligned_alloc(16, (size + 15) / 16 * 16);
    uint8_t *arena = aligned_alloc(16, arena_size / 16 * 16 + 16);
    uint8_t *arena2 = aligned_alloc(16, arena_size / 16 * 16 + 16);
    int result = -1;
    if (!slot || !arena || !arena2) {
        goto done;
    }
    memset(slot, 0xA5, size);
    tl_pipeline p;
    tl_interp it;
    int begun = 0;
    tl_status s = TL_OK;
    for (uint32_t k = 0; k < blocks && s == TL_OK; ++k) {
        const uint32_t held = size - k * BLOCK > BLOCK ? (k + 1) * BLOCK : size;
        memcpy(slot + k * BLOCK, file + k * BLOCK, held - k * BLOCK);
        if (!begun) {
            s = tl_pipeline_begin(&p, slot, held, arena, arena_size);
            begun = s == TL_OK;
            s = s == TL_ERR_TRUNCATED ? TL_OK : s;
            if (begun) {
                tl_cli_seed_inputs(&p.interp, 1);
            }
        }
        uint32_t ran = 0;
        const uint32_t before = begun ? p.interp.next_op : 0;
        do {
            s = begun && s == TL_OK ? tl_pipeline_step(&p, held, &ran) : s;
        } while (s == TL_OK && ran);
        ops_after[k] = begun ? p.interp.next_op - before : 0; /* operators finished (a part may have run) */
    }
    if (s != TL_OK || !tl_pipeline_done(&p) || tl_interp_init(&it, whole, arena2, arena_size) != TL_OK) {
        goto done;
    }
    /* The same seeded input through the whole model, in its own arena. */
    tl_cli_seed_inputs(&it, 1);
    tl_interp_invoke(&it);
    result = 1;
    for (uint32_t out = 0; out < whole->header->output_count; ++out) {
        uint32_t a = 0, b = 0;
        const int8_t *x = tl_pipeline_output(&p, out, &a), *y = tl_interp_output(&it, out, &b);
        result &= a == b && memcmp(x, y, a) == 0;
    }
done:
    free(slot);
    free(arena);
    free(arena2);
    return result;
}

static int write_json(const char *path, const char *model, const tl_split_link *link, uint32_t size,
                      uint32_t blocks, const tl_pipeline_times *t, int measured, int host_same, int m4_same)
{
    char *text = NULL;
    size_t text_size = 0;
    FILE *f = open_memstream(&text, &text_size);
    if (!f) {
        return -1;
    }
    fprintf(f, "{\n  \"model\": \"%s\", \"bytes\": %u, \"blocks\": %u, \"rate_bps\": %.0f, \"rtt_s\": %.6f, "
               "\"ips\": %.0f,\n", model, size, blocks, link->rate_bps, link->rtt_s, link->ips);
    fprintf(f, "  \"device_measured\": %s, \"download_s\": %.6f, \"compute_s\": %.6f, \"sequential_s\": %.6f,\n",
            measured ? "true" : "false", t->download_s, t->compute_s, t->sequential_s);
    fprintf(f, "  \"pipelined_s\": %.6f, \"pipelined_over_download\": %.4f,\n", t->pipelined_s,
            t->pipelined_s / t->download_s);
    fprintf(f, "  \"host_answer_equal\": %s, \"m4_answer_equal\": %s\n}\n", host_same ? "true" : "false",
            measured ? (m4_same ? "true" : "false") : "null");
    fclose(f);
    const tl_status s = tl_write_file_atomic(path, text, text_size);
    free(text);
    return s == TL_OK ? 0 : -1;
}

int tl_cmd_pipeline(int argc, char **argv)
{
    const char *path = NULL, *json = NULL, *runner = NULL;
    tl_split_link link = { 1e6, 0.0, 41e6, 0.0, 0.0, 0 };
    double rtt_ms = 0.0;
    const tl_opt options[] = {
        { "--rate", TL_OPT_QUANTITY, &link.rate_bps, 1, 1e12, "BPS", "the link's rate, bits per second (default 1M)",
          NULL },
        { "--rtt", TL_OPT_DOUBLE, &rtt_ms, 0, 60000, "MS", "the request's round trip before the first byte,\n"
          "milliseconds (default 0)", NULL },
        { "--ips", TL_OPT_QUANTITY, &link.ips, 1, 1e12, "N", "the device's instructions per second (default 41M: a\n"
          "Cortex-M4 at 120 MHz, as measured: docs/benchmarks.md)", NULL },
        { "--m4-runner", TL_OPT_TEXT, &runner, 0, 0, "ELF", "Cortex-M4 runner image that measures each block's work\n"
          "(default: firmware/fw_runner.elf beside this program)", NULL },
        { "--json", TL_OPT_TEXT, &json, 0, 0, "FILE", "also write the figures as JSON", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "pipeline",
        "usage: tinylarge pipeline MODEL.tlm [--rate BPS] [--rtt MS] [--ips N] [--m4-runner ELF] [--json FILE]\n\n"
        "How soon a device with a pending input answers while MODEL.tlm is still\n"
        "arriving in 1 KB blocks: each block's arrival lets it hash the block and run\n"
        "the operators whose bytes are then in (at the last block it verifies the\n"
        "file). The work is measured on the Cortex-M4 under QEMU, block by block, and\n"
        "timed at --ips against the link's --rate. Prints the download alone, the\n"
        "download then the inference, and the pipelined answer; checks that the\n"
        "pipelined answer equals the whole model's (on this host and on the M4).",
        options, &path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!path) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("pipeline", "need MODEL.tlm");
    }
    link.rtt_s = rtt_ms / 1000.0;
    uint8_t *buf = NULL;
    tl_model m;
    if (tl_cli_load_model("pipeline", path, &buf, &m)) {
        return 1;
    }
    const uint32_t size = m.size, blocks = (size + BLOCK - 1) / BLOCK;
    uint32_t *ops_after = calloc(blocks, sizeof *ops_after), *block_end = calloc(blocks, sizeof *block_end);
    uint64_t *work = calloc(blocks, sizeof *work);
    int rc = 0;
    if (!ops_after || !block_end || !work) {
        rc = tl_cli_fail("pipeline", "out of memory");
        goto done;
    }
    const int host_same = host_pipeline(buf, &m, blocks, ops_after);
    if (host_same < 0) {
        rc = tl_cli_fail("pipeline", "%s: the pipeline did not run to the end on this host", path);
        goto done;
    }
    char default_runner[4200];
    if (!runner) {
        runner = tl_cli_default_runner(default_runner, sizeof default_runner);
    }
    int m4_same = 0;
    const int measured = tl_cli_m4_available(runner) && tl_cli_m4_pipeline(runner, path, work, blocks, &m4_same) == 0;
    uint32_t op = 0;
    for (uint32_t k = 0; k < blocks; ++k) {
        block_end[k] = k + 1 < blocks ? (k + 1) * BLOCK : size;
        if (!measured) {
            work[k] = (uint64_t)EST_HASH_PER_BYTE * (block_end[k] - k * BLOCK);
            for (uint32_t i = 0; i < ops_after[k]; ++i, ++op) {
                work[k] += tl_split_estimated_instructions(&m, op);
            }
        }
    }
    uint32_t early = 0;
    for (uint32_t k = 0; k + 1 < blocks; ++k) {
        early += ops_after[k];
    }
    tl_pipeline_times t;
    tl_pipeline_schedule(block_end, work, blocks, &link, &t);
    printf("%s: %u bytes in %u blocks of %u; link %.3g bit/s, round trip %.1f ms; device %.3g instructions/s\n",
           path, size, blocks, BLOCK, link.rate_bps, rtt_ms, link.ips);
    printf("device work: %s\n", measured ? "measured on the Cortex-M4 under QEMU, block by block"
                                         : "estimated (no QEMU or runner image): 1.65 instructions a MAC + 500 "
                                           "an operator, SHA-256 at 53 a byte");
    printf("%-34s %10s %10s\n", "", "seconds", "x download");
    printf("%-34s %10.4f %10.3f\n", "download alone", t.download_s, 1.0);
    printf("%-34s %10.4f %10.3f\n", "the device's work alone", t.compute_s, t.compute_s / t.download_s);
    printf("%-34s %10.4f %10.3f\n", "download, then inference", t.sequential_s, t.sequential_s / t.download_s);
    printf("%-34s %10.4f %10.3f\n", "pipelined: the first answer", t.pipelined_s, t.pipelined_s / t.download_s);
    printf("operators finished before the last block: %u of %u\n", early, m.header->op_count);
    printf("pipelined answer equals the whole model's: %s on this host%s\n", host_same ? "yes" : "NO",
           measured ? (m4_same ? ", yes on the Cortex-M4" : ", NO on the Cortex-M4") : "");
    if (!host_same || (measured && !m4_same)) {
        rc = tl_cli_fail("pipeline", "%s: the pipelined answer differs from the whole model's", path);
    }
    if (json && write_json(json, path, &link, size, blocks, &t, measured, host_same, m4_same) != 0) {
        rc = tl_cli_fail("pipeline", "%s: cannot write", json);
    }
done:
    free(ops_after);
    free(block_end);
    free(work);
    free(buf);
    return rc;
}
