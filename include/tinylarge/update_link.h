/* update_link.h - the update state machine across a serial link: how a
 * gateway (a host process that speaks CoAP to the edge) drives the machine
 * of a device it reaches only over a UART. C99, no heap; the device side
 * and the gateway share these functions (src/device/update/link.c), so the
 * two ends cannot disagree on a byte.
 *
 * A frame: 'T' 'L', type, payload length (2 bytes, little-endian), the
 * payload, and a Fletcher-16 check over type, length and payload (2 bytes).
 * A reader that meets a broken frame (a gateway killed mid-frame) drops
 * bytes until the next good one; the gateway asks again when no answer
 * comes. Requests (gateway to device) and answers:
 *   HELLO                               -> STATE
 *   OFFER  progressive u8, first_planes u8, envelope  -> STATE
 *   BLOCK  index u32, bytes             -> STATE
 *   SAVE   (checkpoint the record)      -> STATE
 *   RUN    (the running model on the seeded input)    -> OUTPUT
 * STATE is a tl_update_state in TL_LINK_STATE_BYTES; OUTPUT is status u8,
 * arena u32, timer ticks u32 and the output bytes.
 */
#ifndef TINYLARGE_UPDATE_LINK_H
#define TINYLARGE_UPDATE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/update.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_LINK_MAX_PAYLOAD 1100u   /* a block (1024) and its index, with room */
#define TL_LINK_OVERHEAD 7u         /* magic 2, type 1, length 2, check 2 */
#define TL_LINK_STATE_BYTES 64u

typedef enum tl_link_type {
    TL_LINK_HELLO = 1,
    TL_LINK_OFFER = 2,
    TL_LINK_BLOCK = 3,
    TL_LINK_SAVE = 4,
    TL_LINK_RUN = 5,
    TL_LINK_STATE = 0x81,
    TL_LINK_OUTPUT = 0x85
} tl_link_type;

/* Writes a frame into out (capacity >= size + TL_LINK_OVERHEAD); returns
 * its length, 0 if the payload is too long. */
size_t tl_link_frame(uint8_t type, const void *payload, size_t size, uint8_t *out, size_t capacity);

/* Reads a stream a byte at a time; tl_link_feed returns 1 when a whole,
 * checked frame is in (type, payload, size), 0 otherwise. */
typedef struct tl_link_reader {
    uint8_t buf[TL_LINK_MAX_PAYLOAD + TL_LINK_OVERHEAD];
    uint32_t have;
    uint8_t type;
    const uint8_t *payload;
    uint32_t size;
} tl_link_reader;

void tl_link_reader_init(tl_link_reader *reader);
int tl_link_feed(tl_link_reader *reader, uint8_t byte);

void tl_link_put_state(const tl_update_state *state, uint8_t out[TL_LINK_STATE_BYTES]);
void tl_link_get_state(const uint8_t in[TL_LINK_STATE_BYTES], tl_update_state *state);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_UPDATE_LINK_H */
