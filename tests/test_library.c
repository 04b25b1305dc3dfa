/* test_library.c - the SQLite model library: migrations, publishing
 * versions (signed and not), reading back, tags, removal, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "tiny_model.h"
#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/edge.h"

static char dir[64];

/* A catalogue directory with two variants built from the tiny model. */
static void make_catalogue(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto\n"
               "small,0,0.00,8,0.5000,0,1000,448,-1,1\nlarge,1,0.00,8,0.7000,0,2000,448,12345,1\n");
    fclose(f);
    for (uint32_t seed = 1; seed <= 2; ++seed) {
        uint8_t *buf;
        size_t size;
        assert_int_equal(tiny_model_bytes(seed, &buf, &size), 0);
        char model[128];
        snprintf(model, sizeof model, "%s/%s.tlm", dir, seed == 1 ? "small" : "large");
        assert_int_equal(tl_write_file_atomic(model, buf, size), TL_OK);
        free(buf);
    }
}

static void test_library(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tl_lib_XXXXXX");
    assert_non_null(mkdtemp(dir));
    char db[96], csv[96], error[512];
    snprintf(db, sizeof db, "%s/lib.db", dir);
    snprintf(csv, sizeof csv, "%s/catalogue.csv", dir);
    make_catalogue(csv);
    uint8_t pk[32], sk[64];
    assert_true(sodium_init() >= 0);
    crypto_sign_keypair(pk, sk);

    tl_library *lib;
    assert_int_equal(tl_library_open(db, &lib, error, sizeof error), TL_OK);
    const char *tags[2] = { "task=fashion", "location=cell-7" };
    int version = 0;
    assert_int_equal(tl_library_publish(lib, "fashion", dir, sk, tags, 2, &version, error, sizeof error), TL_OK);
    assert_int_equal(version, 1);
    assert_int_equal(tl_library_publish(lib, "fashion", dir, NULL, NULL, 0, &version, error, sizeof error), TL_OK);
    assert_int_equal(version, 2);
    tl_variant v[8];
    int count;
    assert_int_equal(tl_library_variants(lib, "fashion", v, 8, &count, &version, error, sizeof error), TL_OK);
    assert_int_equal(count, 2);
    assert_int_equal(version, 2);
    assert_string_equal(v[1].name, "large");
    assert_int_equal(v[1].m4_instructions, 12345);
    assert_true(v[0].bytes > 1000); /* the stored model's real size */
    /* Version 1 was signed with the server key, version 2 not. */
    uint8_t *model;
    size_t size;
    assert_int_equal(tl_library_model(lib, "fashion", 1, "small", &model, &size, error, sizeof error), TL_OK);
    assert_int_equal(tl_model_verify(model, size, pk), TL_OK);
    free(model);
    assert_int_equal(tl_library_model(lib, "fashion", 2, "small", &model, &size, error, sizeof error), TL_OK);
    assert_int_equal(tl_model_verify(model, size, pk), TL_ERR_SIGNATURE);
    free(model);
    assert_int_equal(tl_library_model(lib, "fashion", 3, "small", &model, &size, error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "no variant 'small' in version 3 of 'fashion'"));
    /* A broken model file: nothing of that publication is kept. */
    char bad[128];
    snprintf(bad, sizeof bad, "%s/large.tlm", dir);
    FILE *f = fopen(bad, "r+b");
    fseek(f, 64, SEEK_SET);
    fputc(0x77, f);
    fclose(f);
    assert_int_equal(tl_library_publish(lib, "fashion", dir, NULL, NULL, 0, &version, error, sizeof error),
                     TL_ERR_DIGEST);
    assert_non_null(strstr(error, "large.tlm: not a valid model"));
    assert_int_equal(tl_library_variants(lib, "fashion", v, 8, &count, &version, error, sizeof error), TL_OK);
    assert_int_equal(version, 2); /* rolled back */
    const char *bad_tag[1] = { "no-equals" };
    assert_int_equal(tl_library_publish(lib, "other", "/nonexistent", NULL, bad_tag, 1, &version, error, sizeof error),
                     TL_ERR_IO);
    assert_non_null(strstr(error, "/nonexistent/catalogue.csv: cannot open"));
    assert_int_equal(tl_library_variants(lib, "other", v, 8, &count, &version, error, sizeof error), TL_ERR_ARG);
    assert_int_equal(tl_library_remove(lib, "fashion", error, sizeof error), TL_OK);
    assert_int_equal(tl_library_remove(lib, "fashion", error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "no model named 'fashion'"));
    tl_library_close(lib);
    /* The schema version is recorded; a newer one is refused, not misread. */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(tl_library_open(db, &lib, error, sizeof error), TL_ERR_VERSION);
    assert_non_null(strstr(error, "schema version 99 is newer"));
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
