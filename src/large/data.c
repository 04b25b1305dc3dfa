/* data.c - datasets for training: a folder of IDX files (Fashion-MNIST as
 * Debian's dataset-fashion-mnist installs them, or any images of H x W or
 * H x W x C bytes) or of NumPy .npy arrays; partitions into shards for
 * federated learning; batches with normalisation and augmentation, and
 * deterministic shuffling.
 *
 * IDX: a big-endian header (magic 0x0000080N, N = number of dimensions),
 * N big-endian u32 sizes, then unsigned bytes. .npy: a magic, a Python dict
 * header (descr, fortran_order, shape), then the values. zlib reads gzip
 * and plain files alike.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tinylarge/host.h"
#include "tinylarge/large.h"
#include "util.h"

/* The local name used below. */
#define fail tl_fail

static int read_u32(gzFile f, uint32_t *v)
{
    uint8_t b[4];
    if (gzread(f, b, 4) != 4) {
        return -1;
    }
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

/* Reads an IDX file of bytes of `min_rank` to `max_rank` dimensions (its
 * rank goes to *rank); at most `limit` items. */
static tl_status read_idx(const char *path, uint32_t min_rank, uint32_t max_rank, int limit, uint32_t *rank,
                          uint32_t *dims, uint8_t **data, char *error, size_t error_size)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        return fail(error, error_size, TL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    uint32_t magic;
    if (read_u32(f, &magic) != 0 || (magic & ~0xFFu) != 0x800u || (magic & 0xFFu) < min_rank ||
        (magic & 0xFFu) > max_rank) {
        gzclose(f);
        return fail(error, error_size, TL_ERR_FORMAT, "%s: not an IDX file of %u%s%u dimensions of bytes", path,
                    min_rank, min_rank == max_rank ? "" : " to ", min_rank == max_rank ? 0u : max_rank);
    }
    *rank = magic & 0xFFu;
    uint64_t total = 1;
    for (uint32_t i = 0; i < *rank; ++i) {
        if (read_u32(f, &dims[i]) != 0 || dims[i] == 0 || dims[i] > 10000000u) {
            gzclose(f);
            return fail(error, error_size, TL_ERR_FORMAT, "%s: truncated or absurd IDX header", path);
        }
        if (i == 0 && limit > 0 && dims[0] > (uint32_t)limit) {
            dims[0] = (uint32_t)limit;
        }
        total *= dims[i];
    }
    if (total > (1ull << 31)) {
        gzclose(f);
        return fail(error, error_size, TL_ERR_FORMAT, "%s: too large", path);
    }
    *data = malloc(total ? total : 1);
    if (!*data) {
        gzclose(f);
        return fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    if (gzread(f, *data, (unsigned)total) != (int)total) {
        free(*data);
        *data = NULL;
        gzclose(f);
        return fail(error, error_size, TL_ERR_TRUNCATED, "%s: truncated (fewer samples than its header says)",
                    path);
    }
    gzclose(f);
    return TL_OK;
}

/* Images of N x H x W (one channel) or N x H x W x C bytes. */
static tl_status set_shape(tl_dataset *out, uint32_t rank, const uint32_t *dims, const char *path, char *error,
                           size_t error_size)
{
    if (rank < 3 || rank > 4 || dims[0] > 0x7fffffffu || dims[1] > 4096 || dims[2] > 4096 ||
        (rank == 4 && (dims[3] == 0 || dims[3] > 64))) {
        return fail(error, error_size, TL_ERR_FORMAT, "%s: images must be N x H x W or N x H x W x C (C <= 64)", path);
    }
    out->n = (int)dims[0];
    out->h = (int)dims[1];
    out->w = (int)dims[2];
    out->c = rank == 4 ? (int)dims[3] : 1;
    return TL_OK;
}

tl_status tl_dataset_load_idx(const char *images, const char *labels, int limit, tl_dataset *out,
                              char *error, size_t error_size)
{
    memset(out, 0, sizeof *out);
    uint32_t idims[4] = { 0 }, ldims[1] = { 0 }, irank = 0, lrank = 0;
    tl_status s = read_idx(images, 3, 4, limit, &irank, idims, &out->pixels, error, error_size);
    if (s == TL_OK) {
        s = set_shape(out, irank, idims, images, error, error_size);
    }
    if (s == TL_OK) {
        s = read_idx(labels, 1, 1, limit, &lrank, ldims, &out->labels, error, error_size);
    }
    if (s == TL_OK && ldims[0] != idims[0]) {
        s = fail(error, error_size, TL_ERR_FORMAT, "%s holds %u images but %s %u labels", images, idims[0], labels,
                 ldims[0]);
    }
    if (s != TL_OK) {
        tl_dataset_free(out);
        return s;
    }
    for (int i = 0; i < out->n; ++i) {
        out->classes = out->labels[i] + 1 > out->classes ? out->labels[i] + 1 : out->classes;
    }
    return TL_OK;
}

/* ---- NumPy .npy (format versions 1 to 3, C order) ---- */

/* The value of `key` in the header's Python dict text (after "'key':"). */
static const char *npy_field(const char *header, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s':", key);
    const char *p = strstr(header, quoted);
    if (!p) {
        return NULL;
    }
    p += strlen(quoted);
    while (*p == ' ') {
        ++p;
    }
    return p;
}

/* Reads an .npy array of integers: `max_rank` dimensions at most, at most
 * `limit` rows; its values as bytes (labels and pixels are 0..255), or an
 * error naming a value that is not. */
static tl_status read_npy(const char *path, uint32_t max_rank, int limit, uint32_t *rank, uint32_t *dims,
                          uint8_t **data, char *error, size_t error_size)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        return fail(error, error_size, TL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    uint8_t pre[12];
    char header[1024];
    const int got = gzread(f, pre, 10);
    uint32_t header_len = 0;
    if (got == 10 && !memcmp(pre, "\x93NUMPY", 6) && pre[6] == 1) {
        header_len = pre[8] | (uint32_t)pre[9] << 8;
    } else if (got == 10 && !memcmp(pre, "\x93NUMPY", 6) && (pre[6] == 2 || pre[6] == 3) && gzread(f, pre + 10, 2) == 2) {
        header_len = pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    } else {
        gzclose(f);
        return fail(error, error_size, TL_ERR_FORMAT, "%s: not a NumPy .npy file", path);
    }
    if (header_len >= sizeof header || gzread(f, header, header_len) != (int)header_len) {
        gzclose(f);
        return fail(error, error_size, TL_ERR_FORMAT, "%s: bad .npy header", path);
    }
    header[header_len] = '\0';
    /* The element type: little-endian or byte-sized integers only. */
    const char *descr = npy_field(header, "descr"), *order = npy_field(header, "fortran_order"),
               *shape = npy_field(header, "shape");
    int width = 0, is_signed = 0;
    if (descr && (descr[1] == '|' || descr[1] == '<') && (descr[2] == 'u' || descr[2] == 'i') &&
        (descr[3] == '1' || descr[3] == '2' || descr[3] == '4' || descr[3] == '8') && descr[4] == '\'') {
        width = descr[3] - '0';
        is_signed = descr[2] == 'i';
    }
    if (!width || !order || strncmp(order, "False", 5) != 0 || !shape || *shape != '(') {
        gzclose(f);
        return fail(error, error_size, TL_ERR_FORMAT, "%s: need a C-order array of integers (uint8 images, integer"
                    " labels); the header says %.120s", path, header);
    }
    *rank = 0;
    uint64_t total = 1;
    for (const char *p = shape + 1; *p && *p != ')';) {
        while (*p == ' ' || *p == ',') {
            ++p;
        }
        if (*p == ')') {
            break;
        }
        char *end;
        const unsigned long v = strtoul(p, &end, 10);
        if (end == p || *rank == max_rank || v == 0 || v > 10000000ul) {
            gzclose(f);
            return fail(error, error_size, TL_ERR_FORMAT, "%s: a shape of at most %u positive dimensions, not %.60s",
                        path, max_rank, shape);
        }
        dims[(*rank)++] = (uint32_t)v;
        p = end;
    }
    if (*rank == 0) {
        gzclose(f);
        return fail(error, error_size, TL_ERR_FORMAT, "%s: an empty shape", path);
    }
    if (limit > 0 && dims[0] > (uint32_t)limit) {
        dims[0] = (uint32_t)limit;
    }
    for (uint32_t i = 0; i < *rank; ++i) {
        total *= dims[i];
    }
    if (total * (uint64_t)width > (1ull << 31)) {
        gzclose(f);
        return fail(error, error_size, TL_ERR_FORMAT, "%s: too large", path);
    }
    uint8_t *raw = malloc((size_t)(total * (uint64_t)width) + 1);
    *data = malloc((size_t)total + 1);
    if (!raw || !*data || gzread(f, raw, (unsigned)(total * (uint64_t)width)) != (int)(total * (uint64_t)width)) {
        free(raw);
        free(*data);
        *data = NULL;
        gzclose(f);
        return fail(error, error_size, raw ? TL_ERR_TRUNCATED : TL_ERR_NOMEM, "%s: truncated (fewer values than its"
                    " shape says)", path);
    }
    gzclose(f);
    for (uint64_t i = 0; i < total; ++i) {
        uint64_t v = 0;
        for (int b = width - 1; b >= 0; --b) {
            v = v << 8 | raw[i * (uint64_t)width + (uint64_t)b];
        }
        const int negative = is_signed && (raw[i * (uint64_t)width + (uint64_t)width - 1] & 0x80);
        if (negative || v > 255) {
            free(raw);
            free(*data);
            *data = NULL;
            return fail(error, error_size, TL_ERR_FORMAT, "%s: value %llu is outside 0..255", path,
                        (unsigned long long)i);
        }
        (*data)[i] = (uint8_t)v;
    }
    free(raw);
    return TL_OK;
}

tl_status tl_dataset_load_npy(const char *images, const char *labels, int limit, tl_dataset *out, char *error,
                              size_t error_size)
{
    memset(out, 0, sizeof *out);
    uint32_t idims[4] = { 0 }, ldims[4] = { 0 }, irank = 0, lrank = 0;
    tl_status s = read_npy(images, 4, limit, &irank, idims, &out->pixels, error, error_size);
    if (s == TL_OK) {
        s = set_shape(out, irank, idims, images, error, error_size);
    }
    if (s == TL_OK) {
        s = read_npy(labels, 2, limit, &lrank, ldims, &out->labels, error, error_size);
    }
    if (s == TL_OK && (ldims[0] != idims[0] || (lrank == 2 && ldims[1] != 1))) {
        s = fail(error, error_size, TL_ERR_FORMAT, "%s holds %u images but %s %u labels (one each)", images,
                 idims[0], labels, ldims[0]);
    }
    if (s != TL_OK) {
        tl_dataset_free(out);
        return s;
    }
    for (int i = 0; i < out->n; ++i) {
        out->classes = out->labels[i] + 1 > out->classes ? out->labels[i] + 1 : out->classes;
    }
    return TL_OK;
}

/* ---- a dataset folder ---- */

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
    }
    return f != NULL;
}

/* The image and label files of a split in `dir`: NumPy (x_train.npy,
 * y_train.npy, x_test.npy, y_test.npy) or IDX (MNIST's names: train-/t10k-
 * or test-, images-idx3 or -idx4, labels-idx1, -ubyte, with or without .gz).
 * 1 for .npy, 0 for IDX, -1 when neither is there. */
static int split_files(const char *dir, int train, char *images, char *labels, size_t size)
{
    snprintf(images, size, "%.4000s/x_%s.npy", dir, train ? "train" : "test");
    snprintf(labels, size, "%.4000s/y_%s.npy", dir, train ? "train" : "test");
    if (exists(images)) {
        return 1;
    }
    static const char *const test_names[] = { "t10k", "test" };
    for (int name = 0; name < (train ? 1 : 2); ++name) {
        for (int rank = 3; rank <= 4; ++rank) {
            for (int gz = 1; gz >= 0; --gz) {
                const char *split = train ? "train" : test_names[name];
                snprintf(images, size, "%.4000s/%s-images-idx%d-ubyte%s", dir, split, rank, gz ? ".gz" : "");
                snprintf(labels, size, "%.4000s/%s-labels-idx1-ubyte%s", dir, split, gz ? ".gz" : "");
                if (exists(images)) {
                    return 0;
                }
            }
        }
    }
    snprintf(images, size, "%.4000s/%s-images-idx3-ubyte.gz", dir, train ? "train" : "t10k");
    return -1;
}

/* The number of classes of a folder: 1 + the largest label in either
 * split's whole label file, so every slice of it agrees (a --limit that
 * happens to miss a class does not shrink the network's outputs). */
static tl_status folder_classes(const char *dir, int *classes, char *error, size_t error_size)
{
    *classes = 0;
    for (int train = 0; train <= 1; ++train) {
        char images[4200], labels[4200];
        const int kind = split_files(dir, train, images, labels, sizeof labels);
        if (kind < 0) {
            continue; /* a folder may hold one split only */
        }
        uint8_t *values = NULL;
        uint32_t dims[4] = { 0 }, rank = 0;
        const tl_status s = kind ? read_npy(labels, 2, 0, &rank, dims, &values, error, error_size)
                                 : read_idx(labels, 1, 1, 0, &rank, dims, &values, error, error_size);
        if (s != TL_OK) {
            return s;
        }
        const uint64_t count = rank == 2 ? (uint64_t)dims[0] * dims[1] : dims[0];
        for (uint64_t i = 0; i < count; ++i) {
            *classes = values[i] + 1 > *classes ? values[i] + 1 : *classes;
        }
        free(values);
    }
    return TL_OK;
}

tl_status tl_dataset_load_dir(const char *dir, int train, int limit, tl_dataset *out, char *error,
                              size_t error_size)
{
    memset(out, 0, sizeof *out);
    char images[4200], labels[4200];
    const char *d = dir ? dir : TL_FASHION_MNIST_DIR;
    const int kind = split_files(d, train, images, labels, sizeof images);
    tl_status s;
    if (kind < 0) {
        s = fail(error, error_size, TL_ERR_IO, "%s: no %s split (x_%s.npy and y_%s.npy, or MNIST-style IDX files"
                 " such as %s-images-idx3-ubyte.gz)", d, train ? "training" : "test", train ? "train" : "test",
                 train ? "train" : "test", train ? "train" : "t10k");
    } else {
        s = kind ? tl_dataset_load_npy(images, labels, limit, out, error, error_size)
                 : tl_dataset_load_idx(images, labels, limit, out, error, error_size);
    }
    int classes = 0;
    if (s == TL_OK) {
        s = folder_classes(d, &classes, error, error_size);
        if (s != TL_OK) {
            tl_dataset_free(out);
        }
    }
    if (s == TL_OK) {
        out->classes = classes > out->classes ? classes : out->classes;
        if (out->classes < 2) {
            tl_dataset_free(out);
            s = fail(error, error_size, TL_ERR_FORMAT, "%s: the labels name fewer than 2 classes", d);
        }
    }
    if (s == TL_ERR_IO && error && error_size && !dir) {
        /* Say how to get it. */
        const size_t used = strlen(error);
        snprintf(error + used, error_size - used,
                 " (install Debian's dataset-fashion-mnist package: apt-get install dataset-fashion-mnist)");
    }
    return s;
}

void tl_dataset_free(tl_dataset *ds)
{
    if (ds) {
        free(ds->pixels);
        free(ds->labels);
        memset(ds, 0, sizeof *ds);
    }
}

static uint32_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 32);
}

void tl_shuffle(uint32_t *order, int n, uint64_t seed, int epoch)
{
    uint64_t s = (seed + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)(epoch + 1) * 0xD1B54A32D192ED03ull);
    s |= 1;
    for (int i = 0; i < n; ++i) {
        order[i] = (uint32_t)i;
    }
    for (int i = n - 1; i > 0; --i) { /* Fisher-Yates */
        const uint32_t j = next(&s) % (uint32_t)(i + 1);
        const uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

tl_view tl_view_draw(uint64_t *rng, int h, int w, int cutout)
{
    tl_view v = { 0, 0, 0, 0, 0, 0 };
    v.dy = (int)(next(rng) % 5) - 2; /* crop offset in [-2, 2] = pad 2, crop */
    v.dx = (int)(next(rng) % 5) - 2;
    v.flip = (int)(next(rng) & 1);
    if (cutout > 0 && h > 0 && w > 0) { /* drawn only then: runs without cutout keep their streams */
        v.cut = cutout;
        v.cut_y = (int)(next(rng) % (uint32_t)h) - cutout / 2; /* centre anywhere, so the square may hang off */
        v.cut_x = (int)(next(rng) % (uint32_t)w) - cutout / 2;
    }
    return v;
}

tl_view tl_view_of(uint64_t seed, uint32_t image, int view, int h, int w, int cutout)
{
    /* splitmix64 of (seed, image, view): a view depends on nothing else,
     * so the teacher's pass and every epoch agree on it. */
    uint64_t z = (seed + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)image << 20) ^ (uint64_t)view;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    z |= 1;
    return tl_view_draw(&z, h, w, cutout);
}

void tl_dataset_view(const tl_dataset *ds, uint32_t image, float mean, float std, tl_view view, float *dst)
{
    const int h = ds->h, w = ds->w, c = ds->c;
    const float inv = 1.0f / (255.0f * std), shift = mean / std;
    const float zero = -shift; /* a padded pixel: value 0, normalised */
    const uint8_t *img = ds->pixels + (size_t)image * h * w * c;
    for (int yy = 0; yy < h; ++yy) {
        for (int xx = 0; xx < w; ++xx) {
            const int sy = yy + view.dy, sx0 = view.flip ? w - 1 - xx : xx, sx = sx0 + view.dx;
            const int cut = view.cut > 0 && yy >= view.cut_y && yy < view.cut_y + view.cut && xx >= view.cut_x &&
                            xx < view.cut_x + view.cut;
            for (int k = 0; k < c; ++k) {
                float v = zero;
                if (cut) {
                    v = 0.0f; /* the mean, as Cutout masks normalised images */
                } else if (sy >= 0 && sy < h && sx >= 0 && sx < w) {
                    v = img[((size_t)sy * w + sx) * c + k] * inv - shift;
                }
                dst[((size_t)yy * w + xx) * c + k] = v;
            }
        }
    }
}

void tl_dataset_batch(const tl_dataset *ds, const uint32_t *order, int first, int count, float mean,
                      float std, int augment, int cutout, uint64_t *rng, float *x, uint8_t *y)
{
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    for (int b = 0; b < count; ++b) {
        const uint32_t idx = order ? order[first + b] : (uint32_t)(first + b);
        const tl_view none = { 0, 0, 0, 0, 0, 0 };
        y[b] = ds->labels[idx];
        tl_dataset_view(ds, idx, mean, std, augment ? tl_view_draw(rng, ds->h, ds->w, cutout) : none,
                        x + (size_t)b * sample);
    }
}

void tl_dataset_batch_views(const tl_dataset *ds, const uint32_t *order, int first, int count, float mean,
                            float std, uint64_t seed, int views, int cutout, uint64_t *rng, float *x, uint8_t *y,
                            int *chosen)
{
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    for (int b = 0; b < count; ++b) {
        const uint32_t idx = order[first + b];
        chosen[b] = (int)(next(rng) % (uint32_t)views);
        y[b] = ds->labels[idx];
        tl_dataset_view(ds, idx, mean, std, tl_view_of(seed, idx, chosen[b], ds->h, ds->w, cutout),
                        x + (size_t)b * sample);
    }
}

/* ---- partitions into shards ---- */

static double uniform01(uint64_t *s)
{
    return ((double)next(s) + 0.5) / 4294967296.0;
}

/* Gamma(shape, 1) (Marsaglia and Tsang 2000; shape < 1 by the boost
 * Gamma(shape + 1) * U^(1 / shape)). */
static double gamma_draw(uint64_t *s, double shape)
{
    if (shape < 1.0) {
        return gamma_draw(s, shape + 1.0) * pow(uniform01(s), 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        const double u1 = uniform01(s), u2 = uniform01(s);
        const double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2); /* Box-Muller */
        const double v = (1.0 + c * z) * (1.0 + c * z) * (1.0 + c * z);
        if (v > 0 && log(uniform01(s)) < 0.5 * z * z + d - d * v + d * log(v)) {
            return d * v;
        }
    }
}

tl_status tl_dataset_partition(const tl_dataset *ds, tl_partition_kind kind, int shards, double alpha,
                               int labels_per_shard, uint64_t seed, int *shard_of)
{
    if (!ds || !shard_of || shards < 1 || ds->n < 1 || ds->classes < 1 ||
        (kind == TL_PARTITION_DIRICHLET && !(alpha > 0)) ||
        (kind == TL_PARTITION_LABELS &&
         (labels_per_shard < 1 || labels_per_shard > ds->classes || (int64_t)shards * labels_per_shard < ds->classes)) ||
        kind < TL_PARTITION_IID || kind > TL_PARTITION_LABELS) {
        return TL_ERR_ARG;
    }
    uint32_t *order = malloc((size_t)ds->n * sizeof *order);
    double *share = malloc((size_t)shards * sizeof *share);
    int *perm = malloc((size_t)ds->classes * sizeof *perm);
    if (!order || !share || !perm) {
        free(order);
        free(share);
        free(perm);
        return TL_ERR_NOMEM;
    }
    uint64_t s = (seed + 1) * 0x9E3779B97F4A7C15ull | 1;
    tl_shuffle(order, ds->n, seed, 0);
    if (kind == TL_PARTITION_IID) {
        for (int i = 0; i < ds->n; ++i) {
            shard_of[order[i]] = i % shards; /* a shuffled deal: sizes differ by one at most */
        }
    } else {
        if (kind == TL_PARTITION_LABELS) {
            for (int c = 0; c < ds->classes; ++c) {
                perm[c] = c;
            }
            for (int c = ds->classes - 1; c > 0; --c) {
                const int j = (int)(next(&s) % (uint32_t)(c + 1)), t = perm[c];
                perm[c] = perm[j];
                perm[j] = t;
            }
        }
        for (int c = 0; c < ds->classes; ++c) {
            /* This class's share for each shard. */
            double total = 0;
            for (int k = 0; k < shards; ++k) {
                if (kind == TL_PARTITION_DIRICHLET) {
                    share[k] = gamma_draw(&s, alpha);
                } else { /* shard k holds classes perm[(k * L + j) % C], j < L */
                    share[k] = 0;
                    for (int j = 0; j < labels_per_shard; ++j) {
                        share[k] += perm[((int64_t)k * labels_per_shard + j) % ds->classes] == c;
                    }
                }
                total += share[k];
            }
            int count = 0;
            for (int i = 0; i < ds->n; ++i) {
                count += ds->labels[order[i]] == c;
            }
            /* Deal the class's samples (in shuffled order) by cumulative share. */
            int seen = 0, k = 0;
            double bound = total > 0 ? share[0] / total * count : count;
            for (int i = 0; i < ds->n; ++i) {
                if (ds->labels[order[i]] != c) {
                    continue;
                }
                while (k < shards - 1 && seen >= bound - 1e-9) {
                    ++k;
                    bound += total > 0 ? share[k] / total * count : 0;
                }
                shard_of[order[i]] = k;
                ++seen;
            }
        }
    }
    free(order);
    free(share);
    free(perm);
    return TL_OK;
}

/* ---- a device's own distribution: label skew and covariate shift ---- */

tl_status tl_dataset_select(const tl_dataset *ds, const int *keep, int count, tl_dataset *out)
{
    if (!ds || !out || (count > 0 && !keep) || count < 0) {
        return TL_ERR_ARG;
    }
    uint8_t wanted[256] = { 0 };
    for (int i = 0; i < count; ++i) {
        if (keep[i] < 0 || keep[i] >= ds->classes) {
            return TL_ERR_ARG;
        }
        wanted[keep[i]] = 1;
    }
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    int n = 0;
    for (int i = 0; i < ds->n; ++i) {
        n += wanted[ds->labels[i]];
    }
    *out = *ds;
    out->n = n;
    out->pixels = malloc(sample * (size_t)(n ? n : 1));
    out->labels = malloc((size_t)(n ? n : 1));
    if (!out->pixels || !out->labels) {
        tl_dataset_free(out);
        return TL_ERR_NOMEM;
    }
    for (int i = 0, j = 0; i < ds->n; ++i) {
        if (wanted[ds->labels[i]]) {
            memcpy(out->pixels + (size_t)j * sample, ds->pixels + (size_t)i * sample, sample);
            out->labels[j++] = ds->labels[i];
        }
    }
    return TL_OK;
}

static uint8_t clip_pixel(double v)
{
    return (uint8_t)(v < 0.0 ? 0 : (v > 255.0 ? 255 : (int)(v + 0.5)));
}

tl_status tl_dataset_shift(tl_dataset *ds, tl_shift_kind kind, double amount, uint64_t seed)
{
    if (!ds || !isfinite(amount)) {
        return TL_ERR_ARG;
    }
    const int h = ds->h, w = ds->w, c = ds->c;
    const size_t sample = (size_t)h * w * c;
    if (kind == TL_SHIFT_ROTATE) {
        uint8_t *copy = malloc(sample ? sample : 1);
        if (!copy) {
            return TL_ERR_NOMEM;
        }
        const double a = amount * 3.14159265358979323846 / 180.0, ca = cos(a), sa = sin(a);
        const double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0;
        for (int i = 0; i < ds->n; ++i) {
            uint8_t *img = ds->pixels + (size_t)i * sample;
            memcpy(copy, img, sample);
            for (int y = 0; y < h; ++y) {
                for (int x = 0; x < w; ++x) {
                    /* The source of (y, x): the inverse rotation. */
                    const double dy = y - cy, dx = x - cx;
                    const int sy = (int)lround(cy + ca * dy - sa * dx), sx = (int)lround(cx + sa * dy + ca * dx);
                    for (int k = 0; k < c; ++k) {
                        img[((size_t)y * w + x) * c + k] =
                            sy >= 0 && sy < h && sx >= 0 && sx < w ? copy[((size_t)sy * w + sx) * c + k] : 0;
                    }
                }
            }
        }
        free(copy);
    } else if (kind == TL_SHIFT_BRIGHTNESS) {
        for (size_t i = 0; i < sample * (size_t)ds->n; ++i) {
            ds->pixels[i] = clip_pixel(ds->pixels[i] + amount);
        }
    } else if (kind == TL_SHIFT_NOISE) {
        uint64_t s = (seed + 1) * 0x9E3779B97F4A7C15ull | 1;
        for (size_t i = 0; i < sample * (size_t)ds->n; ++i) {
            const double u1 = uniform01(&s), u2 = uniform01(&s);
            const double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
            ds->pixels[i] = clip_pixel(ds->pixels[i] + amount * z);
        }
    } else if (kind != TL_SHIFT_NONE) {
        return TL_ERR_ARG;
    }
    return TL_OK;
}

int tl_shift_parse(const char *text, tl_shift_kind *kind, double *amount)
{
    static const char *const names[] = { "none", "rotate", "brightness", "noise" };
    *amount = 0.0;
    for (int k = 0; k < 4; ++k) {
        const size_t n = strlen(names[k]);
        if (strncmp(text, names[k], n) != 0) {
            continue;
        }
        *kind = (tl_shift_kind)k;
        if (k == 0) {
            return text[n] == '\0' ? 0 : -1;
        }
        if (text[n] != ':') {
            return -1;
        }
        char *end = NULL;
        *amount = strtod(text + n + 1, &end);
        return end != text + n + 1 && *end == '\0' && isfinite(*amount) && fabs(*amount) <= 1000.0 ? 0 : -1;
    }
    return -1;
}

tl_status tl_dataset_load_shifted(const char *dir, int train, const int *keep, int kept, tl_shift_kind shift,
                              double amount, uint64_t seed, tl_dataset *out, char *error, size_t error_size)
{
    tl_dataset all;
    tl_status s = tl_dataset_load_dir(dir, train, 0, &all, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    if (kept > 0) {
        for (int i = 0; i < kept; ++i) {
            if (keep[i] >= all.classes) {
                snprintf(error, error_size, "--classes: class %d, but the dataset has %d classes", keep[i],
                         all.classes);
                tl_dataset_free(&all);
                return TL_ERR_ARG;
            }
        }
        s = tl_dataset_select(&all, keep, kept, out);
        tl_dataset_free(&all);
    } else {
        *out = all;
    }
    if (s == TL_OK) {
        s = tl_dataset_shift(out, shift, amount, seed + (train ? 0 : 7919));
    }
    if (s != TL_OK && error[0] == '\0') {
        snprintf(error, error_size, "cannot prepare the device's data: %s", tl_status_str(s));
    }
    return s;
}


void tl_dataset_device_input(const tl_dataset *ds, uint32_t image, int8_t *in)
{
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    const uint8_t *px = ds->pixels + (size_t)image * sample;
    for (size_t k = 0; k < sample; ++k) {
        in[k] = (int8_t)(px[k] - 128);
    }
}
