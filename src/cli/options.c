/* options.c - the command line's one option parser (options.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "tinylarge/edge.h"

/* Whether `arg` is one of the option's names ("-o|--output"). */
static int named(const tl_opt *o, const char *arg)
{
    const size_t n = strlen(arg);
    for (const char *p = o->name; p && *p;) {
        const char *bar = strchr(p, '|');
        const size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, arg, n)) {
            return 1;
        }
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static const tl_opt *find(const tl_opt *table, const char *arg)
{
    for (const tl_opt *o = table; o && o->kind != TL_OPT_END; ++o) {
        const tl_opt *hit = o->kind == TL_OPT_GROUP ? find(o->group, arg) : named(o, arg) ? o : NULL;
        if (hit) {
            return hit;
        }
    }
    return NULL;
}

static int fail(const char *verb, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "tinylarge %s: ", verb);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return TL_OPT_ERROR;
}

/* The option's range as words: "0 to 64 pixels"; "" when it is only "not negative". */
static void range_words(const tl_opt *o, char *out, size_t size)
{
    out[0] = '\0';
    if (o->min == 1 && o->max >= 4294967295.0) {
        snprintf(out, size, "a positive %s", o->kind == TL_OPT_U32 || o->kind == TL_OPT_INT ? "integer" : "number");
    } else if (o->min != 0 || o->max != 0) {
        snprintf(out, size, "%.10g to %.10g", o->min, o->max);
    }
}

static int in_range(const tl_opt *o, double v)
{
    return o->min == 0 && o->max == 0 ? v >= 0 : v >= o->min && v <= o->max;
}

static int read_whole(const char *text, double *v)
{
    if (!*text || (*text != '-' && (*text < '0' || *text > '9'))) {
        return 0;
    }
    char *end;
    errno = 0;
    const long long n = strtoll(text, &end, 10);
    if (*end || errno == ERANGE) {
        return 0;
    }
    *v = (double)n;
    return 1;
}

static int read_real(const char *text, double *v, int quantity)
{
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    if (end == text || errno == ERANGE) {
        return 0;
    }
    if (quantity && (*end == 'K' || *end == 'k' || *end == 'M' || *end == 'G')) {
        x *= *end == 'G' ? 1e9 : *end == 'M' ? 1e6 : 1e3;
        ++end;
    }
    if (*end || !isfinite(x)) {
        return 0;
    }
    *v = x;
    return 1;
}

/* Stores `value` into the option's destination, or says what is wrong. */
static int store(const char *verb, const tl_opt *o, const char *arg, const char *value)
{
    char range[64], message[160];
    range_words(o, range, sizeof range);
    double v = 0;
    switch (o->kind) {
    case TL_OPT_TEXT:
        *(const char **)o->dest = value;
        return TL_OPT_OK;
    case TL_OPT_LIST: {
        tl_opt_list *list = o->dest;
        if (list->count == TL_OPT_LIST_MAX) {
            return fail(verb, "%s is given more than 32 times%s", arg, "");
        }
        list->item[list->count++] = value;
        return TL_OPT_OK;
    }
    case TL_OPT_U32:
    case TL_OPT_INT:
        if (!read_whole(value, &v) || (v < 0 && o->min >= 0)) {
            snprintf(message, sizeof message, "%%s needs a %s integer, not '%%s'", o->min < 0 ? "whole" : "non-negative");
            return fail(verb, message, arg, value);
        }
        if (!in_range(o, v)) {
            snprintf(message, sizeof message, "%%s takes %s, not '%%s'", range);
            return fail(verb, message, arg, value);
        }
        if (o->kind == TL_OPT_U32) {
            *(uint32_t *)o->dest = (uint32_t)v;
        } else {
            *(int *)o->dest = (int)v;
        }
        return TL_OPT_OK;
    case TL_OPT_FLOAT:
    case TL_OPT_DOUBLE:
    case TL_OPT_QUANTITY:
        if (!read_real(value, &v, o->kind == TL_OPT_QUANTITY) || (v < 0 && o->min >= 0)) {
            snprintf(message, sizeof message, "%%s needs a %snumber%s, not '%%s'", o->min < 0 ? "" : "non-negative ",
                     o->kind == TL_OPT_QUANTITY ? " (K/M/G allowed)" : "");
            return fail(verb, message, arg, value);
        }
        if (!in_range(o, v)) {
            snprintf(message, sizeof message, "%%s takes %s, not '%%s'", range);
            return fail(verb, message, arg, value);
        }
        if (o->kind == TL_OPT_FLOAT) {
            *(float *)o->dest = (float)v;
        } else {
            *(double *)o->dest = v;
        }
        return TL_OPT_OK;
    case TL_OPT_CHOICE: {
        int index = 0;
        for (const char *p = o->value; p && *p; ++index) {
            const char *bar = strchr(p, '|');
            const size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (strlen(value) == len && !strncmp(p, value, len)) {
                *(int *)o->dest = index;
                return TL_OPT_OK;
            }
            p = bar ? bar + 1 : NULL;
        }
        /* "a, b or c" */
        char names[128] = "";
        const char *last_bar = strrchr(o->value, '|');
        for (const char *p = o->value; *p && strlen(names) + 8 < sizeof names; ++p) {
            const size_t n = strlen(names);
            if (*p != '|') {
                names[n] = *p;
                names[n + 1] = '\0';
            } else {
                snprintf(names + n, sizeof names - n, "%s", p == last_bar ? " or " : ", ");
            }
        }
        snprintf(message, sizeof message, "%%s takes %s, not '%%s'", names);
        return fail(verb, message, arg, value);
    }
    default:
        return fail(verb, "%s: this option cannot be set%s", arg, "");
    }
}

int tl_opt_parse(const tl_command_spec *spec, int argc, char **argv, int *positional_count)
{
    *positional_count = 0;
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            tl_opt_usage(spec, stdout);
            return TL_OPT_HELP;
        }
        if (arg[0] == '-' && arg[1] != '\0') {
            const tl_opt *o = find(spec->options, arg);
            if (!o) {
                return fail(spec->verb, "unknown option '%s' (tinylarge %s --help lists them)", arg, spec->verb);
            }
            if (o->kind == TL_OPT_FLAG) {
                *(int *)o->dest = 1;
                continue;
            }
            if (i + 1 >= argc) {
                return fail(spec->verb, "option '%s' needs a value%s", arg, "");
            }
            if (store(spec->verb, o, arg, argv[++i]) != TL_OPT_OK) {
                return TL_OPT_ERROR;
            }
        } else if (*positional_count < spec->max_positional) {
            spec->positional[(*positional_count)++] = arg;
        } else {
            return fail(spec->verb, "unexpected argument '%s'%s", arg, "");
        }
    }
    return TL_OPT_OK;
}

static void list_options(const tl_opt *table, FILE *out)
{
    for (const tl_opt *o = table; o && o->kind != TL_OPT_END; ++o) {
        if (o->kind == TL_OPT_GROUP) {
            list_options(o->group, out);
            continue;
        }
        if (!o->help) {
            continue;
        }
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->kind == TL_OPT_FLAG ? "" : " ",
                 o->kind == TL_OPT_FLAG ? "" : o->value ? o->value : "X");
        for (char *p = left; *p; ++p) {
            *p = *p == '|' && p < left + strlen(o->name) ? ',' : *p;
        }
        /* The help's lines, the first beside the option, the rest under it. */
        const char *h = o->help;
        const int wide = strlen(left) > 20;
        fprintf(out, "  %-20s%s", left, wide ? "\n" : " ");
        for (int line = 0; *h; ++line) {
            const char *nl = strchr(h, '\n');
            const int n = nl ? (int)(nl - h) : (int)strlen(h);
            fprintf(out, "%s%.*s\n", line || wide ? "                       " : "", n, h);
            h = nl ? nl + 1 : h + n;
        }
    }
}

void tl_opt_usage(const tl_command_spec *spec, FILE *out)
{
    fprintf(out, "%s\n", spec->usage);
    if (spec->more_help) {
        spec->more_help(out);
    }
    fprintf(out, "\noptions:\n");
    list_options(spec->options, out);
}

void tl_opt_profile_group(tl_opt group[TL_PROFILE_OPTIONS], tl_profile_args *a)
{
    const tl_opt table[TL_PROFILE_OPTIONS] = {
        { "--flash", TL_OPT_QUANTITY, &a->flash, 0, 0, "BYTES", "room for the model (one slot)", NULL },
        { "--ram", TL_OPT_QUANTITY, &a->ram, 0, 0, "BYTES", "room for the arena", NULL },
        { "--mac-rate", TL_OPT_QUANTITY, &a->mac_rate, 0, 0, "N", "sustained int8 MACs per second", NULL },
        { "--ips", TL_OPT_QUANTITY, &a->ips, 0, 0, "N", "instructions per second (a Cortex-M4 at f Hz: about f):\n"
          "time each variant by its measured M4 instructions\n(when the catalogue has them all), not its MACs", NULL },
        { "--densify", TL_OPT_FLAG, &a->densify, 0, 0, NULL, "the device makes pruned and int4 variants dense int8\n"
          "when that fits the flash: time those by their dense form", NULL },
        { "--deadline", TL_OPT_QUANTITY, &a->deadline, 0, 0, "SECONDS", "download + first inference (default: none)", NULL },
        { "--energy-per-mac", TL_OPT_QUANTITY, &a->energy_per_mac, 0, 0, "J", "energy of one MAC (with --energy-budget)",
          NULL },
        { "--energy-budget", TL_OPT_QUANTITY, &a->energy_budget, 0, 0, "J", "energy allowed per inference (a device\n"
          "derives it from its battery)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    memcpy(group, table, sizeof table);
}

void tl_profile_args_apply(const tl_profile_args *a, tl_device_profile *p)
{
    p->flash_bytes = (uint64_t)a->flash;
    p->ram_bytes = (uint64_t)a->ram;
    p->macs_per_second = a->mac_rate;
    p->instructions_per_second = a->ips;
    p->joules_per_mac = a->energy_per_mac;
    p->energy_budget_j = a->energy_budget;
    p->densify = a->densify;
}
