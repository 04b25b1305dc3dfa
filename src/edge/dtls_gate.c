/* dtls_gate.c - the filter in front of the DTLS endpoint (dtls_gate.h).
 * A DTLS record header is 13 bytes (type, version, epoch, sequence
 * number, length; RFC 6347 4.1), the handshake type the next byte. */
#include "tinylarge/dtls_gate.h"

#include <math.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/host.h"

#define RECORD_HEADER 13
#define CONTENT_HANDSHAKE 22
#define CLIENT_HELLO 1
#define ADDRESS_KEY 19  /* family, 16 address bytes, port */
#define WAYS 4          /* addresses a bucket holds */

typedef struct remembered {
    uint8_t key[ADDRESS_KEY];
    double until;       /* first hello + window; 0: empty */
} remembered;

struct tl_dtls_gate {
    uint8_t hash_key[crypto_shorthash_KEYBYTES]; /* buckets a spoofer cannot aim at */
    remembered *slots;
    uint32_t buckets;
    double window, alarm;
    double second;                 /* the whole second being counted */
    uint32_t this_second, last_second; /* hellos from addresses not seen */
    tl_dtls_gate_stats stats;
};

tl_status tl_dtls_gate_new(tl_dtls_gate **gate, uint32_t capacity, double window, double alarm)
{
    *gate = NULL;
    if (capacity < WAYS || capacity > (1u << 24) || !(window > 0.0) || !(alarm >= 0.0) || sodium_init() < 0) {
        return TL_ERR_ARG;
    }
    tl_dtls_gate *g = calloc(1, sizeof *g);
    if (!g) {
        return TL_ERR_NOMEM;
    }
    g->buckets = (capacity + WAYS - 1) / WAYS;
    g->slots = calloc((size_t)g->buckets * WAYS, sizeof *g->slots);
    if (!g->slots) {
        free(g);
        return TL_ERR_NOMEM;
    }
    g->window = window;
    g->alarm = alarm;
    randombytes_buf(g->hash_key, sizeof g->hash_key);
    *gate = g;
    return TL_OK;
}

void tl_dtls_gate_free(tl_dtls_gate *gate)
{
    if (gate) {
        free(gate->slots);
        free(gate);
    }
}

/* Hellos from addresses not seen, in the last whole second as of now. */
static uint32_t recent(const tl_dtls_gate *g, double now)
{
    const double second = floor(now);
    return second == g->second ? (g->this_second > g->last_second ? g->this_second : g->last_second)
           : second == g->second + 1.0 ? g->this_second
                                       : 0;
}

tl_dtls_gate_stats tl_dtls_gate_stats_of(const tl_dtls_gate *gate, double now)
{
    tl_dtls_gate_stats st = gate->stats;
    st.flooding = (double)recent(gate, now) > gate->alarm;
    return st;
}

/* The address and port as bytes (0: not an IP address). */
static int address_key(const struct sockaddr *from, socklen_t size, uint8_t *key)
{
    memset(key, 0, ADDRESS_KEY);
    if (from->sa_family == AF_INET && size >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)from;
        key[0] = 4;
        memcpy(key + 1, &a->sin_addr, 4);
        memcpy(key + 17, &a->sin_port, 2);
        return 1;
    }
    if (from->sa_family == AF_INET6 && size >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)from;
        key[0] = 6;
        memcpy(key + 1, &a->sin6_addr, 16);
        memcpy(key + 17, &a->sin6_port, 2);
        return 1;
    }
    return 0;
}

static remembered *bucket(tl_dtls_gate *g, const uint8_t *key)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, ADDRESS_KEY, g->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return g->slots + (size_t)(v % g->buckets) * WAYS;
}

/* 1 if the address sent a hello within the window; else it is remembered
 * now, in an empty or expired slot of its bucket or in place of the
 * oldest (a flood overwrites its own, older entries first). */
static int seen(tl_dtls_gate *g, const uint8_t *key, double now)
{
    remembered *b = bucket(g, key), *slot = b;
    for (int w = 0; w < WAYS; ++w) {
        if (b[w].until > now && !memcmp(b[w].key, key, ADDRESS_KEY)) {
            return 1;
        }
    }
    for (int w = 0; w < WAYS; ++w) {
        if (b[w].until <= now) {
            slot = &b[w];
            break;
        }
        if (b[w].until < slot->until) {
            slot = &b[w];
        }
    }
    memcpy(slot->key, key, ADDRESS_KEY);
    slot->until = now + g->window;
    return 0;
}

tl_gate_verdict tl_dtls_gate_judge(tl_dtls_gate *g, const uint8_t *d, size_t size, const struct sockaddr *from,
                                   socklen_t from_size, double now)
{
    uint8_t key[ADDRESS_KEY];
    /* Only a first-epoch handshake record carrying a ClientHello can be
     * held: the rest of a handshake and everything after it go on. */
    if (size < RECORD_HEADER + 1 || d[0] != CONTENT_HANDSHAKE || d[3] != 0 || d[4] != 0 ||
        d[RECORD_HEADER] != CLIENT_HELLO || !address_key(from, from_size, key) || seen(g, key, now)) {
        ++g->stats.passed;
        return TL_GATE_PASS;
    }
    /* A hello from an address not seen: counted in its second. */
    const double second = floor(now);
    if (second != g->second) {
        g->last_second = second == g->second + 1.0 ? g->this_second : 0;
        g->this_second = 0;
        g->second = second;
    }
    ++g->this_second;
    if ((double)recent(g, now) > g->alarm) {
        ++g->stats.held;
        return TL_GATE_DROP;
    }
    ++g->stats.passed;
    return TL_GATE_PASS;
}

void tl_dtls_gate_drain(tl_dtls_gate *g, int fd, int budget)
{
    uint8_t buffer[64]; /* a hello is judged by its first 14 bytes */
    const double now = tl_monotonic_seconds();
    for (int i = 0; i < budget; ++i) {
        struct sockaddr_storage from;
        socklen_t from_size = sizeof from;
        const ssize_t n = recvfrom(fd, buffer, sizeof buffer, MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)&from,
                                   &from_size);
        if (n < 0 || tl_dtls_gate_judge(g, buffer, (size_t)n, (const struct sockaddr *)&from, from_size, now) ==
                         TL_GATE_PASS) {
            return; /* nothing waits, or libcoap reads it next */
        }
        (void)recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    }
}
