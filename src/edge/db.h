/* db.h - the few SQL calls the model library makes, over two drivers:
 * SQLite (db_sqlite.c, one file, the embedded default) and PostgreSQL
 * (db_pg.c, libpq, for several edge servers sharing one library).
 *
 * Statements use '?' placeholders (the PostgreSQL driver numbers them);
 * every value from outside goes through a bind, never into SQL text.
 * Internal to src/edge/.
 */
#ifndef TL_EDGE_DB_H
#define TL_EDGE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

typedef struct tl_db tl_db;
typedef struct tl_db_stmt tl_db_stmt;

/* A target starting "postgresql://" or "postgres://", or one of libpq's
 * "key=value" strings starting "host=" / "dbname=", opens PostgreSQL;
 * anything else is a SQLite file (created if missing). */
int tl_db_target_is_postgres(const char *target);
tl_status tl_db_open(const char *target, tl_db **db, char *error, size_t error_size);
void tl_db_close(tl_db *db);
int tl_db_is_postgres(const tl_db *db);
const char *tl_db_error(tl_db *db);

/* Runs SQL without parameters (several statements allowed). */
tl_status tl_db_exec(tl_db *db, const char *sql);
tl_status tl_db_begin(tl_db *db);      /* a write transaction */
tl_status tl_db_commit(tl_db *db);
void tl_db_rollback(tl_db *db);

/* The schema version (SQLite: PRAGMA user_version; PostgreSQL: a
 * one-row table), read and set inside a migration's transaction. */
tl_status tl_db_schema_version(tl_db *db, int *version);
tl_status tl_db_set_schema_version(tl_db *db, int version);

/* NULL on a bad statement (tl_db_error says why). */
tl_db_stmt *tl_db_prepare(tl_db *db, const char *sql);
void tl_db_bind_int64(tl_db_stmt *st, int index, int64_t value); /* index from 1 */
void tl_db_bind_double(tl_db_stmt *st, int index, double value);
void tl_db_bind_text(tl_db_stmt *st, int index, const char *text, int length); /* length -1: NUL-terminated */
void tl_db_bind_blob(tl_db_stmt *st, int index, const void *data, size_t size);
/* 1: a row is ready, 0: done, -1: error. */
int tl_db_step(tl_db_stmt *st);
int64_t tl_db_column_int64(tl_db_stmt *st, int column); /* column from 0 */
double tl_db_column_double(tl_db_stmt *st, int column);
const char *tl_db_column_text(tl_db_stmt *st, int column); /* "" for NULL */
const void *tl_db_column_blob(tl_db_stmt *st, int column, size_t *size);
int tl_db_column_is_null(tl_db_stmt *st, int column);
void tl_db_finalize(tl_db_stmt *st);

#endif /* TL_EDGE_DB_H */
