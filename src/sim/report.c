/* report.c - `sim --report DIR`: one self-contained HTML page (DIR/index.html)
 * with the scenario, the seed, headline tables and five plots drawn by
 * gnuplot as SVG and put inline, so the page is one file to mail or open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim_internal.h"
#include "tinylarge/host.h"

static tl_status write_text(const char *path, const char *text, char *error, size_t error_size)
{
    if (tl_write_file_atomic(path, text, strlen(text)) != TL_OK) {
        return tl_fail(error, error_size, TL_ERR_IO, "%s: cannot write (%s)", path, strerror(errno));
    }
    return TL_OK;
}

/* The plots' data, one file each, and the gnuplot script that draws them. */
static tl_status write_plot_inputs(const char *dir, const tl_sim_config *config, const tl_sim_results *r, char *error,
                                   size_t error_size)
{
    char path[1200];
    char *text = NULL;
    size_t size = 0;
    FILE *f;
    static const char *names[] = { "latency", "cells", "time", "classes", "library" };
    for (int plot = 0; plot < 5; plot++) {
        f = open_memstream(&text, &size);
        if (!f) {
            return tl_fail(error, error_size, TL_ERR_NOMEM, "report: out of memory");
        }
        switch (plot) {
        case 0: { /* latency CDF */
            uint64_t acc = 0;
            for (int i = 0; i < TL_SIM_LATENCY_BINS; i++) {
                acc += r->latency[i];
                if (r->latency[i]) {
                    fprintf(f, "%.6g %.6f\n", tl_sim_latency_bin_edge(i), sim_ratio(acc, r->requests));
                }
            }
            break;
        }
        case 1: /* deadline hit rate per cell */
            for (int c = 0; c < r->cells; c++) {
                if (r->cell_requests[c]) {
                    fprintf(f, "%d %.6f\n", c, sim_ratio(r->cell_met[c], r->cell_requests[c]));
                }
            }
            break;
        case 2: /* accuracy and deadline hits over time (hour of day) */
            for (int s = 0; s < TL_SIM_TIME_BINS; s++) {
                if (r->time_requests[s]) {
                    const double hour = config->start_hour + config->duration_s / 3600.0 * (s + 0.5) / TL_SIM_TIME_BINS;
                    fprintf(f, "%.4f %.6f %.6f\n", hour, sim_ratio(r->time_correct[s], r->time_requests[s]),
                            sim_ratio(r->time_met[s], r->time_requests[s]));
                }
            }
            break;
        case 3: /* bytes and energy per device, by class */
            for (int c = 0; c < config->class_count; c++) {
                const tl_sim_class_results *k = &r->classes[c];
                if (k->devices) {
                    fprintf(f, "%s %.6f %.6f\n", config->classes[c].name,
                            (double)(k->bytes_down + k->bytes_up) / 1e3 / (double)k->devices,
                            (double)k->energy_uj / 1e6 / (double)k->devices);
                }
            }
            break;
        default: { /* library tiers */
            static const char *tiers[] = { "edge", "region", "central" };
            for (int t = 0; t < TL_SIM_TIERS; t++) {
                fprintf(f, "%s %.6f %llu\n", tiers[t], sim_ratio(r->tier_hits[t], r->tier_lookups[t]),
                        (unsigned long long)r->tier_lookups[t]);
            }
            break;
        }
        }
        if (fclose(f) != 0) {
            free(text);
            return tl_fail(error, error_size, TL_ERR_NOMEM, "report: out of memory");
        }
        snprintf(path, sizeof path, "%s/%s.dat", dir, names[plot]);
        /* gnuplot warns on an empty file: one neutral row instead. */
        const tl_status s = write_text(path, size ? text : "0 0 0\n", error, error_size);
        free(text);
        text = NULL;
        if (s != TL_OK) {
            return s;
        }
    }
    const char *script =
        "set terminal svg size 640,360 enhanced font 'sans,11' background rgb 'white'\n"
        "set grid\n"
        "set key bottom right\n"
        "set output 'latency.svg'\n"
        "set title 'Latency of requests (CDF)'\n"
        "set logscale x\n"
        "set xlabel 'seconds'\n"
        "set ylabel 'share of requests'\n"
        "set yrange [0:1.02]\n"
        "plot 'latency.dat' using 1:2 with steps lw 2 lc rgb '#1f77b4' title 'latency'\n"
        "unset logscale x\n"
        "set output 'cells.svg'\n"
        "set title 'Deadline hit rate per cell'\n"
        "unset key\n"
        "set xrange [-1:*]\n"
        "set xlabel 'cell'\n"
        "set ylabel 'deadline met'\n"
        "set style fill solid 0.8\n"
        "set boxwidth 0.8\n"
        "plot 'cells.dat' using 1:2 with boxes lc rgb '#2ca02c' title 'hit rate'\n"
        "set output 'time.svg'\n"
        "set title 'Accuracy and deadline hits over the day'\n"
        "set key bottom right\n"
        "set xrange [*:*]\n"
        "set xlabel 'hour of day'\n"
        "set ylabel 'share of requests'\n"
        "set yrange [*:*]\n"
        "plot 'time.dat' using 1:2 with linespoints lw 2 lc rgb '#d62728' title 'accurate', "
        "'time.dat' using 1:3 with linespoints lw 2 lc rgb '#1f77b4' title 'deadline met'\n"
        "set output 'classes.svg'\n"
        "set title 'Bytes and energy per device, by class'\n"
        "set style data histogram\n"
        "set style histogram clustered gap 1\n"
        "set xlabel 'device class'\n"
        "set ylabel 'kB per device'\n"
        "set y2label 'J per device'\n"
        "set ytics nomirror\n"
        "set y2tics\n"
        "set yrange [0:*]\n"
        "set y2range [0:*]\n"
        "set key top left\n"
        "plot 'classes.dat' using 2:xtic(1) lc rgb '#9467bd' title 'kB up and down', "
        "'' using 3 axes x1y2 lc rgb '#ff7f0e' title 'energy (J)'\n"
        "unset y2label\n"
        "unset y2tics\n"
        "set output 'library.svg'\n"
        "set title 'Hit rates of the three-tier library'\n"
        "set xlabel 'tier'\n"
        "set ylabel 'hit rate'\n"
        "set yrange [0:1.05]\n"
        "plot 'library.dat' using 2:xtic(1) lc rgb '#17becf' title 'hits / lookups'\n";
    snprintf(path, sizeof path, "%s/plots.gp", dir);
    return write_text(path, script, error, error_size);
}

/* Appends a file's text to the page (an SVG inline: skips its XML prolog). */
static int append_svg(FILE *page, const char *path)
{
    uint8_t *data;
    size_t size;
    if (tl_read_file(path, &data, &size) != TL_OK) {
        return 0;
    }
    const char *start = strstr((const char *)data, "<svg");
    int ok = 0;
    if (start && size > 0) {
        fwrite(start, 1, size - (size_t)(start - (const char *)data), page);
        ok = 1;
    }
    free(data);
    return ok;
}

static void html_escape(FILE *f, const char *text)
{
    for (; *text; text++) {
        switch (*text) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*text, f); break;
        }
    }
}

tl_status tl_sim_write_report(const char *dir, const tl_sim_config *config, const tl_sim_results *r,
                              const tl_sim_timing *timing, char *error, size_t error_size)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        return tl_fail(error, error_size, TL_ERR_IO, "%s: cannot create the report folder (%s)", dir, strerror(errno));
    }
    tl_status s = write_plot_inputs(dir, config, r, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    char command[1400];
    snprintf(command, sizeof command, "cd '%s' && gnuplot plots.gp 2>plots.log", dir);
    if (strchr(dir, '\'') || system(command) != 0) {
        return tl_fail(error, error_size, TL_ERR_IO, "%s: gnuplot failed (see %s/plots.log; is gnuplot installed?)",
                       dir, dir);
    }
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) {
        return tl_fail(error, error_size, TL_ERR_NOMEM, "report: out of memory");
    }
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>tinylarge sim: ");
    html_escape(f, config->name);
    fprintf(f, "</title>\n<style>\nbody{font-family:sans-serif;max-width:1340px;margin:1em auto;color:#222}\n"
               "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
               "text-align:right}th{background:#f0f0f0}\n.plots{display:flex;flex-wrap:wrap;gap:12px}\n"
               "figure{margin:0;border:1px solid #ddd}figcaption{font-size:0.9em;padding:2px 6px}\n"
               "pre{background:#f7f7f7;padding:0.5em;overflow-x:auto}\n</style>\n</head>\n<body>\n");
    fprintf(f, "<h1>tinylarge sim: ");
    html_escape(f, config->name);
    fprintf(f, "</h1>\n<p>Scenario <code>");
    html_escape(f, config->path);
    fprintf(f, "</code>, seed <b>%llu</b>, %u devices on %d cells, %.0f s of virtual time from %.1f h, "
               "strategy <b>%s</b>, %d rank%s.</p>\n",
            (unsigned long long)config->seed, config->devices, r->cells, config->duration_s, config->start_hour,
            tl_sim_strategy_name(config->strategy), timing->ranks, timing->ranks > 1 ? "s" : "");
    const double n = r->requests ? (double)r->requests : 1;
    fprintf(f, "<table><tr><th>requests</th><th>deadline met</th><th>accurate</th><th>p50</th><th>p95</th>"
               "<th>p99</th><th>downloads</th><th>MB over the air</th><th>handovers</th></tr>\n");
    fprintf(f, "<tr><td>%llu</td><td>%.2f%%</td><td>%.2f%%</td><td>%.4g s</td><td>%.4g s</td><td>%.4g s</td>"
               "<td>%llu</td><td>%.1f</td><td>%llu</td></tr></table>\n",
            (unsigned long long)r->requests, 100.0 * (double)r->met / n, 100.0 * (double)r->correct / n,
            tl_sim_latency_percentile(r, 0.5), tl_sim_latency_percentile(r, 0.95), tl_sim_latency_percentile(r, 0.99),
            (unsigned long long)r->downloads, (double)r->air_bytes_down / 1e6, (unsigned long long)r->handovers);
    fprintf(f, "<table><tr><th>class</th><th>devices</th><th>requests</th><th>deadline met</th><th>accurate</th>"
               "<th>downloads</th><th>kB per device</th><th>J per device</th></tr>\n");
    for (int c = 0; c < config->class_count; c++) {
        const tl_sim_class_results *k = &r->classes[c];
        const double q = k->requests ? (double)k->requests : 1, dv = k->devices ? (double)k->devices : 1;
        fprintf(f, "<tr><td>");
        html_escape(f, config->classes[c].name);
        fprintf(f, "</td><td>%llu</td><td>%llu</td><td>%.2f%%</td><td>%.2f%%</td><td>%llu</td><td>%.2f</td>"
                   "<td>%.4f</td></tr>\n",
                (unsigned long long)k->devices, (unsigned long long)k->requests, 100.0 * (double)k->met / q,
                100.0 * (double)k->correct / q, (unsigned long long)k->downloads,
                (double)(k->bytes_down + k->bytes_up) / 1e3 / dv, (double)k->energy_uj / 1e6 / dv);
    }
    fprintf(f, "</table>\n<div class=\"plots\">\n");
    static const char *plots[][2] = { { "latency", "Latency CDF" },
                                      { "cells", "Deadline hit rate per cell" },
                                      { "time", "Accuracy and deadline hits over time" },
                                      { "classes", "Bytes and energy per device class" },
                                      { "library", "Cache hit rates of the three-tier library" } };
    for (int p = 0; p < 5; p++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.svg", dir, plots[p][0]);
        fprintf(f, "<figure id=\"plot-%s\" class=\"plot\">\n", plots[p][0]);
        if (!append_svg(f, path)) {
            fclose(f);
            free(text);
            return tl_fail(error, error_size, TL_ERR_IO, "%s: gnuplot wrote no plot", path);
        }
        fprintf(f, "<figcaption>%s</figcaption></figure>\n", plots[p][1]);
    }
    fprintf(f, "</div>\n<h2>Scenario file</h2>\n<pre>");
    uint8_t *ini;
    size_t ini_size;
    if (config->path[0] && tl_read_file(config->path, &ini, &ini_size) == TL_OK) {
        char *copy = malloc(ini_size + 1);
        if (copy) {
            memcpy(copy, ini, ini_size);
            copy[ini_size] = 0;
            html_escape(f, copy);
            free(copy);
        }
        free(ini);
    }
    fprintf(f, "</pre>\n<p>Timing (not part of the results): %llu events, %.2f s wall, %.2f M events/s per rank.</p>\n"
               "</body>\n</html>\n",
            (unsigned long long)timing->events, timing->wall_s, timing->events_per_second / 1e6);
    if (fclose(f) != 0) {
        free(text);
        return tl_fail(error, error_size, TL_ERR_NOMEM, "report: out of memory");
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/index.html", dir);
    s = tl_write_file_atomic(path, text, size);
    free(text);
    if (s != TL_OK) {
        return tl_fail(error, error_size, s, "%s: cannot write", path);
    }
    return TL_OK;
}
