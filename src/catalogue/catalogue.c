/* catalogue.c - the variant catalogue's one column table (catalogue.h),
 * writing and reading catalogue.csv and catalogue.json. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/catalogue.h"
#include "tinylarge/host.h"

typedef enum column_kind { TEXT, INT, FLOAT, U64, I64, U32, FLAG } column_kind;

typedef struct column {
    const char *name;
    column_kind kind;
    size_t offset;
    const char *format;         /* how a FLOAT is written */
    int required;
} column;

#define AT(field) offsetof(tl_variant, field)

/* The order of catalogue.csv; pareto's column is the one the plot reads
 * (10th), after bytes (6th) and accuracy (5th). */
static const column columns[] = {
    { "variant", TEXT, AT(name), NULL, 1 },
    { "exit", INT, AT(exit), NULL, 1 },
    { "sparsity", FLOAT, AT(sparsity), "%.2f", 1 },
    { "bits", INT, AT(bits), NULL, 1 },
    { "accuracy", FLOAT, AT(accuracy), "%.4f", 1 },
    { "bytes", U64, AT(bytes), NULL, 1 },
    { "macs", U64, AT(macs), NULL, 1 },
    { "arena_bytes", U64, AT(arena), NULL, 1 },
    { "m4_instructions", I64, AT(m4_instructions), NULL, 1 },
    { "pareto", FLAG, AT(pareto), NULL, 0 },
    { "prefix_planes", U32, AT(prefix_planes), NULL, 0 },
    { "prefix_bytes", U64, AT(prefix_bytes), NULL, 0 },
    { "prefix_accuracy", FLOAT, AT(prefix_accuracy), "%.4f", 0 },
    { "dense_bytes", U64, AT(dense_bytes), NULL, 0 },
    { "dense_m4_instructions", I64, AT(dense_m4_instructions), NULL, 0 },
};
enum { COLUMNS = sizeof columns / sizeof columns[0] };

#define fail tl_fail

/* One value as text (JSON: strings quoted, flags as true/false). */
static void format_value(const column *c, const tl_variant *v, int json, char *out, size_t size)
{
    const char *p = (const char *)v + c->offset;
    switch (c->kind) {
    case TEXT: snprintf(out, size, json ? "\"%s\"" : "%s", p); break;
    case INT: snprintf(out, size, "%d", *(const int *)(const void *)p); break;
    case FLAG: {
        const int on = *(const int *)(const void *)p != 0;
        snprintf(out, size, "%s", json ? (on ? "true" : "false") : (on ? "1" : "0"));
        break;
    }
    case FLOAT: snprintf(out, size, c->format, (double)*(const float *)(const void *)p); break;
    case U64: snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)(const void *)p); break;
    case I64: snprintf(out, size, "%lld", (long long)*(const int64_t *)(const void *)p); break;
    case U32: snprintf(out, size, "%u", *(const uint32_t *)(const void *)p); break;
    }
}

/* Reads one value (the whole of `text`) into the variant; 0 if it is not
 * of the column's kind. */
static int parse_value(const column *c, const char *text, tl_variant *v)
{
    char *p = (char *)v + c->offset, *end = NULL;
    errno = 0;
    switch (c->kind) {
    case TEXT: {
        const size_t n = strlen(text);
        if (n == 0 || n >= sizeof v->name || strpbrk(text, ",\"/\\")) {
            return 0; /* a variant names a file beside the catalogue */
        }
        memcpy(p, text, n + 1);
        return 1;
    }
    case INT:
    case FLAG: {
        const long x = strtol(text, &end, 10);
        if (c->kind == FLAG && (!strcmp(text, "true") || !strcmp(text, "false"))) {
            *(int *)(void *)p = text[0] == 't';
            return 1;
        }
        *(int *)(void *)p = (int)x;
        return end != text && !*end && !errno && x >= -2147483647L && x <= 2147483647L;
    }
    case FLOAT: {
        const float x = strtof(text, &end);
        *(float *)(void *)p = x;
        return end != text && !*end && x == x;
    }
    case U64:
    case U32: {
        if (text[0] == '-') {
            return 0;
        }
        const unsigned long long x = strtoull(text, &end, 10);
        if (c->kind == U32) {
            *(uint32_t *)(void *)p = (uint32_t)x;
            return end != text && !*end && !errno && x <= 0xFFFFFFFFull;
        }
        *(uint64_t *)(void *)p = x;
        return end != text && !*end && !errno;
    }
    case I64: {
        const long long x = strtoll(text, &end, 10);
        *(int64_t *)(void *)p = x;
        return end != text && !*end && !errno;
    }
    }
    return 0;
}

/* Defaults for the columns an older catalogue lacks. */
static void variant_defaults(tl_variant *v)
{
    memset(v, 0, sizeof *v);
    v->m4_instructions = -1;
    v->dense_m4_instructions = -1;
}

static int column_index(const char *name, size_t n)
{
    for (int k = 0; k < COLUMNS; ++k) {
        if (strlen(columns[k].name) == n && !strncmp(columns[k].name, name, n)) {
            return k;
        }
    }
    return -1;
}

/* A row's sanity beyond each value's kind. */
static int row_consistent(const tl_variant *v)
{
    return v->prefix_planes <= 8 && (!v->prefix_planes || v->prefix_bytes) && v->accuracy >= 0 && v->accuracy <= 1;
}

tl_status tl_catalogue_write(const char *dir, const tl_variant *v, int n, char *error, size_t error_size)
{
    size_t cap = 4096 + (size_t)n * 1024, used = 0, jused = 0;
    char *csv = malloc(cap), *json = malloc(cap);
    if (!csv || !json) {
        free(csv);
        free(json);
        return fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < COLUMNS; ++k) {
        used += (size_t)snprintf(csv + used, cap - used, "%s%s", k ? "," : "", columns[k].name);
    }
    used += (size_t)snprintf(csv + used, cap - used, "\n");
    jused += (size_t)snprintf(json + jused, cap - jused, "{\n  \"variants\": [\n");
    for (int i = 0; i < n; ++i) {
        jused += (size_t)snprintf(json + jused, cap - jused, "    {");
        for (int k = 0; k < COLUMNS; ++k) {
            char value[64];
            format_value(&columns[k], &v[i], 0, value, sizeof value);
            used += (size_t)snprintf(csv + used, cap - used, "%s%s", k ? "," : "", value);
            format_value(&columns[k], &v[i], 1, value, sizeof value);
            jused += (size_t)snprintf(json + jused, cap - jused, "%s\"%s\": %s", k ? ", " : "", columns[k].name, value);
        }
        used += (size_t)snprintf(csv + used, cap - used, "\n");
        jused += (size_t)snprintf(json + jused, cap - jused, ", \"model\": \"%s.tlm\"}%s\n", v[i].name,
                                  i + 1 < n ? "," : "");
    }
    jused += (size_t)snprintf(json + jused, cap - jused, "  ]\n}\n");
    char path[4200];
    tl_status s = TL_OK;
    snprintf(path, sizeof path, "%.4000s/catalogue.csv", dir);
    if (used >= cap || jused >= cap || tl_write_file_atomic(path, csv, used) != TL_OK) {
        s = fail(error, error_size, TL_ERR_IO, "%s: cannot write", path);
    }
    snprintf(path, sizeof path, "%.4000s/catalogue.json", dir);
    if (s == TL_OK && tl_write_file_atomic(path, json, jused) != TL_OK) {
        s = fail(error, error_size, TL_ERR_IO, "%s: cannot write", path);
    }
    free(csv);
    free(json);
    return s;
}

/* ---- reading ---- */

static tl_status read_csv(const char *path, const char *text, tl_variant *out, int capacity, int *count, char *error,
                          size_t error_size)
{
    int order[COLUMNS], fields = 0, seen = 0;
    const char *line = text;
    const char *nl = strchr(line, '\n');
    /* The header: which column is where. */
    for (const char *p = line; p && p < (nl ? nl : line + strlen(line));) {
        const char *end = nl ? nl : line + strlen(line);
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = (size_t)((comma ? comma : end) - p);
        if (n && p[n - 1] == '\r') {
            --n;
        }
        const int k = column_index(p, n);
        if (fields == COLUMNS || k < 0 || (seen >> k) & 1) {
            return fail(error, error_size, TL_ERR_FORMAT, "%s: not a tinylarge catalogue (header column %d: '%.*s')",
                        path, fields + 1, (int)n, p);
        }
        seen |= 1 << k;
        order[fields++] = k;
        p = comma ? comma + 1 : NULL;
    }
    for (int k = 0; k < COLUMNS; ++k) {
        if (columns[k].required && !((seen >> k) & 1)) {
            return fail(error, error_size, TL_ERR_FORMAT, "%s: not a tinylarge catalogue (no '%s' column)", path,
                        columns[k].name);
        }
    }
    int row = 1;
    for (line = nl ? nl + 1 : NULL; line && *line; line = nl ? nl + 1 : NULL) {
        ++row;
        nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        if (end == line || (end == line + 1 && *line == '\r')) {
            continue;
        }
        if (*count == capacity) {
            return fail(error, error_size, TL_ERR_BOUNDS, "%s: more than %d variants", path, capacity);
        }
        tl_variant *v = &out[*count];
        variant_defaults(v);
        int f = 0, ok = 1;
        for (const char *p = line; ok && p;) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            size_t n = (size_t)((comma ? comma : end) - p);
            if (n && p[n - 1] == '\r') {
                --n;
            }
            char value[128];
            ok = f < fields && n < sizeof value;
            if (ok) {
                memcpy(value, p, n);
                value[n] = '\0';
                ok = parse_value(&columns[order[f++]], value, v);
            }
            p = comma ? comma + 1 : NULL;
        }
        if (!ok || f != fields || !row_consistent(v)) {
            return fail(error, error_size, TL_ERR_FORMAT, "%s: line %d is not a catalogue row", path, row);
        }
        ++*count;
    }
    return TL_OK;
}

/* The JSON this module writes: {"variants": [{"key": value, ...}, ...]},
 * read key by key through the same table (unknown keys are skipped). */
static tl_status read_json(const char *path, const char *text, tl_variant *out, int capacity, int *count, char *error,
                           size_t error_size)
{
    const char *p = strstr(text, "\"variants\"");
    p = p ? strchr(p, '[') : NULL;
    if (!p) {
        return fail(error, error_size, TL_ERR_FORMAT, "%s: not a tinylarge catalogue (no \"variants\" list)", path);
    }
    ++p;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ',') {
            ++p;
        }
        if (*p == ']') {
            return TL_OK;
        }
        if (*p != '{') {
            return fail(error, error_size, TL_ERR_FORMAT, "%s: variant %d is not an object", path, *count + 1);
        }
        if (*count == capacity) {
            return fail(error, error_size, TL_ERR_BOUNDS, "%s: more than %d variants", path, capacity);
        }
        tl_variant *v = &out[*count];
        variant_defaults(v);
        int seen = 0;
        ++p;
        while (*p && *p != '}') {
            while (*p == ' ' || *p == ',' || *p == '\n') {
                ++p;
            }
            const char *key = p + 1, *key_end = *p == '"' ? strchr(key, '"') : NULL;
            const char *colon = key_end ? strchr(key_end, ':') : NULL;
            if (!colon) {
                return fail(error, error_size, TL_ERR_FORMAT, "%s: variant %d: a malformed key", path, *count + 1);
            }
            p = colon + 1;
            while (*p == ' ') {
                ++p;
            }
            char value[128];
            size_t n = 0;
            if (*p == '"') {
                const char *close = strchr(p + 1, '"');
                if (!close || (size_t)(close - p - 1) >= sizeof value) {
                    return fail(error, error_size, TL_ERR_FORMAT, "%s: variant %d: a malformed string", path, *count + 1);
                }
                n = (size_t)(close - p - 1);
                memcpy(value, p + 1, n);
                p = close + 1;
            } else {
                while (p[n] && p[n] != ',' && p[n] != '}' && p[n] != ' ' && n < sizeof value - 1) {
                    value[n] = p[n];
                    ++n;
                }
                p += n;
            }
            value[n] = '\0';
            const int k = column_index(key, (size_t)(key_end - key));
            if (k >= 0) {
                if (!parse_value(&columns[k], value, v)) {
                    return fail(error, error_size, TL_ERR_FORMAT, "%s: variant %d: bad %s '%s'", path, *count + 1,
                                columns[k].name, value);
                }
                seen |= 1 << k;
            }
        }
        if (*p != '}') {
            return fail(error, error_size, TL_ERR_FORMAT, "%s: variant %d is not closed", path, *count + 1);
        }
        ++p;
        for (int k = 0; k < COLUMNS; ++k) {
            if (columns[k].required && !((seen >> k) & 1)) {
                return fail(error, error_size, TL_ERR_FORMAT, "%s: variant %d has no '%s'", path, *count + 1,
                            columns[k].name);
            }
        }
        if (!row_consistent(v)) {
            return fail(error, error_size, TL_ERR_FORMAT, "%s: variant %d is not consistent", path, *count + 1);
        }
        ++*count;
    }
}

tl_status tl_catalogue_read(const char *path, tl_variant *out, int capacity, int *count, char *error,
                            size_t error_size)
{
    *count = 0;
    uint8_t *data;
    size_t size;
    if (tl_read_file(path, &data, &size) != TL_OK) {
        return fail(error, error_size, TL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    char *text = realloc(data, size + 1);
    if (!text) {
        free(data);
        return fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    text[size] = '\0';
    const size_t len = strlen(path);
    const int json = len > 5 && !strcmp(path + len - 5, ".json");
    const tl_status s = json ? read_json(path, text, out, capacity, count, error, error_size)
                             : read_csv(path, text, out, capacity, count, error, error_size);
    free(text);
    return s;
}

void tl_catalogue_mark_pareto(tl_variant *v, int n)
{
    for (int i = 0; i < n; ++i) {
        v[i].pareto = 1;
        for (int j = 0; j < n && v[i].pareto; ++j) {
            if (j != i && v[j].accuracy >= v[i].accuracy && v[j].bytes <= v[i].bytes &&
                (v[j].accuracy > v[i].accuracy || v[j].bytes < v[i].bytes)) {
                v[i].pareto = 0;
            }
        }
    }
}
