/* output.c - the simulator's JSON: the scenario as run, the results (a pure
 * function of scenario and seed: integers and ratios of them) and the
 * timing (wall clock: differs from run to run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"
#include "tinylarge/host.h"

static const char *strategy_names[] = { "adaptive", "full", "cloud", "device", "split" };
static const char *policy_names[] = { "lru", "lfu", "popularity" };

const char *tl_sim_strategy_name(tl_sim_strategy strategy)
{
    return (unsigned)strategy < sizeof strategy_names / sizeof strategy_names[0] ? strategy_names[strategy] : "?";
}

const char *sim_policy_name(int policy)
{
    return policy_names[policy % 3];
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_string(FILE *f, const char *text)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void json_array(FILE *f, const char *name, const uint64_t *v, int n, int last)
{
    fprintf(f, "    \"%s\": [", name);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)v[i]);
    }
    fprintf(f, "]%s\n", last ? "" : ",");
}

tl_status tl_sim_write_json(const char *path, const tl_sim_config *config, const tl_sim_results *r,
                            const tl_sim_timing *timing, char *error, size_t error_size)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) {
        return tl_fail(error, error_size, TL_ERR_NOMEM, "%s: out of memory", path);
    }
    fprintf(f, "{\n  \"scenario\": {\n");
    fprintf(f, "    \"name\": ");
    json_string(f, config->name);
    fprintf(f, ", \"file\": ");
    json_string(f, config->path);
    fprintf(f, ", \"seed\": %llu, \"devices\": %u, \"duration_s\": %.17g,\n", (unsigned long long)config->seed,
            config->devices, config->duration_s);
    fprintf(f, "    \"cells\": %d, \"strategy\": \"%s\", \"policy\": \"%s\", \"broadcast\": %d, \"pipeline\": %d,\n",
            r->cells, tl_sim_strategy_name(config->strategy), sim_policy_name(config->policy), config->broadcast,
            config->pipeline);
    fprintf(f, "    \"bandwidth_mhz\": %.17g, \"scheduler\": \"%s\", \"path_loss\": \"%s\", \"burst\": %d\n  },\n",
            config->bandwidth_mhz, config->proportional_fair ? "proportional-fair" : "round-robin",
            config->umi ? "umi" : "uma", config->burst);
    fprintf(f, "  \"results\": {\n");
    fprintf(f, "    \"requests\": %llu, \"deadline_met\": %llu, \"correct\": %llu, \"failed\": %llu,\n",
            (unsigned long long)r->requests, (unsigned long long)r->met, (unsigned long long)r->correct,
            (unsigned long long)r->failed);
    fprintf(f, "    \"deadline_hit_rate\": %.6f, \"accuracy\": %.6f,\n", sim_ratio(r->met, r->requests),
            sim_ratio(r->correct, r->requests));
    fprintf(f, "    \"latency_p50_s\": %.6g, \"latency_p95_s\": %.6g, \"latency_p99_s\": %.6g, \"latency_max_us\": %llu,\n",
            tl_sim_latency_percentile(r, 0.5), tl_sim_latency_percentile(r, 0.95), tl_sim_latency_percentile(r, 0.99),
            (unsigned long long)r->latency_max_us);
    fprintf(f, "    \"downloads\": %llu, \"plans_none\": %llu, \"handovers\": %llu, \"backhaul_bytes\": %llu,\n",
            (unsigned long long)r->downloads, (unsigned long long)r->plans_none, (unsigned long long)r->handovers,
            (unsigned long long)r->backhaul_bytes);
    fprintf(f, "    \"download_requests\": %llu, \"download_deadline_met\": %llu, \"download_latency_p50_s\": %.6g, "
               "\"download_latency_p95_s\": %.6g, \"download_latency_mean_s\": %.6g, \"latency_mean_s\": %.6g,\n",
            (unsigned long long)r->download_requests, (unsigned long long)r->download_met,
            sim_percentile(r->download_latency, r->download_requests, 0.5),
            sim_percentile(r->download_latency, r->download_requests, 0.95),
            sim_ratio(r->download_latency_sum_us, r->download_requests) / 1e6, sim_ratio(r->latency_sum_us, r->requests) / 1e6);
    fprintf(f, "    \"federated\": {\"rounds\": %llu, \"selected\": %llu, \"received\": %llu, \"late\": %llu, "
               "\"bytes_up\": %llu, \"failed\": %llu, \"cosine_mean\": %.6f},\n",
            (unsigned long long)r->fl_rounds, (unsigned long long)r->fl_selected, (unsigned long long)r->fl_received,
            (unsigned long long)r->fl_late, (unsigned long long)r->fl_bytes_up, (unsigned long long)r->fl_failed,
            r->fl_rounds > r->fl_failed ? (double)r->fl_cosine_micro / 1e6 / (double)(r->fl_rounds - r->fl_failed) : 0.0);
    fprintf(f, "    \"split\": {\"requests\": %llu, \"ops_on_device_mean\": %.4f, \"bytes_up\": %llu},\n",
            (unsigned long long)r->split_requests, sim_ratio(r->split_ops_on_device, r->split_requests),
            (unsigned long long)r->split_bytes_up);
    fprintf(f, "    \"offloaded\": %llu, \"runtime_inferences\": %llu,\n", (unsigned long long)r->offloaded,
            (unsigned long long)r->runtime_inferences);
    fprintf(f, "    \"air_bytes_down\": %llu, \"air_bytes_up\": %llu, \"broadcasts\": %llu, \"broadcast_members\": %llu,\n",
            (unsigned long long)r->air_bytes_down, (unsigned long long)r->air_bytes_up,
            (unsigned long long)r->broadcasts, (unsigned long long)r->broadcast_members);
    static const char *tiers[TL_SIM_TIERS] = { "edge", "region", "central" };
    fprintf(f, "    \"library\": {");
    for (int t = 0; t < TL_SIM_TIERS; t++) {
        fprintf(f, "%s\"%s\": {\"lookups\": %llu, \"hits\": %llu, \"hit_rate\": %.6f}", t ? ", " : "", tiers[t],
                (unsigned long long)r->tier_lookups[t], (unsigned long long)r->tier_hits[t],
                sim_ratio(r->tier_hits[t], r->tier_lookups[t]));
    }
    fprintf(f, "},\n    \"classes\": {\n");
    for (int c = 0; c < config->class_count; c++) {
        const tl_sim_class_results *k = &r->classes[c];
        fprintf(f, "      ");
        json_string(f, config->classes[c].name);
        fprintf(f,
                ": {\"devices\": %llu, \"requests\": %llu, \"deadline_met\": %llu, \"correct\": %llu, "
                "\"downloads\": %llu, \"bytes_down\": %llu, \"bytes_up\": %llu, \"energy_uj\": %llu, "
                "\"model_bytes\": %llu}%s\n",
                (unsigned long long)k->devices, (unsigned long long)k->requests,
                (unsigned long long)k->met, (unsigned long long)k->correct, (unsigned long long)k->downloads,
                (unsigned long long)k->bytes_down, (unsigned long long)k->bytes_up, (unsigned long long)k->energy_uj,
                (unsigned long long)k->model_bytes, c + 1 < config->class_count ? "," : "");
    }
    fprintf(f, "    },\n");
    json_array(f, "latency_histogram", r->latency, TL_SIM_LATENCY_BINS, 0);
    json_array(f, "time_requests", r->time_requests, TL_SIM_TIME_BINS, 0);
    json_array(f, "time_met", r->time_met, TL_SIM_TIME_BINS, 0);
    json_array(f, "time_correct", r->time_correct, TL_SIM_TIME_BINS, 0);
    json_array(f, "cell_requests", r->cell_requests, r->cells, 0);
    json_array(f, "cell_met", r->cell_met, r->cells, 1);
    fprintf(f, "  },\n  \"timing\": {\n");
    fprintf(f, "    \"events\": %llu, \"wall_s\": %.3f, \"setup_s\": %.3f, \"events_per_second\": %.0f, \"ranks\": %d, "
               "\"bytes_per_device\": %.0f\n  }\n}\n",
            (unsigned long long)timing->events, timing->wall_s, timing->setup_s, timing->events_per_second,
            timing->ranks, timing->bytes_per_device);
    if (fclose(f) != 0) {
        free(text);
        return tl_fail(error, error_size, TL_ERR_NOMEM, "%s: out of memory", path);
    }
    const tl_status s = tl_write_file_atomic(path, text, size);
    free(text);
    if (s != TL_OK) {
        return tl_fail(error, error_size, s, "%s: cannot write", path);
    }
    return TL_OK;
}
