/* db_pg.c - the PostgreSQL driver of db.h (libpq).
 *
 * Statements are sent with PQexecParams: '?' placeholders become $1, $2, ...,
 * text parameters go as text, blobs in binary; results come back as text
 * (bytea unescaped on demand). Library writes take one advisory lock, so
 * several edge servers sharing the database publish and migrate in turn.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db.h"

enum { MAX_PARAMS = 32 };

struct tl_db {
    int postgres;       /* 1: the flag db_sqlite.c dispatches on */
    PGconn *conn;
    char error[256];
};

struct tl_db_stmt {
    int postgres;
    tl_db *db;
    char *sql;          /* with $n placeholders */
    int params;
    char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS];
    int formats[MAX_PARAMS];
    PGresult *result;
    int row;            /* the current row, -1 before the first step */
    unsigned char *blob; /* the last unescaped bytea */
};

static void note_error(tl_db *db, const char *what)
{
    snprintf(db->error, sizeof db->error, "%s", what ? what : "unknown error");
    char *nl = strchr(db->error, '\n');
    if (nl) {
        *nl = '\0';
    }
}

tl_status tl_db_pg_open(const char *target, tl_db **out, char *error, size_t error_size)
{
    tl_db *db = calloc(1, sizeof *db);
    if (!db) {
        return TL_ERR_NOMEM;
    }
    db->postgres = 1;
    db->conn = PQconnectdb(target);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        note_error(db, PQerrorMessage(db->conn));
        snprintf(error, error_size, "cannot connect to PostgreSQL: %s", db->error);
        PQfinish(db->conn);
        free(db);
        return TL_ERR_IO;
    }
    PGresult *r = PQexec(db->conn, "SET client_min_messages = warning");
    PQclear(r);
    *out = db;
    return TL_OK;
}

void tl_db_pg_close(tl_db *db)
{
    PQfinish(db->conn);
    free(db);
}

const char *tl_db_pg_error(tl_db *db)
{
    return db->error;
}

tl_status tl_db_pg_exec(tl_db *db, const char *sql)
{
    if (!strcmp(sql, "BEGIN")) {
        sql = "BEGIN; SELECT pg_advisory_xact_lock(7411)"; /* one writer at a time, across servers */
    }
    PGresult *r = PQexec(db->conn, sql);
    const ExecStatusType st = PQresultStatus(r);
    const tl_status s = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? TL_OK : TL_ERR_IO;
    if (s != TL_OK) {
        note_error(db, PQresultErrorMessage(r));
    }
    PQclear(r);
    return s;
}

tl_status tl_db_pg_schema_version(tl_db *db, int *version)
{
    if (tl_db_pg_exec(db, "CREATE TABLE IF NOT EXISTS tl_schema (version INTEGER NOT NULL)") != TL_OK) {
        return TL_ERR_IO;
    }
    PGresult *r = PQexec(db->conn, "SELECT COALESCE(MAX(version), 0) FROM tl_schema");
    tl_status s = TL_ERR_IO;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        *version = atoi(PQgetvalue(r, 0, 0));
        s = TL_OK;
    } else {
        note_error(db, PQresultErrorMessage(r));
    }
    PQclear(r);
    return s;
}

tl_status tl_db_pg_set_schema_version(tl_db *db, int version)
{
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM tl_schema; INSERT INTO tl_schema VALUES (%d)", version);
    return tl_db_pg_exec(db, sql);
}

tl_db_stmt *tl_db_pg_prepare(tl_db *db, const char *sql)
{
    tl_db_stmt *st = calloc(1, sizeof *st);
    const size_t n = strlen(sql);
    if (!st || !(st->sql = malloc(n * 3 + 1))) {
        free(st);
        return NULL;
    }
    st->postgres = 1;
    st->db = db;
    st->row = -1;
    /* '?' -> $n, outside quoted strings. */
    char *o = st->sql;
    int quoted = 0;
    for (const char *p = sql; *p; ++p) {
        if (*p == '\'') {
            quoted = !quoted;
        }
        if (*p == '?' && !quoted) {
            if (st->params == MAX_PARAMS) { /* a statement of ours with too many values: a bug, said loudly */
                free(st->sql);
                free(st);
                note_error(db, "too many parameters in one statement");
                return NULL;
            }
            o += sprintf(o, "$%d", ++st->params);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return st;
}

void tl_db_pg_bind(tl_db_stmt *st, int index, const char *text, const void *blob, size_t size)
{
    if (index < 1 || index > MAX_PARAMS) {
        return;
    }
    const int i = index - 1;
    free(st->values[i]);
    const size_t n = text ? strlen(text) + 1 : size;
    st->values[i] = malloc(n ? n : 1);
    if (st->values[i]) {
        memcpy(st->values[i], text ? (const void *)text : blob, n);
    }
    st->lengths[i] = (int)n;
    st->formats[i] = text ? 0 : 1;
}

int tl_db_pg_step(tl_db_stmt *st)
{
    if (!st->result) {
        st->result = PQexecParams(st->db->conn, st->sql, st->params, NULL, (const char *const *)st->values,
                                  st->lengths, st->formats, 0);
        const ExecStatusType s = PQresultStatus(st->result);
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
            note_error(st->db, PQresultErrorMessage(st->result));
            return -1;
        }
    }
    if (PQresultStatus(st->result) != PGRES_TUPLES_OK) {
        return PQresultStatus(st->result) == PGRES_COMMAND_OK ? 0 : -1;
    }
    return ++st->row < PQntuples(st->result) ? 1 : 0;
}

const char *tl_db_pg_value(tl_db_stmt *st, int column, size_t *size, int *is_null, int blob)
{
    if (!st->result || st->row < 0 || st->row >= PQntuples(st->result) || column >= PQnfields(st->result)) {
        if (is_null) {
            *is_null = 1;
        }
        if (size) {
            *size = 0;
        }
        return NULL;
    }
    if (is_null) {
        *is_null = PQgetisnull(st->result, st->row, column);
    }
    const char *v = PQgetvalue(st->result, st->row, column);
    if (!blob) {
        return v;
    }
    PQfreemem(st->blob);
    size_t n = 0;
    st->blob = PQunescapeBytea((const unsigned char *)v, &n);
    *size = st->blob ? n : 0;
    return (const char *)st->blob;
}

void tl_db_pg_finalize(tl_db_stmt *st)
{
    for (int i = 0; i < MAX_PARAMS; ++i) {
        free(st->values[i]);
    }
    PQfreemem(st->blob);
    PQclear(st->result);
    free(st->sql);
    free(st);
}
