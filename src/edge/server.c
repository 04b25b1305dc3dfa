/* server->c - the edge server over CoAP (RFC 7252, libcoap): the planner
 * behind an observable resource (RFC 7641), the models block-wise
 * (RFC 7959), the devices' contexts, and DTLS with pre-shared keys.
 *
 *   GET  /plan?[device=ID&][name=N&]flash=B&ram=B&macs=R&rate=BPS[&ips=R][&deadline=S][&K=V...]
 *        -> a CBOR manifest (2.05), or 4.xx with the reason. K=V pairs are
 *        the device's context (task, location, app, ...); the model is the
 *        one named, or the library's best match for the context. Observable:
 *        observers are notified when a version is published, and get the
 *        plan made anew.
 *   GET  /plan/ID?... -> the same for device ID (a name of [A-Za-z0-9._-]),
 *        observable on its own: notified also when that device's context
 *        changes its plan, and no one else is. The resource is made when
 *        the server first hears of the device (a plan request naming it, its
 *        context, an observation); before that it is 4.04.
 *   GET  /model?name=N&version=V&variant=X[&form=tlp] -> the .tlm (or its
 *        progressive stream) block-wise; any block can be asked for first,
 *        so an interrupted download resumes where it stopped.
 *   POST /context?device=ID&K=V... -> merges K=V into the device's context
 *        (an empty V removes the key) and, if that changes the plan the
 *        device observes, notifies the observers of /plan/ID.
 *   GET  /context?device=ID -> the device's context.
 *   GET  /round[?name=N] -> the federated round of the model this server
 *        runs rounds of ("name=..&round=..&needed=..&received=..&values=..
 *        &version=..&open=1"); observable: notified on each update and
 *        when a round closes.
 *   PUT  /update?device=ID&name=N&round=R&weight=W -> a device's update
 *        (float32 values, block-wise; in a fixed-point or secure round the
 *        words with the weight inside, no weight=), kept in the library; the
 *        last one a round needs closes it: the hook combines and publishes,
 *        the next round opens on the new version.
 *   PUT  /secagg?device=ID&name=N&round=R&step=keys|shares|open -> a secure
 *        round's steps: public keys, sealed shares, opened shares.
 *   GET  /secagg?name=N&round=R&step=roster|held[&device=ID] -> the roster
 *        (names, keys, who dealt, who sent) or the boxes dealt to a device.
 *   POST /infer -> with an edge model: a device's int8 input (pixel - 128)
 *        through the large engine; "class=C&confidence=P&scores=p0,p1,..".
 *        The answer is sent separately (RFC 7252 5.2.2) once the batch it
 *        joined has run on the inference worker.
 *   POST /infer?cut=K&name=N&version=V&variant=X -> split inference: the
 *        activations crossing the cut after the model's first K operators
 *        (tl_interp_cut_save on the device); the server runs the rest of
 *        the same model from the library and answers the same way.
 * The loop is libcoap's (one thread): each block is one short exchange, so
 * a slow device never holds up the others. Bad requests get 4.xx, never a
 * crash. With DTLS, the device is its PSK identity; unknown identities
 * fail the handshake.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <coap3/coap.h>

#include "tinylarge/coap.h"
#include "tinylarge/dtls_gate.h"
#include "tinylarge/infer.h"
#include "tinylarge/large.h"
#include "tinylarge/learn.h"
#include "tinylarge/library.h"
#include "tinylarge/host.h"

/* The context table is bounded: when full, the least recently used entry
 * goes; one source address holds at most MAX_DEVICES_PER_SOURCE entries
 * (beyond, its own least recently used goes), so a stranger posting
 * contexts for made-up devices churns its own entries, not others'. */
enum { MAX_DEVICES = 4096, MAX_DEVICES_PER_SOURCE = 256, MAX_PSK = 1024, CACHE_ENTRIES = 32, CONTEXT_BYTES = 256,
       MAX_WORKERS = 64 };

typedef struct device_context {
    char id[64];
    char context[CONTEXT_BYTES];    /* "k=v&k=v" */
    unsigned long used;             /* when last read or written (the server's clock) */
    uint32_t source;                /* the IPv4 address that made the entry */
    char *observed;                 /* the query of the device's observation of /plan, or NULL */
    coap_resource_t *resource;      /* /plan/ID, or NULL */
    int replan;                     /* its plan changed with its context: notify at the next poll */
} device_context;

/* Model bytes by (name, version, variant, form): a block request costs a
 * memcpy, not a database read. Entries in use by a transfer are kept
 * alive by a reference count until libcoap releases them. */
typedef struct cache_entry {
    char key[160];
    uint8_t *data;
    size_t size;
    int refs;                       /* 1 for the cache itself + 1 per transfer */
    unsigned long stamp;
} cache_entry;

/* What the planner works from: every model's latest catalogue and the
 * CBOR manifest of each variant, read from the library at start and again
 * whenever its generation changes, so a plan request touches no database. */
typedef struct served_model {
    char name[64];
    char tags[512];                 /* "k=v,k=v" */
    int version, count;
    tl_variant *variants;
    tl_manifest *facts;             /* each variant's manifest */
    uint8_t **manifests;            /* ... and as CBOR, ready to send */
    size_t *manifest_sizes;
} served_model;

/* Everything the server knows, in one place: handlers reach it through
 * the libcoap context's app data. */
typedef struct tl_edge_server {
    tl_library *library;
    tl_library *upstream;           /* the central library this one caches, or NULL */
    served_model *models;
    int model_count;
    const tl_serve_options *options;
    device_context devices[MAX_DEVICES];
    int device_count;
    tl_psk psk[MAX_PSK];
    coap_bin_const_t psk_keys[MAX_PSK];
    int psk_count;
    cache_entry *cache[CACHE_ENTRIES];
    unsigned long clock;
    coap_resource_t *plan;
    coap_resource_t *round;         /* federated rounds: observable */
    tl_infer_service *infer;        /* the edge model's batched inference, or NULL */
    tl_split_server *split;         /* the edge's half of split learning, or NULL */
    coap_context_t *ctx;            /* the main loop's, for the devices' resources */
    uint16_t port;
    pid_t workers[MAX_WORKERS];     /* download workers on port + 1 + i (0: gone) */
    int worker_count;
    unsigned next_worker;           /* the one the next plan names */
    tl_dtls_gate *gate;             /* with DTLS: the filter in front of libcoap, or NULL */
    int gate_fd;                    /* the DTLS endpoint's socket, which the gate drains */
    int coap_fd;                    /* libcoap's epoll descriptor, which the loop waits on */
    int gate_flooding;              /* the gate's mode at the last pass, to say when it changes */
} tl_edge_server;

/* The one thing a signal handler can reach: no context is passed to it. */
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Where the value of `key` starts in a query "a=1&b=2", and its length in
 * *n; NULL if the query has no such key. */
static const char *query_find(const coap_string_t *query, const char *key, size_t *n)
{
    const size_t klen = strlen(key);
    const char *p = query ? (const char *)query->s : NULL, *end = p ? p + query->length : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop_at = amp ? amp : end;
        if ((size_t)(stop_at - p) > klen && !strncmp(p, key, klen) && p[klen] == '=') {
            *n = (size_t)(stop_at - p) - klen - 1;
            return p + klen + 1;
        }
        p = stop_at + 1;
    }
    return NULL;
}

/* The value of `key` in a query (copied into out), or NULL if missing or
 * too long for out. */
static const char *query_value(const coap_string_t *query, const char *key, char *out, size_t size)
{
    size_t n;
    const char *value = query_find(query, key, &n);
    if (!value || n >= size) {
        return NULL;
    }
    memcpy(out, value, n);
    out[n] = '\0';
    return out;
}

/* A version number: digits only, 1 to INT32_MAX; else -1 ("1abc" and
 * "4294967297" are not 1). */
static int whole_number(const char *text)
{
    uint64_t v;
    return tl_text_digits(text, 0x7fffffff, &v) && v >= 1 ? (int)v : -1;
}

static void reply_text(coap_pdu_t *response, coap_pdu_code_t code, const char *text)
{
    coap_pdu_set_code(response, code);
    coap_add_data(response, strlen(text), (const uint8_t *)text);
}

/* Sets key=value in a context string (an empty value removes the key). */
static int context_set(char *context, size_t size, const char *key, size_t key_len, const char *value,
                       size_t value_len)
{
    char out[CONTEXT_BYTES * 2] = "";
    size_t used = 0;
    for (const char *p = context; *p;) {
        const char *amp = strchr(p, '&');
        const size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (!(n > key_len && !strncmp(p, key, key_len) && p[key_len] == '=')) {
            used += (size_t)snprintf(out + used, sizeof out - used, "%s%.*s", used ? "&" : "", (int)n, p);
        }
        p = amp ? amp + 1 : p + n;
    }
    if (value_len) {
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%.*s=%.*s", used ? "&" : "", (int)key_len, key,
                                 (int)value_len, value);
    }
    if (used >= size) {
        return -1;
    }
    memcpy(context, out, used + 1);
    return 0;
}

/* Applies every context pair of a query (keys other than a plan request's own). */
static int context_merge(char *context, size_t size, const coap_string_t *query)
{
    const char *p = query ? (const char *)query->s : NULL, *end = p ? p + query->length : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop_at = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop_at - p));
        if (eq && eq > p && !tl_plan_request_key(p, (size_t)(eq - p)) &&
            context_set(context, size, p, (size_t)(eq - p), eq + 1, (size_t)(stop_at - eq - 1)) != 0) {
            return -1;
        }
        p = stop_at + 1;
    }
    return 0;
}

/* The remote IPv4 address of a session (0 for another family). */
static uint32_t session_source(coap_session_t *session)
{
    const coap_address_t *a = session ? coap_session_get_addr_remote(session) : NULL;
    return a && a->addr.sa.sa_family == AF_INET ? a->addr.sin.sin_addr.s_addr : 0;
}

/* The device's entry, or (create) a new one for it made by `source`,
 * evicting as the table's bounds say; NULL if absent and not created. */
static void handle_plan(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                        const coap_string_t *query, coap_pdu_t *response);

/* 1 if id can be one Uri-Path segment as it is: [A-Za-z0-9._-]+. */
static int path_segment(const char *id)
{
    return id[0] && tl_text_plain(id, strlen(id)) == strlen(id);
}

/* The device's own observable plan, /plan/ID: notifying it reaches that
 * device's observers only (libcoap 4.3 notifies every observer of a
 * resource, whatever query it is given). At most one per table entry. */
static void device_resource(tl_edge_server *server, device_context *d)
{
    char path[80];
    if (d->resource || !server->ctx || !path_segment(d->id)) {
        return;
    }
    snprintf(path, sizeof path, "plan/%s", d->id);
    coap_str_const_t *uri = coap_new_str_const((const uint8_t *)path, strlen(path));
    coap_resource_t *r = uri ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI) : NULL;
    if (!r) {
        coap_delete_str_const(uri);
        return;
    }
    coap_register_handler(r, COAP_REQUEST_GET, handle_plan);
    coap_resource_set_get_observable(r, 1);
    coap_add_resource(server->ctx, r);
    d->resource = r;
}

static device_context *find_device(tl_edge_server *server, const char *id, int create, uint32_t source)
{
    int lru = -1, lru_same = -1, same = 0;
    for (int i = 0; i < server->device_count; ++i) {
        device_context *d = &server->devices[i];
        if (!strcmp(d->id, id)) {
            d->used = ++server->clock;
            return d;
        }
        if (lru < 0 || d->used < server->devices[lru].used) {
            lru = i;
        }
        if (d->source == source) {
            ++same;
            if (lru_same < 0 || d->used < server->devices[lru_same].used) {
                lru_same = i;
            }
        }
    }
    if (!create || strlen(id) >= sizeof server->devices[0].id) {
        return NULL;
    }
    int slot = server->device_count;
    if (same >= MAX_DEVICES_PER_SOURCE) {
        slot = lru_same;
    } else if (server->device_count == MAX_DEVICES) {
        slot = lru;
    } else {
        ++server->device_count;
    }
    device_context *d = &server->devices[slot];
    free(d->observed);
    if (d->resource) { /* evicted: its observers are told it is gone */
        coap_delete_resource(server->ctx, d->resource);
    }
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", id);
    d->used = ++server->clock;
    d->source = source;
    device_resource(server, d);
    return d;
}

/* The PSK identity of a DTLS session ("" without DTLS). */
static void session_identity(const tl_edge_server *server, coap_session_t *session, char *out, size_t size)
{
    out[0] = '\0';
    const coap_bin_const_t *id = server->psk_count ? coap_session_get_psk_identity(session) : NULL;
    if (id && id->length < size) {
        memcpy(out, id->s, id->length);
        out[id->length] = '\0';
    }
}

static const tl_psk *psk_entry(const tl_edge_server *server, const char *identity)
{
    for (int i = 0; i < server->psk_count; ++i) {
        if (!strcmp(server->psk[i].identity, identity)) {
            return &server->psk[i];
        }
    }
    return NULL;
}

/* Which device a request speaks for: its DTLS identity when there is one
 * (a device cannot pose as another), else the device= it names. 1, or 0
 * when a DTLS device names someone else, or DEVICE_TOO_LONG (device[] is
 * then empty: a name cut short would be another device's). */
enum { DEVICE_TOO_LONG = -1 };
static int request_device(const tl_edge_server *server, coap_session_t *session, const coap_string_t *query,
                          char *device, size_t size)
{
    char identity[64], named[64] = "";
    device[0] = '\0';
    session_identity(server, session, identity, sizeof identity);
    size_t named_length;
    if (query_find(query, "device", &named_length) && named_length >= sizeof named) {
        return DEVICE_TOO_LONG;
    }
    query_value(query, "device", named, sizeof named);
    if (identity[0]) {
        snprintf(device, size, "%s", identity);
        return !named[0] || !strcmp(named, identity);
    }
    snprintf(device, size, "%s", named);
    return 1;
}

/* Answers a request whose device= is too long; 1 if it did. */
static int refused_device(coap_pdu_t *response, int status)
{
    if (status != DEVICE_TOO_LONG) {
        return 0;
    }
    reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "device= has more than 63 bytes");
    return 1;
}

/* What one snapshot entry holds (not the entry). */
static void free_model_parts(served_model *m)
{
    for (int v = 0; m->manifests && v < m->count; ++v) {
        free(m->manifests[v]);
    }
    free(m->variants);
    free(m->manifests);
    free(m->manifest_sizes);
    free(m->facts);
    memset(m, 0, sizeof *m);
}

static void free_models(served_model *models, int count)
{
    for (int i = 0; i < count; ++i) {
        free_model_parts(&models[i]);
    }
    free(models);
}

typedef struct listing {
    served_model *models;
    int count, capacity, failed;
    int skipped;                    /* entries left out: a name or tags too long to keep */
} listing;

static void list_one(void *ctx, const char *name, int version, int variants, const char *tags)
{
    listing *l = ctx;
    (void)variants;
    if (l->count == l->capacity) {
        const int capacity = l->capacity ? l->capacity * 2 : 16;
        served_model *grown = realloc(l->models, (size_t)capacity * sizeof *grown);
        if (!grown) {
            l->failed = 1;
            return;
        }
        l->models = grown;
        l->capacity = capacity;
    }
    served_model *m = &l->models[l->count];
    memset(m, 0, sizeof *m);
    if (strlen(name) >= sizeof m->name || strlen(tags) >= sizeof m->tags) {
        ++l->skipped; /* cut short, it would name another model or lose a tag: left out */
        return;
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->tags, sizeof m->tags, "%s", tags);
    m->version = version;
    ++l->count;
}

static void cache_release(coap_session_t *session, void *data);

/* A version number comes back after a removal, so bytes cached under
 * name, version and variant may no longer be the library's: a change of
 * the library drops them (transfers under way keep theirs until they end). */
static void drop_cache(tl_edge_server *server)
{
    for (int i = 0; i < CACHE_ENTRIES; ++i) {
        if (server->cache[i]) {
            cache_release(NULL, server->cache[i]);
            server->cache[i] = NULL;
        }
    }
}

/* Reads every model's latest catalogue and manifests; keeps the old
 * snapshot if anything fails. */
static tl_status reload(tl_edge_server *server, char *error, size_t error_size)
{
    listing l = { NULL, 0, 0, 0, 0 };
    tl_status s = tl_library_list(server->library, list_one, &l, error, error_size);
    if (s == TL_OK && l.failed) {
        s = TL_ERR_NOMEM;
    }
    int bad = 0;
    for (int i = 0; s == TL_OK && i < l.count; ++i) {
        served_model *m = &l.models[i];
        m->variants = calloc(TL_CATALOGUE_MAX_VARIANTS, sizeof *m->variants);
        m->manifests = calloc(TL_CATALOGUE_MAX_VARIANTS, sizeof *m->manifests);
        m->manifest_sizes = calloc(TL_CATALOGUE_MAX_VARIANTS, sizeof *m->manifest_sizes);
        m->facts = calloc(TL_CATALOGUE_MAX_VARIANTS, sizeof *m->facts);
        if (!m->variants || !m->manifests || !m->manifest_sizes || !m->facts) {
            s = TL_ERR_NOMEM;
            break;
        }
        char why[320] = "";
        tl_status one = tl_library_variants(server->library, m->name, m->variants, TL_CATALOGUE_MAX_VARIANTS,
                                            &m->count, &m->version, why, sizeof why);
        for (int v = 0; one == TL_OK && v < m->count; ++v) {
            one = tl_library_manifest(server->library, m->name, m->version, m->variants[v].name, &m->facts[v], why,
                                      sizeof why);
            if (one == TL_OK) {
                one = tl_manifest_encode(&m->facts[v], &m->manifests[v], &m->manifest_sizes[v]);
            }
        }
        if (one != TL_OK) {
            /* One bad entry is left out; the others are still served. */
            if (!server->options->quiet) {
                fprintf(stderr, "library: leaving out %s: %s\n", m->name, why);
            }
            ++bad;
            free_model_parts(m); /* count 0: compacted away below */
            m->version = -1;
        }
    }
    if (s != TL_OK) {
        free_models(l.models, l.count);
        return s;
    }
    int kept = 0;
    for (int i = 0; i < l.count; ++i) {
        if (l.models[i].version != -1) {
            l.models[kept++] = l.models[i];
        }
    }
    l.count = kept;
    if ((l.skipped || bad) && !server->options->quiet) {
        fprintf(stderr, "library: %d model(s) left out of this snapshot\n", l.skipped + bad);
    }
    free_models(server->models, server->model_count);
    server->models = l.models;
    server->model_count = l.count;
    drop_cache(server);
    return TL_OK;
}

/* The model named, or the best fit for a context; NULL with a reason. */
static const served_model *find_model(const tl_edge_server *server, const char *name, const char *context,
                                      char *error, size_t error_size)
{
    const served_model *best = NULL;
    int best_fit = 0;
    for (int i = 0; i < server->model_count; ++i) {
        const served_model *m = &server->models[i];
        if (name[0] ? !strcmp(m->name, name) : 0) {
            return m;
        }
        const int fit = name[0] || !m->count ? -1 : tl_context_fit(context, m->tags);
        if (fit > best_fit) {
            best = m;
            best_fit = fit;
        }
    }
    if (!best) {
        if (name[0]) {
            snprintf(error, error_size, "no model named '%s'", name);
        } else if (context[0]) {
            snprintf(error, error_size, "no model is tagged for the context '%s'", context);
        } else {
            snprintf(error, error_size, "plan needs a name or a context (task=...)");
        }
    }
    return best;
}

static void close_libraries(tl_edge_server *server)
{
    tl_library_close(server->upstream);
    tl_library_close(server->library);
    server->upstream = server->library = NULL;
}

/* A miss in this edge's library: the model comes from the central one
 * (by name, or the central's best fit for the context), then the snapshot
 * is read again. NULL with a reason if the central has none either. */
static const served_model *fetch_missing(tl_edge_server *server, const char *name, const char *context, char *error,
                                         size_t error_size)
{
    char wanted[128];
    char why[320];
    if (name[0]) {
        snprintf(wanted, sizeof wanted, "%s", name);
    } else if (!context[0] || tl_library_match(server->upstream, context, wanted, sizeof wanted, why, sizeof why) != TL_OK) {
        return NULL; /* error still says what the edge's own library lacks */
    }
    int version, fetched;
    if (tl_library_fetch(server->library, server->upstream, wanted, &version, &fetched, why, sizeof why) != TL_OK) {
        snprintf(error + strlen(error), error_size - strlen(error), "; the upstream library: %.200s", why);
        return NULL;
    }
    if (fetched && !server->options->quiet) {
        fprintf(stderr, "library: fetched %s version %d from the upstream library\n", wanted, version);
    }
    if (reload(server, why, sizeof why) != TL_OK) {
        snprintf(error, error_size, "fetched %.64s but cannot read it: %.200s", wanted, why);
        return NULL;
    }
    return find_model(server, name[0] ? name : wanted, "", error, error_size);
}

/* Every ttl: each cached model brought up to the central's latest version
 * (a newer one raises the generation: the next poll plans again). */
static void refresh_from_upstream(tl_edge_server *server)
{
    for (int i = 0; i < server->model_count; ++i) {
        int version, fetched;
        char why[320];
        if (tl_library_fetch(server->library, server->upstream, server->models[i].name, &version, &fetched, why,
                             sizeof why) != TL_OK) {
            if (!server->options->quiet) {
                fprintf(stderr, "library: cannot refresh %s from the upstream library (%s); serving the cached one\n",
                        server->models[i].name, why);
            }
        } else if (fetched && !server->options->quiet) {
            fprintf(stderr, "library: fetched %s version %d from the upstream library\n", server->models[i].name,
                    version);
        }
    }
}

/* The port of the download worker the next plan names (in turn, so that
 * the blocks spread over the cores), or 0: this process serves them. */
static uint16_t next_download_port(tl_edge_server *server)
{
    for (int tried = 0; tried < server->worker_count; ++tried) {
        const int i = (int)(server->next_worker++ % (unsigned)server->worker_count);
        if (server->workers[i] > 0) {
            return (uint16_t)(server->port + 1 + i);
        }
    }
    return 0;
}

/* The plan for a decoded /plan request from the device `known` (NULL:
 * none named; its context as the network set it overlays what the
 * request says): 0 and the model and the planner's choice, or the CoAP
 * code of the refusal and its reason. With fetch, a model missing here
 * may be fetched from the upstream. */
static coap_pdu_code_t make_plan(tl_edge_server *server, const tl_plan_request *want, const device_context *known,
                                 int fetch, char *context, const served_model **model, tl_plan *p, char *error,
                                 size_t error_size)
{
    context[0] = '\0';
    if (context_merge(context, CONTEXT_BYTES,
                      &(coap_string_t){ strlen(want->context), (uint8_t *)(uintptr_t)want->context }) != 0 ||
        (known && known->context[0] &&
         context_merge(context, CONTEXT_BYTES,
                       &(coap_string_t){ strlen(known->context), (uint8_t *)(uintptr_t)known->context }) != 0)) {
        snprintf(error, error_size, "context too long");
        return COAP_RESPONSE_CODE_BAD_REQUEST;
    }
    *model = find_model(server, want->name, context, error, error_size);
    if (!*model && server->upstream && fetch) {
        *model = fetch_missing(server, want->name, context, error, error_size);
    }
    if (!*model) {
        return COAP_RESPONSE_CODE_NOT_FOUND;
    }
    const tl_channel c = { 0, 0, 0.5, want->rate_bps, 0.05, 1024 };
    if (tl_plan_choose((*model)->variants, (*model)->count, &want->profile, &c, want->deadline_s, p) != TL_OK) {
        snprintf(error, error_size, "%s", p->reason);
        return COAP_RESPONSE_CODE(422);
    }
    return 0;
}

/* Keeps (or, on deregistration, drops) the query a device observes /plan
 * with: a change of its context is then judged by whether the plan that
 * observation gets changes (observed_plan). */
static void note_observation(device_context *d, const coap_pdu_t *request, const coap_string_t *query)
{
    coap_opt_iterator_t it;
    const coap_opt_t *observe = d ? coap_check_option(request, COAP_OPTION_OBSERVE, &it) : NULL;
    if (!observe || !query) {
        return;
    }
    const int registering = coap_decode_var_bytes(coap_opt_value(observe), coap_opt_length(observe)) ==
                            COAP_OBSERVE_ESTABLISH;
    if (d->observed && registering && strlen(d->observed) == query->length &&
        !memcmp(d->observed, query->s, query->length)) {
        return; /* a notification: the observation is the one kept */
    }
    free(d->observed);
    d->observed = NULL;
    if (registering && (d->observed = malloc(query->length + 1)) != NULL) {
        memcpy(d->observed, query->s, query->length);
        d->observed[query->length] = '\0';
    }
}

static void handle_plan(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                        const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    char device[64], error[320];
    tl_plan_request want;
    if (tl_plan_request_decode(query ? (const char *)query->s : "", query ? query->length : 0, &want, error,
                               sizeof error) != TL_OK) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, error);
        return;
    }
    const int speaks = request_device(server, session, query, device, sizeof device);
    if (refused_device(response, speaks)) {
        return;
    }
    if (!speaks) {
        reply_text(response, COAP_RESPONSE_CODE_FORBIDDEN, "device= differs from the DTLS identity");
        return;
    }
    const coap_str_const_t *path = coap_resource_get_uri_path(resource);
    if (path && path->length > 5 && !memcmp(path->s, "plan/", 5)) { /* /plan/ID: the device is ID */
        const size_t n = path->length - 5;
        if (device[0] && (strlen(device) != n || memcmp(device, path->s + 5, n) != 0)) {
            reply_text(response, COAP_RESPONSE_CODE_FORBIDDEN, "device= differs from the device the path names");
            return;
        }
        memcpy(device, path->s + 5, n); /* n < 64: the resource was made for a table entry */
        device[n] = '\0';
    }
    /* The device's entry, made with its /plan/ID if new (bounded as
     * /context's): read once here for the observation and the plan. */
    device_context *d = device[0] ? find_device(server, device, 1, session_source(session)) : NULL;
    note_observation(d, request, query);
    char context[CONTEXT_BYTES];
    const served_model *model;
    tl_plan p;
    const coap_pdu_code_t refused = make_plan(server, &want, d, 1, context, &model, &p, error, sizeof error);
    if (refused) {
        reply_text(response, refused, error);
        return;
    }
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
    uint8_t format[4];
    coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(format, sizeof format, COAP_MEDIATYPE_APPLICATION_CBOR), format);
    const uint16_t fetch_port = next_download_port(server);
    if (p.prefix_planes > 0 || fetch_port || p.then_index >= 0) {
        /* The deadline is met by a progressive prefix: say which; and
         * which worker the blocks come from. */
        tl_manifest m = model->facts[p.index];
        uint8_t *cbor;
        size_t size;
        m.planes = p.prefix_planes;
        m.fetch_port = fetch_port;
        if (p.then_index >= 0) { /* a smaller one first: the deadline; this one next */
            snprintf(m.then, sizeof m.then, "%s", model->variants[p.then_index].name);
        }
        if (tl_manifest_encode(&m, &cbor, &size) != TL_OK) {
            reply_text(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, "cannot make the manifest");
            return;
        }
        coap_add_data(response, size, cbor);
        free(cbor);
    } else {
        coap_add_data(response, model->manifest_sizes[p.index], model->manifests[p.index]);
    }
    if (!server->options->quiet) {
        char from[80] = "";
        if (p.then_index >= 0) {
            snprintf(from, sizeof from, ", then %s", model->variants[p.then_index].name);
        }
        if (fetch_port) {
            snprintf(from + strlen(from), sizeof from - strlen(from), ", from port %u", fetch_port);
        }
        fprintf(stderr, "plan %s [%s] -> %s version %d %s (%llu bytes%s%s)\n", device[0] ? device : "-", context,
                model->name, model->version, model->variants[p.index].name,
                (unsigned long long)model->variants[p.index].bytes, p.prefix_planes ? ", progressive" : "", from);
    }
}

static void cache_release(coap_session_t *session, void *data)
{
    (void)session;
    cache_entry *e = data;
    if (--e->refs == 0) {
        free(e->data);
        free(e);
    }
}

/* A cached entry (one more reference taken) or NULL with a reason. */
static cache_entry *cached_model(tl_edge_server *server, const char *name, int version, const char *variant,
                                 int progressive, char *error,
                                 size_t error_size)
{
    char key[160];
    snprintf(key, sizeof key, "%s\n%d\n%s\n%d", name, version, variant, progressive);
    int slot = 0;
    for (int i = 0; i < CACHE_ENTRIES; ++i) {
        cache_entry *e = server->cache[i];
        if (e && !strcmp(e->key, key)) {
            e->stamp = ++server->clock;
            ++e->refs;
            return e;
        }
        if (!e || (server->cache[slot] && e->stamp < server->cache[slot]->stamp)) {
            slot = i; /* an empty slot, or the least recently used */
        }
    }
    cache_entry *e = calloc(1, sizeof *e);
    if (!e || tl_library_model(server->library, name, version, variant, progressive, &e->data, &e->size, error,
                               error_size) != TL_OK) {
        free(e);
        return NULL;
    }
    snprintf(e->key, sizeof e->key, "%s", key);
    e->refs = 2;
    e->stamp = ++server->clock;
    if (server->cache[slot]) {
        cache_release(NULL, server->cache[slot]); /* evicted; freed when its transfers end */
    }
    server->cache[slot] = e;
    return e;
}

static void handle_model(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                         const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    char name[64], version[16], variant[40], form[8] = "tlm", error[320];
    if (!query_value(query, "name", name, sizeof name) || !query_value(query, "version", version, sizeof version) ||
        !query_value(query, "variant", variant, sizeof variant)) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "model needs name, version and variant");
        return;
    }
    query_value(query, "form", form, sizeof form);
    if (strcmp(form, "tlm") != 0 && strcmp(form, "tlp") != 0) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "form is tlm or tlp");
        return;
    }
    const int v = whole_number(version);
    if (v < 1) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "version is a whole number from 1");
        return;
    }
    cache_entry *e = cached_model(server, name, v, variant, !strcmp(form, "tlp"), error, sizeof error);
    if (!e) {
        reply_text(response, COAP_RESPONSE_CODE_NOT_FOUND, error);
        return;
    }
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
    /* libcoap answers each Block2 request from these bytes, whichever block
     * is asked for first. */
    coap_add_data_large_response(resource, session, request, response, query, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM,
                                 -1, 0, e->size, e->data, cache_release, e);
}

/* What the device's observation of /plan would be answered now, as text
 * to compare ("" if it observes nothing). */
static void observed_plan(tl_edge_server *server, const device_context *d, char *out, size_t size)
{
    out[0] = '\0';
    tl_plan_request want;
    char error[320], context[CONTEXT_BYTES];
    if (!d->observed || tl_plan_request_decode(d->observed, strlen(d->observed), &want, error, sizeof error) != TL_OK) {
        return;
    }
    const served_model *model = NULL;
    tl_plan p;
    const coap_pdu_code_t refused = make_plan(server, &want, d, 0, context, &model, &p, error, sizeof error);
    if (refused) {
        snprintf(out, size, "refused %d: %.160s", (int)refused, error);
    } else {
        snprintf(out, size, "%.64s %d %d %d %d", model->name, model->version, p.index, p.prefix_planes, p.then_index);
    }
}

static void handle_context(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                           const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    (void)resource;
    char device[64], identity[64];
    const int speaks = request_device(server, session, query, device, sizeof device);
    if (refused_device(response, speaks)) {
        return;
    }
    if (!speaks || !device[0]) {
        char named[64] = "";
        session_identity(server, session, identity, sizeof identity);
        const tl_psk *entry = identity[0] ? psk_entry(server, identity) : NULL;
        if (!(entry && entry->operator_role && query_value(query, "device", named, sizeof named))) {
            reply_text(response, device[0] ? COAP_RESPONSE_CODE_FORBIDDEN : COAP_RESPONSE_CODE_BAD_REQUEST,
                       device[0] ? "only an operator identity may set another device's context"
                                 : "context needs device=ID");
            return;
        }
        snprintf(device, sizeof device, "%s", named); /* an operator speaks for the device it names */
    }
    const int write = coap_pdu_get_code(request) != COAP_REQUEST_CODE_GET;
    device_context *d = find_device(server, device, write, session_source(session));
    if (!d) {
        reply_text(response, write ? COAP_RESPONSE_CODE_BAD_REQUEST : COAP_RESPONSE_CODE_CONTENT,
                   write ? "bad device name" : "");
        return;
    }
    if (write) {
        char merged[CONTEXT_BYTES];
        memcpy(merged, d->context, sizeof merged);
        if (context_merge(merged, sizeof merged, query) != 0) {
            reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "context too long");
            return;
        }
        /* Only this device's own observation can get another plan, so
         * only its observers, of /plan/ID, are notified, and only when
         * that plan changes: a context posted for a made-up device, a
         * device that observes nothing or a key no model is tagged with
         * notifies no one. The notification waits for the next poll: at
         * most one a device a poll interval, however fast contexts are
         * posted. */
        char before[192], after[192];
        observed_plan(server, d, before, sizeof before);
        memcpy(d->context, merged, sizeof merged);
        observed_plan(server, d, after, sizeof after);
        const int changed = strcmp(before, after) != 0;
        if (!server->options->quiet) {
            fprintf(stderr, "context %s [%s]: %s\n", d->id, d->context,
                    !d->observed ? "not observing" : changed ? "its plan changed, notifying it" : "its plan is the same");
        }
        d->replan |= d->observed && changed;
    }
    reply_text(response, write ? COAP_RESPONSE_CODE_CHANGED : COAP_RESPONSE_CODE_CONTENT, d->context);
}

/* ---- federated rounds ---- */

/* The round's state as the devices read it. */
static void round_text(const char *name, const tl_round_state *r, char *out, size_t size)
{
    static const char *const modes[] = { "plain", "fixed", "secure" };
    static const char *const phases[] = { "keys", "shares", "updates", "open", "done" };
    const int n = snprintf(out, size, "name=%s&round=%d&needed=%d&received=%d&values=%u&version=%d&open=%d", name,
                           r->round, r->needed, r->received, r->value_count, r->base_version, r->open);
    if (r->mode != TL_ROUND_PLAIN && n > 0 && (size_t)n < size) {
        snprintf(out + n, size - (size_t)n, "&mode=%s&phase=%s&clients=%d&degree=%d&threshold=%d&frac=%d&limit=%d",
                 modes[r->mode], phases[r->phase], r->clients, r->degree, r->threshold, TL_ROUND_FRAC_BITS,
                 (int)tl_round_fixed_limit(r));
    }
}

/* The values an update of `name` holds: the head's delta of the model
 * devices learn (tl_library_learnable). */
static tl_status head_values(tl_edge_server *server, const char *name, uint32_t *count, int *version, char *error,
                             size_t error_size)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    tl_variant variant;
    tl_status s = tl_library_learnable(server->library, name, version, &variant, &bytes, &size, error, error_size);
    tl_model model;
    if (s == TL_OK) {
        s = tl_model_load(&model, bytes, size, 0);
    }
    const size_t work_size = s == TL_OK ? tl_learn_work_size(&model, NULL) : 0;
    void *work = work_size ? malloc(work_size) : NULL;
    tl_learner l;
    if (s == TL_OK && (!work || tl_learn_init(&l, &model, work, work_size, NULL) != TL_OK)) {
        s = TL_ERR_NOMEM;
        snprintf(error, error_size, "out of memory");
    }
    if (s == TL_OK) {
        *count = tl_learn_delta_count(&l);
    }
    free(work);
    free(bytes);
    return s;
}

static void handle_round(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                         const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    (void)resource;
    (void)request;
    char name[64] = "", error[320], text[384];
    query_value(query, "name", name, sizeof name);
    tl_round_state r;
    if (!server->options->federate || (name[0] && strcmp(name, server->options->federate))) {
        reply_text(response, COAP_RESPONSE_CODE_NOT_FOUND, "this server runs no rounds of that model");
        return;
    }
    if (tl_round_current(server->library, server->options->federate, &r, error, sizeof error) != TL_OK) {
        reply_text(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, error);
        return;
    }
    round_text(server->options->federate, &r, text, sizeof text);
    reply_text(response, COAP_RESPONSE_CODE_CONTENT, text);
}

/* The round has its updates: the caller's hook combines and publishes
 * them; then the round closes and the next opens on the new version. */
static void close_round(tl_edge_server *server, const tl_round_state *r)
{
    const tl_serve_options *o = server->options;
    char error[512] = "";
    int version = 0;
    tl_status s = o->round_done ? o->round_done(o->round_ctx, server->library, o->federate, r, &version, error,
                                                sizeof error)
                                : TL_ERR_UNSUPPORTED;
    const int void_round = s == TL_ERR_STATE && r->mode == TL_ROUND_SECURE;
    if (void_round) {
        /* Too few devices stayed to unmask: the protocol aborts, the model
         * stays as it was and the next round starts from it. */
        fprintf(stderr, "round %d of %s is void: %s\n", r->round, o->federate, error);
        version = r->base_version;
        s = TL_OK;
    } else if (s != TL_OK) {
        fprintf(stderr, "round %d of %s: cannot close it: %s (it stays open)\n", r->round, o->federate,
                error[0] ? error : tl_status_str(s));
        return;
    }
    tl_round_state next;
    s = tl_round_close(server->library, o->federate, r->round, error, sizeof error);
    if (s == TL_OK) {
        s = reload(server, error, sizeof error);
    }
    uint32_t count = r->value_count;
    int base = version;
    if (s == TL_OK) {
        s = head_values(server, o->federate, &count, &base, error, sizeof error);
    }
    if (s == TL_OK) {
        s = tl_round_open(server->library, o->federate, o->round_size, count, base, (tl_round_mode)o->round_mode,
                          &next, error, sizeof error);
    }
    if (s != TL_OK) {
        fprintf(stderr, "round %d of %s: published version %d but cannot open the next round: %s\n", r->round,
                o->federate, version, error);
        return;
    }
    if (!o->quiet && !void_round) {
        fprintf(stderr, "round %d of %s closed: %d updates combined into version %d; round %d open\n", r->round,
                o->federate, r->received, version, next.round);
    }
    coap_resource_notify_observers(server->round, NULL);
    coap_resource_notify_observers(server->plan, NULL);
}

static void handle_update(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                          const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    (void)resource;
    char device[64], name[64] = "", round_text_[16] = "", weight_text[32] = "", error[320], text[128];
    if (!server->options->federate) {
        reply_text(response, COAP_RESPONSE_CODE_NOT_FOUND, "this server runs no rounds");
        return;
    }
    const int speaks = request_device(server, session, query, device, sizeof device);
    if (refused_device(response, speaks)) {
        return;
    }
    if (!speaks || !device[0]) {
        reply_text(response, device[0] ? COAP_RESPONSE_CODE_FORBIDDEN : COAP_RESPONSE_CODE_BAD_REQUEST,
                   device[0] ? "a device sends its own updates only" : "update needs device=ID");
        return;
    }
    query_value(query, "name", name, sizeof name);
    query_value(query, "round", round_text_, sizeof round_text_);
    query_value(query, "weight", weight_text, sizeof weight_text);
    char *end = NULL;
    const long round = strtol(round_text_, &end, 10);
    const int round_ok = round_text_[0] && *end == '\0' && round > 0 && round < 1000000000;
    /* A fixed-point or secure round's update carries its weight inside
     * (hidden with the values, in a secure one): no weight= then. */
    const int words = server->options->round_mode != TL_ROUND_PLAIN;
    const double weight = words ? 1.0 : strtod(weight_text, &end);
    const int weight_ok = words || (weight_text[0] && *end == '\0');
    if (strcmp(name, server->options->federate) || !round_ok || !weight_ok) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST,
                   "update needs name=MODEL (the one in rounds), round=N and weight=W");
        return;
    }
    const double max_weight = server->options->max_weight > 0 ? server->options->max_weight : 10000.0;
    if (!(weight > 0.0 && weight <= max_weight)) {
        snprintf(text, sizeof text, "weight %g: a device's weight is in (0, %g]", weight, max_weight);
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, text);
        return;
    }
    size_t size = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data_large(request, &size, &data, &offset, &total) || offset != 0 || size != total) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "update needs the values as its body");
        return;
    }
    tl_round_state r;
    const tl_status s = tl_round_submit(server->library, name, (int)round, device, weight, data, size, &r, error,
                                        sizeof error);
    if (s != TL_OK) {
        reply_text(response, s == TL_ERR_STATE ? COAP_RESPONSE_CODE_CONFLICT
                             : s == TL_ERR_IO  ? COAP_RESPONSE_CODE_INTERNAL_ERROR
                                               : COAP_RESPONSE_CODE_BAD_REQUEST,
                   error);
        return;
    }
    const int expected = r.mode == TL_ROUND_SECURE ? r.dealt : r.needed;
    if (!server->options->quiet) {
        fprintf(stderr, "round %d of %s: update from %s (weight %s), %d of %d\n", r.round, name, device,
                words ? "inside" : weight_text, r.received, expected);
    }
    snprintf(text, sizeof text, "round %d: received %d of %d", r.round, r.received, expected);
    reply_text(response, COAP_RESPONSE_CODE_CHANGED, text);
    coap_resource_notify_observers(server->round, NULL);
    if (tl_round_complete(&r)) {
        close_round(server, &r);
    }
}

/* ---- a secure round's steps (secure_rounds.c keeps them) ---- */

static void reply_status(coap_pdu_t *response, tl_status s, const char *error)
{
    reply_text(response, s == TL_ERR_STATE ? COAP_RESPONSE_CODE_CONFLICT
                         : s == TL_ERR_IO  ? COAP_RESPONSE_CODE_INTERNAL_ERROR
                                           : COAP_RESPONSE_CODE_BAD_REQUEST,
               error);
}

/* name= (the model in rounds), round= and step= of a /secagg request; 0 with a reply if bad. */
static int secagg_query(const tl_edge_server *server, const coap_string_t *query, int *round, char *step,
                        size_t step_size, coap_pdu_t *response)
{
    char name[64] = "", round_text_[16] = "";
    step[0] = '\0';
    query_value(query, "name", name, sizeof name);
    query_value(query, "round", round_text_, sizeof round_text_);
    query_value(query, "step", step, step_size);
    char *end = NULL;
    const long r = strtol(round_text_, &end, 10);
    if (server->options->round_mode != TL_ROUND_SECURE) {
        reply_text(response, COAP_RESPONSE_CODE_NOT_FOUND, "this server runs no secure rounds");
        return 0;
    }
    if (strcmp(name, server->options->federate) || !round_text_[0] || *end != '\0' || r < 1 || r >= 1000000000) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "secagg needs name=MODEL (the one in rounds), round=N "
                                                             "and step=");
        return 0;
    }
    *round = (int)r;
    return 1;
}

static void release_bytes(coap_session_t *session, void *data)
{
    (void)session;
    free(data);
}

static void handle_secagg_get(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                              const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    char step[16], device[64], error[320] = "";
    int round = 0;
    if (!secagg_query(server, query, &round, step, sizeof step, response)) {
        return;
    }
    uint8_t *data = NULL;
    size_t size = 0;
    tl_status s;
    if (!strcmp(step, "roster")) {
        s = tl_round_roster(server->library, server->options->federate, round, &data, &size, error, sizeof error);
    } else if (!strcmp(step, "held")) {
        const int speaks = request_device(server, session, query, device, sizeof device);
        if (refused_device(response, speaks)) {
            return;
        }
        if (!speaks || !device[0]) {
            reply_text(response, device[0] ? COAP_RESPONSE_CODE_FORBIDDEN : COAP_RESPONSE_CODE_BAD_REQUEST,
                       device[0] ? "a device reads the boxes dealt to it only" : "held needs device=ID");
            return;
        }
        s = tl_round_held(server->library, server->options->federate, round, device, &data, &size, error,
                          sizeof error);
    } else {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "step is roster or held");
        return;
    }
    if (s != TL_OK) {
        reply_status(response, s, error);
        return;
    }
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
    coap_add_data_large_response(resource, session, request, response, query, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM,
                                 -1, 0, size, data, release_bytes, data);
}

static void handle_secagg_put(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                              const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    (void)resource;
    char step[16], device[64], error[320] = "", text[128];
    int round = 0;
    if (!secagg_query(server, query, &round, step, sizeof step, response)) {
        return;
    }
    const int speaks = request_device(server, session, query, device, sizeof device);
    if (refused_device(response, speaks)) {
        return;
    }
    if (!speaks || !device[0]) {
        reply_text(response, device[0] ? COAP_RESPONSE_CODE_FORBIDDEN : COAP_RESPONSE_CODE_BAD_REQUEST,
                   device[0] ? "a device takes its own steps only" : "secagg needs device=ID");
        return;
    }
    size_t size = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data_large(request, &size, &data, &offset, &total) || offset != 0 || size != total) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "a secagg step needs its bytes as the body");
        return;
    }
    const char *name = server->options->federate;
    tl_round_state r;
    tl_status s;
    if (!strcmp(step, "keys")) {
        s = size == 64 ? tl_round_advertise(server->library, name, round, device, data, &r, error, sizeof error)
                       : TL_ERR_SHAPE;
        if (s == TL_ERR_SHAPE && !error[0]) {
            snprintf(error, sizeof error, "keys are 64 bytes (two X25519 public keys), not %zu", size);
        }
    } else if (!strcmp(step, "shares")) {
        s = tl_round_deal(server->library, name, round, device, data, size, &r, error, sizeof error);
    } else if (!strcmp(step, "open")) {
        s = tl_round_reveal(server->library, name, round, device, data, size, &r, error, sizeof error);
    } else {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "step is keys, shares or open");
        return;
    }
    if (s != TL_OK) {
        reply_status(response, s, error);
        return;
    }
    if (!server->options->quiet) {
        fprintf(stderr, "round %d of %s: %s from %s (phase %d)\n", r.round, name, step, device, (int)r.phase);
    }
    snprintf(text, sizeof text, "round %d: %s taken", r.round, step);
    reply_text(response, COAP_RESPONSE_CODE_CHANGED, text);
    coap_resource_notify_observers(server->round, NULL);
    if (tl_round_complete(&r)) {
        close_round(server, &r);
    }
}

/* The poll's part in a secure round: a phase that has waited long enough
 * goes on without the devices that did not act. */
static void tick_round(tl_edge_server *server)
{
    const tl_serve_options *o = server->options;
    char error[320];
    tl_round_state r;
    int moved = 0;
    if (o->round_mode != TL_ROUND_SECURE ||
        tl_round_tick(server->library, o->federate, o->round_timeout > 0 ? o->round_timeout : 30.0, &r, &moved,
                      error, sizeof error) != TL_OK ||
        !moved) {
        return;
    }
    if (!o->quiet) {
        fprintf(stderr, "round %d of %s: timed out waiting; on to phase %d with %d dealt, %d updates, %d opened\n",
                r.round, o->federate, (int)r.phase, r.dealt, r.received, r.opened);
    }
    coap_resource_notify_observers(server->round, NULL);
    if (tl_round_complete(&r)) {
        close_round(server, &r);
    }
}

/* ---- inference for devices (infer.h) ---- */

/* "class=C&confidence=P&scores=p0,..." into text. */
static void answer_text(int label, const float *p, int classes, char *text, size_t size)
{
    int n = snprintf(text, size, "class=%d&confidence=%.4f&scores=", label, (double)p[label]);
    for (int k = 0; k < classes && n > 0 && (size_t)n < size; ++k) {
        n += snprintf(text + n, size - (size_t)n, "%s%.4f", k ? "," : "", (double)p[k]);
    }
}

/* Split inference: the rest of a library model after the device's cut.
 * The int8 tail is short next to a forward pass of the large engine, so it
 * runs here, in the loop, without batching. */
static void infer_rest(tl_edge_server *server, const coap_pdu_t *request, const coap_string_t *query,
                       const char *cut_text, coap_pdu_t *response)
{
    char name[64] = "", version_text[16] = "", variant[64] = "", error[320] = "", text[1024];
    query_value(query, "name", name, sizeof name);
    query_value(query, "version", version_text, sizeof version_text);
    query_value(query, "variant", variant, sizeof variant);
    char *end = NULL;
    const long k = strtol(cut_text, &end, 10);
    if (!name[0] || !variant[0] || whole_number(version_text) < 1 || !cut_text[0] || *end || k < 0 || k > 65535) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "a cut needs cut=K (operators run on the device), "
                                                             "name=, version= and variant= of the model");
        return;
    }
    cache_entry *e = cached_model(server, name, whole_number(version_text), variant, 0, error, sizeof error);
    if (!e) {
        reply_text(response, COAP_RESPONSE_CODE_NOT_FOUND, error);
        return;
    }
    tl_model m;
    tl_interp it;
    uint8_t *arena = NULL;
    size_t size = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    tl_status st = tl_model_load(&m, e->data, e->size, TL_LOAD_SKIP_DIGEST); /* checked when it was cached */
    if (st == TL_OK && (uint32_t)k >= m.header->op_count) {
        snprintf(error, sizeof error, "cut %ld: %s has %u operators, the device must leave some to the edge", k,
                 variant, m.header->op_count);
        st = TL_ERR_ARG;
    } else if (st == TL_OK && (!coap_get_data_large(request, &size, &data, &offset, &total) || offset != 0 ||
                               size != total || size != tl_model_cut_bytes(&m, (uint32_t)k))) {
        snprintf(error, sizeof error, "cut %ld of %s takes the %u bytes crossing it, not %zu", k, variant,
                 tl_model_cut_bytes(&m, (uint32_t)k), size);
        st = TL_ERR_SHAPE;
    }
    if (st == TL_OK && !(arena = malloc(tl_model_arena_size(&m) + 1))) {
        st = TL_ERR_NOMEM;
    }
    if (st == TL_OK) {
        st = tl_interp_init(&it, &m, arena, tl_model_arena_size(&m));
    }
    if (st == TL_OK) {
        st = tl_interp_cut_restore(&it, (uint32_t)k, (const int8_t *)data, (uint32_t)size);
    }
    if (st == TL_OK) {
        st = tl_interp_finish(&it);
    }
    if (st == TL_OK) {
        /* The last exit's softmax: int8 q is probability (q + 128) / 256. */
        const uint16_t out = m.header->exit_count ? m.exits[m.header->exit_count - 1].output : m.io[m.header->input_count];
        const int classes = (int)m.tensors[out].data_size;
        const int8_t *q = (const int8_t *)(arena + m.plan[out]);
        float p[256];
        int label = 0;
        for (int c = 0; c < classes && c < 256; ++c) {
            p[c] = (float)(q[c] + 128) / 256.0f;
            label = q[c] > q[label] ? c : label;
        }
        answer_text(label, p, classes < 256 ? classes : 256, text, sizeof text);
        reply_text(response, COAP_RESPONSE_CODE_CONTENT, text);
    } else {
        reply_text(response, st == TL_ERR_NOMEM ? COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE
                                                : COAP_RESPONSE_CODE_BAD_REQUEST,
                   error[0] ? error : tl_status_str(st));
    }
    free(arena);
    cache_release(NULL, e);
}

/* A request waiting for its batch: the answer is filled in, then libcoap
 * calls the handler again (coap_async_trigger) to send it. */
typedef struct infer_wait {
    coap_session_t *session;    /* referenced until the answer is sent */
    coap_async_t *async;
    int done, label, classes;
    float probabilities[64];
} infer_wait;

static void handle_infer(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                         const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    (void)resource;
    (void)query;
    char cut_text[16] = "";
    if (query_value(query, "cut", cut_text, sizeof cut_text)) {
        infer_rest(server, request, query, cut_text, response);
        return;
    }
    if (!server->infer) {
        reply_text(response, COAP_RESPONSE_CODE_NOT_FOUND, "this server has no edge model (serve --edge-model): send "
                                                           "cut=K&name=&version=&variant= to run the rest of a model");
        return;
    }
    coap_async_t *async = coap_find_async(session, coap_pdu_get_token(request));
    if (async) { /* triggered: the batch has run */
        infer_wait *w = coap_async_get_app_data(async);
        char text[1024];
        answer_text(w->label, w->probabilities, w->classes, text, sizeof text);
        reply_text(response, COAP_RESPONSE_CODE_CONTENT, text);
        coap_session_release(w->session);
        free(w); /* the async itself libcoap removes when this returns */
        return;
    }
    const size_t want = tl_infer_input_size(server->infer);
    size_t size = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data_large(request, &size, &data, &offset, &total) || offset != 0 || size != total || size != want) {
        char text[128];
        snprintf(text, sizeof text, "infer takes the model's input: %zu int8 values (pixel - 128), not %zu bytes",
                 want, size);
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, text);
        return;
    }
    infer_wait *w = calloc(1, sizeof *w);
    async = w ? coap_register_async(session, request, 0) : NULL; /* 0: until triggered */
    if (!async) {
        free(w);
        reply_text(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "out of memory");
        return;
    }
    w->session = coap_session_reference(session);
    w->async = async;
    w->classes = tl_infer_classes(server->infer);
    coap_async_set_app_data(async, w);
    if (tl_infer_submit(server->infer, (const int8_t *)data, w) != TL_OK) {
        coap_session_release(w->session);
        free(w);
        coap_free_async(session, async);
        reply_text(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "the edge model is busy: try again");
    }
    /* else: no response now; libcoap acknowledges the request, the answer follows */
}

/* Split learning (serve --split-learn): GET /split says the architecture
 * and the cut; POST ?step=train takes a batch's activations at the cut and
 * answers their gradient; POST ?step=join takes the device's half and
 * writes the whole model. Runs in the server's loop (one step at a time:
 * the edge's half is one network). */
static void handle_split_get(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                             const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    (void)resource;
    (void)request;
    (void)query;
    char text[512];
    tl_split_server_describe(server->split, text, sizeof text);
    reply_text(response, COAP_RESPONSE_CODE_CONTENT, text);
}

static void handle_split_post(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                              const coap_string_t *query, coap_pdu_t *response)
{
    tl_edge_server *server = coap_get_app_data(coap_session_get_context(session));
    char step[16] = "", error[512] = "";
    query_value(query, "step", step, sizeof step);
    size_t size = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data_large(request, &size, &data, &offset, &total) || offset != 0 || size != total) {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "split takes a body");
        return;
    }
    if (!strcmp(step, "train")) {
        uint8_t *answer = NULL;
        size_t answer_size = 0;
        const tl_status s = tl_split_server_train(server->split, data, size, &answer, &answer_size, error,
                                                  sizeof error);
        if (s != TL_OK) {
            reply_text(response, s == TL_ERR_NOMEM ? COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE
                                                   : COAP_RESPONSE_CODE_BAD_REQUEST, error[0] ? error : "out of memory");
            return;
        }
        coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
        coap_add_data_large_response(resource, session, request, response, query,
                                     COAP_MEDIATYPE_APPLICATION_OCTET_STREAM, -1, 0, answer_size, answer, release_bytes,
                                     answer);
    } else if (!strcmp(step, "join")) {
        const tl_status s = tl_split_server_join(server->split, data, size, error, sizeof error);
        if (s != TL_OK) {
            reply_text(response, s == TL_ERR_SHAPE ? COAP_RESPONSE_CODE_BAD_REQUEST
                                                   : COAP_RESPONSE_CODE_INTERNAL_ERROR, error);
            return;
        }
        char text[512];
        tl_split_server_describe(server->split, text, sizeof text);
        reply_text(response, COAP_RESPONSE_CODE_CHANGED, text);
        if (!server->options->quiet) {
            fprintf(stderr, "split learning: the device's half joined, %s written (%s)\n", server->options->split_out,
                    text);
        }
    } else {
        reply_text(response, COAP_RESPONSE_CODE_BAD_REQUEST, "step is train or join");
    }
}

/* An answer from the worker: kept with its request, which is triggered. */
static void infer_answered(void *ctx, void *tag, int label, const float *probabilities)
{
    (void)ctx;
    infer_wait *w = tag;
    w->label = label;
    memcpy(w->probabilities, probabilities, sizeof(float) * (size_t)w->classes);
    w->done = 1;
    coap_async_trigger(w->async);
}

/* At start: the open round of the model (a restart goes on with it), or a new one. */
static tl_status start_rounds(tl_edge_server *server, char *error, size_t error_size)
{
    const tl_serve_options *o = server->options;
    uint32_t count = 0;
    int version = 0;
    tl_round_state r;
    tl_status s = head_values(server, o->federate, &count, &version, error, error_size);
    if (s == TL_OK) {
        s = tl_round_open(server->library, o->federate, o->round_size > 0 ? o->round_size : 1, count, version,
                          (tl_round_mode)o->round_mode, &r, error, error_size);
    }
    if (s == TL_OK && !o->quiet) {
        fprintf(stderr, "federated rounds of %s: round %d open (%d of %d updates of %u values, from version %d)\n",
                o->federate, r.round, r.received, r.needed, r.value_count, r.base_version);
    }
    if (s == TL_OK && tl_round_complete(&r)) {
        close_round(server, &r); /* killed after the last update but before closing: close it now */
    }
    return s;
}

static const coap_bin_const_t *validate_identity(coap_bin_const_t *identity, coap_session_t *session, void *arg)
{
    const tl_edge_server *server = arg;
    (void)session;
    for (int i = 0; i < server->psk_count; ++i) {
        if (identity && identity->length == strlen(server->psk[i].identity) &&
            !memcmp(identity->s, server->psk[i].identity, identity->length)) {
            return &server->psk_keys[i];
        }
    }
    if (!server->options->quiet) {
        fprintf(stderr, "DTLS: unknown identity '%.*s' rejected\n", identity ? (int)identity->length : 0,
                identity ? (const char *)identity->s : "");
    }
    return NULL; /* fails the handshake */
}

/* A libcoap context listening on the server's host at `port` (DTLS with
 * its identities if it has them), with the bounds on idle sessions; NULL
 * with a reason. */
static coap_context_t *open_context(tl_edge_server *server, uint16_t port, char *error, size_t error_size)
{
    const tl_serve_options *o = server->options;
    const int dtls = o->psk_file != NULL;
    coap_context_t *ctx = coap_new_context(NULL);
    const char *host = o->host ? o->host : "127.0.0.1";
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_port = htons(port);
    addr.size = sizeof(struct sockaddr_in);
    if (ctx) {
        coap_set_app_data(ctx, server);
    }
    int ok = ctx && inet_pton(AF_INET, host, &addr.addr.sin.sin_addr) == 1;
    if (ok && dtls) {
        coap_dtls_spsk_t setup;
        memset(&setup, 0, sizeof setup);
        setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
        setup.validate_id_call_back = validate_identity;
        setup.id_call_back_arg = server;
        ok = coap_context_set_psk2(ctx, &setup);
    }
    if (!ok || !coap_new_endpoint(ctx, &addr, dtls ? COAP_PROTO_DTLS : COAP_PROTO_UDP)) {
        snprintf(error, error_size, "cannot listen on %s:%u (%s)", host, port, dtls ? "DTLS" : "UDP");
        coap_free_context(ctx);
        return NULL;
    }
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    /* A device's session with nothing in flight costs the loop a visit on
     * every pass: without DTLS it is dropped after a few idle seconds (a
     * next request makes a new one for the price of an allocation; an
     * observer holds its own). A DTLS session is a handshake to redo. */
    coap_context_set_session_timeout(ctx, o->session_timeout ? o->session_timeout : dtls ? 60 : 5);
    coap_context_set_max_idle_sessions(ctx, o->max_idle_sessions ? o->max_idle_sessions : 10000);
    if (dtls) {
        /* Bounds what a flood of spoofed ClientHellos holds (their
         * handshakes never finish). Memory only: past the bound libcoap
         * ignores every new peer until partial handshakes time out. */
        coap_context_set_max_handshake_sessions(ctx, o->max_handshakes ? o->max_handshakes : 4096);
    }
    return ctx;
}

/* A download worker's whole life: its own library connection and block
 * cache, /model only, until told to stop. The library's generation is
 * watched so that a version removed and published again is not served
 * from stale bytes. The parent learns on `ready` whether it listens (an
 * empty text) or why not. */
static int serve_downloads(tl_edge_server *server, uint16_t port, int ready)
{
    const tl_serve_options *o = server->options;
    char error[320] = "";
    coap_context_t *ctx = NULL;
    if (tl_library_open(o->library, &server->library, error, sizeof error) == TL_OK) {
        coap_startup();
        coap_set_log_level(LOG_EMERG);
        coap_dtls_set_log_level(LOG_EMERG);
        ctx = open_context(server, port, error, sizeof error);
    }
    const ssize_t told = write(ready, error, strlen(error) + 1);
    close(ready);
    if (!ctx || told <= 0) {
        coap_free_context(ctx);
        close_libraries(server);
        return 1;
    }
    coap_resource_t *model = coap_resource_init(coap_make_str_const("model"), 0);
    coap_register_handler(model, COAP_REQUEST_GET, handle_model);
    coap_add_resource(ctx, model);
    const double poll = o->poll_seconds > 0 ? o->poll_seconds : 1.0;
    int64_t generation = -1;
    double next_poll = tl_monotonic_seconds() + poll;
    while (!stop) {
        coap_io_process(ctx, 100);
        if (tl_monotonic_seconds() >= next_poll) {
            int64_t g;
            if (tl_library_generation(server->library, &g) == TL_OK && g != generation) {
                generation = g;
                drop_cache(server);
            }
            next_poll = tl_monotonic_seconds() + poll;
        }
    }
    coap_free_context(ctx);
    coap_cleanup();
    drop_cache(server);
    close_libraries(server);
    return 0;
}

/* Stops the download workers and waits for them. */
static void stop_workers(tl_edge_server *server)
{
    for (int i = 0; i < server->worker_count; ++i) {
        if (server->workers[i] > 0) {
            kill(server->workers[i], SIGTERM);
        }
    }
    for (int i = 0; i < server->worker_count; ++i) {
        if (server->workers[i] > 0) {
            waitpid(server->workers[i], NULL, 0);
            server->workers[i] = 0;
        }
    }
    server->worker_count = 0;
}

/* Starts the download workers, each once it listens, before this process
 * opens its library (a database connection must not cross a fork). A
 * worker dies with this process, even killed. */
static int start_workers(tl_edge_server *server, char *error, size_t error_size)
{
    const tl_serve_options *o = server->options;
    if (o->workers > MAX_WORKERS || (long)server->port + o->workers > 65535) {
        snprintf(error, error_size, "--workers %d: at most %d, on ports up to 65535", o->workers, MAX_WORKERS);
        return -1;
    }
    const pid_t parent = getpid();
    for (int i = 0; i < o->workers; ++i) {
        const uint16_t port = (uint16_t)(server->port + 1 + i);
        int fds[2];
        if (pipe(fds) != 0) {
            snprintf(error, error_size, "cannot start download workers (pipe)");
            return -1;
        }
        fflush(NULL);
        const pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
#ifdef __linux__
            prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
            if (getppid() != parent) {
                _exit(1); /* the parent went before we could watch it */
            }
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
            _exit(serve_downloads(server, port, fds[1]));
        }
        close(fds[1]);
        if (pid < 0) {
            close(fds[0]);
            snprintf(error, error_size, "cannot start download workers (fork)");
            return -1;
        }
        server->workers[server->worker_count++] = pid;
        char reason[320] = "";
        struct pollfd pfd = { fds[0], POLLIN, 0 };
        const ssize_t n = poll(&pfd, 1, 10000) == 1 ? read(fds[0], reason, sizeof reason - 1) : -1;
        close(fds[0]);
        if (n <= 0 || reason[0]) {
            snprintf(error, error_size, "download worker on port %u: %s", port, n > 0 ? reason : "did not start");
            return -1;
        }
    }
    return 0;
}

/* A worker that died is named in no more plans: its devices' next
 * downloads come to this process or the other workers. */
static void reap_workers(tl_edge_server *server)
{
    for (int i = 0; i < server->worker_count; ++i) {
        int status;
        if (server->workers[i] > 0 && waitpid(server->workers[i], &status, WNOHANG) == server->workers[i]) {
            server->workers[i] = 0;
            fprintf(stderr, "download worker on port %u stopped (%s %d); plans no longer name it\n",
                    server->port + 1 + i, WIFSIGNALED(status) ? "signal" : "status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
}

/* The UDP socket libcoap listens on at `port` (libcoap 4.3.1 does not
 * give an endpoint's descriptor out: found by its address), or -1. */
static int endpoint_socket(uint16_t port)
{
    for (int fd = 0; fd < 1024; ++fd) {
        int type = 0;
        socklen_t size = sizeof type;
        struct sockaddr_in a;
        socklen_t a_size = sizeof a;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == SOCK_DGRAM &&
            getsockname(fd, (struct sockaddr *)&a, &a_size) == 0 && a.sin_family == AF_INET &&
            a.sin_port == htons(port)) {
            return fd;
        }
    }
    return -1;
}

/* With DTLS: the gate in front of the endpoint (dtls_gate.h), where
 * libcoap runs on epoll (its descriptor is what the loop waits on);
 * otherwise none, said. It remembers 65,536 addresses for 10 s: a real
 * device's retransmitted hello (1 s, then 2 and 4 later) finds its entry
 * under 2,000 spoofed hellos a second (20,000 live entries). */
static void open_gate(tl_edge_server *server, coap_context_t *ctx)
{
    const tl_serve_options *o = server->options;
    server->gate_fd = endpoint_socket(server->port);
    server->coap_fd = coap_context_get_coap_fd(ctx);
    if (server->gate_fd < 0 || server->coap_fd < 0 ||
        tl_dtls_gate_new(&server->gate, 65536, 10.0, o->dtls_alarm > 0 ? o->dtls_alarm : 100.0) != TL_OK) {
        fprintf(stderr, "DTLS: no gate in front of libcoap (%s): spoofed hellos reach its handshake table\n",
                server->coap_fd < 0  ? "it runs without epoll"
                : server->gate_fd < 0 ? "its socket was not found"
                                      : "out of memory");
    }
}

/* One pass of libcoap's I/O. With the gate, the loop waits on libcoap's
 * epoll descriptor itself (as coap_context_get_coap_fd's documentation
 * runs libcoap inside another loop), the gate takes the hellos it holds
 * off the endpoint's queue, and libcoap then does what is ready without
 * waiting: its one read from the endpoint finds the datagram the gate let
 * through, nothing, or (rarely) one that came in since the gate looked,
 * which libcoap then takes unjudged. */
static void serve_io(tl_edge_server *server, coap_context_t *ctx, unsigned timeout_ms)
{
    if (!server->gate) {
        coap_io_process(ctx, timeout_ms);
        return;
    }
    struct pollfd p = { server->coap_fd, POLLIN, 0 };
    if (poll(&p, 1, (int)timeout_ms) > 0) {
        tl_dtls_gate_drain(server->gate, server->gate_fd, 4096);
    }
    const tl_dtls_gate_stats st = tl_dtls_gate_stats_of(server->gate, tl_monotonic_seconds());
    if (st.flooding != server->gate_flooding && !server->options->quiet) {
        fprintf(stderr, st.flooding ? "DTLS: hellos from new addresses above the alarm rate: each one's first is "
                                      "held (%llu so far)\n"
                                    : "DTLS: hellos back below the alarm rate (%llu first hellos held so far)\n",
                (unsigned long long)st.held);
    }
    server->gate_flooding = st.flooding;
    coap_io_process(ctx, COAP_IO_NO_WAIT);
}

/* The server proper; tl_serve owns its state. */
static int serve(tl_edge_server *server, const tl_serve_options *o, char *error, size_t error_size)
{
    server->options = o;
    const int dtls = o->psk_file != NULL;
    if (dtls) {
        server->psk_count = tl_psk_read(o->psk_file, server->psk, MAX_PSK, error, error_size);
        if (server->psk_count < 0) {
            return -1;
        }
        if (!coap_dtls_is_supported()) {
            snprintf(error, error_size, "this libcoap has no DTLS");
            return -1;
        }
        for (int i = 0; i < server->psk_count; ++i) {
            server->psk_keys[i].s = server->psk[i].key;
            server->psk_keys[i].length = server->psk[i].key_size;
        }
    }
    server->port = o->port ? o->port : dtls ? 5684 : 5683;
    if (o->workers > 0 && start_workers(server, error, error_size) != 0) {
        return -1;
    }
    if (tl_library_open(o->library, &server->library, error, error_size) != TL_OK) {
        return -1;
    }
    if (o->upstream && tl_library_open(o->upstream, &server->upstream, error, error_size) != TL_OK) {
        close_libraries(server);
        return -1;
    }
    if (reload(server, error, error_size) != TL_OK) {
        close_libraries(server);
        return -1;
    }
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    coap_dtls_set_log_level(LOG_EMERG);
    coap_context_t *ctx = open_context(server, server->port, error, error_size);
    if (!ctx) {
        free_models(server->models, server->model_count);
        close_libraries(server);
        return -1;
    }
    server->ctx = ctx;
    if (dtls && !o->no_dtls_gate) {
        open_gate(server, ctx);
    }
    server->plan = coap_resource_init(coap_make_str_const("plan"), 0);
    coap_register_handler(server->plan, COAP_REQUEST_GET, handle_plan);
    coap_resource_set_get_observable(server->plan, 1);
    coap_add_resource(ctx, server->plan);
    coap_resource_t *model = coap_resource_init(coap_make_str_const("model"), 0);
    coap_register_handler(model, COAP_REQUEST_GET, handle_model);
    coap_add_resource(ctx, model);
    coap_resource_t *context = coap_resource_init(coap_make_str_const("context"), 0);
    coap_register_handler(context, COAP_REQUEST_GET, handle_context);
    coap_register_handler(context, COAP_REQUEST_POST, handle_context);
    coap_register_handler(context, COAP_REQUEST_PUT, handle_context);
    coap_add_resource(ctx, context);
    if (o->federate) {
        server->round = coap_resource_init(coap_make_str_const("round"), 0);
        coap_register_handler(server->round, COAP_REQUEST_GET, handle_round);
        coap_resource_set_get_observable(server->round, 1);
        coap_add_resource(ctx, server->round);
        coap_resource_t *update = coap_resource_init(coap_make_str_const("update"), 0);
        coap_register_handler(update, COAP_REQUEST_PUT, handle_update);
        coap_register_handler(update, COAP_REQUEST_POST, handle_update);
        coap_add_resource(ctx, update);
        coap_resource_t *secagg = coap_resource_init(coap_make_str_const("secagg"), 0);
        coap_register_handler(secagg, COAP_REQUEST_GET, handle_secagg_get);
        coap_register_handler(secagg, COAP_REQUEST_PUT, handle_secagg_put);
        coap_add_resource(ctx, secagg);
        if (start_rounds(server, error, error_size) != TL_OK) {
            coap_free_context(ctx);
            free_models(server->models, server->model_count);
            close_libraries(server);
            return -1;
        }
    }
    if (o->edge_model) {
        const tl_infer_options io = { o->edge_model, o->infer_batch, o->infer_wait > 0 ? o->infer_wait : 0.002, 0 };
        char why[384] = "";
        if (!coap_async_is_supported() || tl_infer_open(&io, &server->infer, why, sizeof why) != TL_OK ||
            tl_infer_classes(server->infer) > 64) {
            snprintf(error, error_size, "--edge-model %s: %s", o->edge_model,
                     why[0] ? why : server->infer ? "more than 64 classes" : "libcoap without separate responses");
            tl_infer_close(server->infer);
            coap_free_context(ctx);
            free_models(server->models, server->model_count);
            close_libraries(server);
            return -1;
        }
    }
    if (o->split_learn) {
        const tl_split_server_options so = { o->split_learn, o->split_cut, (float)o->split_lr, o->split_out };
        char why[512] = "";
        if (tl_split_server_open(&so, &server->split, why, sizeof why) != TL_OK) {
            snprintf(error, error_size, "--split-learn %s", why[0] ? why : "out of memory");
            tl_infer_close(server->infer);
            coap_free_context(ctx);
            free_models(server->models, server->model_count);
            close_libraries(server);
            return -1;
        }
        coap_resource_t *split = coap_resource_init(coap_make_str_const("split"), 0);
        coap_register_handler(split, COAP_REQUEST_GET, handle_split_get);
        coap_register_handler(split, COAP_REQUEST_POST, handle_split_post);
        coap_add_resource(ctx, split);
    }
    /* /infer: the edge model's (with --edge-model) and split inference's
     * (the rest of any model in the library). */
    coap_resource_t *infer = coap_resource_init(coap_make_str_const("infer"), 0);
    coap_register_handler(infer, COAP_REQUEST_POST, handle_infer);
    coap_add_resource(ctx, infer);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!o->quiet) {
        char workers[96] = "";
        if (server->worker_count) {
            snprintf(workers, sizeof workers, "; /model also on ports %u..%u (%d download worker%s)",
                     server->port + 1, server->port + server->worker_count, server->worker_count,
                     server->worker_count == 1 ? "" : "s");
        }
        fprintf(stderr, "serving %s on coap%s://%s:%u (/plan, /model, /context%s%s%s)%s%s\n", o->library,
                dtls ? "s" : "", o->host ? o->host : "127.0.0.1", server->port,
                o->federate ? (o->round_mode == TL_ROUND_SECURE ? ", /round, /update, /secagg" : ", /round, /update")
                            : "",
                server->infer ? ", /infer" : ", /infer?cut=", server->split ? ", /split" : "",
                dtls ? ", DTLS-PSK identities only" : "", workers);
    }
    const double poll = o->poll_seconds > 0 ? o->poll_seconds : 1.0;
    int64_t generation = -1; /* the first poll reloads: nothing published since the start is missed */
    double next_poll = tl_monotonic_seconds() + poll;
    const double ttl = o->upstream_ttl > 0 ? o->upstream_ttl : 60.0;
    double next_refresh = tl_monotonic_seconds() + ttl;
    while (!stop) {
        /* With requests at the inference worker, the loop looks for their
         * answers every millisecond; otherwise it sleeps in libcoap. */
        serve_io(server, ctx, server->infer && tl_infer_pending(server->infer) ? 1 : 100);
        if (server->infer) {
            tl_infer_collect(server->infer, infer_answered, server);
        }
        if (tl_monotonic_seconds() >= next_poll) {
            int64_t g;
            char why[320];
            for (int i = 0; i < server->device_count; ++i) {
                device_context *d = &server->devices[i];
                if (d->replan && d->resource) {
                    coap_resource_notify_observers(d->resource, NULL);
                }
                d->replan = 0;
            }
            if (tl_library_generation(server->library, &g) == TL_OK && g != generation) {
                /* A version was published or removed: plan again for everyone. */
                if (reload(server, why, sizeof why) == TL_OK) {
                    generation = g;
                    if (!o->quiet) {
                        fprintf(stderr, "library changed: notifying observers\n");
                    }
                    coap_resource_notify_observers(server->plan, NULL);
                    for (int i = 0; i < server->device_count; ++i) {
                        if (server->devices[i].resource) {
                            coap_resource_notify_observers(server->devices[i].resource, NULL);
                        }
                    }
                } else if (!o->quiet) {
                    fprintf(stderr, "library changed but cannot be read (%s); serving the previous snapshot\n", why);
                }
            }
            if (o->federate) {
                tick_round(server);
            }
            reap_workers(server);
            if (server->upstream && tl_monotonic_seconds() >= next_refresh) {
                refresh_from_upstream(server);
                next_refresh = tl_monotonic_seconds() + ttl;
            }
            next_poll = tl_monotonic_seconds() + poll;
        }
    }
    /* Requests at the inference worker are answered before leaving (up to
     * 2 s): their waits hold sessions and memory until then. */
    const double drain_until = tl_monotonic_seconds() + 2.0;
    while (server->infer && tl_infer_pending(server->infer) && tl_monotonic_seconds() < drain_until) {
        coap_io_process(ctx, 1);
        tl_infer_collect(server->infer, infer_answered, server);
    }
    if (server->infer) {
        coap_io_process(ctx, 10); /* send the last answers */
    }
    coap_free_context(ctx);
    coap_cleanup();
    tl_dtls_gate_free(server->gate);
    tl_infer_close(server->infer);
    tl_split_server_close(server->split);
    for (int i = 0; i < CACHE_ENTRIES; ++i) {
        if (server->cache[i]) {
            cache_release(NULL, server->cache[i]);
        }
    }
    free_models(server->models, server->model_count);
    close_libraries(server);
    for (int i = 0; i < server->device_count; ++i) {
        free(server->devices[i].observed);
    }
    return 0;
}

int tl_serve(const tl_serve_options *o, char *error, size_t error_size)
{
    tl_edge_server *server = calloc(1, sizeof *server);
    if (!server) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    const int status = serve(server, o, error, error_size);
    stop_workers(server);
    free(server);
    return status;
}
