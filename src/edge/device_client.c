/* device_client.c - a device's side of in-situ downloading, over CoAP.
 *
 * Two model slots (DIR/slot-a.tlm, DIR/slot-b.tlm) and an "active" record
 * naming the running one. A round asks the edge server's planner which
 * variant fits (a CBOR manifest), downloads it block by block (RFC 7959,
 * the device asks for each block itself) into DIR/download.part, checks
 * its digest and the server's signature, refuses an older version
 * (rollback), writes the inactive slot (temporary file + rename), and only
 * then switches the active record (again written aside and renamed).
 *
 * - Resume: download.info names what download.part holds; a later round for
 *   the same model version and variant continues from its last whole block.
 * - Progressive: with the .tlp form, each new bit plane is checked against
 *   the digest in the stream's header (itself signed by the server) and,
 *   on a device with no model yet, run at once (on_model), before the rest
 *   arrives.
 * - Observe (RFC 7641): with watch_seconds, the plan request stays
 *   registered; the server's notifications (context changed, version
 *   published) start new rounds.
 * Any failure -- a bad signature, a truncated transfer, the server gone,
 * the process killed -- leaves the running model as it was.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>
#include <sodium.h>

#include "tinylarge/device.h"
#include "tinylarge/edge.h"
#include "tinylarge/format.h"
#include "tinylarge/host.h"

enum { BLOCK_SZX = 6, BLOCK_BYTES = 1024, SYNC_EVERY = 16, MAX_MODEL_BYTES = 64 << 20 };

typedef struct reply {
    uint8_t token[8];
    size_t token_len;
    int done, code;             /* code: class * 100 + detail */
    uint8_t *body;
    size_t size;
    coap_block_t block;
    int has_block;
} reply;

static struct {
    const tl_device_options *o;
    coap_context_t *ctx;
    coap_session_t *session;
    reply current;              /* the request in flight */
    reply plan;                 /* the latest plan answer or notification */
    int dtls_failed;
    double start;
} dev;

static void say(const char *fmt, ...)
{
    if (!dev.o->log) {
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    dev.o->log(dev.o->ctx, line);
}

static tl_status fail(char *msg, size_t size, tl_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return s;
}

static void keep(reply *r, const coap_pdu_t *received)
{
    const coap_pdu_code_t code = coap_pdu_get_code(received);
    r->code = (int)COAP_RESPONSE_CLASS(code) * 100 + (int)(code & 0x1F);
    size_t len = 0;
    const uint8_t *data = NULL;
    free(r->body);
    r->body = NULL;
    r->size = 0;
    if (coap_get_data(received, &len, &data) && data) {
        r->body = malloc(len + 1);
        if (r->body) {
            memcpy(r->body, data, len);
            r->body[len] = '\0';
            r->size = len;
        }
    }
    r->has_block = coap_get_block(received, COAP_OPTION_BLOCK2, &r->block);
    r->done = 1;
}

static int same_token(const reply *r, coap_bin_const_t t)
{
    return r->token_len && t.length == r->token_len && !memcmp(t.s, r->token, t.length);
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t id)
{
    (void)session;
    (void)sent;
    (void)id;
    const coap_bin_const_t token = coap_pdu_get_token(received);
    if (same_token(&dev.plan, token)) {
        keep(&dev.plan, received); /* the first answer or a notification */
    } else if (same_token(&dev.current, token)) {
        keep(&dev.current, received);
    }
    return COAP_RESPONSE_OK;
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
    (void)session;
    if (event == COAP_EVENT_DTLS_ERROR || event == COAP_EVENT_DTLS_CLOSED) {
        dev.dtls_failed = 1;
    }
    return 0;
}

/* Sends `code` path?query (with Block2 `block` if >= 0, Observe 0 if
 * observe) and records its token in r. */
static tl_status send_request(reply *r, coap_pdu_code_t code, const char *path, const char *query, int block,
                              int observe)
{
    free(r->body);
    memset(r, 0, sizeof *r);
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, code, coap_new_message_id(dev.session),
                                    coap_session_max_pdu_size(dev.session));
    if (!pdu) {
        return TL_ERR_NOMEM;
    }
    coap_session_new_token(dev.session, &r->token_len, r->token);
    coap_add_token(pdu, r->token_len, r->token);
    uint8_t buf[4];
    if (observe) {
        coap_add_option(pdu, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof buf, COAP_OBSERVE_ESTABLISH), buf);
    }
    coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(path), (const uint8_t *)path);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        const size_t n = amp ? (size_t)(amp - p) : strlen(p);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, n, (const uint8_t *)p);
        p = amp ? amp + 1 : NULL;
    }
    if (block >= 0) {
        coap_add_option(pdu, COAP_OPTION_BLOCK2,
                        coap_encode_var_safe(buf, sizeof buf, ((unsigned)block << 4) | BLOCK_SZX), buf);
    }
    return coap_send(dev.session, pdu) == COAP_INVALID_MID ? TL_ERR_IO : TL_OK;
}

static tl_status send_get(reply *r, const char *path, const char *query, int block, int observe)
{
    return send_request(r, COAP_REQUEST_CODE_GET, path, query, block, observe);
}

/* Runs the CoAP loop until r is answered or `until` (monotonic seconds). */
static int wait_for(const reply *r, double until)
{
    while (!r->done && !dev.dtls_failed) {
        const double left = until - tl_monotonic_seconds();
        if (left <= 0) {
            return 0;
        }
        coap_io_process(dev.ctx, left > 0.1 ? 100 : (unsigned)(left * 1000) + 1);
    }
    return r->done;
}

static void sleep_until(double until)
{
    double left;
    while ((left = until - tl_monotonic_seconds()) > 0) {
        coap_io_process(dev.ctx, left > 0.1 ? 100 : (unsigned)(left * 1000) + 1);
    }
}

int tl_device_active(const char *slots, char *slot, int *version, char *variant, char *model)
{
    char path[4200], name[64] = "";
    snprintf(path, sizeof path, "%.4000s/active", slots);
    FILE *f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    const int n = fscanf(f, "%1s %d %39s %63s", slot, version, variant, name);
    fclose(f);
    if (model) {
        snprintf(model, 64, "%s", name); /* "" in a record from before model names */
    }
    return n >= 3;
}

/* Where each plane of a .tlp ends, from its header (0 if it is not one). */
static int plane_ends(const uint8_t *stream, size_t size, size_t ends[8], uint32_t *model_size)
{
    tl_progressive_header h;
    if (size < sizeof h) {
        return 0;
    }
    memcpy(&h, stream, sizeof h);
    if (memcmp(h.magic, TL_PROGRESSIVE_MAGIC, 4) || h.header_size != sizeof h || h.planes != 8 ||
        h.model_size > MAX_MODEL_BYTES) {
        return 0;
    }
    const uint64_t base = (uint64_t)h.header_size + (uint64_t)h.tensor_count * sizeof(tl_progressive_tensor) +
                          (uint64_t)h.sum_count * 4u + h.skeleton_size;
    for (int p = 0; p < 8; ++p) {
        ends[p] = (size_t)(base + (uint64_t)(p + 1) * h.plane_size);
    }
    *model_size = h.model_size;
    return 1;
}

/* Downloads a manifest's model (whole, or its progressive stream) into
 * *model, resuming from DIR/download.part when it holds the same thing. */
static tl_status download(const tl_manifest *m, int has_active, uint8_t **model, size_t *model_size, char *msg,
                          size_t msg_size)
{
    const tl_device_options *o = dev.o;
    /* Progressive when asked for, or when the planner met the deadline
     * with a prefix. */
    const int tlp = (o->progressive || m->planes > 0) && m->tlp_bytes > 0;
    const uint64_t total = tlp ? m->tlp_bytes : m->bytes;
    if (total == 0 || total > MAX_MODEL_BYTES || m->bytes > o->profile.flash_bytes) {
        return fail(msg, msg_size, TL_ERR_FORMAT, "refused %s: %llu bytes do not fit", m->variant,
                    (unsigned long long)total);
    }
    uint8_t *buf = malloc(total);
    if (!buf) {
        return TL_ERR_NOMEM;
    }
    char part[4200], info[4200], want[256], have[256] = "";
    snprintf(part, sizeof part, "%.4000s/download.part", o->slots);
    snprintf(info, sizeof info, "%.4000s/download.info", o->slots);
    /* What download.part holds: the same name, version, variant, form and
     * digest, or it is started over. */
    char digest[17];
    for (int i = 0; i < 8; ++i) {
        snprintf(digest + 2 * i, 3, "%02x", m->sha256[i]);
    }
    snprintf(want, sizeof want, "%s %d %s %s %llu %s\n", m->model, m->version, m->variant, tlp ? "tlp" : "tlm",
             (unsigned long long)total, digest);
    FILE *f = fopen(info, "r");
    if (f) {
        if (!fgets(have, sizeof have, f)) {
            have[0] = '\0';
        }
        fclose(f);
    }
    size_t offset = 0;
    int fd = -1;
    if (!strcmp(have, want) && (fd = open(part, O_RDWR)) >= 0) {
        /* The same model version and variant: keep every whole block. */
        const ssize_t n = read(fd, buf, total);
        offset = n > 0 ? (size_t)n / BLOCK_BYTES * BLOCK_BYTES : 0;
    } else if (tl_write_file_atomic(info, want, strlen(want)) != TL_OK) {
        free(buf);
        return fail(msg, msg_size, TL_ERR_IO, "%s: cannot write", info);
    }
    if (fd < 0) {
        fd = open(part, O_RDWR | O_CREAT | O_TRUNC, 0644);
    }
    if (fd < 0 || ftruncate(fd, (off_t)offset) != 0 || lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        free(buf);
        return fail(msg, msg_size, TL_ERR_IO, "%s: cannot write", part);
    }
    const unsigned blocks = (unsigned)((total + BLOCK_BYTES - 1) / BLOCK_BYTES);
    if (offset) {
        say("resuming %s at block %zu of %u (%zu bytes kept)", m->variant, offset / BLOCK_BYTES, blocks, offset);
    }
    char query[256];
    snprintf(query, sizeof query, "name=%s&version=%d&variant=%s&form=%s", m->model, m->version, m->variant,
             tlp ? "tlp" : "tlm");
    size_t ends[8] = { 0 };
    uint32_t decoded_size = 0;
    int header_checked = !tlp, planes_run = 0;
    const int first_planes = o->first_planes > 0 ? o->first_planes : m->planes > 0 ? m->planes : 4;
    const double paced_from = tl_monotonic_seconds();
    const size_t paced_offset = offset;
    tl_status s = TL_OK;
    while (s == TL_OK && offset < total) {
        const unsigned block = (unsigned)(offset / BLOCK_BYTES);
        reply *r = &dev.current;
        s = send_get(r, "model", query, (int)block, 0);
        if (s == TL_OK && !wait_for(r, tl_monotonic_seconds() + (o->block_timeout_s > 0 ? o->block_timeout_s : 10))) {
            s = fail(msg, msg_size, TL_ERR_IO, "download of %s stopped at block %u of %u: no answer from the server"
                     " (%zu bytes kept to resume)", m->variant, block, blocks, offset);
            break;
        }
        if (s == TL_OK && (r->code != 205 || !r->has_block || r->block.num != block ||
                           offset + r->size > total || (!r->block.m && offset + r->size != total) ||
                           (r->block.m && r->size != BLOCK_BYTES))) {
            s = fail(msg, msg_size, TL_ERR_TRUNCATED, "download of %s: bad answer for block %u (%d.%02d, %zu bytes)",
                     m->variant, block, r->code / 100, r->code % 100, r->size);
            break;
        }
        if (s != TL_OK) {
            break;
        }
        memcpy(buf + offset, r->body, r->size);
        if (write(fd, r->body, r->size) != (ssize_t)r->size) {
            s = fail(msg, msg_size, TL_ERR_IO, "%s: cannot write", part);
            break;
        }
        offset += r->size;
        if (block % SYNC_EVERY == SYNC_EVERY - 1) {
            fdatasync(fd); /* a power cut loses at most the last few blocks */
        }
        if (!header_checked && offset >= sizeof(tl_progressive_header)) {
            /* The header holds the digest of every prefix: check the server's
             * signature on it before trusting any plane. */
            if (o->public_key && (!m->tlp_signed || crypto_sign_verify_detached(m->tlp_signature, buf,
                                                                                sizeof(tl_progressive_header),
                                                                                o->public_key) != 0)) {
                s = fail(msg, msg_size, TL_ERR_SIGNATURE, "refused %s: bad or missing signature on the progressive"
                         " header; the running model stays", m->variant);
                break;
            }
            if (!plane_ends(buf, offset, ends, &decoded_size) || ends[7] != total) {
                s = fail(msg, msg_size, TL_ERR_FORMAT, "refused %s: not a progressive stream", m->variant);
                break;
            }
            header_checked = 1;
        }
        int planes = 0;
        while (tlp && header_checked && planes < 8 && ends[planes] <= offset) {
            ++planes;
        }
        if (tlp && !has_active && planes >= first_planes && planes < 8 && planes > planes_run && o->on_model) {
            uint8_t *prefix = aligned_alloc(16, ((size_t)decoded_size + 16) / 16 * 16);
            uint32_t got = 0, size = 0;
            if (prefix && tl_progressive_decode(buf, offset, prefix, decoded_size, &got, &size) == TL_OK) {
                planes_run = (int)got;
                o->on_model(o->ctx, prefix, size, m, (int)got, tl_monotonic_seconds() - dev.start);
            }
            free(prefix);
        }
        if (o->link_bps > 0) {
            sleep_until(paced_from + (double)(offset - paced_offset) * 8.0 / o->link_bps);
        }
    }
    if (dev.dtls_failed && s != TL_OK) {
        s = fail(msg, msg_size, TL_ERR_IO, "DTLS session closed during the download");
    }
    fdatasync(fd);
    close(fd);
    if (s != TL_OK) {
        free(buf);
        return s;
    }
    if (!tlp) {
        *model = buf;
        *model_size = (size_t)total;
        return TL_OK;
    }
    uint8_t *full = aligned_alloc(16, ((size_t)decoded_size + 16) / 16 * 16);
    uint32_t planes = 0, size = 0;
    s = full ? tl_progressive_decode(buf, total, full, decoded_size, &planes, &size) : TL_ERR_NOMEM;
    free(buf);
    if (s != TL_OK || planes != 8) {
        free(full);
        return fail(msg, msg_size, s != TL_OK ? s : TL_ERR_FORMAT, "refused %s: the progressive stream does not"
                    " decode (%s)", m->variant, tl_status_str(s));
    }
    *model = full;
    *model_size = size;
    return TL_OK;
}

/* One round for a manifest: up to date, refused, or downloaded, verified,
 * installed and switched. *installed tells whether the model changed. */
static tl_status install(const tl_manifest *m, int *installed, char *msg, size_t msg_size)
{
    const tl_device_options *o = dev.o;
    *installed = 0;
    char active_slot[2] = "", active_variant[40] = "", active_model[64] = "";
    int active_version = 0;
    const int has_active = tl_device_active(o->slots, active_slot, &active_version, active_variant, active_model);
    /* Versions count per model: a switch to another model (a new context)
     * is not a rollback. */
    const int same_model = has_active && (!active_model[0] || !strcmp(active_model, m->model));
    if (same_model && m->version < active_version) {
        return fail(msg, msg_size, TL_ERR_VERSION, "refused %s version %d: older than the running version %d (rollback)",
                    m->variant, m->version, active_version);
    }
    if (same_model && m->version == active_version && !strcmp(m->variant, active_variant)) {
        snprintf(msg, msg_size, "up to date: %s version %d", m->variant, m->version);
        return TL_OK;
    }
    uint8_t *model = NULL;
    size_t size = 0;
    const double began = tl_monotonic_seconds();
    tl_status s = download(m, has_active, &model, &size, msg, msg_size);
    if (s != TL_OK) {
        return s;
    }
    char part[4200], info[4200];
    snprintf(part, sizeof part, "%.4000s/download.part", o->slots);
    snprintf(info, sizeof info, "%.4000s/download.info", o->slots);
    tl_model loaded;
    s = size == m->bytes ? tl_model_load(&loaded, model, size, 0) : TL_ERR_TRUNCATED;
    if (s == TL_OK && memcmp(loaded.trailer->sha256, m->sha256, 32) != 0) {
        s = TL_ERR_DIGEST; /* not the model the manifest promised */
    }
    if (s == TL_OK && o->public_key) {
        s = tl_model_verify(model, size, o->public_key);
    }
    if (s != TL_OK) {
        unlink(part); /* bad bytes are not worth resuming */
        unlink(info);
        free(model);
        return fail(msg, msg_size, s, "refused %s: %s; the running model stays", m->variant,
                    s == TL_ERR_SIGNATURE ? "bad or missing signature" : tl_status_str(s));
    }
    /* A pruned or int4 model came small; its dense int8 form runs faster,
     * with the same answers. Installed instead when it fits the flash; if
     * anything goes wrong, the verified model is installed as it came. */
    char dense_note[96] = "";
    if (o->densify) {
        const uint32_t packed = tl_model_packed_filters(&loaded);
        uint32_t dense_size = 0;
        uint8_t *dense = NULL;
        tl_status ds = packed ? tl_model_dense_size(&loaded, &dense_size) : TL_OK;
        if (packed && ds == TL_OK && dense_size > o->profile.flash_bytes) {
            snprintf(dense_note, sizeof dense_note, "; kept as it came (dense form: %u bytes, more than the flash)",
                     dense_size);
        } else if (packed && ds == TL_OK && !(dense = malloc(dense_size))) {
            ds = TL_ERR_NOMEM;
        }
        if (dense && (ds = tl_model_densify(&loaded, dense, dense_size, &dense_size)) == TL_OK) {
            snprintf(dense_note, sizeof dense_note, "; made dense: %u bytes", dense_size);
            free(model);
            model = dense;
            size = dense_size;
        } else {
            free(dense);
        }
        if (ds != TL_OK) {
            snprintf(dense_note, sizeof dense_note, "; kept as it came (cannot make it dense: %s)", tl_status_str(ds));
        }
    }
    /* Into the inactive slot, then switch: the old model runs until here. */
    const char next = has_active && active_slot[0] == 'a' ? 'b' : 'a';
    char path[4200], record[4200], text[160];
    snprintf(path, sizeof path, "%.4000s/slot-%c.tlm", o->slots, next);
    snprintf(record, sizeof record, "%.4000s/active", o->slots);
    snprintf(text, sizeof text, "%c %d %s %s\n", next, m->version, m->variant, m->model);
    if (tl_write_file_atomic(path, model, size) != TL_OK || tl_write_file_atomic(record, text, strlen(text)) != TL_OK) {
        free(model);
        return fail(msg, msg_size, TL_ERR_IO, "%s: cannot write the slot", path);
    }
    unlink(part);
    unlink(info);
    *installed = 1;
    snprintf(msg, msg_size, "installed %s %s version %d (%llu bytes in %.2f s, %s%s) in slot %c", m->model,
             m->variant, m->version, (unsigned long long)m->bytes, tl_monotonic_seconds() - began,
             o->public_key ? "signature valid" : "digest valid", dense_note, next);
    say("%s", msg);
    if (o->on_model) {
        o->on_model(o->ctx, model, size, m, 8, tl_monotonic_seconds() - dev.start);
    }
    free(model);
    return TL_OK;
}

static tl_status connect_session(const tl_device_options *o, char *msg, size_t msg_size)
{
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons(o->port);
    dst.size = sizeof(struct sockaddr_in);
    if (inet_pton(AF_INET, o->host, &dst.addr.sin.sin_addr) != 1) {
        return fail(msg, msg_size, TL_ERR_ARG, "bad server address %s", o->host);
    }
    if (o->psk) {
        coap_dtls_cpsk_t setup;
        memset(&setup, 0, sizeof setup);
        setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
        setup.psk_info.identity.s = (const uint8_t *)o->psk->identity;
        setup.psk_info.identity.length = strlen(o->psk->identity);
        setup.psk_info.key.s = o->psk->key;
        setup.psk_info.key.length = o->psk->key_size;
        dev.session = coap_new_client_session_psk2(dev.ctx, NULL, &dst, COAP_PROTO_DTLS, &setup);
    } else {
        dev.session = coap_new_client_session(dev.ctx, NULL, &dst, COAP_PROTO_UDP);
    }
    return dev.session ? TL_OK : fail(msg, msg_size, TL_ERR_IO, "cannot open a session to %s:%u", o->host, o->port);
}

static tl_status start(const tl_device_options *o, char *msg, size_t msg_size)
{
    memset(&dev, 0, sizeof dev);
    dev.o = o;
    dev.start = tl_monotonic_seconds();
    msg[0] = '\0';
    if (o->public_key && sodium_init() < 0) {
        return fail(msg, msg_size, TL_ERR_IO, "libsodium cannot start");
    }
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    coap_dtls_set_log_level(LOG_EMERG);
    dev.ctx = coap_new_context(NULL);
    if (!dev.ctx) {
        return fail(msg, msg_size, TL_ERR_NOMEM, "cannot start CoAP");
    }
    coap_register_response_handler(dev.ctx, on_response);
    coap_register_event_handler(dev.ctx, on_event);
    return connect_session(o, msg, msg_size);
}

static void finish(void)
{
    free(dev.current.body);
    free(dev.plan.body);
    coap_free_context(dev.ctx);
    coap_cleanup();
    memset(&dev, 0, sizeof dev);
}

tl_status tl_context_set(const char *host, uint16_t port, const tl_psk *psk, const char *device, const char *pairs,
                         char *reply_text, size_t reply_size)
{
    tl_device_options o;
    memset(&o, 0, sizeof o);
    o.host = host;
    o.port = port;
    o.psk = psk;
    tl_status s = start(&o, reply_text, reply_size);
    char query[640];
    if (snprintf(query, sizeof query, "device=%s%s%s", device, pairs ? "&" : "", pairs ? pairs : "") >= (int)sizeof query) {
        s = fail(reply_text, reply_size, TL_ERR_ARG, "the context is too long");
    }
    if (s == TL_OK) {
        s = send_request(&dev.current, pairs ? COAP_REQUEST_CODE_POST : COAP_REQUEST_CODE_GET, "context", query, -1, 0);
    }
    if (s == TL_OK && !wait_for(&dev.current, tl_monotonic_seconds() + 10)) {
        s = fail(reply_text, reply_size, TL_ERR_IO, psk ? "no answer over DTLS from coaps://%s:%u (context): the"
                 " handshake was refused (unknown identity or wrong key) or the server is gone"
                 : "no answer from coap://%s:%u (context)", host, port);
    } else if (s == TL_OK) {
        const int ok = dev.current.code == 204 || dev.current.code == 205;
        s = ok ? TL_OK : TL_ERR_ARG;
        snprintf(reply_text, reply_size, "%s%s", ok ? "" : "refused: ",
                 dev.current.body ? (const char *)dev.current.body : "");
        if (ok && !reply_text[0]) {
            snprintf(reply_text, reply_size, "(no context)");
        }
    }
    finish();
    return s;
}

tl_status tl_device_run(const tl_device_options *o, char *msg, size_t msg_size)
{
    tl_status s = start(o, msg, msg_size);
    char query[768];
    int n = snprintf(query, sizeof query, "flash=%llu&ram=%llu&macs=%.0f&rate=%.0f",
                     (unsigned long long)o->profile.flash_bytes, (unsigned long long)o->profile.ram_bytes,
                     o->profile.macs_per_second, o->rate_bps);
    if (o->profile.instructions_per_second > 0) {
        n += snprintf(query + n, sizeof query - (size_t)n, "&ips=%.0f", o->profile.instructions_per_second);
    }
    if (o->densify) {
        n += snprintf(query + n, sizeof query - (size_t)n, "&densify=1");
    }
    if (o->deadline_s > 0) {
        n += snprintf(query + n, sizeof query - (size_t)n, "&deadline=%g", o->deadline_s);
    }
    if (o->profile.joules_per_mac > 0 && o->profile.energy_budget_j > 0) {
        n += snprintf(query + n, sizeof query - (size_t)n, "&jpm=%g&energy=%g", o->profile.joules_per_mac,
                      o->profile.energy_budget_j);
    }
    if (o->device_id) {
        n += snprintf(query + n, sizeof query - (size_t)n, "&device=%s", o->device_id);
    }
    if (o->name) {
        n += snprintf(query + n, sizeof query - (size_t)n, "&name=%s", o->name);
    }
    if (o->context && *o->context) {
        n += snprintf(query + n, sizeof query - (size_t)n, "&%s", o->context);
    }
    if (s == TL_OK && (size_t)n >= sizeof query) {
        s = fail(msg, msg_size, TL_ERR_ARG, "the request is too long");
    }
    const int watch = o->watch_seconds > 0;
    if (s == TL_OK) {
        s = send_get(&dev.plan, "plan", query, -1, watch);
    }
    const double end = dev.start + (watch ? o->watch_seconds : 0);
    int rounds = 0, installs = 0;
    while (s == TL_OK) {
        const double until = rounds == 0 ? tl_monotonic_seconds() + (o->block_timeout_s > 0 ? o->block_timeout_s : 10) : end;
        if (!wait_for(&dev.plan, until)) {
            if (rounds == 0) {
                s = fail(msg, msg_size, TL_ERR_IO, o->psk
                         ? "no answer over DTLS from coaps://%s:%u (plan): the handshake was refused (unknown"
                           " identity or wrong key) or the server is gone"
                         : "no answer from coap://%s:%u (plan)", o->host, o->port);
            }
            break; /* the watch is over */
        }
        ++rounds;
        dev.plan.done = 0; /* the next notification */
        tl_manifest m;
        if (dev.plan.code != 205 || tl_manifest_decode(dev.plan.body, dev.plan.size, &m) != TL_OK) {
            s = fail(msg, msg_size, TL_ERR_UNSUPPORTED, "the server has no model for this device (%d.%02d): %s",
                     dev.plan.code / 100, dev.plan.code % 100,
                     dev.plan.body && dev.plan.code != 205 ? (const char *)dev.plan.body : "bad manifest");
        } else {
            if (rounds > 1) {
                say("notified (%.2f s): the plan is now %s %s version %d", tl_monotonic_seconds() - dev.start, m.model,
                    m.variant, m.version);
            }
            int installed = 0;
            s = install(&m, &installed, msg, msg_size);
            installs += installed;
        }
        if (!watch || (o->max_updates > 0 && installs >= o->max_updates)) {
            break;
        }
        if (s != TL_OK) {
            say("%s", msg); /* keep watching with the running model */
            s = TL_OK;
        }
        if (dev.plan.code != 205) {
            /* An error answer ends an observation (RFC 7641): register again
             * in a second, the library or the context may change. */
            sleep_until(tl_monotonic_seconds() + 1.0);
            s = send_get(&dev.plan, "plan", query, -1, 1);
        }
    }
    finish();
    return s;
}
