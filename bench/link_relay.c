/* link_relay.c - an emulated radio link on loopback for the end-to-end
 * benchmarks (bench/offload.sh e2e).
 *
 *   link_relay LISTEN-PORT SERVER-PORT RATE-BPS RTT-SECONDS [DOWN-RATE-BPS]
 *
 * Relays UDP datagrams between one client (whoever last sent to
 * 127.0.0.1:LISTEN-PORT) and 127.0.0.1:SERVER-PORT. Each direction is a
 * queue served at its rate: a datagram waits for the ones before it, takes
 * (its bytes + 28 of IP and UDP headers) x 8 / rate to send, then half the
 * round trip to arrive. So a block-wise transfer pays the serialisation of
 * every block and the round trip of every exchange, as over a real link.
 * The downlink rate defaults to the uplink's. A full queue (256 datagrams)
 * drops, as a router's buffer would. Stops on SIGINT or SIGTERM.
 */
#define _GNU_SOURCE /* ppoll: waits to the microsecond, not the millisecond */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { QUEUE_DATAGRAMS = 256, MAX_DATAGRAM = 2048, HEADER_BYTES = 28 };

typedef struct datagram {
    double deliver_at;
    size_t length;
    unsigned char bytes[MAX_DATAGRAM];
} datagram;

/* One direction of the link: a FIFO served at `rate`. */
typedef struct direction {
    double rate_bps;
    double busy_until;          /* when the sender's last datagram has left */
    datagram queue[QUEUE_DATAGRAMS];
    size_t head, count;
    long relayed, dropped;
} direction;

typedef struct link_relay {
    int client_socket, server_socket;
    struct sockaddr_in client, server;
    int have_client;
    double half_rtt;
    direction up, down;
} link_relay;

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Queues a datagram just received: it leaves when the ones before it have,
 * at the direction's rate, and arrives half a round trip later. */
static void enqueue(direction *d, const unsigned char *bytes, size_t length, double half_rtt)
{
    if (d->count == QUEUE_DATAGRAMS) {
        ++d->dropped;
        return;
    }
    const double now = now_seconds();
    const double start = d->busy_until > now ? d->busy_until : now;
    d->busy_until = start + (double)(length + HEADER_BYTES) * 8.0 / d->rate_bps;
    datagram *g = &d->queue[(d->head + d->count) % QUEUE_DATAGRAMS];
    g->deliver_at = d->busy_until + half_rtt;
    g->length = length;
    memcpy(g->bytes, bytes, length);
    ++d->count;
}

/* Sends every datagram of d that is due; returns the next one's time (or a second ahead). */
static double deliver_due(direction *d, int sock, const struct sockaddr_in *to)
{
    const double now = now_seconds();
    while (d->count > 0 && d->queue[d->head].deliver_at <= now) {
        const datagram *g = &d->queue[d->head];
        if (sendto(sock, g->bytes, g->length, 0, (const struct sockaddr *)to, sizeof *to) >= 0) {
            ++d->relayed;
        }
        d->head = (d->head + 1) % QUEUE_DATAGRAMS;
        --d->count;
    }
    return d->count > 0 ? d->queue[d->head].deliver_at : now + 1.0;
}

static int open_socket(unsigned port)
{
    const int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) {
        return -1;
    }
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (bind(s, (const struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static int parse_number(const char *text, const char *what, int zero_allowed, double *out)
{
    char *end = NULL;
    const double v = strtod(text, &end);
    if (end == text || *end || !(v > 0.0 || (zero_allowed && v == 0.0))) {
        fprintf(stderr, "link_relay: %s '%s': expected a %s number\n", what, text, zero_allowed ? "non-negative" : "positive");
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: link_relay LISTEN-PORT SERVER-PORT RATE-BPS RTT-SECONDS [DOWN-RATE-BPS]\n");
        return 2;
    }
    static link_relay r; /* two queues of 256 datagrams: too large for the stack */
    double listen_port, server_port, rtt;
    if (parse_number(argv[1], "LISTEN-PORT", 0, &listen_port) || parse_number(argv[2], "SERVER-PORT", 0, &server_port) ||
        parse_number(argv[3], "RATE-BPS", 0, &r.up.rate_bps) || parse_number(argv[4], "RTT-SECONDS", 1, &rtt) ||
        (argc == 6 && parse_number(argv[5], "DOWN-RATE-BPS", 0, &r.down.rate_bps))) {
        return 2;
    }
    if (argc == 5) {
        r.down.rate_bps = r.up.rate_bps;
    }
    r.half_rtt = rtt / 2.0;
    r.client_socket = open_socket((unsigned)listen_port);
    r.server_socket = open_socket(0);
    if (r.client_socket < 0 || r.server_socket < 0) {
        fprintf(stderr, "link_relay: cannot listen on 127.0.0.1:%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    r.server.sin_family = AF_INET;
    r.server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r.server.sin_port = htons((unsigned short)server_port);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("relaying 127.0.0.1:%s -> 127.0.0.1:%s at %s bit/s up, %.0f bit/s down, round trip %s s\n", argv[1],
           argv[2], argv[3], r.down.rate_bps, argv[4]);
    fflush(stdout);
    unsigned char buffer[MAX_DATAGRAM];
    while (!stopping) {
        const double next_up = deliver_due(&r.up, r.server_socket, &r.server);
        const double next_down = r.have_client ? deliver_due(&r.down, r.client_socket, &r.client) : now_seconds() + 1.0;
        const double wait = (next_up < next_down ? next_up : next_down) - now_seconds();
        struct pollfd fds[2] = { { r.client_socket, POLLIN, 0 }, { r.server_socket, POLLIN, 0 } };
        const struct timespec timeout = { (time_t)(wait > 0 ? wait : 0),
                                          (long)((wait > 0 ? wait - (double)(time_t)wait : 0) * 1e9) };
        if (ppoll(fds, 2, &timeout, NULL) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (fds[0].revents & POLLIN) {
            socklen_t n = sizeof r.client;
            const ssize_t got = recvfrom(r.client_socket, buffer, sizeof buffer, 0, (struct sockaddr *)&r.client, &n);
            if (got > 0) {
                r.have_client = 1;
                enqueue(&r.up, buffer, (size_t)got, r.half_rtt);
            }
        }
        if (fds[1].revents & POLLIN) {
            const ssize_t got = recv(r.server_socket, buffer, sizeof buffer, 0);
            if (got > 0) {
                enqueue(&r.down, buffer, (size_t)got, r.half_rtt);
            }
        }
    }
    printf("relayed %ld up (%ld dropped), %ld down (%ld dropped)\n", r.up.relayed, r.up.dropped, r.down.relayed,
           r.down.dropped);
    return 0;
}
