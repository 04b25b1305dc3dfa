/* coap_load.c - load generator for the edge benchmarks (bench/edge.sh).
 *
 *   coap_load latency HOST:PORT N QUERY
 *       N GET /plan?QUERY one after another: planner + adaptation latency
 *       per request as the device sees it (p50, p99, mean; milliseconds).
 *   coap_load fetch HOST:PORT DEVICES SECONDS PATH [PLAN-QUERY]
 *       DEVICES simulated devices, each its own UDP socket, each
 *       downloading PATH (e.g. "model?name=..." or a static resource) block
 *       by block (RFC 7959, one block in flight per device) again and again
 *       for SECONDS. With PLAN-QUERY every download starts with GET /plan
 *       and fetches the variant the CBOR manifest names, from the port it
 *       names if any (a download worker), as a real device does. Prints
 *       downloads per second, bytes per second and per-download p50/p99,
 *       and the CPU seconds the client itself used.
 *       The requests are written straight into datagrams (RFC 7252 3: a
 *       fixed header, the token, the options) and the answers read with
 *       libcoap's parser: a libcoap client costs as much CPU per block as
 *       a server, so on a 2-core machine it would measure itself, not a
 *       server that uses both cores.
 *   coap_load infer HOST:PORT DEVICES SECONDS BYTES
 *       DEVICES simulated devices each POSTing BYTES of int8 input to
 *       /infer (the edge model's), one request in flight per device, again
 *       and again for SECONDS. Prints requests per second and per-request
 *       p50/p99 (bench/offload.sh: dynamic batching against batch 1).
 * One thread drives all devices, so the client costs the same whichever
 * server is measured.
 */
#define _GNU_SOURCE /* recvmmsg, sendmmsg, IP_PKTINFO */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coap3/coap.h>

#include "coap_wire.h"
#include "tinylarge/edge.h"
#include "tinylarge/host.h"

enum { MAX_DEVICES = 1024, MAX_SAMPLES = 1 << 20, SZX = 6 };

/* latency and infer: a libcoap client, one session per device. */
typedef struct device {
    coap_session_t *session;
    double started;
} device;

static device devices[MAX_DEVICES];
static int device_count;
static const char *fixed_path, *plan_query;
static char server_host[64];
static uint16_t server_port;
static size_t infer_bytes;      /* infer: the input each request carries */
static uint8_t infer_input[65536];
static double samples[MAX_SAMPLES];
static long sample_count, completed, errors;

static void add_uri(coap_pdu_t *pdu, const char *uri)
{
    const char *q = strchr(uri, '?');
    const size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    coap_add_option(pdu, COAP_OPTION_URI_PATH, plen, (const uint8_t *)uri);
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        const size_t n = amp ? (size_t)(amp - p) : strlen(p);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, n, (const uint8_t *)p);
        p = amp ? amp + 1 : NULL;
    }
}

/* "HOST:PORT" into host and port (5683 if none). */
static int parse_server(const char *server, char *host, size_t size, uint16_t *port)
{
    const char *colon = strrchr(server, ':');
    snprintf(host, size, "%.*s", colon ? (int)(colon - server) : (int)strlen(server), server);
    *port = colon ? (uint16_t)atoi(colon + 1) : 5683;
    return *port != 0;
}

static coap_session_t *open_session(coap_context_t *ctx, const char *host, uint16_t port)
{
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons(port);
    dst.size = sizeof(struct sockaddr_in);
    if (inet_pton(AF_INET, host, &dst.addr.sin.sin_addr) != 1) {
        return NULL;
    }
    return coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
}

/* The device's next request: a plan (latency) or an inference. */
static void send_next(device *d)
{
    d->started = tl_monotonic_seconds();
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, infer_bytes ? COAP_REQUEST_CODE_POST : COAP_REQUEST_CODE_GET,
                                    coap_new_message_id(d->session), coap_session_max_pdu_size(d->session));
    uint8_t token[8];
    size_t len;
    coap_session_new_token(d->session, &len, token);
    coap_add_token(pdu, len, token);
    if (infer_bytes) {
        add_uri(pdu, "infer");
        coap_add_data(pdu, infer_bytes, infer_input);
    } else {
        char uri[600];
        snprintf(uri, sizeof uri, "plan?%s", plan_query);
        add_uri(pdu, uri);
    }
    coap_send(d->session, pdu);
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t id)
{
    (void)sent;
    (void)id;
    device *d = coap_session_get_app_data(session);
    if (!d) {
        return COAP_RESPONSE_OK;
    }
    size_t len = 0;
    const uint8_t *data = NULL;
    coap_get_data(received, &len, &data);
    tl_manifest m;
    if (coap_pdu_get_code(received) != COAP_RESPONSE_CODE_CONTENT ||
        (!infer_bytes && tl_manifest_decode(data, len, &m) != TL_OK)) {
        ++errors;
    } else {
        ++completed;
        if (sample_count < MAX_SAMPLES) {
            samples[sample_count++] = tl_monotonic_seconds() - d->started;
        }
    }
    send_next(d);
    return COAP_RESPONSE_OK;
}

static int compare(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double q)
{
    qsort(samples, (size_t)sample_count, sizeof samples[0], compare);
    return sample_count ? samples[(long)(q * (double)(sample_count - 1))] : 0;
}


/* The lean fetch. Every device has an address of its own in 127/8
 * (127.77.x.y), so the server sees as many peers as there are devices,
 * yet one socket carries them all: IP_PKTINFO picks each request's
 * source address and tells to whom each answer came, and recvmmsg and
 * sendmmsg move up to BATCH datagrams per system call. One CON request in
 * flight per device, sent again after a second without an answer. */
enum { BATCH = 64 };

typedef struct lean_device {
    struct in_addr self;        /* this device's address */
    uint16_t fetch_port;        /* where its blocks come from */
    int phase;                  /* 0: plan, 1: blocks */
    unsigned block;
    uint16_t mid;
    double sent, started;
    char path[256];
} lean_device;

typedef struct outbox {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in to[BATCH];
    uint8_t data[BATCH][600];
    coap_wire_control control[BATCH];
    int count;
} outbox;

static lean_device lean[MAX_DEVICES];
static uint64_t bytes_received;
static int lean_fd;
static struct in_addr server_addr;
static outbox out;

static void flush_outbox(void)
{
    for (int sent = 0; sent < out.count;) {
        const int n = sendmmsg(lean_fd, out.msgs + sent, (unsigned)(out.count - sent), 0);
        if (n <= 0) {
            errors += out.count - sent; /* the retry scan sends them again */
            break;
        }
        sent += n;
    }
    out.count = 0;
}

/* Queues device d's next request (a plan or a block). */
static void lean_send(lean_device *d)
{
    if (out.count == BATCH) {
        flush_outbox();
    }
    const int k = out.count++;
    uint8_t *p = out.data[k];
    d->mid = (uint16_t)(d->mid + 1);
    *p++ = 0x40 | 2;            /* version 1, confirmable, 2-byte token */
    *p++ = 0x01;                /* GET */
    *p++ = (uint8_t)(d->mid >> 8);
    *p++ = (uint8_t)d->mid;
    *p++ = (uint8_t)(d->mid >> 8); /* the token: the message ID again */
    *p++ = (uint8_t)d->mid;
    char uri[600];
    snprintf(uri, sizeof uri, d->phase == 0 ? "plan?%s" : "%s", d->phase == 0 ? plan_query : d->path);
    unsigned last = 0;
    char *q = strchr(uri, '?');
    if (q) {
        *q++ = '\0';
    }
    for (char *seg = uri, *slash; seg && *seg; seg = slash ? slash + 1 : NULL) {
        slash = strchr(seg, '/');
        p = coap_wire_option(p, &last, COAP_OPTION_URI_PATH, seg, slash ? (size_t)(slash - seg) : strlen(seg));
    }
    for (char *kv = q, *amp; kv && *kv; kv = amp ? amp + 1 : NULL) {
        amp = strchr(kv, '&');
        p = coap_wire_option(p, &last, COAP_OPTION_URI_QUERY, kv, amp ? (size_t)(amp - kv) : strlen(kv));
    }
    if (d->phase == 1) {
        uint8_t value[4];
        p = coap_wire_option(p, &last, COAP_OPTION_BLOCK2, value,
                       coap_encode_var_safe(value, sizeof value, d->block << 4 | SZX));
    }
    struct sockaddr_in *to = &out.to[k];
    memset(to, 0, sizeof *to);
    to->sin_family = AF_INET;
    to->sin_addr = server_addr;
    to->sin_port = htons(d->phase == 1 && d->fetch_port ? d->fetch_port : server_port);
    out.iov[k] = (struct iovec){ out.data[k], (size_t)(p - out.data[k]) };
    coap_wire_from(&out.msgs[k].msg_hdr, to, &out.iov[k], &out.control[k], d->self); /* from this device */
    d->sent = tl_monotonic_seconds();
}

static void lean_start(lean_device *d)
{
    d->started = tl_monotonic_seconds();
    d->block = 0;
    d->phase = plan_query ? 0 : 1;
    if (!plan_query) {
        snprintf(d->path, sizeof d->path, "%s", fixed_path);
    }
    lean_send(d);
}

/* One answer for device d. */
static void lean_answer(lean_device *d, const uint8_t *data, size_t len)
{
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, len);
    if (!pdu || !coap_pdu_parse(COAP_PROTO_UDP, data, len, pdu) || coap_pdu_get_mid(pdu) != d->mid) {
        coap_delete_pdu(pdu); /* an answer to a request sent again, already taken */
        return;
    }
    size_t size = 0;
    const uint8_t *body = NULL;
    coap_get_data(pdu, &size, &body);
    coap_block_t block;
    const int more = coap_get_block(pdu, COAP_OPTION_BLOCK2, &block) && block.m;
    if (coap_pdu_get_code(pdu) != COAP_RESPONSE_CODE_CONTENT) {
        ++errors;
        coap_delete_pdu(pdu);
        lean_start(d);
        return;
    }
    if (d->phase == 0) {
        tl_manifest m;
        const int ok = tl_manifest_decode(body, size, &m) == TL_OK;
        coap_delete_pdu(pdu);
        if (!ok) {
            ++errors;
            lean_start(d);
            return;
        }
        snprintf(d->path, sizeof d->path, "model?name=%s&version=%d&variant=%s", m.model, m.version, m.variant);
        d->fetch_port = m.fetch_port; /* a download worker's, or 0: the server's own */
        d->phase = 1;
        lean_send(d);
        return;
    }
    bytes_received += size;
    coap_delete_pdu(pdu);
    if (more) {
        d->block = block.num + 1;
        lean_send(d);
        return;
    }
    ++completed;
    if (sample_count < MAX_SAMPLES) {
        samples[sample_count++] = tl_monotonic_seconds() - d->started;
    }
    lean_start(d);
}

enum { DEVICE_NET = 0x7f4d0000 }; /* 127.77.0.0: device i is DEVICE_NET + 1 + i */

static int lean_fetch(double seconds)
{
    const int on = 1;
    struct sockaddr_in any;
    memset(&any, 0, sizeof any);
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    lean_fd = socket(AF_INET, SOCK_DGRAM, 0);
    const int big = 8 << 20;
    if (lean_fd < 0 || inet_pton(AF_INET, server_host, &server_addr) != 1 ||
        setsockopt(lean_fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0 ||
        bind(lean_fd, (struct sockaddr *)&any, sizeof any) != 0) {
        fprintf(stderr, "coap_load: cannot open the devices' socket\n");
        return 1;
    }
    /* Room for every device's answer at once (beyond rmem_max if allowed):
     * answers the client drops would be charged to the server. */
    if (setsockopt(lean_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0) {
        setsockopt(lean_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    for (int i = 0; i < device_count; ++i) {
        lean[i].self.s_addr = htonl(DEVICE_NET + 1u + (unsigned)i);
        lean[i].mid = (uint16_t)(i * 7919u);
    }
    static struct mmsghdr in[BATCH];
    static struct iovec iov[BATCH];
    static uint8_t data[BATCH][1500];
    static coap_wire_control control[BATCH];
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    const double t0 = tl_monotonic_seconds();
    for (int i = 0; i < device_count; ++i) {
        lean_start(&lean[i]);
    }
    flush_outbox();
    double next_scan = t0 + 0.1, now;
    while ((now = tl_monotonic_seconds()) - t0 < seconds) {
        for (int k = 0; k < BATCH; ++k) {
            iov[k] = (struct iovec){ data[k], sizeof data[k] };
            memset(&in[k].msg_hdr, 0, sizeof in[k].msg_hdr);
            in[k].msg_hdr.msg_iov = &iov[k];
            in[k].msg_hdr.msg_iovlen = 1;
            in[k].msg_hdr.msg_control = control[k].buf;
            in[k].msg_hdr.msg_controllen = sizeof control[k].buf;
        }
        struct timespec wait = { 0, 10000000 };
        const int n = recvmmsg(lean_fd, in, BATCH, MSG_WAITFORONE, &wait);
        for (int k = 0; k < n; ++k) {
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&in[k].msg_hdr); c; c = CMSG_NXTHDR(&in[k].msg_hdr, c)) {
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                    struct in_pktinfo info;
                    memcpy(&info, CMSG_DATA(c), sizeof info);
                    const unsigned i = ntohl(info.ipi_addr.s_addr) - DEVICE_NET - 1u;
                    if (i < (unsigned)device_count) {
                        lean_answer(&lean[i], data[k], in[k].msg_len);
                    }
                }
            }
        }
        if (now >= next_scan) { /* a request lost to a full socket buffer goes again */
            for (int i = 0; i < device_count; ++i) {
                if (now - lean[i].sent > 1.0) {
                    lean[i].mid = (uint16_t)(lean[i].mid - 1);
                    lean_send(&lean[i]);
                }
            }
            next_scan = now + 0.1;
        }
        flush_outbox();
    }
    const double elapsed = tl_monotonic_seconds() - t0;
    getrusage(RUSAGE_SELF, &r1);
    const double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                       (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) /
                           1e6;
    printf("devices %d  downloads %ld in %.1f s  %.1f downloads/s  %.2f MB/s  p50 %.1f ms  p99 %.1f ms  errors %ld"
           "  client cpu %.2f s\n", device_count, completed, elapsed, (double)completed / elapsed,
           (double)bytes_received / elapsed / 1e6, quantile(0.5) * 1e3, quantile(0.99) * 1e3, errors, cpu);
    close(lean_fd);
    return completed > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const int latency = argc == 5 && !strcmp(argv[1], "latency");
    const int fetch = (argc == 6 || argc == 7) && !strcmp(argv[1], "fetch");
    const int infer = argc == 6 && !strcmp(argv[1], "infer");
    if (!latency && !fetch && !infer) {
        fprintf(stderr, "usage: coap_load latency HOST:PORT N QUERY\n"
                        "       coap_load fetch HOST:PORT DEVICES SECONDS PATH [PLAN-QUERY]\n"
                        "       coap_load infer HOST:PORT DEVICES SECONDS BYTES\n");
        return 2;
    }
    if (infer) {
        infer_bytes = (size_t)atol(argv[5]);
        if (infer_bytes < 1 || infer_bytes > sizeof infer_input) {
            fprintf(stderr, "coap_load: BYTES 1..%zu\n", sizeof infer_input);
            return 2;
        }
        for (size_t i = 0; i < infer_bytes; ++i) {
            infer_input[i] = (uint8_t)(i * 37u + 11u);
        }
    }
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    coap_context_t *ctx = coap_new_context(NULL);
    coap_register_response_handler(ctx, on_response);
    if (latency) {
        const long n = atol(argv[3]);
        plan_query = argv[4];
        device_count = 1;
        devices[0].session = parse_server(argv[2], server_host, sizeof server_host, &server_port)
                                 ? open_session(ctx, server_host, server_port) : NULL;
        if (!devices[0].session || n <= 0) {
            fprintf(stderr, "coap_load: bad server or count\n");
            return 2;
        }
        coap_session_set_app_data(devices[0].session, &devices[0]);
        const double t0 = tl_monotonic_seconds();
        send_next(&devices[0]);
        while (completed < n && errors == 0 && tl_monotonic_seconds() - t0 < 120) {
            coap_io_process(ctx, 10);
        }
        if (errors || completed < n) {
            fprintf(stderr, "coap_load: %ld of %ld plans answered, %ld errors\n", completed, n, errors);
            return 1;
        }
        double sum = 0;
        for (long i = 0; i < sample_count; ++i) {
            sum += samples[i];
        }
        const double mean = sum / (double)sample_count;
        printf("plan requests %ld  p50 %.3f ms  p99 %.3f ms  mean %.3f ms\n", sample_count, quantile(0.5) * 1e3,
               quantile(0.99) * 1e3, mean * 1e3);
        return 0;
    }
    device_count = atoi(argv[3]);
    const double seconds = atof(argv[4]);
    fixed_path = argv[5];
    plan_query = argc == 7 ? argv[6] : NULL;
    if (device_count < 1 || device_count > MAX_DEVICES || !(seconds > 0)) {
        fprintf(stderr, "coap_load: DEVICES 1..%d and SECONDS > 0\n", MAX_DEVICES);
        return 2;
    }
    if (!parse_server(argv[2], server_host, sizeof server_host, &server_port)) {
        fprintf(stderr, "coap_load: bad server %s\n", argv[2]);
        return 2;
    }
    if (fetch) {
        coap_free_context(ctx);
        const int status = lean_fetch(seconds);
        coap_cleanup();
        return status;
    }
    for (int i = 0; i < device_count; ++i) {
        devices[i].session = open_session(ctx, server_host, server_port);
        if (!devices[i].session) {
            fprintf(stderr, "coap_load: cannot open session %d\n", i);
            return 1;
        }
        coap_session_set_app_data(devices[i].session, &devices[i]);
    }
    const double t0 = tl_monotonic_seconds();
    for (int i = 0; i < device_count; ++i) {
        send_next(&devices[i]);
    }
    while (tl_monotonic_seconds() - t0 < seconds) {
        coap_io_process(ctx, 10);
    }
    const double elapsed = tl_monotonic_seconds() - t0;
    printf("devices %d  requests %ld in %.1f s  %.1f requests/s  p50 %.1f ms  p99 %.1f ms  errors %ld\n", device_count,
           completed, elapsed, (double)completed / elapsed, quantile(0.5) * 1e3, quantile(0.99) * 1e3, errors);
    coap_free_context(ctx);
    coap_cleanup();
    return completed > 0 ? 0 : 1;
}
