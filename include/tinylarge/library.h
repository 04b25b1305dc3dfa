/* library.h - the model library (src/edge/library.c; backends in db_sqlite.c,
 * db_pg.c): every model's published versions, variants, signed manifests
 * and context tags, on SQLite or PostgreSQL (docs/library.md). */
#ifndef TINYLARGE_LIBRARY_H
#define TINYLARGE_LIBRARY_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/manifest.h"
#include "tinylarge/planner.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_library tl_library;

/* Opens (creating if needed) a library and brings its schema up to date
 * (numbered migrations). `target` is a SQLite file, or a PostgreSQL
 * connection string ("postgresql://...", "host=... dbname=..."). */
tl_status tl_library_open(const char *target, tl_library **library, char *error, size_t error_size);
void tl_library_close(tl_library *library);

/* Publishes a model's catalogue (DIR/catalogue.csv and its .tlm files) as
 * the next version of `name`: every variant stored with its digest and its
 * progressive (.tlp) form; with secret_key, each model is signed and each
 * .tlp header (which holds the digest of every prefix) gets a detached
 * signature. tags are "key=value" context strings. All or nothing. */
tl_status tl_library_publish(tl_library *library, const char *name, const char *catalogue_dir,
                             const uint8_t *secret_key, const char *const *tags, int tag_count, int *version,
                             char *error, size_t error_size);

/* The latest version's variants of `name` (for the planner). */
tl_status tl_library_variants(tl_library *library, const char *name, tl_variant *variants, int capacity,
                              int *count, int *version, char *error, size_t error_size);

/* One variant's bytes, the .tlm or (progressive != 0) its .tlp stream;
 * 16-byte aligned, caller frees. */
tl_status tl_library_model(tl_library *library, const char *name, int version, const char *variant,
                           int progressive, uint8_t **data, size_t *size, char *error, size_t error_size);

tl_status tl_library_manifest(tl_library *library, const char *name, int version, const char *variant,
                              tl_manifest *manifest, char *error, size_t error_size);

/* The model for a context "key=value&key=value": one whose tags all hold in
 * the context; the most specific (most tags) wins. TL_ERR_ARG if none. */
tl_status tl_library_match(tl_library *library, const char *context, char *name, size_t name_size, char *error,
                           size_t error_size);

/* How well a model's tags ("k=v,k=v", as tl_library_list gives them) fit
 * a context ("k=v&k=v"): the number of tags if all hold, else -1. */
int tl_context_fit(const char *context, const char *tags);

/* A number that changes whenever a version is published or removed (the
 * server polls it to notify observers of a better variant). */
tl_status tl_library_generation(tl_library *library, int64_t *generation);

/* Calls `fn` for every model: name, latest version, variant count, tags. */
tl_status tl_library_list(tl_library *library,
                          void (*fn)(void *ctx, const char *name, int version, int variants, const char *tags),
                          void *ctx, char *error, size_t error_size);

/* The three-tier library: `cache` (an edge server's SQLite) takes the
 * latest version of `name` from `upstream` (the central PostgreSQL) when
 * it lacks it or holds an older one: every variant's model, progressive
 * stream, signed manifest and the publication's sequence, as published,
 * and the model's tags. All or nothing. *fetched: 1 if a version was
 * copied, 0 if the cache was up to date; *version: the cache's latest now.
 * TL_ERR_ARG if the upstream has no such model. */
tl_status tl_library_fetch(tl_library *cache, tl_library *upstream, const char *name, int *version, int *fetched,
                           char *error, size_t error_size);

/* Removes a model, every version. TL_ERR_ARG if there is no such model. */
tl_status tl_library_remove(tl_library *library, const char *name, char *error, size_t error_size);

/* ---- federated rounds (src/edge/rounds.c, secure_rounds.c) ----
 * A model's rounds and the updates received in each, kept in the library
 * so a server killed mid-round restarts into the same round. A plain
 * round's update is `value_count` float32 values (little-endian) and a
 * weight; a fixed-point or secure round's is value_count + 1 uint32 words:
 * the weighted values and the weight in fixed point (secagg.h), masked in a
 * secure round, whose phases follow Bonawitz et al.: keys, shares, masked
 * updates, opened shares. */
typedef enum tl_round_mode {
    TL_ROUND_PLAIN = 0,         /* float updates, any rule combines them */
    TL_ROUND_FIXED = 1,         /* fixed-point sums without masks (a secure round's arithmetic) */
    TL_ROUND_SECURE = 2         /* masked fixed point: the server learns only the sum */
} tl_round_mode;

typedef enum tl_round_phase {
    TL_PHASE_KEYS = 0,          /* devices advertise their public keys; `needed` of them start the round */
    TL_PHASE_SHARES = 1,        /* each deals sealed shares to its neighbours */
    TL_PHASE_UPDATES = 2,       /* updates (masked in a secure round) */
    TL_PHASE_OPEN = 3,          /* survivors open the shares they hold */
    TL_PHASE_DONE = 4           /* the round can be combined */
} tl_round_phase;

#define TL_ROUND_FRAC_BITS 16   /* fixed point of FIXED and SECURE rounds */

typedef struct tl_round_state {
    int round;                  /* 1, 2, ... */
    int needed;                 /* updates (a secure round: devices) that close (start) it */
    int received;               /* updates */
    uint32_t value_count;
    int base_version;           /* the model version the clients learnt from */
    int open;
    tl_round_mode mode;
    tl_round_phase phase;
    double phase_started;       /* seconds since the epoch, for the phase's timeout */
    int clients, degree, threshold; /* a secure round's graph, fixed when its keys are in */
    int advertised, dealt, opened;  /* a secure round's devices at each step */
} tl_round_state;

/* The fixed-point clamp of a round's words: sums of `needed` updates
 * cannot wrap. */
int32_t tl_round_fixed_limit(const tl_round_state *round);

/* The model devices learn in rounds: the latest version's first variant
 * whose head the device learner can train (learn.h). *data (16-byte
 * aligned, caller frees) gets its .tlm; TL_ERR_UNSUPPORTED if none has one. */
tl_status tl_library_learnable(tl_library *library, const char *name, int *version, tl_variant *variant,
                               uint8_t **data, size_t *size, char *error, size_t error_size);

/* The model's latest round (open or not); TL_ERR_ARG if it has none. */
tl_status tl_round_current(tl_library *library, const char *name, tl_round_state *round, char *error,
                           size_t error_size);
/* The open round, or a new one (the latest + 1, in `mode`) if none is open. */
tl_status tl_round_open(tl_library *library, const char *name, int needed, uint32_t value_count, int base_version,
                        tl_round_mode mode, tl_round_state *round, char *error, size_t error_size);
/* Stores a device's update in the open round `round` (replacing an earlier
 * one of the same device); *round gets the state after. TL_ERR_STATE: not
 * the open round, or (secure) not its update phase or a device that dealt
 * no shares; TL_ERR_SHAPE: not value_count values (words); TL_ERR_ARG: a
 * weight outside (0, 1e9] or a value that is not finite. */
tl_status tl_round_submit(tl_library *library, const char *name, int round, const char *device, double weight,
                          const void *values, size_t size, tl_round_state *state, char *error, size_t error_size);
/* Calls fn for each update of a round, in device order. */
tl_status tl_round_updates(tl_library *library, const char *name, int round,
                           void (*fn)(void *ctx, const char *device, double weight, const float *values,
                                      uint32_t count),
                           void *ctx, char *error, size_t error_size);
tl_status tl_round_close(tl_library *library, const char *name, int round, char *error, size_t error_size);
/* 1: the round has what closing it needs (a plain or fixed round: its
 * updates; a secure one: the DONE phase). */
int tl_round_complete(const tl_round_state *round);

/* A secure round's steps (secure_rounds.c). Each checks the phase and the
 * device and returns TL_ERR_STATE with the reason when either is wrong. */
/* Keys phase: the device's c and s public keys (64 bytes). The `needed`th
 * device fixes the roster (by device name) and the graph, and the round
 * moves to SHARES. */
tl_status tl_round_advertise(tl_library *library, const char *name, int round, const char *device,
                             const uint8_t keys[64], tl_round_state *state, char *error, size_t error_size);
/* Shares phase: the device's sealed shares, degree x TL_SECAGG_BOX_BYTES,
 * for its neighbours in order. The last device moves it to UPDATES. */
tl_status tl_round_deal(tl_library *library, const char *name, int round, const char *device, const void *boxes,
                        size_t size, tl_round_state *state, char *error, size_t error_size);
/* Open phase: for each of the device's neighbours, a flag byte and the 32
 * bytes of the share it opened. The last survivor moves it to DONE. */
tl_status tl_round_reveal(tl_library *library, const char *name, int round, const char *device, const void *shares,
                          size_t size, tl_round_state *state, char *error, size_t error_size);
/* The roster, from SHARES on: clients x TL_ROUND_ROSTER_ENTRY bytes in index
 * order, each the device name (64 bytes, NUL-padded), c and s public keys,
 * a flag "dealt its shares" and a flag "sent its update". */
#define TL_ROUND_ROSTER_ENTRY 130
tl_status tl_round_roster(tl_library *library, const char *name, int round, uint8_t **data, size_t *size,
                          char *error, size_t error_size);
/* The boxes the device's neighbours dealt it, degree x TL_SECAGG_BOX_BYTES
 * (zeros where a neighbour dealt none), from UPDATES on. */
tl_status tl_round_held(tl_library *library, const char *name, int round, const char *device, uint8_t **data,
                        size_t *size, char *error, size_t error_size);
/* Moves a phase that has waited `timeout` seconds on with the devices that
 * acted (SHARES, UPDATES, OPEN; KEYS waits for `needed` devices). *moved: 1
 * if it did. */
tl_status tl_round_tick(tl_library *library, const char *name, double timeout, tl_round_state *state, int *moved,
                        char *error, size_t error_size);
/* A fixed or secure round's combined update: the words summed mod 2^32,
 * unmasked (secure: with the opened shares), divided by the summed weight:
 * mean[value_count]. TL_ERR_STATE: too few shares to unmask (the round is
 * void). */
tl_status tl_round_mean(tl_library *library, const char *name, int round, float *mean, char *error,
                        size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_LIBRARY_H */
