/* secure_rounds.c - a secure round's state in the model library
 * (library.h): the devices' public keys, the shares they sealed for each
 * other, their masked updates (fl_updates) and the shares they opened, so
 * a server killed in any phase restarts into it. The server relays and
 * counts; the unmasking is secagg.h's. Phases move on when every device
 * expected has acted, or when the server's timeout says the rest dropped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "library_db.h"
#include "tinylarge/host.h"
#include "tinylarge/secagg.h"

static const char *phase_name(tl_round_phase phase)
{
    static const char *const names[] = { "keys", "shares", "updates", "open", "done" };
    return phase >= TL_PHASE_KEYS && phase <= TL_PHASE_DONE ? names[phase] : "unknown";
}

/* A secure round's graph, as the roster fixed it. */
static tl_secagg_params round_params(const tl_round_state *r)
{
    tl_secagg_params p = { r->clients, r->degree, r->threshold, (size_t)r->value_count + 1, 2 };
    return p;
}

tl_status tl_round_set_phase(tl_library *lib, int64_t id, tl_round_phase phase, tl_round_state *r, char *error,
                             size_t error_size)
{
    tl_db_stmt *st = tl_db_prepare(tl_library_db(lib), "UPDATE fl_rounds SET phase = ?, phase_started = ? "
                                                        "WHERE id = ?");
    int rc = -1;
    const double now = tl_wall_seconds();
    if (st) {
        tl_db_bind_int64(st, 1, phase);
        tl_db_bind_double(st, 2, now);
        tl_db_bind_int64(st, 3, id);
        rc = tl_db_step(st);
    }
    tl_db_finalize(st);
    if (rc < 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    r->phase = phase;
    r->phase_started = now;
    return TL_OK;
}

/* Rows of `table` (fl_secagg_keys on the roster, fl_secagg_boxes,
 * fl_updates) for the device in round id: 1, 0, or -1 on error. */
static int device_has(tl_library *lib, int64_t id, const char *table, const char *device)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE round_id = ? AND device = ?%s", table,
             strcmp(table, "fl_secagg_keys") ? "" : " AND idx >= 0");
    tl_db_stmt *st = tl_db_prepare(tl_library_db(lib), sql);
    int rc = -1;
    if (st) {
        tl_db_bind_int64(st, 1, id);
        tl_db_bind_text(st, 2, device, -1);
        rc = tl_db_step(st) == 1 ? tl_db_column_int64(st, 0) > 0 : -1;
    }
    tl_db_finalize(st);
    return rc;
}

tl_status tl_round_check_secure(tl_library *lib, int64_t id, const tl_round_state *r, tl_round_phase phase,
                                const char *device, const char *step, char *error, size_t error_size)
{
    if (!r->open || r->mode != TL_ROUND_SECURE) {
        return tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d is not an open secure round",
                               r->round);
    }
    if (r->phase != phase) {
        return tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d is in its %s phase: %s belongs to "
                               "the %s phase", r->round, phase_name(r->phase), step, phase_name(phase));
    }
    if (!device[0] || strlen(device) > 63) {
        return tl_library_fail(lib, error, error_size, TL_ERR_ARG, "a device name of 1 to 63 characters");
    }
    if (phase == TL_PHASE_KEYS) {
        return TL_OK;
    }
    /* Each later step needs the one before: on the roster, then dealt, then updated. */
    const char *table = phase == TL_PHASE_SHARES ? "fl_secagg_keys"
                        : phase == TL_PHASE_UPDATES ? "fl_secagg_boxes" : "fl_updates";
    const int has = device_has(lib, id, table, device);
    if (has < 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    if (!has) {
        return tl_library_fail(lib, error, error_size, TL_ERR_STATE, "%s %s in round %d, so it cannot send %s",
                               device, phase == TL_PHASE_SHARES ? "is not on the roster"
                               : phase == TL_PHASE_UPDATES ? "dealt no shares" : "sent no update",
                               r->round, step);
    }
    return TL_OK;
}

/* Finds the open secure round `round` and checks the device may take `step`. */
static tl_status find_secure(tl_library *lib, const char *name, int round, const char *device, tl_round_phase phase,
                             const char *step, int64_t *id, tl_round_state *r, char *error, size_t error_size)
{
    memset(r, 0, sizeof *r);
    const int rc = tl_round_find(lib, name, round, id, r);
    if (rc < 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    if (rc == 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d of '%s' is not open", round, name);
    }
    return tl_round_check_secure(lib, *id, r, phase, device, step, error, error_size);
}

/* The roster fixed: indices by device name (one statement: each device's
 * index is the count of names before its own), the graph for that many. */
static tl_status fix_roster(tl_library *lib, int64_t id, tl_round_state *r, char *error, size_t error_size)
{
    tl_db *db = tl_library_db(lib);
    tl_db_stmt *set = tl_db_prepare(db, "UPDATE fl_secagg_keys SET idx = (SELECT COUNT(*) FROM fl_secagg_keys k2 "
                                        "WHERE k2.round_id = fl_secagg_keys.round_id AND k2.device < "
                                        "fl_secagg_keys.device) WHERE round_id = ?");
    tl_db_stmt *graph = tl_db_prepare(db, "UPDATE fl_rounds SET clients = ?, degree = ?, threshold = ? WHERE id = ?");
    /* The dropout the graph is made for: the 30% after masking. */
    const tl_secagg_params p = tl_secagg_default(r->advertised, (size_t)r->value_count + 1, 0.3, 0.5);
    int ok = set && graph && tl_db_begin(db) == TL_OK;
    if (ok) {
        tl_db_bind_int64(set, 1, id);
        tl_db_bind_int64(graph, 1, p.clients);
        tl_db_bind_int64(graph, 2, p.degree);
        tl_db_bind_int64(graph, 3, p.threshold);
        tl_db_bind_int64(graph, 4, id);
        ok = tl_db_step(set) >= 0 && tl_db_step(graph) >= 0;
        if (ok) {
            ok = tl_db_commit(db) == TL_OK;
        } else {
            tl_db_rollback(db);
        }
    }
    tl_db_finalize(set);
    tl_db_finalize(graph);
    if (!ok) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "cannot fix round %d's roster: %s", r->round,
                               tl_db_error(db));
    }
    r->clients = p.clients;
    r->degree = p.degree;
    r->threshold = p.threshold;
    return tl_round_set_phase(lib, id, TL_PHASE_SHARES, r, error, error_size);
}

tl_status tl_round_advertise(tl_library *lib, const char *name, int round, const char *device,
                             const uint8_t keys[64], tl_round_state *r, char *error, size_t error_size)
{
    int64_t id;
    tl_status s = find_secure(lib, name, round, device, TL_PHASE_KEYS, "its keys", &id, r, error, error_size);
    if (s == TL_OK) {
        s = tl_round_store(lib, id, "fl_secagg_keys", "keys", device, NULL, keys, 64, error, error_size);
    }
    if (s == TL_OK && tl_round_find(lib, name, round, &id, r) != 1) {
        s = tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    if (s == TL_OK && r->advertised >= r->needed) {
        s = fix_roster(lib, id, r, error, error_size);
    }
    return s;
}

/* One step of a device that sends `each` bytes per neighbour (shares or
 * opened shares): checked, stored, and the round's state after in *r. */
static tl_status take_step(tl_library *lib, const char *name, int round, const char *device, tl_round_phase phase,
                           const char *step, const char *table, const char *column, const void *data, size_t size,
                           int each, int64_t *id, tl_round_state *r, char *error, size_t error_size)
{
    tl_status s = find_secure(lib, name, round, device, phase, step, id, r, error, error_size);
    if (s == TL_OK && size != (size_t)r->degree * (size_t)each) {
        s = tl_library_fail(lib, error, error_size, TL_ERR_SHAPE, "round %d: %s are %d of %d bytes (%d bytes), "
                            "not %zu bytes", r->round, step, r->degree, each, r->degree * each, size);
    }
    if (s == TL_OK) {
        s = tl_round_store(lib, *id, table, column, device, NULL, data, size, error, error_size);
    }
    if (s == TL_OK && tl_round_find(lib, name, round, id, r) != 1) {
        s = tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    return s;
}

tl_status tl_round_deal(tl_library *lib, const char *name, int round, const char *device, const void *boxes,
                        size_t size, tl_round_state *r, char *error, size_t error_size)
{
    int64_t id;
    tl_status s = take_step(lib, name, round, device, TL_PHASE_SHARES, "its shares", "fl_secagg_boxes", "boxes",
                            boxes, size, TL_SECAGG_BOX_BYTES, &id, r, error, error_size);
    if (s == TL_OK && r->dealt >= r->clients) {
        s = tl_round_set_phase(lib, id, TL_PHASE_UPDATES, r, error, error_size); /* everyone dealt */
    }
    return s;
}

tl_status tl_round_reveal(tl_library *lib, const char *name, int round, const char *device, const void *shares,
                          size_t size, tl_round_state *r, char *error, size_t error_size)
{
    int64_t id;
    tl_status s = take_step(lib, name, round, device, TL_PHASE_OPEN, "its opened shares", "fl_secagg_opened",
                            "shares", shares, size, 33, &id, r, error, error_size);
    if (s == TL_OK && r->opened >= r->received) {
        s = tl_round_set_phase(lib, id, TL_PHASE_DONE, r, error, error_size); /* every survivor opened */
    }
    return s;
}

/* The round's roster in index order: names, keys and the two flags
 * (roster[i * TL_ROUND_ROSTER_ENTRY]); its boxes by dealer (boxes[i * degree
 * * BOX], NULL if not wanted) and the opened shares by holder (opened[i *
 * degree * 33], NULL if not wanted), zeros where none came. */
typedef struct roster {
    int n;
    uint8_t *entries, *boxes, *opened;
} roster;

static void roster_free(roster *ro)
{
    free(ro->entries);
    free(ro->boxes);
    free(ro->opened);
    memset(ro, 0, sizeof *ro);
}

/* Reads blobs "SELECT k.idx, x.BLOB FROM ..." into out[idx * each]. */
static int read_by_index(tl_db *db, const char *sql, int64_t id, int n, uint8_t *out, size_t each)
{
    tl_db_stmt *st = tl_db_prepare(db, sql);
    int rc = -1;
    if (st) {
        tl_db_bind_int64(st, 1, id);
        while ((rc = tl_db_step(st)) == 1) {
            const int64_t i = tl_db_column_int64(st, 0);
            size_t size = 0;
            const void *blob = tl_db_column_blob(st, 1, &size);
            if (i >= 0 && i < n && size == each) {
                memcpy(out + (size_t)i * each, blob, each);
            }
        }
    }
    tl_db_finalize(st);
    return rc == 0;
}

static tl_status roster_read(tl_library *lib, int64_t id, const tl_round_state *r, int boxes, int opened,
                             roster *ro, char *error, size_t error_size)
{
    tl_db *db = tl_library_db(lib);
    const size_t k = (size_t)r->degree, n = (size_t)r->clients;
    memset(ro, 0, sizeof *ro);
    ro->n = r->clients;
    ro->entries = calloc(n ? n : 1, TL_ROUND_ROSTER_ENTRY);
    ro->boxes = boxes ? calloc(n * k + 1, TL_SECAGG_BOX_BYTES) : NULL;
    ro->opened = opened ? calloc(n * k + 1, 33) : NULL;
    if (!ro->entries || (boxes && !ro->boxes) || (opened && !ro->opened)) {
        roster_free(ro);
        return TL_ERR_NOMEM;
    }
    tl_db_stmt *st = tl_db_prepare(db, "SELECT k.idx, k.device, k.keys, "
                                       "(SELECT COUNT(*) FROM fl_secagg_boxes b WHERE b.round_id = k.round_id "
                                       "AND b.device = k.device), "
                                       "(SELECT COUNT(*) FROM fl_updates u WHERE u.round_id = k.round_id "
                                       "AND u.device = k.device) "
                                       "FROM fl_secagg_keys k WHERE k.round_id = ? AND k.idx >= 0");
    int rc = -1;
    if (st) {
        tl_db_bind_int64(st, 1, id);
        while ((rc = tl_db_step(st)) == 1) {
            const int64_t i = tl_db_column_int64(st, 0);
            size_t size = 0;
            const void *keys = tl_db_column_blob(st, 2, &size);
            if (i < 0 || (size_t)i >= n || size != 64) {
                continue;
            }
            uint8_t *e = ro->entries + (size_t)i * TL_ROUND_ROSTER_ENTRY;
            snprintf((char *)e, 64, "%s", tl_db_column_text(st, 1));
            memcpy(e + 64, keys, 64);
            e[128] = tl_db_column_int64(st, 3) > 0;
            e[129] = tl_db_column_int64(st, 4) > 0;
        }
    }
    tl_db_finalize(st);
    int ok = rc == 0;
    if (ok && boxes) {
        ok = read_by_index(db, "SELECT k.idx, b.boxes FROM fl_secagg_boxes b JOIN fl_secagg_keys k "
                               "ON k.round_id = b.round_id AND k.device = b.device WHERE b.round_id = ?",
                           id, r->clients, ro->boxes, k * TL_SECAGG_BOX_BYTES);
    }
    if (ok && opened) {
        ok = read_by_index(db, "SELECT k.idx, o.shares FROM fl_secagg_opened o JOIN fl_secagg_keys k "
                               "ON k.round_id = o.round_id AND k.device = o.device WHERE o.round_id = ?",
                           id, r->clients, ro->opened, k * 33);
    }
    if (!ok) {
        roster_free(ro);
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "cannot read round %d's roster: %s", r->round,
                               tl_db_error(db));
    }
    return TL_OK;
}

/* The round `round` of `name`, secure and past its keys phase. */
static tl_status find_past_keys(tl_library *lib, const char *name, int round, int64_t *id, tl_round_state *r,
                                char *error, size_t error_size)
{
    memset(r, 0, sizeof *r);
    const int rc = tl_round_find(lib, name, round, id, r);
    if (rc < 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    if (rc == 0 || r->mode != TL_ROUND_SECURE || r->phase == TL_PHASE_KEYS) {
        return tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d of '%s' is not a secure round past "
                               "its keys phase", round, name);
    }
    return TL_OK;
}

tl_status tl_round_roster(tl_library *lib, const char *name, int round, uint8_t **data, size_t *size, char *error,
                          size_t error_size)
{
    int64_t id;
    tl_round_state r;
    roster ro;
    *data = NULL;
    tl_status s = find_past_keys(lib, name, round, &id, &r, error, error_size);
    if (s == TL_OK) {
        s = roster_read(lib, id, &r, 0, 0, &ro, error, error_size);
    }
    if (s == TL_OK) {
        *data = ro.entries;
        *size = (size_t)ro.n * TL_ROUND_ROSTER_ENTRY;
        ro.entries = NULL;
        roster_free(&ro);
    }
    return s;
}

/* The roster index of `device`, or -1. */
static int index_of(const roster *ro, const char *device)
{
    for (int i = 0; i < ro->n; ++i) {
        if (!strncmp((const char *)ro->entries + (size_t)i * TL_ROUND_ROSTER_ENTRY, device, 64)) {
            return i;
        }
    }
    return -1;
}

tl_status tl_round_held(tl_library *lib, const char *name, int round, const char *device, uint8_t **data,
                        size_t *size, char *error, size_t error_size)
{
    int64_t id;
    tl_round_state r;
    roster ro;
    *data = NULL;
    tl_status s = find_past_keys(lib, name, round, &id, &r, error, error_size);
    if (s == TL_OK && r.phase < TL_PHASE_UPDATES) {
        s = tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d is still in its shares phase", round);
    }
    if (s == TL_OK) {
        s = roster_read(lib, id, &r, 1, 0, &ro, error, error_size);
    }
    if (s != TL_OK) {
        return s;
    }
    const tl_secagg_params p = round_params(&r);
    const int j = index_of(&ro, device);
    uint8_t *out = j >= 0 ? calloc((size_t)r.degree + 1, TL_SECAGG_BOX_BYTES) : NULL;
    if (j < 0) {
        s = tl_library_fail(lib, error, error_size, TL_ERR_STATE, "%s is not on round %d's roster", device, round);
    } else if (!out) {
        s = TL_ERR_NOMEM;
    }
    for (int q = 0; s == TL_OK && q < r.degree; ++q) {
        const int i = tl_secagg_neighbour(&p, j, q);
        memcpy(out + (size_t)q * TL_SECAGG_BOX_BYTES,
               ro.boxes + ((size_t)i * (size_t)r.degree + (size_t)tl_secagg_position(&p, i, j)) * TL_SECAGG_BOX_BYTES,
               TL_SECAGG_BOX_BYTES);
    }
    roster_free(&ro);
    if (s == TL_OK) {
        *data = out;
        *size = (size_t)r.degree * TL_SECAGG_BOX_BYTES;
    } else {
        free(out);
    }
    return s;
}

tl_status tl_round_tick(tl_library *lib, const char *name, double timeout, tl_round_state *r, int *moved,
                        char *error, size_t error_size)
{
    int64_t id;
    *moved = 0;
    memset(r, 0, sizeof *r);
    const int rc = tl_round_find(lib, name, 0, &id, r);
    if (rc < 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
    }
    if (rc == 0 || !r->open || r->mode != TL_ROUND_SECURE || r->phase == TL_PHASE_KEYS ||
        r->phase == TL_PHASE_DONE || tl_wall_seconds() - r->phase_started < timeout) {
        return TL_OK;
    }
    *moved = 1;
    return tl_round_set_phase(lib, id, (tl_round_phase)(r->phase + 1), r, error, error_size);
}

/* Adds each update's words into sum (mod 2^32). */
static tl_status sum_updates(tl_library *lib, int64_t id, uint32_t *sum, size_t words, char *error,
                             size_t error_size)
{
    tl_db_stmt *st = tl_db_prepare(tl_library_db(lib), "SELECT data FROM fl_updates WHERE round_id = ?");
    int rc = -1;
    if (st) {
        tl_db_bind_int64(st, 1, id);
        while ((rc = tl_db_step(st)) == 1) {
            size_t size = 0;
            const uint8_t *blob = tl_db_column_blob(st, 0, &size);
            for (size_t w = 0; size == words * 4 && w < words; ++w) {
                uint32_t v;
                memcpy(&v, blob + 4 * w, 4);
                sum[w] += v;
            }
        }
    }
    tl_db_finalize(st);
    return rc == 0 ? TL_OK
                   : tl_library_fail(lib, error, error_size, TL_ERR_IO, "%s", tl_db_error(tl_library_db(lib)));
}

/* Removes the masks from a secure round's sum with the opened shares. */
static tl_status unmask(tl_library *lib, int64_t id, const tl_round_state *r, uint32_t *sum, char *error,
                        size_t error_size)
{
    roster ro;
    tl_status s = roster_read(lib, id, r, 0, 1, &ro, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    const tl_secagg_params p = round_params(r);
    const size_t n = (size_t)r->clients, k = (size_t)r->degree;
    uint8_t *s_pks = malloc(n * 32), *live = malloc(n), *survived = malloc(n);
    uint8_t *opened = calloc(n * k + 1, 32), *have = calloc(n * k + 1, 1);
    if (!s_pks || !live || !survived || !opened || !have) {
        s = TL_ERR_NOMEM;
    }
    for (size_t i = 0; s == TL_OK && i < n; ++i) {
        const uint8_t *e = ro.entries + i * TL_ROUND_ROSTER_ENTRY;
        memcpy(s_pks + i * 32, e + 96, 32);
        live[i] = e[128];
        survived[i] = e[129];
    }
    /* Survivor j's opened share of neighbour i goes to i's slot for j's position. */
    for (int j = 0; s == TL_OK && j < (int)n; ++j) {
        const uint8_t *mine = ro.opened + (size_t)j * k * 33;
        for (int q = 0; survived[j] && q < (int)k; ++q) {
            const int i = tl_secagg_neighbour(&p, j, q);
            const size_t slot = (size_t)i * k + (size_t)tl_secagg_position(&p, i, j);
            if (mine[(size_t)q * 33] == 1) {
                memcpy(opened + slot * 32, mine + (size_t)q * 33 + 1, 32);
                have[slot] = 1;
            }
        }
    }
    if (s == TL_OK) {
        s = tl_secagg_unmask(&p, s_pks, opened, have, live, survived, sum);
        if (s != TL_OK) {
            s = tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d cannot be unmasked (%s): too few "
                                "of its devices opened their shares", r->round, tl_status_str(s));
        }
    }
    roster_free(&ro);
    free(s_pks);
    free(live);
    free(survived);
    free(opened);
    free(have);
    return s;
}

tl_status tl_round_mean(tl_library *lib, const char *name, int round, float *mean, char *error, size_t error_size)
{
    int64_t id;
    tl_round_state r;
    const int rc = tl_round_find(lib, name, round, &id, &r);
    if (rc != 1) {
        return tl_library_fail(lib, error, error_size, rc < 0 ? TL_ERR_IO : TL_ERR_ARG, "no round %d of '%s'", round,
                               name);
    }
    if (r.mode == TL_ROUND_PLAIN) {
        return tl_library_fail(lib, error, error_size, TL_ERR_ARG, "round %d holds float updates, not sums",
                               round);
    }
    if (r.received == 0) {
        return tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d has no updates", round);
    }
    const size_t words = (size_t)r.value_count + 1;
    uint32_t *sum = calloc(words, sizeof(uint32_t));
    float *decoded = malloc(words * sizeof(float));
    tl_status s = sum && decoded ? TL_OK : TL_ERR_NOMEM;
    if (s == TL_OK) {
        s = sum_updates(lib, id, sum, words, error, error_size);
    }
    if (s == TL_OK && r.mode == TL_ROUND_SECURE) {
        s = unmask(lib, id, &r, sum, error, error_size);
    }
    if (s == TL_OK) {
        tl_fixed_decode(sum, words, TL_ROUND_FRAC_BITS, decoded);
        const float weight = decoded[r.value_count];
        if (!(weight > 0.0f)) {
            s = tl_library_fail(lib, error, error_size, TL_ERR_STATE, "round %d's weights sum to %g", round,
                                (double)weight);
        }
        for (uint32_t i = 0; s == TL_OK && i < r.value_count; ++i) {
            mean[i] = decoded[i] / weight;
        }
    }
    free(sum);
    free(decoded);
    return s;
}
