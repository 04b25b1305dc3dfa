/* coap_load.c - load generator for the edge benchmarks (bench/edge.sh).
 *
 *   coap_load latency HOST:PORT N QUERY
 *       N GET /plan?QUERY one after another: planner + adaptation latency
 *       per request as the device sees it (p50, p99, mean; milliseconds).
 *   coap_load fetch HOST:PORT DEVICES SECONDS PATH [PLAN-QUERY]
 *       DEVICES simulated devices, each its own UDP session, each
 *       downloading PATH (e.g. "model?name=..." or a static resource) block
 *       by block (RFC 7959, one block in flight per device) again and again
 *       for SECONDS. With PLAN-QUERY every download starts with GET /plan
 *       and fetches the variant the CBOR manifest names, as a real device
 *       does. Prints downloads per second and per-download p50/p99.
 *   coap_load infer HOST:PORT DEVICES SECONDS BYTES
 *       DEVICES simulated devices each POSTing BYTES of int8 input to
 *       /infer (the edge model's), one request in flight per device, again
 *       and again for SECONDS. Prints requests per second and per-request
 *       p50/p99 (bench/offload.sh: dynamic batching against batch 1).
 * One thread drives all devices, so the client costs the same whichever
 * server is measured.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coap3/coap.h>

#include "tinylarge/edge.h"
#include "tinylarge/host.h"

enum { MAX_DEVICES = 1024, MAX_SAMPLES = 1 << 20, SZX = 6 };

typedef struct device {
    coap_session_t *session;
    int phase;                  /* 0: plan, 1: blocks */
    unsigned block;
    double started;
    char path[256];             /* what to download now */
} device;

static device devices[MAX_DEVICES];
static int device_count;
static const char *fixed_path, *plan_query;
static int plan_only;           /* latency: plan requests one after another */
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

static void send_next(device *d)
{
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, coap_new_message_id(d->session),
                                    coap_session_max_pdu_size(d->session));
    uint8_t token[8], buf[4];
    size_t len;
    coap_session_new_token(d->session, &len, token);
    coap_add_token(pdu, len, token);
    if (infer_bytes) {
        coap_pdu_set_code(pdu, COAP_REQUEST_CODE_POST);
        add_uri(pdu, "infer");
        coap_add_data(pdu, infer_bytes, infer_input);
    } else if (d->phase == 0) {
        char uri[600];
        snprintf(uri, sizeof uri, "plan?%s", plan_query);
        add_uri(pdu, uri);
    } else {
        add_uri(pdu, d->path);
        coap_add_option(pdu, COAP_OPTION_BLOCK2, coap_encode_var_safe(buf, sizeof buf, (d->block << 4) | SZX), buf);
    }
    coap_send(d->session, pdu);
}

static void start_download(device *d)
{
    d->started = tl_monotonic_seconds();
    d->block = 0;
    d->phase = plan_query ? 0 : 1;
    if (!plan_query) {
        snprintf(d->path, sizeof d->path, "%s", fixed_path);
    }
    send_next(d);
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
    const coap_pdu_code_t code = coap_pdu_get_code(received);
    size_t len = 0;
    const uint8_t *data = NULL;
    coap_get_data(received, &len, &data);
    if (code != COAP_RESPONSE_CODE_CONTENT) {
        ++errors;
        start_download(d);
        return COAP_RESPONSE_OK;
    }
    if (infer_bytes) { /* an answer: the request is done */
        ++completed;
        if (sample_count < MAX_SAMPLES) {
            samples[sample_count++] = tl_monotonic_seconds() - d->started;
        }
        start_download(d);
        return COAP_RESPONSE_OK;
    }
    if (d->phase == 0) {
        tl_manifest m;
        if (tl_manifest_decode(data, len, &m) != TL_OK) {
            ++errors;
            start_download(d);
            return COAP_RESPONSE_OK;
        }
        if (plan_only) {
            ++completed;
            if (sample_count < MAX_SAMPLES) {
                samples[sample_count++] = tl_monotonic_seconds() - d->started;
            }
            start_download(d);
            return COAP_RESPONSE_OK;
        }
        snprintf(d->path, sizeof d->path, "model?name=%s&version=%d&variant=%s", m.model, m.version, m.variant);
        d->phase = 1;
        send_next(d);
        return COAP_RESPONSE_OK;
    }
    coap_block_t block;
    if (coap_get_block(received, COAP_OPTION_BLOCK2, &block) && block.m) {
        d->block = block.num + 1;
        send_next(d);
        return COAP_RESPONSE_OK;
    }
    ++completed;
    if (sample_count < MAX_SAMPLES) {
        samples[sample_count++] = tl_monotonic_seconds() - d->started;
    }
    start_download(d);
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

static coap_session_t *open_session(coap_context_t *ctx, const char *server)
{
    char host[64];
    const char *colon = strrchr(server, ':');
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - server) : (int)strlen(server), server);
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons(colon ? (uint16_t)atoi(colon + 1) : 5683);
    dst.size = sizeof(struct sockaddr_in);
    if (inet_pton(AF_INET, host, &dst.addr.sin.sin_addr) != 1) {
        return NULL;
    }
    return coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
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
        plan_only = 1;
        device_count = 1;
        devices[0].session = open_session(ctx, argv[2]);
        if (!devices[0].session || n <= 0) {
            fprintf(stderr, "coap_load: bad server or count\n");
            return 2;
        }
        coap_session_set_app_data(devices[0].session, &devices[0]);
        const double t0 = tl_monotonic_seconds();
        start_download(&devices[0]);
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
    fixed_path = infer ? "infer" : argv[5];
    plan_query = argc == 7 ? argv[6] : NULL;
    if (device_count < 1 || device_count > MAX_DEVICES || !(seconds > 0)) {
        fprintf(stderr, "coap_load: DEVICES 1..%d and SECONDS > 0\n", MAX_DEVICES);
        return 2;
    }
    for (int i = 0; i < device_count; ++i) {
        devices[i].session = open_session(ctx, argv[2]);
        if (!devices[i].session) {
            fprintf(stderr, "coap_load: cannot open session %d\n", i);
            return 1;
        }
        coap_session_set_app_data(devices[i].session, &devices[i]);
    }
    const double t0 = tl_monotonic_seconds();
    for (int i = 0; i < device_count; ++i) {
        start_download(&devices[i]);
    }
    while (tl_monotonic_seconds() - t0 < seconds) {
        coap_io_process(ctx, 10);
    }
    const double elapsed = tl_monotonic_seconds() - t0;
    printf("devices %d  %s %ld in %.1f s  %.1f %s/s  p50 %.1f ms  p99 %.1f ms  errors %ld\n", device_count,
           infer_bytes ? "requests" : "downloads", completed, elapsed, (double)completed / elapsed,
           infer_bytes ? "requests" : "downloads", quantile(0.5) * 1e3, quantile(0.99) * 1e3, errors);
    coap_free_context(ctx);
    coap_cleanup();
    return completed > 0 ? 0 : 1;
}
