/* cmd_plan.c - `tinylarge plan CATALOGUE.csv ...`: which variant a device
 * with this profile, on this channel, should download now. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/edge.h"

int tl_cmd_plan(int argc, char **argv)
{
    const char *path = NULL, *db = NULL, *name = NULL;
    tl_device_profile d;
    memset(&d, 0, sizeof d);
    tl_channel c = { 0, 0, 0.5, 0, 0.05, 1024 };
    tl_profile_args profile;
    memset(&profile, 0, sizeof profile);
    double block = 1024;
    tl_opt device[TL_PROFILE_OPTIONS];
    tl_opt_profile_group(device, &profile);
    const tl_opt options[] = {
        { "--db", TL_OPT_TEXT, &db, 0, 0, "LIB", "plan from the library (with --name) instead of a catalogue file", NULL },
        { "--name", TL_OPT_TEXT, &name, 0, 0, "NAME", "the model in the library", NULL },
        { "", TL_OPT_GROUP, NULL, 0, 0, NULL, NULL, device },
        { "--bandwidth", TL_OPT_QUANTITY, &c.bandwidth_hz, 0, 0, "HZ", "channel bandwidth (with --snr-db)", NULL },
        { "--snr-db", TL_OPT_DOUBLE, &c.snr_db, -1000, 1000, "DB", "signal-to-noise ratio", NULL },
        { "--efficiency", TL_OPT_DOUBLE, &c.efficiency, 0, 1, "X", "share of the Shannon rate achieved (default 0.5)", NULL },
        { "--rate", TL_OPT_QUANTITY, &c.measured_bps, 1, 1e12, "BIT/S", "a measured rate instead of bandwidth and SNR", NULL },
        { "--rtt", TL_OPT_DOUBLE, &c.rtt_s, 0, 0, "SECONDS", "round trip per block (default 0.05)", NULL },
        { "--block", TL_OPT_QUANTITY, &block, 16, 1048576, "BYTES", "block size (default 1024)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "plan",
        "usage: tinylarge plan (CATALOGUE.csv | --db LIB --name NAME) --flash BYTES --ram BYTES --mac-rate MAC/S\n"
        "                      (--bandwidth HZ --snr-db DB | --rate BIT/S) [options]\n\n"
        "Chooses the variant of a catalogue (from `tinylarge compress`) with the\n"
        "highest accuracy that fits the device's flash and RAM, whose download plus\n"
        "first inference meet the deadline, and whose inference fits the energy\n"
        "budget; or says precisely why none fits. Quantities take K, M, G suffixes.",
        options, &path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    tl_profile_args_apply(&profile, &d);
    c.block_bytes = (uint32_t)block;
    const double deadline = profile.deadline;
    if ((!path && !(db && name)) || !(profile.flash > 0) || !(profile.ram > 0) || !(d.macs_per_second > 0) ||
        !(c.bandwidth_hz > 0 || c.measured_bps > 0)) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("plan", "need a catalogue, --flash, --ram, --mac-rate and a channel");
    }
    tl_variant v[TL_CATALOGUE_MAX_VARIANTS];
    int count;
    char error[512];
    if (path) {
        if (tl_catalogue_read(path, v, TL_CATALOGUE_MAX_VARIANTS, &count, error, sizeof error) != TL_OK) {
            return tl_cli_fail("plan", "%s", error);
        }
    } else {
        tl_library *lib;
        int version;
        if (tl_library_open(db, &lib, error, sizeof error) != TL_OK) {
            return tl_cli_fail("plan", "%s", error);
        }
        const tl_status s = tl_library_variants(lib, name, v, TL_CATALOGUE_MAX_VARIANTS, &count, &version, error, sizeof error);
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
