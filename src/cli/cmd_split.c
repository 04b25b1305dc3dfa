/* cmd_split.c - `tinylarge split`: where to cut a device model between the
 * device and the edge for a given link (split.h), each cut's costs as a
 * table and, with --json, a file. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/device.h"
#include "tinylarge/host.h"
#include "tinylarge/split.h"

/* The edge's seconds per operator: the model on this host's runtime, one
 * operator at a time on the seeded input (as `run --seed 1`), averaged. */
static int edge_profile(const tl_model *m, int runs, double *seconds)
{
    const uint32_t arena_size = tl_model_arena_size(m);
    uint8_t *arena = malloc(arena_size ? arena_size : 1);
    tl_interp it;
    if (!arena || tl_interp_init(&it, m, arena, arena_size) != TL_OK) {
        free(arena);
        return -1;
    }
    const uint32_t ops = m->header->op_count;
    memset(seconds, 0, sizeof(double) * ops);
    for (int r = 0; r < runs; ++r) {
        tl_cli_seed_inputs(&it, 1);
        for (uint32_t op = 0; op < ops; ++op) {
            const double t0 = tl_monotonic_seconds();
            tl_interp_step(&it);
            seconds[op] += (tl_monotonic_seconds() - t0) / runs;
        }
    }
    free(arena);
    return 0;
}

static int write_json(const char *path, const char *model, const tl_split_link *link, const tl_split_cut *cuts,
                      uint32_t count, uint32_t chosen, int measured, int objective)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) {
        return -1;
    }
    fprintf(f, "{\n  \"model\": \"%s\", \"rate_bps\": %.0f, \"rtt_s\": %.6f, \"ips\": %.0f,\n", model, link->rate_bps,
            link->rtt_s, link->ips);
    fprintf(f, "  \"joules_per_instruction\": %.3g, \"joules_per_bit\": %.3g, \"device_measured\": %s,\n",
            link->joules_per_instruction, link->joules_per_bit, measured ? "true" : "false");
    fprintf(f, "  \"objective\": \"%s\",\n", objective == TL_SPLIT_ENERGY ? "energy" : "latency");
    fprintf(f, "  \"cuts\": [\n");
    for (uint32_t k = 0; k < count; ++k) {
        const tl_split_cut *c = &cuts[k];
        fprintf(f, "    {\"ops_on_device\": %u, \"device_instructions\": %llu, \"device_s\": %.6f, \"bytes\": %u, "
                   "\"uplink_s\": %.6f, \"edge_s\": %.6f, \"total_s\": %.6f, \"energy_j\": %.6g}%s\n",
                c->ops_on_device, (unsigned long long)c->device_instructions, c->device_s, c->bytes, c->uplink_s,
                c->edge_s, c->total_s, c->energy_j, k + 1 < count ? "," : "");
    }
    fprintf(f, "  ],\n  \"chosen\": %u\n}\n", chosen);
    fclose(f);
    const tl_status s = tl_write_file_atomic(path, text, size);
    free(text);
    return s == TL_OK ? 0 : -1;
}

int tl_cmd_split(int argc, char **argv)
{
    const char *path = NULL, *json = NULL, *runner = NULL;
    tl_split_link link = { 0.0, 0.0, 0.0, TL_SPLIT_JOULES_PER_INSTRUCTION, TL_SPLIT_JOULES_PER_BIT, 0 };
    double rtt_ms = -1.0;
    uint32_t runs = 20;
    int objective = TL_SPLIT_LATENCY;
    const tl_opt options[] = {
        { "--rate", TL_OPT_QUANTITY, &link.rate_bps, 1, 1e12, "BPS", "the device's uplink, bits per second (required)",
          NULL },
        { "--rtt", TL_OPT_DOUBLE, &rtt_ms, 0, 60000, "MS", "the round trip to the edge, milliseconds (required)", NULL },
        { "--ips", TL_OPT_QUANTITY, &link.ips, 1, 1e12, "N", "the device's instructions per second (required; 64M for a\n"
          "Cortex-M4 at 64 MHz)", NULL },
        { "--joules-per-instruction", TL_OPT_DOUBLE, &link.joules_per_instruction, 0, 1, "J",
          "the device's energy an instruction (default 0.3e-9)", NULL },
        { "--joules-per-bit", TL_OPT_DOUBLE, &link.joules_per_bit, 0, 1, "J", "its radio's energy a bit sent (default\n"
          "100e-9)", NULL },
        { "--objective", TL_OPT_CHOICE, &objective, 0, 0, "latency|energy", "what the chosen cut minimises: the\n"
          "answer's latency (default) or the device's energy", NULL },
        { "--m4-runner", TL_OPT_TEXT, &runner, 0, 0, "ELF", "Cortex-M4 runner image that measures each operator (default:\n"
          "firmware/fw_runner.elf beside this program)", NULL },
        { "--edge-runs", TL_OPT_U32, &runs, 1, 100000, "N", "runs the edge's per-operator time is averaged over\n"
          "(default 20)", NULL },
        { "--json", TL_OPT_TEXT, &json, 0, 0, "FILE", "also write the cuts as JSON (cuts, chosen)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "split",
        "usage: tinylarge split MODEL.tlm --rate BPS --rtt MS --ips N [--joules-per-instruction J]\n"
        "                       [--joules-per-bit J] [--objective latency|energy] [--m4-runner ELF]\n"
        "                       [--edge-runs N] [--json FILE]\n\n"
        "Where to cut a device model between the device and the edge (Neurosurgeon's\n"
        "way): for each cut, the first K operators on the device (their Cortex-M4\n"
        "instructions measured under QEMU, at --ips), the activations crossing the cut\n"
        "on the uplink (--rate, plus --rtt), the rest on the edge (measured on this\n"
        "host's runtime), and the device's energy. K = 0 runs all on the edge, K = the\n"
        "operator count all on the device. Prints each cut and the one of least latency\n"
        "(or, with --objective energy, of least device energy).",
        options, &path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!path || !(link.rate_bps > 0) || rtt_ms < 0 || !(link.ips > 0)) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("split", "need MODEL.tlm, --rate, --rtt and --ips");
    }
    link.rtt_s = rtt_ms / 1000.0;
    uint8_t *buf = NULL;
    tl_model m;
    if (tl_cli_load_model("split", path, &buf, &m)) {
        return 1;
    }
    const uint32_t ops = m.header->op_count;
    uint64_t *device = calloc(ops + 1, sizeof(uint64_t));
    double *edge = calloc(ops + 1, sizeof(double));
    tl_split_cut *cuts = calloc(ops + 1, sizeof(tl_split_cut));
    int rc = 0;
    if (!device || !edge || !cuts) {
        rc = tl_cli_fail("split", "out of memory");
        goto done;
    }
    char default_runner[4200];
    if (!runner) {
        runner = tl_cli_default_runner(default_runner, sizeof default_runner);
    }
    int64_t total = 0;
    const int measured = tl_cli_m4_available(runner) && tl_cli_m4_measure(runner, path, &total, device, ops) == 0;
    if (!measured) {
        for (uint32_t op = 0; op < ops; ++op) { /* without QEMU, said in the output */
            device[op] = tl_split_estimated_instructions(&m, op);
        }
    }
    if (edge_profile(&m, (int)runs, edge) != 0) {
        rc = tl_cli_fail("split", "%s: cannot run on this host's runtime", path);
        goto done;
    }
    uint32_t chosen = 0;
    if (tl_split_costs(&m, device, edge, &link, (tl_split_objective)objective, cuts, &chosen) != TL_OK) {
        rc = tl_cli_fail("split", "bad link");
        goto done;
    }
    printf("%s: %u operators; device: %s at %.0f instructions/s; uplink %.0f bit/s, round trip %.1f ms\n", path, ops,
           measured ? "Cortex-M4 instructions measured under QEMU" : "instructions estimated from MACs (no QEMU)",
           link.ips, link.rate_bps, rtt_ms);
    printf("%5s %-18s %12s %10s %8s %10s %9s %10s %10s\n", "K", "last on device", "device ins", "device ms", "bytes",
           "uplink ms", "edge ms", "total ms", "energy mJ");
    for (uint32_t k = 0; k <= ops; ++k) {
        const tl_split_cut *c = &cuts[k];
        printf("%5u %-18s %12llu %10.3f %8u %10.3f %9.3f %10.3f %10.4f%s\n", k,
               k ? tl_opcode_name(m.ops[k - 1].opcode) : "(none: all on edge)",
               (unsigned long long)c->device_instructions, 1e3 * c->device_s, c->bytes, 1e3 * c->uplink_s,
               1e3 * c->edge_s, 1e3 * c->total_s, 1e3 * c->energy_j, k == chosen ? "  <- chosen" : "");
    }
    printf("chosen: K = %u (%s), %.3f ms, %.4f mJ (least %s)\n", chosen,
           chosen == 0 ? "all on the edge" : chosen == ops ? "all on the device" : "split", 1e3 * cuts[chosen].total_s,
           1e3 * cuts[chosen].energy_j, objective == TL_SPLIT_ENERGY ? "energy" : "latency");
    if (json && write_json(json, path, &link, cuts, ops + 1, chosen, measured, objective) != 0) {
        rc = tl_cli_fail("split", "%s: cannot write", json);
    }
done:
    free(device);
    free(edge);
    free(cuts);
    free(buf);
    return rc;
}
