/* cmd_plan.c - `tinylarge plan CATALOGUE.csv ...`: which variant a device
 * with this profile, on this channel, should download now. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tinylarge/edge.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: tinylarge plan (CATALOGUE.csv | --library DB --name NAME) --flash BYTES --ram BYTES --mac-rate MAC/S\n"
                 "                      (--bandwidth HZ --snr-db DB | --rate BIT/S) [options]\n\n"
                 "Chooses the variant of a catalogue (from `tinylarge compress`) with the\n"
                 "highest accuracy that fits the device's flash and RAM, whose download plus\n"
                 "first inference meet the deadline, and whose inference fits the energy\n"
                 "budget; or says precisely why none fits. Quantities take K, M, G suffixes.\n\n"
                 "  --flash BYTES           room for the model\n"
                 "  --ram BYTES             room for the arena\n"
                 "  --mac-rate N            sustained MACs per second\n"
                 "  --ips N                 instructions per second (a Cortex-M4 at f Hz: about f):\n"
                 "                          time each variant by its measured M4 instructions\n"
                 "                          (when the catalogue has them all) instead of its MACs\n"
                 "  --densify               the device makes pruned and int4 variants dense int8\n"
                 "                          when that fits the flash (device --densify): time\n"
                 "                          those by their dense form's instructions\n"
                 "  --bandwidth HZ          channel bandwidth (with --snr-db)\n"
                 "  --snr-db DB             signal-to-noise ratio\n"
                 "  --efficiency X          share of the Shannon rate achieved (default 0.5)\n"
                 "  --rate BIT/S            a measured rate instead of bandwidth and SNR\n"
                 "  --rtt SECONDS           round trip per block (default 0.05)\n"
                 "  --block BYTES           block size (default 1024)\n"
                 "  --deadline SECONDS      download + first inference (default: none)\n"
                 "  --energy-per-mac J      energy of one MAC (with --energy-budget)\n"
                 "  --energy-budget J       energy allowed per inference\n");
}

int tl_cmd_plan(int argc, char **argv)
{
    const char *path = NULL, *db = NULL, *name = NULL;
    tl_device_profile d;
    memset(&d, 0, sizeof d);
    tl_channel c = { 0, 0, 0.5, 0, 0.05, 1024 };
    double deadline = 0, value;
    int have_flash = 0, have_ram = 0, have_rate = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (path) {
                return tl_cli_fail("plan", "unexpected argument '%s'", a);
            }
            path = a;
            continue;
        }
        if (!strcmp(a, "--densify")) {
            d.densify = 1;
            continue;
        }
        if ((!strcmp(a, "--library") || !strcmp(a, "--name")) && i + 1 < argc) {
            *(!strcmp(a, "--library") ? &db : &name) = argv[++i];
            continue;
        }
        if (i + 1 >= argc || tl_cli_quantity(argv[i + 1], &value) != 0) {
            usage(stderr);
            return tl_cli_fail("plan", "%s needs a non-negative number (K/M/G allowed)", a);
        }
        ++i;
        if (!strcmp(a, "--flash")) { d.flash_bytes = (uint64_t)value; have_flash = 1; }
        else if (!strcmp(a, "--ram")) { d.ram_bytes = (uint64_t)value; have_ram = 1; }
        else if (!strcmp(a, "--mac-rate")) d.macs_per_second = value;
        else if (!strcmp(a, "--ips")) d.instructions_per_second = value;
        else if (!strcmp(a, "--bandwidth")) { c.bandwidth_hz = value; have_rate = 1; }
        else if (!strcmp(a, "--snr-db")) c.snr_db = value;
        else if (!strcmp(a, "--efficiency")) c.efficiency = value;
        else if (!strcmp(a, "--rate")) { c.measured_bps = value; have_rate = 1; }
        else if (!strcmp(a, "--rtt")) c.rtt_s = value;
        else if (!strcmp(a, "--block")) c.block_bytes = (uint32_t)value;
        else if (!strcmp(a, "--deadline")) deadline = value;
        else if (!strcmp(a, "--energy-per-mac")) d.joules_per_mac = value;
        else if (!strcmp(a, "--energy-budget")) d.energy_budget_j = value;
        else {
            usage(stderr);
            return tl_cli_fail("plan", "unknown option '%s'", a);
        }
    }
    if ((!path && !(db && name)) || !have_flash || !have_ram || !(d.macs_per_second > 0) || !have_rate) {
        usage(stderr);
        return tl_cli_fail("plan", "need a catalogue, --flash, --ram, --mac-rate and a channel");
    }
    tl_variant v[256];
    int count;
    char error[512];
    if (path) {
        if (tl_catalogue_read_csv(path, v, 256, &count, error, sizeof error) != TL_OK) {
            return tl_cli_fail("plan", "%s", error);
        }
    } else {
        tl_library *lib;
        int version;
        if (tl_library_open(db, &lib, error, sizeof error) != TL_OK) {
            return tl_cli_fail("plan", "%s", error);
        }
        const tl_status s = tl_library_variants(lib, name, v, 256, &count, &version, error, sizeof error);
        tl_library_close(lib);
        if (s != TL_OK) {
            return tl_cli_fail("plan", "%s", error);
        }
    }
    tl_plan p;
    printf("channel: %.0f bit/s; %d variants\n", tl_channel_rate(&c), count);
    if (tl_plan_choose(v, count, &d, &c, deadline, &p) != TL_OK) {
        return tl_cli_fail("plan", "%s", p.reason);
    }
    printf("chosen %s\n", p.reason);
    return 0;
}
