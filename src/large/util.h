/* util.h - small helpers shared inside src/large (not public API). */
#ifndef TL_LARGE_UTIL_H
#define TL_LARGE_UTIL_H

#include <stddef.h>

#include "tinylarge/status.h"

/* Formats a message into error (if not NULL) and returns `status`: the one
 * way src/large reports what went wrong. */
tl_status tl_large_fail(char *error, size_t size, tl_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* TL_LARGE_UTIL_H */
