/* db_sqlite.c - the SQLite driver of db.h (and the target dispatch). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"

/* Both drivers sit behind these; the PostgreSQL one is in db_pg.c. */
tl_status tl_db_pg_open(const char *target, tl_db **db, char *error, size_t error_size);

struct tl_db {
    int postgres;       /* 0 here; db_pg.c's struct starts the same way */
    sqlite3 *handle;
};

struct tl_db_stmt {
    int postgres;
    sqlite3_stmt *st;
    tl_db *db;
};

int tl_db_target_is_postgres(const char *t)
{
    return !strncmp(t, "postgresql://", 13) || !strncmp(t, "postgres://", 11) || !strncmp(t, "host=", 5) ||
           !strncmp(t, "dbname=", 7);
}

/* Each driver's functions; tl_db_* dispatch on the leading flag. */
void tl_db_pg_close(tl_db *db);
const char *tl_db_pg_error(tl_db *db);
tl_status tl_db_pg_exec(tl_db *db, const char *sql);
tl_status tl_db_pg_schema_version(tl_db *db, int *version);
tl_status tl_db_pg_set_schema_version(tl_db *db, int version);
tl_db_stmt *tl_db_pg_prepare(tl_db *db, const char *sql);
void tl_db_pg_bind(tl_db_stmt *st, int index, const char *text, const void *blob, size_t size);
int tl_db_pg_step(tl_db_stmt *st);
const char *tl_db_pg_value(tl_db_stmt *st, int column, size_t *size, int *is_null, int blob);
void tl_db_pg_finalize(tl_db_stmt *st);

tl_status tl_db_open(const char *target, tl_db **out, char *error, size_t error_size)
{
    *out = NULL;
    if (tl_db_target_is_postgres(target)) {
        return tl_db_pg_open(target, out, error, error_size);
    }
    tl_db *db = calloc(1, sizeof *db);
    if (!db) {
        return TL_ERR_NOMEM;
    }
    if (sqlite3_open_v2(target, &db->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(error, error_size, "cannot open: %s", sqlite3_errmsg(db->handle));
        sqlite3_close(db->handle);
        free(db);
        return TL_ERR_IO;
    }
    sqlite3_busy_timeout(db->handle, 5000); /* the server reads while `library add` writes */
    sqlite3_exec(db->handle, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    *out = db;
    return TL_OK;
}

int tl_db_is_postgres(const tl_db *db)
{
    return db->postgres;
}

void tl_db_close(tl_db *db)
{
    if (!db) {
        return;
    }
    if (db->postgres) {
        tl_db_pg_close(db);
        return;
    }
    sqlite3_close(db->handle);
    free(db);
}

const char *tl_db_error(tl_db *db)
{
    return db->postgres ? tl_db_pg_error(db) : sqlite3_errmsg(db->handle);
}

tl_status tl_db_exec(tl_db *db, const char *sql)
{
    if (db->postgres) {
        return tl_db_pg_exec(db, sql);
    }
    return sqlite3_exec(db->handle, sql, NULL, NULL, NULL) == SQLITE_OK ? TL_OK : TL_ERR_IO;
}

tl_status tl_db_begin(tl_db *db)
{
    /* IMMEDIATE: take SQLite's write lock now, so two publishers queue
     * instead of failing halfway. */
    return tl_db_exec(db, db->postgres ? "BEGIN" : "BEGIN IMMEDIATE");
}

tl_status tl_db_commit(tl_db *db)
{
    return tl_db_exec(db, "COMMIT");
}

void tl_db_rollback(tl_db *db)
{
    tl_db_exec(db, "ROLLBACK");
}

tl_status tl_db_schema_version(tl_db *db, int *version)
{
    if (db->postgres) {
        return tl_db_pg_schema_version(db, version);
    }
    sqlite3_stmt *st;
    tl_status s = TL_ERR_FORMAT;
    if (sqlite3_prepare_v2(db->handle, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        s = TL_OK;
    }
    sqlite3_finalize(st);
    return s;
}

tl_status tl_db_set_schema_version(tl_db *db, int version)
{
    if (db->postgres) {
        return tl_db_pg_set_schema_version(db, version);
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
    return tl_db_exec(db, sql);
}

tl_db_stmt *tl_db_prepare(tl_db *db, const char *sql)
{
    if (db->postgres) {
        return tl_db_pg_prepare(db, sql);
    }
    tl_db_stmt *st = calloc(1, sizeof *st);
    if (!st) {
        return NULL;
    }
    st->db = db;
    if (sqlite3_prepare_v2(db->handle, sql, -1, &st->st, NULL) != SQLITE_OK) {
        free(st);
        return NULL;
    }
    return st;
}

void tl_db_bind_int64(tl_db_stmt *st, int index, int64_t value)
{
    if (st->postgres) {
        char text[24];
        snprintf(text, sizeof text, "%lld", (long long)value);
        tl_db_pg_bind(st, index, text, NULL, 0);
    } else {
        sqlite3_bind_int64(st->st, index, value);
    }
}

void tl_db_bind_double(tl_db_stmt *st, int index, double value)
{
    if (st->postgres) {
        char text[40];
        snprintf(text, sizeof text, "%.17g", value);
        tl_db_pg_bind(st, index, text, NULL, 0);
    } else {
        sqlite3_bind_double(st->st, index, value);
    }
}

void tl_db_bind_text(tl_db_stmt *st, int index, const char *text, int length)
{
    if (st->postgres) {
        char *copy = strndup(text, length < 0 ? strlen(text) : (size_t)length);
        tl_db_pg_bind(st, index, copy ? copy : "", NULL, 0);
        free(copy);
    } else {
        sqlite3_bind_text(st->st, index, text, length, SQLITE_TRANSIENT);
    }
}

void tl_db_bind_blob(tl_db_stmt *st, int index, const void *data, size_t size)
{
    if (st->postgres) {
        tl_db_pg_bind(st, index, NULL, data, size);
    } else {
        sqlite3_bind_blob64(st->st, index, data, size, SQLITE_TRANSIENT);
    }
}

int tl_db_step(tl_db_stmt *st)
{
    if (!st) {
        return -1;
    }
    if (st->postgres) {
        return tl_db_pg_step(st);
    }
    const int rc = sqlite3_step(st->st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int64_t tl_db_column_int64(tl_db_stmt *st, int column)
{
    if (st->postgres) {
        const char *v = tl_db_pg_value(st, column, NULL, NULL, 0);
        return v ? strtoll(v, NULL, 10) : 0;
    }
    return sqlite3_column_int64(st->st, column);
}

double tl_db_column_double(tl_db_stmt *st, int column)
{
    if (st->postgres) {
        const char *v = tl_db_pg_value(st, column, NULL, NULL, 0);
        return v ? strtod(v, NULL) : 0;
    }
    return sqlite3_column_double(st->st, column);
}

const char *tl_db_column_text(tl_db_stmt *st, int column)
{
    if (st->postgres) {
        const char *v = tl_db_pg_value(st, column, NULL, NULL, 0);
        return v ? v : "";
    }
    const unsigned char *t = sqlite3_column_text(st->st, column);
    return t ? (const char *)t : "";
}

const void *tl_db_column_blob(tl_db_stmt *st, int column, size_t *size)
{
    if (st->postgres) {
        return tl_db_pg_value(st, column, size, NULL, 1);
    }
    const void *p = sqlite3_column_blob(st->st, column);
    *size = (size_t)sqlite3_column_bytes(st->st, column);
    return p;
}

int tl_db_column_is_null(tl_db_stmt *st, int column)
{
    if (st->postgres) {
        int is_null = 1;
        tl_db_pg_value(st, column, NULL, &is_null, 0);
        return is_null;
    }
    return sqlite3_column_type(st->st, column) == SQLITE_NULL;
}

void tl_db_finalize(tl_db_stmt *st)
{
    if (!st) {
        return;
    }
    if (st->postgres) {
        tl_db_pg_finalize(st);
        return;
    }
    sqlite3_finalize(st->st);
    free(st);
}
