/* make_dataset.c - writes a small dataset that is not Fashion-MNIST, for the
 * tests of `--data DIR`: three classes of 16 x 16 patterns (horizontal
 * stripes, vertical stripes, a checkerboard) with random phase and noise,
 * 600 training and 150 test images.
 *   make_dataset DIR idx   one channel, MNIST-style IDX files (gzip)
 *   make_dataset DIR npy   three channels (the pattern in one colour
 *                          channel, chosen at random), NumPy .npy files
 * And float samples for a float model's calibration:
 *   make_dataset FILE linspace A B N   a .npy of N floats [N, 1] from A to B
 *   make_dataset FILE float X          X as one raw little-endian float32
 * And an 8-bit grayscale BMP as a model's input bytes, as TFLite Micro's
 * person-detection example feeds them (its generator takes the image's
 * bytes, top row first, and the test copies them into the int8 input):
 *   make_dataset FILE bmp IN.bmp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "test_util.h"

enum { SIDE = 16, CLASSES = 3 };

static uint8_t pixel(int label, int y, int x, int phase, test_rng *r)
{
    const int period = 4;
    int on;
    if (label == 0) {
        on = ((y + phase) / 2) % 2;
    } else if (label == 1) {
        on = ((x + phase) / 2) % 2;
    } else {
        on = (((y + phase) / (period / 2)) + ((x + phase) / (period / 2))) % 2;
    }
    const int v = (on ? 200 : 40) + rng_int(r, -30, 30);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* n images of SIDE x SIDE x channels and their labels. */
static void make(int n, int channels, uint32_t seed, uint8_t *images, uint8_t *labels)
{
    test_rng r = { 0x1234567ull + seed };
    for (int i = 0; i < n; ++i) {
        const int label = i % CLASSES, phase = rng_int(&r, 0, 3), colour = rng_int(&r, 0, channels - 1);
        labels[i] = (uint8_t)label;
        for (int y = 0; y < SIDE; ++y) {
            for (int x = 0; x < SIDE; ++x) {
                const uint8_t v = pixel(label, y, x, phase, &r);
                for (int c = 0; c < channels; ++c) {
                    images[((size_t)i * SIDE * SIDE + (size_t)y * SIDE + x) * channels + c] =
                        c == colour ? v : (uint8_t)rng_int(&r, 0, 40);
                }
            }
        }
    }
}

static int write_idx(const char *path, const uint32_t *dims, int rank, const uint8_t *data)
{
    gzFile f = gzopen(path, "wb");
    if (!f) {
        return 1;
    }
    uint8_t head[4] = { 0, 0, 8, (uint8_t)rank };
    size_t total = 1;
    int ok = gzwrite(f, head, 4) == 4;
    for (int i = 0; i < rank; ++i) {
        const uint8_t be[4] = { (uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8),
                                (uint8_t)dims[i] };
        ok = ok && gzwrite(f, be, 4) == 4;
        total *= dims[i];
    }
    ok = ok && gzwrite(f, data, (unsigned)total) == (int)total;
    return gzclose(f) != Z_OK || !ok;
}

/* An .npy file, format 1.0: uint8 images, or int64 labels (as NumPy saves
 * a default integer array). */
static int write_npy(const char *path, const uint32_t *dims, int rank, const uint8_t *data, int as_int64)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return 1;
    }
    char shape[64] = "", header[128];
    size_t total = 1;
    for (int i = 0; i < rank; ++i) {
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%u,%s", dims[i], i + 1 < rank ? " " : "");
        total *= dims[i];
    }
    if (rank > 1) {
        shape[strlen(shape) - 1] = '\0'; /* (a, b) but (a,) */
    }
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     as_int64 ? "<i8" : "|u1", shape);
    while ((10 + n + 1) % 64) {
        header[n++] = ' ';
    }
    header[n++] = '\n';
    const uint8_t pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)n, (uint8_t)(n >> 8) };
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = 0; ok && i < total; ++i) {
        const uint8_t v[8] = { data[i], 0, 0, 0, 0, 0, 0, 0 };
        ok = fwrite(v, 1, as_int64 ? 8 : 1, f) == (as_int64 ? 8u : 1u);
    }
    return fclose(f) != 0 || !ok;
}

/* A float32 .npy of shape [n, 1]: the header padded to 64 bytes, as NumPy writes it. */
static int write_linspace(const char *path, float a, float b, int n)
{
    char header[128];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 1), }", n);
    while ((10 + len + 1) % 64 != 0) {
        header[len++] = ' ';
    }
    header[len++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) {
        return 1;
    }
    const unsigned char magic[8] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0 };
    const unsigned char size[2] = { (unsigned char)(len & 0xff), (unsigned char)(len >> 8) };
    int bad = fwrite(magic, 1, 8, f) != 8 || fwrite(size, 1, 2, f) != 2 || fwrite(header, 1, (size_t)len, f) != (size_t)len;
    for (int i = 0; i < n && !bad; ++i) {
        const float v = n > 1 ? a + (b - a) * (float)i / (float)(n - 1) : a;
        bad = fwrite(&v, sizeof v, 1, f) != 1;
    }
    return fclose(f) != 0 || bad;
}

/* An uncompressed 8-bit BMP's pixel bytes, top row first. */
static int write_bmp_bytes(const char *out, const char *in)
{
    FILE *f = fopen(in, "rb");
    unsigned char buf[1 << 16];
    const size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) {
        fclose(f);
    }
    if (n < 54 || buf[0] != 'B' || buf[1] != 'M' || buf[28] != 8) {
        fprintf(stderr, "make_dataset: %s: not an 8-bit BMP\n", in);
        return 1;
    }
    const uint32_t offset = buf[10] | buf[11] << 8 | (uint32_t)buf[12] << 16;
    const int32_t w = buf[18] | buf[19] << 8, h = buf[22] | buf[23] << 8;
    const int32_t stride = (w + 3) / 4 * 4;
    if ((size_t)offset + (size_t)stride * (size_t)h > n) {
        fprintf(stderr, "make_dataset: %s: truncated\n", in);
        return 1;
    }
    FILE *o = fopen(out, "wb");
    int bad = !o;
    for (int32_t y = 0; y < h && !bad; ++y) {
        const unsigned char *row = buf + offset + (size_t)(h - 1 - y) * (size_t)stride; /* stored bottom-up */
        for (int32_t x = 0; x < w && !bad; ++x) {
            bad = fputc(row[x], o) == EOF;
        }
    }
    return (o && fclose(o) != 0) || bad;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[2], "bmp")) {
        return write_bmp_bytes(argv[1], argv[3]);
    }
    if (argc == 6 && !strcmp(argv[2], "linspace")) {
        return write_linspace(argv[1], strtof(argv[3], NULL), strtof(argv[4], NULL), atoi(argv[5]));
    }
    if (argc == 4 && !strcmp(argv[2], "float")) {
        const float v = strtof(argv[3], NULL);
        FILE *f = fopen(argv[1], "wb");
        return !f || fwrite(&v, sizeof v, 1, f) != 1 || fclose(f) != 0;
    }
    if (argc != 3 || (strcmp(argv[2], "idx") && strcmp(argv[2], "npy"))) {
        fprintf(stderr, "usage: make_dataset DIR idx|npy\n");
        return 2;
    }
    const int npy = !strcmp(argv[2], "npy"), channels = npy ? 3 : 1;
    const int counts[2] = { 600, 150 };
    int bad = 0;
    for (int split = 0; split < 2; ++split) {
        const int n = counts[split];
        uint8_t *images = malloc((size_t)n * SIDE * SIDE * channels), *labels = malloc((size_t)n);
        make(n, channels, (uint32_t)split, images, labels);
        char path[4096];
        const uint32_t dims[4] = { (uint32_t)n, SIDE, SIDE, (uint32_t)channels };
        if (npy) {
            snprintf(path, sizeof path, "%s/x_%s.npy", argv[1], split ? "test" : "train");
            bad |= write_npy(path, dims, 4, images, 0);
            snprintf(path, sizeof path, "%s/y_%s.npy", argv[1], split ? "test" : "train");
            bad |= write_npy(path, dims, 1, labels, 1);
        } else {
            snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", argv[1], split ? "t10k" : "train");
            bad |= write_idx(path, dims, 3, images);
            snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", argv[1], split ? "t10k" : "train");
            bad |= write_idx(path, dims, 1, labels);
        }
        free(images);
        free(labels);
    }
    if (bad) {
        fprintf(stderr, "make_dataset: cannot write into %s\n", argv[1]);
    }
    return bad;
}
