/* catalogue.h - a model's variant catalogue, one type and one module
 * (src/catalogue/catalogue.c): the variants `tinylarge compress` builds
 * (exit x channels x sparsity x bits), what each costs and how accurate
 * it is on the device runtime. One column table writes and reads both
 * forms, catalogue.csv (what the planner and the library read) and
 * catalogue.json, so writer and readers cannot disagree on a column. */
#ifndef TINYLARGE_CATALOGUE_H
#define TINYLARGE_CATALOGUE_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most variants one catalogue (one model version) holds. */
#define TL_CATALOGUE_MAX_VARIANTS 256

/* One variant: one row of the catalogue. */
typedef struct tl_variant {
    char name[32];              /* e0-s50-int8: its .tlm is NAME.tlm beside the catalogue */
    int exit;
    float sparsity;
    int bits;
    float accuracy;             /* on the device runtime, test split */
    uint64_t bytes;
    uint64_t macs;
    uint64_t arena;
    int64_t m4_instructions;    /* -1 if not measured */
    int pareto;                 /* on the accuracy-bytes Pareto front */
    /* The smallest progressive prefix within a point of the whole (0: none):
     * a device can run it after prefix_bytes of the .tlp stream. */
    uint32_t prefix_planes;
    uint64_t prefix_bytes;
    float prefix_accuracy;
    /* A pruned or int4 variant's dense int8 form (tl_model_densify), which a
     * densifying device installs when it fits the flash: its bytes (0: the
     * variant has no packed filters) and M4 instructions (-1: not measured).
     * The arena is the same. */
    uint64_t dense_bytes;
    int64_t dense_m4_instructions;
} tl_variant;

/* Writes DIR/catalogue.csv and DIR/catalogue.json (each atomically). */
tl_status tl_catalogue_write(const char *dir, const tl_variant *variants, int count, char *error, size_t error_size);

/* Reads catalogue.csv or catalogue.json (by its ending) into at most
 * `capacity` variants. Columns go by their names in the header (CSV) or
 * keys (JSON), so older catalogues without the later columns read too;
 * the first nine (variant .. m4_instructions) are required. A row that
 * does not parse is named by its line. */
tl_status tl_catalogue_read(const char *path, tl_variant *variants, int capacity, int *count, char *error,
                            size_t error_size);

/* Marks the variants no other beats on both accuracy and bytes. */
void tl_catalogue_mark_pareto(tl_variant *variants, int count);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_CATALOGUE_H */
