/* library.c - the model library: every model's variant catalogue, the
 * variants' bytes (whole .tlm and progressive .tlp), signatures, context
 * tags and publication history, behind one interface with two backends
 * (db.h): a SQLite file, the embedded default, or a PostgreSQL database
 * that several edge servers share.
 *
 * Schema changes are numbered migrations, each applied in a transaction;
 * a library newer than the program is refused rather than misread.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "db.h"
#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/library.h"
#include "tinylarge/signing.h"
#include "tinylarge/format.h"
#include "tinylarge/host.h"
#include "tinylarge/update.h"

#include "library_db.h"

tl_db *tl_library_db(tl_library *lib)
{
    return lib->db;
}

tl_status tl_library_fail(tl_library *lib, char *error, size_t size, tl_status s, const char *fmt, ...)
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
#define fail tl_library_fail

/* Migration k brings the schema from version k to k + 1; the same tables
 * in each backend's dialect. */
static const char *const sqlite_migrations[] = {
    "CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE versions (id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL, published_at TEXT NOT NULL DEFAULT (datetime('now')), UNIQUE (model_id, version));"
    "CREATE TABLE variants (id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL, exit INTEGER, sparsity REAL, bits INTEGER, accuracy REAL, bytes INTEGER, macs INTEGER,"
    "  arena INTEGER, m4_instructions INTEGER, sha256 BLOB NOT NULL, signed INTEGER NOT NULL, model BLOB NOT NULL,"
    "  UNIQUE (version_id, name));"
    "CREATE TABLE tags (model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE, key TEXT NOT NULL,"
    "  value TEXT NOT NULL, PRIMARY KEY (model_id, key));",
    /* 2: the progressive (.tlp) form of each variant and the signature of its header */
    "ALTER TABLE variants ADD COLUMN progressive BLOB;"
    "ALTER TABLE variants ADD COLUMN progressive_signature BLOB;",
    /* 3: the smallest useful progressive prefix, for the planner */
    "ALTER TABLE variants ADD COLUMN prefix_planes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE variants ADD COLUMN prefix_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE variants ADD COLUMN prefix_accuracy REAL NOT NULL DEFAULT 0;",
    /* 4: the dense form of a pruned or int4 variant, for densifying devices */
    "ALTER TABLE variants ADD COLUMN dense_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE variants ADD COLUMN dense_m4_instructions INTEGER NOT NULL DEFAULT -1;",
    /* 5: the signed manifest of each variant (update.h) and the sequence
     * number of each publication: one counter for the whole library that
     * only rises, removals included (devices keep the highest they saw) */
    "ALTER TABLE versions ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE variants ADD COLUMN envelope BLOB;"
    "CREATE TABLE publications (sequence INTEGER NOT NULL);"
    "INSERT INTO publications (sequence) VALUES (0);",
    /* 6: federated rounds (rounds.c): each round of a model and the
     * updates received in it, so a restarted server goes on with the round */
    "CREATE TABLE fl_rounds (id INTEGER PRIMARY KEY, model TEXT NOT NULL, round INTEGER NOT NULL,"
    "  needed INTEGER NOT NULL, value_count INTEGER NOT NULL, base_version INTEGER NOT NULL,"
    "  open INTEGER NOT NULL DEFAULT 1, UNIQUE (model, round));"
    "CREATE TABLE fl_updates (round_id INTEGER NOT NULL REFERENCES fl_rounds(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL, weight REAL NOT NULL, data BLOB NOT NULL, PRIMARY KEY (round_id, device));",
    /* 7: secure rounds (secure_rounds.c): the round's mode and phase, and
     * the devices' keys, sealed shares and opened shares, so a restarted
     * server goes on with a secure round too */
    "ALTER TABLE fl_rounds ADD COLUMN mode INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fl_rounds ADD COLUMN phase INTEGER NOT NULL DEFAULT 2;"
    "ALTER TABLE fl_rounds ADD COLUMN clients INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fl_rounds ADD COLUMN degree INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fl_rounds ADD COLUMN threshold INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fl_rounds ADD COLUMN phase_started REAL NOT NULL DEFAULT 0;"
    "CREATE TABLE fl_secagg_keys (round_id INTEGER NOT NULL REFERENCES fl_rounds(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL, idx INTEGER NOT NULL DEFAULT -1, keys BLOB NOT NULL, PRIMARY KEY (round_id, device));"
    "CREATE TABLE fl_secagg_boxes (round_id INTEGER NOT NULL REFERENCES fl_rounds(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL, boxes BLOB NOT NULL, PRIMARY KEY (round_id, device));"
    "CREATE TABLE fl_secagg_opened (round_id INTEGER NOT NULL REFERENCES fl_rounds(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL, shares BLOB NOT NULL, PRIMARY KEY (round_id, device));",
};
static const char *const pg_migrations[] = {
    "CREATE TABLE models (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE versions (id BIGSERIAL PRIMARY KEY, model_id BIGINT NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL, published_at TIMESTAMPTZ NOT NULL DEFAULT now(), UNIQUE (model_id, version));"
    "CREATE TABLE variants (id BIGSERIAL PRIMARY KEY, version_id BIGINT NOT NULL REFERENCES versions(id) ON DELETE"
    "  CASCADE, name TEXT NOT NULL, exit INTEGER, sparsity DOUBLE PRECISION, bits INTEGER, accuracy DOUBLE PRECISION,"
    "  bytes BIGINT, macs BIGINT, arena BIGINT, m4_instructions BIGINT, sha256 BYTEA NOT NULL, signed INTEGER NOT NULL,"
    "  model BYTEA NOT NULL, UNIQUE (version_id, name));"
    "CREATE TABLE tags (model_id BIGINT NOT NULL REFERENCES models(id) ON DELETE CASCADE, key TEXT NOT NULL,"
    "  value TEXT NOT NULL, PRIMARY KEY (model_id, key));",
    "ALTER TABLE variants ADD COLUMN progressive BYTEA;"
    "ALTER TABLE variants ADD COLUMN progressive_signature BYTEA;",
    "ALTER TABLE variants ADD COLUMN prefix_planes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE variants ADD COLUMN prefix_bytes BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE variants ADD COLUMN prefix_accuracy DOUBLE PRECISION NOT NULL DEFAULT 0;",
    "ALTER TABLE variants ADD COLUMN dense_bytes BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE variants ADD COLUMN dense_m4_instructions BIGINT NOT NULL DEFAULT -1;",
    "ALTER TABLE versions ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE variants ADD COLUMN envelope BYTEA;"
    "CREATE TABLE publications (sequence BIGINT NOT NULL);"
    "INSERT INTO publications (sequence) VALUES (0);",
    "CREATE TABLE fl_rounds (id BIGSERIAL PRIMARY KEY, model TEXT NOT NULL, round INTEGER NOT NULL,"
    "  needed INTEGER NOT NULL, value_count BIGINT NOT NULL, base_version INTEGER NOT NULL,"
    "  open INTEGER NOT NULL DEFAULT 1, UNIQUE (model, round));"
    "CREATE TABLE fl_updates (round_id BIGINT NOT NULL REFERENCES fl_rounds(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL, weight DOUBLE PRECISION NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (round_id, device));",
    "ALTER TABLE fl_rounds ADD COLUMN mode INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fl_rounds ADD COLUMN phase INTEGER NOT NULL DEFAULT 2;"
    "ALTER TABLE fl_rounds ADD COLUMN clients INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fl_rounds ADD COLUMN degree INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fl_rounds ADD COLUMN threshold INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE fl_rounds ADD COLUMN phase_started DOUBLE PRECISION NOT NULL DEFAULT 0;"
    "CREATE TABLE fl_secagg_keys (round_id BIGINT NOT NULL REFERENCES fl_rounds(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL, idx INTEGER NOT NULL DEFAULT -1, keys BYTEA NOT NULL, PRIMARY KEY (round_id, device));"
    "CREATE TABLE fl_secagg_boxes (round_id BIGINT NOT NULL REFERENCES fl_rounds(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL, boxes BYTEA NOT NULL, PRIMARY KEY (round_id, device));"
    "CREATE TABLE fl_secagg_opened (round_id BIGINT NOT NULL REFERENCES fl_rounds(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL, shares BYTEA NOT NULL, PRIMARY KEY (round_id, device));",
};
enum { SCHEMA_VERSION = sizeof sqlite_migrations / sizeof sqlite_migrations[0] };
typedef char check_migrations[sizeof pg_migrations == sizeof sqlite_migrations ? 1 : -1];

static tl_status migrate(tl_library *lib, char *error, size_t error_size)
{
    const char *const *migrations = tl_db_is_postgres(lib->db) ? pg_migrations : sqlite_migrations;
    if (tl_db_begin(lib->db) != TL_OK) {
        return fail(lib, error, error_size, TL_ERR_IO, "cannot start a transaction: %s", tl_db_error(lib->db));
    }
    int current = 0;
    if (tl_db_schema_version(lib->db, &current) != TL_OK) {
        tl_status s = fail(lib, error, error_size, TL_ERR_FORMAT, "not a library (%s)", tl_db_error(lib->db));
        tl_db_rollback(lib->db);
        return s;
    }
    if (current > SCHEMA_VERSION) {
        tl_db_rollback(lib->db);
        return fail(lib, error, error_size, TL_ERR_VERSION, "schema version %d is newer than this tinylarge (%d)",
                    current, SCHEMA_VERSION);
    }
    for (int v = current; v < SCHEMA_VERSION; ++v) {
        if (tl_db_exec(lib->db, migrations[v]) != TL_OK || tl_db_set_schema_version(lib->db, v + 1) != TL_OK) {
            tl_status s = fail(lib, error, error_size, TL_ERR_IO, "migration %d failed: %s", v + 1,
                               tl_db_error(lib->db));
            tl_db_rollback(lib->db);
            return s;
        }
    }
    if (tl_db_commit(lib->db) != TL_OK) {
        return fail(lib, error, error_size, TL_ERR_IO, "cannot commit the schema: %s", tl_db_error(lib->db));
    }
    return TL_OK;
}

tl_status tl_library_open(const char *target, tl_library **out, char *error, size_t error_size)
{
    *out = NULL;
    tl_library *lib = calloc(1, sizeof *lib);
    if (!lib) {
        return TL_ERR_NOMEM;
    }
    /* Name the library in messages, but never print a password. */
    snprintf(lib->path, sizeof lib->path, "%s", target);
    if (tl_db_target_is_postgres(target) && strstr(target, "password")) {
        snprintf(lib->path, sizeof lib->path, "PostgreSQL library");
    }
    char why[256] = "";
    tl_status s = tl_db_open(target, &lib->db, why, sizeof why);
    if (s != TL_OK) {
        s = fail(lib, error, error_size, s, "%s", why);
        free(lib);
        return s;
    }
    s = migrate(lib, error, error_size);
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
        tl_db_close(lib->db);
        free(lib);
    }
}

/* One integer from a query with up to two bound values (text, int). */
static int64_t query_int(tl_library *lib, const char *sql, const char *text, int64_t value, int64_t otherwise)
{
    tl_db_stmt *st = tl_db_prepare(lib->db, sql);
    int64_t v = otherwise;
    if (st) {
        if (text) {
            tl_db_bind_text(st, 1, text, -1);
        } else {
            tl_db_bind_int64(st, 1, value);
        }
        if (tl_db_step(st) == 1 && !tl_db_column_is_null(st, 0)) {
            v = tl_db_column_int64(st, 0);
        }
    }
    tl_db_finalize(st);
    return v;
}

static int64_t model_id(tl_library *lib, const char *name, int create)
{
    if (create) {
        tl_db_stmt *st = tl_db_prepare(lib->db, "INSERT INTO models (name) VALUES (?) ON CONFLICT (name) DO NOTHING");
        if (st) {
            tl_db_bind_text(st, 1, name, -1);
            tl_db_step(st);
        }
        tl_db_finalize(st);
    }
    return query_int(lib, "SELECT id FROM models WHERE name = ?", name, 0, -1);
}

static int latest_version(tl_library *lib, int64_t model)
{
    return (int)query_int(lib, "SELECT COALESCE(MAX(version), 0) FROM versions WHERE model_id = ?", NULL, model, 0);
}

/* Sets a model's tag (key_length -1: key is NUL-terminated), replacing its value. */
static tl_status put_tag(tl_library *lib, int64_t model, const char *key, int key_length, const char *value)
{
    tl_db_stmt *st = tl_db_prepare(lib->db, "INSERT INTO tags (model_id, key, value) VALUES (?, ?, ?)"
                                            " ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value");
    if (st) {
        tl_db_bind_int64(st, 1, model);
        tl_db_bind_text(st, 2, key, key_length);
        tl_db_bind_text(st, 3, value, -1);
    }
    const int step = tl_db_step(st);
    tl_db_finalize(st);
    return step < 0 ? TL_ERR_IO : TL_OK;
}

/* Where a variant is published: its model's name, version and sequence. */
typedef struct publication {
    const char *name;
    int version;
    uint64_t sequence;
} publication;

/* The signed manifest a device checks before it takes the variant. */
static tl_status seal_variant(const publication *pub, const tl_variant *v, const tl_model *m, const uint8_t *tlp,
                              size_t tlp_size, const uint8_t *secret_key, uint8_t *envelope, size_t *envelope_size)
{
    tl_signed_manifest man;
    memset(&man, 0, sizeof man);
    snprintf(man.model, sizeof man.model, "%.63s", pub->name);
    snprintf(man.variant, sizeof man.variant, "%.31s", v->name);
    snprintf(man.target, sizeof man.target, TL_MANIFEST_ANY_TARGET); /* int8 models run on every device class */
    man.version = (uint32_t)pub->version;
    man.sequence = pub->sequence;
    man.size = m->size;
    memcpy(man.digest, m->trailer->sha256, 32);
    if (tlp) {
        man.stream_size = (uint32_t)tlp_size;
        crypto_hash_sha256(man.stream_header_digest, tlp, sizeof(tl_progressive_header));
    }
    return tl_manifest_seal(&man, secret_key, envelope, TL_MANIFEST_MAX_ENVELOPE, envelope_size);
}

/* Stores one variant: the model (signed when a key is given), its
 * progressive stream, the signature of the stream's header, and its signed
 * manifest. */
static tl_status store_variant(tl_library *lib, int64_t version_id, const publication *pub, const tl_variant *v,
                               const char *path, const uint8_t *secret_key, char *error, size_t error_size)
{
    uint8_t *data, *tlp = NULL;
    size_t size, tlp_size = 0;
    if (tl_read_file(path, &data, &size) != TL_OK) {
        return fail(lib, error, error_size, TL_ERR_IO, "%.200s: cannot read", path);
    }
    tl_model m;
    tl_status s = tl_model_load(&m, data, size, 0);
    if (s == TL_OK && secret_key) {
        s = tl_model_sign(data, size, secret_key);
    }
    if (s != TL_OK) {
        free(data);
        return fail(lib, error, error_size, s, "%.200s: not a valid model: %s", path, tl_status_str(s));
    }
    /* Encoded after signing: a full decode is then the signed model. */
    uint8_t tlp_sig[64];
    if (tl_progressive_encode(data, size, &tlp, &tlp_size, NULL) == TL_OK && secret_key) {
        crypto_sign_detached(tlp_sig, NULL, tlp, sizeof(tl_progressive_header), secret_key);
    }
    uint8_t envelope[TL_MANIFEST_MAX_ENVELOPE];
    size_t envelope_size = 0;
    s = seal_variant(pub, v, &m, tlp, tlp_size, secret_key, envelope, &envelope_size);
    if (s != TL_OK) {
        free(tlp);
        free(data);
        return fail(lib, error, error_size, s, "cannot write the manifest of %s (name or variant too long?)", v->name);
    }
    tl_db_stmt *st = tl_db_prepare(lib->db,
                                   "INSERT INTO variants (version_id, name, exit, sparsity, bits, accuracy, bytes, macs,"
                                   " arena, m4_instructions, sha256, signed, model, progressive, progressive_signature,"
                                   " prefix_planes, prefix_bytes, prefix_accuracy, dense_bytes, dense_m4_instructions,"
                                   " envelope) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (st) {
        tl_db_bind_int64(st, 1, version_id);
        tl_db_bind_text(st, 2, v->name, -1);
        tl_db_bind_int64(st, 3, v->exit);
        tl_db_bind_double(st, 4, v->sparsity);
        tl_db_bind_int64(st, 5, v->bits);
        tl_db_bind_double(st, 6, v->accuracy);
        tl_db_bind_int64(st, 7, (int64_t)size);
        tl_db_bind_int64(st, 8, (int64_t)v->macs);
        tl_db_bind_int64(st, 9, (int64_t)v->arena);
        tl_db_bind_int64(st, 10, v->m4_instructions);
        tl_db_bind_blob(st, 11, m.trailer->sha256, 32);
        tl_db_bind_int64(st, 12, secret_key != NULL);
        tl_db_bind_blob(st, 13, data, size);
        if (tlp) {
            tl_db_bind_blob(st, 14, tlp, tlp_size);
        }
        if (tlp && secret_key) {
            tl_db_bind_blob(st, 15, tlp_sig, sizeof tlp_sig);
        }
        tl_db_bind_int64(st, 16, tlp ? v->prefix_planes : 0);
        tl_db_bind_int64(st, 17, tlp ? (int64_t)v->prefix_bytes : 0);
        tl_db_bind_double(st, 18, tlp ? v->prefix_accuracy : 0);
        /* The dense size from the model itself; its instructions from the catalogue. */
        uint32_t dense_size = 0;
        const int packed = tl_model_packed_filters(&m) > 0 && tl_model_dense_size(&m, &dense_size) == TL_OK;
        tl_db_bind_int64(st, 19, packed ? dense_size : 0);
        tl_db_bind_int64(st, 20, packed && v->dense_m4_instructions > 0 ? v->dense_m4_instructions : -1);
        tl_db_bind_blob(st, 21, envelope, envelope_size);
    }
    if (tl_db_step(st) < 0) {
        s = fail(lib, error, error_size, TL_ERR_IO, "cannot store %s: %s", v->name, tl_db_error(lib->db));
    }
    tl_db_finalize(st);
    free(tlp);
    free(data);
    return s;
}

tl_status tl_library_publish(tl_library *lib, const char *name, const char *dir, const uint8_t *secret_key,
                             const char *const *tags, int tag_count, int *version, char *error, size_t error_size)
{
    char csv[4200];
    snprintf(csv, sizeof csv, "%.4000s/catalogue.csv", dir);
    tl_variant v[TL_CATALOGUE_MAX_VARIANTS];
    int count;
    tl_status s = tl_catalogue_read(csv, v, TL_CATALOGUE_MAX_VARIANTS, &count, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    if (count == 0) {
        return fail(lib, error, error_size, TL_ERR_FORMAT, "%.200s lists no variants", csv);
    }
    if (!name[0] || strlen(name) > TL_MANIFEST_MAX_MODEL) {
        return fail(lib, error, error_size, TL_ERR_ARG, "a model name has 1 to %u bytes ('%.80s%s' has %zu)",
                    TL_MANIFEST_MAX_MODEL, name, strlen(name) > 80 ? "..." : "", strlen(name));
    }
    /* Names and tags keep to tl_text_plain's characters: they travel in
     * CoAP queries and paths as they are, and cannot split one. */
    if (tl_text_plain(name, strlen(name)) != strlen(name)) {
        return fail(lib, error, error_size, TL_ERR_ARG, "a model name is letters, digits, '.', '_' and '-' only"
                    " ('%.80s' has '%c')", name, name[tl_text_plain(name, strlen(name))]);
    }
    size_t tag_bytes = 0;
    for (int i = 0; i < tag_count; ++i) {
        const char *eq = strchr(tags[i], '=');
        if (!eq || eq == tags[i] || !eq[1]) {
            return fail(lib, error, error_size, TL_ERR_ARG, "tag '%.80s' is not key=value", tags[i]);
        }
        const size_t key = (size_t)(eq - tags[i]), value = strlen(eq + 1);
        if (tl_text_plain(tags[i], key) != key || tl_text_plain(eq + 1, value) != value || key > 31 || value > 63) {
            return fail(lib, error, error_size, TL_ERR_ARG, "tag '%.80s': a key of 1 to 31 and a value of 1 to 63"
                        " letters, digits, '.', '_' or '-'", tags[i]);
        }
        tag_bytes += key + value + 2;
    }
    if (tag_bytes > 480) {
        return fail(lib, error, error_size, TL_ERR_ARG, "the tags take %zu bytes; at most 480", tag_bytes);
    }
    if (tl_db_begin(lib->db) != TL_OK) {
        return fail(lib, error, error_size, TL_ERR_IO, "cannot start a transaction: %s", tl_db_error(lib->db));
    }
    const int64_t model = model_id(lib, name, 1);
    const int next = latest_version(lib, model) + 1;
    /* Every publication raises the library's sequence: a device's rollback
     * guard, signed in each manifest. */
    const publication pub = { name, next,
                              (uint64_t)query_int(lib, "UPDATE publications SET sequence = sequence + ? RETURNING sequence",
                                                  NULL, 1, 0) };
    if (pub.sequence == 0) {
        tl_db_rollback(lib->db);
        return fail(lib, error, error_size, TL_ERR_IO, "cannot count the publication: %s", tl_db_error(lib->db));
    }
    tl_db_stmt *st = tl_db_prepare(lib->db,
                                   "INSERT INTO versions (model_id, version, sequence) VALUES (?, ?, ?) RETURNING id");
    int64_t version_id = -1;
    if (st) {
        tl_db_bind_int64(st, 1, model);
        tl_db_bind_int64(st, 2, next);
        tl_db_bind_int64(st, 3, (int64_t)pub.sequence);
        if (tl_db_step(st) == 1) {
            version_id = tl_db_column_int64(st, 0);
        }
    }
    tl_db_finalize(st);
    if (model < 0 || version_id < 0) {
        s = fail(lib, error, error_size, TL_ERR_IO, "cannot store: %s", tl_db_error(lib->db));
    }
    for (int i = 0; s == TL_OK && i < count; ++i) {
        char path[4400];
        snprintf(path, sizeof path, "%.4000s/%.31s.tlm", dir, v[i].name);
        s = store_variant(lib, version_id, &pub, &v[i], path, secret_key, error, error_size);
    }
    for (int i = 0; s == TL_OK && i < tag_count; ++i) {
        const char *eq = strchr(tags[i], '=');
        if (put_tag(lib, model, tags[i], (int)(eq - tags[i]), eq + 1) != TL_OK) {
            s = fail(lib, error, error_size, TL_ERR_IO, "cannot store tag '%s': %s", tags[i], tl_db_error(lib->db));
        }
    }
    if (s != TL_OK) {
        tl_db_rollback(lib->db); /* all or nothing */
        return s;
    }
    if (tl_db_commit(lib->db) != TL_OK) {
        return fail(lib, error, error_size, TL_ERR_IO, "cannot commit: %s", tl_db_error(lib->db));
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
    tl_db_stmt *st = tl_db_prepare(lib->db, "SELECT v.name, exit, sparsity, bits, accuracy, bytes, macs, arena,"
                                             " m4_instructions, prefix_planes, prefix_bytes, prefix_accuracy,"
                                             " dense_bytes, dense_m4_instructions"
                                             " FROM variants v JOIN versions r ON v.version_id = r.id"
                                             " WHERE r.model_id = ? AND r.version = ? ORDER BY v.id");
    if (!st) {
        return fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(lib->db));
    }
    tl_db_bind_int64(st, 1, model);
    tl_db_bind_int64(st, 2, latest);
    while (*count < capacity && tl_db_step(st) == 1) {
        tl_variant *v = &out[(*count)++];
        memset(v, 0, sizeof *v);
        snprintf(v->name, sizeof v->name, "%s", tl_db_column_text(st, 0));
        v->exit = (int)tl_db_column_int64(st, 1);
        v->sparsity = (float)tl_db_column_double(st, 2);
        v->bits = (int)tl_db_column_int64(st, 3);
        v->accuracy = (float)tl_db_column_double(st, 4);
        v->bytes = (uint64_t)tl_db_column_int64(st, 5);
        v->macs = (uint64_t)tl_db_column_int64(st, 6);
        v->arena = (uint64_t)tl_db_column_int64(st, 7);
        v->m4_instructions = tl_db_column_int64(st, 8);
        v->prefix_planes = (uint32_t)tl_db_column_int64(st, 9);
        v->prefix_bytes = (uint64_t)tl_db_column_int64(st, 10);
        v->prefix_accuracy = (float)tl_db_column_double(st, 11);
        v->dense_bytes = (uint64_t)tl_db_column_int64(st, 12);
        v->dense_m4_instructions = tl_db_column_int64(st, 13);
    }
    tl_db_finalize(st);
    if (version) {
        *version = latest;
    }
    return TL_OK;
}

static const char variant_query[] = " FROM variants v JOIN versions r ON v.version_id = r.id JOIN models m ON"
                                    " r.model_id = m.id WHERE m.name = ? AND r.version = ? AND v.name = ?";

static tl_db_stmt *variant_select(tl_library *lib, const char *columns, const char *name, int version,
                                  const char *variant)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s%s", columns, variant_query);
    tl_db_stmt *st = tl_db_prepare(lib->db, sql);
    if (st) {
        tl_db_bind_text(st, 1, name, -1);
        tl_db_bind_int64(st, 2, version);
        tl_db_bind_text(st, 3, variant, -1);
    }
    return st;
}

tl_status tl_library_model(tl_library *lib, const char *name, int version, const char *variant, int progressive,
                           uint8_t **data, size_t *size, char *error, size_t error_size)
{
    *data = NULL;
    *size = 0;
    tl_db_stmt *st = variant_select(lib, progressive ? "v.progressive" : "v.model", name, version, variant);
    tl_status s = TL_OK;
    size_t n = 0;
    const void *blob = NULL;
    if (tl_db_step(st) == 1 && (blob = tl_db_column_blob(st, 0, &n)) != NULL && n > 0) {
        *data = aligned_alloc(16, (n + 16) / 16 * 16);
        if (*data) {
            memcpy(*data, blob, n);
            *size = n;
        } else {
            s = TL_ERR_NOMEM;
        }
    } else {
        s = fail(lib, error, error_size, TL_ERR_ARG, "no %svariant '%s' in version %d of '%s'",
                 progressive ? "progressive form of the " : "", variant, version, name);
    }
    tl_db_finalize(st);
    return s;
}

tl_status tl_library_manifest(tl_library *lib, const char *name, int version, const char *variant,
                              tl_manifest *m, char *error, size_t error_size)
{
    memset(m, 0, sizeof *m);
    tl_db_stmt *st = variant_select(lib, "v.bytes, v.sha256, v.accuracy, v.signed, length(v.progressive),"
                                         " v.progressive_signature, v.envelope", name, version, variant);
    tl_status s = TL_OK;
    if (tl_db_step(st) == 1) {
        snprintf(m->model, sizeof m->model, "%s", name);
        snprintf(m->variant, sizeof m->variant, "%s", variant);
        m->version = version;
        m->bytes = (uint64_t)tl_db_column_int64(st, 0);
        size_t n;
        const void *p = tl_db_column_blob(st, 1, &n);
        if (p && n == 32) {
            memcpy(m->sha256, p, 32);
        }
        m->accuracy = (float)tl_db_column_double(st, 2);
        m->is_signed = (int)tl_db_column_int64(st, 3);
        m->tlp_bytes = tl_db_column_is_null(st, 4) ? 0 : (uint64_t)tl_db_column_int64(st, 4);
        p = tl_db_column_blob(st, 5, &n);
        if (p && n == 64) {
            memcpy(m->tlp_signature, p, 64);
            m->tlp_signed = 1;
        }
        p = tl_db_column_blob(st, 6, &n); /* none for a version published before manifests were signed */
        if (p && n <= sizeof m->envelope) {
            memcpy(m->envelope, p, n);
            m->envelope_size = n;
        }
    } else {
        s = fail(lib, error, error_size, TL_ERR_ARG, "no variant '%s' in version %d of '%s'", variant, version, name);
    }
    tl_db_finalize(st);
    return s;
}

/* Does the context "k=v&k=v" hold key=value (the pair of `pair_len` bytes)? */
static int context_has(const char *context, const char *pair, size_t pair_len)
{
    for (const char *p = context; p && *p;) {
        const char *amp = strchr(p, '&');
        const size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n == pair_len && !strncmp(p, pair, n)) {
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

int tl_context_fit(const char *context, const char *tags)
{
    int count = 0;
    for (const char *p = tags; p && *p;) {
        const char *comma = strchr(p, ',');
        const size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!context_has(context, p, n)) {
            return -1;
        }
        ++count;
        p = comma ? comma + 1 : NULL;
    }
    return count;
}

typedef struct match_state {
    const char *context;
    char best[64];
    int best_fit;
} match_state;

static void match_one(void *ctx, const char *name, int version, int variants, const char *tags)
{
    (void)version;
    match_state *m = ctx;
    const int fit = variants > 0 ? tl_context_fit(m->context, tags) : -1;
    if (fit > m->best_fit) { /* ties keep the first name (the list is sorted) */
        snprintf(m->best, sizeof m->best, "%s", name);
        m->best_fit = fit;
    }
}

tl_status tl_library_match(tl_library *lib, const char *context, char *name, size_t name_size, char *error,
                           size_t error_size)
{
    /* A model fits when the context holds all of its tags; the most specific
     * fit (most tags) wins; an untagged model is only ever asked for by name. */
    match_state m = { context, "", 0 };
    tl_status s = tl_library_list(lib, match_one, &m, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    if (!m.best[0]) {
        return fail(lib, error, error_size, TL_ERR_ARG, "no model is tagged for the context '%s'", context);
    }
    snprintf(name, name_size, "%s", m.best);
    return TL_OK;
}

tl_status tl_library_generation(tl_library *lib, int64_t *generation)
{
    /* Grows with every publication; a removal lowers the count: either way it changes. */
    tl_db_stmt *st = tl_db_prepare(lib->db, "SELECT COALESCE(MAX(id), 0) * 65536 + COUNT(*) FROM versions");
    tl_status s = TL_ERR_IO;
    if (tl_db_step(st) == 1) {
        *generation = tl_db_column_int64(st, 0);
        s = TL_OK;
    }
    tl_db_finalize(st);
    return s;
}

tl_status tl_library_list(tl_library *lib, void (*fn)(void *, const char *, int, int, const char *), void *ctx,
                          char *error, size_t error_size)
{
    tl_db_stmt *st = tl_db_prepare(lib->db,
                                   "SELECT m.name, MAX(r.version),"
                                   " (SELECT COUNT(*) FROM variants v JOIN versions r2 ON v.version_id = r2.id"
                                   "   WHERE r2.model_id = m.id AND r2.version = MAX(r.version)), m.id"
                                   " FROM models m JOIN versions r ON r.model_id = m.id GROUP BY m.id, m.name"
                                   " ORDER BY m.name");
    if (!st) {
        return fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(lib->db));
    }
    while (tl_db_step(st) == 1) {
        char tags[512] = "";
        size_t used = 0;
        tl_db_stmt *t = tl_db_prepare(lib->db, "SELECT key, value FROM tags WHERE model_id = ? ORDER BY key");
        if (t) {
            tl_db_bind_int64(t, 1, tl_db_column_int64(st, 3));
            while (tl_db_step(t) == 1 && used < sizeof tags) {
                used += (size_t)snprintf(tags + used, sizeof tags - used, "%s%s=%s", used ? "," : "",
                                         tl_db_column_text(t, 0), tl_db_column_text(t, 1));
            }
        }
        tl_db_finalize(t);
        fn(ctx, tl_db_column_text(st, 0), (int)tl_db_column_int64(st, 1), (int)tl_db_column_int64(st, 2), tags);
    }
    tl_db_finalize(st);
    return TL_OK;
}

/* The columns of a variant row as fetch copies them, with their kinds. */
typedef enum { COPY_INT, COPY_REAL, COPY_TEXT, COPY_BLOB } copy_kind;
static const struct {
    const char *name;
    copy_kind kind;
} variant_columns[] = {
    { "name", COPY_TEXT },         { "exit", COPY_INT },           { "sparsity", COPY_REAL },
    { "bits", COPY_INT },          { "accuracy", COPY_REAL },      { "bytes", COPY_INT },
    { "macs", COPY_INT },          { "arena", COPY_INT },          { "m4_instructions", COPY_INT },
    { "sha256", COPY_BLOB },       { "signed", COPY_INT },         { "model", COPY_BLOB },
    { "progressive", COPY_BLOB },  { "progressive_signature", COPY_BLOB },
    { "prefix_planes", COPY_INT }, { "prefix_bytes", COPY_INT },   { "prefix_accuracy", COPY_REAL },
    { "dense_bytes", COPY_INT },   { "dense_m4_instructions", COPY_INT }, { "envelope", COPY_BLOB },
};
enum { VARIANT_COLUMNS = sizeof variant_columns / sizeof variant_columns[0] };

/* Copies column c of the upstream row into parameter `index` (a NULL stays unbound: NULL). */
static void copy_column(tl_db_stmt *from, int c, tl_db_stmt *to, int index)
{
    if (tl_db_column_is_null(from, c)) {
        return;
    }
    size_t size;
    const void *blob;
    switch (variant_columns[c].kind) {
    case COPY_INT: tl_db_bind_int64(to, index, tl_db_column_int64(from, c)); break;
    case COPY_REAL: tl_db_bind_double(to, index, tl_db_column_double(from, c)); break;
    case COPY_TEXT: tl_db_bind_text(to, index, tl_db_column_text(from, c), -1); break;
    default:
        blob = tl_db_column_blob(from, c, &size);
        tl_db_bind_blob(to, index, blob, size);
        break;
    }
}

tl_status tl_library_fetch(tl_library *cache, tl_library *upstream, const char *name, int *version, int *fetched,
                           char *error, size_t error_size)
{
    *fetched = 0;
    const int64_t up_model = model_id(upstream, name, 0);
    if (up_model < 0) {
        return fail(upstream, error, error_size, TL_ERR_ARG, "no model named '%s'", name);
    }
    const int up_version = latest_version(upstream, up_model);
    const int64_t sequence = query_int(upstream, "SELECT sequence FROM versions WHERE id = (SELECT id FROM versions"
                                                 " WHERE model_id = ? ORDER BY version DESC LIMIT 1)", NULL, up_model, 0);
    const int64_t have_model = model_id(cache, name, 0);
    const int have = have_model < 0 ? 0 : latest_version(cache, have_model);
    *version = have;
    if (up_version == 0 || have >= up_version) {
        return TL_OK;
    }
    char columns[600] = "";
    char marks[100] = "";
    for (int c = 0; c < VARIANT_COLUMNS; c++) {
        strcat(columns, c ? ", " : "");
        strcat(columns, variant_columns[c].name);
        strcat(marks, ",?");
    }
    char sql[1200];
    snprintf(sql, sizeof sql, "SELECT %s FROM variants WHERE version_id = (SELECT id FROM versions WHERE"
                              " model_id = ? AND version = ?) ORDER BY id", columns);
    tl_db_stmt *from = tl_db_prepare(upstream->db, sql);
    if (!from) {
        return fail(upstream, error, error_size, TL_ERR_IO, "%s", tl_db_error(upstream->db));
    }
    tl_db_bind_int64(from, 1, up_model);
    tl_db_bind_int64(from, 2, up_version);
    if (tl_db_begin(cache->db) != TL_OK) {
        tl_db_finalize(from);
        return fail(cache, error, error_size, TL_ERR_IO, "cannot start a transaction: %s", tl_db_error(cache->db));
    }
    tl_status s = TL_OK;
    const int64_t model = model_id(cache, name, 1);
    /* The version keeps its number and its publication's sequence: the
     * signed manifests name both, and devices compare the sequence. */
    tl_db_stmt *st = tl_db_prepare(cache->db, "INSERT INTO versions (model_id, version, sequence) VALUES (?, ?, ?)"
                                              " RETURNING id");
    int64_t version_id = -1;
    if (st) {
        tl_db_bind_int64(st, 1, model);
        tl_db_bind_int64(st, 2, up_version);
        tl_db_bind_int64(st, 3, sequence);
        if (tl_db_step(st) == 1) {
            version_id = tl_db_column_int64(st, 0);
        }
    }
    tl_db_finalize(st);
    if (model < 0 || version_id < 0) {
        s = fail(cache, error, error_size, TL_ERR_IO, "cannot store: %s", tl_db_error(cache->db));
    }
    snprintf(sql, sizeof sql, "INSERT INTO variants (version_id, %s) VALUES (?%s)", columns, marks);
    int rows = 0, step = 0;
    while (s == TL_OK && (step = tl_db_step(from)) == 1) {
        st = tl_db_prepare(cache->db, sql);
        if (st) {
            tl_db_bind_int64(st, 1, version_id);
            for (int c = 0; c < VARIANT_COLUMNS; c++) {
                copy_column(from, c, st, c + 2);
            }
        }
        if (tl_db_step(st) < 0) {
            s = fail(cache, error, error_size, TL_ERR_IO, "cannot store a variant of '%s': %s", name,
                     tl_db_error(cache->db));
        }
        tl_db_finalize(st);
        rows++;
    }
    if (s == TL_OK && (step < 0 || rows == 0)) {
        s = fail(upstream, error, error_size, TL_ERR_IO, "cannot read '%s' version %d: %s", name, up_version,
                 rows == 0 ? "no variants" : tl_db_error(upstream->db));
    }
    tl_db_finalize(from);
    /* Its tags, so a device's context finds it in the cache too; and the
     * cache's own sequence at least the upstream's (it only rises). */
    tl_db_stmt *tags = s == TL_OK ? tl_db_prepare(upstream->db, "SELECT key, value FROM tags WHERE model_id = ?") : NULL;
    if (tags) {
        tl_db_bind_int64(tags, 1, up_model);
        while (s == TL_OK && tl_db_step(tags) == 1) {
            if (put_tag(cache, model, tl_db_column_text(tags, 0), -1, tl_db_column_text(tags, 1)) != TL_OK) {
                s = fail(cache, error, error_size, TL_ERR_IO, "cannot store a tag: %s", tl_db_error(cache->db));
            }
        }
        tl_db_finalize(tags);
    }
    if (s == TL_OK) {
        st = tl_db_prepare(cache->db, "UPDATE publications SET sequence = ? WHERE sequence < ?");
        if (st) {
            tl_db_bind_int64(st, 1, sequence);
            tl_db_bind_int64(st, 2, sequence);
        }
        if (tl_db_step(st) < 0) {
            s = fail(cache, error, error_size, TL_ERR_IO, "cannot raise the sequence: %s", tl_db_error(cache->db));
        }
        tl_db_finalize(st);
    }
    if (s != TL_OK) {
        tl_db_rollback(cache->db);
        return s;
    }
    if (tl_db_commit(cache->db) != TL_OK) {
        return fail(cache, error, error_size, TL_ERR_IO, "cannot commit: %s", tl_db_error(cache->db));
    }
    *version = up_version;
    *fetched = 1;
    return TL_OK;
}

tl_status tl_library_remove(tl_library *lib, const char *name, char *error, size_t error_size)
{
    tl_db_stmt *st = tl_db_prepare(lib->db, "DELETE FROM models WHERE name = ? RETURNING id");
    int removed = 0, rc = -1;
    if (st) {
        tl_db_bind_text(st, 1, name, -1);
        while ((rc = tl_db_step(st)) == 1) {
            ++removed;
        }
    }
    tl_db_finalize(st);
    if (rc < 0) {
        return fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(lib->db));
    }
    if (!removed) {
        return fail(lib, error, error_size, TL_ERR_ARG, "no model named '%s'", name);
    }
    return TL_OK;
}
