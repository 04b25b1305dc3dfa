/* test_sign.c - Ed25519 model signatures: keys, signing, verification, and
 * every way a signature must fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tiny_model.h"
#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/edge.h"

static void test_sign_and_verify(void **state)
{
    (void)state;
    char dir[] = "/tmp/tl_sign_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sk_path[64], pk_path[64], other_sk[64], other_pk[64], error[256];
    snprintf(sk_path, sizeof sk_path, "%s/a.key", dir);
    snprintf(pk_path, sizeof pk_path, "%s/a.pub", dir);
    snprintf(other_sk, sizeof other_sk, "%s/b.key", dir);
    snprintf(other_pk, sizeof other_pk, "%s/b.pub", dir);
    assert_int_equal(tl_keygen(sk_path, pk_path), TL_OK);
    assert_int_equal(tl_keygen(other_sk, other_pk), TL_OK);
    assert_int_equal(tl_keygen(sk_path, pk_path), TL_ERR_IO); /* never overwritten */
    struct stat st;
    assert_int_equal(stat(sk_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t sk[TL_SECRET_KEY_BYTES], pk[TL_PUBLIC_KEY_BYTES], other[TL_PUBLIC_KEY_BYTES];
    assert_int_equal(tl_key_read(sk_path, 1, sk, error, sizeof error), TL_OK);
    assert_int_equal(tl_key_read(pk_path, 0, pk, error, sizeof error), TL_OK);
    assert_int_equal(tl_key_read(other_pk, 0, other, error, sizeof error), TL_OK);
    assert_int_equal(tl_key_read(pk_path, 1, sk, error, sizeof error), TL_ERR_FORMAT); /* a public key is no secret */
    assert_non_null(strstr(error, "not a tinylarge ed25519 secret key file"));

    uint8_t *model;
    size_t size;
    assert_int_equal(tiny_model_bytes(1, &model, &size), 0);
    assert_int_equal(tl_model_verify(model, size, pk), TL_ERR_SIGNATURE); /* unsigned */
    tl_model m;
    assert_int_equal(tl_model_load(&m, model, size, 0), TL_OK);
    uint8_t digest[32];
    memcpy(digest, m.trailer->sha256, 32);
    assert_int_equal(tl_model_sign(model, size, sk), TL_OK);
    assert_int_equal(tl_model_verify(model, size, pk), TL_OK);
    assert_int_equal(tl_model_verify(model, size, other), TL_ERR_SIGNATURE); /* another key */
    assert_int_equal(tl_model_load(&m, model, size, 0), TL_OK);
    assert_memory_equal(m.trailer->sha256, digest, 32); /* signing leaves the digest */
    assert_int_equal(m.trailer->key_id, *(const uint32_t *)(const void *)pk);
    /* A tampered model fails its digest; a tampered signature its check. */
    model[100] ^= 1;
    assert_int_equal(tl_model_verify(model, size, pk), TL_ERR_DIGEST);
    model[100] ^= 1;
    tl_trailer *tr = (tl_trailer *)(void *)(model + size - sizeof *tr);
    tr->signature[5] ^= 0x10;
    assert_int_equal(tl_model_verify(model, size, pk), TL_ERR_SIGNATURE);
    tr->signature[5] ^= 0x10;
    /* Through a progressive stream: all planes give the signed model back;
     * a coarser prefix is a different model, marked unsigned. */
    uint8_t *stream;
    size_t stream_size;
    uint32_t ends[8], planes, model_size;
    assert_int_equal(tl_progressive_encode(model, size, &stream, &stream_size, ends), TL_OK);
    uint8_t *out = aligned_alloc(16, (size + 15) / 16 * 16);
    assert_int_equal(tl_progressive_decode(stream, stream_size, out, size, &planes, &model_size), TL_OK);
    assert_int_equal(tl_model_verify(out, model_size, pk), TL_OK);
    assert_int_equal(tl_progressive_decode(stream, ends[3], out, size, &planes, &model_size), TL_OK);
    assert_int_equal(tl_model_verify(out, model_size, pk), TL_ERR_SIGNATURE);
    free(out);
    free(stream);
    free(model);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
