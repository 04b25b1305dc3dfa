/* library.c - the model library: every model's variant catalogue, the
 * variants' bytes, signatures, context tags and publication history, in one
 * SQLite file (the embedded default; a PostgreSQL backend behind the same
 * interface is planned for several edge servers sharing one library).
 *
 * Schema changes are migrations keyed by PRAGMA user_version: opening an
 * older file upgrades it in a transaction.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/edge.h"

struct tl_library {
    sqlite3 *db;
    char path[256];
};

static tl_status fail(tl_library *lib, char *error, size_t size, tl_status s, const char *fmt, ...)
{
    if (error && size) {
        int n = snprintf(error, size, "%s: ", lib ? lib->path : "library");
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < size) {
            vsnprintf(error + n, size - (size_t)n, fmt, ap);
        }
        va_end(ap);
    }
    return s;
}

/* Migration k brings the schema from user_version k to k + 1. */
static const char *const migrations[] = {
    "CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE versions (id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL, published_at TEXT NOT NULL DEFAULT (datetime('now')), UNIQUE (model_id, version));"
    "CREATE TABLE variants (id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL, exit INTEGER, sparsity REAL, bits INTEGER, accuracy REAL, bytes INTEGER, macs INTEGER,"
    "  arena INTEGER, m4_instructions INTEGER, sha256 BLOB NOT NULL, signed INTEGER NOT NULL, model BLOB NOT NULL,"
    "  UNIQUE (version_id, name));"
    "CREATE TABLE tags (model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE, key TEXT NOT NULL,"
    "  value TEXT NOT NULL, PRIMARY KEY (model_id, key));",
};
enum { SCHEMA_VERSION = sizeof migrations / sizeof migrations[0] };

static tl_status migrate(tl_library *lib, char *error, size_t error_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(lib->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return fail(lib, error, error_size, TL_ERR_FORMAT, "not a library (%s)", sqlite3_errmsg(lib->db));
    }
    const int current = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (current > SCHEMA_VERSION) {
        return fail(lib, error, error_size, TL_ERR_VERSION, "schema version %d is newer than this tinylarge (%d)",
                    current, SCHEMA_VERSION);
    }
    for (int v = current; v < SCHEMA_VERSION; ++v) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", v + 1);
        char *msg = NULL;
        if (sqlite3_exec(lib->db, "BEGIN", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(lib->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(lib->db, bump, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(lib->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            tl_status s = fail(lib, error, error_size, TL_ERR_IO, "migration %d failed: %s", v + 1, msg ? msg : "?");
            sqlite3_free(msg);
            sqlite3_exec(lib->db, "ROLLBACK", NULL, NULL, NULL);
            return s;
        }
    }
    return TL_OK;
}

tl_status tl_library_open(const char *path, tl_library **out, char *error, size_t error_size)
{
    *out = NULL;
    tl_library *lib = calloc(1, sizeof *lib);
    if (!lib) {
        return TL_ERR_NOMEM;
    }
    snprintf(lib->path, sizeof lib->path, "%s", path);
    if (sqlite3_open_v2(path, &lib->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        tl_status s = fail(lib, error, error_size, TL_ERR_IO, "cannot open: %s", sqlite3_errmsg(lib->db));
        tl_library_close(lib);
        return s;
    }
    sqlite3_busy_timeout(lib->db, 5000);
    sqlite3_exec(lib->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    tl_status s = migrate(lib, error, error_size);
    if (s != TL_OK) {
        tl_library_close(lib);
        return s;
    }
    *out = lib;
    return TL_OK;
}

void tl_library_close(tl_library *lib)
{
    if (lib) {
        sqlite3_close(lib->db);
        free(lib);
    }
}

static int64_t model_id(tl_library *lib, const char *name, int create)
{
    sqlite3_stmt *st;
    if (create) {
        sqlite3_prepare_v2(lib->db, "INSERT OR IGNORE INTO models (name) VALUES (?)", -1, &st, NULL);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    int64_t id = -1;
    sqlite3_prepare_v2(lib->db, "SELECT id FROM models WHERE name = ?", -1, &st, NULL);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return id;
}

static int latest_version(tl_library *lib, int64_t model)
{
    sqlite3_stmt *st;
    int v = 0;
    sqlite3_prepare_v2(lib->db, "SELECT COALESCE(MAX(version), 0) FROM versions WHERE model_id = ?", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, model);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

tl_status tl_library_publish(tl_library *lib, const char *name, const char *dir, const uint8_t *secret_key,
                             const char *const *tags, int tag_count, int *version, char *error, size_t error_size)
{
    char csv[4200];
    snprintf(csv, sizeof csv, "%.4000s/catalogue.csv", dir);
    tl_variant v[256];
    int count;
    tl_status s = tl_catalogue_read_csv(csv, v, 256, &count, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    if (count == 0) {
        return fail(lib, error, error_size, TL_ERR_FORMAT, "%.200s lists no variants", csv);
    }
    if (sqlite3_exec(lib->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return fail(lib, error, error_size, TL_ERR_IO, "cannot start a transaction: %s", sqlite3_errmsg(lib->db));
    }
    const int64_t model = model_id(lib, name, 1);
    const int next = latest_version(lib, model) + 1;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(lib->db, "INSERT INTO versions (model_id, version) VALUES (?, ?)", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, model);
    sqlite3_bind_int(st, 2, next);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    const int64_t version_id = sqlite3_last_insert_rowid(lib->db);
    for (int i = 0; rc == SQLITE_DONE && s == TL_OK && i < count; ++i) {
        char path[4400];
        snprintf(path, sizeof path, "%.4000s/%.31s.tlm", dir, v[i].name);
        uint8_t *data;
        size_t size;
        if (tl_read_file(path, &data, &size) != TL_OK) {
            s = fail(lib, error, error_size, TL_ERR_IO, "%.200s: cannot read", path);
            break;
        }
        tl_model m;
        s = tl_model_load(&m, data, size, 0);
        if (s == TL_OK && secret_key) {
            s = tl_model_sign(data, size, secret_key);
        }
        if (s != TL_OK) {
            free(data);
            fail(lib, error, error_size, s, "%.200s: not a valid model: %s", path, tl_status_str(s));
            break;
        }
        sqlite3_prepare_v2(lib->db,
                           "INSERT INTO variants (version_id, name, exit, sparsity, bits, accuracy, bytes, macs, arena,"
                           " m4_instructions, sha256, signed, model) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL);
        sqlite3_bind_int64(st, 1, version_id);
        sqlite3_bind_text(st, 2, v[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, v[i].exit);
        sqlite3_bind_double(st, 4, v[i].sparsity);
        sqlite3_bind_int(st, 5, v[i].bits);
        sqlite3_bind_double(st, 6, v[i].accuracy);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)size);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)v[i].macs);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)v[i].arena);
        sqlite3_bind_int64(st, 10, v[i].m4_instructions);
        sqlite3_bind_blob(st, 11, m.trailer->sha256, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 12, secret_key != NULL);
        sqlite3_bind_blob(st, 13, data, (int)size, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        free(data);
    }
    for (int i = 0; rc == SQLITE_DONE && s == TL_OK && i < tag_count; ++i) {
        const char *eq = strchr(tags[i], '=');
        if (!eq || eq == tags[i]) {
            s = fail(lib, error, error_size, TL_ERR_ARG, "tag '%s' is not key=value", tags[i]);
            break;
        }
        sqlite3_prepare_v2(lib->db, "INSERT OR REPLACE INTO tags (model_id, key, value) VALUES (?, ?, ?)", -1, &st,
                           NULL);
        sqlite3_bind_int64(st, 1, model);
        sqlite3_bind_text(st, 2, tags[i], (int)(eq - tags[i]), SQLITE_STATIC);
        sqlite3_bind_text(st, 3, eq + 1, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (s == TL_OK && rc != SQLITE_DONE) {
        s = fail(lib, error, error_size, TL_ERR_IO, "cannot store: %s", sqlite3_errmsg(lib->db));
    }
    if (s != TL_OK) {
        sqlite3_exec(lib->db, "ROLLBACK", NULL, NULL, NULL); /* all or nothing */
        return s;
    }
    if (sqlite3_exec(lib->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        return fail(lib, error, error_size, TL_ERR_IO, "cannot commit: %s", sqlite3_errmsg(lib->db));
    }
    if (version) {
        *version = next;
    }
    return TL_OK;
}

tl_status tl_library_variants(tl_library *lib, const char *name, tl_variant *out, int capacity, int *count,
                              int *version, char *error, size_t error_size)
{
    *count = 0;
    const int64_t model = model_id(lib, name, 0);
    if (model < 0) {
        return fail(lib, error, error_size, TL_ERR_ARG, "no model named '%s'", name);
    }
    const int latest = latest_version(lib, model);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(lib->db,
                       "SELECT v.name, exit, sparsity, bits, accuracy, bytes, macs, arena, m4_instructions FROM variants v"
                       " JOIN versions r ON v.version_id = r.id WHERE r.model_id = ? AND r.version = ? ORDER BY v.id",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, model);
    sqlite3_bind_int(st, 2, latest);
    while (sqlite3_step(st) == SQLITE_ROW && *count < capacity) {
        tl_variant *v = &out[(*count)++];
        memset(v, 0, sizeof *v);
        snprintf(v->name, sizeof v->name, "%s", (const char *)sqlite3_column_text(st, 0));
        v->exit = sqlite3_column_int(st, 1);
        v->sparsity = (float)sqlite3_column_double(st, 2);
        v->bits = sqlite3_column_int(st, 3);
        v->accuracy = (float)sqlite3_column_double(st, 4);
        v->bytes = (uint64_t)sqlite3_column_int64(st, 5);
        v->macs = (uint64_t)sqlite3_column_int64(st, 6);
        v->arena = (uint64_t)sqlite3_column_int64(st, 7);
        v->m4_instructions = sqlite3_column_int64(st, 8);
    }
    sqlite3_finalize(st);
    if (version) {
        *version = latest;
    }
    return TL_OK;
}

tl_status tl_library_model(tl_library *lib, const char *name, int version, const char *variant, uint8_t **data,
                           size_t *size, char *error, size_t error_size)
{
    *data = NULL;
    *size = 0;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(lib->db,
                       "SELECT v.model FROM variants v JOIN versions r ON v.version_id = r.id JOIN models m ON"
                       " r.model_id = m.id WHERE m.name = ? AND r.version = ? AND v.name = ?",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, variant, -1, SQLITE_STATIC);
    tl_status s = TL_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const int n = sqlite3_column_bytes(st, 0);
        *data = aligned_alloc(16, ((size_t)n + 16) / 16 * 16);
        if (*data) {
            memcpy(*data, sqlite3_column_blob(st, 0), (size_t)n);
            *size = (size_t)n;
        } else {
            s = TL_ERR_NOMEM;
        }
    } else {
        s = fail(lib, error, error_size, TL_ERR_ARG, "no variant '%s' in version %d of '%s'", variant, version, name);
    }
    sqlite3_finalize(st);
    return s;
}

tl_status tl_library_list(tl_library *lib, void (*fn)(void *, const char *, int, int, const char *), void *ctx,
                          char *error, size_t error_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(lib->db,
                           "SELECT m.name, MAX(r.version),"
                           " (SELECT COUNT(*) FROM variants v JOIN versions r2 ON v.version_id = r2.id"
                           "   WHERE r2.model_id = m.id AND r2.version = MAX(r.version)),"
                           " (SELECT group_concat(key || '=' || value, ',') FROM tags t WHERE t.model_id = m.id)"
                           " FROM models m JOIN versions r ON r.model_id = m.id GROUP BY m.id ORDER BY m.name",
                           -1, &st, NULL) != SQLITE_OK) {
        return fail(lib, error, error_size, TL_ERR_IO, "%s", sqlite3_errmsg(lib->db));
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *tags = sqlite3_column_text(st, 3);
        fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1), sqlite3_column_int(st, 2),
           tags ? (const char *)tags : "");
    }
    sqlite3_finalize(st);
    return TL_OK;
}

tl_status tl_library_remove(tl_library *lib, const char *name, char *error, size_t error_size)
{
    sqlite3_stmt *st;
    sqlite3_prepare_v2(lib->db, "DELETE FROM models WHERE name = ?", -1, &st, NULL);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return fail(lib, error, error_size, TL_ERR_IO, "%s", sqlite3_errmsg(lib->db));
    }
    if (sqlite3_changes(lib->db) == 0) {
        return fail(lib, error, error_size, TL_ERR_ARG, "no model named '%s'", name);
    }
    return TL_OK;
}
