/* device_client.c - a device's side of in-situ downloading, over CoAP.
 *
 * Two model slots (DIR/slot-a.tlm, DIR/slot-b.tlm) and an "active" record
 * naming the running one. An update asks the edge server's planner which
 * variant fits, downloads it block-wise into memory, checks its digest and
 * the server's signature, refuses an older version (rollback), writes the
 * inactive slot (temporary file + rename), and only then switches the
 * active record (again written aside and renamed). Any failure -- a bad
 * signature, a truncated transfer, the server gone, the process killed --
 * leaves the running model as it was.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coap3/coap.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/edge.h"

typedef struct exchange {
    int done;
    int code;            /* CoAP response code (class * 100 + detail) */
    uint8_t *body;
    size_t size;
} exchange;

static exchange current;

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t id)
{
    (void)session;
    (void)sent;
    (void)id;
    const coap_pdu_code_t code = coap_pdu_get_code(received);
    current.code = (int)COAP_RESPONSE_CLASS(code) * 100 + (int)(code & 0x1F);
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (coap_get_data_large(received, &len, &data, &offset, &total) && data) {
        free(current.body);
        current.body = malloc(len + 1);
        if (current.body) {
            memcpy(current.body, data, len);
            current.body[len] = '\0';
            current.size = len;
        }
    }
    current.done = 1;
    return COAP_RESPONSE_OK;
}

static tl_status fail(char *msg, size_t size, tl_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return s;
}

/* GET path?query (query "a=1&b=2"), waiting up to `seconds`. */
static tl_status get(coap_context_t *ctx, coap_session_t *session, const char *path, const char *query,
                     double seconds)
{
    free(current.body);
    memset(&current, 0, sizeof current);
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, coap_new_message_id(session),
                                    coap_session_max_pdu_size(session));
    if (!pdu) {
        return TL_ERR_NOMEM;
    }
    coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(path), (const uint8_t *)path);
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        const size_t n = amp ? (size_t)(amp - p) : strlen(p);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, n, (const uint8_t *)p);
        p = amp ? amp + 1 : NULL;
    }
    if (coap_send(session, pdu) == COAP_INVALID_MID) {
        return TL_ERR_IO;
    }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!current.done) {
        coap_io_process(ctx, 200);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) * 1e-9 > seconds) {
            return TL_ERR_IO; /* the server is gone or the transfer stalled */
        }
    }
    return TL_OK;
}

int tl_device_active(const char *slots, char *slot, int *version, char *variant)
{
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/active", slots);
    FILE *f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    const int n = fscanf(f, "%1s %d %39s", slot, version, variant);
    fclose(f);
    return n == 3;
}

tl_status tl_device_update(const char *host, uint16_t port, const char *name, const tl_device_profile *d,
                           double rate_bps, const uint8_t *public_key, const char *slots, char *msg, size_t msg_size)
{
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    coap_context_t *ctx = coap_new_context(NULL);
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons(port);
    dst.size = sizeof(struct sockaddr_in);
    if (!ctx || inet_pton(AF_INET, host, &dst.addr.sin.sin_addr) != 1) {
        coap_free_context(ctx);
        return fail(msg, msg_size, TL_ERR_ARG, "bad server address %s", host);
    }
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(ctx, on_response);
    coap_session_t *session = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
    tl_status s = session ? TL_OK : TL_ERR_IO;
    char query[256], variant[40] = "";
    int version = 0;
    unsigned long long bytes = 0;
    if (s == TL_OK) {
        snprintf(query, sizeof query, "name=%s&flash=%llu&ram=%llu&macs=%.0f&rate=%.0f", name,
                 (unsigned long long)d->flash_bytes, (unsigned long long)d->ram_bytes, d->macs_per_second, rate_bps);
        s = get(ctx, session, "plan", query, 10.0);
        if (s != TL_OK) {
            fail(msg, msg_size, s, "no answer from coap://%s:%u (plan)", host, port);
        } else if (current.code != 205 || !current.body ||
                   sscanf((const char *)current.body, "%39s %d %llu", variant, &version, &bytes) != 3) {
            s = fail(msg, msg_size, TL_ERR_UNSUPPORTED, "the server has no model for this device (%d.%02d): %s",
                     current.code / 100, current.code % 100, current.body ? (const char *)current.body : "");
        }
    }
    char active_slot[2] = "", active_variant[40] = "";
    int active_version = 0;
    const int has_active = tl_device_active(slots, active_slot, &active_version, active_variant);
    if (s == TL_OK && has_active && version < active_version) {
        s = fail(msg, msg_size, TL_ERR_VERSION, "refused %s version %d: older than the running version %d (rollback)",
                 variant, version, active_version);
    } else if (s == TL_OK && has_active && version == active_version && !strcmp(variant, active_variant)) {
        snprintf(msg, msg_size, "up to date: %s version %d", variant, version);
        coap_free_context(ctx);
        free(current.body);
        memset(&current, 0, sizeof current);
        return TL_OK;
    }
    if (s == TL_OK) {
        snprintf(query, sizeof query, "name=%s&version=%d&variant=%s", name, version, variant);
        s = get(ctx, session, "model", query, 60.0);
        if (s != TL_OK || current.code != 205 || current.size != bytes) {
            s = fail(msg, msg_size, TL_ERR_TRUNCATED, "download of %s failed (%zu of %llu bytes)", variant,
                     current.size, bytes);
        }
    }
    uint8_t *model = NULL;
    if (s == TL_OK) {
        model = aligned_alloc(16, (current.size + 16) / 16 * 16);
        if (!model) {
            s = TL_ERR_NOMEM;
        } else {
            memcpy(model, current.body, current.size);
            tl_model m;
            s = public_key ? tl_model_verify(model, current.size, public_key) : tl_model_load(&m, model, current.size, 0);
            if (s != TL_OK) {
                fail(msg, msg_size, s, "refused %s: %s; the running model stays", variant,
                     s == TL_ERR_SIGNATURE ? "bad or missing signature" : tl_status_str(s));
            }
        }
    }
    if (s == TL_OK) {
        /* Into the inactive slot, then switch: the old model runs until here. */
        const char next = has_active && active_slot[0] == 'a' ? 'b' : 'a';
        char path[4200], record[4200], text[96];
        snprintf(path, sizeof path, "%.4000s/slot-%c.tlm", slots, next);
        snprintf(record, sizeof record, "%.4000s/active", slots);
        snprintf(text, sizeof text, "%c %d %s\n", next, version, variant);
        if (tl_write_file_atomic(path, model, current.size) != TL_OK ||
            tl_write_file_atomic(record, text, strlen(text)) != TL_OK) {
            s = fail(msg, msg_size, TL_ERR_IO, "%s: cannot write the slot", path);
        } else {
            snprintf(msg, msg_size, "installed %s version %d (%zu bytes, %s) in slot %c", variant, version,
                     current.size, public_key ? "signature valid" : "digest valid", next);
        }
    }
    free(model);
    free(current.body);
    memset(&current, 0, sizeof current);
    coap_free_context(ctx);
    coap_cleanup();
    return s;
}
