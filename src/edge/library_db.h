/* library_db.h - the model library as its other files in src/edge see it
 * (library.c owns it): its database and its error helper. Internal. */
#ifndef TL_EDGE_LIBRARY_DB_H
#define TL_EDGE_LIBRARY_DB_H

#include <stddef.h>

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

#endif /* TL_EDGE_LIBRARY_DB_H */
