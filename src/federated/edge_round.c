/* edge_round.c - closing a federated round at the edge (federated.h):
 * the devices' head deltas, combined, become the model's next version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinylarge/catalogue.h"
#include "tinylarge/federated.h"
#include "tinylarge/host.h"
#include "tinylarge/learn.h"
#include "tinylarge/library.h"

typedef struct collected {
    float **values;
    double *weights;
    int count, capacity;
    uint32_t expected;
    int bad;                    /* an update of the wrong length */
} collected;

static void collect(void *ctx, const char *device, double weight, const float *values, uint32_t count)
{
    collected *c = ctx;
    (void)device;
    if (count != c->expected) {
        c->bad = 1;
        return;
    }
    if (c->count == c->capacity) {
        const int cap = c->capacity ? 2 * c->capacity : 16;
        float **v = realloc(c->values, sizeof(float *) * (size_t)cap);
        double *w = v ? realloc(c->weights, sizeof(double) * (size_t)cap) : NULL;
        if (v) {
            c->values = v;
        }
        if (!w) {
            c->bad = 1;
            return;
        }
        c->weights = w;
        c->capacity = cap;
    }
    float *copy = malloc(sizeof(float) * count);
    if (!copy) {
        c->bad = 1;
        return;
    }
    memcpy(copy, values, sizeof(float) * count);
    c->values[c->count] = copy;
    c->weights[c->count++] = weight;
}

/* The model's tags, "k=v,k=v" as the library lists them. */
typedef struct tag_list {
    const char *name;
    char text[512];
} tag_list;

static void find_tags(void *ctx, const char *name, int version, int variants, const char *tags)
{
    tag_list *t = ctx;
    (void)version;
    (void)variants;
    if (!strcmp(name, t->name)) {
        snprintf(t->text, sizeof t->text, "%s", tags);
    }
}

tl_status tl_round_publish(void *ctx, struct tl_library *lib, const char *name, const struct tl_round_state *round,
                           int *version, char *error, size_t error_size)
{
    const tl_round_publisher *p = ctx;
    collected c = { NULL, NULL, 0, 0, round->value_count, 0 };
    float *mean = malloc(sizeof(float) * round->value_count);
    /* A fixed-point or secure round is combined by the library (sums, unmasked). */
    tl_status s = !mean                            ? TL_ERR_NOMEM
                  : round->mode != TL_ROUND_PLAIN ? tl_round_mean(lib, name, round->round, mean, error, error_size)
                                                  : tl_round_updates(lib, name, round->round, collect, &c, error,
                                                                     error_size);
    uint8_t *bytes = NULL, *out = NULL, *work = NULL;
    size_t size = 0;
    char dir[512] = "";
    if (s == TL_OK && (c.bad || !mean)) {
        snprintf(error, error_size, "round %d: an update of the wrong length, or out of memory", round->round);
        s = TL_ERR_SHAPE;
    }
    if (s == TL_OK && round->mode == TL_ROUND_PLAIN && c.count == 0) {
        snprintf(error, error_size, "round %d has no updates", round->round);
        s = TL_ERR_STATE;
    }
    if (s == TL_OK && round->mode == TL_ROUND_PLAIN) {
        s = tl_fed_aggregate(&p->rule, (const float *const *)c.values, c.weights, c.count, round->value_count, mean);
        if (s != TL_OK) {
            snprintf(error, error_size, "round %d: %s cannot combine %d updates", round->round,
                     tl_agg_name(p->rule.kind), c.count);
        }
    }
    /* The model the devices learnt from, its head moved by the combined delta. */
    int base = 0;
    tl_variant variant;
    if (s == TL_OK) {
        s = tl_library_learnable(lib, name, &base, &variant, &bytes, &size, error, error_size);
    }
    tl_model m;
    tl_learner l;
    if (s == TL_OK && base != round->base_version) {
        snprintf(error, error_size, "round %d learnt from version %d, but the library's latest is %d", round->round,
                 round->base_version, base);
        s = TL_ERR_STATE;
    }
    if (s == TL_OK) {
        s = tl_model_load(&m, bytes, size, 0);
    }
    const size_t work_size = s == TL_OK ? tl_learn_work_size(&m, NULL) : 0;
    work = work_size ? malloc(work_size) : NULL;
    out = malloc(size ? size : 1);
    uint32_t out_size = 0;
    if (s == TL_OK && (!work || !out)) {
        s = TL_ERR_NOMEM;
    }
    if (s == TL_OK) {
        s = tl_learn_init(&l, &m, work, work_size, NULL);
    }
    if (s == TL_OK) {
        s = tl_learn_apply(&l, mean, round->value_count);
    }
    if (s == TL_OK) {
        s = tl_learn_write_model(&l, out, size, &out_size);
    }
    if (s != TL_OK && !error[0]) {
        snprintf(error, error_size, "cannot apply the round's updates to %s: %s", variant.name, tl_status_str(s));
    }
    /* A one-variant catalogue, published as the next version. */
    if (s == TL_OK) {
        const char *tmp = p->work_dir ? p->work_dir : getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/tinylarge-round-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        char path[640];
        if (!mkdtemp(dir)) {
            snprintf(error, error_size, "cannot make a folder for the new catalogue");
            dir[0] = '\0';
            s = TL_ERR_IO;
        } else {
            snprintf(path, sizeof path, "%s/%s.tlm", dir, variant.name);
            s = tl_write_file_atomic(path, out, out_size);
        }
    }
    if (s == TL_OK) {
        variant.bytes = out_size;
        variant.pareto = 1;
        variant.prefix_planes = 0;
        variant.prefix_bytes = 0;
        variant.prefix_accuracy = 0.0f;
        s = tl_catalogue_write(dir, &variant, 1, error, error_size);
    }
    tag_list tags = { name, "" };
    if (s == TL_OK) {
        s = tl_library_list(lib, find_tags, &tags, error, error_size);
    }
    if (s == TL_OK) {
        const char *items[16];
        int n = 0;
        for (char *t = strtok(tags.text, ","); t && n < 16; t = strtok(NULL, ",")) {
            items[n++] = t;
        }
        s = tl_library_publish(lib, name, dir, p->secret_key, items, n, version, error, error_size);
    }
    if (dir[0]) {
        char path[640];
        snprintf(path, sizeof path, "%s/%s.tlm", dir, variant.name);
        remove(path);
        snprintf(path, sizeof path, "%s/catalogue.csv", dir);
        remove(path);
        snprintf(path, sizeof path, "%s/catalogue.json", dir);
        remove(path);
        rmdir(dir);
    }
    for (int i = 0; i < c.count; ++i) {
        free(c.values[i]);
    }
    free(c.values);
    free(c.weights);
    free(mean);
    free(bytes);
    free(out);
    free(work);
    return s;
}
