/* status.c - text for each tl_status, shared by device and host code. */
#include "tinylarge/status.h"

const char *tl_status_str(tl_status status)
{
    switch (status) {
    case TL_OK: return "ok";
    case TL_ERR_ARG: return "invalid argument";
    case TL_ERR_TRUNCATED: return "truncated data";
    case TL_ERR_MAGIC: return "bad magic number (not this file type)";
    case TL_ERR_VERSION: return "unsupported format version";
    case TL_ERR_DIGEST: return "SHA-256 digest mismatch (corrupt or tampered)";
    case TL_ERR_BOUNDS: return "offset or size out of bounds";
    case TL_ERR_SHAPE: return "inconsistent tensor shape";
    case TL_ERR_QUANT: return "quantisation parameter out of range";
    case TL_ERR_UNSUPPORTED: return "unsupported operator or feature";
    case TL_ERR_ARENA: return "arena too small or plan out of range";
    case TL_ERR_STATE: return "call out of order";
    case TL_ERR_IO: return "input/output error";
    case TL_ERR_NOMEM: return "out of memory";
    case TL_ERR_FORMAT: return "malformed structure";
    case TL_ERR_SIGNATURE: return "signature missing or invalid";
    }
    return "unknown status";
}
