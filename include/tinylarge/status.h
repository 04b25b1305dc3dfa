/* status.h - the one set of status codes used across tinylarge.
 *
 * Every function that can fail returns a tl_status. Codes are stable: they
 * travel in logs and (later) in protocol replies, so never renumber them.
 */
#ifndef TINYLARGE_STATUS_H
#define TINYLARGE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_status {
    TL_OK = 0,
    TL_ERR_ARG = 1,          /* a NULL pointer or an out-of-range argument */
    TL_ERR_TRUNCATED = 2,    /* the buffer ends before the structure does */
    TL_ERR_MAGIC = 3,        /* not a .tlm file (or not a .tflite file) */
    TL_ERR_VERSION = 4,      /* a format version this build cannot read */
    TL_ERR_DIGEST = 5,       /* SHA-256 of the file does not match its trailer */
    TL_ERR_BOUNDS = 6,       /* an offset or size points outside its section */
    TL_ERR_SHAPE = 7,        /* tensor shapes do not fit the operator */
    TL_ERR_QUANT = 8,        /* a quantisation value is out of its legal range */
    TL_ERR_UNSUPPORTED = 9,  /* an operator or feature this runtime lacks */
    TL_ERR_ARENA = 10,       /* the arena is too small or misaligned */
    TL_ERR_STATE = 11,       /* call order violated (e.g. invoke before bind) */
    TL_ERR_IO = 12,          /* host only: a file could not be read/written */
    TL_ERR_NOMEM = 13,       /* host only: an allocation failed */
    TL_ERR_FORMAT = 14,      /* a structure is internally inconsistent */
    TL_ERR_SIGNATURE = 15    /* a signature is missing or does not verify */
} tl_status;

/* A short, static, human-readable description of a status code. */
const char *tl_status_str(tl_status status);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_STATUS_H */
