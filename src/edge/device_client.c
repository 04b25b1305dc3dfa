/* device_client.c - a host process as a device of in-situ downloading: the
 * libcoap/POSIX adapter around the device's own update state machine
 * (src/device/update/, docs/update.md).
 *
 * The machine decides; this file only carries bytes. It gives the machine
 * a flash of three regions, each a file in the slot folder mirrored in
 * memory (DIR/slot-a.tlm, DIR/slot-b.tlm, DIR/staging.tlp), a record
 * written atomically (DIR/update.record), and the clock. A round asks the
 * edge server's planner which variant fits (a CBOR manifest carrying the
 * publisher's signed manifest), offers the signed manifest to the machine,
 * and fetches the blocks the machine still wants, one CoAP Block2 request
 * at a time (RFC 7959), pacing them to an emulated link if asked. The
 * machine checks the signature, the rollback guard, every block and the
 * whole model, and installs it into the slot that is not running.
 *
 * - Resume: the record names the download in progress and its blocks; a
 *   later round offered the same manifest fetches only what is missing.
 * - Progressive: with the .tlp form, each whole prefix of planes is
 *   decoded by the machine and, on a device with no model yet, run at once
 *   (on_model), before the rest arrives.
 * - Observe (RFC 7641): with watch_seconds, the plan request stays
 *   registered; the server's notifications start new rounds.
 * DIR/active is a one-line mirror of the record for people and scripts
 * ("slot version variant model"); nothing here reads it to decide.
 * All state lives in a tl_device_client, reached from libcoap's handlers
 * through the context's app data.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>
#include <sodium.h>

#include "tinylarge/device.h"
#include "tinylarge/coap.h"
#include "tinylarge/format.h"
#include "tinylarge/host.h"
#include "tinylarge/library.h"
#include "tinylarge/offload.h"
#include "tinylarge/secagg.h"
#include "tinylarge/update.h"
#include "tinylarge/update_link.h"

enum { BLOCK_SZX = 6 };
/* The emulated flash is memory: a slot as big as the device says, at most
 * this much (the largest download the machine's record tracks). */
#define MAX_REGION_BYTES ((uint64_t)TL_UPDATE_MAX_BLOCKS * TL_UPDATE_BLOCK_BYTES)

static const char *const region_file[3] = { "slot-a.tlm", "slot-b.tlm", "staging.tlp" };

typedef struct reply {
    uint8_t token[8];
    size_t token_len;
    int done, code;             /* code: class * 100 + detail */
    uint8_t *body;
    size_t size;
    coap_block_t block;
    int has_block;
    int observed;               /* the answer carries Observe: notifications will follow */
    coap_session_t *session;    /* the answer comes on the session the request went out on */
} reply;

typedef struct tl_device_client {
    const tl_device_options *o;
    coap_context_t *ctx;
    coap_session_t *session;    /* to the server that plans */
    coap_session_t *fetch;      /* to the port the plan names for /model, or NULL */
    uint16_t fetch_port;
    reply current;              /* the request in flight */
    reply plan;                 /* the latest plan answer or notification */
    char plan_path[80];         /* "plan", or "plan/ID" for a watching device with an ID */
    int dtls_failed;
    double start;
    /* the device's flash and the machine on it */
    uint8_t *region[3];
    uint32_t region_size[3];
    int fd[3];
    uint8_t *work;              /* decoding and densifying RAM, a slot's size */
    tl_update update;
    const tl_manifest *served;  /* the round's manifest, as the server gave it */
    /* or a device behind a serial link (a gateway: options.uart) */
    int link;
    tl_link_reader reader;
    char mirror[160];           /* what DIR/active says now ("" before the first write) */
} tl_device_client;

/* The machine a round drives: this process's own, over files, or a
 * device's, across a serial link. Each step leaves the machine's word in
 * *state. */
typedef struct machine_port {
    tl_status (*offer)(tl_device_client *c, const uint8_t *envelope, size_t size, int progressive,
                       uint32_t first_planes, tl_update_state *state);
    tl_status (*block)(tl_device_client *c, uint32_t index, const uint8_t *data, uint32_t size,
                       tl_update_state *state);
    void (*checkpoint)(tl_device_client *c);
} machine_port;

#define say(c, ...) tl_log((c)->o->log, (c)->o->ctx, __VA_ARGS__)
#define fail tl_fail

/* ---- the flash and record, as files ---- */

static tl_status flash_erase(void *user, tl_update_region r, uint32_t offset, uint32_t size)
{
    tl_device_client *c = user;
    if ((uint64_t)offset + size > c->region_size[r]) {
        return TL_ERR_BOUNDS;
    }
    if (offset == 0) { /* the machine erases a region from its start: the file starts over */
        memset(c->region[r], 0xFF, c->region_size[r]);
        return ftruncate(c->fd[r], 0) == 0 ? TL_OK : TL_ERR_IO;
    }
    memset(c->region[r] + offset, 0xFF, size);
    return pwrite(c->fd[r], c->region[r] + offset, size, (off_t)offset) == (ssize_t)size ? TL_OK : TL_ERR_IO;
}

static tl_status flash_write(void *user, tl_update_region r, uint32_t offset, const void *data, uint32_t size)
{
    tl_device_client *c = user;
    if ((uint64_t)offset + size > c->region_size[r]) {
        return TL_ERR_BOUNDS;
    }
    memcpy(c->region[r] + offset, data, size);
    return pwrite(c->fd[r], data, size, (off_t)offset) == (ssize_t)size ? TL_OK : TL_ERR_IO;
}

static const uint8_t *flash_map(void *user, tl_update_region r)
{
    return ((tl_device_client *)user)->region[r];
}

static void path_in(const tl_device_client *c, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%.4000s/%s", c->o->slots, name);
}

/* The record, atomically; and its mirror DIR/active for people. */
static tl_status record_save(void *user, const tl_update_record *record)
{
    tl_device_client *c = user;
    char path[4200];
    path_in(c, "update.record", path, sizeof path);
    tl_status s = tl_write_file_atomic(path, record, sizeof *record);
    if (s == TL_OK && record->active != TL_UPDATE_NO_SLOT) {
        char line[160];
        const int n = snprintf(line, sizeof line, "%c %u %s %s\n", record->active == TL_REGION_SLOT_A ? 'a' : 'b',
                               record->active_version, record->active_variant, record->active_model);
        if (strcmp(line, c->mirror) != 0) { /* the record is saved every block; the mirror changes at installs */
            path_in(c, "active", path, sizeof path);
            s = tl_write_file_atomic(path, line, (size_t)n);
            if (s == TL_OK) {
                memcpy(c->mirror, line, (size_t)n + 1);
            }
        }
    }
    return s;
}

static uint32_t clock_ms(void *user)
{
    (void)user;
    return (uint32_t)(uint64_t)(tl_monotonic_seconds() * 1000.0);
}

static void on_update_event(void *user, const tl_update_event *e)
{
    tl_device_client *c = user;
    /* A prefix runs now, mid-download; an installed model once its round
     * has been reported (install()). */
    if (e->kind == TL_UPDATE_PREFIX && c->o->on_model && c->served) {
        c->o->on_model(c->o->ctx, e->model, e->size, c->served, (int)e->planes, tl_monotonic_seconds() - c->start);
    }
}

/* Opens the slot folder's three regions and the record, and starts the
 * machine on them. */
static tl_status open_flash(tl_device_client *c, char *msg, size_t msg_size)
{
    const tl_device_options *o = c->o;
    const uint64_t flash = o->profile.flash_bytes < MAX_REGION_BYTES ? o->profile.flash_bytes : MAX_REGION_BYTES;
    const uint64_t staging = flash * 2 + 65536 < MAX_REGION_BYTES ? flash * 2 + 65536 : MAX_REGION_BYTES;
    c->region_size[0] = c->region_size[1] = (uint32_t)flash;
    c->region_size[2] = (uint32_t)staging;
    for (int r = 0; r < 3; ++r) {
        char path[4200];
        path_in(c, region_file[r], path, sizeof path);
        c->region[r] = aligned_alloc(16, ((size_t)c->region_size[r] + 16) / 16 * 16);
        c->fd[r] = open(path, O_RDWR | O_CREAT, 0644);
        if (!c->region[r] || c->fd[r] < 0) {
            return fail(msg, msg_size, c->region[r] ? TL_ERR_IO : TL_ERR_NOMEM, "%s: cannot open the slot", path);
        }
        memset(c->region[r], 0xFF, c->region_size[r]);
        const ssize_t n = pread(c->fd[r], c->region[r], c->region_size[r], 0);
        if (n < 0) {
            return fail(msg, msg_size, TL_ERR_IO, "%s: cannot read the slot", path);
        }
    }
    c->work = aligned_alloc(16, ((size_t)flash + 16) / 16 * 16);
    if (!c->work) {
        return TL_ERR_NOMEM;
    }
    tl_update_record *saved = NULL;
    uint8_t *bytes = NULL;
    size_t size = 0;
    char path[4200];
    path_in(c, "update.record", path, sizeof path);
    if (tl_read_file(path, &bytes, &size) == TL_OK && size == sizeof *saved) {
        saved = (tl_update_record *)(void *)bytes;
    }
    const tl_update_io io = { flash_erase, flash_write, flash_map, { c->region_size[0], c->region_size[1], c->region_size[2] },
                              record_save, clock_ms, on_update_event, c };
    tl_update_config config;
    memset(&config, 0, sizeof config);
    config.public_key = o->public_key;
    config.allow_unsigned = o->insecure;
    config.target = "host";
    config.work = c->work;
    config.work_size = (uint32_t)flash;
    config.densify = o->profile.densify;
    config.save_every = 1; /* a killed process loses nothing it wrote */
    const tl_status s = tl_update_start(&c->update, &config, &io, saved);
    free(bytes);
    if (s == TL_ERR_DIGEST) {
        return fail(msg, msg_size, s, "%s: the update record is damaged; the device will not guess which slot runs"
                    " (remove the folder to start afresh)", path);
    }
    return s == TL_OK ? TL_OK : fail(msg, msg_size, s, "cannot start the update machine: %s", tl_status_str(s));
}

static void close_flash(tl_device_client *c)
{
    for (int r = 0; r < 3; ++r) {
        free(c->region[r]);
        if (c->fd[r] >= 0) {
            close(c->fd[r]);
        }
    }
    free(c->work);
}

/* ---- CoAP ---- */

static void keep(reply *r, const coap_pdu_t *received)
{
    const coap_pdu_code_t code = coap_pdu_get_code(received);
    r->code = (int)COAP_RESPONSE_CLASS(code) * 100 + (int)(code & 0x1F);
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    free(r->body);
    r->body = NULL;
    r->size = 0;
    /* A body libcoap reassembled from blocks comes whole; a block the
     * device asked for, as that block. */
    if (coap_get_data_large(received, &len, &data, &offset, &total) && data) {
        r->body = malloc(len + 1);
        if (r->body) {
            memcpy(r->body, data, len);
            r->body[len] = '\0';
            r->size = len;
        }
    }
    r->has_block = coap_get_block(received, COAP_OPTION_BLOCK2, &r->block);
    coap_opt_iterator_t it;
    r->observed = coap_check_option(received, COAP_OPTION_OBSERVE, &it) != NULL;
    r->done = 1;
}

static int same_token(const reply *r, const coap_session_t *session, coap_bin_const_t t)
{
    return r->token_len && r->session == session && t.length == r->token_len && !memcmp(t.s, r->token, t.length);
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t id)
{
    (void)sent;
    (void)id;
    tl_device_client *c = coap_get_app_data(coap_session_get_context(session));
    const coap_bin_const_t token = coap_pdu_get_token(received);
    if (same_token(&c->plan, session, token)) {
        keep(&c->plan, received); /* the first answer or a notification */
    } else if (same_token(&c->current, session, token)) {
        keep(&c->current, received);
    }
    return COAP_RESPONSE_OK;
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
    tl_device_client *c = coap_get_app_data(coap_session_get_context(session));
    if (event == COAP_EVENT_DTLS_ERROR || event == COAP_EVENT_DTLS_CLOSED) {
        c->dtls_failed = 1;
    }
    return 0;
}

/* Why a DTLS exchange got no answer, as far as the device can tell. An
 * error reached it (the server's alert for an identity it does not know,
 * or the network's word that nothing listens), or nothing did: the
 * server drops a handshake whose key does not match without a word, and
 * one too busy (say, under a flood of handshakes) never answers. */
static const char *dtls_why(const tl_device_client *c)
{
    return c->dtls_failed ? "the handshake was refused or nothing listens (an unknown identity, or no server)"
                          : "the handshake did not finish (a wrong key, or a server too busy to answer)";
}

/* One Uri-Path option per segment of path ("a/b"), then one Uri-Query
 * option per "k=v" of query (may be NULL). */
static void add_path_query(coap_pdu_t *pdu, const char *path, const char *query)
{
    for (const char *p = path; p;) {
        const char *slash = strchr(p, '/');
        const size_t n = slash ? (size_t)(slash - p) : strlen(p);
        coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)p);
        p = slash ? slash + 1 : NULL;
    }
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        const size_t n = amp ? (size_t)(amp - p) : strlen(p);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, n, (const uint8_t *)p);
        p = amp ? amp + 1 : NULL;
    }
}

/* Sends `code` path?query as a message of `type` on `session` (with Block2
 * `block` if >= 0, Observe 0 if observe) and records its token in r. */
static tl_status send_on(coap_session_t *session, reply *r, coap_pdu_type_t type, coap_pdu_code_t code,
                         const char *path, const char *query, int block, int observe)
{
    free(r->body);
    memset(r, 0, sizeof *r);
    r->session = session;
    coap_pdu_t *pdu = coap_pdu_init(type, code, coap_new_message_id(session),
                                    coap_session_max_pdu_size(session));
    if (!pdu) {
        return TL_ERR_NOMEM;
    }
    coap_session_new_token(session, &r->token_len, r->token);
    coap_add_token(pdu, r->token_len, r->token);
    uint8_t buf[4];
    if (observe) {
        coap_add_option(pdu, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof buf, COAP_OBSERVE_ESTABLISH), buf);
    }
    add_path_query(pdu, path, query);
    if (block >= 0) {
        coap_add_option(pdu, COAP_OPTION_BLOCK2,
                        coap_encode_var_safe(buf, sizeof buf, ((unsigned)block << 4) | BLOCK_SZX), buf);
    }
    return coap_send(session, pdu) == COAP_INVALID_MID ? TL_ERR_IO : TL_OK;
}

/* The same, to the server that plans. */
static tl_status send_request(tl_device_client *c, reply *r, coap_pdu_code_t code, const char *path, const char *query,
                              int block, int observe)
{
    return send_on(c->session, r, COAP_MESSAGE_CON, code, path, query, block, observe);
}

/* Runs the CoAP loop until r is answered or `until` (monotonic seconds). */
static int wait_for(tl_device_client *c, const reply *r, double until)
{
    while (!r->done && !c->dtls_failed) {
        const double left = until - tl_monotonic_seconds();
        if (left <= 0) {
            return 0;
        }
        coap_io_process(c->ctx, left > 0.1 ? 100 : (unsigned)(left * 1000) + 1);
    }
    return r->done;
}

static void sleep_until(tl_device_client *c, double until)
{
    double left;
    while ((left = until - tl_monotonic_seconds()) > 0) {
        coap_io_process(c->ctx, left > 0.1 ? 100 : (unsigned)(left * 1000) + 1);
    }
}

int tl_device_active(const char *slots, char *slot, int *version, char *variant, char *model)
{
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/update.record", slots);
    uint8_t *bytes;
    size_t size;
    if (tl_read_file(path, &bytes, &size) != TL_OK) {
        return 0;
    }
    const tl_update_record *r = (const tl_update_record *)(const void *)bytes;
    const int ok = size == sizeof *r && tl_update_record_valid(r) && r->active != TL_UPDATE_NO_SLOT;
    if (ok) {
        slot[0] = r->active == TL_REGION_SLOT_A ? 'a' : 'b';
        slot[1] = '\0';
        *version = (int)r->active_version;
        snprintf(variant, 40, "%.31s", r->active_variant);
        if (model) {
            snprintf(model, 64, "%.63s", r->active_model);
        }
    }
    free(bytes);
    return ok;
}

/* ---- the machine: local, or across a serial link ---- */

static tl_status local_offer(tl_device_client *c, const uint8_t *envelope, size_t size, int progressive,
                             uint32_t first_planes, tl_update_state *st)
{
    tl_update_verdict verdict = (tl_update_verdict)0;
    c->update.config.first_planes = first_planes;
    const tl_status s = tl_update_offer(&c->update, envelope, size, progressive, &verdict);
    tl_update_state_of(&c->update, s, st);
    st->verdict = (uint32_t)verdict;
    return s;
}

static tl_status local_block(tl_device_client *c, uint32_t index, const uint8_t *data, uint32_t size,
                             tl_update_state *st)
{
    int installed = 0;
    const tl_status s = tl_update_block(&c->update, index, data, size, &installed);
    tl_update_state_of(&c->update, s, st);
    st->installed = (uint32_t)installed;
    return s;
}

static void local_checkpoint(tl_device_client *c)
{
    tl_update_checkpoint(&c->update);
}

static const machine_port local_port = { local_offer, local_block, local_checkpoint };

/* Sends a frame and waits for the answer of `answer` type (up to 5 s). */
static int link_exchange(tl_device_client *c, uint8_t type, const void *payload, size_t size, uint8_t answer)
{
    uint8_t frame[TL_LINK_MAX_PAYLOAD + TL_LINK_OVERHEAD];
    const size_t n = tl_link_frame(type, payload, size, frame, sizeof frame);
    if (!n || write(c->link, frame, n) != (ssize_t)n) {
        return 0;
    }
    const double until = tl_monotonic_seconds() + 5.0;
    uint8_t buf[512];
    while (tl_monotonic_seconds() < until) {
        const ssize_t got = read(c->link, buf, sizeof buf);
        if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return 0;
        }
        for (ssize_t i = 0; i < got; ++i) {
            if (tl_link_feed(&c->reader, buf[i]) && c->reader.type == answer) {
                return 1; /* the rest of buf, if any, belongs to no request */
            }
        }
        if (got <= 0) {
            struct timespec pause = { 0, 2000000 };
            nanosleep(&pause, NULL);
        }
    }
    return 0;
}

static tl_status link_state(tl_device_client *c, uint8_t type, const void *payload, size_t size, tl_update_state *st)
{
    memset(st, 0, sizeof *st);
    if (!link_exchange(c, type, payload, size, TL_LINK_STATE) || c->reader.size != TL_LINK_STATE_BYTES) {
        st->status = TL_ERR_IO;
        return TL_ERR_IO;
    }
    tl_link_get_state(c->reader.payload, st);
    return st->status;
}

static tl_status link_offer(tl_device_client *c, const uint8_t *envelope, size_t size, int progressive,
                            uint32_t first_planes, tl_update_state *st)
{
    uint8_t payload[2 + TL_MANIFEST_MAX_ENVELOPE];
    if (size > TL_MANIFEST_MAX_ENVELOPE) {
        return TL_ERR_ARG;
    }
    payload[0] = (uint8_t)progressive;
    payload[1] = (uint8_t)first_planes;
    memcpy(payload + 2, envelope, size);
    return link_state(c, TL_LINK_OFFER, payload, 2 + size, st);
}

static tl_status link_block(tl_device_client *c, uint32_t index, const uint8_t *data, uint32_t size,
                            tl_update_state *st)
{
    uint8_t payload[4 + TL_UPDATE_BLOCK_BYTES];
    if (size > TL_UPDATE_BLOCK_BYTES) {
        return TL_ERR_ARG;
    }
    for (int i = 0; i < 4; ++i) {
        payload[i] = (uint8_t)(index >> (8 * i));
    }
    memcpy(payload + 4, data, size);
    return link_state(c, TL_LINK_BLOCK, payload, 4 + size, st);
}

static void link_checkpoint(tl_device_client *c)
{
    tl_update_state st;
    link_state(c, TL_LINK_SAVE, NULL, 0, &st);
}

static const machine_port link_port = { link_offer, link_block, link_checkpoint };

static const machine_port *port_of(const tl_device_client *c)
{
    return c->link >= 0 ? &link_port : &local_port;
}

/* Connects to the device's serial link (a Unix socket: QEMU's -serial
 * unix:PATH) and greets it. */
static tl_status open_link(tl_device_client *c, char *msg, size_t msg_size)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(c->o->uart) >= sizeof addr.sun_path) {
        return fail(msg, msg_size, TL_ERR_ARG, "%s: too long a socket path", c->o->uart);
    }
    memcpy(addr.sun_path, c->o->uart, strlen(c->o->uart));
    c->link = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c->link < 0 || connect(c->link, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        fcntl(c->link, F_SETFL, O_NONBLOCK) != 0) {
        return fail(msg, msg_size, TL_ERR_IO, "%s: cannot reach the device's serial link (%s)", c->o->uart,
                    strerror(errno));
    }
    tl_link_reader_init(&c->reader);
    /* An earlier gateway killed mid-frame left the device waiting for the
     * rest of a frame up to a block long: a frame's worth of zeros ends
     * it (it then fails its check) and is skipped by a reader hunting for
     * the next frame. */
    static const uint8_t zeros[TL_LINK_MAX_PAYLOAD + TL_LINK_OVERHEAD];
    if (write(c->link, zeros, sizeof zeros) != (ssize_t)sizeof zeros) {
        return fail(msg, msg_size, TL_ERR_IO, "%s: cannot write to the device's serial link", c->o->uart);
    }
    tl_update_state st;
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (link_state(c, TL_LINK_HELLO, NULL, 0, &st) == TL_OK) {
            say(c, "device on %s: %s", c->o->uart, st.slot ? "running a model" : "no model yet");
            return TL_OK;
        }
    }
    return fail(msg, msg_size, TL_ERR_IO, "%s: the device does not answer on its serial link", c->o->uart);
}

/* Asks the device behind the link to run its model; logs "output: ...". */
static tl_status link_run(tl_device_client *c, char *msg, size_t msg_size)
{
    if (!link_exchange(c, TL_LINK_RUN, NULL, 0, TL_LINK_OUTPUT) || c->reader.size < 9) {
        return fail(msg, msg_size, TL_ERR_IO, "the device did not answer the run request");
    }
    const uint8_t *p = c->reader.payload;
    if (p[0] != TL_OK) {
        return fail(msg, msg_size, (tl_status)p[0], "the device cannot run its model: %s", tl_status_str((tl_status)p[0]));
    }
    char line[2048];
    int n = snprintf(line, sizeof line, "output:");
    for (uint32_t i = 9; i < c->reader.size && n < (int)sizeof line - 8; ++i) {
        n += snprintf(line + n, sizeof line - (size_t)n, " %d", (int)(int8_t)p[i]);
    }
    say(c, "%s", line);
    const uint32_t ticks = (uint32_t)p[5] | (uint32_t)p[6] << 8 | (uint32_t)p[7] << 16 | (uint32_t)p[8] << 24;
    say(c, "timer ticks: %u", ticks);
    return TL_OK;
}

/* ---- a round ---- */

static tl_status fetch_session(tl_device_client *c, uint16_t port, coap_session_t **session, char *msg,
                               size_t msg_size);

/* Fetches the blocks the machine wants until it installs or refuses. */
static tl_status fetch(tl_device_client *c, const tl_manifest *m, int tlp, tl_update_state *st, char *msg,
                       size_t msg_size)
{
    const tl_device_options *o = c->o;
    const machine_port *port = port_of(c);
    const uint32_t blocks = st->block_count;
    if (st->received) {
        say(c, "resuming %s at block %u of %u (%u bytes kept)", m->variant, st->next_block, blocks,
            st->received * TL_UPDATE_BLOCK_BYTES);
    }
    char query[256];
    snprintf(query, sizeof query, "name=%s&version=%d&variant=%s&form=%s", m->model, m->version, m->variant,
             tlp ? "tlp" : "tlm");
    coap_session_t *from;
    tl_status opened = fetch_session(c, m->fetch_port, &from, msg, msg_size);
    if (opened != TL_OK) {
        return opened;
    }
    const double paced_from = tl_monotonic_seconds();
    uint64_t paced_bytes = 0;
    while (st->next_block != TL_UPDATE_NO_BLOCK) {
        const uint32_t block = st->next_block;
        reply *r = &c->current;
        tl_status s = send_on(from, r, COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, "model", query, (int)block, 0);
        if (s == TL_OK && !wait_for(c, r, tl_monotonic_seconds() + (o->block_timeout_s > 0 ? o->block_timeout_s : 10))) {
            port->checkpoint(c);
            if (c->dtls_failed) {
                return fail(msg, msg_size, TL_ERR_IO, "DTLS session closed during the download");
            }
            return fail(msg, msg_size, TL_ERR_IO, "download of %s stopped at block %u of %u: no answer from the"
                        " server (%u bytes kept to resume)", m->variant, block, blocks,
                        st->received * TL_UPDATE_BLOCK_BYTES);
        }
        if (s != TL_OK) {
            return fail(msg, msg_size, s, "cannot send a request: %s", tl_status_str(s));
        }
        if (r->code != 205 || !r->has_block || r->block.num != block) {
            port->checkpoint(c);
            return fail(msg, msg_size, TL_ERR_TRUNCATED, "download of %s: bad answer for block %u (%d.%02d, %zu bytes)",
                        m->variant, block, r->code / 100, r->code % 100, r->size);
        }
        s = port->block(c, block, r->body, (uint32_t)r->size, st);
        if (s != TL_OK) {
            return fail(msg, msg_size, s, "refused %s: %s (%s); the running model stays", m->variant,
                        tl_update_reason_str(st->reason), tl_status_str(s));
        }
        paced_bytes += r->size;
        if (st->installed) {
            return TL_OK;
        }
        if (o->link_bps > 0) {
            sleep_until(c, paced_from + (double)paced_bytes * 8.0 / o->link_bps);
        }
    }
    return fail(msg, msg_size, TL_ERR_STATE, "download of %s: no block left and nothing installed", m->variant);
}

/* What the install did about densifying, for its message. */
static void dense_note(const tl_device_options *o, const tl_update_state *st, char *note, size_t size)
{
    note[0] = '\0';
    if (st->densified) {
        snprintf(note, size, "; made dense: %u bytes", st->size);
    } else if (o->profile.densify && st->dense_size && st->dense_status == TL_OK) {
        snprintf(note, size, "; kept as it came (dense form: %u bytes, more than the flash)", st->dense_size);
    } else if (o->profile.densify && st->dense_status != TL_OK) {
        snprintf(note, size, "; kept as it came (cannot make it dense: %s)", tl_status_str(st->dense_status));
    }
}

/* One round for a served manifest: up to date, refused, or downloaded,
 * checked and installed by the machine. *installed says whether the model
 * changed. */
static tl_status install(tl_device_client *c, const tl_manifest *m, int *installed, char *msg, size_t msg_size)
{
    const tl_device_options *o = c->o;
    *installed = 0;
    if (m->envelope_size == 0) {
        return fail(msg, msg_size, TL_ERR_SIGNATURE, "refused %s version %d: the library holds no signed manifest for"
                    " it (published before manifests were signed: publish it again)", m->variant, m->version);
    }
    /* Progressive when asked for, or when the planner met the deadline
     * with a prefix. */
    const int tlp = (o->progressive || m->planes > 0) && m->tlp_bytes > 0;
    const uint32_t first_planes = (uint32_t)(o->first_planes > 0 ? o->first_planes : m->planes > 0 ? m->planes : 4);
    c->served = m;
    tl_update_state st;
    const double began = tl_monotonic_seconds();
    tl_status s = port_of(c)->offer(c, m->envelope, m->envelope_size, tlp, first_planes, &st);
    if (s != TL_OK) {
        return fail(msg, msg_size, s, "refused %s version %d: %s; the running model stays", m->variant, m->version,
                    s == TL_ERR_IO && c->link >= 0 ? "the device does not answer" : tl_update_reason_str(st.reason));
    }
    if (st.verdict == TL_UPDATE_CURRENT) {
        snprintf(msg, msg_size, "up to date: %s version %d", m->variant, m->version);
        return TL_OK;
    }
    s = fetch(c, m, tlp, &st, msg, msg_size);
    if (s != TL_OK) {
        return s;
    }
    *installed = 1;
    char note[160];
    dense_note(o, &st, note, sizeof note);
    snprintf(msg, msg_size, "installed %s %s version %d (%llu bytes in %.2f s, %s%s) in slot %c", m->model, m->variant,
             m->version, (unsigned long long)(tlp ? m->tlp_bytes : m->bytes), tl_monotonic_seconds() - began,
             st.is_signed ? "signature valid" : "signature not checked: insecure device", note, st.slot);
    say(c, "%s", msg);
    uint32_t size;
    const uint8_t *model = c->link < 0 ? tl_update_active(&c->update, &size) : NULL;
    if (o->on_model && model) {
        o->on_model(o->ctx, model, size, m, 8, tl_monotonic_seconds() - c->start);
    }
    return TL_OK;
}

/* A session to the server's host at `port`, with the device's DTLS
 * identity if it has one. */
static tl_status open_session(tl_device_client *c, uint16_t port, coap_session_t **session, char *msg,
                              size_t msg_size)
{
    const tl_device_options *o = c->o;
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons(port);
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
        *session = coap_new_client_session_psk2(c->ctx, NULL, &dst, COAP_PROTO_DTLS, &setup);
    } else {
        *session = coap_new_client_session(c->ctx, NULL, &dst, COAP_PROTO_UDP);
    }
    return *session ? TL_OK : fail(msg, msg_size, TL_ERR_IO, "cannot open a session to %s:%u", o->host, port);
}

static tl_status connect_session(tl_device_client *c, char *msg, size_t msg_size)
{
    return open_session(c, c->o->port, &c->session, msg, msg_size);
}

/* Where /model is asked for: the port the plan names (a download worker
 * of the server), else the server that planned. */
static tl_status fetch_session(tl_device_client *c, uint16_t port, coap_session_t **session, char *msg,
                               size_t msg_size)
{
    if (!port || port == c->o->port) {
        *session = c->session;
        return TL_OK;
    }
    if (c->fetch && c->fetch_port != port) {
        coap_session_release(c->fetch);
        c->fetch = NULL;
    }
    if (!c->fetch) {
        const tl_status s = open_session(c, port, &c->fetch, msg, msg_size);
        if (s != TL_OK) {
            return s;
        }
        c->fetch_port = port;
    }
    *session = c->fetch;
    return TL_OK;
}

/* large_bodies: libcoap splits request bodies into Block1 blocks (uploads);
 * the update rounds ask for their Block2 blocks themselves. */
static tl_status start(tl_device_client *c, const tl_device_options *o, int large_bodies, char *msg,
                       size_t msg_size)
{
    memset(c, 0, sizeof *c);
    c->fd[0] = c->fd[1] = c->fd[2] = -1;
    c->link = -1;
    c->o = o;
    c->start = tl_monotonic_seconds();
    msg[0] = '\0';
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    coap_dtls_set_log_level(LOG_EMERG);
    c->ctx = coap_new_context(NULL);
    if (!c->ctx) {
        return fail(msg, msg_size, TL_ERR_NOMEM, "cannot start CoAP");
    }
    coap_set_app_data(c->ctx, c);
    if (large_bodies) {
        coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    }
    coap_register_response_handler(c->ctx, on_response);
    coap_register_event_handler(c->ctx, on_event);
    return connect_session(c, msg, msg_size);
}

static void finish(tl_device_client *c)
{
    free(c->current.body);
    free(c->plan.body);
    coap_free_context(c->ctx);
    coap_cleanup();
    if (c->o && c->o->slots) {
        close_flash(c);
    }
    if (c->link >= 0) {
        close(c->link);
    }
}

/* A client for one exchange or two (no slots, no update machine); *s says
 * whether it started. NULL: out of memory. The caller finishes and frees it. */
static tl_device_client *one_shot(tl_device_options *o, const char *host, uint16_t port, const tl_psk *psk,
                                  int large_bodies, tl_status *s, char *msg, size_t msg_size)
{
    memset(o, 0, sizeof *o);
    o->host = host;
    o->port = port;
    o->psk = psk;
    tl_device_client *c = malloc(sizeof *c);
    if (c) {
        *s = start(c, o, large_bodies, msg, msg_size);
    }
    return c;
}

tl_status tl_context_set(const char *host, uint16_t port, const tl_psk *psk, const char *device, const char *pairs,
                         char *reply_text, size_t reply_size)
{
    tl_device_options o;
    tl_status s = TL_OK;
    tl_device_client *c = one_shot(&o, host, port, psk, 0, &s, reply_text, reply_size);
    if (!c) {
        return TL_ERR_NOMEM;
    }
    char query[640];
    if (snprintf(query, sizeof query, "device=%s%s%s", device, pairs ? "&" : "", pairs ? pairs : "") >= (int)sizeof query) {
        s = fail(reply_text, reply_size, TL_ERR_ARG, "the context is too long");
    }
    if (s == TL_OK) {
        s = send_request(c, &c->current, pairs ? COAP_REQUEST_CODE_POST : COAP_REQUEST_CODE_GET, "context", query, -1,
                         0);
    }
    if (s == TL_OK && !wait_for(c, &c->current, tl_monotonic_seconds() + 10)) {
        s = fail(reply_text, reply_size, TL_ERR_IO, psk ? "no answer over DTLS from coaps://%s:%u (context): %s"
                 : "no answer from coap://%s:%u (context)%s", host, port, psk ? dtls_why(c) : "");
    } else if (s == TL_OK) {
        const int ok = c->current.code == 204 || c->current.code == 205;
        s = ok ? TL_OK : TL_ERR_ARG;
        snprintf(reply_text, reply_size, "%s%s", ok ? "" : "refused: ",
                 c->current.body ? (const char *)c->current.body : "");
        if (ok && !reply_text[0]) {
            snprintf(reply_text, reply_size, "(no context)");
        }
    }
    finish(c);
    free(c);
    return s;
}

/* The value of key in "k=v&k=v" text, as an int; -1 if missing. */
static long text_field(const char *text, const char *key)
{
    char value[32];
    return tl_text_value(text, key, value, sizeof value)[0] ? strtol(value, NULL, 10) : -1;
}

/* Waits `seconds` for the answer to the request for `path` in c->current.
 * TL_ERR_IO: no answer; TL_ERR_ARG: refused (msg says why, with the
 * server's words). */
static tl_status await_answer(tl_device_client *c, const char *path, double seconds, char *msg, size_t msg_size)
{
    if (!wait_for(c, &c->current, tl_monotonic_seconds() + seconds)) {
        return fail(msg, msg_size, TL_ERR_IO, "no answer from coap%s://%s:%u (%s)", c->o->psk ? "s" : "", c->o->host,
                    c->o->port, path);
    }
    if (c->current.code / 100 != 2) {
        return fail(msg, msg_size, TL_ERR_ARG, "refused: %s", c->current.body ? (const char *)c->current.body : "");
    }
    return TL_OK;
}

/* Sends code path?query, with `body` block-wise (Block1) if not NULL, and
 * waits `seconds` for the answer in c->current (as await_answer). */
static tl_status exchange(tl_device_client *c, coap_pdu_code_t code, const char *path, const char *query,
                          const uint8_t *body, size_t size, double seconds, char *msg, size_t msg_size)
{
    tl_status s = TL_OK;
    if (!body) {
        s = send_request(c, &c->current, code, path, query, -1, 0);
    } else {
        free(c->current.body);
        memset(&c->current, 0, sizeof c->current);
        c->current.session = c->session;
        coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, code, coap_new_message_id(c->session),
                                        coap_session_max_pdu_size(c->session));
        if (!pdu) {
            return TL_ERR_NOMEM;
        }
        coap_session_new_token(c->session, &c->current.token_len, c->current.token);
        coap_add_token(pdu, c->current.token_len, c->current.token);
        add_path_query(pdu, path, query);
        if (!coap_add_data_large_request(c->session, pdu, size, body, NULL, NULL) ||
            coap_send(c->session, pdu) == COAP_INVALID_MID) {
            s = TL_ERR_IO;
        }
    }
    return s == TL_OK ? await_answer(c, path, seconds, msg, msg_size) : s;
}

/* The round's state text ("name=..&round=..&phase=.."), into text; asked
 * once, non-confirmable, when `poll` (a poll repeated each second needs
 * no retransmission, and a confirmable one would queue behind a request
 * still retransmitted to a server that was down (NSTART = 1) for as long
 * as its back-off lasts, seconds a phase's timeout may not have). */
static tl_status read_round(tl_device_client *c, const char *name, int poll, char *text, size_t size, char *msg,
                            size_t msg_size)
{
    char query[96];
    snprintf(query, sizeof query, "name=%s", name);
    tl_status s = send_on(c->session, &c->current, poll ? COAP_MESSAGE_NON : COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET,
                          "round", query, -1, 0);
    if (s == TL_OK) {
        s = await_answer(c, "round", poll ? 1.0 : 10.0, msg, msg_size);
    }
    if (s == TL_OK) {
        snprintf(text, size, "%s", c->current.body ? (const char *)c->current.body : "");
    }
    return s;
}

static int phase_index(const char *text)
{
    static const char *const phases[] = { "keys", "shares", "updates", "open", "done" };
    char phase[16];
    tl_text_value(text, "phase", phase, sizeof phase);
    for (int i = 0; i < 5; ++i) {
        if (!strcmp(phase, phases[i])) {
            return i;
        }
    }
    return -1;
}

/* Waits (the server's Observe notifications, and a fresh GET each second
 * in case the server restarted and forgot the observation) until round
 * `round` reaches phase `want`; text gets its state. */
static tl_status wait_phase(tl_device_client *c, const char *name, int round, int want, double seconds, char *text,
                            size_t size, char *msg, size_t msg_size)
{
    const double until = tl_monotonic_seconds() + seconds;
    char query[96];
    snprintf(query, sizeof query, "name=%s", name);
    tl_status s = send_request(c, &c->plan, COAP_REQUEST_CODE_GET, "round", query, -1, 1);
    while (s == TL_OK) {
        s = read_round(c, name, 1, text, size, msg, msg_size);
        if (s == TL_ERR_IO && tl_monotonic_seconds() < until) {
            s = TL_OK; /* the server is restarting: its round is in the library, ask again */
            continue;
        }
        if (s != TL_OK) {
            break;
        }
        if (text_field(text, "round") != round || text_field(text, "open") != 1) {
            return fail(msg, msg_size, TL_ERR_STATE, "round %d ended before this device's part in it (%s)", round,
                        text);
        }
        if (phase_index(text) >= want) {
            return TL_OK;
        }
        if (tl_monotonic_seconds() >= until) {
            return fail(msg, msg_size, TL_ERR_IO, "round %d stayed in its %s phase for %.0f s", round,
                        phase_index(text) >= 0 ? tl_text_value(text, "phase", query, sizeof query) : "?", seconds);
        }
        c->plan.done = 0;
        wait_for(c, &c->plan, tl_monotonic_seconds() + 1.0); /* a notification, or a second */
    }
    return s;
}

/* This device's index on the roster (roster[i * TL_ROUND_ROSTER_ENTRY]). */
static int roster_index(const uint8_t *roster, int n, const char *device)
{
    for (int i = 0; i < n; ++i) {
        if (!strncmp((const char *)roster + (size_t)i * TL_ROUND_ROSTER_ENTRY, device, 64)) {
            return i;
        }
    }
    return -1;
}

/* The roster's keys (kind 0: c, 1: s) and one flag (0: dealt, 1: sent), by index. */
static void roster_columns(const uint8_t *roster, int n, uint8_t *c_pks, uint8_t *s_pks, uint8_t *dealt,
                           uint8_t *sent)
{
    for (int i = 0; i < n; ++i) {
        const uint8_t *e = roster + (size_t)i * TL_ROUND_ROSTER_ENTRY;
        memcpy(c_pks + (size_t)i * 32, e + 64, 32);
        memcpy(s_pks + (size_t)i * 32, e + 96, 32);
        dealt[i] = e[128];
        sent[i] = e[129];
    }
}

/* GETs the roster (step "roster") or the boxes dealt to this device ("held"). */
static tl_status secagg_get(tl_device_client *c, const char *device, const char *name, int round, const char *step,
                            uint8_t **data, size_t *size, char *msg, size_t msg_size)
{
    char query[200];
    snprintf(query, sizeof query, "device=%s&name=%s&round=%d&step=%s", device, name, round, step);
    tl_status s = exchange(c, COAP_REQUEST_CODE_GET, "secagg", query, NULL, 0, 30, msg, msg_size);
    if (s == TL_OK) {
        *data = c->current.body;
        *size = c->current.size;
        c->current.body = NULL;
    }
    return s;
}

static tl_status secagg_put(tl_device_client *c, const char *device, const char *name, int round, const char *step,
                            const uint8_t *body, size_t size, char *msg, size_t msg_size)
{
    char query[200];
    snprintf(query, sizeof query, "device=%s&name=%s&round=%d&step=%s", device, name, round, step);
    return exchange(c, COAP_REQUEST_CODE_PUT, "secagg", query, body, size, 30, msg, msg_size);
}

/* The device's fixed-point words: weight x values and the weight, clamped
 * so `needed` of them cannot wrap (the server's limit). */
static uint32_t *fixed_words(const float *values, uint32_t count, double weight, const char *text)
{
    uint32_t *words = malloc(sizeof(uint32_t) * ((size_t)count + 1));
    float *scaled = malloc(sizeof(float) * ((size_t)count + 1));
    if (words && scaled) {
        for (uint32_t i = 0; i < count; ++i) {
            scaled[i] = (float)weight * values[i];
        }
        scaled[count] = (float)weight;
        const long frac = text_field(text, "frac"), limit = text_field(text, "limit");
        tl_fixed_encode(scaled, (size_t)count + 1, frac > 0 ? (int)frac : TL_ROUND_FRAC_BITS,
                        limit > 0 ? (int32_t)limit : INT32_MAX, words);
    }
    free(scaled);
    if (!scaled) {
        free(words);
        return NULL;
    }
    return words;
}

/* A secure round's buffers, one device's view. */
typedef struct secure_part {
    tl_secagg_params p;
    int me;
    uint8_t *roster, *c_pks, *s_pks, *dealt, *sent, *boxes;
    size_t roster_size;
} secure_part;

static void secure_part_free(secure_part *sp)
{
    free(sp->roster);
    free(sp->c_pks);
    free(sp->s_pks);
    free(sp->dealt);
    free(sp->sent);
    free(sp->boxes);
}

/* Reads the roster (again: its flags change with the phases). */
static tl_status secure_roster(tl_device_client *c, secure_part *sp, const char *device, const char *name, int round,
                               char *msg, size_t msg_size)
{
    free(sp->roster);
    sp->roster = NULL;
    tl_status s = secagg_get(c, device, name, round, "roster", &sp->roster, &sp->roster_size, msg, msg_size);
    if (s == TL_OK && sp->roster_size != (size_t)sp->p.clients * TL_ROUND_ROSTER_ENTRY) {
        s = fail(msg, msg_size, TL_ERR_SHAPE, "round %d's roster is %zu bytes, not %d entries", round,
                 sp->roster_size, sp->p.clients);
    }
    if (s == TL_OK) {
        sp->me = roster_index(sp->roster, sp->p.clients, device);
        roster_columns(sp->roster, sp->p.clients, sp->c_pks, sp->s_pks, sp->dealt, sp->sent);
        if (sp->me < 0) {
            s = fail(msg, msg_size, TL_ERR_STATE, "%s is not on round %d's roster", device, round);
        }
    }
    return s;
}

/* A secure round (secagg.h), this device's four steps: keys, shares, the
 * masked update, the opened shares. Its secrets come from the OS and never
 * leave it but as shares sealed for its neighbours. */
static tl_status secure_round(tl_device_client *c, const char *device, const char *name, int round,
                              const float *values, uint32_t count, double weight, int flags, char *text,
                              size_t text_size, char *msg, size_t msg_size)
{
    const double wait = 120.0;
    tl_secagg_client me;
    uint8_t secret[96], keys[64];
    randombytes_buf(secret, sizeof secret);
    tl_secagg_client_keys(&me, secret);
    sodium_memzero(secret, sizeof secret);
    memcpy(keys, me.c_pk, 32);
    memcpy(keys + 32, me.s_pk, 32);
    secure_part sp;
    memset(&sp, 0, sizeof sp);
    uint32_t *words = NULL;
    uint8_t *held = NULL, *opened = NULL;
    tl_status s = phase_index(text) == TL_PHASE_KEYS
                      ? secagg_put(c, device, name, round, "keys", keys, sizeof keys, msg, msg_size)
                      : fail(msg, msg_size, TL_ERR_STATE, "round %d is past its keys phase: wait for the next",
                             round);
    if (s == TL_OK) {
        s = wait_phase(c, name, round, TL_PHASE_SHARES, wait, text, text_size, msg, msg_size);
    }
    if (s == TL_OK) {
        sp.p.clients = (int)text_field(text, "clients");
        sp.p.degree = (int)text_field(text, "degree");
        sp.p.threshold = (int)text_field(text, "threshold");
        sp.p.dim = (size_t)count + 1;
        sp.p.threads = 1;
        const size_t n = sp.p.clients > 0 && sp.p.clients <= 100000 ? (size_t)sp.p.clients : 0;
        const size_t k = sp.p.degree > 0 && sp.p.degree <= 254 ? (size_t)sp.p.degree : 0;
        sp.c_pks = n ? malloc(n * 32) : NULL;
        sp.s_pks = n ? malloc(n * 32) : NULL;
        sp.dealt = n ? malloc(n) : NULL;
        sp.sent = n ? malloc(n) : NULL;
        sp.boxes = k ? malloc(k * TL_SECAGG_BOX_BYTES) : NULL;
        opened = k ? malloc(k * 33) : NULL;
        if (!n || !k) {
            s = fail(msg, msg_size, TL_ERR_ARG, "round %d announces no graph: %s", round, text);
        } else if (!sp.c_pks || !sp.s_pks || !sp.dealt || !sp.sent || !sp.boxes || !opened) {
            s = TL_ERR_NOMEM;
        }
    }
    if (s == TL_OK) {
        s = secure_roster(c, &sp, device, name, round, msg, msg_size);
    }
    uint64_t rng = 0;
    randombytes_buf(&rng, sizeof rng);
    if (s == TL_OK && tl_secagg_deal(&sp.p, sp.me, &me, sp.c_pks, &rng, sp.boxes) != TL_OK) {
        s = fail(msg, msg_size, TL_ERR_SIGNATURE, "round %d: a neighbour's key is not a usable X25519 key", round);
    }
    if (s == TL_OK) {
        s = secagg_put(c, device, name, round, "shares", sp.boxes, (size_t)sp.p.degree * TL_SECAGG_BOX_BYTES, msg,
                       msg_size);
    }
    if (s == TL_OK) {
        s = wait_phase(c, name, round, TL_PHASE_UPDATES, wait, text, text_size, msg, msg_size);
    }
    if (s == TL_OK && (flags & TL_ROUND_SEND_DROP)) {
        snprintf(msg, msg_size, "round %d: dealt its shares, then left before its update (as asked)", round);
        goto done;
    }
    /* Who dealt is settled now: mask against those neighbours only. */
    if (s == TL_OK) {
        s = secure_roster(c, &sp, device, name, round, msg, msg_size);
    }
    words = s == TL_OK ? fixed_words(values, count, weight, text) : NULL;
    if (s == TL_OK && (!words || tl_secagg_mask(&sp.p, sp.me, &me, sp.s_pks, sp.dealt, words, words) != TL_OK)) {
        s = fail(msg, msg_size, TL_ERR_NOMEM, "round %d: cannot mask the update", round);
    }
    if (s == TL_OK) {
        char query[200];
        snprintf(query, sizeof query, "device=%s&name=%s&round=%d", device, name, round);
        s = exchange(c, COAP_REQUEST_CODE_PUT, "update", query, (const uint8_t *)words,
                     sizeof(uint32_t) * ((size_t)count + 1), 30, msg, msg_size);
    }
    if (s == TL_OK) {
        s = wait_phase(c, name, round, TL_PHASE_OPEN, wait, text, text_size, msg, msg_size);
    }
    if (s == TL_OK) {
        s = secure_roster(c, &sp, device, name, round, msg, msg_size);
    }
    size_t held_size = 0;
    if (s == TL_OK) {
        s = secagg_get(c, device, name, round, "held", &held, &held_size, msg, msg_size);
    }
    if (s == TL_OK && held_size != (size_t)sp.p.degree * TL_SECAGG_BOX_BYTES) {
        s = fail(msg, msg_size, TL_ERR_SHAPE, "round %d: %zu bytes of held shares, not %d boxes", round, held_size,
                 sp.p.degree);
    }
    uint8_t mine[254 * 32], have[254];
    if (s == TL_OK && tl_secagg_open(&sp.p, sp.me, &me, sp.c_pks, held, sp.dealt, sp.sent, mine, have) != TL_OK) {
        s = fail(msg, msg_size, TL_ERR_SIGNATURE, "round %d: a share relayed to this device does not open", round);
    }
    for (int q = 0; s == TL_OK && q < sp.p.degree; ++q) {
        opened[(size_t)q * 33] = have[q];
        memcpy(opened + (size_t)q * 33 + 1, mine + (size_t)q * 32, 32);
    }
    sodium_memzero(mine, sizeof mine);
    if (s == TL_OK) {
        s = secagg_put(c, device, name, round, "open", opened, (size_t)sp.p.degree * 33, msg, msg_size);
    }
    if (s == TL_OK) {
        snprintf(msg, msg_size, "round %d: masked update sent and shares opened (%d devices, %d neighbours, "
                 "threshold %d)", round, sp.p.clients, sp.p.degree, sp.p.threshold);
    }
done:
    sodium_memzero(&me, sizeof me);
    secure_part_free(&sp);
    free(words);
    free(held);
    free(opened);
    return s;
}

tl_status tl_round_send(const char *host, uint16_t port, const tl_psk *psk, const char *device, const char *name,
                        const float *values, uint32_t count, double weight, int flags, int *round, char *reply_text,
                        size_t reply_size)
{
    tl_device_options o;
    tl_status s = TL_OK;
    tl_device_client *c = one_shot(&o, host, port, psk, 1, &s, reply_text, reply_size);
    if (!c) {
        return TL_ERR_NOMEM;
    }
    char text[512] = "", mode[16] = "";
    if (s == TL_OK) {
        s = read_round(c, name, 0, text, sizeof text, reply_text, reply_size);
    }
    if (s == TL_OK) {
        const long r = text_field(text, "round"), want = text_field(text, "values");
        if (r < 1) {
            s = fail(reply_text, reply_size, TL_ERR_ARG, "no round to join: %s", text);
        } else if (want != (long)count) {
            s = fail(reply_text, reply_size, TL_ERR_SHAPE, "round %ld wants %ld values, this device has %u (another "
                     "model version?)", r, want, count);
        } else if (text_field(text, "open") != 1) {
            s = fail(reply_text, reply_size, TL_ERR_STATE, "round %ld is closed", r);
        }
        *round = (int)r;
        tl_text_value(text, "mode", mode, sizeof mode);
    }
    if (s == TL_OK && !strcmp(mode, "secure")) {
        s = secure_round(c, device, name, *round, values, count, weight, flags, text, sizeof text, reply_text,
                         reply_size);
    } else if (s == TL_OK && (flags & TL_ROUND_SEND_DROP)) {
        snprintf(reply_text, reply_size, "round %d: left before its update (as asked)", *round);
    } else if (s == TL_OK) {
        /* PUT /update with the values (a fixed-point round: the words) as a
         * body libcoap sends block-wise (Block1). */
        const int fixed = !strcmp(mode, "fixed");
        uint32_t *words = fixed ? fixed_words(values, count, weight, text) : NULL;
        char query[256];
        snprintf(query, sizeof query, "device=%s&name=%s&round=%d", device, name, *round);
        if (!fixed) {
            snprintf(query + strlen(query), sizeof query - strlen(query), "&weight=%.9g", weight);
        }
        s = fixed && !words ? TL_ERR_NOMEM
                            : exchange(c, COAP_REQUEST_CODE_PUT, "update", query,
                                       fixed ? (const uint8_t *)words : (const uint8_t *)values,
                                       (size_t)count * 4 + (fixed ? 4u : 0u), 30, reply_text, reply_size);
        if (s == TL_OK) {
            snprintf(reply_text, reply_size, "%s", c->current.body ? (const char *)c->current.body : "");
        }
        free(words);
    }
    finish(c);
    free(c);
    return s;
}

/* ---- offloading to the edge's model (offload.h) ---- */

struct tl_offload_client {
    tl_device_options o;
    tl_device_client *c;
};

tl_status tl_offload_connect(const char *host, uint16_t port, const tl_psk *psk, tl_offload_client **out, char *msg,
                             size_t msg_size)
{
    *out = NULL;
    tl_offload_client *oc = calloc(1, sizeof *oc);
    tl_status s = TL_OK;
    if (!oc || !(oc->c = one_shot(&oc->o, host, port, psk, 1, &s, msg, msg_size))) {
        free(oc);
        return TL_ERR_NOMEM;
    }
    if (s != TL_OK) {
        tl_offload_disconnect(oc);
        return s;
    }
    *out = oc;
    return TL_OK;
}

tl_status tl_offload_ask(tl_offload_client *oc, const char *query, const int8_t *input, size_t size,
                         double timeout_s, int *label, float *confidence, char *msg, size_t msg_size)
{
    tl_device_client *c = oc->c;
    tl_status s = exchange(c, COAP_REQUEST_CODE_POST, "infer", query, (const uint8_t *)input, size, timeout_s, msg,
                           msg_size);
    if (s == TL_OK) {
        const char *text = c->current.body ? (const char *)c->current.body : "";
        char value[32];
        *label = (int)text_field(text, "class");
        *confidence = (float)strtod(tl_text_value(text, "confidence", value, sizeof value), NULL);
        if (*label < 0) {
            s = fail(msg, msg_size, TL_ERR_FORMAT, "the edge answered without a class: %s", text);
        }
    }
    return s;
}

tl_status tl_offload_request(tl_offload_client *oc, const char *path, const char *query, const uint8_t *body,
                             size_t size, double timeout_s, uint8_t **answer, size_t *answer_size, char *msg,
                             size_t msg_size)
{
    tl_device_client *c = oc->c;
    *answer = NULL;
    *answer_size = 0;
    const tl_status s = exchange(c, body ? COAP_REQUEST_CODE_POST : COAP_REQUEST_CODE_GET, path, query, body, size,
                                 timeout_s, msg, msg_size);
    if (s == TL_OK) {
        *answer = c->current.body; /* NUL-terminated past its size */
        *answer_size = c->current.size;
        c->current.body = NULL;
        if (!*answer && !(*answer = calloc(1, 1))) {
            return TL_ERR_NOMEM;
        }
    }
    return s;
}

void tl_offload_disconnect(tl_offload_client *oc)
{
    if (oc && oc->c) {
        finish(oc->c);
        free(oc->c);
    }
    free(oc);
}

/* The /plan query: the device's profile, channel and context. */
static tl_status plan_query(const tl_device_options *o, char *query, size_t size)
{
    tl_plan_request r;
    memset(&r, 0, sizeof r);
    r.profile = o->profile;
    r.rate_bps = o->rate_bps;
    r.deadline_s = o->deadline_s;
    if (snprintf(r.device, sizeof r.device, "%s", o->device_id ? o->device_id : "") >= (int)sizeof r.device ||
        snprintf(r.name, sizeof r.name, "%s", o->name ? o->name : "") >= (int)sizeof r.name ||
        snprintf(r.context, sizeof r.context, "%s", o->context ? o->context : "") >= (int)sizeof r.context) {
        return TL_ERR_ARG;
    }
    return tl_plan_request_encode(&r, query, size);
}

/* The plan met the deadline with a less accurate variant and named a
 * better one to follow (a small sibling first): with the first running,
 * the device plans again without the deadline and installs that. */
static tl_status follow_up(tl_device_client *c, const tl_manifest *first, int *installed, char *msg, size_t msg_size)
{
    tl_device_options unhurried = *c->o;
    unhurried.deadline_s = 0;
    char query[768];
    if (plan_query(&unhurried, query, sizeof query) != TL_OK) {
        return fail(msg, msg_size, TL_ERR_ARG, "the request is too long");
    }
    say(c, "%s runs; now the better %s its plan named", first->variant, first->then);
    tl_status s = exchange(c, COAP_REQUEST_CODE_GET, "plan", query, NULL, 0,
                           c->o->block_timeout_s > 0 ? c->o->block_timeout_s : 10, msg, msg_size);
    tl_manifest m;
    if (s == TL_OK && tl_manifest_decode(c->current.body, c->current.size, &m) != TL_OK) {
        s = fail(msg, msg_size, TL_ERR_FORMAT, "bad manifest for the better model");
    }
    if (s == TL_OK) {
        s = install(c, &m, installed, msg, msg_size);
    }
    c->served = NULL;
    if (s == TL_OK && c->o->watch_seconds > 0) {
        /* The deadline was for the first answer: a watching device, now
         * running a model, is planned for without it from here on. */
        s = send_request(c, &c->plan, COAP_REQUEST_CODE_GET, c->plan_path, query, -1, 1);
    }
    return s;
}

tl_status tl_device_run(const tl_device_options *o, char *msg, size_t msg_size)
{
    if (!o->uart && !o->public_key && !o->insecure) { /* a gateway relays; the device behind it holds the key */
        return fail(msg, msg_size, TL_ERR_SIGNATURE, "no publisher key: a device takes signed models only (or is made"
                    " insecure on purpose)");
    }
    tl_device_client *c = malloc(sizeof *c);
    if (!c) {
        return TL_ERR_NOMEM;
    }
    tl_status s = start(c, o, 0, msg, msg_size);
    if (s == TL_OK) {
        s = o->uart ? open_link(c, msg, msg_size) : open_flash(c, msg, msg_size);
    }
    char query[768];
    if (s == TL_OK && plan_query(o, query, sizeof query) != TL_OK) {
        s = fail(msg, msg_size, TL_ERR_ARG, "the request is too long");
    }
    const int watch = o->watch_seconds > 0;
    /* A watching device with an ID observes its own plan, /plan/ID: a
     * change of its context then notifies it and no one else. */
    const size_t id_len = o->device_id ? strlen(o->device_id) : 0;
    const int own_path = watch && id_len > 0 && tl_text_plain(o->device_id, id_len) == id_len;
    snprintf(c->plan_path, sizeof c->plan_path, "plan%s%s", own_path ? "/" : "", own_path ? o->device_id : "");
    if (s == TL_OK) {
        s = send_request(c, &c->plan, COAP_REQUEST_CODE_GET, c->plan_path, query, -1, watch);
    }
    const double end = c->start + (watch ? o->watch_seconds : 0);
    int rounds = 0, installs = 0, asked_again = 0;
    while (s == TL_OK) {
        const double until = rounds == 0 ? tl_monotonic_seconds() + (o->block_timeout_s > 0 ? o->block_timeout_s : 10)
                                         : end;
        if (!wait_for(c, &c->plan, until)) {
            if (rounds == 0) {
                s = fail(msg, msg_size, TL_ERR_IO, o->psk ? "no answer over DTLS from coaps://%s:%u (plan): %s"
                         : "no answer from coap://%s:%u (plan)%s", o->host, o->port, o->psk ? dtls_why(c) : "");
            }
            break; /* the watch is over */
        }
        if (watch && rounds == 0 && !c->plan.observed && strcmp(c->plan_path, "plan") != 0) {
            /* A server that has not heard of this device has no /plan/ID
             * yet (4.04): a plain plan request naming it makes it, then
             * the device observes it. */
            if (c->plan.code == 404 && asked_again == 0) {
                asked_again = 1;
                s = send_request(c, &c->plan, COAP_REQUEST_CODE_GET, "plan", query, -1, 0);
                continue;
            }
            if (c->plan.code == 205 && asked_again == 1) {
                asked_again = 2;
                s = send_request(c, &c->plan, COAP_REQUEST_CODE_GET, c->plan_path, query, -1, 1);
                continue;
            }
        }
        ++rounds;
        c->plan.done = 0; /* the next notification */
        tl_manifest m;
        if (c->plan.code != 205 || tl_manifest_decode(c->plan.body, c->plan.size, &m) != TL_OK) {
            s = fail(msg, msg_size, TL_ERR_UNSUPPORTED, "the server has no model for this device (%d.%02d): %s",
                     c->plan.code / 100, c->plan.code % 100,
                     c->plan.body && c->plan.code != 205 ? (const char *)c->plan.body : "bad manifest");
        } else {
            if (rounds > 1) {
                say(c, "notified (%.2f s): the plan is now %s %s version %d", tl_monotonic_seconds() - c->start,
                    m.model, m.variant, m.version);
            }
            int installed = 0;
            s = install(c, &m, &installed, msg, msg_size);
            installs += installed;
            if (s == TL_OK && installed && m.then[0]) {
                s = follow_up(c, &m, &installed, msg, msg_size);
                installs += installed;
            }
        }
        c->served = NULL;
        if (!watch || (o->max_updates > 0 && installs >= o->max_updates)) {
            break;
        }
        if (s != TL_OK) {
            say(c, "%s", msg); /* keep watching with the running model */
            s = TL_OK;
        }
        if (c->plan.code != 205) {
            /* An error answer ends an observation (RFC 7641): register again
             * in a second, the library or the context may change. */
            sleep_until(c, tl_monotonic_seconds() + 1.0);
            s = send_request(c, &c->plan, COAP_REQUEST_CODE_GET, c->plan_path, query, -1, 1);
        }
    }
    /* The device runs whatever it runs now, after an install or a refusal
     * alike: a refused update must leave the old model answering. */
    if (c->link >= 0 && o->run_remote) {
        char why[256];
        const tl_status ran = link_run(c, why, sizeof why);
        if (ran != TL_OK) {
            say(c, "%s", why);
            if (s == TL_OK) {
                s = fail(msg, msg_size, ran, "%s", why);
            }
        }
    }
    finish(c);
    free(c);
    return s;
}
