/* host_io.c - what every host tool needs of the operating system, in one
 * place: whole files read and written safely, and a monotonic clock. The
 * device tier has none of this (no files, no clock of its own). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tinylarge/host.h"

tl_status tl_fail(char *error, size_t size, tl_status status, const char *fmt, ...)
{
    if (error && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(error, size, fmt, ap);
        va_end(ap);
    }
    return status;
}

void tl_log(tl_log_fn log, void *ctx, const char *fmt, ...)
{
    if (!log) {
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(ctx, line);
}

void tl_log_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

double tl_monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double tl_wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

tl_status tl_write_file_atomic(const char *path, const void *data, size_t size)
{
    if (!path || (!data && size)) {
        return TL_ERR_ARG;
    }
    const size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) {
        return TL_ERR_NOMEM;
    }
    snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return TL_ERR_IO;
    }
    const uint8_t *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            free(tmp);
            return TL_ERR_IO;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        free(tmp);
        return TL_ERR_IO;
    }
    free(tmp);
    return TL_OK;
}

tl_status tl_read_file(const char *path, uint8_t **out, size_t *out_size)
{
    if (!path || !out || !out_size) {
        return TL_ERR_ARG;
    }
    *out = NULL;
    *out_size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return TL_ERR_IO;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return TL_ERR_IO;
    }
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return TL_ERR_IO;
    }
    /* Aligned so the device loader can map records in place. */
    uint8_t *buf = aligned_alloc(16, ((size_t)size + 16) / 16 * 16);
    if (!buf) {
        fclose(f);
        return TL_ERR_NOMEM;
    }
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        return TL_ERR_IO;
    }
    fclose(f);
    *out = buf;
    *out_size = (size_t)size;
    return TL_OK;
}

const char *tl_text_value(const char *text, const char *key, char *out, size_t size)
{
    const size_t n = strlen(key);
    out[0] = '\0';
    for (const char *p = text; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (!strncmp(p, key, n) && p[n] == '=') {
            const char *end = strchr(p + n + 1, '&');
            const size_t len = end ? (size_t)(end - p - n - 1) : strlen(p + n + 1);
            snprintf(out, size, "%.*s", (int)len, p + n + 1);
            break;
        }
    }
    return out;
}

int tl_text_digits(const char *text, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    for (const char *p = text; *p; ++p) {
        const unsigned digit = (unsigned)(*p - '0');
        if (digit > 9 || v > (max - digit) / 10) {
            return 0;
        }
        v = v * 10 + digit;
    }
    *out = v;
    return text[0] != '\0';
}

size_t tl_text_plain(const char *text, size_t n)
{
    size_t i = 0;
    while (i < n && ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') ||
                     (text[i] >= '0' && text[i] <= '9') || text[i] == '.' || text[i] == '_' || text[i] == '-')) {
        ++i;
    }
    return i;
}
