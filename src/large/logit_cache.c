/* logit_cache.c - the teacher's cached logits on disk (`distill
 * --teacher-cache FILE`), so a distillation that is resumed, repeated with
 * another temperature or weight, or run for another student on the same
 * views skips the teacher's pass (on one thread 250 s over the clean
 * training images, 700-1,000 s over 4 views of them).
 *
 * Layout (little-endian): "TLTC", u32 version, then the key: SHA-256 of the
 * teacher's checkpoint file (of an ensemble: SHA-256 of its files' SHA-256s
 * in command-line order, the logits being their mean), SHA-256 of the
 * training set (its shape, labels and pixels), u64 view seed, u32 views,
 * u32 cutout, u32 rows, u32 classes, u32 flip (1: each logit row the mean
 * over the image and its mirror);
 * then rows x classes float32 logits; then a SHA-256 of all of it. Without
 * views the logits depend on neither seed nor cutout, so both are keyed as
 * 0 and one file serves every seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tinylarge/host.h"
#include "logit_cache.h"
#include "util.h"

#define CACHE_MAGIC "TLTC"
#define CACHE_VERSION 2u
#define DIGEST 32
#define FIELDS (8 + 2 * DIGEST) /* offset of the key's numbers: seed, views, cutout, rows, classes, flip */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The checkpoint's bytes as they are on disk: any retraining, even one
 * that ends at the same accuracy, is another teacher. */
static tl_status hash_file(const char *path, uint8_t digest[DIGEST], char *error, size_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return tl_fail(error, size, TL_ERR_IO, "%s: cannot open the teacher to key its cache", path);
    }
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    uint8_t chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        crypto_hash_sha256_update(&st, chunk, got);
    }
    const int bad = ferror(f);
    fclose(f);
    crypto_hash_sha256_final(&st, digest);
    return bad ? tl_fail(error, size, TL_ERR_IO, "%s: cannot read the teacher to key its cache", path) : TL_OK;
}

tl_status tl_logit_cache_key(const char *const *teachers, int teacher_count, const tl_dataset *train, uint64_t seed,
                             int views, int cutout, int flip, int classes, uint8_t key[TL_LOGIT_CACHE_KEY],
                             char *error, size_t size)
{
    memset(key, 0, TL_LOGIT_CACHE_KEY);
    memcpy(key, CACHE_MAGIC, 4);
    put_u32(key + 4, CACHE_VERSION);
    if (teacher_count < 1) {
        return tl_fail(error, size, TL_ERR_ARG, "a teacher cache needs a teacher");
    }
    /* One teacher keys as it always did, so its existing caches stay valid. */
    tl_status s = hash_file(teachers[0], key + 8, error, size);
    if (s == TL_OK && teacher_count > 1) {
        crypto_hash_sha256_state all;
        crypto_hash_sha256_init(&all);
        crypto_hash_sha256_update(&all, key + 8, DIGEST);
        for (int k = 1; s == TL_OK && k < teacher_count; ++k) {
            uint8_t digest[DIGEST];
            if ((s = hash_file(teachers[k], digest, error, size)) == TL_OK) {
                crypto_hash_sha256_update(&all, digest, DIGEST);
            }
        }
        crypto_hash_sha256_final(&all, key + 8);
    }
    if (s != TL_OK) {
        return s;
    }
    uint8_t shape[20];
    put_u32(shape, (uint32_t)train->n);
    put_u32(shape + 4, (uint32_t)train->h);
    put_u32(shape + 8, (uint32_t)train->w);
    put_u32(shape + 12, (uint32_t)train->c);
    put_u32(shape + 16, (uint32_t)train->classes);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, shape, sizeof shape);
    crypto_hash_sha256_update(&st, train->labels, (size_t)train->n);
    crypto_hash_sha256_update(&st, train->pixels, (size_t)train->n * train->h * train->w * train->c);
    crypto_hash_sha256_final(&st, key + 8 + DIGEST);
    uint8_t *p = key + FIELDS;
    const uint64_t view_seed = views > 0 ? seed : 0;
    put_u32(p, (uint32_t)view_seed);
    put_u32(p + 4, (uint32_t)(view_seed >> 32));
    put_u32(p + 8, (uint32_t)views);
    put_u32(p + 12, (uint32_t)(views > 0 ? cutout : 0));
    put_u32(p + 16, (uint32_t)(train->n * (views > 0 ? views : 1)));
    put_u32(p + 20, (uint32_t)classes);
    put_u32(p + 24, (uint32_t)(flip != 0));
    return TL_OK;
}

/* Which part of the key differs, for the message. */
static const char *mismatch(const uint8_t *have, const uint8_t *want)
{
    if (memcmp(have, want, 8)) {
        return "not a teacher cache of this version";
    }
    if (memcmp(have + 8, want + 8, DIGEST)) {
        return "made with another teacher";
    }
    if (memcmp(have + 8 + DIGEST, want + 8 + DIGEST, DIGEST)) {
        return "made on other training data";
    }
    if (memcmp(have + FIELDS + 24, want + FIELDS + 24, 4)) {
        return "made with the teacher's mirrors averaged in, or without";
    }
    return "made for other views (seed, count or cutout)";
}

size_t tl_logit_cache_rows(const uint8_t key[TL_LOGIT_CACHE_KEY])
{
    return get_u32(key + FIELDS + 16);
}

/* Logits (rows x classes) the key describes. */
static size_t key_floats(const uint8_t *key)
{
    return tl_logit_cache_rows(key) * get_u32(key + FIELDS + 20);
}

tl_logit_cache_result tl_logit_cache_read(const char *path, const uint8_t key[TL_LOGIT_CACHE_KEY], float **logits,
                                          char *why, size_t why_size)
{
    *logits = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    if (tl_read_file(path, &data, &size) != TL_OK) {
        snprintf(why, why_size, "%s: no teacher cache yet", path);
        free(data);
        return TL_LOGIT_CACHE_ABSENT;
    }
    const size_t floats = key_floats(key);
    const size_t expect = TL_LOGIT_CACHE_KEY + floats * sizeof(float) + DIGEST;
    const char *problem = NULL;
    uint8_t digest[DIGEST];
    if (size < TL_LOGIT_CACHE_KEY + DIGEST) {
        problem = "too short to be a teacher cache";
    } else if ((crypto_hash_sha256(digest, data, size - DIGEST), sodium_memcmp(digest, data + size - DIGEST, DIGEST))) {
        problem = "corrupt (its digest does not match)";
    } else if (memcmp(data, key, TL_LOGIT_CACHE_KEY)) {
        problem = mismatch(data, key);
    } else if (size != expect) {
        problem = "corrupt (wrong size)";
    }
    if (problem) {
        snprintf(why, why_size, "%s: %s", path, problem);
        free(data);
        return TL_LOGIT_CACHE_STALE;
    }
    *logits = malloc(floats * sizeof(float));
    if (!*logits) {
        snprintf(why, why_size, "%s: out of memory", path);
        free(data);
        return TL_LOGIT_CACHE_STALE;
    }
    memcpy(*logits, data + TL_LOGIT_CACHE_KEY, floats * sizeof(float));
    free(data);
    return TL_LOGIT_CACHE_READ;
}

tl_status tl_logit_cache_write(const char *path, const uint8_t key[TL_LOGIT_CACHE_KEY], const float *logits)
{
    const size_t floats = key_floats(key);
    const size_t size = TL_LOGIT_CACHE_KEY + floats * sizeof(float) + DIGEST;
    uint8_t *data = malloc(size);
    if (!data) {
        return TL_ERR_NOMEM;
    }
    memcpy(data, key, TL_LOGIT_CACHE_KEY);
    memcpy(data + TL_LOGIT_CACHE_KEY, logits, floats * sizeof(float));
    crypto_hash_sha256(data + size - DIGEST, data, size - DIGEST);
    const tl_status s = tl_write_file_atomic(path, data, size);
    free(data);
    return s;
}
