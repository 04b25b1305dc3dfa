/* npy.c - float samples from a NumPy .npy file, for calibration.
 *
 * The format: "\x93NUMPY", a major and minor version, the header's length
 * (2 bytes in version 1, 4 in 2 and 3), then a Python dict literal with
 * 'descr', 'fortran_order' and 'shape', then the array's bytes. Only what
 * calibration needs is accepted: little-endian float32 or float64 in C
 * order; everything else gets a message that names it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/convert.h"

static tl_status npy_fail(char *error, size_t size, tl_status s, const char *fmt, ...)
{
    if (error && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(error, size, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* The text after "'key':" in the header, or NULL. */
static const char *value_of(const char *header, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *at = strstr(header, quoted);
    if (!at) {
        return NULL;
    }
    at = strchr(at + strlen(quoted), ':');
    if (!at) {
        return NULL;
    }
    ++at;
    while (*at == ' ') {
        ++at;
    }
    return at;
}

tl_status tl_npy_read(const uint8_t *data, size_t size, float **values, uint64_t *count, uint64_t shape[8],
                      uint32_t *rank, char *error, size_t error_size)
{
    if (!data || !values || !count || !shape || !rank) {
        return TL_ERR_ARG;
    }
    *values = NULL;
    if (size < 10 || memcmp(data, "\x93NUMPY", 6) != 0) {
        return npy_fail(error, error_size, TL_ERR_MAGIC, "not a NumPy .npy file");
    }
    const uint8_t major = data[6];
    size_t header_len, at;
    if (major == 1) {
        header_len = (size_t)data[8] | (size_t)data[9] << 8;
        at = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) {
            return npy_fail(error, error_size, TL_ERR_TRUNCATED, "truncated .npy header");
        }
        header_len = (size_t)data[8] | (size_t)data[9] << 8 | (size_t)data[10] << 16 | (size_t)data[11] << 24;
        at = 12;
    } else {
        return npy_fail(error, error_size, TL_ERR_VERSION, ".npy version %u is not supported", major);
    }
    if (header_len > 65536 || at + header_len > size) {
        return npy_fail(error, error_size, TL_ERR_TRUNCATED, "truncated .npy header");
    }
    char header[65537];
    memcpy(header, data + at, header_len);
    header[header_len] = '\0';
    at += header_len;
    const char *descr = value_of(header, "descr"), *order = value_of(header, "fortran_order");
    const char *dims = value_of(header, "shape");
    if (!descr || !order || !dims || *dims != '(') {
        return npy_fail(error, error_size, TL_ERR_FORMAT, ".npy header lacks descr, fortran_order or shape");
    }
    const int f32 = !strncmp(descr, "'<f4'", 5), f64 = !strncmp(descr, "'<f8'", 5);
    if (!f32 && !f64) {
        return npy_fail(error, error_size, TL_ERR_UNSUPPORTED, ".npy holds %.8s; calibration takes float32 or "
                        "float64 ('<f4', '<f8')", descr);
    }
    if (strncmp(order, "False", 5) != 0) {
        return npy_fail(error, error_size, TL_ERR_UNSUPPORTED, "a Fortran-order .npy is not supported");
    }
    *rank = 0;
    uint64_t n = 1;
    const char *p = dims + 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') {
            ++p;
        }
        if (*p == ')') {
            break;
        }
        char *end;
        const unsigned long long d = strtoull(p, &end, 10);
        if (end == p || *rank >= 8 || d > (1ull << 32)) {
            return npy_fail(error, error_size, TL_ERR_FORMAT, ".npy shape is not understood");
        }
        shape[(*rank)++] = d;
        n *= d;
        if (n > (1ull << 31)) {
            return npy_fail(error, error_size, TL_ERR_SHAPE, ".npy array is too large");
        }
        p = end;
    }
    const size_t bytes = (size_t)n * (f32 ? 4 : 8);
    if (size - at < bytes) {
        return npy_fail(error, error_size, TL_ERR_TRUNCATED, ".npy holds %zu data bytes; its shape needs %zu",
                        size - at, bytes);
    }
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) {
        return npy_fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < n; ++i) {
        if (f32) {
            memcpy(&v[i], data + at + 4 * i, 4);
        } else {
            double d;
            memcpy(&d, data + at + 8 * i, 8);
            v[i] = (float)d;
        }
    }
    *values = v;
    *count = n;
    return TL_OK;
}
