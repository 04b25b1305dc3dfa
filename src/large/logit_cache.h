/* logit_cache.h - the teacher's logits cached in a file (src/large only). */
#ifndef TL_LARGE_LOGIT_CACHE_H
#define TL_LARGE_LOGIT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/large.h"

/* Bytes of the header that names what the logits are of (logit_cache.c). */
#define TL_LOGIT_CACHE_KEY 100

typedef enum tl_logit_cache_result {
    TL_LOGIT_CACHE_READ,   /* the file's logits are this run's */
    TL_LOGIT_CACHE_ABSENT, /* no file (or unreadable) */
    TL_LOGIT_CACHE_STALE,  /* a file of another teacher, data or views, or corrupt */
} tl_logit_cache_result;

/* The key of a run's teacher logits: its teacher file (or the files of an
 * ensemble, in order), its training set,
 * (with views > 0) the views' seed, count and cutout, and whether mirrors
 * were averaged in. */
tl_status tl_logit_cache_key(const char *const *teachers, int teacher_count, const tl_dataset *train, uint64_t seed,
                             int views, int cutout, int flip, int classes, uint8_t key[TL_LOGIT_CACHE_KEY],
                             char *error, size_t size);

/* Rows of logits (images x max(views, 1)) the key describes. */
size_t tl_logit_cache_rows(const uint8_t key[TL_LOGIT_CACHE_KEY]);

/* Reads the logits of `key` from `path` into a new buffer (caller frees);
 * otherwise says why not in `why`. */
tl_logit_cache_result tl_logit_cache_read(const char *path, const uint8_t key[TL_LOGIT_CACHE_KEY], float **logits,
                                          char *why, size_t why_size);

/* Writes the logits of `key` to `path` atomically (temporary file, rename). */
tl_status tl_logit_cache_write(const char *path, const uint8_t key[TL_LOGIT_CACHE_KEY], const float *logits);

#endif /* TL_LARGE_LOGIT_CACHE_H */
