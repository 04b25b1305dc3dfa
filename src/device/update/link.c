/* link.c - frames of the update link (update_link.h), for both ends. */
#include <string.h>

#include "tinylarge/update_link.h"

static uint16_t fletcher16(const uint8_t *p, size_t n)
{
    uint32_t a = 0, b = 0;
    for (size_t i = 0; i < n; ++i) {
        a = (a + p[i]) % 255u;
        b = (b + a) % 255u;
    }
    return (uint16_t)(b << 8 | a);
}

size_t tl_link_frame(uint8_t type, const void *payload, size_t size, uint8_t *out, size_t capacity)
{
    if (size > TL_LINK_MAX_PAYLOAD || capacity < size + TL_LINK_OVERHEAD) {
        return 0;
    }
    out[0] = 'T';
    out[1] = 'L';
    out[2] = type;
    out[3] = (uint8_t)size;
    out[4] = (uint8_t)(size >> 8);
    if (size) {
        memcpy(out + 5, payload, size);
    }
    const uint16_t check = fletcher16(out + 2, size + 3);
    out[5 + size] = (uint8_t)check;
    out[6 + size] = (uint8_t)(check >> 8);
    return size + TL_LINK_OVERHEAD;
}

void tl_link_reader_init(tl_link_reader *r)
{
    r->have = 0;
    r->size = 0;
    r->payload = NULL;
}

int tl_link_feed(tl_link_reader *r, uint8_t byte)
{
    /* Hunt for the magic; a byte that breaks it starts the hunt over
     * (itself possibly the first byte of the next frame). */
    if ((r->have == 0 && byte != 'T') || (r->have == 1 && byte != 'L')) {
        r->have = byte == 'T' ? 1 : 0;
        return 0;
    }
    r->buf[r->have++] = byte;
    if (r->have < 5) {
        return 0;
    }
    const uint32_t size = (uint32_t)r->buf[3] | (uint32_t)r->buf[4] << 8;
    if (size > TL_LINK_MAX_PAYLOAD) {
        r->have = 0;
        return 0;
    }
    if (r->have < size + TL_LINK_OVERHEAD) {
        return 0;
    }
    const uint16_t check = (uint16_t)(r->buf[5 + size] | r->buf[6 + size] << 8);
    r->have = 0;
    if (check != fletcher16(r->buf + 2, size + 3)) {
        return 0;
    }
    r->type = r->buf[2];
    r->payload = r->buf + 5;
    r->size = size;
    return 1;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void tl_link_put_state(const tl_update_state *s, uint8_t out[TL_LINK_STATE_BYTES])
{
    memset(out, 0, TL_LINK_STATE_BYTES);
    out[0] = (uint8_t)s->status;
    out[1] = (uint8_t)s->reason;
    out[2] = (uint8_t)s->verdict;
    out[3] = (uint8_t)s->installed;
    put32(out + 4, s->next_block);
    put32(out + 8, s->block_count);
    put32(out + 12, s->received);
    out[16] = (uint8_t)s->slot;
    out[17] = (uint8_t)s->is_signed;
    out[18] = (uint8_t)s->densified;
    out[19] = (uint8_t)s->dense_status;
    put32(out + 20, s->version);
    put32(out + 24, s->size);
    put32(out + 28, s->dense_size);
    put32(out + 32, (uint32_t)s->sequence);
    put32(out + 36, (uint32_t)(s->sequence >> 32));
}

void tl_link_get_state(const uint8_t in[TL_LINK_STATE_BYTES], tl_update_state *s)
{
    memset(s, 0, sizeof *s);
    s->status = (tl_status)in[0];
    s->reason = (tl_update_reason)in[1];
    s->verdict = in[2];
    s->installed = in[3];
    s->next_block = get32(in + 4);
    s->block_count = get32(in + 8);
    s->received = get32(in + 12);
    s->slot = (char)in[16];
    s->is_signed = in[17];
    s->densified = in[18];
    s->dense_status = (tl_status)in[19];
    s->version = get32(in + 20);
    s->size = get32(in + 24);
    s->dense_size = get32(in + 28);
    s->sequence = (uint64_t)get32(in + 32) | (uint64_t)get32(in + 36) << 32;
}
