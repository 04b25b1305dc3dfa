/* test_loader.c - the device loader against bad input.
 *
 * A device must survive any bytes it is given: every truncation, every
 * flipped byte, absurd dimensions and offsets. Each case must return its
 * specific error, and when corrupt bytes happen to form a valid model, the
 * inference on it must still stay inside its buffers (this suite also runs
 * under AddressSanitizer and UndefinedBehaviorSanitizer in CI).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_util.h"
#include "tflite_builder.h"
#include "tiny_model.h"
#include "tinylarge/convert.h"
#include "kernels/fixedpoint.h"
#include "tinylarge/device.h"
#include "tinylarge/host.h"

static uint8_t *model_copy(const uint8_t *src, size_t size)
{
    uint8_t *p = aligned_alloc(16, (size + 15) / 16 * 16);
    memcpy(p, src, size);
    return p;
}

/* Re-seals a modified model so the structural checks, not the digest, are
 * what the loader trips on. */
static void redigest(uint8_t *buf, size_t size)
{
    tl_trailer *tr = (tl_trailer *)(void *)(buf + size - sizeof(tl_trailer));
    crypto_hash_sha256(tr->sha256, buf, size - sizeof(tl_trailer));
}

static tl_section_rec *section(uint8_t *buf, uint32_t kind)
{
    const tl_file_header *h = (const tl_file_header *)(void *)buf;
    tl_section_rec *s = (tl_section_rec *)(void *)(buf + h->section_table);
    for (uint32_t i = 0; i < h->section_count; ++i) {
        if (s[i].kind == kind) {
            return &s[i];
        }
    }
    return NULL;
}

/* Loads (optionally skipping the digest) and, if it loads, runs every exit:
 * whatever the bytes, this must not touch memory outside its buffers. */
static tl_status load_and_run(const uint8_t *buf, size_t size, unsigned flags)
{
    tl_model m;
    tl_status s = tl_model_load(&m, buf, size, flags);
    if (s != TL_OK) {
        return s;
    }
    const uint32_t arena_size = tl_model_arena_size(&m);
    uint8_t *arena = malloc(arena_size ? arena_size : 1);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, arena_size), TL_OK);
    uint32_t in_size = 0;
    int8_t *input = tl_interp_input(&it, 0, &in_size);
    memset(input, 0x35, in_size);
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    tl_interp_input(&it, 0, NULL);
    for (uint32_t e = 0; e < m.header->exit_count; ++e) {
        tl_exit_result res;
        assert_int_equal(tl_interp_run_to_exit(&it, e, &res), TL_OK);
        assert_true(res.confidence <= 65535);
    }
    free(arena);
    return TL_OK;
}

static uint8_t *tiny;
static size_t tiny_size;

static int setup(void **state)
{
    (void)state;
    return tiny_model_bytes(1, &tiny, &tiny_size);
}

static int teardown(void **state)
{
    (void)state;
    free(tiny);
    return 0;
}

static void test_sha256_matches_libsodium(void **state)
{
    (void)state;
    test_rng r = { 21 };
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; ++i) {
        data[i] = (uint8_t)rng_u32(&r);
    }
    for (size_t len = 0; len <= sizeof data; len += (len < 130 ? 1 : 37)) {
        uint8_t ours[32], theirs[32];
        tl_sha256 ctx;
        tl_sha256_init(&ctx);
        /* Feed in uneven pieces to exercise the block buffer. */
        size_t at = 0;
        while (at < len) {
            size_t piece = 1 + rng_u32(&r) % 70;
            piece = piece > len - at ? len - at : piece;
            tl_sha256_update(&ctx, data + at, piece);
            at += piece;
        }
        tl_sha256_final(&ctx, ours);
        crypto_hash_sha256(theirs, data, len);
        assert_memory_equal(ours, theirs, 32);
    }
}

static void test_valid_model_loads(void **state)
{
    (void)state;
    uint8_t *buf = model_copy(tiny, tiny_size);
    assert_int_equal(load_and_run(buf, tiny_size, 0), TL_OK);
    tl_model m;
    assert_int_equal(tl_model_load(&m, buf, tiny_size, 0), TL_OK);
    assert_string_equal(tl_model_meta(&m, "task"), "tiny test model");
    assert_null(tl_model_meta(&m, "absent"));
    assert_string_equal(tl_model_tensor_name(&m, 0), "input");
    /* A misaligned buffer is refused rather than read with unaligned loads. */
    uint8_t *odd = malloc(tiny_size + 1);
    memcpy(odd + 1, tiny, tiny_size);
    assert_int_equal(tl_model_load(&m, odd + 1, tiny_size, 0), TL_ERR_ARG);
    free(odd);
    assert_int_equal(tl_model_load(NULL, buf, tiny_size, 0), TL_ERR_ARG);
    free(buf);
}

static void test_every_truncation_is_refused(void **state)
{
    (void)state;
    for (size_t len = 0; len < tiny_size; ++len) {
        uint8_t *buf = model_copy(tiny, tiny_size);
        assert_int_not_equal(load_and_run(buf, len, 0), TL_OK);
        assert_int_not_equal(load_and_run(buf, len, TL_LOAD_SKIP_DIGEST), TL_OK);
        free(buf);
    }
    /* A truncated file whose header was patched to the shorter length. */
    for (size_t len = sizeof(tl_file_header) + sizeof(tl_trailer); len < tiny_size; len += 4) {
        uint8_t *buf = model_copy(tiny, tiny_size);
        ((tl_file_header *)(void *)buf)->file_size = (uint32_t)len;
        assert_int_not_equal(load_and_run(buf, len, TL_LOAD_SKIP_DIGEST), TL_OK);
        free(buf);
    }
}

static void test_every_flipped_byte(void **state)
{
    (void)state;
    const uint8_t patterns[3] = { 0xFF, 0x01, 0x80 };
    const size_t body = tiny_size - sizeof(tl_trailer);
    size_t loaded_anyway = 0;
    for (size_t at = 0; at < tiny_size; ++at) {
        for (int k = 0; k < 3; ++k) {
            uint8_t *buf = model_copy(tiny, tiny_size);
            buf[at] ^= patterns[k];
            const tl_status with_digest = load_and_run(buf, tiny_size, 0);
            if (at >= sizeof(tl_file_header) && at < body) {
                assert_int_equal(with_digest, TL_ERR_DIGEST);
            } else if (at < body) {
                assert_int_not_equal(with_digest, TL_OK); /* header checks come first */
            }
            /* Without the digest, the structure checks alone must keep the
             * runtime in bounds; some flips (a weight, a scale) are benign. */
            loaded_anyway += load_and_run(buf, tiny_size, TL_LOAD_SKIP_DIGEST) == TL_OK;
            free(buf);
        }
    }
    assert_true(loaded_anyway > 0 && loaded_anyway < 3 * tiny_size);
}

/* Runs `file` through a layer pipeline as if it arrived `chunk` bytes at a
 * time into a slot whose other bytes are garbage (0xA5): an operator that
 * ran before its bytes were in would read the garbage. Gives the
 * pipeline's status; on TL_OK copies output 0 to `out` (its size to
 * *out_size) and the number of operators run before the last byte to
 * *early. */
static tl_status pipeline_run(const uint8_t *file, size_t size, size_t chunk, int8_t *out, uint32_t *out_size,
                              uint32_t *early)
{
    uint8_t *slot = aligned_alloc(16, (size + 15) / 16 * 16);
    memset(slot, 0xA5, size);
    tl_pipeline p;
    uint8_t *arena = NULL;
    tl_status s = TL_ERR_TRUNCATED;
    size_t held = 0;
    uint32_t ran_early = 0;
    while (held < size) {
        const size_t next = held + chunk < size ? held + chunk : size;
        memcpy(slot + held, file + held, next - held);
        held = next;
        if (!arena) {
            tl_model probe;
            s = tl_model_load_prefix(&probe, slot, held);
            if (s == TL_ERR_TRUNCATED) {
                continue;
            }
            if (s != TL_OK || tl_model_arena_size(&probe) > (64u << 20)) {
                s = s != TL_OK ? s : TL_ERR_ARENA;
                break;
            }
            arena = aligned_alloc(16, tl_model_arena_size(&probe) / 16 * 16 + 16);
            assert_int_equal(tl_pipeline_begin(&p, slot, held, arena, tl_model_arena_size(&probe)), TL_OK);
            uint32_t n = 0;
            int8_t *in = tl_pipeline_input(&p, 0, &n);
            for (uint32_t i = 0; i < n; ++i) {
                in[i] = (int8_t)(i * 7 - 60);
            }
        }
        uint32_t ran;
        do {
            s = tl_pipeline_step(&p, held, &ran);
            ran_early += ran && held < size;
        } while (s == TL_OK && ran);
        if (s != TL_OK) {
            break;
        }
        assert_true(held == size || !tl_pipeline_done(&p));
        assert_true(held == size || !tl_pipeline_output(&p, 0, NULL));
    }
    if (s == TL_OK && !tl_pipeline_done(&p)) {
        s = TL_ERR_TRUNCATED; /* the header promises more bytes than came */
    }
    if (s == TL_OK) {
        const int8_t *y = tl_pipeline_output(&p, 0, out_size);
        assert_non_null(y);
        memcpy(out, y, *out_size);
        *early = ran_early;
    }
    free(arena);
    free(slot);
    return s;
}

/* The same input through the whole model, loaded at once. */
static void whole_model_answer(const uint8_t *file, size_t size, int8_t *out, uint32_t *out_size)
{
    tl_model m;
    assert_int_equal(tl_model_load(&m, file, size, 0), TL_OK);
    uint8_t *arena = aligned_alloc(16, tl_model_arena_size(&m) / 16 * 16 + 16);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
    uint32_t n = 0;
    int8_t *in = tl_interp_input(&it, 0, &n);
    for (uint32_t i = 0; i < n; ++i) {
        in[i] = (int8_t)(i * 7 - 60);
    }
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    const int8_t *y = tl_interp_output(&it, 0, out_size);
    memcpy(out, y, *out_size);
    free(arena);
}

/* A model arriving block by block answers exactly as the whole model does,
 * with operators run before its last byte came; at any block size. */
static void test_pipelined_answer_equals_the_whole_models(void **state)
{
    (void)state;
    int8_t want[4096], got[4096];
    uint32_t want_size = 0, got_size = 0, early = 0;
    whole_model_answer(tiny, tiny_size, want, &want_size);
    const size_t chunks[4] = { 1024, 97, 16, 5000 };
    for (int k = 0; k < 4; ++k) {
        uint8_t *buf = model_copy(tiny, tiny_size);
        assert_int_equal(pipeline_run(buf, tiny_size, chunks[k], got, &got_size, &early), TL_OK);
        assert_int_equal(got_size, want_size);
        assert_memory_equal(got, want, want_size);
        const tl_file_header *h = (const tl_file_header *)(const void *)tiny;
        if (chunks[k] < tiny_size / 2) {
            assert_true(early >= h->op_count / 2); /* the layout lets most run early */
        }
        free(buf);
    }
    /* A wider model, its weights spanning many blocks. */
    uint8_t *wide;
    size_t wide_size;
    assert_int_equal(wide_model_bytes(3, &wide, &wide_size), 0);
    whole_model_answer(wide, wide_size, want, &want_size);
    assert_int_equal(pipeline_run(wide, wide_size, 1024, got, &got_size, &early), TL_OK);
    assert_memory_equal(got, want, want_size);
    free(wide);
}

/* A pipeline never answers from a file the loader refuses: a changed byte
 * anywhere fails the digest at the end (and nothing it ran on the way
 * read outside its buffers); re-sealed, the structure checks decide, and
 * whatever loads answers as the whole model does. Tables that have not
 * all arrived are not begun on. */
static void test_pipeline_refuses_what_the_loader_refuses(void **state)
{
    (void)state;
    int8_t want[4096], got[4096];
    uint32_t want_size = 0, got_size = 0, early = 0;
    const size_t body = tiny_size - sizeof(tl_trailer);
    size_t answered = 0;
    for (size_t at = 0; at < tiny_size; at += 3) {
        uint8_t *buf = model_copy(tiny, tiny_size);
        buf[at] ^= 0x40;
        const tl_status s = pipeline_run(buf, tiny_size, 256, got, &got_size, &early);
        if (at >= sizeof(tl_file_header) && at < body) {
            assert_int_not_equal(s, TL_OK);
        }
        redigest(buf, tiny_size);
        tl_model m;
        const int loads = tl_model_load(&m, buf, tiny_size, 0) == TL_OK;
        const tl_status sealed = pipeline_run(buf, tiny_size, 256, got, &got_size, &early);
        if (at < body) {
            assert_int_equal(sealed == TL_OK, loads);
        }
        if (sealed == TL_OK && loads) {
            whole_model_answer(buf, tiny_size, want, &want_size);
            assert_memory_equal(got, want, want_size);
            ++answered;
        }
        free(buf);
    }
    assert_true(answered > 0);
    tl_pipeline p;
    uint8_t arena[16];
    uint8_t *buf = model_copy(tiny, tiny_size);
    const tl_file_header *h = (const tl_file_header *)(const void *)buf;
    assert_int_equal(tl_pipeline_begin(&p, buf, sizeof(tl_file_header) - 1, arena, sizeof arena), TL_ERR_TRUNCATED);
    assert_int_equal(tl_pipeline_begin(&p, buf, h->section_table + 16, arena, sizeof arena), TL_ERR_TRUNCATED);
    assert_int_equal(tl_pipeline_begin(&p, buf, tiny_size, arena, sizeof arena), TL_ERR_ARENA);
    uint32_t ran = 7;
    assert_int_equal(tl_pipeline_step(&p, tiny_size, &ran), TL_ERR_STATE);
    assert_int_equal(ran, 0);
    free(buf);
}

typedef void (*corruption)(uint8_t *buf);

static tl_status corrupt(corruption fn, int32_t *bad_op, int32_t *bad_tensor)
{
    uint8_t *buf = model_copy(tiny, tiny_size);
    fn(buf);
    redigest(buf, tiny_size);
    tl_model m;
    tl_status s = tl_model_load_ex(&m, buf, tiny_size, 0, bad_op, bad_tensor);
    free(buf);
    return s;
}

static tl_tensor_rec *tensors_of(uint8_t *buf)
{
    return (tl_tensor_rec *)(void *)(buf + section(buf, TL_SEC_TENSORS)->offset);
}

static tl_op_rec *ops_of(uint8_t *buf)
{
    return (tl_op_rec *)(void *)(buf + section(buf, TL_SEC_OPS)->offset);
}

static void huge_dim(uint8_t *b) { tensors_of(b)[1].dims[1] = 0x7FFFFFFF; }
static void zero_dim(uint8_t *b) { tensors_of(b)[2].dims[0] = 0; }
static void data_past_weights(uint8_t *b)
{
    tl_tensor_rec *t = tensors_of(b);
    for (uint32_t i = 0;; ++i) {
        if (t[i].kind == TL_TENSOR_CONST) {
            t[i].data_offset = 0x7FFFFFF0;
            return;
        }
    }
}
static void section_past_end(uint8_t *b) { section(b, TL_SEC_WEIGHTS)->offset = 0x10000000; }
static void section_misaligned(uint8_t *b) { section(b, TL_SEC_OPS)->offset += 4; }
static void op_input_out_of_range(uint8_t *b) { ops_of(b)[3].inputs[1] = 5000; }
static void unknown_opcode(uint8_t *b) { ops_of(b)[4].opcode = 200; }
static void bad_shift(uint8_t *b)
{
    uint8_t *w = b + section(b, TL_SEC_WEIGHTS)->offset;
    const tl_op_rec *op = &ops_of(b)[0];
    ((int32_t *)(void *)(w + op->requant))[8] = 40; /* shift of channel 0 (8 channels) */
}
static void plan_past_arena(uint8_t *b)
{
    ((uint32_t *)(void *)(b + section(b, TL_SEC_PLAN)->offset))[0] = 0xFFFFFF00u;
}
/* Operator 1's output planned over its input, which it does not work in
 * place over (found by fuzzing: a PAD copying between overlapping rows). */
static void output_over_input(uint8_t *b)
{
    uint32_t *plan = (uint32_t *)(void *)(b + section(b, TL_SEC_PLAN)->offset);
    plan[ops_of(b)[1].output] = plan[ops_of(b)[1].inputs[0]] + 4;
}
static void huge_arena(uint8_t *b) { ((tl_file_header *)(void *)b)->arena_size = 0xfffffff0u; }
static void arena_one_past_the_bound(uint8_t *b) { ((tl_file_header *)(void *)b)->arena_size = TL_MAX_ARENA_BYTES + 1; }
static void arena_at_the_bound(uint8_t *b) { ((tl_file_header *)(void *)b)->arena_size = TL_MAX_ARENA_BYTES; }
static void bad_magic(uint8_t *b) { b[0] = 'X'; }
static void bad_version(uint8_t *b) { ((tl_file_header *)(void *)b)->version_major = 9; }
static void too_many_sections(uint8_t *b) { ((tl_file_header *)(void *)b)->section_count = 1000; }
static void wrong_stride(uint8_t *b) { ops_of(b)[0].stride_h = 0; }
static void huge_padding(uint8_t *b) { ops_of(b)[1].pad_top = 3000; }
static void bad_softmax(uint8_t *b) { ops_of(b)[8].p[TL_SOFTMAX_INPUT_LEFT_SHIFT] = 31; }
static void exit_past_end(uint8_t *b)
{
    ((tl_exit_rec *)(void *)(b + section(b, TL_SEC_EXITS)->offset))[1].op_end = 999;
}
static void unterminated_meta(uint8_t *b)
{
    tl_section_rec *s = section(b, TL_SEC_META);
    b[s->offset + s->size - 1] = 'x';
}

static void flag_on_depthwise(uint8_t *b) { ops_of(b)[1].flags = TL_OP_FLAG_RESIDUAL; }
static void unknown_flag(uint8_t *b) { ops_of(b)[0].flags = 0x80; }

/* The bitmap-encoded filter of the tiny model (exit 1's 1x1 convolution). */
static uint32_t *bitmap_words(uint8_t *b)
{
    tl_tensor_rec *t = tensors_of(b);
    for (uint32_t i = 0;; ++i) {
        if (t[i].kind == TL_TENSOR_CONST && t[i].dtype == TL_DTYPE_BITMAP_INT8) {
            return (uint32_t *)(void *)(b + section(b, TL_SEC_WEIGHTS)->offset + t[i].data_offset);
        }
    }
}
static void bitmap_count_off(uint8_t *b) { bitmap_words(b)[2] += 1; } /* oc_start[1] */
static void bitmap_extra_bit(uint8_t *b)
{
    uint8_t *rows = (uint8_t *)(bitmap_words(b) + 1 + 16 + 1); /* 16 output channels */
    rows[0] ^= 0x01; /* one bit more or less than values */
}
static void bitmap_nnz_off(uint8_t *b) { bitmap_words(b)[0] += 1; }

static void test_structural_corruptions(void **state)
{
    (void)state;
    int32_t op, t;
    assert_int_equal(corrupt(huge_dim, &op, &t), TL_ERR_SHAPE);
    assert_int_equal(t, 1);
    assert_int_equal(corrupt(zero_dim, &op, &t), TL_ERR_SHAPE);
    assert_int_equal(corrupt(data_past_weights, &op, &t), TL_ERR_BOUNDS);
    assert_int_equal(corrupt(section_past_end, &op, &t), TL_ERR_BOUNDS);
    assert_int_equal(corrupt(section_misaligned, &op, &t), TL_ERR_BOUNDS);
    assert_int_equal(corrupt(op_input_out_of_range, &op, &t), TL_ERR_BOUNDS);
    assert_int_equal(op, 3);
    assert_int_equal(corrupt(unknown_opcode, &op, &t), TL_ERR_UNSUPPORTED);
    assert_int_equal(op, 4);
    assert_int_equal(corrupt(bad_shift, &op, &t), TL_ERR_QUANT);
    assert_int_equal(op, 0);
    assert_int_equal(corrupt(plan_past_arena, &op, &t), TL_ERR_ARENA);
    assert_int_equal(t, 0);
    assert_int_equal(corrupt(output_over_input, &op, &t), TL_ERR_ARENA);
    assert_int_equal(op, 1);
    /* An arena a file merely claims is bounded (a host tool allocates it). */
    assert_int_equal(corrupt(huge_arena, &op, &t), TL_ERR_ARENA);
    assert_int_equal(corrupt(arena_one_past_the_bound, &op, &t), TL_ERR_ARENA);
    assert_int_equal(corrupt(arena_at_the_bound, &op, &t), TL_OK); /* more than the plan needs is harmless */
    assert_int_equal(corrupt(bad_magic, &op, &t), TL_ERR_MAGIC);
    assert_int_equal(corrupt(bad_version, &op, &t), TL_ERR_VERSION);
    assert_int_equal(corrupt(too_many_sections, &op, &t), TL_ERR_BOUNDS);
    assert_int_equal(corrupt(wrong_stride, &op, &t), TL_ERR_FORMAT);
    assert_int_equal(corrupt(huge_padding, &op, &t), TL_ERR_SHAPE);
    assert_int_equal(corrupt(bad_softmax, &op, &t), TL_ERR_QUANT);
    assert_int_equal(op, 8);
    assert_int_equal(corrupt(exit_past_end, &op, &t), TL_ERR_FORMAT);
    assert_int_equal(corrupt(unterminated_meta, &op, &t), TL_ERR_FORMAT);
    assert_int_equal(corrupt(flag_on_depthwise, &op, &t), TL_ERR_UNSUPPORTED);
    assert_int_equal(op, 1);
    assert_int_equal(corrupt(unknown_flag, &op, &t), TL_ERR_FORMAT);
    assert_int_equal(corrupt(bitmap_count_off, &op, &t), TL_ERR_FORMAT);
    assert_int_equal(corrupt(bitmap_extra_bit, &op, &t), TL_ERR_FORMAT);
    assert_int_equal(corrupt(bitmap_nnz_off, &op, &t), TL_ERR_FORMAT);
}

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = TL_OK; s <= TL_ERR_SIGNATURE; ++s) {
        assert_string_not_equal(tl_status_str((tl_status)s), "unknown status");
    }
    assert_string_equal(tl_status_str((tl_status)999), "unknown status");
    assert_string_equal(tl_status_str(TL_ERR_DIGEST), "SHA-256 digest mismatch (corrupt or tampered)");
}

/* ---- the TFLite importer against bad input ---- */

static void test_import_bad_tflite(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mlperf-tiny/kws_ref_model.tflite", TL_SHARED_DIR);
    uint8_t *data;
    size_t size;
    if (tl_read_file(path, &data, &size) != TL_OK) {
        skip();
    }
    tl_graph g;
    char error[256];
    /* Truncations: an error every time, never a crash. */
    for (size_t len = 0; len < size; len += 97) {
        uint8_t *cut = model_copy(data, len ? len : 1);
        assert_int_not_equal(tl_import_tflite(cut, len, &g, error, sizeof error), TL_OK);
        assert_true(error[0] != '\0');
        free(cut);
    }
    /* Flipped bytes: an error or a model the device loader accepts. */
    test_rng r = { 33 };
    for (int i = 0; i < 400; ++i) {
        uint8_t *bad = model_copy(data, size);
        const size_t at = rng_u32(&r) % size;
        bad[at] ^= (uint8_t)(1u << (rng_u32(&r) % 8));
        if (tl_import_tflite(bad, size, &g, error, sizeof error) == TL_OK) {
            uint8_t *tlm;
            size_t tlm_size;
            if (tl_graph_serialize(&g, &tlm, &tlm_size) == TL_OK) {
                const tl_status s = load_and_run(tlm, tlm_size, 0);
                if (s != TL_OK) {
                    fprintf(stderr, "byte %zu: imported, but the loader says %s\n", at, tl_status_str(s));
                }
                free(tlm);
                tl_graph_free(&g);
                assert_int_equal(s, TL_OK);
            } else {
                tl_graph_free(&g);
            }
        }
        free(bad);
    }
    /* Not a TFLite file at all. */
    uint8_t junk[64] = "this is not a model";
    assert_int_equal(tl_import_tflite(junk, sizeof junk, &g, error, sizeof error), TL_ERR_MAGIC);
    assert_non_null(strstr(error, "TFL3"));
    free(data);
}

/* An operator the device cannot run is named, with its index. The KWS
 * model's last operator code is SOFTMAX (25); turning it into GATHER (36) must
 * give "operator 12 (GATHER): ... not supported". */
static void test_import_names_unsupported_operator(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mlperf-tiny/kws_ref_model.tflite", TL_SHARED_DIR);
    uint8_t *data;
    size_t size;
    if (tl_read_file(path, &data, &size) != TL_OK) {
        skip();
    }
    int patched = 0;
    for (size_t at = 0; at + 4 <= size && !patched; ++at) {
        /* builtin_code is an int32 field; the deprecated one a byte. Patch the
         * int32 25 that belongs to an operator code: try each candidate and
         * keep the one that makes operator 12 a GATHER. */
        int32_t v;
        memcpy(&v, data + at, 4);
        if (v != 25) {
            continue;
        }
        uint8_t *bad = model_copy(data, size);
        v = 36;
        memcpy(bad + at, &v, 4);
        for (size_t k = 0; k < size; ++k) { /* and the deprecated byte code */
            if (bad[k] == 25 && k != at) {
                uint8_t *bad2 = model_copy(bad, size);
                bad2[k] = 36;
                tl_graph g;
                char error[256];
                const tl_status s = tl_import_tflite(bad2, size, &g, error, sizeof error);
                if (s == TL_OK) {
                    tl_graph_free(&g);
                } else if (s == TL_ERR_UNSUPPORTED && strstr(error, "operator 12 (GATHER)")) {
                    assert_non_null(strstr(error, "not supported"));
                    patched = 1;
                }
                free(bad2);
                if (patched) {
                    break;
                }
            }
        }
        free(bad);
    }
    assert_true(patched);
    free(data);
}

/* The progressive stream: a byte-identical round trip, every plane-boundary
 * prefix a valid model, and bad streams refused. */
static void test_progressive_stream(void **state)
{
    (void)state;
    uint8_t *stream;
    size_t size;
    uint32_t ends[8];
    assert_int_equal(tl_progressive_encode(tiny, tiny_size, &stream, &size, ends), TL_OK);
    assert_int_equal(ends[7], size);
    uint8_t *out = aligned_alloc(16, (tiny_size + 15) / 16 * 16);
    uint32_t planes, model_size;
    assert_int_equal(tl_progressive_decode(stream, size, out, tiny_size, &planes, &model_size), TL_OK);
    assert_int_equal(planes, 8);
    assert_int_equal(model_size, tiny_size);
    assert_memory_equal(out, tiny, tiny_size);
    for (int p = 0; p < 8; ++p) {
        /* A prefix ending on plane p's boundary, and one a byte short of the next. */
        const size_t cut[2] = { ends[p], p < 7 ? ends[p + 1] - 1 : ends[p] };
        for (int k = 0; k < 2; ++k) {
            assert_int_equal(tl_progressive_decode(stream, cut[k], out, tiny_size, &planes, &model_size), TL_OK);
            assert_int_equal(planes, (uint32_t)p + 1);
            assert_int_equal(load_and_run(out, model_size, 0), TL_OK);
        }
    }
    assert_int_equal(tl_progressive_decode(stream, ends[0] - 1, out, tiny_size, &planes, &model_size),
                     TL_ERR_TRUNCATED);
    assert_int_equal(tl_progressive_decode(stream, size, out, tiny_size - 1, &planes, &model_size), TL_ERR_ARG);
    stream[ends[0] - 10] ^= 0x40; /* inside plane 1 */
    assert_int_equal(tl_progressive_decode(stream, size, out, tiny_size, &planes, &model_size), TL_ERR_DIGEST);
    stream[0] = 'X';
    assert_int_equal(tl_progressive_decode(stream, size, out, tiny_size, &planes, &model_size), TL_ERR_MAGIC);
    /* Every truncation and a flipped byte anywhere: an error or a model
     * that loads and runs, never a wild read. */
    stream[0] = 'T';
    stream[ends[0] - 10] ^= 0x40;
    for (size_t len = 0; len < size; len += 7) {
        if (tl_progressive_decode(stream, len, out, tiny_size, &planes, &model_size) == TL_OK) {
            assert_int_equal(load_and_run(out, model_size, 0), TL_OK);
        }
    }
    for (size_t at = 0; at < size; at += 3) {
        stream[at] ^= 0xFF;
        if (tl_progressive_decode(stream, size, out, tiny_size, &planes, &model_size) == TL_OK) {
            assert_int_equal(load_and_run(out, model_size, 0), TL_OK);
        }
        stream[at] ^= 0xFF;
    }
    free(out);
    free(stream);
}

/* The digests of a (tampered) stream made right again, as an attacker who
 * controls the whole stream could: only the structure checks remain. */
static void redigest_stream(uint8_t *stream, const uint32_t ends[8])
{
    tl_progressive_header h;
    memcpy(&h, stream, sizeof h);
    memset(h.plane_sha256, 0, sizeof h.plane_sha256);
    memcpy(stream, &h, sizeof h);
    for (int k = 0; k < 8; ++k) {
        tl_sha256 ctx;
        tl_sha256_init(&ctx);
        tl_sha256_update(&ctx, stream, ends[k]);
        tl_sha256_final(&ctx, h.plane_sha256[k]);
    }
    memcpy(stream, &h, sizeof h);
}

/* Encodes the tiny model, lets `tamper` edit its tensor table, makes the
 * digests right again and decodes the first `planes` planes. */
static tl_status decode_tampered(void (*tamper)(tl_progressive_tensor *t, uint32_t n), int planes)
{
    uint8_t *stream;
    size_t size;
    uint32_t ends[8];
    assert_int_equal(tl_progressive_encode(tiny, tiny_size, &stream, &size, ends), TL_OK);
    tl_progressive_header h;
    memcpy(&h, stream, sizeof h);
    tamper((tl_progressive_tensor *)(void *)(stream + sizeof h), h.tensor_count);
    redigest_stream(stream, ends);
    uint8_t *out = aligned_alloc(16, (tiny_size + 15) / 16 * 16);
    uint32_t got, model_size;
    const tl_status s = tl_progressive_decode(stream, ends[planes - 1], out, tiny_size, &got, &model_size);
    free(out);
    free(stream);
    return s;
}

static void grow_last_count(tl_progressive_tensor *t, uint32_t n)
{
    assert_true(n > 0);
    t[n - 1].count += 64; /* the skeleton gap after it shrinks by as much */
}

static void swap_first_tensors(tl_progressive_tensor *t, uint32_t n)
{
    assert_true(n >= 2);
    const uint32_t first = t[0].tensor;
    t[0].tensor = t[1].tensor;
    t[1].tensor = first;
}

/* A tensor table whose counts add up to more weights than the planes hold
 * (found by libFuzzer: it read past the planes) is refused. */
static void test_progressive_counts_beyond_planes(void **state)
{
    (void)state;
    assert_int_equal(decode_tampered(grow_last_count, 8), TL_ERR_BOUNDS);
}

static void overflow_first_sum(tl_progressive_tensor *t, uint32_t n)
{
    int32_t *sums = (int32_t *)(void *)(t + n); /* the sums table follows the tensor table */
    const int32_t least = INT32_MIN;
    memcpy(&sums[0], &least, sizeof least);
}

/* A stream whose channel sums push a bias out of int32 when the prefix is
 * decoded (it overflowed, and the device ran a model the loader refuses)
 * is refused; the arithmetic is wide, so no overflow happens on the way. */
static void test_progressive_sums_that_overflow_a_bias_are_refused(void **state)
{
    (void)state;
    assert_int_equal(decode_tampered(overflow_first_sum, 3), TL_ERR_FORMAT);
    assert_int_equal(decode_tampered(overflow_first_sum, 8), TL_OK); /* all planes: no bias is touched */
}

/* A record whose bytes are not the values of the filter it names (here,
 * two records swap their tensors) is refused before any bias is touched. */
static void test_progressive_record_names_its_filter(void **state)
{
    (void)state;
    assert_int_equal(decode_tampered(swap_first_tensors, 4), TL_ERR_BOUNDS);
}


/* TRANSPOSE then PAD through the writer, the loader and the interpreter:
 * the answer is the naive one; a permutation that repeats a dimension and
 * a padding the output does not match are refused at load. */
static void test_transpose_and_pad_run_as_the_naive_reference_says(void **state)
{
    (void)state;
    const int32_t perm[4] = { 0, 3, 1, 2 }; /* NHWC [1,2,3,4] -> [1,4,2,3] */
    uint8_t *bytes;
    size_t size;
    assert_int_equal(transpose_pad_model_bytes(perm, 1, &bytes, &size), 0);
    tl_model m;
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_OK);
    uint8_t *arena = aligned_alloc(16, (tl_model_arena_size(&m) + 15) / 16 * 16 + 16);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
    uint32_t n;
    int8_t *in = tl_interp_input(&it, 0, &n);
    assert_int_equal(n, 24);
    int8_t x[24];
    for (int i = 0; i < 24; ++i) {
        x[i] = (int8_t)(i * 5 - 60);
        in[i] = x[i];
    }
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    const int8_t *out = tl_interp_output(&it, 0, &n);
    assert_int_equal(n, 6 * 4 * 4);
    for (int32_t c = 0; c < 6; ++c) {          /* out [1,6,4,4]: dims 1..3 = (c, h, w) */
        for (int32_t h = 0; h < 4; ++h) {
            for (int32_t w = 0; w < 4; ++w) {
                const int32_t cc = c - 1, hh = h, ww = w; /* padding: 1 before dim 1 */
                int8_t want = 3;
                if (cc >= 0 && cc < 4 && hh < 2 && ww < 3) {
                    want = x[(hh * 3 + ww) * 4 + cc]; /* mid[0][cc][hh][ww] = in[0][hh][ww][cc] */
                }
                assert_int_equal(out[(c * 4 + h) * 4 + w], want);
            }
        }
    }
    free(arena);
    free(bytes);
    const int32_t twice[4] = { 0, 3, 3, 2 };
    assert_int_equal(transpose_pad_model_bytes(twice, 1, &bytes, &size), 0);
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_FORMAT);
    free(bytes);
    assert_int_equal(transpose_pad_model_bytes(perm, 2, &bytes, &size), 0);
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_SHAPE);
    free(bytes);
}

/* MEAN over H and W of [1,2,3,4] through the writer, the loader and the
 * interpreter: each channel's mean of six values; a reduce flag that is
 * not 0 or 1, one past the rank, and an output of the wrong size are
 * refused at load. */
static void test_mean_runs_and_its_bad_records_are_refused(void **state)
{
    (void)state;
    tl_op_rec op;
    memset(&op, 0, sizeof op);
    op.opcode = TL_OP_MEAN;
    op.act_min = -128;
    op.act_max = 127;
    op.p[TL_MEAN_REDUCE + 1] = op.p[TL_MEAN_REDUCE + 2] = 1;
    assert_int_equal(tl_mean_constants(0.1f, 0.1f, 6, &op.p[TL_MEAN_MULT], &op.p[TL_MEAN_SHIFT]), TL_OK);
    const uint32_t in_dims[4] = { 1, 2, 3, 4 }, out_dims[4] = { 1, 1, 1, 4 }, bad_dims[4] = { 1, 1, 1, 3 };
    uint8_t *bytes;
    size_t size;
    assert_int_equal(single_op_model_bytes(&op, in_dims, out_dims, &bytes, &size), 0);
    tl_model m;
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_OK);
    uint8_t *arena = aligned_alloc(16, (tl_model_arena_size(&m) + 15) / 16 * 16 + 16);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
    int8_t *in = tl_interp_input(&it, 0, NULL);
    for (int i = 0; i < 24; ++i) {
        in[i] = (int8_t)(i % 4 == 3 ? 100 : i); /* channel c: c, c+4, ..., c+20; channel 3 all 100 */
    }
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    const int8_t *out = tl_interp_output(&it, 0, NULL);
    assert_int_equal(out[0], 10); /* (0+4+8+12+16+20) / 6 */
    assert_int_equal(out[1], 11);
    assert_int_equal(out[2], 12);
    assert_int_equal(out[3], 100);
    free(arena);
    free(bytes);
    tl_op_rec bad = op;
    bad.p[TL_MEAN_REDUCE + 1] = 2;
    assert_int_equal(single_op_model_bytes(&bad, in_dims, out_dims, &bytes, &size), 0);
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_FORMAT);
    free(bytes);
    assert_int_equal(single_op_model_bytes(&op, in_dims, bad_dims, &bytes, &size), 0);
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_SHAPE);
    free(bytes);
    bad = op;
    bad.p[TL_MEAN_SHIFT] = 31;
    assert_int_equal(single_op_model_bytes(&bad, in_dims, out_dims, &bytes, &size), 0);
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_QUANT);
    free(bytes);
}

/* Records of the newer element-wise and resize operators that would make
 * their kernels read or compute out of range are refused at load:
 * RESIZE_BILINEAR with a scale that puts the last row past the image or a
 * half-pixel flag of 2, HARD_SWISH with an output exponent above 0 or a
 * Q15 multiplier past 32767; their good records load. */
static void test_bad_resize_and_hard_swish_records_are_refused(void **state)
{
    (void)state;
    const uint32_t in_dims[4] = { 1, 2, 3, 4 }, up_dims[4] = { 1, 4, 6, 4 };
    tl_op_rec resize;
    memset(&resize, 0, sizeof resize);
    resize.opcode = TL_OP_RESIZE_BILINEAR;
    resize.act_min = -128;
    resize.act_max = 127;
    resize.p[TL_RESIZE_SCALE_H] = 512; /* 2 rows to 4 */
    resize.p[TL_RESIZE_SCALE_W] = 512;
    tl_op_rec swish;
    memset(&swish, 0, sizeof swish);
    swish.opcode = TL_OP_HARD_SWISH;
    swish.act_min = -128;
    swish.act_max = 127;
    swish.p[TL_HARD_SWISH_RELUISH_MULT] = 20000;
    swish.p[TL_HARD_SWISH_RELUISH_EXPONENT] = 3;
    swish.p[TL_HARD_SWISH_OUTPUT_MULT] = 20000;
    swish.p[TL_HARD_SWISH_OUTPUT_EXPONENT] = -2;
    struct { tl_op_rec op; const uint32_t *out; tl_status want; } cases[6];
    for (int i = 0; i < 6; ++i) {
        cases[i].op = i < 3 ? resize : swish;
        cases[i].out = i < 3 ? up_dims : in_dims;
        cases[i].want = TL_ERR_QUANT;
    }
    cases[0].want = TL_OK;
    cases[1].op.p[TL_RESIZE_SCALE_H] = 1024 * 10;
    cases[2].op.p[TL_RESIZE_HALF_PIXEL] = 2;
    cases[2].want = TL_ERR_FORMAT;
    cases[3].want = TL_OK;
    cases[4].op.p[TL_HARD_SWISH_OUTPUT_EXPONENT] = 1;
    cases[5].op.p[TL_HARD_SWISH_OUTPUT_MULT] = 32768;
    for (int i = 0; i < 6; ++i) {
        uint8_t *bytes;
        size_t size;
        assert_int_equal(single_op_model_bytes(&cases[i].op, in_dims, cases[i].out, &bytes, &size), 0);
        tl_model m;
        assert_int_equal(tl_model_load(&m, bytes, size, 0), cases[i].want);
        free(bytes);
    }
}

/* A tensor of another type than int8, made from an int8 one. */
static void retype(tl_graph *g, int32_t t, uint8_t dtype)
{
    g->tensors[t].rec.dtype = dtype;
    g->tensors[t].rec.data_size *= tl_dtype_bytes(dtype);
}

static tl_op_rec plain_op(uint8_t opcode, uint16_t in, uint16_t out)
{
    tl_op_rec r;
    memset(&r, 0, sizeof r);
    r.opcode = opcode;
    r.input_count = 1;
    r.inputs[0] = in;
    r.inputs[1] = r.inputs[2] = TL_NO_TENSOR;
    r.output = out;
    r.act_min = -128;
    r.act_max = 127;
    return r;
}

/* int8 -> QUANTIZE -> int16 -> DEQUANTIZE -> float32 through the writer,
 * the planner (the int16 and float tensors on aligned offsets), the loader
 * and the interpreter; a plan offset off the int16 alignment and a
 * DEQUANTIZE with an integer output are refused. */
static void test_typed_tensors_quantize_and_dequantize(void **state)
{
    (void)state;
    const uint32_t dims[4] = { 1, 5, 1, 1 };
    tl_graph g;
    memset(&g, 0, sizeof g);
    const int32_t a = tl_graph_add_activation(&g, "a", 2, dims, 0.5f, 1);
    const int32_t b = tl_graph_add_activation(&g, "b", 2, dims, 0.25f, 0);
    const int32_t c = tl_graph_add_activation(&g, "c", 2, dims, 1.0f, 0);
    retype(&g, b, TL_DTYPE_INT16);
    retype(&g, c, TL_DTYPE_FLOAT32);
    tl_op_rec q = plain_op(TL_OP_QUANTIZE, (uint16_t)a, (uint16_t)b), d = plain_op(TL_OP_DEQUANTIZE, (uint16_t)b, (uint16_t)c);
    q.input_offset = -1;
    tl_quantize_multiplier(0.5 / 0.25, &q.p[TL_QUANTIZE_MULT], &q.p[TL_QUANTIZE_SHIFT]);
    const float scale = 0.25f;
    memcpy(&d.p[TL_QUANTIZE_SCALE_BITS], &scale, sizeof scale);
    assert_true(tl_graph_add_op(&g, &q, NULL, NULL, 0) >= 0 && tl_graph_add_op(&g, &d, NULL, NULL, 0) >= 0);
    g.inputs[g.input_count++] = (uint16_t)a;
    g.outputs[g.output_count++] = (uint16_t)c;
    assert_int_equal(tl_graph_add_exit(&g, (uint16_t)c, 2), TL_OK);
    uint8_t *bytes;
    size_t size;
    assert_int_equal(tl_graph_serialize(&g, &bytes, &size), TL_OK);
    tl_model m;
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_OK);
    assert_int_equal(m.plan[b] % 2, 0);
    assert_int_equal(m.plan[c] % 4, 0);
    uint8_t *arena = aligned_alloc(16, (tl_model_arena_size(&m) + 15) / 16 * 16 + 16);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
    int8_t *in = tl_interp_input(&it, 0, NULL);
    const int8_t x[5] = { 1, 3, -127, 127, 0 }; /* real (x - 1) * 0.5 */
    memcpy(in, x, 5);
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    uint32_t n;
    const float *y = (const float *)(const void *)tl_interp_output(&it, 0, &n);
    assert_int_equal(n, 20);
    const float want[5] = { 0.0f, 1.0f, -64.0f, 63.0f, -0.5f };
    for (int i = 0; i < 5; ++i) {
        assert_true(y[i] == want[i]);
    }
    free(arena);
    /* An int16 tensor planned on an odd offset. */
    uint8_t *copy = malloc(size);
    memcpy(copy, bytes, size);
    uint32_t *plan = (uint32_t *)(void *)(copy + section(copy, TL_SEC_PLAN)->offset);
    plan[b] += 1;
    redigest(copy, size);
    assert_int_equal(tl_model_load(&m, copy, size, 0), TL_ERR_ARENA);
    free(copy);
    free(bytes);
    /* DEQUANTIZE must produce floats. */
    g.ops[1].rec.opcode = TL_OP_QUANTIZE;
    g.ops[0].rec.opcode = TL_OP_DEQUANTIZE;
    assert_int_equal(tl_graph_serialize(&g, &bytes, &size), TL_OK);
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_FORMAT);
    free(bytes);
    tl_graph_free(&g);
}

/* SVDF with an int16 state through the writer (its constant block), the
 * planner (the state on its own bytes), the loader and the interpreter:
 * the state carries over from one inference to the next and
 * tl_interp_reset_state forgets it; a block of the wrong size and a state
 * that is not a state tensor are refused. */
static void test_svdf_keeps_its_state_between_inferences(void **state)
{
    (void)state;
    const uint32_t in_dims[4] = { 1, 3, 1, 1 }, out_dims[4] = { 1, 2, 1, 1 }, st_dims[4] = { 1, 2 * 1 * 4, 1, 1 };
    tl_graph g;
    memset(&g, 0, sizeof g);
    const int32_t in = tl_graph_add_activation(&g, "in", 2, in_dims, 0.1f, 0);
    const int32_t st = tl_graph_add_activation(&g, "state", 2, st_dims, 0.1f, 0);
    const int32_t out = tl_graph_add_activation(&g, "out", 2, out_dims, 0.1f, 0);
    retype(&g, st, TL_DTYPE_INT16);
    g.tensors[st].rec.kind = TL_TENSOR_STATE;
    tl_op_rec op = plain_op(TL_OP_SVDF, (uint16_t)in, (uint16_t)out);
    op.input_count = 2;
    op.inputs[1] = (uint16_t)st;
    op.p[TL_SVDF_RANK] = 1;
    op.p[TL_SVDF_MEMORY] = 4;
    op.p[TL_SVDF_HAS_BIAS] = 1;
    tl_quantize_multiplier(1.0, &op.p[TL_SVDF_FEATURE_MULT], &op.p[TL_SVDF_FEATURE_SHIFT]);
    tl_quantize_multiplier(1.0, &op.p[TL_SVDF_OUTPUT_MULT], &op.p[TL_SVDF_OUTPUT_SHIFT]);
    /* 2 filters x 3 inputs of feature weights (8 bytes with padding), 2 x 4
     * int16 time weights, 2 int32 biases. Filter 0 takes input 0, filter 1
     * input 1; time weights 1 on every step: each unit sums its last 4. */
    uint8_t block[8 + 16 + 8];
    memset(block, 0, sizeof block);
    block[0] = 1;
    block[3 + 1] = 1;
    for (int k = 0; k < 8; ++k) {
        const int16_t one = 1;
        memcpy(block + 8 + 2 * k, &one, 2);
    }
    const int32_t biases[2] = { 0, 10 };
    memcpy(block + 24, biases, 8);
    const int32_t index = tl_graph_add_op(&g, &op, NULL, NULL, 0);
    assert_true(index >= 0);
    assert_int_equal(tl_graph_set_op_block(&g, (uint32_t)index, block, sizeof block), TL_OK);
    g.inputs[g.input_count++] = (uint16_t)in;
    g.outputs[g.output_count++] = (uint16_t)out;
    assert_int_equal(tl_graph_add_exit(&g, (uint16_t)out, 1), TL_OK);
    uint8_t *bytes;
    size_t size;
    assert_int_equal(tl_graph_serialize(&g, &bytes, &size), TL_OK);
    tl_model m;
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_OK);
    uint8_t *arena = aligned_alloc(16, (tl_model_arena_size(&m) + 15) / 16 * 16 + 16);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
    const int8_t steps[3][3] = { { 5, 7, 0 }, { 1, 2, 0 }, { 3, -4, 0 } };
    const int8_t want[3][2] = { { 5, 17 }, { 6, 19 }, { 9, 15 } }; /* running sums (+10 on unit 1) */
    for (int s = 0; s < 3; ++s) {
        memcpy(tl_interp_input(&it, 0, NULL), steps[s], 3);
        assert_int_equal(tl_interp_invoke(&it), TL_OK);
        const int8_t *y = tl_interp_output(&it, 0, NULL);
        assert_int_equal(y[0], want[s][0]);
        assert_int_equal(y[1], want[s][1]);
    }
    tl_interp_reset_state(&it);
    memcpy(tl_interp_input(&it, 0, NULL), steps[0], 3);
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    assert_int_equal(tl_interp_output(&it, 0, NULL)[1], want[0][1]);
    free(arena);
    free(bytes);
    assert_int_equal(tl_graph_set_op_block(&g, 0, block, sizeof block - 4), TL_OK);
    assert_int_equal(tl_graph_serialize(&g, &bytes, &size), TL_OK);
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_BOUNDS);
    free(bytes);
    assert_int_equal(tl_graph_set_op_block(&g, 0, block, sizeof block), TL_OK);
    g.tensors[st].rec.kind = TL_TENSOR_ACTIVATION;
    assert_int_equal(tl_graph_serialize(&g, &bytes, &size), TL_OK);
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_FORMAT);
    free(bytes);
    tl_graph_free(&g);
}

/* LOGISTIC and TANH through the loader and interpreter (0 in gives one
 * half and zero), and constants that would overflow the Q4.27 scaling are
 * refused. */
static void test_logistic_and_tanh_run_and_bad_constants_are_refused(void **state)
{
    (void)state;
    const uint32_t dims[4] = { 1, 4, 1, 1 };
    for (int k = 0; k < 2; ++k) {
        tl_op_rec op;
        memset(&op, 0, sizeof op);
        op.opcode = k ? TL_OP_TANH : TL_OP_LOGISTIC;
        op.act_min = -128;
        op.act_max = 127;
        assert_int_equal(tl_sigmoid_constants(0.1f, &op.p[TL_SIGMOID_MULT], &op.p[TL_SIGMOID_SHIFT],
                                              &op.p[TL_SIGMOID_RADIUS]), TL_OK);
        uint8_t *bytes;
        size_t size;
        assert_int_equal(single_op_model_bytes(&op, dims, dims, &bytes, &size), 0);
        tl_model m;
        assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_OK);
        uint8_t *arena = aligned_alloc(16, 64);
        tl_interp it;
        assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
        const int8_t x[4] = { 0, 127, -128, 10 };
        memcpy(tl_interp_input(&it, 0, NULL), x, 4);
        assert_int_equal(tl_interp_invoke(&it), TL_OK);
        const int8_t *y = tl_interp_output(&it, 0, NULL);
        assert_int_equal(y[0], k ? 0 : 0);   /* tanh(0) = 0; logistic(0) = 1/2 = 128 - 128 */
        assert_true(y[1] > 120 && y[2] < (k ? -120 : -125));
        free(arena);
        free(bytes);
        op.p[TL_SIGMOID_SHIFT] = 30; /* radius << 30 leaves int32 */
        assert_int_equal(single_op_model_bytes(&op, dims, dims, &bytes, &size), 0);
        assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_ERR_QUANT);
        free(bytes);
    }
}

/* TFLite Micro's MNIST LSTM (int8, int16 cell) imports, loads and runs;
 * its state carries over unless reset; a header with a third layout, a
 * block one byte short, or a cell state without its gate rows is refused. */
static void test_lstm_model_runs_and_bad_lstm_records_are_refused(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/tflm-examples/trained_lstm_int8.tflite", TL_SHARED_DIR);
    uint8_t *data, *tlm;
    size_t size, tlm_size;
    if (tl_read_file(path, &data, &size) != TL_OK) {
        skip();
    }
    tl_graph g;
    char error[256];
    assert_int_equal(tl_import_tflite(data, size, &g, error, sizeof error), TL_OK);
    assert_int_equal(tl_graph_serialize(&g, &tlm, &tlm_size), TL_OK);
    tl_graph_free(&g);
    free(data);
    tl_model m;
    assert_int_equal(tl_model_load(&m, tlm, tlm_size, 0), TL_OK);
    assert_int_equal(m.ops[0].opcode, TL_OP_LSTM);
    uint8_t *arena = aligned_alloc(16, (tl_model_arena_size(&m) + 15) / 16 * 16 + 16);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
    uint32_t n;
    int8_t *in = tl_interp_input(&it, 0, &n);
    assert_int_equal(n, 28 * 28);
    for (uint32_t i = 0; i < n; ++i) {
        in[i] = (int8_t)((i * 37) % 251 - 125);
    }
    int8_t first[10], again[10];
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    memcpy(first, tl_interp_output(&it, 0, NULL), 10);
    for (uint32_t i = 0; i < n; ++i) {
        in[i] = (int8_t)((i * 37) % 251 - 125);
    }
    tl_interp_reset_state(&it);
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    memcpy(again, tl_interp_output(&it, 0, NULL), 10);
    assert_memory_equal(first, again, 10); /* the same sequence from a fresh state: the same answer */
    free(arena);
    const tl_op_rec *op = &m.ops[0];
    const uint32_t header_at = (uint32_t)(m.weights - tlm) + op->requant;
    uint8_t *bad = model_copy(tlm, tlm_size);
    ((tl_lstm_header *)(void *)(bad + header_at))->time_major = 2;
    redigest(bad, tlm_size);
    assert_int_equal(tl_model_load(&m, bad, tlm_size, 0), TL_ERR_FORMAT);
    memcpy(bad, tlm, tlm_size);
    ops_of(bad)[0].bias -= 1;
    redigest(bad, tlm_size);
    assert_int_equal(tl_model_load(&m, bad, tlm_size, 0), TL_ERR_BOUNDS);
    memcpy(bad, tlm, tlm_size);
    tensors_of(bad)[ops_of(bad)[0].inputs[2]].dims[0] = 1;
    tensors_of(bad)[ops_of(bad)[0].inputs[2]].data_size /= 5;
    redigest(bad, tlm_size);
    assert_int_equal(tl_model_load(&m, bad, tlm_size, 0), TL_ERR_SHAPE);
    free(bad);
    free(tlm);
}

/* A .npy as NumPy writes it: magic, version, header length, the dict. */
static size_t npy_bytes(uint8_t *out, const char *dict, const void *data, size_t data_size)
{
    const size_t len = strlen(dict);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (uint8_t)(len & 0xff);
    out[9] = (uint8_t)(len >> 8);
    memcpy(out + 10, dict, len);
    memcpy(out + 10 + len, data, data_size);
    return 10 + len + data_size;
}

/* Float32 and float64 arrays read with their shape; other types, Fortran
 * order, short data and a bad magic refused with a message. */
static void test_npy_reader_takes_floats_and_names_the_rest(void **state)
{
    (void)state;
    uint8_t buf[512];
    float *v;
    uint64_t n, shape[8];
    uint32_t rank;
    char error[128];
    const float f[6] = { 0.5f, -1.0f, 2.0f, 3.0f, 4.0f, 5.0f };
    size_t size = npy_bytes(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", f, sizeof f);
    assert_int_equal(tl_npy_read(buf, size, &v, &n, shape, &rank, error, sizeof error), TL_OK);
    assert_int_equal(n, 6);
    assert_int_equal(rank, 2);
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 3);
    assert_memory_equal(v, f, sizeof f);
    free(v);
    const double d[2] = { 0.25, -8.0 };
    size = npy_bytes(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", d, sizeof d);
    assert_int_equal(tl_npy_read(buf, size, &v, &n, shape, &rank, error, sizeof error), TL_OK);
    assert_true(n == 2 && rank == 1 && v[0] == 0.25f && v[1] == -8.0f);
    free(v);
    size = npy_bytes(buf, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }\n", d, 2);
    assert_int_equal(tl_npy_read(buf, size, &v, &n, shape, &rank, error, sizeof error), TL_ERR_UNSUPPORTED);
    assert_non_null(strstr(error, "calibration takes float32 or float64"));
    size = npy_bytes(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", f, sizeof f);
    assert_int_equal(tl_npy_read(buf, size, &v, &n, shape, &rank, error, sizeof error), TL_ERR_UNSUPPORTED);
    size = npy_bytes(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", f, sizeof f - 4);
    assert_int_equal(tl_npy_read(buf, size, &v, &n, shape, &rank, error, sizeof error), TL_ERR_TRUNCATED);
    assert_non_null(strstr(error, "holds 20 data bytes; its shape needs 24"));
    buf[0] = 'X';
    assert_int_equal(tl_npy_read(buf, size, &v, &n, shape, &rank, error, sizeof error), TL_ERR_MAGIC);
    assert_null(v);
}

/* Finishes a TFLite file built with tfb, imports it and checks that it is
 * refused with `want` and an error containing `message`. */
static void assert_import_refused(tfb *b, const int *ins, int n_in, const int *outs, int n_out, tl_status want,
                                  const char *message)
{
    size_t size;
    uint8_t *file = tfb_finish(b, ins, n_in, outs, n_out, &size);
    tfb_free(b);
    tl_graph g;
    char error[256];
    assert_int_equal(tl_import_tflite(file, size, &g, error, sizeof error), want);
    assert_non_null(strstr(error, message));
    free(file);
}

/* Imports a built TFLite model and runs it on `in` (int8), into `out`. */
static tl_status import_and_run(uint8_t *tflite, size_t size, const int8_t *in, size_t in_size, int8_t *out,
                                size_t out_size, char *error, size_t error_size)
{
    tl_graph g;
    tl_status s = tl_import_tflite(tflite, size, &g, error, error_size);
    free(tflite);
    if (s != TL_OK) {
        return s;
    }
    uint8_t *tlm;
    size_t tlm_size;
    s = tl_graph_serialize(&g, &tlm, &tlm_size);
    tl_graph_free(&g);
    assert_int_equal(s, TL_OK);
    tl_model m;
    s = tl_model_load(&m, tlm, tlm_size, 0);
    if (s == TL_OK) {
        uint8_t *arena = aligned_alloc(16, (tl_model_arena_size(&m) + 15) / 16 * 16 + 16);
        tl_interp it;
        uint32_t n;
        assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
        int8_t *x = tl_interp_input(&it, 0, &n);
        assert_int_equal(n, in_size);
        memcpy(x, in, in_size);
        assert_int_equal(tl_interp_invoke(&it), TL_OK);
        const int8_t *y = tl_interp_output(&it, 0, &n);
        assert_int_equal(n, out_size);
        memcpy(out, y, out_size);
        free(arena);
    }
    free(tlm);
    return s;
}

/* STRIDED_SLICE (with a negative begin, a stride of 2 and a shrunk axis),
 * SPLIT then CONCATENATION in the other order, UNPACK then PACK: built as
 * TFLite files, imported, run; each output is the naive one. Quantisation
 * that differs between the two sides of a data move is refused. */
static void test_slices_splits_and_concatenations_move_the_right_elements(void **state)
{
    (void)state;
    int8_t x[24], y[24];
    for (int i = 0; i < 24; ++i) {
        x[i] = (int8_t)(i - 10);
    }
    char error[256];
    const int shape[3] = { 2, 3, 4 };
    /* x[:, -2:, ::2] then shrink axis 0 at index 1: [2, 2]. */
    tfb *b = tfb_new();
    const int32_t begin[3] = { 1, -2, 0 }, end[3] = { 2, 3, 4 }, strides[3] = { 1, 1, 2 };
    const int three[1] = { 3 }, out_shape[2] = { 2, 2 };
    int t_in = tfb_tensor(b, "x", 9, 3, shape, 0.5f, 0, NULL, 0, 0);
    int t_b = tfb_tensor(b, "begin", 2, 1, three, 0, 0, begin, sizeof begin, 0);
    int t_e = tfb_tensor(b, "end", 2, 1, three, 0, 0, end, sizeof end, 0);
    int t_s = tfb_tensor(b, "strides", 2, 1, three, 0, 0, strides, sizeof strides, 0);
    int t_out = tfb_tensor(b, "y", 9, 2, out_shape, 0.5f, 0, NULL, 0, 0);
    const tfb_opt shrink[] = { { 4, 'i', 1 }, { 0, 0, 0 } };
    int ins[4] = { t_in, t_b, t_e, t_s };
    tfb_op(b, 45, ins, 4, &t_out, 1, 32, shrink);
    size_t size;
    uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
    tfb_free(b);
    assert_int_equal(import_and_run(file, size, x, 24, y, 4, error, sizeof error), TL_OK);
    const int8_t want_slice[4] = { x[12 + 4 + 0], x[12 + 4 + 2], x[12 + 8 + 0], x[12 + 8 + 2] };
    assert_memory_equal(y, want_slice, 4);

    /* SPLIT along the last axis, CONCATENATION back in the other order. */
    b = tfb_new();
    const int half[3] = { 2, 3, 2 };
    const int32_t axis = 2;
    const int one[1] = { 1 };
    t_in = tfb_tensor(b, "x", 9, 3, shape, 0.5f, 0, NULL, 0, 0);
    int t_axis = tfb_tensor(b, "axis", 2, 1, one, 0, 0, &axis, sizeof axis, 0);
    int t_l = tfb_tensor(b, "left", 9, 3, half, 0.5f, 0, NULL, 0, 0);
    int t_r = tfb_tensor(b, "right", 9, 3, half, 0.5f, 0, NULL, 0, 0);
    t_out = tfb_tensor(b, "y", 9, 3, shape, 0.5f, 0, NULL, 0, 0);
    const tfb_opt two_splits[] = { { 0, 'i', 2 }, { 0, 0, 0 } }, axis2[] = { { 0, 'i', 2 }, { 0, 0, 0 } };
    int split_in[2] = { t_axis, t_in }, split_out[2] = { t_l, t_r }, cat_in[2] = { t_r, t_l };
    tfb_op(b, 49, split_in, 2, split_out, 2, 35, two_splits);
    tfb_op(b, 2, cat_in, 2, &t_out, 1, 10, axis2);
    file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
    tfb_free(b);
    assert_int_equal(import_and_run(file, size, x, 24, y, 24, error, sizeof error), TL_OK);
    for (int i = 0; i < 24; ++i) {
        assert_int_equal(y[i], x[(i / 4) * 4 + (i % 4 + 2) % 4]);
    }

    /* UNPACK along axis 0 ([3, 4] each), PACK along axis 1: [3, 2, 4]. */
    b = tfb_new();
    const int piece[2] = { 3, 4 }, packed[3] = { 3, 2, 4 };
    t_in = tfb_tensor(b, "x", 9, 3, shape, 0.5f, 0, NULL, 0, 0);
    int t_p0 = tfb_tensor(b, "p0", 9, 2, piece, 0.5f, 0, NULL, 0, 0);
    int t_p1 = tfb_tensor(b, "p1", 9, 2, piece, 0.5f, 0, NULL, 0, 0);
    t_out = tfb_tensor(b, "y", 9, 3, packed, 0.5f, 0, NULL, 0, 0);
    const tfb_opt unpack[] = { { 0, 'i', 2 }, { 1, 'i', 0 }, { 0, 0, 0 } }, pack[] = { { 0, 'i', 2 }, { 1, 'i', 1 }, { 0, 0, 0 } };
    int pieces[2] = { t_p0, t_p1 };
    tfb_op(b, 88, &t_in, 1, pieces, 2, 64, unpack);
    tfb_op(b, 83, pieces, 2, &t_out, 1, 59, pack);
    file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
    tfb_free(b);
    assert_int_equal(import_and_run(file, size, x, 24, y, 24, error, sizeof error), TL_OK);
    for (int r = 0; r < 3; ++r) {
        for (int k = 0; k < 2; ++k) {
            for (int c = 0; c < 4; ++c) {
                assert_int_equal(y[(r * 2 + k) * 4 + c], x[(k * 3 + r) * 4 + c]);
            }
        }
    }

    /* A slice whose output is quantised otherwise is refused by name. */
    b = tfb_new();
    t_in = tfb_tensor(b, "x", 9, 3, shape, 0.5f, 0, NULL, 0, 0);
    t_b = tfb_tensor(b, "begin", 2, 1, three, 0, 0, begin, sizeof begin, 0);
    t_e = tfb_tensor(b, "end", 2, 1, three, 0, 0, end, sizeof end, 0);
    t_s = tfb_tensor(b, "strides", 2, 1, three, 0, 0, strides, sizeof strides, 0);
    t_out = tfb_tensor(b, "y", 9, 2, out_shape, 0.25f, 0, NULL, 0, 0);
    int ins2[4] = { t_in, t_b, t_e, t_s };
    tfb_op(b, 45, ins2, 4, &t_out, 1, 32, shrink);
    file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
    tfb_free(b);
    assert_int_equal(import_and_run(file, size, x, 24, y, 4, error, sizeof error), TL_ERR_QUANT);
    assert_non_null(strstr(error, "operator 0 (STRIDED_SLICE): input and output 4 must share type, scale and zero point"));
}

/* A 16x8 FULLY_CONNECTED (int16 in and out, int8 weights, int64 bias, a
 * fused RELU) built as a TFLite file, imported and run: TFLite's values;
 * the same with an int32 bias; an int16 input with an int8 output refused. */
static void test_fully_connected_16x8_imports_and_runs(void **state)
{
    (void)state;
    const int in_shape[2] = { 1, 4 }, w_shape[2] = { 3, 4 }, b_shape[1] = { 3 }, out_shape[2] = { 1, 3 };
    const int8_t w[12] = { 10, -20, 30, -40, 5, 6, 7, 8, -100, 50, 0, 1 };
    const int64_t b64[3] = { 1000, -2000, 0 };
    const int32_t b32[3] = { 1000, -2000, 0 };
    const float s_in = 0.001f, s_w = 0.01f, s_out = 0.002f;
    const int16_t x[4] = { 1000, -2000, 3000, 30000 };
    for (int variant = 0; variant < 3; ++variant) {
        tfb *b = tfb_new();
        const int t_in = tfb_tensor(b, "x", 7, 2, in_shape, s_in, 0, NULL, 0, 0);
        const int t_w = tfb_tensor(b, "w", 9, 2, w_shape, s_w, 0, w, sizeof w, 0);
        const int t_b = variant == 1 ? tfb_tensor(b, "b", 2, 1, b_shape, s_in * s_w, 0, b32, sizeof b32, 0)
                                     : tfb_tensor(b, "b", 4, 1, b_shape, s_in * s_w, 0, b64, sizeof b64, 0);
        const int t_out = tfb_tensor(b, "y", variant == 2 ? 9 : 7, 2, out_shape, s_out, 0, NULL, 0, 0);
        const tfb_opt relu[] = { { 0, 'b', 1 }, { 0, 0, 0 } };
        const int ins[3] = { t_in, t_w, t_b };
        tfb_op(b, 9, ins, 3, &t_out, 1, 8, relu);
        size_t size;
        uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
        tfb_free(b);
        int16_t y[3];
        char error[256];
        const tl_status s = import_and_run(file, size, (const int8_t *)(const void *)x, 8, (int8_t *)(void *)y, 6, error,
                                           sizeof error);
        if (variant == 2) {
            assert_int_equal(s, TL_ERR_QUANT);
            assert_non_null(strstr(error, "operator 0 (FULLY_CONNECTED): 16x8 needs an int16 output"));
            continue;
        }
        assert_int_equal(s, TL_OK);
        int32_t m, shift;
        tl_quantize_multiplier((double)(s_in * s_w) / (double)s_out, &m, &shift);
        for (int o = 0; o < 3; ++o) {
            int64_t acc = b64[o];
            for (int d = 0; d < 4; ++d) {
                acc += (int64_t)w[o * 4 + d] * x[d];
            }
            int32_t v = variant == 1 ? tl_requantize((int32_t)acc, m, shift) : tl_requantize64(acc, m, shift);
            v = v < 0 ? 0 : (v > 32767 ? 32767 : v); /* RELU */
            assert_int_equal(y[o], v);
        }
    }
}

/* ADD, SUB and MUL of broadcasting shapes built as TFLite files: int8
 * [2, 3] op [3] and int16 [2, 3] op [2, 1]; each output within one step of
 * the real result, and exactly TFLite's formula. Shapes that do not
 * broadcast are refused, an input of higher rank than the output too, and
 * an operand read before any operator writes it. */
static void test_add_sub_mul_broadcast_in_int8_and_int16(void **state)
{
    (void)state;
    const int big[2] = { 2, 3 }, row[1] = { 3 }, col[2] = { 2, 1 }, bad[1] = { 2 };
    const int8_t a8[6] = { -100, -50, 0, 25, 50, 100 }, b8[3] = { -30, 7, 90 };
    const int16_t a16[6] = { -20000, -5000, 0, 300, 9000, 30000 }, b16[2] = { -1000, 2500 };
    const int builtins[3] = { 0, 41, 18 }, option_types[3] = { 11, 28, 21 };
    for (int wide = 0; wide < 2; ++wide) {
        for (int k = 0; k < 3; ++k) {
            const float s1 = 0.05f, s2 = wide ? 0.05f : 0.02f, so = k == 2 ? (wide ? 0.5f : 0.1f) : 0.08f;
            const int32_t z1 = wide ? 0 : 3, z2 = wide ? 0 : -5, zo = wide ? 0 : 1;
            tfb *b = tfb_new();
            const int type = wide ? 7 : 9;
            const int t1 = tfb_tensor(b, "a", type, 2, big, s1, z1, NULL, 0, 0);
            const int t2 = tfb_tensor(b, "b", type, wide ? 2 : 1, wide ? col : row, s2, z2, NULL, 0, 0);
            const int to = tfb_tensor(b, "y", type, 2, big, so, zo, NULL, 0, 0);
            const int ins[2] = { t1, t2 };
            const tfb_opt none[] = { { 0, 'b', 0 }, { 0, 0, 0 } };
            tfb_op(b, builtins[k], ins, 2, &to, 1, option_types[k], none);
            size_t size;
            uint8_t *file = tfb_finish(b, ins, 2, &to, 1, &size);
            tfb_free(b);
            tl_graph g;
            char error[256];
            assert_int_equal(tl_import_tflite(file, size, &g, error, sizeof error), TL_OK);
            free(file);
            uint8_t *tlm;
            size_t tlm_size;
            assert_int_equal(tl_graph_serialize(&g, &tlm, &tlm_size), TL_OK);
            tl_graph_free(&g);
            tl_model m;
            assert_int_equal(tl_model_load(&m, tlm, tlm_size, 0), TL_OK);
            uint8_t *arena = aligned_alloc(16, (tl_model_arena_size(&m) + 15) / 16 * 16 + 16);
            tl_interp it;
            assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
            memcpy(tl_interp_input(&it, 0, NULL), wide ? (const void *)a16 : (const void *)a8, wide ? 12 : 6);
            memcpy(tl_interp_input(&it, 1, NULL), wide ? (const void *)b16 : (const void *)b8, wide ? 4 : 3);
            assert_int_equal(tl_interp_invoke(&it), TL_OK);
            const void *y = tl_interp_output(&it, 0, NULL);
            for (int i = 0; i < 6; ++i) {
                const int32_t x1 = wide ? a16[i] : a8[i], x2 = wide ? b16[i / 3] : b8[i % 3];
                const double r1 = (x1 - z1) * (double)s1, r2 = (x2 - z2) * (double)s2;
                const double real = k == 0 ? r1 + r2 : k == 1 ? r1 - r2 : r1 * r2;
                const int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
                double q = round(real / so) + zo;
                q = q < lo ? lo : (q > hi ? hi : q);
                const int32_t got = wide ? ((const int16_t *)y)[i] : ((const int8_t *)y)[i];
                assert_true(fabs(q - got) <= 1.0);
                tl_op_rec rec;
                memset(&rec, 0, sizeof rec);
                int32_t want;
                if (k == 2) {
                    int32_t mult, shift;
                    tl_quantize_multiplier((double)s1 * (double)s2 / (double)so, &mult, &shift);
                    want = tl_requantize((x1 - z1) * (x2 - z2), mult, shift) + zo;
                } else {
                    assert_int_equal(tl_add_constants_shifted(s1, z1, s2, z2, so, zo, wide ? 15 : 20, &rec), TL_OK);
                    const int32_t sa = (x1 - z1) * (1 << rec.p[TL_ADD_LEFT_SHIFT]), sb = (x2 - z2) * (1 << rec.p[TL_ADD_LEFT_SHIFT]);
                    const int32_t ra = tl_rounding_divide_by_pot(tl_sat_rounding_doubling_high_mul(sa, rec.p[TL_ADD_INPUT1_MULT]), -rec.p[TL_ADD_INPUT1_SHIFT]);
                    const int32_t rb = tl_rounding_divide_by_pot(tl_sat_rounding_doubling_high_mul(sb, rec.p[TL_ADD_INPUT2_MULT]), -rec.p[TL_ADD_INPUT2_SHIFT]);
                    const int32_t sum = k == 0 ? ra + rb : ra - rb;
                    want = tl_rounding_divide_by_pot(tl_sat_rounding_doubling_high_mul(sum, rec.p[TL_ADD_OUTPUT_MULT]),
                                                     -rec.p[TL_ADD_OUTPUT_SHIFT]) + zo;
                }
                want = want < lo ? lo : (want > hi ? hi : want);
                assert_int_equal(got, want);
            }
            free(arena);
            free(tlm);
        }
    }
    tfb *b = tfb_new();
    const int t1 = tfb_tensor(b, "a", 9, 2, big, 0.05f, 0, NULL, 0, 0);
    const int t2 = tfb_tensor(b, "b", 9, 1, bad, 0.05f, 0, NULL, 0, 0);
    const int to = tfb_tensor(b, "y", 9, 2, big, 0.05f, 0, NULL, 0, 0);
    const int ins[2] = { t1, t2 };
    tfb_op(b, 18, ins, 2, &to, 1, 21, NULL);
    assert_import_refused(b, ins, 2, &to, 1, TL_ERR_SHAPE,
                          "operator 0 (MUL): input shapes do not broadcast");
    /* An input of higher rank than the output (found by fuzzing): [2, 3]
     * does not broadcast to [3]. */
    b = tfb_new();
    const int u1 = tfb_tensor(b, "a", 9, 2, big, 0.05f, 0, NULL, 0, 0);
    const int u2 = tfb_tensor(b, "b", 9, 1, row, 0.05f, 0, NULL, 0, 0);
    const int uo = tfb_tensor(b, "y", 9, 1, row, 0.05f, 0, NULL, 0, 0);
    const int uins[2] = { u1, u2 };
    tfb_op(b, 0, uins, 2, &uo, 1, 11, NULL);
    assert_import_refused(b, uins, 2, &uo, 1, TL_ERR_SHAPE,
                          "operator 0 (ADD): input shapes do not broadcast");
    /* An operand no operator has written yet (found by fuzzing): ADD reads
     * u, which the RELU after it writes. */
    b = tfb_new();
    const int w_x = tfb_tensor(b, "x", 9, 1, row, 0.05f, 0, NULL, 0, 0);
    const int w_u = tfb_tensor(b, "u", 9, 1, row, 0.05f, 0, NULL, 0, 0);
    const int w_y = tfb_tensor(b, "y", 9, 1, row, 0.05f, 0, NULL, 0, 0);
    const int add_ins[2] = { w_x, w_u };
    tfb_op(b, 0, add_ins, 2, &w_y, 1, 11, NULL);
    tfb_op(b, 19, &w_x, 1, &w_u, 1, 0, NULL);
    assert_import_refused(b, &w_x, 1, &w_y, 1, TL_ERR_FORMAT,
                          "operator 0 (ADD): reads tensor 'u' before any operator writes it");
    /* An operator writing its own input (RELU of x into x). */
    b = tfb_new();
    const int r_x = tfb_tensor(b, "x", 9, 1, row, 0.05f, 0, NULL, 0, 0);
    tfb_op(b, 19, &r_x, 1, &r_x, 1, 0, NULL);
    assert_import_refused(b, &r_x, 1, &r_x, 1, TL_ERR_FORMAT,
                          "operator 0 (RELU): writes tensor 'x', which it reads");
}

/* LEAKY_RELU (int8 and int16), RELU6 and RELU built as TFLite files:
 * every value TFLite's formula gives, within one step of the real one. */
static void test_relu_family_and_leaky_relu(void **state)
{
    (void)state;
    const int shape[1] = { 8 };
    const int8_t x8[8] = { -128, -60, -3, 0, 1, 50, 90, 127 };
    const int16_t x16[8] = { -32768, -9000, -7, 0, 3, 1000, 20000, 32767 };
    const int builtins[4] = { 98, 98, 21, 19 }; /* LEAKY_RELU int8, int16, RELU6, RELU */
    for (int k = 0; k < 4; ++k) {
        const int wide = k == 1;
        const float s_in = wide ? 0.001f : 0.05f, s_out = wide ? 0.0008f : 0.04f, alpha = 0.3f;
        const int32_t z_in = wide ? 0 : -4, z_out = wide ? 0 : 10;
        tfb *b = tfb_new();
        const int t_in = tfb_tensor(b, "x", wide ? 7 : 9, 1, shape, s_in, z_in, NULL, 0, 0);
        const int t_out = tfb_tensor(b, "y", wide ? 7 : 9, 1, shape, s_out, z_out, NULL, 0, 0);
        const tfb_opt leaky[] = { { 0, 'f', alpha }, { 0, 0, 0 } };
        tfb_op(b, builtins[k], &t_in, 1, &t_out, 1, k < 2 ? 75 : 0, k < 2 ? leaky : NULL);
        size_t size;
        uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
        tfb_free(b);
        int16_t y16[8];
        int8_t y8[8];
        char error[256];
        assert_int_equal(import_and_run(file, size, wide ? (const int8_t *)(const void *)x16 : x8, wide ? 16 : 8,
                                        wide ? (int8_t *)(void *)y16 : y8, wide ? 16 : 8, error, sizeof error), TL_OK);
        const int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
        int32_t m_id, s_id, m_a, s_a;
        tl_quantize_multiplier((double)(s_in / s_out), &m_id, &s_id);
        tl_quantize_multiplier((double)(s_in * alpha / s_out), &m_a, &s_a);
        for (int i = 0; i < 8; ++i) {
            const int32_t v = (wide ? x16[i] : x8[i]) - z_in;
            const double real = v * (double)s_in;
            double r = k < 2 ? (real < 0 ? alpha * real : real) : (real < 0 ? 0 : (k == 2 && real > 6 ? 6 : real));
            double q = round(r / s_out) + z_out;
            q = q < lo ? lo : (q > hi ? hi : q);
            int32_t want = tl_requantize(v, k < 2 && v < 0 ? m_a : m_id, k < 2 && v < 0 ? s_a : s_id) + z_out;
            if (k >= 2) {
                const int32_t top = k == 2 ? (int32_t)(roundf(6.0f / s_out) + z_out) : hi;
                want = want < z_out ? z_out : (want > top ? top : want);
            }
            want = want < lo ? lo : (want > hi ? hi : want);
            const int32_t got = wide ? y16[i] : y8[i];
            assert_int_equal(got, want);
            assert_true(fabs(q - got) <= 1.0);
        }
    }
}

/* PRELU with a constant per-channel alpha, and MUL and ADD whose second
 * operand is a constant (as converters leave a folded scale or bias):
 * built as TFLite files, every value TFLite's formula gives and within one
 * step of the real one; an alpha that does not broadcast is refused. */
static void test_prelu_and_constant_operands(void **state)
{
    (void)state;
    const int big[2] = { 2, 3 }, row[1] = { 3 }, bad[1] = { 2 };
    const int8_t x[6] = { -128, -40, -1, 0, 37, 127 }, alpha8[3] = { 20, -60, 127 };
    const float s_in = 0.05f, s_a = 0.004f, s_out = 0.06f;
    const int32_t z_in = 2, z_a = -8, z_out = -3;
    for (int k = 0; k < 3; ++k) { /* PRELU, MUL, ADD */
        tfb *b = tfb_new();
        const int t_in = tfb_tensor(b, "x", 9, 2, big, s_in, z_in, NULL, 0, 0);
        const int t_a = tfb_tensor(b, "alpha", 9, 1, row, s_a, z_a, alpha8, 3, 0);
        const int t_out = tfb_tensor(b, "y", 9, 2, big, s_out, z_out, NULL, 0, 0);
        const int ins[2] = { t_in, t_a };
        const tfb_opt none[] = { { 0, 'b', 0 }, { 0, 0, 0 } };
        tfb_op(b, k == 0 ? 54 : (k == 1 ? 18 : 0), ins, 2, &t_out, 1, k == 0 ? 0 : (k == 1 ? 21 : 11), k ? none : NULL);
        size_t size;
        uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
        tfb_free(b);
        int8_t y[6];
        char error[256];
        assert_int_equal(import_and_run(file, size, x, 6, y, 6, error, sizeof error), TL_OK);
        int32_t m1, s1, m2, s2;
        tl_quantize_multiplier((double)s_in / (double)s_out, &m1, &s1);
        tl_quantize_multiplier((double)s_in * (double)s_a / (double)s_out, &m2, &s2);
        for (int i = 0; i < 6; ++i) {
            const int32_t v = x[i] - z_in, a = alpha8[i % 3] - z_a;
            const double real = v * (double)s_in, ra = a * (double)s_a;
            const double r = k == 0 ? (real < 0 ? real * ra : real) : (k == 1 ? real * ra : real + ra);
            double q = round(r / s_out) + z_out;
            q = q < -128 ? -128 : (q > 127 ? 127 : q);
            assert_true(fabs(q - y[i]) <= 1.0);
            if (k < 2) {
                int32_t want = (k == 0 && v >= 0 ? tl_requantize(v, m1, s1) : tl_requantize(v * a, m2, s2)) + z_out;
                want = want < -128 ? -128 : (want > 127 ? 127 : want);
                assert_int_equal(y[i], want);
            }
        }
    }
    tfb *b = tfb_new();
    const int t_in = tfb_tensor(b, "x", 9, 2, big, s_in, z_in, NULL, 0, 0);
    const int t_a = tfb_tensor(b, "alpha", 9, 1, bad, s_a, z_a, alpha8, 2, 0);
    const int t_out = tfb_tensor(b, "y", 9, 2, big, s_out, z_out, NULL, 0, 0);
    const int ins[2] = { t_in, t_a };
    tfb_op(b, 54, ins, 2, &t_out, 1, 0, NULL);
    assert_import_refused(b, &t_in, 1, &t_out, 1, TL_ERR_SHAPE,
                          "operator 0 (PRELU): alpha does not broadcast to the input");
}

/* HARD_SWISH built as TFLite files at input scales whose relu-ish
 * multiplier shifts right, a little left and far left: on all 256 inputs
 * within one step of x * relu6(x + 3) / 6, exactly the output's zero point
 * at and below -3. */
static void test_hard_swish_follows_x_relu6_x_plus_3_over_6(void **state)
{
    (void)state;
    const int shape[2] = { 1, 256 };
    int8_t x[256], y[256];
    for (int i = 0; i < 256; ++i) {
        x[i] = (int8_t)(i - 128);
    }
    const float in_scales[3] = { 0.005f, 0.05f, 0.5f }, out_scales[3] = { 0.004f, 0.03f, 0.4f };
    for (int k = 0; k < 3; ++k) {
        const int32_t z_in = 5, z_out = k == 0 ? 0 : -110;
        tfb *b = tfb_new();
        const int t_in = tfb_tensor(b, "x", 9, 2, shape, in_scales[k], z_in, NULL, 0, 0);
        const int t_out = tfb_tensor(b, "y", 9, 2, shape, out_scales[k], z_out, NULL, 0, 0);
        tfb_op(b, 117, &t_in, 1, &t_out, 1, 0, NULL);
        size_t size;
        uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
        tfb_free(b);
        char error[256];
        assert_int_equal(import_and_run(file, size, x, 256, y, 256, error, sizeof error), TL_OK);
        for (int i = 0; i < 256; ++i) {
            const double r = (x[i] - z_in) * (double)in_scales[k];
            const double relu6 = r + 3 < 0 ? 0 : (r + 3 > 6 ? 6 : r + 3);
            double q = round(r * relu6 / 6 / out_scales[k]) + z_out;
            q = q < -128 ? -128 : (q > 127 ? 127 : q);
            assert_true(fabs(q - y[i]) <= 1.0);
            if (r <= -3) {
                assert_int_equal(y[i], z_out);
            }
        }
    }
}

/* A TFLite file of one RESIZE_NEAREST_NEIGHBOR (builtin 97) or
 * RESIZE_BILINEAR (23) of a 1 x 3 x 4 x 2 image, int8 or int16 (wide), to
 * size[0] x size[1], the output at out_scale (the input's is 0.1). */
static tfb *resize_model(int builtin, int wide, float out_scale, const int32_t size[2], int align_corners,
                         int half_pixel, int *t_in, int *t_out)
{
    const int in_shape[4] = { 1, 3, 4, 2 }, out_shape[4] = { 1, size[0], size[1], 2 }, size_shape[1] = { 2 };
    tfb *b = tfb_new();
    *t_in = tfb_tensor(b, "x", wide ? 7 : 9, 4, in_shape, 0.1f, 0, NULL, 0, 0);
    const int t_size = tfb_tensor(b, "size", 2, 1, size_shape, 0, 0, size, 8, 0);
    *t_out = tfb_tensor(b, "y", wide ? 7 : 9, 4, out_shape, out_scale, 0, NULL, 0, 0);
    const int ins[2] = { *t_in, t_size };
    const int first = builtin == 23 ? 2 : 0; /* bilinear's options start after two deprecated fields */
    const tfb_opt opts[] = { { first, 'b', align_corners }, { first + 1, 'b', half_pixel }, { 0, 0, 0 } };
    tfb_op(b, builtin, ins, 2, t_out, 1, builtin == 23 ? 15 : 74, opts);
    return b;
}

/* That model imported and run on x (mode 0 plain, 1 align_corners, 2
 * half_pixel_centers), its output into y. */
static void run_resize(int builtin, int wide, const int32_t size[2], int mode, const void *x, void *y)
{
    int t_in, t_out;
    tfb *b = resize_model(builtin, wide, 0.1f, size, mode == 1, mode == 2, &t_in, &t_out);
    size_t n;
    uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &n);
    tfb_free(b);
    char error[256];
    const size_t bytes = (size_t)(wide ? 2 : 1);
    assert_int_equal(import_and_run(file, n, x, 24 * bytes, y, (size_t)(size[0] * size[1] * 2) * bytes, error,
                                    sizeof error), TL_OK);
}

/* RESIZE_NEAREST_NEIGHBOR of a 3 x 4 image with two channels to 5 x 7
 * (int8) and 2 x 2 (int16), plain, with align_corners and with
 * half_pixel_centers: each output pixel is the input pixel TFLite's
 * nearest-neighbour rule picks. Differing quantisation is refused. */
static void test_resize_nearest_neighbor_picks_tflites_source_pixels(void **state)
{
    (void)state;
    const int32_t sizes[2][2] = { { 5, 7 }, { 2, 2 } };
    int16_t x[24];
    int8_t x8[24];
    for (int i = 0; i < 24; ++i) {
        x[i] = (int16_t)(i * 5 - 60);
        x8[i] = (int8_t)x[i];
    }
    for (int wide = 0; wide < 2; ++wide) {
        for (int mode = 0; mode < 3; ++mode) { /* plain, align_corners, half_pixel_centers */
            const int32_t oh = sizes[wide][0], ow = sizes[wide][1];
            int16_t y[5 * 7 * 2];
            run_resize(97, wide, sizes[wide], mode, wide ? (const void *)x : (const void *)x8, y);
            for (int r = 0; r < oh; ++r) {
                for (int c = 0; c < ow; ++c) {
                    int32_t sr, sc;
                    if (mode == 1) {
                        sr = (int32_t)round(r * (3.0 - 1) / (oh - 1));
                        sc = (int32_t)round(c * (4.0 - 1) / (ow - 1));
                    } else {
                        const double half = mode == 2 ? 0.5 : 0.0;
                        sr = (int32_t)floor((r + half) * 3.0 / oh);
                        sc = (int32_t)floor((c + half) * 4.0 / ow);
                    }
                    sr = sr > 2 ? 2 : sr;
                    sc = sc > 3 ? 3 : sc;
                    for (int ch = 0; ch < 2; ++ch) {
                        const int32_t want = x[(sr * 4 + sc) * 2 + ch];
                        const int32_t got = wide ? y[(r * ow + c) * 2 + ch] : ((const int8_t *)(const void *)y)[(r * ow + c) * 2 + ch];
                        assert_int_equal(got, want);
                    }
                }
            }
        }
    }
    int t_in, t_out;
    tfb *b = resize_model(97, 0, 0.2f, sizes[0], 0, 0, &t_in, &t_out);
    assert_import_refused(b, &t_in, 1, &t_out, 1, TL_ERR_QUANT,
                          "operator 0 (RESIZE_NEAREST_NEIGHBOR): input and output must share type and quantisation");
}

/* TRANSPOSE of int16 (16x8 models) built as a TFLite file: [2, 3] to
 * [3, 2], each element where the permutation puts it. */
static void test_transpose_of_int16_moves_each_element(void **state)
{
    (void)state;
    const int in_shape[2] = { 2, 3 }, out_shape[2] = { 3, 2 }, perm_shape[1] = { 2 };
    const int32_t perm[2] = { 1, 0 };
    const int16_t x[6] = { -30000, -2, 7, 300, 12345, 32767 };
    tfb *b = tfb_new();
    const int t_in = tfb_tensor(b, "x", 7, 2, in_shape, 0.001f, 0, NULL, 0, 0);
    const int t_perm = tfb_tensor(b, "perm", 2, 1, perm_shape, 0, 0, perm, 8, 0);
    const int t_out = tfb_tensor(b, "y", 7, 2, out_shape, 0.001f, 0, NULL, 0, 0);
    const int ins[2] = { t_in, t_perm };
    tfb_op(b, 39, ins, 2, &t_out, 1, 0, NULL);
    size_t size;
    uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
    tfb_free(b);
    int16_t y[6];
    char error[256];
    assert_int_equal(import_and_run(file, size, (const int8_t *)(const void *)x, 12, (int8_t *)(void *)y, 12, error,
                                    sizeof error), TL_OK);
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 2; ++c) {
            assert_int_equal(y[r * 2 + c], x[c * 3 + r]);
        }
    }
}

/* BATCH_MATMUL built as TFLite files: [2, 3, 4] x a constant [4, 5] that
 * repeats over the batch, and [2, 4, 3] x [2, 5, 4] both read transposed
 * (adj_x, adj_y) with the second an input of its own; every value TFLite's
 * integer formula gives, within one step of the real product. Inner
 * dimensions that differ, an output shape that does not follow and batch
 * dimensions that do not broadcast are refused. */
static void test_batch_matmul_with_repeated_and_transposed_sides(void **state)
{
    (void)state;
    int8_t lhs[24], rhs[40];
    for (int i = 0; i < 24; ++i) {
        lhs[i] = (int8_t)((i * 37) % 256 - 128);
    }
    for (int i = 0; i < 40; ++i) {
        rhs[i] = (int8_t)((i * 53 + 11) % 256 - 128);
    }
    const float s_l = 0.02f, s_r = 0.03f, s_o = 0.25f;
    const int32_t z_l = 4, z_r = -6, z_o = 2;
    for (int adj = 0; adj < 2; ++adj) {
        const int l_shape[3] = { 2, adj ? 4 : 3, adj ? 3 : 4 }, r_shape[3] = { 2, adj ? 5 : 4, adj ? 4 : 5 };
        const int o_shape[3] = { 2, 3, 5 };
        tfb *b = tfb_new();
        const int t_l = tfb_tensor(b, "lhs", 9, 3, l_shape, s_l, z_l, NULL, 0, 0);
        const int t_r = adj ? tfb_tensor(b, "rhs", 9, 3, r_shape, s_r, z_r, NULL, 0, 0)
                            : tfb_tensor(b, "rhs", 9, 2, r_shape + 1, s_r, z_r, rhs, 20, 0);
        const int t_o = tfb_tensor(b, "y", 9, 3, o_shape, s_o, z_o, NULL, 0, 0);
        const int ins[2] = { t_l, t_r };
        const tfb_opt opts[] = { { 0, 'b', adj }, { 1, 'b', adj }, { 0, 0, 0 } };
        tfb_op(b, 126, ins, 2, &t_o, 1, 0, opts);
        size_t size;
        uint8_t *file = tfb_finish(b, ins, adj ? 2 : 1, &t_o, 1, &size);
        tfb_free(b);
        tl_graph g;
        char error[256];
        assert_int_equal(tl_import_tflite(file, size, &g, error, sizeof error), TL_OK);
        free(file);
        uint8_t *tlm;
        size_t tlm_size;
        assert_int_equal(tl_graph_serialize(&g, &tlm, &tlm_size), TL_OK);
        tl_graph_free(&g);
        tl_model m;
        assert_int_equal(tl_model_load(&m, tlm, tlm_size, 0), TL_OK);
        uint8_t *arena = aligned_alloc(16, (tl_model_arena_size(&m) + 15) / 16 * 16 + 16);
        tl_interp it;
        assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
        memcpy(tl_interp_input(&it, 0, NULL), lhs, 24);
        if (adj) {
            memcpy(tl_interp_input(&it, 1, NULL), rhs, 40);
        }
        assert_int_equal(tl_interp_invoke(&it), TL_OK);
        const int8_t *y = tl_interp_output(&it, 0, NULL);
        int32_t mult, shift;
        tl_quantize_multiplier((double)(s_l * s_r) / (double)s_o, &mult, &shift);
        for (int bt = 0; bt < 2; ++bt) {
            for (int r = 0; r < 3; ++r) {
                for (int c = 0; c < 5; ++c) {
                    int32_t acc = 0;
                    for (int k = 0; k < 4; ++k) {
                        const int32_t l = adj ? lhs[bt * 12 + k * 3 + r] : lhs[bt * 12 + r * 4 + k];
                        const int32_t x = adj ? rhs[bt * 20 + c * 4 + k] : rhs[k * 5 + c];
                        acc += (l - z_l) * (x - z_r);
                    }
                    int32_t want = tl_requantize(acc, mult, shift) + z_o;
                    want = want < -128 ? -128 : (want > 127 ? 127 : want);
                    const int8_t got = y[(bt * 3 + r) * 5 + c];
                    assert_int_equal(got, want);
                    double q = round(acc * (double)s_l * (double)s_r / (double)s_o) + z_o;
                    q = q < -128 ? -128 : (q > 127 ? 127 : q);
                    assert_true(fabs(q - got) <= 1.0);
                }
            }
        }
        free(arena);
        free(tlm);
    }
    const int l_shape[2] = { 3, 4 }, r_shape[2] = { 3, 5 }, o_shape[2] = { 3, 5 };
    tfb *b = tfb_new();
    const int t_l = tfb_tensor(b, "lhs", 9, 2, l_shape, s_l, z_l, NULL, 0, 0);
    const int t_r = tfb_tensor(b, "rhs", 9, 2, r_shape, s_r, z_r, rhs, 15, 0);
    const int t_o = tfb_tensor(b, "y", 9, 2, o_shape, s_o, z_o, NULL, 0, 0);
    const int ins[2] = { t_l, t_r };
    tfb_op(b, 126, ins, 2, &t_o, 1, 0, NULL);
    assert_import_refused(b, &t_l, 1, &t_o, 1, TL_ERR_SHAPE,
                          "operator 0 (BATCH_MATMUL): inner dimensions differ");
    /* An output whose shape does not follow from the inputs' (found by
     * fuzzing: [3, 4] x [4, 5] said to give [3, 4]), and batch dimensions
     * that do not broadcast ([2, 3, 4] x [3, 4, 5] into [2, 3, 5]). */
    const int r_ok[2] = { 4, 5 }, o_bad[2] = { 3, 4 };
    b = tfb_new();
    const int u_l = tfb_tensor(b, "lhs", 9, 2, l_shape, s_l, z_l, NULL, 0, 0);
    const int u_r = tfb_tensor(b, "rhs", 9, 2, r_ok, s_r, z_r, rhs, 20, 0);
    const int u_o = tfb_tensor(b, "y", 9, 2, o_bad, s_o, z_o, NULL, 0, 0);
    const int uins[2] = { u_l, u_r };
    tfb_op(b, 126, uins, 2, &u_o, 1, 0, NULL);
    assert_import_refused(b, &u_l, 1, &u_o, 1, TL_ERR_SHAPE,
                          "operator 0 (BATCH_MATMUL): output shape does not follow from the inputs'");
    const int l3[3] = { 2, 3, 4 }, r3[3] = { 3, 4, 5 }, o3[3] = { 2, 3, 5 };
    b = tfb_new();
    const int v_l = tfb_tensor(b, "lhs", 9, 3, l3, s_l, z_l, NULL, 0, 0);
    const int v_r = tfb_tensor(b, "rhs", 9, 3, r3, s_r, z_r, NULL, 0, 0);
    const int v_o = tfb_tensor(b, "y", 9, 3, o3, s_o, z_o, NULL, 0, 0);
    const int vins[2] = { v_l, v_r };
    tfb_op(b, 126, vins, 2, &v_o, 1, 0, NULL);
    assert_import_refused(b, vins, 2, &v_o, 1, TL_ERR_SHAPE,
                          "operator 0 (BATCH_MATMUL): batch dimensions do not broadcast to the output's");
    /* An output scale of 0: no multiplier (found by fuzzing). */
    b = tfb_new();
    const int q_l = tfb_tensor(b, "lhs", 9, 2, l_shape, s_l, z_l, NULL, 0, 0);
    const int q_r = tfb_tensor(b, "rhs", 9, 2, r_ok, s_r, z_r, rhs, 20, 0);
    const int q_o = tfb_tensor(b, "y", 9, 2, o_shape, 0.0f, z_o, NULL, 0, 0);
    const int qins[2] = { q_l, q_r };
    tfb_op(b, 126, qins, 2, &q_o, 1, 0, NULL);
    assert_import_refused(b, &q_l, 1, &q_o, 1, TL_ERR_QUANT,
                          "operator 0 (BATCH_MATMUL): zero point or scales out of int8's range");
}

/* Real bilinear interpolation at `at` along an axis of `size` pixels. */
static void bilinear_axis(double at, int size, int *lo, int *hi, double *frac)
{
    at = at < 0 ? 0 : at;
    *lo = (int)floor(at);
    *lo = *lo > size - 1 ? size - 1 : *lo;
    *hi = *lo + 1 > size - 1 ? size - 1 : *lo + 1;
    *frac = at - *lo;
    *frac = *frac > 1 ? 1 : *frac;
}

/* RESIZE_BILINEAR of a 3 x 4 image with two channels to 5 x 7 (int8) and
 * 6 x 2 (int16), plain, with align_corners and with half_pixel_centers:
 * each output within one step of real bilinear interpolation (TFLite's
 * positions are in 1/1024ths of a pixel); both flags at once are refused. */
static void test_resize_bilinear_interpolates_within_a_step(void **state)
{
    (void)state;
    const int32_t sizes[2][2] = { { 5, 7 }, { 6, 2 } };
    int16_t x[24];
    int8_t x8[24];
    for (int i = 0; i < 24; ++i) {
        x[i] = (int16_t)((i * 7919) % 2000 - 1000) * (int16_t)16;
        x8[i] = (int8_t)((i * 97) % 256 - 128);
    }
    for (int wide = 0; wide < 2; ++wide) {
        for (int mode = 0; mode < 3; ++mode) { /* plain, align_corners, half_pixel_centers */
            const int32_t oh = sizes[wide][0], ow = sizes[wide][1];
            int16_t y[5 * 7 * 2];
            run_resize(23, wide, sizes[wide], mode, wide ? (const void *)x : (const void *)x8, y);
            for (int r = 0; r < oh; ++r) {
                for (int c = 0; c < ow; ++c) {
                    double ay, ax;
                    if (mode == 1) {
                        ay = oh > 1 ? r * 2.0 / (oh - 1) : 0;
                        ax = ow > 1 ? c * 3.0 / (ow - 1) : 0;
                    } else if (mode == 2) {
                        ay = (r + 0.5) * 3.0 / oh - 0.5;
                        ax = (c + 0.5) * 4.0 / ow - 0.5;
                    } else {
                        ay = r * 3.0 / oh;
                        ax = c * 4.0 / ow;
                    }
                    int y0, y1, x0, x1;
                    double fy, fx;
                    bilinear_axis(ay, 3, &y0, &y1, &fy);
                    bilinear_axis(ax, 4, &x0, &x1, &fx);
                    for (int ch = 0; ch < 2; ++ch) {
#define PIXEL(yy, xx) (wide ? x[((yy) * 4 + (xx)) * 2 + ch] : x8[((yy) * 4 + (xx)) * 2 + ch])
                        const double real = PIXEL(y0, x0) * (1 - fy) * (1 - fx) + PIXEL(y1, x0) * fy * (1 - fx) +
                                            PIXEL(y0, x1) * (1 - fy) * fx + PIXEL(y1, x1) * fy * fx;
#undef PIXEL
                        const int32_t got = wide ? y[(r * ow + c) * 2 + ch] : ((const int8_t *)(const void *)y)[(r * ow + c) * 2 + ch];
                        /* TFLite's scale is rounded to 1/1024 of a pixel: a
                         * position off by up to 1/2048 on each axis, which
                         * between int16 neighbours 32000 apart is 16 steps
                         * each; int8 neighbours are too close for that to
                         * show beyond a step. */
                        assert_true(fabs(real - got) <= (wide ? 33.0 : 1.0));
                    }
                }
            }
        }
    }
    int t_in, t_out;
    tfb *b = resize_model(23, 0, 0.1f, sizes[0], 1, 1, &t_in, &t_out);
    assert_import_refused(b, &t_in, 1, &t_out, 1, TL_ERR_FORMAT,
                          "operator 0 (RESIZE_BILINEAR): align_corners and half_pixel_centers exclude each other");
}

/* LOGISTIC and TANH of int16 built as TFLite files, at a power-of-two
 * input scale (2^-12; 2^-11 for TANH, whose shift TFLite folds too; 2^-13
 * for LOGISTIC, whose it does not) and at 0.0003: each output within three
 * 2^-15 steps of the real function over the whole
 * int16 range. An output not at 1/32768 is refused. */
static void test_logistic_and_tanh_of_int16(void **state)
{
    (void)state;
    enum { N = 1024 };
    const int shape[1] = { N };
    int16_t x[N], y[N];
    for (int i = 0; i < N; ++i) {
        x[i] = (int16_t)(-32768 + i * 64 + (i % 7) * 9);
    }
    const int builtins[2] = { 14, 28 };
    for (int k = 0; k < 2; ++k) {
        const float in_scales[3] = { 1.0f / 4096, k ? 1.0f / 2048 : 1.0f / 8192, 0.0003f };
        for (int sc = 0; sc < 3; ++sc) {
            tfb *b = tfb_new();
            const int t_in = tfb_tensor(b, "x", 7, 1, shape, in_scales[sc], 0, NULL, 0, 0);
            const int t_out = tfb_tensor(b, "y", 7, 1, shape, 1.0f / 32768, 0, NULL, 0, 0);
            tfb_op(b, builtins[k], &t_in, 1, &t_out, 1, 0, NULL);
            size_t size;
            uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
            tfb_free(b);
            char error[256];
            assert_int_equal(import_and_run(file, size, (const int8_t *)(const void *)x, 2 * N, (int8_t *)(void *)y,
                                            2 * N, error, sizeof error), TL_OK);
            double worst = 0;
            for (int i = 0; i < N; ++i) {
                const double r = x[i] * (double)in_scales[sc];
                double want = (k ? tanh(r) : 1 / (1 + exp(-r))) * 32768;
                want = want > 32767 ? 32767 : want;
                const double e = fabs(want - y[i]);
                worst = e > worst ? e : worst;
            }
            assert_true(worst <= 3.0); /* measured: at most 2.4 steps */
        }
    }
    tfb *b = tfb_new();
    const int t_in = tfb_tensor(b, "x", 7, 1, shape, 1.0f / 4096, 0, NULL, 0, 0);
    const int t_out = tfb_tensor(b, "y", 7, 1, shape, 1.0f / 256, 0, NULL, 0, 0);
    tfb_op(b, 14, &t_in, 1, &t_out, 1, 0, NULL);
    assert_import_refused(b, &t_in, 1, &t_out, 1, TL_ERR_QUANT,
                          "operator 0 (LOGISTIC): int16 needs zero points of 0 and an int16 output at scale 1/32768");
}

/* MEAN of int16 over H and W built as a TFLite file: each output the
 * rounded mean of its channel rescaled, within one step of the real one. */
static void test_mean_of_int16_imports_and_runs(void **state)
{
    (void)state;
    const int in_shape[4] = { 1, 2, 3, 4 }, out_shape[4] = { 1, 1, 1, 4 }, axes_shape[1] = { 2 };
    const int32_t axes[2] = { 1, 2 };
    int16_t x[24], y[4];
    for (int i = 0; i < 24; ++i) {
        x[i] = (int16_t)(i * 2731 - 30000);
    }
    const float s_in = 0.001f, s_out = 0.0007f;
    tfb *b = tfb_new();
    const int t_in = tfb_tensor(b, "x", 7, 4, in_shape, s_in, 0, NULL, 0, 0);
    const int t_axes = tfb_tensor(b, "axes", 2, 1, axes_shape, 0, 0, axes, 8, 0);
    const int t_out = tfb_tensor(b, "y", 7, 4, out_shape, s_out, 0, NULL, 0, 0);
    const int ins[2] = { t_in, t_axes };
    const tfb_opt keep[] = { { 0, 'b', 1 }, { 0, 0, 0 } };
    tfb_op(b, 40, ins, 2, &t_out, 1, 27, keep);
    size_t size;
    uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
    tfb_free(b);
    char error[256];
    assert_int_equal(import_and_run(file, size, (const int8_t *)(const void *)x, 48, (int8_t *)(void *)y, 8, error,
                                    sizeof error), TL_OK);
    for (int c = 0; c < 4; ++c) {
        double sum = 0;
        for (int p = 0; p < 6; ++p) {
            sum += x[p * 4 + c];
        }
        const double want = round(sum / 6 * (double)s_in / (double)s_out);
        assert_true(fabs(want - y[c]) <= 1.0);
    }
}

/* AVERAGE_POOL_2D and MAX_POOL_2D of int16 built as TFLite files: a 5 x 5
 * image with two channels, 3 x 3 windows at stride 2 with SAME padding,
 * the second with a fused RELU; each output the naive average (taps inside
 * the image, rounded half away from zero) or maximum. */
static void test_pooling_of_int16(void **state)
{
    (void)state;
    const int in_shape[4] = { 1, 5, 5, 2 }, out_shape[4] = { 1, 3, 3, 2 };
    int16_t x[50], y[18];
    for (int i = 0; i < 50; ++i) {
        x[i] = (int16_t)((i * 7717) % 60000 - 30000);
    }
    for (int k = 0; k < 2; ++k) { /* AVERAGE_POOL_2D, MAX_POOL_2D */
        tfb *b = tfb_new();
        const int t_in = tfb_tensor(b, "x", 7, 4, in_shape, 0.01f, 0, NULL, 0, 0);
        const int t_out = tfb_tensor(b, "y", 7, 4, out_shape, 0.01f, 0, NULL, 0, 0);
        const tfb_opt opts[] = { { 0, 'b', 0 }, { 1, 'i', 2 }, { 2, 'i', 2 }, { 3, 'i', 3 }, { 4, 'i', 3 },
                                 { 5, 'b', k }, { 0, 0, 0 } };
        tfb_op(b, k ? 17 : 1, &t_in, 1, &t_out, 1, 5, opts);
        size_t size;
        uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
        tfb_free(b);
        char error[256];
        assert_int_equal(import_and_run(file, size, (const int8_t *)(const void *)x, 100, (int8_t *)(void *)y, 36, error,
                                        sizeof error), TL_OK);
        for (int oy = 0; oy < 3; ++oy) {
            for (int ox = 0; ox < 3; ++ox) {
                for (int c = 0; c < 2; ++c) {
                    int32_t sum = 0, n = 0, best = -32768;
                    for (int iy = oy * 2 - 1; iy <= oy * 2 + 1; ++iy) {
                        for (int ix = ox * 2 - 1; ix <= ox * 2 + 1; ++ix) {
                            if (iy >= 0 && iy < 5 && ix >= 0 && ix < 5) {
                                const int32_t v = x[(iy * 5 + ix) * 2 + c];
                                sum += v;
                                ++n;
                                best = v > best ? v : best;
                            }
                        }
                    }
                    int32_t want = k ? best : (sum > 0 ? (sum + n / 2) / n : (sum - n / 2) / n);
                    want = k && want < 0 ? 0 : want; /* MAX_POOL_2D's fused RELU */
                    assert_int_equal(y[(oy * 3 + ox) * 2 + c], want);
                }
            }
        }
    }
}

/* An operator tinylarge does not run is refused by its index and TFLite's
 * name for it, also for builtins past the deprecated one-byte codes. */
static void test_unsupported_operators_are_refused_by_name(void **state)
{
    (void)state;
    const int shape[1] = { 4 };
    const int builtins[2] = { 116, 125 };
    const char *const names[2] = { "operator 0 (ROUND): operator is not supported by tinylarge",
                                   "operator 0 (SEGMENT_SUM): operator is not supported by tinylarge" };
    for (int k = 0; k < 2; ++k) {
        tfb *b = tfb_new();
        const int t_in = tfb_tensor(b, "x", 9, 1, shape, 0.1f, 0, NULL, 0, 0);
        const int t_out = tfb_tensor(b, "y", 9, 1, shape, 0.1f, 0, NULL, 0, 0);
        tfb_op(b, builtins[k], &t_in, 1, &t_out, 1, 0, NULL);
        size_t size;
        uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
        tfb_free(b);
        tl_graph g;
        char error[256];
        assert_int_equal(tl_import_tflite(file, size, &g, error, sizeof error), TL_ERR_UNSUPPORTED);
        assert_non_null(strstr(error, names[k]));
        free(file);
    }
}

/* SOFTMAX with int16 in and out built as a TFLite file: TFLite's tables
 * (their ends worked out), each probability within a few 2^-15 steps of the
 * real softmax, rows summing to about one; an int16 softmax whose output is
 * not at 1/32768 is refused. */
static void test_softmax_int16_in_and_out(void **state)
{
    (void)state;
    int16_t exp_lut[513], rec_lut[513];
    tl_softmax16_tables(exp_lut, rec_lut);
    assert_int_equal(exp_lut[512], 32767);  /* exp(0) = 1, saturated */
    assert_int_equal(exp_lut[0], 2);        /* round(1.49), less the midpoint bias round(-1 / 2) */
    assert_int_equal(rec_lut[0], 32767);    /* 1 / (1 + 0), saturated */
    assert_int_equal(rec_lut[512], 16384);  /* 1 / 2 */
    const int shape[2] = { 2, 5 };
    const int16_t x[10] = { 0, 1000, 2000, 3000, 4000, -32768, 0, 32767, 100, 100 };
    for (int bad = 0; bad < 2; ++bad) {
        const float s_in = 0.0005f;
        tfb *b = tfb_new();
        const int t_in = tfb_tensor(b, "x", 7, 2, shape, s_in, 0, NULL, 0, 0);
        const int t_out = tfb_tensor(b, "y", 7, 2, shape, bad ? 1.0f / 256 : 1.0f / 32768, 0, NULL, 0, 0);
        const tfb_opt beta[] = { { 0, 'f', 1.0 }, { 0, 0, 0 } };
        tfb_op(b, 25, &t_in, 1, &t_out, 1, 9, beta);
        size_t size;
        uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
        tfb_free(b);
        int16_t y[10];
        char error[256];
        const tl_status s = import_and_run(file, size, (const int8_t *)(const void *)x, 20, (int8_t *)(void *)y, 20, error,
                                           sizeof error);
        if (bad) {
            assert_int_equal(s, TL_ERR_QUANT);
            assert_non_null(strstr(error, "output must be int16 at scale 1/32768"));
            continue;
        }
        assert_int_equal(s, TL_OK);
        for (int r = 0; r < 2; ++r) {
            double max = -1e9, sum = 0;
            int32_t total = 0;
            for (int c = 0; c < 5; ++c) {
                max = x[r * 5 + c] * (double)s_in > max ? x[r * 5 + c] * (double)s_in : max;
            }
            for (int c = 0; c < 5; ++c) {
                sum += exp(x[r * 5 + c] * (double)s_in - max);
            }
            for (int c = 0; c < 5; ++c) {
                const double want = exp(x[r * 5 + c] * (double)s_in - max) / sum * 32768.0;
                assert_true(fabs(want - y[r * 5 + c]) <= 64.0); /* the tables' interpolation, 2^-9 */
                total += y[r * 5 + c];
            }
            assert_true(abs(total - 32768) <= 128);
        }
    }
}

/* TRANSPOSE_CONV built as TFLite files, int8 (an int32 bias, non-zero
 * zero points) and 16x8 (an int64 bias), stride 2, SAME and VALID: every
 * output equals TFLite's scatter into a scratch of sums (done naively
 * here), then bias, requantisation and clamp. */
static void test_transpose_conv_matches_the_scatter(void **state)
{
    (void)state;
    const int in_shape[4] = { 1, 2, 3, 2 }, w_shape[4] = { 2, 3, 3, 2 }, b_shape[1] = { 2 }, os_shape[1] = { 4 };
    int8_t w[36];
    for (int i = 0; i < 36; ++i) {
        w[i] = (int8_t)((i * 37) % 255 - 127);
    }
    const int32_t b32[2] = { 300, -700 };
    const int64_t b64[2] = { 30000, -70000 };
    const int8_t x8[12] = { -128, -50, 0, 10, 77, 127, -3, 4, 90, -90, 33, 1 };
    const int16_t x16[12] = { -32768, -5000, 0, 1000, 7777, 32767, -300, 400, 9000, -9000, 3333, 100 };
    for (int variant = 0; variant < 3; ++variant) {
        const int wide = variant == 2, same = variant != 1;
        const int out_h = same ? 4 : 5, out_w = same ? 6 : 7;
        const int out_shape[4] = { 1, out_h, out_w, 2 };
        const int32_t output_shape[4] = { 1, out_h, out_w, 2 };
        const float s_in = wide ? 0.001f : 0.05f, s_w = 0.01f, s_out = wide ? 0.002f : 0.3f;
        const int32_t z_in = wide ? 0 : 5, z_out = wide ? 0 : -7;
        tfb *b = tfb_new();
        const int t_os = tfb_tensor(b, "shape", 2, 1, os_shape, 0, 0, output_shape, sizeof output_shape, 0);
        const int t_w = tfb_tensor(b, "w", 9, 4, w_shape, s_w, 0, w, sizeof w, 0);
        const int t_in = tfb_tensor(b, "x", wide ? 7 : 9, 4, in_shape, s_in, z_in, NULL, 0, 0);
        const int t_b = wide ? tfb_tensor(b, "b", 4, 1, b_shape, s_in * s_w, 0, b64, sizeof b64, 0)
                             : tfb_tensor(b, "b", 2, 1, b_shape, s_in * s_w, 0, b32, sizeof b32, 0);
        const int t_out = tfb_tensor(b, "y", wide ? 7 : 9, 4, out_shape, s_out, z_out, NULL, 0, 0);
        const tfb_opt opt[] = { { 0, 'b', same ? 0 : 1 }, { 1, 'i', 2 }, { 2, 'i', 2 }, { 0, 0, 0 } };
        const int ins[4] = { t_os, t_w, t_in, t_b };
        tfb_op(b, 67, ins, 4, &t_out, 1, 49, opt);
        size_t size;
        uint8_t *file = tfb_finish(b, &t_in, 1, &t_out, 1, &size);
        tfb_free(b);
        union { int8_t s8[70]; int16_t s16[70]; } y;
        char error[256];
        assert_int_equal(import_and_run(file, size, wide ? (const int8_t *)(const void *)x16 : x8, wide ? 24 : 12,
                                        y.s8, (size_t)(out_h * out_w * 2 * (wide ? 2 : 1)), error, sizeof error), TL_OK);
        int64_t scratch[70];
        memset(scratch, 0, sizeof scratch);
        const int pad_h = same ? ((2 - 1) * 2 + 3 - out_h) / 2 : 0, pad_w = same ? ((3 - 1) * 2 + 3 - out_w) / 2 : 0;
        for (int iy = 0; iy < 2; ++iy)
        for (int ix = 0; ix < 3; ++ix)
        for (int ic = 0; ic < 2; ++ic)
        for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx) {
            const int oy = iy * 2 - (pad_h > 0 ? pad_h : 0) + ky, ox = ix * 2 - (pad_w > 0 ? pad_w : 0) + kx;
            if (oy < 0 || oy >= out_h || ox < 0 || ox >= out_w) {
                continue;
            }
            for (int oc = 0; oc < 2; ++oc) {
                const int32_t v = (wide ? x16[(iy * 3 + ix) * 2 + ic] : x8[(iy * 3 + ix) * 2 + ic]) - z_in;
                scratch[(oy * out_w + ox) * 2 + oc] += (int64_t)v * w[((oc * 3 + ky) * 3 + kx) * 2 + ic];
            }
        }
        int32_t m, shift;
        tl_quantize_multiplier((double)s_in * (double)s_w / (double)s_out, &m, &shift);
        for (int i = 0; i < out_h * out_w * 2; ++i) {
            int32_t v = wide ? tl_requantize64(scratch[i] + b64[i % 2], m, shift)
                             : tl_requantize((int32_t)(scratch[i] + b32[i % 2]), m, shift) + z_out;
            const int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
            v = v < lo ? lo : (v > hi ? hi : v);
            assert_int_equal(wide ? y.s16[i] : y.s8[i], v);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_matches_libsodium),
        cmocka_unit_test(test_valid_model_loads),
        cmocka_unit_test(test_every_truncation_is_refused),
        cmocka_unit_test(test_every_flipped_byte),
        cmocka_unit_test(test_pipelined_answer_equals_the_whole_models),
        cmocka_unit_test(test_pipeline_refuses_what_the_loader_refuses),
        cmocka_unit_test(test_structural_corruptions),
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_import_bad_tflite),
        cmocka_unit_test(test_import_names_unsupported_operator),
        cmocka_unit_test(test_progressive_stream),
        cmocka_unit_test(test_progressive_counts_beyond_planes),
        cmocka_unit_test(test_progressive_record_names_its_filter),
        cmocka_unit_test(test_progressive_sums_that_overflow_a_bias_are_refused),
        cmocka_unit_test(test_transpose_and_pad_run_as_the_naive_reference_says),
        cmocka_unit_test(test_mean_runs_and_its_bad_records_are_refused),
        cmocka_unit_test(test_bad_resize_and_hard_swish_records_are_refused),
        cmocka_unit_test(test_typed_tensors_quantize_and_dequantize),
        cmocka_unit_test(test_svdf_keeps_its_state_between_inferences),
        cmocka_unit_test(test_logistic_and_tanh_run_and_bad_constants_are_refused),
        cmocka_unit_test(test_lstm_model_runs_and_bad_lstm_records_are_refused),
        cmocka_unit_test(test_npy_reader_takes_floats_and_names_the_rest),
        cmocka_unit_test(test_slices_splits_and_concatenations_move_the_right_elements),
        cmocka_unit_test(test_fully_connected_16x8_imports_and_runs),
        cmocka_unit_test(test_add_sub_mul_broadcast_in_int8_and_int16),
        cmocka_unit_test(test_relu_family_and_leaky_relu),
        cmocka_unit_test(test_prelu_and_constant_operands),
        cmocka_unit_test(test_hard_swish_follows_x_relu6_x_plus_3_over_6),
        cmocka_unit_test(test_resize_nearest_neighbor_picks_tflites_source_pixels),
        cmocka_unit_test(test_transpose_of_int16_moves_each_element),
        cmocka_unit_test(test_batch_matmul_with_repeated_and_transposed_sides),
        cmocka_unit_test(test_resize_bilinear_interpolates_within_a_step),
        cmocka_unit_test(test_logistic_and_tanh_of_int16),
        cmocka_unit_test(test_mean_of_int16_imports_and_runs),
        cmocka_unit_test(test_pooling_of_int16),
        cmocka_unit_test(test_unsupported_operators_are_refused_by_name),
        cmocka_unit_test(test_softmax_int16_in_and_out),
        cmocka_unit_test(test_transpose_conv_matches_the_scatter),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
