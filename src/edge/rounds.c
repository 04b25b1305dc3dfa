/* rounds.c - federated rounds in the model library (library.h): which
 * round of a model is open and the updates it has received, in the same
 * database as the models, so a restarted server goes on where it stopped. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "library_db.h"
#include "tinylarge/host.h"
#include "tinylarge/learn.h"

#define ROUND_COLUMNS "id, round, needed, value_count, base_version, open, " \
                      "(SELECT COUNT(*) FROM fl_updates WHERE round_id = fl_rounds.id), mode, phase, " \
                      "phase_started, clients, degree, threshold, " \
                      "(SELECT COUNT(*) FROM fl_secagg_keys WHERE round_id = fl_rounds.id), " \
                      "(SELECT COUNT(*) FROM fl_secagg_boxes WHERE round_id = fl_rounds.id), " \
                      "(SELECT COUNT(*) FROM fl_secagg_opened WHERE round_id = fl_rounds.id)"

/* Reads a row of ROUND_COLUMNS. */
static void read_round(tl_db_stmt *st, int64_t *id, tl_round_state *r)
{
    *id = tl_db_column_int64(st, 0);
    r->round = (int)tl_db_column_int64(st, 1);
    r->needed = (int)tl_db_column_int64(st, 2);
    r->value_count = (uint32_t)tl_db_column_int64(st, 3);
    r->base_version = (int)tl_db_column_int64(st, 4);
    r->open = (int)tl_db_column_int64(st, 5);
    r->received = (int)tl_db_column_int64(st, 6);
    r->mode = (tl_round_mode)tl_db_column_int64(st, 7);
    r->phase = (tl_round_phase)tl_db_column_int64(st, 8);
    r->phase_started = tl_db_column_double(st, 9);
    r->clients = (int)tl_db_column_int64(st, 10);
    r->degree = (int)tl_db_column_int64(st, 11);
    r->threshold = (int)tl_db_column_int64(st, 12);
    r->advertised = (int)tl_db_column_int64(st, 13);
    r->dealt = (int)tl_db_column_int64(st, 14);
    r->opened = (int)tl_db_column_int64(st, 15);
}

int tl_round_find(tl_library *lib, const char *name, int round, int64_t *id, tl_round_state *r)
{
    tl_db_stmt *st = tl_db_prepare(tl_library_db(lib), round > 0 ? "SELECT " ROUND_COLUMNS " FROM fl_rounds "
                                                                     "WHERE model = ? AND round = ?"
                                                                   : "SELECT " ROUND_COLUMNS " FROM fl_rounds "
                                                                     "WHERE model = ? ORDER BY round DESC LIMIT 1");
    if (!st) {
        return -1;
    }
    tl_db_bind_text(st, 1, name, -1);
    if (round > 0) {
        tl_db_bind_int64(st, 2, round);
    }
    const int rc = tl_db_step(st);
    if (rc == 1) {
        read_round(st, id, r);
    }
    tl_db_finalize(st);
    return rc;
}

tl_status tl_round_current(tl_library *lib, const char *name, tl_round_state *r, char *error, size_t error_size)
{
    int64_t id;
    memset(r, 0, sizeof *r);
    const int rc = tl_round_find(lib, name, 0, &id, r);
    if (rc < 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    return rc == 1 ? TL_OK : tl_library_fail(lib, error, error_size, TL_ERR_ARG, "no round of '%s'", name);
}

tl_status tl_round_open(tl_library *lib, const char *name, int needed, uint32_t value_count, int base_version,
                        tl_round_mode mode, tl_round_state *r, char *error, size_t error_size)
{
    if (needed < 1 || value_count == 0 || value_count > (64u << 20)) {
        return tl_library_fail(lib, error, error_size, TL_ERR_ARG, "a round needs >= 1 update of 1 to 2^26 values");
    }
    if (mode == TL_ROUND_SECURE && needed < 3) {
        return tl_library_fail(lib, error, error_size, TL_ERR_ARG, "a secure round needs >= 3 devices (with two, "
                               "each learns the other's update from the sum)");
    }
    int64_t id;
    memset(r, 0, sizeof *r);
    int rc = tl_round_find(lib, name, 0, &id, r);
    if (rc == 1 && r->open) {
        /* A server restarting into a secure round gives its phase a fresh
         * timeout: the time it was down, when devices could not reach it,
         * does not count against them. */
        return r->mode == TL_ROUND_SECURE && r->phase != TL_PHASE_KEYS && r->phase != TL_PHASE_DONE
                   ? tl_round_set_phase(lib, id, r->phase, r, error, error_size)
                   : TL_OK;
    }
    const int next = rc == 1 ? r->round + 1 : 1;
    tl_db_stmt *st = rc < 0 ? NULL : tl_db_prepare(tl_library_db(lib),
                                                   "INSERT INTO fl_rounds (model, round, needed, value_count, "
                                                   "base_version, mode, phase, phase_started) "
                                                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (st) {
        tl_db_bind_text(st, 1, name, -1);
        tl_db_bind_int64(st, 2, next);
        tl_db_bind_int64(st, 3, needed);
        tl_db_bind_int64(st, 4, value_count);
        tl_db_bind_int64(st, 5, base_version);
        tl_db_bind_int64(st, 6, mode);
        tl_db_bind_int64(st, 7, mode == TL_ROUND_SECURE ? TL_PHASE_KEYS : TL_PHASE_UPDATES);
        tl_db_bind_double(st, 8, tl_wall_seconds());
        rc = tl_db_step(st);
        tl_db_finalize(st);
    }
    if (!st || rc < 0 || tl_round_find(lib, name, next, &id, r) != 1) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "cannot open round %d of '%s': %s", next, name,
                               tl_db_error(tl_library_db(lib)));
    }
    return TL_OK;
}

tl_status tl_round_submit(tl_library *lib, const char *name, int round, const char *device, double weight,
                          const void *values, size_t size, tl_round_state *r, char *error, size_t error_size)
{
    int64_t id;
    memset(r, 0, sizeof *r);
    const int rc = tl_round_find(lib, name, round, &id, r);
    if (rc < 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    if (rc == 0 || !r->open) {
        return tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d of '%s' is not open", round, name);
    }
    const uint32_t words = r->value_count + (r->mode == TL_ROUND_PLAIN ? 0u : 1u); /* + the weight */
    if (size != (size_t)words * 4) {
        return tl_library_fail(lib, error, error_size, TL_ERR_SHAPE, "an update of round %d holds %u %s (%u "
                               "bytes), not %zu bytes", round, words, r->mode == TL_ROUND_PLAIN ? "values" : "words",
                               words * 4, size);
    }
    if (r->mode == TL_ROUND_SECURE) {
        const tl_status s = tl_round_check_secure(lib, id, r, TL_PHASE_UPDATES, device, "its update", error,
                                                  error_size);
        if (s != TL_OK) {
            return s;
        }
    }
    if (!(weight > 0.0 && weight <= 1e9) || !device[0] || strlen(device) > 63) {
        return tl_library_fail(lib, error, error_size, TL_ERR_ARG, "a weight in (0, 1e9] and a device name of 1 to "
                               "63 characters");
    }
    for (uint32_t i = 0; r->mode == TL_ROUND_PLAIN && i < r->value_count; ++i) {
        float v;
        memcpy(&v, (const uint8_t *)values + 4u * i, 4);
        if (!isfinite(v)) {
            return tl_library_fail(lib, error, error_size, TL_ERR_ARG, "value %u of the update is not finite", i);
        }
    }
    tl_status s = tl_round_store(lib, id, "fl_updates", "data", device, &weight, values, size, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    if (tl_round_find(lib, name, round, &id, r) != 1) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    if (r->mode == TL_ROUND_SECURE && r->received == r->dealt) {
        return tl_round_set_phase(lib, id, TL_PHASE_OPEN, r, error, error_size); /* every live device's is in */
    }
    return TL_OK;
}

tl_status tl_round_updates(tl_library *lib, const char *name, int round,
                           void (*fn)(void *ctx, const char *device, double weight, const float *values,
                                      uint32_t count),
                           void *ctx, char *error, size_t error_size)
{
    tl_db_stmt *st = tl_db_prepare(tl_library_db(lib),
                                   "SELECT u.device, u.weight, u.data FROM fl_updates u JOIN fl_rounds r "
                                   "ON r.id = u.round_id WHERE r.model = ? AND r.round = ? ORDER BY u.device");
    if (!st) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    tl_db_bind_text(st, 1, name, -1);
    tl_db_bind_int64(st, 2, round);
    int rc = 0;
    tl_status s = TL_OK;
    while (s == TL_OK && (rc = tl_db_step(st)) == 1) {
        size_t size = 0;
        const void *blob = tl_db_column_blob(st, 2, &size);
        float *values = malloc(size ? size : 1); /* aligned for the floats the blob may not be */
        if (!values) {
            s = TL_ERR_NOMEM;
            break;
        }
        memcpy(values, blob, size);
        fn(ctx, tl_db_column_text(st, 0), tl_db_column_double(st, 1), values, (uint32_t)(size / 4));
        free(values);
    }
    tl_db_finalize(st);
    return s == TL_OK && rc == 0 ? TL_OK
                                 : tl_library_fail(lib, error, error_size, s == TL_OK ? TL_ERR_IO : s, "%s",
                                                   tl_db_error(tl_library_db(lib)));
}

tl_status tl_round_close(tl_library *lib, const char *name, int round, char *error, size_t error_size)
{
    tl_db_stmt *st = tl_db_prepare(tl_library_db(lib), "UPDATE fl_rounds SET open = 0 WHERE model = ? AND round = ?");
    int rc = -1;
    if (st) {
        tl_db_bind_text(st, 1, name, -1);
        tl_db_bind_int64(st, 2, round);
        rc = tl_db_step(st);
    }
    tl_db_finalize(st);
    return rc >= 0 ? TL_OK
                   : tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
}

tl_status tl_round_store(tl_library *lib, int64_t id, const char *table, const char *column, const char *device,
                         const double *weight, const void *data, size_t size, char *error, size_t error_size)
{
    tl_db *db = tl_library_db(lib);
    char del_sql[128], ins_sql[128];
    snprintf(del_sql, sizeof del_sql, "DELETE FROM %s WHERE round_id = ? AND device = ?", table);
    snprintf(ins_sql, sizeof ins_sql, "INSERT INTO %s (round_id, device, %s%s) VALUES (?, ?, ?%s)", table, column,
             weight ? ", weight" : "", weight ? ", ?" : "");
    tl_db_stmt *del = tl_db_prepare(db, del_sql), *ins = tl_db_prepare(db, ins_sql);
    int ok = del && ins && tl_db_begin(db) == TL_OK;
    if (ok) {
        tl_db_bind_int64(del, 1, id);
        tl_db_bind_text(del, 2, device, -1);
        tl_db_bind_int64(ins, 1, id);
        tl_db_bind_text(ins, 2, device, -1);
        tl_db_bind_blob(ins, 3, data, size);
        if (weight) {
            tl_db_bind_double(ins, 4, *weight);
        }
        ok = tl_db_step(del) >= 0 && tl_db_step(ins) >= 0;
        if (ok) {
            ok = tl_db_commit(db) == TL_OK;
        } else {
            tl_db_rollback(db);
        }
    }
    tl_db_finalize(del);
    tl_db_finalize(ins);
    return ok ? TL_OK : tl_library_fail(lib, error, error_size, TL_ERR_IO, "cannot store %s: %s", table,
                                        tl_db_error(db));
}

int tl_round_complete(const tl_round_state *r)
{
    return r->open && (r->mode == TL_ROUND_SECURE ? r->phase == TL_PHASE_DONE : r->received >= r->needed);
}

int32_t tl_round_fixed_limit(const tl_round_state *r)
{
    return INT32_MAX / (r->needed > 1 ? r->needed : 1);
}

tl_status tl_library_learnable(tl_library *lib, const char *name, int *version, tl_variant *variant, uint8_t **data,
                               size_t *size, char *error, size_t error_size)
{
    enum { CAP = TL_CATALOGUE_MAX_VARIANTS };
    tl_variant *v = malloc(sizeof(tl_variant) * CAP);
    int count = 0;
    tl_status s = v ? tl_library_variants(lib, name, v, CAP, &count, version, error, error_size) : TL_ERR_NOMEM;
    *data = NULL;
    for (int i = 0; s == TL_OK && i < count; ++i) {
        uint8_t *bytes = NULL;
        size_t n = 0;
        tl_model m;
        s = tl_library_model(lib, name, *version, v[i].name, 0, &bytes, &n, error, error_size);
        if (s == TL_OK && tl_model_load(&m, bytes, n, 0) == TL_OK && tl_learn_work_size(&m, NULL) > 0) {
            *variant = v[i];
            *data = bytes;
            *size = n;
            break;
        }
        free(bytes);
    }
    free(v);
    if (s == TL_OK && !*data) {
        s = tl_library_fail(lib, error, error_size, TL_ERR_UNSUPPORTED, "'%s' version %d has no variant with a head "
                            "a device can learn", name, *version);
    }
    return s;
}
