/* hostile_load.c - what a stranger on the network sends an edge server
 * (bench/hostile.sh). Every datagram leaves from an address of its own in
 * 127/8 (127.77.0.0 on), as spoofed traffic would, through one socket:
 * IP_PKTINFO picks each source address and sendmmsg sends 64 at a time.
 *
 *   hostile_load garbage HOST:PORT COUNT RATE
 *       COUNT datagrams of 1 to 300 random bytes (some with a CoAP
 *       version 1 header, so they get past the first check).
 *   hostile_load abandon HOST:PORT COUNT RATE
 *       COUNT confirmable GET /plan requests, each from its own address,
 *       never acknowledged nor followed: one abandoned session each.
 *   hostile_load contexts HOST:PORT COUNT RATE
 *       COUNT POST /context?device=strangerN&location=N, N = 1..COUNT.
 *   hostile_load hellos HOST:PORT COUNT RATE
 *       COUNT DTLS 1.2 ClientHellos (PSK suites, no cookie), as a
 *       handshake flood from spoofed addresses would send them.
 * RATE: datagrams per second (0: as fast as the socket takes them).
 * Prints what it sent and how long it took.
 */
#define _GNU_SOURCE /* sendmmsg, IP_PKTINFO */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coap_wire.h"

enum { BATCH = 64, MAX_DATAGRAM = 512 };
enum { SOURCE_NET = 0x7f4d0000 }; /* 127.77.0.0: datagram i comes from SOURCE_NET + 1 + i (mod 2^20) */

typedef struct batch {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    uint8_t data[BATCH][MAX_DATAGRAM];
    coap_wire_control control[BATCH];
    int count;
} batch;

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* A CoAP request: path, then each "k=v" of query as a Uri-Query option. */
static size_t coap_request(uint8_t *out, int confirmable, uint8_t code, uint16_t mid, const char *path,
                           const char *query)
{
    uint8_t *p = out;
    *p++ = (uint8_t)(0x40 | (confirmable ? 0 : 0x10) | 2);
    *p++ = code;
    *p++ = (uint8_t)(mid >> 8);
    *p++ = (uint8_t)mid;
    *p++ = (uint8_t)(mid >> 8); /* a 2-byte token */
    *p++ = (uint8_t)mid;
    unsigned last = 0;
    p = coap_wire_option(p, &last, COAP_WIRE_URI_PATH, path, strlen(path));
    for (const char *kv = query; kv && *kv;) {
        const char *amp = strchr(kv, '&');
        const size_t n = amp ? (size_t)(amp - kv) : strlen(kv);
        p = coap_wire_option(p, &last, COAP_WIRE_URI_QUERY, kv, n);
        kv = amp ? amp + 1 : NULL;
    }
    return (size_t)(p - out);
}

/* A DTLS 1.2 ClientHello (RFC 6347 4.2.2) offering PSK suites, without a
 * cookie: what starts a handshake. */
static size_t client_hello(uint8_t *out)
{
    static const uint8_t suites[] = { 0x00, 0xa8, 0xc0, 0xa8 }; /* PSK AES-128-GCM, PSK AES-128-CCM-8 */
    uint8_t body[64], *b = body;
    *b++ = 0xfe;
    *b++ = 0xfd; /* DTLS 1.2 */
    for (int i = 0; i < 32; ++i) {
        *b++ = (uint8_t)rng();
    }
    *b++ = 0; /* session id */
    *b++ = 0; /* cookie */
    *b++ = 0;
    *b++ = sizeof suites;
    memcpy(b, suites, sizeof suites);
    b += sizeof suites;
    *b++ = 1;
    *b++ = 0; /* no compression */
    const size_t n = (size_t)(b - body);
    uint8_t *p = out;
    const uint8_t record[] = { 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0 }; /* handshake, DTLS 1.2, epoch 0, seq 0 */
    memcpy(p, record, sizeof record);
    p += sizeof record;
    *p++ = (uint8_t)((n + 12) >> 8);
    *p++ = (uint8_t)(n + 12);
    *p++ = 1; /* ClientHello */
    *p++ = 0;
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n;
    *p++ = 0;
    *p++ = 0; /* message_seq */
    *p++ = 0;
    *p++ = 0;
    *p++ = 0; /* fragment_offset */
    *p++ = 0;
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n; /* fragment_length */
    memcpy(p, body, n);
    return (size_t)(p + n - out);
}

static size_t make_datagram(const char *kind, uint64_t i, uint8_t *out)
{
    char query[160];
    if (!strcmp(kind, "garbage")) {
        const size_t n = 1 + rng() % 300;
        for (size_t k = 0; k < n; ++k) {
            out[k] = (uint8_t)rng();
        }
        if (i % 2) {
            out[0] = (uint8_t)(0x40 | (out[0] & 0x3f)); /* version 1: past the first check */
        }
        return n;
    }
    if (!strcmp(kind, "abandon")) {
        snprintf(query, sizeof query, "name=abandoned&flash=100000&ram=100000&macs=1000000&rate=100000&device=a%llu",
                 (unsigned long long)i);
        return coap_request(out, 1, 0x01, (uint16_t)i, "plan", query);
    }
    if (!strcmp(kind, "contexts")) {
        snprintf(query, sizeof query, "device=stranger%llu&location=l%llu", (unsigned long long)i,
                 (unsigned long long)i);
        return coap_request(out, 0, 0x02, (uint16_t)i, "context", query);
    }
    return client_hello(out);
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "garbage") && strcmp(argv[1], "abandon") && strcmp(argv[1], "contexts") &&
                      strcmp(argv[1], "hellos"))) {
        fprintf(stderr, "usage: hostile_load garbage|abandon|contexts|hellos HOST:PORT COUNT RATE\n");
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[2], ':');
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - argv[2]) : 0, argv[2]);
    const long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    const long long count = atoll(argv[3]);
    const double rate = atof(argv[4]);
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)port);
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (port < 1 || port > 65535 || count < 1 || rate < 0 || inet_pton(AF_INET, host, &to.sin_addr) != 1 || fd < 0) {
        fprintf(stderr, "hostile_load: bad server, count or rate\n");
        return 2;
    }
    static batch b;
    const double t0 = now_seconds();
    long long sent = 0;
    for (long long i = 0; i < count;) {
        b.count = 0;
        for (; b.count < BATCH && i < count; ++i) {
            const int k = b.count++;
            b.iov[k] = (struct iovec){ b.data[k], make_datagram(argv[1], (uint64_t)i + 1, b.data[k]) };
            const struct in_addr from = { htonl(SOURCE_NET + 1u + (uint32_t)(i % 0xfffffu)) };
            coap_wire_from(&b.msgs[k].msg_hdr, &to, &b.iov[k], &b.control[k], from);
        }
        const int n = sendmmsg(fd, b.msgs, (unsigned)b.count, 0);
        sent += n > 0 ? n : 0;
        if (rate > 0) { /* keep to the rate */
            const double due = t0 + (double)i / rate;
            for (double t = now_seconds(); t < due; t = now_seconds()) {
                usleep((useconds_t)((due - t) * 1e6));
            }
        }
    }
    const double elapsed = now_seconds() - t0;
    printf("%s: %lld datagrams sent in %.2f s (%.0f/s)\n", argv[1], sent, elapsed, (double)sent / elapsed);
    close(fd);
    return 0;
}
