/* server.c - the edge server over CoAP (RFC 7252, libcoap), block-wise
 * transfers (RFC 7959) done by libcoap.
 *
 * Resources (queries are key=value options):
 *   GET /plan?name=N&flash=B&ram=B&macs=R&rate=BPS[&deadline=S]
 *       -> "VARIANT VERSION BYTES" (2.05), or 4.04 / 4.22 with the reason
 *   GET /model?name=N&version=V&variant=X -> the .tlm bytes, block-wise
 * Handlers parse, call the library and planner, and reply; a malformed
 * request gets a 4.xx code and a reason, never a crash.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "tinylarge/edge.h"

static tl_library *library;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* The value of `key` in a query "a=1&b=2" (copied into out), or NULL. */
static const char *query_value(const coap_string_t *query, const char *key, char *out, size_t size)
{
    if (!query) {
        return NULL;
    }
    const size_t klen = strlen(key);
    const char *p = (const char *)query->s, *end = p + query->length;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop_at = amp ? amp : end;
        if ((size_t)(stop_at - p) > klen && !strncmp(p, key, klen) && p[klen] == '=') {
            const size_t n = (size_t)(stop_at - p) - klen - 1;
            if (n >= size) {
                return NULL;
            }
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return out;
        }
        p = stop_at + 1;
    }
    return NULL;
}

static void reply_text(coap_pdu_t *response, coap_pdu_code_t code, const char *text)
{
    coap_pdu_set_code(response, code);
    coap_add_data(response, strlen(text), (const uint8_t *)text);
}

static void release(coap_session_t *session, void *data)
{
    (void)session;
    free(data);
}

static void handle_plan(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                        const coap_string_t *query, coap_pdu_t *response)
{
    (void)resource;
    (void)session;
    (void)request;
    char name[64], flash[32], ram[32], macs[32], rate[32], deadline[32];
    if (!query_value(query, "name", name, sizeof name) || !query_value(query, "flash", flash, sizeof flash) ||
        !query_value(query, "ram", ram, sizeof ram) || !query_value(query, "macs", macs, sizeof macs) ||
        !query_value(query, "rate", rate, sizeof rate)) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "plan needs name, flash, ram, macs and rate");
        return;
    }
    tl_variant v[256];
    int count, version;
    char error[256];
    if (tl_library_variants(library, name, v, 256, &count, &version, error, sizeof error) != TL_OK) {
        reply_text(response, COAP_RESPONSE_CODE_NOT_FOUND, error);
        return;
    }
    tl_device_profile d = { strtoull(flash, NULL, 10), strtoull(ram, NULL, 10), strtod(macs, NULL), 0, 0 };
    tl_channel c = { 0, 0, 0.5, strtod(rate, NULL), 0.05, 1024 };
    const double dl = query_value(query, "deadline", deadline, sizeof deadline) ? strtod(deadline, NULL) : 0;
    tl_plan p;
    if (tl_plan_choose(v, count, &d, &c, dl, &p) != TL_OK) {
        reply_text(response, COAP_RESPONSE_CODE(422), p.reason);
        return;
    }
    char text[160];
    snprintf(text, sizeof text, "%s %d %llu", v[p.index].name, version, (unsigned long long)v[p.index].bytes);
    reply_text(response, COAP_RESPONSE_CODE_CONTENT, text);
}

static void handle_model(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                         const coap_string_t *query, coap_pdu_t *response)
{
    char name[64], version[16], variant[40], error[256];
    if (!query_value(query, "name", name, sizeof name) || !query_value(query, "version", version, sizeof version) ||
        !query_value(query, "variant", variant, sizeof variant)) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "model needs name, version and variant");
        return;
    }
    uint8_t *data;
    size_t size;
    if (tl_library_model(library, name, atoi(version), variant, &data, &size, error, sizeof error) != TL_OK) {
        reply_text(response, COAP_RESPONSE_CODE_NOT_FOUND, error);
        return;
    }
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
    /* libcoap sends it in blocks and answers each Block2 request. */
    coap_add_data_large_response(resource, session, request, response, query, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM,
                                 -1, 0, size, data, release, data);
}

int tl_serve(const char *db, const char *host, uint16_t port, char *error, size_t error_size)
{
    if (tl_library_open(db, &library, error, error_size) != TL_OK) {
        return -1;
    }
    coap_startup();
    coap_set_log_level(LOG_WARNING);
    coap_context_t *ctx = coap_new_context(NULL);
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_port = htons(port);
    addr.size = sizeof(struct sockaddr_in);
    if (!ctx || inet_pton(AF_INET, host, &addr.addr.sin.sin_addr) != 1 ||
        !coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP)) {
        snprintf(error, error_size, "cannot listen on %s:%u (UDP)", host, port);
        coap_free_context(ctx);
        tl_library_close(library);
        return -1;
    }
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_resource_t *plan = coap_resource_init(coap_make_str_const("plan"), 0);
    coap_register_handler(plan, COAP_REQUEST_GET, handle_plan);
    coap_add_resource(ctx, plan);
    coap_resource_t *model = coap_resource_init(coap_make_str_const("model"), 0);
    coap_register_handler(model, COAP_REQUEST_GET, handle_model);
    coap_add_resource(ctx, model);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "serving %s on coap://%s:%u (/plan, /model)\n", db, host, port);
    while (!stop) {
        coap_io_process(ctx, 500);
    }
    coap_free_context(ctx);
    coap_cleanup();
    tl_library_close(library);
    return 0;
}
