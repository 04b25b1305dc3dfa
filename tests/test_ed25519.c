/* test_ed25519.c - the device's SHA-512 and Ed25519 verifier agree with
 * libsodium: RFC 8032's vectors, random keys and messages, every kind of
 * tampering, and the encodings libsodium refuses (non-canonical S and keys,
 * keys and R of small order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_util.h"
#include "tinylarge/ed25519.h"

static void hex_to(uint8_t *out, const char *hex)
{
    const size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; ++i) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void sha512_matches_libsodium_at_every_length_around_the_block(void **state)
{
    (void)state;
    test_rng rng = { 0x5eed5eedu };
    uint8_t data[600], ours[64], theirs[64];
    for (size_t i = 0; i < sizeof data; ++i) {
        data[i] = (uint8_t)rng_u32(&rng);
    }
    for (size_t n = 0; n <= sizeof data; n += n < 260 ? 1 : 37) {
        tl_sha512 ctx;
        tl_sha512_init(&ctx);
        /* in two uneven pieces, so the buffering is exercised too */
        tl_sha512_update(&ctx, data, n / 3);
        tl_sha512_update(&ctx, data + n / 3, n - n / 3);
        tl_sha512_final(&ctx, ours);
        crypto_hash_sha512(theirs, data, n);
        assert_memory_equal(ours, theirs, 64);
    }
}

typedef struct vector {
    const char *seed, *public_key, *message, *signature;
} vector;

/* RFC 8032, section 7.1, tests 1-3 and the 1023-byte test's key. */
static const vector rfc8032[] = {
    { "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
      "d25bf5f0595bbe24655141438e7a100b" },
    { "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
      "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
      "387b2eaeb4302aeeb00d291612bb0c00" },
    { "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
      "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc659"
      "4a7c15e9716ed28dc027beceea1ec40a" },
};

static void rfc8032_vectors_verify_and_libsodium_derives_the_same(void **state)
{
    (void)state;
    for (size_t v = 0; v < sizeof rfc8032 / sizeof rfc8032[0]; ++v) {
        uint8_t seed[32], pk[32], sig[64], msg[8], derived_pk[32], sk[64], derived_sig[64];
        const size_t len = strlen(rfc8032[v].message) / 2;
        hex_to(seed, rfc8032[v].seed);
        hex_to(pk, rfc8032[v].public_key);
        hex_to(sig, rfc8032[v].signature);
        hex_to(msg, rfc8032[v].message);
        /* The vectors as written here are the RFC's: libsodium makes the
         * same key and (deterministic) signature from the seed. */
        assert_int_equal(crypto_sign_seed_keypair(derived_pk, sk, seed), 0);
        assert_memory_equal(derived_pk, pk, 32);
        assert_int_equal(crypto_sign_detached(derived_sig, NULL, msg, len, sk), 0);
        assert_memory_equal(derived_sig, sig, 64);
        assert_int_equal(tl_ed25519_verify(sig, msg, len, pk), TL_OK);
        sig[0] ^= 1;
        assert_int_equal(tl_ed25519_verify(sig, msg, len, pk), TL_ERR_SIGNATURE);
    }
}

/* Ours and libsodium's verdict on the same input. */
static int agree(const uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t pk[32], int *accepted)
{
    const int ours = tl_ed25519_verify(sig, msg, len, pk) == TL_OK;
    const int theirs = crypto_sign_verify_detached(sig, msg, len, pk) == 0;
    *accepted = ours;
    return ours == theirs;
}

static void random_signatures_verify_and_every_tampering_is_refused_as_libsodium_does(void **state)
{
    (void)state;
    test_rng rng = { 42 };
    int accepted = 0;
    for (int round = 0; round < 24; ++round) {
        uint8_t pk[32], sk[64], sig[64], msg[300];
        const size_t len = rng_u32(&rng) % sizeof msg;
        for (size_t i = 0; i < len; ++i) {
            msg[i] = (uint8_t)rng_u32(&rng);
        }
        crypto_sign_keypair(pk, sk);
        crypto_sign_detached(sig, NULL, msg, len, sk);
        assert_true(agree(sig, msg, len, pk, &accepted));
        assert_true(accepted);
        /* In pieces, as a manifest is checked. */
        tl_ed25519_check check;
        tl_ed25519_check_init(&check, sig, pk);
        tl_ed25519_check_update(&check, msg, len / 2);
        tl_ed25519_check_update(&check, msg + len / 2, len - len / 2);
        assert_int_equal(tl_ed25519_check_final(&check), TL_OK);
        const int bit = (int)(rng_u32(&rng) % 512);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_true(agree(sig, msg, len, pk, &accepted));
        assert_false(accepted);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (len > 0) {
            msg[rng_u32(&rng) % len] ^= 0x20;
            assert_true(agree(sig, msg, len, pk, &accepted));
            assert_false(accepted);
        }
        pk[rng_u32(&rng) % 32] ^= 4;
        assert_true(agree(sig, msg, len, pk, &accepted));
        assert_false(accepted);
    }
}

/* S + L is the same scalar mod L; libsodium refuses it, and so do we. */
static void a_non_canonical_s_is_refused(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], sig[64], msg[3] = { 1, 2, 3 };
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    static const uint8_t order[32] = { 0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                       0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 0, 0, 0, 0, 0, 0x10 };
    unsigned carry = 0;
    for (int i = 0; i < 32; ++i) {
        const unsigned v = sig[32 + i] + order[i] + carry;
        sig[32 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    int accepted = 1;
    assert_true(agree(sig, msg, sizeof msg, pk, &accepted));
    assert_false(accepted);
}

/* The identity as a key with R = the identity and S = 0 "verifies" on the
 * curve equation alone for every message; both refuse it, and keys whose y
 * is not below p, and an R of small order. */
static void keys_and_r_of_small_order_or_non_canonical_are_refused(void **state)
{
    (void)state;
    uint8_t identity[32] = { 1 }, minus_one[32], y_is_p[32], sig[64] = { 0 }, msg[1] = { 7 };
    memset(minus_one, 0xff, 32);
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f; /* y = p - 1: the point (0, -1), of order 2 */
    memset(y_is_p, 0xff, 32);
    y_is_p[0] = 0xee;
    y_is_p[31] = 0x7f;    /* y = p + 1, which is 1 again */
    const uint8_t *keys[] = { identity, minus_one, y_is_p };
    int accepted = 1;
    for (int k = 0; k < 3; ++k) {
        memcpy(sig, identity, 32); /* R = identity, S = 0 */
        assert_true(agree(sig, msg, sizeof msg, keys[k], &accepted));
        assert_false(accepted);
    }
    /* A real key, R of small order. */
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    memcpy(sig, minus_one, 32);
    assert_true(agree(sig, msg, sizeof msg, pk, &accepted));
    assert_false(accepted);
    /* A key that is no point at all (x^2 would have to be a non-square). */
    uint8_t off_curve[32] = { 2 };
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    assert_true(agree(sig, msg, sizeof msg, off_curve, &accepted));
    assert_false(accepted);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha512_matches_libsodium_at_every_length_around_the_block),
        cmocka_unit_test(rfc8032_vectors_verify_and_libsodium_derives_the_same),
        cmocka_unit_test(random_signatures_verify_and_every_tampering_is_refused_as_libsodium_does),
        cmocka_unit_test(a_non_canonical_s_is_refused),
        cmocka_unit_test(keys_and_r_of_small_order_or_non_canonical_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
