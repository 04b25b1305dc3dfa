/* library_db.h - the model library as its other files in src/edge see it
 * (library.c owns it): its database and its error helper. Internal. */
#ifndef TL_EDGE_LIBRARY_DB_H
#define TL_EDGE_LIBRARY_DB_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "tinylarge/library.h"

struct tl_library {
    tl_db *db;
    char path[256];     /* for messages (a PostgreSQL target without its password) */
};

tl_db *tl_library_db(tl_library *library);

/* Writes "LIBRARY: message" into error and returns s. */
tl_status tl_library_fail(tl_library *library, char *error, size_t size, tl_status s, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Rounds (rounds.c, secure_rounds.c). The latest round of `name` (or the
 * one numbered `round` if > 0) and its row id. 1: found, 0: none, -1: error. */
int tl_round_find(tl_library *library, const char *name, int round, int64_t *id, tl_round_state *r);
/* Replaces the device's row of `table` in round id: `column` gets the
 * bytes, and a column `weight` *weight when weight is not NULL. */
tl_status tl_round_store(tl_library *library, int64_t id, const char *table, const char *column, const char *device,
                         const double *weight, const void *data, size_t size, char *error, size_t error_size);
/* Moves round `id` to `phase` (its timer starts anew); *r gets the state after. */
tl_status tl_round_set_phase(tl_library *library, int64_t id, tl_round_phase phase, tl_round_state *r, char *error,
                             size_t error_size);
/* TL_OK if round `id` is in `phase` and `device` may take this step in it
 * (on the roster; for an update: dealt its shares); else TL_ERR_STATE with
 * the reason, naming `step`. */
tl_status tl_round_check_secure(tl_library *library, int64_t id, const tl_round_state *r, tl_round_phase phase,
                                const char *device, const char *step, char *error, size_t error_size);

#endif /* TL_EDGE_LIBRARY_DB_H */
