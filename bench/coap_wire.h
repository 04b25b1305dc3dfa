/* coap_wire.h - the one piece of CoAP's wire format the load generators
 * write themselves (bench/coap_load.c, bench/hostile_load.c): an option
 * (RFC 7252 3.1), so that requests cost the client a few stores instead
 * of a libcoap PDU; what comes back is read with libcoap's parser. */
#ifndef TL_BENCH_COAP_WIRE_H
#define TL_BENCH_COAP_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Writes option `number` (after option *last) with a value under 269
 * bytes at p; returns the byte after it. */
static inline uint8_t *coap_wire_option(uint8_t *p, unsigned *last, unsigned number, const void *value, size_t len)
{
    const unsigned delta = number - *last;
    *last = number;
    uint8_t *head = p++;
    unsigned dn = delta, ln = (unsigned)len;
    if (delta >= 13) {
        dn = 13;
        *p++ = (uint8_t)(delta - 13);
    }
    if (len >= 13) {
        ln = 13;
        *p++ = (uint8_t)(len - 13);
    }
    *head = (uint8_t)(dn << 4 | ln);
    memcpy(p, value, len);
    return p + len;
}

#endif
