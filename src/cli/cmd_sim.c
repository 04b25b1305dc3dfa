/* cmd_sim.c - `tinylarge sim SCENARIO.ini`: the 6G network simulator
 * (src/sim, docs/sim.md). Under mpirun the cells are sharded over the ranks;
 * rank 0 prints and writes the outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/large.h"
#include "tinylarge/sim.h"

static void print_summary(const tl_sim_config *c, const tl_sim_results *r, const tl_sim_timing *t)
{
    printf("scenario %s: %u devices, %d cells, %.0f s simulated, seed %llu, strategy %s\n", c->name, c->devices,
           r->cells, c->duration_s, (unsigned long long)c->seed, tl_sim_strategy_name(c->strategy));
    const double n = r->requests ? (double)r->requests : 1;
    printf("requests %llu: deadline met %.2f%%, accurate %.2f%%, latency p50 %.4g s, p95 %.4g s, p99 %.4g s\n",
           (unsigned long long)r->requests, 100.0 * (double)r->met / n, 100.0 * (double)r->correct / n,
           tl_sim_latency_percentile(r, 0.5), tl_sim_latency_percentile(r, 0.95), tl_sim_latency_percentile(r, 0.99));
    printf("downloads %llu (%.1f MB over the air), handovers %llu, library hits: edge %.1f%%, region %.1f%%\n",
           (unsigned long long)r->downloads, (double)r->air_bytes_down / 1e6, (unsigned long long)r->handovers,
           r->tier_lookups[0] ? 100.0 * (double)r->tier_hits[0] / (double)r->tier_lookups[0] : 0,
           r->tier_lookups[1] ? 100.0 * (double)r->tier_hits[1] / (double)r->tier_lookups[1] : 0);
    if (c->cascade_threshold > 0) {
        printf("cascade: %llu answers from the edge instead (%.2f%%), margin below %.3g\n",
               (unsigned long long)r->offloaded, 100.0 * (double)r->offloaded / n, c->cascade_threshold);
    }
    if (c->fl_enabled) {
        const uint64_t scored = r->fl_rounds - r->fl_failed;
        printf("federated: %llu rounds, %llu devices asked, %llu updates in time, %llu late, %.1f MB up; %s of what "
               "arrived: cosine %.4f to the honest direction\n",
               (unsigned long long)r->fl_rounds, (unsigned long long)r->fl_selected, (unsigned long long)r->fl_received,
               (unsigned long long)r->fl_late, (double)r->fl_bytes_up / 1e6, c->fl_rule,
               scored ? (double)r->fl_cosine_micro / 1e6 / (double)scored : 0.0);
    }
    if (c->strategy == TL_SIM_SPLIT) {
        printf("split: %llu requests cut with the edge (a mean %.2f operators on the device), %.1f MB up\n",
               (unsigned long long)r->split_requests,
               r->split_requests ? (double)r->split_ops_on_device / (double)r->split_requests : 0.0,
               (double)r->split_bytes_up / 1e6);
    }
    if (c->fidelity_full) {
        printf("fidelity full: the device runtime computed %llu answers (every %u-th device)\n",
               (unsigned long long)r->runtime_inferences, c->full_every);
    }
    printf("%-10s %9s %10s %8s %8s %10s %12s\n", "class", "devices", "requests", "met %", "acc %", "MB down", "J/device");
    for (int i = 0; i < c->class_count; i++) {
        const tl_sim_class_results *k = &r->classes[i];
        const double q = k->requests ? (double)k->requests : 1, dv = k->devices ? (double)k->devices : 1;
        printf("%-10s %9llu %10llu %8.2f %8.2f %10.2f %12.4f\n", c->classes[i].name, (unsigned long long)k->devices,
               (unsigned long long)k->requests, 100.0 * (double)k->met / q, 100.0 * (double)k->correct / q,
               (double)k->bytes_down / 1e6, (double)k->energy_uj / 1e6 / dv);
    }
    printf("%llu events in %.2f s (%.2f M events/s per rank, %d rank%s, %.0f bytes per device)\n",
           (unsigned long long)t->events, t->wall_s, t->events_per_second / 1e6, t->ranks, t->ranks > 1 ? "s" : "",
           t->bytes_per_device);
}

int tl_cmd_sim(int argc, char **argv)
{
    const char *scenario = NULL, *json = NULL, *report = NULL;
    double devices = 0, seed = -1, duration = 0;
    int quiet = 0, strategy = -1;
    tl_opt_list sets = { { 0 }, 0 };
    const tl_opt options[] = {
        { "--devices", TL_OPT_QUANTITY, &devices, 1, 4e9, "N", "devices (K, M allowed), instead of the scenario's", NULL },
        { "--seed", TL_OPT_DOUBLE, &seed, 0, 1.8e19, "S", "the random seed, instead of the scenario's", NULL },
        { "--duration", TL_OPT_DOUBLE, &duration, 0, 3.2e7, "SECONDS", "virtual time to simulate", NULL },
        { "--strategy", TL_OPT_CHOICE, &strategy, 0, 0, TL_SIM_STRATEGIES, "where inferences run", NULL },
        { "--set", TL_OPT_LIST, &sets, 0, 0, "SECTION.KEY=VALUE", "any scenario key (repeat the option)", NULL },
        { "--json", TL_OPT_TEXT, &json, 0, 0, "FILE", "write scenario, results and timing as JSON", NULL },
        { "--report", TL_OPT_TEXT, &report, 0, 0, "DIR", "write DIR/index.html: plots (gnuplot SVG) and tables", NULL },
        { "--quiet", TL_OPT_FLAG, &quiet, 0, 0, NULL, "no progress bar", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "sim",
        "usage: tinylarge sim SCENARIO.ini [options]\n"
        "       mpirun -n R tinylarge sim SCENARIO.ini [options]\n\n"
        "Simulates a city of devices on 6G cells in virtual time: radio (3GPP TR 38.901),\n"
        "mobility, context changes over the day, edge servers, the three-tier model\n"
        "library, and the project's planner deciding what each device downloads.\n"
        "The same scenario and seed give the same results on any number of ranks.\n"
        "Scenarios: sim/*.ini (sim/city.ini is the reference); keys: docs/sim.md.",
        options, &scenario, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!scenario) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("sim", "need a scenario file (sim/city.ini is the reference one)");
    }
    int rank, size;
    tl_mpi_world(&rank, &size);
    tl_sim_config *config = malloc(sizeof *config);
    if (!config) {
        return tl_cli_fail("sim", "out of memory");
    }
    tl_sim_config_defaults(config);
    char error[1024];
    if (tl_sim_config_load(config, scenario, error, sizeof error) != TL_OK) {
        free(config);
        return tl_cli_fail("sim", "%s", error);
    }
    for (int i = 0; i < sets.count; i++) {
        if (tl_sim_config_set(config, sets.item[i], error, sizeof error) != TL_OK) {
            free(config);
            return tl_cli_fail("sim", "%s", error);
        }
    }
    if (devices > 0) {
        config->devices = (uint32_t)devices;
    }
    if (seed >= 0) {
        config->seed = (uint64_t)seed;
    }
    if (duration > 0) {
        config->duration_s = duration;
    }
    if (strategy >= 0) {
        config->strategy = (tl_sim_strategy)strategy;
    }
    config->progress = !quiet;
    if (tl_sim_config_finish(config, error, sizeof error) != TL_OK) {
        free(config);
        return tl_cli_fail("sim", "%s: %s", scenario, error);
    }
    tl_sim_results results;
    tl_sim_timing timing;
    if (tl_sim_run(config, &results, &timing, error, sizeof error) != TL_OK) {
        tl_sim_results_free(&results);
        free(config);
        return tl_cli_fail("sim", "%s", error);
    }
    int status = 0;
    if (rank == 0) {
        print_summary(config, &results, &timing);
        if (json && tl_sim_write_json(json, config, &results, &timing, error, sizeof error) != TL_OK) {
            status = tl_cli_fail("sim", "%s", error);
        }
        if (status == 0 && report) {
            if (tl_sim_write_report(report, config, &results, &timing, error, sizeof error) != TL_OK) {
                status = tl_cli_fail("sim", "%s", error);
            } else {
                printf("report: %s/index.html\n", report);
            }
        }
    }
    tl_sim_results_free(&results);
    free(config);
    return status;
}
