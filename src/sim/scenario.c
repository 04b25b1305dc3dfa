/* scenario.c - the simulator's scenario: built-in defaults, INI files read
 * with libinih, `section.key=value` overrides, and the checks and
 * catalogue loading that make a scenario runnable. One table of keys serves
 * the file, the overrides and docs/sim.md. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"
#include "tinylarge/federated.h"

typedef enum key_kind { K_DOUBLE, K_INT, K_U64, K_U32, K_TEXT, K_CHOICE, K_LIST } key_kind;

typedef struct key_spec {
    const char *key;
    key_kind kind;
    size_t offset;
    double scale;               /* value x scale is stored (ms -> s, MB -> bytes) */
    double min, max;
    const char *choices;        /* K_CHOICE: "a|b|c"; K_TEXT: capacity as text */
} key_spec;

#define C(field) offsetof(tl_sim_config, field)
static const key_spec scenario_keys[] = {
    { "name", K_TEXT, C(name), 64, 0, 0, NULL },
    { "seed", K_U64, C(seed), 1, 0, 1.8e19, NULL },
    { "devices", K_U32, C(devices), 1, 1, 4e9, NULL },
    { "duration_s", K_DOUBLE, C(duration_s), 1, 1e-3, 3.2e7, NULL },
    { "start_hour", K_DOUBLE, C(start_hour), 1, 0, 24, NULL },
    { "fidelity", K_CHOICE, C(fidelity_full), 1, 0, 0, "fast|full" },
    { "full_every", K_U32, C(full_every), 1, 1, 4e9, NULL },
    { "data", K_TEXT, C(data_dir), 512, 0, 0, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
static const key_spec radio_keys[] = {
    { "rings", K_INT, C(rings), 1, 0, 40, NULL },
    { "inter_site_m", K_DOUBLE, C(inter_site_m), 1, 20, 1e5, NULL },
    { "model", K_CHOICE, C(umi), 1, 0, 0, "uma|umi" },
    { "carrier_ghz", K_DOUBLE, C(carrier_ghz), 1, 0.5, 100, NULL },
    { "bandwidth_mhz", K_DOUBLE, C(bandwidth_mhz), 1, 0.18, 1e8, NULL },
    { "numerology", K_INT, C(numerology), 1, 0, 6, NULL },
    { "overhead", K_DOUBLE, C(overhead), 1, 0, 0.9, NULL },
    { "dl_share", K_DOUBLE, C(dl_share), 1, 0.1, 0.9, NULL },
    { "bs_tx_dbm", K_DOUBLE, C(bs_tx_dbm), 1, -50, 80, NULL },
    { "power_scales", K_INT, C(power_scales), 1, 0, 1, NULL },
    { "noise_figure_db", K_DOUBLE, C(noise_figure_db), 1, 0, 30, NULL },
    { "bs_noise_figure_db", K_DOUBLE, C(bs_noise_figure_db), 1, 0, 30, NULL },
    { "interference_load", K_DOUBLE, C(interference_load), 1, 0, 1, NULL },
    { "shadowing", K_INT, C(shadowing), 1, 0, 1, NULL },
    { "fading", K_INT, C(fading), 1, 0, 1, NULL },
    { "scheduler", K_CHOICE, C(proportional_fair), 1, 0, 0, "round-robin|proportional-fair" },
    { "rate", K_CHOICE, C(shannon), 1, 0, 0, "cqi|shannon" },
    { "shannon_gap_db", K_DOUBLE, C(shannon_gap_db), 1, 0, 20, NULL },
    { "air_latency_ms", K_DOUBLE, C(air_latency_s), 1e-3, 0, 1e4, NULL },
    { "handover_s", K_DOUBLE, C(handover_s), 1, 0.1, 3600, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
static const key_spec edge_keys[] = {
    { "cells_per_edge", K_INT, C(cells_per_edge), 1, 1, 1e6, NULL },
    { "cells_per_region", K_INT, C(cells_per_region), 1, 1, 1e6, NULL },
    { "macs_per_second", K_DOUBLE, C(edge_macs_per_second), 1, 1e3, 1e18, NULL },
    { "edge_region_ms", K_DOUBLE, C(edge_region_s), 1e-3, 0, 1e6, NULL },
    { "region_central_ms", K_DOUBLE, C(region_central_s), 1e-3, 0, 1e6, NULL },
    { "backhaul_mbps", K_DOUBLE, C(backhaul_bps), 1e6, 1e-3, 1e9, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
static const key_spec library_keys[] = {
    { "edge_cache_mb", K_DOUBLE, C(edge_cache_bytes), 1e6, 0, 1e9, NULL },
    { "region_cache_mb", K_DOUBLE, C(region_cache_bytes), 1e6, 0, 1e9, NULL },
    { "policy", K_CHOICE, C(policy), 1, 0, 0, "lru|lfu|popularity" },
    { "zipf", K_DOUBLE, C(zipf), 1, 0, 5, NULL },
    { "update_interval_s", K_DOUBLE, C(update_interval_s), 1, 0, 1e9, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
static const key_spec strategy_keys[] = {
    { "mode", K_CHOICE, C(strategy), 1, 0, 0, TL_SIM_STRATEGIES },
    { "broadcast", K_INT, C(broadcast), 1, 0, 1, NULL },
    { "broadcast_wait_ms", K_DOUBLE, C(broadcast_wait_s), 1e-3, 0, 1e7, NULL },
    { "broadcast_min_sinr_db", K_DOUBLE, C(broadcast_min_sinr_db), 1, -100, 100, NULL },
    { "pipeline", K_INT, C(pipeline), 1, 0, 1, NULL },
    { "cloud_fallback", K_INT, C(cloud_fallback), 1, 0, 1, NULL },
    { "block_rtt_ms", K_DOUBLE, C(block_rtt_s), 1e-3, 0, 1e6, NULL },
    { "cascade_threshold", K_DOUBLE, C(cascade_threshold), 1, 0, 1, NULL },
    { "cascade_images", K_U32, C(cascade_images), 1, 1, 1e6, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
static const key_spec federated_keys[] = {
    { "enabled", K_INT, C(fl_enabled), 1, 0, 1, NULL },
    { "round_s", K_DOUBLE, C(fl_round_s), 1, 1, 1e9, NULL },
    { "deadline_s", K_DOUBLE, C(fl_deadline_s), 1, 0.001, 1e9, NULL },
    { "clients", K_INT, C(fl_clients), 1, 1, 100000, NULL },
    { "selection", K_CHOICE, C(fl_aware), 1, 0, 0, "uniform|aware" },
    { "rule", K_TEXT, C(fl_rule), 32, 0, 0, NULL },
    { "compress", K_TEXT, C(fl_compress), 32, 0, 0, NULL },
    { "update_values", K_INT, C(fl_values), 1, 1, 1e8, NULL },
    { "attackers", K_DOUBLE, C(fl_attackers), 1, 0, 1, NULL },
    { "train_m4_instructions", K_DOUBLE, C(fl_train_instructions), 1, 0, 1e15, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
static const key_spec burst_keys[] = {
    { "enabled", K_INT, C(burst), 1, 0, 1, NULL },
    { "spread_ms", K_DOUBLE, C(burst_spread_s), 1e-3, 0, 1e7, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
#undef C

#define K(field) offsetof(tl_sim_class, field)
static const key_spec class_keys[] = {
    { "share", K_DOUBLE, K(share), 1, 0, 1e6, NULL },
    { "ram_kb", K_DOUBLE, K(ram_bytes), 1024, 0, 1e9, NULL },
    { "flash_kb", K_DOUBLE, K(flash_bytes), 1024, 0, 1e9, NULL },
    { "mips", K_DOUBLE, K(instructions_per_second), 1e6, 1e-3, 1e9, NULL },
    { "m4_instruction_factor", K_DOUBLE, K(m4_instruction_factor), 1, 1e-3, 1e3, NULL },
    { "mmacs", K_DOUBLE, K(macs_per_second), 1e6, 1e-3, 1e9, NULL },
    { "nj_per_instruction", K_DOUBLE, K(joules_per_instruction), 1e-9, 0, 1e6, NULL },
    { "tx_dbm", K_DOUBLE, K(tx_dbm), 1, -40, 40, NULL },
    { "rx_mw", K_DOUBLE, K(rx_watts), 1e-3, 0, 1e6, NULL },
    { "tx_mw", K_DOUBLE, K(tx_watts), 1e-3, 0, 1e6, NULL },
    { "wake_ms", K_DOUBLE, K(wake_s), 1e-3, 0, 1e6, NULL },
    { "mobility", K_CHOICE, K(mobility), 1, 0, 0, "static|waypoint|grid" },
    { "speed_min", K_DOUBLE, K(speed_min), 1, 0, 100, NULL },
    { "speed_max", K_DOUBLE, K(speed_max), 1, 0, 100, NULL },
    { "pause_max_s", K_DOUBLE, K(pause_max_s), 1, 0, 1e6, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
#undef K
#define A(field) offsetof(tl_sim_app, field)
static const key_spec app_keys[] = {
    { "catalogue", K_TEXT, A(catalogue), 256, 0, 0, NULL },
    { "day_share", K_DOUBLE, A(share), 1, 0, 1e6, NULL },
    { "night_share", K_DOUBLE, A(night_share), 1, 0, 1e6, NULL },
    { "deadline_ms", K_DOUBLE, A(deadline_s), 1e-3, 1e-3, 1e9, NULL },
    { "interval_s", K_DOUBLE, A(interval_s), 1, 1e-3, 1e9, NULL },
    { "input_bytes", K_DOUBLE, A(input_bytes), 1, 0, 1e9, NULL },
    { "result_bytes", K_DOUBLE, A(result_bytes), 1, 0, 1e9, NULL },
    { "shared_fraction", K_DOUBLE, A(shared_fraction), 1, 0, 1, NULL },
    { "layer_bytes", K_LIST, A(layer_bytes), 1, 0, 1, NULL },
    { "layer_compute", K_LIST, A(layer_compute), 1, 0, 1, NULL },
    { "flavours", K_INT, A(flavours), 1, 1, 1e6, NULL },
    { "model_kb", K_DOUBLE, A(model_bytes), 1000, 0, 1e9, NULL },
    { "edge_accuracy", K_DOUBLE, A(edge_accuracy), 1, 0, 1, NULL },
    { "edge_macs", K_DOUBLE, A(edge_macs), 1, 0, 1e15, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL },
};
#undef A

static tl_sim_class default_class(const char *name, double share, double ram_kb, double flash_kb, double mips,
                                  double factor, double mmacs, double nj, double tx_dbm, double rx_mw, double tx_mw,
                                  double wake_ms, tl_sim_mobility mobility, double vmin, double vmax, double pause)
{
    tl_sim_class c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.share = share;
    c.ram_bytes = ram_kb * 1024;
    c.flash_bytes = flash_kb * 1024;
    c.instructions_per_second = mips * 1e6;
    c.m4_instruction_factor = factor;
    c.macs_per_second = mmacs * 1e6;
    c.joules_per_instruction = nj * 1e-9;
    c.tx_dbm = tx_dbm;
    c.rx_watts = rx_mw * 1e-3;
    c.tx_watts = tx_mw * 1e-3;
    c.wake_s = wake_ms * 1e-3;
    c.mobility = mobility;
    c.speed_min = vmin;
    c.speed_max = vmax;
    c.pause_max_s = pause;
    return c;
}

void tl_sim_config_defaults(tl_sim_config *config)
{
    memset(config, 0, sizeof *config);
    snprintf(config->name, sizeof config->name, "default");
    config->seed = 1;
    config->devices = 10000;
    config->duration_s = 3600;
    config->start_hour = 6;
    config->rings = 3;
    config->inter_site_m = 500;
    config->carrier_ghz = 3.5;
    config->bandwidth_mhz = 100;
    config->numerology = 1;
    config->overhead = 0.14;
    config->dl_share = 0.75;
    config->bs_tx_dbm = 46;
    config->noise_figure_db = 9;
    config->bs_noise_figure_db = 5;
    config->interference_load = 0.5;
    config->shadowing = 1;
    config->fading = 1;
    config->proportional_fair = 1;
    config->shannon_gap_db = 3;
    config->air_latency_s = 0.004;
    config->handover_s = 10;
    config->cells_per_edge = 1;
    config->cells_per_region = 7;
    config->edge_macs_per_second = 2e11;
    config->edge_region_s = 0.005;
    config->region_central_s = 0.030;
    config->backhaul_bps = 1e9;
    config->edge_cache_bytes = 2e6;
    config->region_cache_bytes = 20e6;
    config->zipf = 0.8;
    config->update_interval_s = 0;
    config->broadcast_wait_s = 0.05;
    config->broadcast_min_sinr_db = -100;
    config->block_rtt_s = 0.002;
    config->burst_spread_s = 0;
    config->progress = 1;
    config->full_every = 100;
    config->cloud_fallback = 1;
    config->fl_round_s = 3600;
    config->fl_deadline_s = 60;
    config->fl_clients = 20;
    snprintf(config->fl_rule, sizeof config->fl_rule, "mean");
    snprintf(config->fl_compress, sizeof config->fl_compress, "none");
    config->fl_values = 650;
    config->fl_train_instructions = 16.2e6; /* 200 samples x 81 K (docs/benchmarks.md) */
    config->cascade_images = 1000;
    /* Figures and their sources: docs/sim.md. */
    config->classes[0] = default_class("m0plus", 0.25, 32, 256, 48, 2.5, 12, 0.23, 14, 40, 100, 200, TL_SIM_STATIC, 0, 0, 0);
    config->classes[1] = default_class("m4", 0.30, 192, 1024, 168, 1.0, 84, 0.79, 20, 60, 150, 200, TL_SIM_STATIC, 0, 0, 0);
    config->classes[2] = default_class("m7", 0.15, 1024, 2048, 480, 0.6, 400, 0.69, 23, 80, 200, 100, TL_SIM_GRID, 5, 15, 300);
    config->classes[3] = default_class("esp32", 0.15, 320, 4096, 240, 1.5, 120, 0.69, 20, 300, 600, 100, TL_SIM_WAYPOINT, 0.5, 2, 600);
    config->classes[4] = default_class("phone", 0.15, 4194304, 16777216, 20000, 0.1, 50000, 0.15, 23, 800, 1500, 50, TL_SIM_WAYPOINT, 0.5, 3, 900);
    config->class_count = 5;
    tl_sim_app *a = &config->apps[0];
    snprintf(a->name, sizeof a->name, "vision-tiny");
    snprintf(a->catalogue, sizeof a->catalogue, "student.csv");
    a->share = 0.7;
    a->night_share = 0.3;
    a->deadline_s = 0.25;
    a->interval_s = 60;
    a->input_bytes = 784;
    a->result_bytes = 16;
    a->shared_fraction = 0.8;
    a->flavours = 20;
    a = &config->apps[1];
    snprintf(a->name, sizeof a->name, "vision-large");
    snprintf(a->catalogue, sizeof a->catalogue, "teacher.csv");
    a->share = 0.3;
    a->night_share = 0.7;
    a->deadline_s = 1.0;
    a->interval_s = 120;
    a->input_bytes = 784;
    a->result_bytes = 16;
    a->shared_fraction = 0.8;
    a->flavours = 10;
    config->app_count = 2;
}

static int parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    const double v = strtod(text, &end);
    while (isspace((unsigned char)*end)) {
        end++;
    }
    if (end == text || *end || errno || !isfinite(v)) {
        return 0;
    }
    *out = v;
    return 1;
}

static tl_status set_key(const key_spec *spec, void *base, const char *section, const char *value, char *error,
                         size_t error_size)
{
    char *field = (char *)base + spec->offset;
    if (spec->kind == K_TEXT) {
        const size_t cap = (size_t)spec->scale;
        if (strlen(value) >= cap || !*value) {
            snprintf(error, error_size, "[%s] %s: \"%s\" is %s (at most %zu characters)", section, spec->key, value,
                     *value ? "too long" : "empty", cap - 1);
            return TL_ERR_ARG;
        }
        memcpy(field, value, strlen(value) + 1);
        return TL_OK;
    }
    if (spec->kind == K_CHOICE) {
        const char *c = spec->choices;
        for (int index = 0; c && *c; index++) {
            const char *bar = strchr(c, '|');
            const size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (strlen(value) == len && strncmp(value, c, len) == 0) {
                *(int *)field = index;
                return TL_OK;
            }
            c = bar ? bar + 1 : NULL;
        }
        snprintf(error, error_size, "[%s] %s: \"%s\" is not one of %s", section, spec->key, value, spec->choices);
        return TL_ERR_ARG;
    }
    if (spec->kind == K_LIST) {
        double *out = (double *)field;
        int n = 0;
        const char *p = value;
        while (*p) {
            char item[64];
            const char *comma = strchr(p, ',');
            const size_t len = comma ? (size_t)(comma - p) : strlen(p);
            double v;
            if (n == TL_SIM_MAX_LAYERS || len >= sizeof item) {
                snprintf(error, error_size, "[%s] %s: at most %d values", section, spec->key, TL_SIM_MAX_LAYERS);
                return TL_ERR_ARG;
            }
            memcpy(item, p, len);
            item[len] = 0;
            if (!parse_double(item, &v) || v < 0) {
                snprintf(error, error_size, "[%s] %s: \"%s\" is not a number >= 0", section, spec->key, item);
                return TL_ERR_ARG;
            }
            out[n++] = v;
            p = comma ? comma + 1 : p + len;
        }
        /* The count sits in the app: layers is set from the longer list. */
        tl_sim_app *app = (tl_sim_app *)base;
        if (n > app->layers) {
            app->layers = n;
        }
        return TL_OK;
    }
    double v;
    if (!parse_double(value, &v)) {
        snprintf(error, error_size, "[%s] %s: \"%s\" is not a number", section, spec->key, value);
        return TL_ERR_ARG;
    }
    if (v < spec->min || v > spec->max ||
        ((spec->kind == K_INT || spec->kind == K_U64 || spec->kind == K_U32) && v != floor(v))) {
        snprintf(error, error_size, "[%s] %s: %s is out of range (%s %g..%g)", section, spec->key, value,
                 spec->kind == K_DOUBLE ? "a number in" : "a whole number in", spec->min, spec->max);
        return TL_ERR_ARG;
    }
    switch (spec->kind) {
    case K_INT:
        *(int *)field = (int)v;
        break;
    case K_U64:
        *(uint64_t *)field = (uint64_t)v;
        break;
    case K_U32:
        *(uint32_t *)field = (uint32_t)v;
        break;
    default:
        *(double *)field = v * spec->scale;
        break;
    }
    return TL_OK;
}

static const key_spec *find_key(const key_spec *table, const char *key)
{
    for (; table->key; table++) {
        if (strcmp(table->key, key) == 0) {
            return table;
        }
    }
    return NULL;
}

/* The table and the struct a section's keys go to (a class or an app
 * section names its item, created if new). */
static tl_status section_target(tl_sim_config *config, const char *section, const key_spec **table, void **base,
                                char *error, size_t error_size)
{
    static const struct {
        const char *name;
        const key_spec *keys;
    } plain[] = { { "scenario", scenario_keys }, { "radio", radio_keys },       { "edge", edge_keys },
                  { "library", library_keys },   { "strategy", strategy_keys }, { "burst", burst_keys },
                  { "federated", federated_keys } };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (strcmp(section, plain[i].name) == 0) {
            *table = plain[i].keys;
            *base = config;
            return TL_OK;
        }
    }
    const int is_class = strncmp(section, "class.", 6) == 0, is_app = strncmp(section, "app.", 4) == 0;
    if (is_class || is_app) {
        const char *name = section + (is_class ? 6 : 4);
        if (!*name || strlen(name) >= 24) {
            snprintf(error, error_size, "[%s]: a name of 1 to 23 characters is needed", section);
            return TL_ERR_ARG;
        }
        if (is_class) {
            for (int i = 0; i < config->class_count; i++) {
                if (strcmp(config->classes[i].name, name) == 0) {
                    *table = class_keys;
                    *base = &config->classes[i];
                    return TL_OK;
                }
            }
            if (config->class_count == TL_SIM_MAX_CLASSES) {
                snprintf(error, error_size, "[%s]: at most %d device classes", section, TL_SIM_MAX_CLASSES);
                return TL_ERR_ARG;
            }
            tl_sim_class *c = &config->classes[config->class_count++];
            *c = default_class(name, 0, 64, 512, 64, 1, 16, 0.3, 20, 60, 150, 100, TL_SIM_STATIC, 0, 0, 0);
            *table = class_keys;
            *base = c;
            return TL_OK;
        }
        for (int i = 0; i < config->app_count; i++) {
            if (strcmp(config->apps[i].name, name) == 0) {
                *table = app_keys;
                *base = &config->apps[i];
                return TL_OK;
            }
        }
        if (config->app_count == TL_SIM_MAX_APPS) {
            snprintf(error, error_size, "[%s]: at most %d applications", section, TL_SIM_MAX_APPS);
            return TL_ERR_ARG;
        }
        tl_sim_app *a = &config->apps[config->app_count++];
        memset(a, 0, sizeof *a);
        snprintf(a->name, sizeof a->name, "%s", name);
        a->deadline_s = 0.1;
        a->interval_s = 60;
        a->input_bytes = 784;
        a->result_bytes = 16;
        a->flavours = 1;
        *table = app_keys;
        *base = a;
        return TL_OK;
    }
    snprintf(error, error_size,
             "[%s]: unknown section (scenario, radio, edge, library, strategy, federated, burst, class.NAME, app.NAME)",
             section);
    return TL_ERR_ARG;
}

static tl_status config_assign(tl_sim_config *config, const char *section, const char *key, const char *value,
                               char *error, size_t error_size)
{
    const key_spec *table;
    void *base;
    tl_status s = section_target(config, section, &table, &base, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    const key_spec *spec = find_key(table, key);
    if (!spec) {
        int n = snprintf(error, error_size, "[%s] %s: unknown key (", section, key);
        for (const key_spec *k = table; k->key && n > 0 && (size_t)n < error_size; k++) {
            n += snprintf(error + n, error_size - (size_t)n, "%s%s", k == table ? "" : ", ", k->key);
        }
        if (n > 0 && (size_t)n < error_size) {
            snprintf(error + n, error_size - (size_t)n, ")");
        }
        return TL_ERR_ARG;
    }
    return set_key(spec, base, section, value, error, error_size);
}

typedef struct ini_state {
    tl_sim_config *config;
    char message[512];
    int failed;
} ini_state;

static int scenario_line(void *user, const char *section, const char *key, const char *value)
{
    ini_state *st = user;
    if (st->failed) {
        return 1; /* the first error is the one reported */
    }
    if (config_assign(st->config, section, key, value, st->message, sizeof st->message) != TL_OK) {
        st->failed = 1;
        return 0;
    }
    return 1;
}

tl_status tl_sim_config_load(tl_sim_config *config, const char *path, char *error, size_t error_size)
{
    ini_state st;
    memset(&st, 0, sizeof st);
    st.config = config;
    if (strlen(path) >= sizeof config->path) {
        snprintf(error, error_size, "%s: path too long", path);
        return TL_ERR_ARG;
    }
    snprintf(config->path, sizeof config->path, "%s", path);
    const int line = ini_parse(path, scenario_line, &st);
    if (line < 0) {
        snprintf(error, error_size, "%s: cannot read the scenario (%s)", path, line == -1 ? strerror(errno) : "out of memory");
        return TL_ERR_IO;
    }
    if (line > 0) {
        snprintf(error, error_size, "%s:%d: %s", path, line, st.failed ? st.message : "not a key = value line");
        return TL_ERR_ARG;
    }
    return TL_OK;
}

tl_status tl_sim_config_set(tl_sim_config *config, const char *assignment, char *error, size_t error_size)
{
    char copy[512];
    if (strlen(assignment) >= sizeof copy) {
        snprintf(error, error_size, "--set: too long");
        return TL_ERR_ARG;
    }
    snprintf(copy, sizeof copy, "%s", assignment);
    char *eq = strchr(copy, '=');
    char *dot = NULL;
    /* class.NAME.key: the last dot before '=' splits section and key. */
    for (char *p = copy; eq && p < eq; p++) {
        dot = *p == '.' ? p : dot;
    }
    if (!eq || !dot || dot == copy || dot + 1 == eq) {
        snprintf(error, error_size, "--set %s: expected SECTION.KEY=VALUE", assignment);
        return TL_ERR_ARG;
    }
    *dot = 0;
    *eq = 0;
    return config_assign(config, copy, dot + 1, eq + 1, error, error_size);
}

/* A catalogue path relative to the folder of the scenario file `base`. */
static void resolve_path(const char *base, const char *name, char *out, size_t size)
{
    const char *slash = strrchr(base, '/');
    if (name[0] == '/' || !slash) {
        snprintf(out, size, "%s", name);
        return;
    }
    snprintf(out, size, "%.*s/%s", (int)(slash - base), base, name);
}

tl_status tl_sim_config_finish(tl_sim_config *config, char *error, size_t error_size)
{
    double class_share = 0;
    for (int i = 0; i < config->class_count; i++) {
        const tl_sim_class *c = &config->classes[i];
        class_share += c->share;
        if (c->speed_max < c->speed_min) {
            snprintf(error, error_size, "[class.%s] speed_max %.3g is below speed_min %.3g", c->name, c->speed_max,
                     c->speed_min);
            return TL_ERR_ARG;
        }
        if (c->mobility != TL_SIM_STATIC && !(c->speed_max > 0)) {
            snprintf(error, error_size, "[class.%s] a moving class needs speed_max > 0", c->name);
            return TL_ERR_ARG;
        }
    }
    if (!(class_share > 0)) {
        snprintf(error, error_size, "scenario: no device class has a share > 0");
        return TL_ERR_ARG;
    }
    double day = 0, night = 0;
    for (int i = 0; i < config->app_count; i++) {
        tl_sim_app *a = &config->apps[i];
        day += a->share;
        night += a->night_share;
        if (!a->catalogue[0]) {
            snprintf(error, error_size, "[app.%s] needs a catalogue", a->name);
            return TL_ERR_ARG;
        }
        char resolved[sizeof a->catalogue_path]; /* apart from config: no overlap to prove */
        resolve_path(config->path, a->catalogue, resolved, sizeof resolved);
        memcpy(a->catalogue_path, resolved, sizeof resolved);
        const char *path = a->catalogue_path;
        char why[512];
        if (tl_catalogue_read(path, a->variants, TL_SIM_MAX_APP_VARIANTS, &a->variant_count, why, sizeof why) != TL_OK) {
            snprintf(error, error_size, "[app.%s] catalogue: %s", a->name, why);
            return TL_ERR_ARG;
        }
        if (a->variant_count > 0 && a->model_bytes > 0) {
            uint64_t largest = 0;
            for (int v = 0; v < a->variant_count; v++) {
                largest = a->variants[v].bytes > largest ? a->variants[v].bytes : largest;
            }
            const double k = a->model_bytes / (double)largest;
            for (int v = 0; v < a->variant_count; v++) {
                tl_variant *x = &a->variants[v];
                x->bytes = (uint64_t)llround((double)x->bytes * k);
                x->prefix_bytes = (uint64_t)llround((double)x->prefix_bytes * k);
                x->dense_bytes = (uint64_t)llround((double)x->dense_bytes * k);
            }
        }
        if (a->variant_count == 0) {
            snprintf(error, error_size, "[app.%s] catalogue %s has no variants", a->name, path);
            return TL_ERR_ARG;
        }
        if (a->layers) {
            double sb = 0, sc = 0;
            for (int l = 0; l < a->layers; l++) {
                sb += a->layer_bytes[l];
                sc += a->layer_compute[l];
            }
            if (fabs(sb - 1.0) > 0.02 || fabs(sc - 1.0) > 0.02) {
                snprintf(error, error_size,
                         "[app.%s] layer_bytes and layer_compute must each have %d shares summing to 1 (%.3f, %.3f)",
                         a->name, a->layers, sb, sc);
                return TL_ERR_ARG;
            }
        }
    }
    if (!(day > 0) || !(night > 0)) {
        snprintf(error, error_size, "scenario: the applications' day_share and night_share must each sum above 0");
        return TL_ERR_ARG;
    }
    if (config->fl_enabled) {
        tl_agg_rule rule;
        tl_compression compression;
        if (tl_agg_parse(config->fl_rule, &rule) != 0) {
            snprintf(error, error_size, "[federated] rule: \"%s\" is not mean, median, trimmed:B, krum:F or multikrum:F:M",
                     config->fl_rule);
            return TL_ERR_ARG;
        }
        if (tl_compress_parse(config->fl_compress, &compression) != 0) {
            snprintf(error, error_size, "[federated] compress: \"%s\" is not none, int8, int8z or topk:R",
                     config->fl_compress);
            return TL_ERR_ARG;
        }
        if (config->fl_deadline_s > config->fl_round_s) {
            snprintf(error, error_size, "[federated] deadline_s (%g) is longer than round_s (%g)", config->fl_deadline_s,
                     config->fl_round_s);
            return TL_ERR_ARG;
        }
    }
    if (config->cells_per_region % config->cells_per_edge != 0) {
        snprintf(error, error_size, "[edge] cells_per_region (%d) must be a multiple of cells_per_edge (%d)",
                 config->cells_per_region, config->cells_per_edge);
        return TL_ERR_ARG;
    }
    return TL_OK;
}
