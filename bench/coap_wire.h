/* coap_wire.h - what the load generators (bench/coap_load.c,
 * bench/hostile_load.c) write themselves: a CoAP option (RFC 7252 3.1), so
 * that requests cost the client a few stores instead of a libcoap PDU
 * (what comes back is read with libcoap's parser), and a datagram sent
 * from a source address of its choosing (IP_PKTINFO), so that one socket
 * speaks for many devices. */
#ifndef TL_BENCH_COAP_WIRE_H
#define TL_BENCH_COAP_WIRE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* The option numbers the load generators write (RFC 7252 5.10, RFC 7959). */
enum { COAP_WIRE_URI_PATH = 11, COAP_WIRE_URI_QUERY = 15, COAP_WIRE_BLOCK2 = 23 };

/* Room for one IP_PKTINFO control message. */
typedef union coap_wire_control {
    char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
} coap_wire_control;

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

/* Fills h to send iov to `to` from address `from` (any address of the
 * host: all of 127/8 on loopback). */
static inline void coap_wire_from(struct msghdr *h, struct sockaddr_in *to, struct iovec *iov,
                                  coap_wire_control *control, struct in_addr from)
{
    memset(h, 0, sizeof *h);
    h->msg_name = to;
    h->msg_namelen = sizeof *to;
    h->msg_iov = iov;
    h->msg_iovlen = 1;
    h->msg_control = control->buf;
    h->msg_controllen = sizeof control->buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(h);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo info;
    memset(&info, 0, sizeof info);
    info.ipi_spec_dst = from;
    memcpy(CMSG_DATA(c), &info, sizeof info);
}

#endif
