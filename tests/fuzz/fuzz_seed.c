/* fuzz_seed.c - writes seed inputs for the fuzzers into folders: models and
 * progressive streams for the loader; for the update path (fuzz_update's
 * layout) a manifest payload naming a model, then the model's blocks; for
 * the edge (fuzz_edge's layout) plan queries, a served manifest and a
 * context with tags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tiny_model.h"
#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/edge.h"
#include "tinylarge/update.h"
#include "tinylarge/host.h"

/* flags, payload length, payload, then each block as index + bytes. */
static int write_update_seed(const char *folder, uint32_t seed, int progressive, const uint8_t *model, size_t size,
                             const uint8_t *stream, size_t stream_size)
{
    tl_model m;
    if (tl_model_load(&m, model, size, 0) != TL_OK) {
        return 1;
    }
    tl_signed_manifest man;
    memset(&man, 0, sizeof man);
    snprintf(man.model, sizeof man.model, "tiny");
    snprintf(man.variant, sizeof man.variant, "e0-s0-int8");
    snprintf(man.target, sizeof man.target, "any");
    man.version = 1;
    man.sequence = seed;
    man.size = (uint32_t)size;
    memcpy(man.digest, m.trailer->sha256, 32);
    man.stream_size = (uint32_t)stream_size;
    crypto_hash_sha256(man.stream_header_digest, stream, sizeof(tl_progressive_header));
    uint8_t envelope[TL_MANIFEST_MAX_ENVELOPE];
    size_t envelope_size;
    /* Unsigned: 18([h'', {}, payload, h'']); the payload's head is at byte 4. */
    if (tl_manifest_seal(&man, NULL, envelope, sizeof envelope, &envelope_size) != TL_OK) {
        return 1;
    }
    size_t at = 4, n = envelope[at] & 31u;
    at += 1;
    if (n == 24) {
        n = envelope[at++];
    } else if (n > 24) {
        return 1; /* longer than the seed layout's one-byte length */
    }
    const uint8_t *body = progressive ? stream : model;
    const size_t body_size = progressive ? stream_size : size;
    uint8_t *out = malloc(2 + n + body_size + 2 * (body_size / 1024 + 1));
    size_t o = 0;
    out[o++] = (uint8_t)progressive;
    out[o++] = (uint8_t)n;
    memcpy(out + o, envelope + at, n);
    o += n;
    for (size_t b = 0; b * 1024 < body_size; ++b) {
        const size_t take = body_size - b * 1024 < 1024 ? body_size - b * 1024 : 1024;
        out[o++] = (uint8_t)b;
        out[o++] = (uint8_t)(b >> 8);
        memcpy(out + o, body + b * 1024, take);
        o += take;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/tiny%u-%s.update", folder, seed, progressive ? "tlp" : "tlm");
    const tl_status s = tl_write_file_atomic(path, out, o);
    free(out);
    return s != TL_OK;
}

/* fuzz_edge's seeds: byte 0 says which parser, the rest is its input. */
static int write_edge_seeds(const char *folder)
{
    /* Each seed's bytes are its literal's, inner NULs included. */
#define SEED(text) { text, sizeof text - 1 }
    static const struct {
        const char *bytes;
        size_t size;
    } seeds[] = {
        SEED("\x00flash=256000&ram=65536&macs=20000000&rate=250000&device=dev5&name=fashion"),
        SEED("\x00flash=1&ram=1&macs=1&rate=1&ips=64000000&densify=1&deadline=2.5&jpm=1e-9&energy=0.01&task=fashion"
             "&location=hall"),
        SEED("\x02task=fashion-mnist&location=hall\0location=hall,task=fashion-mnist"),
    };
#undef SEED
    char path[4096];
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; ++i) {
        snprintf(path, sizeof path, "%s/seed%zu", folder, i);
        if (tl_write_file_atomic(path, seeds[i].bytes, seeds[i].size) != TL_OK) {
            return 1;
        }
    }
    tl_manifest m;
    memset(&m, 0, sizeof m);
    snprintf(m.model, sizeof m.model, "fashion");
    snprintf(m.variant, sizeof m.variant, "e0-s00-int8");
    snprintf(m.then, sizeof m.then, "e0-s50-int8");
    m.version = 3;
    m.bytes = 49088;
    m.tlp_bytes = 50112;
    m.planes = 5;
    m.fetch_port = 5684;
    m.envelope_size = 8;
    uint8_t *cbor, seed[1024];
    size_t size;
    if (tl_manifest_encode(&m, &cbor, &size) != TL_OK || size + 1 > sizeof seed) {
        return 1;
    }
    seed[0] = 1;
    memcpy(seed + 1, cbor, size);
    free(cbor);
    snprintf(path, sizeof path, "%s/manifest", folder);
    return tl_write_file_atomic(path, seed, size + 1) != TL_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: fuzz_seed LOADER_FOLDER [UPDATE_FOLDER [EDGE_FOLDER]]\n");
        return 2;
    }
    for (uint32_t seed = 1; seed <= 3; ++seed) {
        uint8_t *buf;
        size_t size;
        if (tiny_model_bytes(seed, &buf, &size)) {
            fprintf(stderr, "fuzz_seed: cannot build the seed model\n");
            return 1;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/tiny%u.tlm", argv[1], seed);
        if (tl_write_file_atomic(path, buf, size) != TL_OK) {
            fprintf(stderr, "fuzz_seed: %s: cannot write\n", path);
            return 1;
        }
        /* and its progressive stream */
        uint8_t *stream;
        size_t stream_size;
        if (tl_progressive_encode(buf, size, &stream, &stream_size, NULL) == TL_OK) {
            snprintf(path, sizeof path, "%s/tiny%u.tlp", argv[1], seed);
            tl_write_file_atomic(path, stream, stream_size);
            if (argc >= 3 && (write_update_seed(argv[2], seed, 0, buf, size, stream, stream_size) ||
                              write_update_seed(argv[2], seed, 1, buf, size, stream, stream_size))) {
                fprintf(stderr, "fuzz_seed: %s: cannot write the update seeds\n", argv[2]);
                return 1;
            }
            free(stream);
        }
        free(buf);
    }
    /* A model with TRANSPOSE and PAD, for the loader's checks of them. */
    static const int32_t perm[4] = { 0, 3, 1, 2 };
    uint8_t *buf;
    size_t size;
    char path[4096];
    snprintf(path, sizeof path, "%s/transpose-pad.tlm", argv[1]);
    if (transpose_pad_model_bytes(perm, 1, &buf, &size) || tl_write_file_atomic(path, buf, size) != TL_OK) {
        fprintf(stderr, "fuzz_seed: %s: cannot write\n", path);
        return 1;
    }
    free(buf);
    /* A MEAN over H and W, for the loader's checks of it. */
    tl_op_rec mean;
    memset(&mean, 0, sizeof mean);
    mean.opcode = TL_OP_MEAN;
    mean.act_min = -128;
    mean.act_max = 127;
    mean.p[TL_MEAN_REDUCE + 1] = mean.p[TL_MEAN_REDUCE + 2] = 1;
    const uint32_t in_dims[4] = { 1, 2, 3, 4 }, out_dims[4] = { 1, 1, 1, 4 };
    snprintf(path, sizeof path, "%s/mean.tlm", argv[1]);
    if (tl_mean_constants(0.1f, 0.1f, 6, &mean.p[TL_MEAN_MULT], &mean.p[TL_MEAN_SHIFT]) != TL_OK ||
        single_op_model_bytes(&mean, in_dims, out_dims, &buf, &size) ||
        tl_write_file_atomic(path, buf, size) != TL_OK) {
        fprintf(stderr, "fuzz_seed: %s: cannot write\n", path);
        return 1;
    }
    free(buf);
    return argc == 4 ? write_edge_seeds(argv[3]) : 0;
}
