/* dtls_gate.h - what stands between a flood of spoofed DTLS ClientHellos
 * and libcoap. libcoap 4.3.1 keeps a session for every ClientHello it
 * reads, cookie or not, and past its handshake bound ignores every new
 * peer: a flood from spoofed addresses locks real devices out. The gate
 * reads the endpoint's queue first. While ClientHellos from addresses it
 * has not seen come faster than an alarm rate, it drops the first hello
 * of each address and lets the next through: a real device's DTLS stack
 * sends its hello again after a second (RFC 6347 4.2.4.1), a flood that
 * gives each spoofed address one hello never reaches libcoap. Below the
 * alarm rate every hello passes at once.
 *
 * Why not a cookie exchange of the gate's own (RFC 6347 4.2.1): libcoap
 * answers the hello that carries it with a HelloVerifyRequest of its own,
 * which an OpenSSL client that already sent a cookie ignores, and
 * libcoap's cookie key is not given out. So the gate is a filter against
 * one hello per address, not a proof that an address is real: a flood
 * that repeats each spoofed address passes it as libcoap's bound allows.
 * Host only (src/edge). */
#ifndef TINYLARGE_DTLS_GATE_H
#define TINYLARGE_DTLS_GATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tinylarge/status.h"

typedef enum tl_gate_verdict {
    TL_GATE_PASS = 0,  /* to libcoap */
    TL_GATE_DROP = 1   /* a first hello during a flood: taken off the queue */
} tl_gate_verdict;

typedef struct tl_dtls_gate_stats {
    uint64_t passed, held;   /* datagrams let through; first hellos dropped */
    int flooding;            /* 1 while new addresses' hellos come above the alarm rate */
} tl_dtls_gate_stats;

typedef struct tl_dtls_gate tl_dtls_gate;

/* A gate remembering up to `capacity` addresses for `window` seconds
 * since their first hello, in flood mode while hellos from addresses it
 * has not seen come faster than `alarm` a second. */
tl_status tl_dtls_gate_new(tl_dtls_gate **gate, uint32_t capacity, double window, double alarm);
void tl_dtls_gate_free(tl_dtls_gate *gate);

/* Judges one datagram from `from` at `now` (seconds, a clock that only
 * goes forward): only a ClientHello in the first epoch can be dropped. */
tl_gate_verdict tl_dtls_gate_judge(tl_dtls_gate *gate, const uint8_t *datagram, size_t size,
                                   const struct sockaddr *from, socklen_t from_size, double now);

/* Reads the datagrams waiting on the UDP socket fd without blocking (at
 * most `budget`): the first that passes is left at the head of the queue
 * for libcoap's next read and the drain stops there; those dropped are
 * taken off the queue. */
void tl_dtls_gate_drain(tl_dtls_gate *gate, int fd, int budget);

/* What it did so far, and whether it holds first hellos as of `now`. */
tl_dtls_gate_stats tl_dtls_gate_stats_of(const tl_dtls_gate *gate, double now);

#endif
