/* data.c - datasets for training: IDX files (Fashion-MNIST as Debian's
 * dataset-fashion-mnist installs them), batches with normalisation and
 * augmentation, and deterministic shuffling.
 *
 * IDX: a big-endian header (magic 0x0000080N, N = number of dimensions),
 * N big-endian u32 sizes, then unsigned bytes. zlib reads gzip and plain
 * files alike.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tinylarge/large.h"
#include "util.h"

tl_status tl_large_fail(char *error, size_t size, tl_status s, const char *fmt, ...)
{
    if (error && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(error, size, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* The local name used below. */
#define fail tl_large_fail

static int read_u32(gzFile f, uint32_t *v)
{
    uint8_t b[4];
    if (gzread(f, b, 4) != 4) {
        return -1;
    }
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

/* Reads an IDX file of `rank` dimensions; at most `limit` items. */
static tl_status read_idx(const char *path, uint32_t rank, int limit, uint32_t *dims, uint8_t **data,
                          char *error, size_t error_size)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        return fail(error, error_size, TL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    uint32_t magic;
    if (read_u32(f, &magic) != 0 || magic != (0x800u | rank)) {
        gzclose(f);
        return fail(error, error_size, TL_ERR_FORMAT, "%s: not an IDX file of %u dimensions of bytes", path,
                    rank);
    }
    uint64_t total = 1;
    for (uint32_t i = 0; i < rank; ++i) {
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

tl_status tl_dataset_load_idx(const char *images, const char *labels, int limit, tl_dataset *out,
                              char *error, size_t error_size)
{
    memset(out, 0, sizeof *out);
    uint32_t idims[3] = { 0, 0, 0 }, ldims[1] = { 0 };
    tl_status s = read_idx(images, 3, limit, idims, &out->pixels, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    s = read_idx(labels, 1, limit, ldims, &out->labels, error, error_size);
    if (s != TL_OK) {
        tl_dataset_free(out);
        return s;
    }
    if (ldims[0] != idims[0]) {
        tl_dataset_free(out);
        return fail(error, error_size, TL_ERR_FORMAT, "%s holds %u images but %s %u labels", images, idims[0],
                    labels, ldims[0]);
    }
    out->n = (int)idims[0];
    out->h = (int)idims[1];
    out->w = (int)idims[2];
    out->c = 1;
    out->classes = 0;
    for (int i = 0; i < out->n; ++i) {
        out->classes = out->labels[i] + 1 > out->classes ? out->labels[i] + 1 : out->classes;
    }
    out->classes = out->classes < 10 ? 10 : out->classes;
    return TL_OK;
}

tl_status tl_fashion_mnist_load(const char *dir, int train, int limit, tl_dataset *out, char *error,
                                size_t error_size)
{
    char images[4096], labels[4096];
    const char *d = dir ? dir : TL_FASHION_MNIST_DIR;
    const char *split = train ? "train" : "t10k";
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", d, split);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", d, split);
    tl_status s = tl_dataset_load_idx(images, labels, limit, out, error, error_size);
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
