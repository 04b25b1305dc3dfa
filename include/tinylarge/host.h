/* host.h - host-side helpers shared by every host tier (model compiler,
 * training, edge, command line): whole files and a monotonic clock. Not for
 * src/device/, which has neither. */
#ifndef TINYLARGE_HOST_H
#define TINYLARGE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes `size` bytes to `path` atomically: a temporary file in the same
 * folder, fsync, then rename, so a crash never leaves a half-written file. */
tl_status tl_write_file_atomic(const char *path, const void *data, size_t size);

/* Reads a whole file into a 16-byte-aligned heap buffer (caller frees). */
tl_status tl_read_file(const char *path, uint8_t **out, size_t *out_size);

/* Seconds on a clock that only goes forward (for durations, not dates). */
double tl_monotonic_seconds(void);

/* Seconds since the epoch, to the nanosecond (for times kept in a library,
 * which outlive the process). */
double tl_wall_seconds(void);

/* Formats a message into error (if not NULL and size > 0) and returns
 * `status`: the one way host code says what went wrong. */
tl_status tl_fail(char *error, size_t size, tl_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A log callback's line, formatted; nothing when log is NULL. */
typedef void (*tl_log_fn)(void *ctx, const char *line);
void tl_log(tl_log_fn log, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A tl_log_fn that writes the line to stderr. */
void tl_log_stderr(void *ctx, const char *line);

/* The value of `key` in the servers' "k=v&k=v" answers, copied into out
 * ("" when missing); returns out. */
const char *tl_text_value(const char *text, const char *key, char *out, size_t size);

/* A whole number written with digits only (no sign, space or suffix) and
 * at most `max`, into *out; 0 if text is anything else ("1abc", "-1", "",
 * or a number past max: never read as something it does not say). */
int tl_text_digits(const char *text, uint64_t max, uint64_t *out);

/* How many leading bytes of text[0, n) are letters, digits, '.', '_' or
 * '-' (RFC 3986's unreserved characters less '~'): the characters of
 * model names, tags and device IDs, which then travel in a CoAP path or
 * query as they are and cannot split one. */
size_t tl_text_plain(const char *text, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_HOST_H */
