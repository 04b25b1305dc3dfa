/* coap.h - the edge over CoAP (src/edge/server.c, device_client.c): the server,
 * a device's update rounds (or a gateway's, for a device on a serial
 * link), and the pre-shared keys of DTLS identities. */
#ifndef TINYLARGE_COAP_H
#define TINYLARGE_COAP_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/manifest.h"
#include "tinylarge/planner.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a pre-shared key file: lines "identity hex-key [operator]"; '#'
 * starts a comment. Returns the number of entries (< 0: error). */
typedef struct tl_psk {
    char identity[64];
    uint8_t key[64];
    size_t key_size;
    int operator_role;          /* may set other devices' context */
} tl_psk;
int tl_psk_read(const char *path, tl_psk *entries, int capacity, char *error, size_t error_size);

struct tl_library;
struct tl_round_state;

/* Closes a federated round (the server calls it when the round has its
 * updates): combine them (tl_round_updates) and publish the result as the
 * model's next version; TL_OK lets the server close the round and open the
 * next. Runs in the server's loop. */
typedef tl_status (*tl_round_done_fn)(void *ctx, struct tl_library *library, const char *name,
                                      const struct tl_round_state *round, int *version, char *error,
                                      size_t error_size);

typedef struct tl_serve_options {
    const char *library;        /* SQLite file or PostgreSQL connection string */
    const char *host;           /* default 127.0.0.1 */
    uint16_t port;              /* default 5683 (5684 with DTLS) */
    const char *psk_file;       /* non-NULL: DTLS with these identities only */
    double poll_seconds;        /* how often to look for new versions (default 1) */
    /* Bounds on what devices that went away cost: sessions with nothing in
     * flight are dropped after session_timeout seconds (0: 5, with DTLS 60),
     * and beyond max_idle_sessions of them the least recently used goes
     * (0: 10000). libcoap visits every session on each pass of its loop, so
     * idle ones left from earlier downloads slowed the ones under way. */
    unsigned session_timeout;
    unsigned max_idle_sessions;
    /* DTLS sessions still in their handshake (0: 4096): libcoap 4.3.1
     * keeps a session for every ClientHello it reads, cookie or not (under
     * 1 KB with its OpenSSL build), and past this bound ignores new peers
     * until partial handshakes time out. The gate (dtls_gate.h) keeps a
     * flood's one-off hellos from reaching it; this bounds the rest. */
    unsigned max_handshakes;
    /* The gate: new addresses' hellos a second above which each one's first
     * is held (0: 100; below 1: always), or none at all with no_dtls_gate. */
    double dtls_alarm;
    int no_dtls_gate;
    /* Download workers (0: none): processes of their own, each on its own
     * core, serving /model on port + 1 .. port + workers; a plan names one
     * of them to each device in turn. Control (/plan, /context, rounds,
     * /infer) stays with this process, whose state they do not share. */
    int workers;
    int quiet;
    /* Federated rounds of one model (NULL: none): devices learn its head
     * and send the deltas to /update; round_size of them close a round. */
    const char *federate;
    int round_size;
    double max_weight;          /* updates claiming more weight are refused (a device's
                                   weight is its own claim; default 10000) */
    tl_round_done_fn round_done;
    void *round_ctx;
    int round_mode;             /* tl_round_mode (library.h): plain, fixed or secure rounds */
    double round_timeout;       /* a secure round's phase waits this long for the devices
                                   still to act, then goes on without them (default 30 s) */
    /* The edge's own model (NULL: none): POST /infer runs devices' inputs
     * through it, batched (infer.h). */
    const char *edge_model;
    int infer_batch;            /* requests a batch takes at most (default 32) */
    double infer_wait;          /* how long a request waits for others (default 0.002 s) */
    /* Split learning (NULL: none): the edge's half of this checkpoint
     * learns from devices' activations at node split_cut (POST /split). */
    const char *split_learn;
    int split_cut;
    double split_lr;            /* default 0.05 */
    const char *split_out;      /* where a device's join writes the whole model */
    /* The three-tier library (NULL: none): `library` is this edge server's
     * cache, filled from this central library (PostgreSQL) on a miss and
     * brought up to date every upstream_ttl seconds (default 60). */
    const char *upstream;
    double upstream_ttl;
} tl_serve_options;

/* Serves the library until SIGINT/SIGTERM; -1 with a message if it cannot
 * start. Resources: /plan (observable), /model (block-wise), /context;
 * with federate, /round (observable) and /update (block-wise uploads). */
int tl_serve(const tl_serve_options *options, char *error, size_t error_size);

/* What the device client reports as it goes (may be NULL). */
typedef void (*tl_device_log_fn)(void *ctx, const char *line);
/* Called whenever a model becomes runnable: a progressive prefix of
 * `planes` planes (< 8) or a complete, verified model (planes 8). */
typedef void (*tl_device_model_fn)(void *ctx, const uint8_t *model, size_t size, const tl_manifest *manifest,
                                   int planes, double seconds);

typedef struct tl_device_options {
    const char *host;
    uint16_t port;
    const char *device_id;      /* names the device to the server (context) */
    const char *name;           /* a model by name, or NULL: chosen by context */
    const char *context;        /* "task=fashion&location=hall" */
    tl_device_profile profile;
    double rate_bps;            /* channel rate reported to the planner */
    double deadline_s;          /* download + first inference (0: none) */
    double link_bps;            /* > 0: emulate a link this slow (paces blocks) */
    const uint8_t *public_key;  /* the publisher's; NULL only with insecure */
    int insecure;               /* take unsigned manifests (no key): a choice made on purpose */
    const char *slots;          /* folder with the two slots */
    /* Or a gateway: the update machine runs on a device reached over a
     * serial link, this Unix socket (QEMU's -serial unix:PATH); with
     * run_remote, the device runs its model at the end and its output is
     * logged ("output: ..."). */
    const char *uart;
    int run_remote;
    const tl_psk *psk;          /* non-NULL: DTLS with this identity */
    int progressive;            /* download the .tlp stream; run prefixes */
    int first_planes;           /* smallest prefix worth running (default 4) */
    double watch_seconds;       /* > 0: observe /plan this long and follow */
    int max_updates;            /* stop watching after this many installs (0: none) */
    double block_timeout_s;     /* no answer for this long: give up (default 10) */
    tl_device_log_fn log;
    tl_device_model_fn on_model;
    void *ctx;
} tl_device_options;

/* Update rounds of a device, through the device's update state machine
 * (update.h) over files in `slots`: plan, offer the signed manifest,
 * download into the inactive slot (resuming a broken transfer), verify
 * digest and signature, refuse a rollback, switch; with watch_seconds,
 * follow Observe notifications. msg says how the last round ended. */
tl_status tl_device_run(const tl_device_options *options, char *msg, size_t msg_size);

/* POSTs K=V pairs ("a=1&b=2"; NULL: just GET) to /context for `device`;
 * reply gets the device's context as the server now holds it, or why not. */
tl_status tl_context_set(const char *host, uint16_t port, const tl_psk *psk, const char *device, const char *pairs,
                         char *reply, size_t reply_size);

/* The running model as the device's update record says: slot letter,
 * version, variant[40] and model[64] (may be NULL); 0 if none. */
int tl_device_active(const char *slots, char *slot, int *version, char *variant, char *model);

/* A device's part in a federated round: reads /round?name=NAME, then
 * sends `count` float32 values (the head's delta) and its weight to
 * /update for that round, block-wise; in a fixed-point round, the words
 * (secagg.h's fixed point, the weight inside); in a secure round, takes
 * the protocol's steps (PUT /secagg keys, shares; the masked words; the
 * opened shares), waiting for each phase (Observe on /round, up to 120 s
 * each). reply gets the server's answer ("round R: received X of K") or
 * why it refused. */
#define TL_ROUND_SEND_DROP 1 /* flags: leave before the update (after the shares in a secure
                                round), as a device that loses power: for tests */
tl_status tl_round_send(const char *host, uint16_t port, const tl_psk *psk, const char *device, const char *name,
                        const float *values, uint32_t count, double weight, int flags, int *round, char *reply,
                        size_t reply_size);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_COAP_H */
