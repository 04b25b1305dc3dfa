/* checkpoint.c - save and restore a training run.
 *
 * Layout (little-endian): "TLCK", u32 version, the info block, u64
 * parameter count, the parameters, the batch-norm running statistics in
 * node order, u64 dropout stream, then optional optimiser state (u32
 * present, kind, step, m[], v[]), then a 32-byte SHA-256 of all of it.
 * Loading checks the digest first, then every size against the
 * architecture the checkpoint names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tinylarge/large.h"
#include "tinylarge/host.h"

#define CKPT_MAGIC "TLCK"
#define CKPT_VERSION 1u

typedef struct buffer {
    uint8_t *data;
    size_t size, cap;
    int failed;
} buffer;

static void put(buffer *b, const void *p, size_t n)
{
    if (b->failed) {
        return;
    }
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->size + n) {
            cap *= 2;
        }
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->size, p, n);
    b->size += n;
}

tl_status tl_checkpoint_save(const char *path, const tl_net *net, const tl_optim *opt,
                             const tl_checkpoint_info *info)
{
    if (!path || !net || !info || !net->params) {
        return TL_ERR_ARG;
    }
    buffer b = { 0 };
    const uint32_t version = CKPT_VERSION;
    put(&b, CKPT_MAGIC, 4);
    put(&b, &version, 4);
    put(&b, info, sizeof *info);
    const uint64_t count = net->param_count;
    put(&b, &count, 8);
    put(&b, net->params, count * sizeof(float));
    for (int i = 0; i < net->count; ++i) {
        const tl_node *n = &net->nodes[i];
        if (n->kind == TL_LAYER_BATCHNORM) {
            put(&b, n->running_mean, (size_t)n->c * sizeof(float));
            put(&b, n->running_var, (size_t)n->c * sizeof(float));
        }
    }
    put(&b, &net->rng, 8);
    const uint32_t has_opt = opt != NULL;
    put(&b, &has_opt, 4);
    if (opt) {
        const uint32_t kind = opt->kind;
        const int64_t step = opt->step;
        put(&b, &kind, 4);
        put(&b, &step, 8);
        put(&b, opt->m, count * sizeof(float));
        put(&b, opt->v, count * sizeof(float));
    }
    uint8_t digest[32];
    if (!b.failed) {
        crypto_hash_sha256(digest, b.data, b.size);
        put(&b, digest, 32);
    }
    tl_status s = b.failed ? TL_ERR_NOMEM : tl_write_file_atomic(path, b.data, b.size);
    free(b.data);
    return s;
}

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static int take(reader *r, void *out, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        return -1;
    }
    memcpy(out, r->p, n);
    r->p += n;
    return 0;
}

static tl_status bad(char *error, size_t size, tl_status s, const char *path, const char *what)
{
    if (error && size) {
        snprintf(error, size, "%s: %s", path, what);
    }
    return s;
}

tl_status tl_checkpoint_load(const char *path, int batch, tl_net *net, tl_optim *opt,
                             tl_checkpoint_info *info, char *error, size_t error_size)
{
    uint8_t *data;
    size_t size;
    memset(net, 0, sizeof *net);
    if (tl_read_file(path, &data, &size) != TL_OK) {
        return bad(error, error_size, TL_ERR_IO, path, "cannot read");
    }
    tl_status s = TL_OK;
    uint8_t digest[32];
    if (size < 8 + sizeof *info + 32 || memcmp(data, CKPT_MAGIC, 4) != 0) {
        s = bad(error, error_size, TL_ERR_MAGIC, path, "not a tinylarge checkpoint");
        goto done;
    }
    crypto_hash_sha256(digest, data, size - 32);
    if (memcmp(digest, data + size - 32, 32) != 0) {
        s = bad(error, error_size, TL_ERR_DIGEST, path, "corrupt checkpoint (SHA-256 digest mismatch)");
        goto done;
    }
    reader r = { data + 4, data + size - 32 };
    uint32_t version = 0;
    tl_checkpoint_info ci;
    uint64_t count;
    if (take(&r, &version, 4) != 0 || version != CKPT_VERSION) {
        s = bad(error, error_size, TL_ERR_VERSION, path, "checkpoint version not supported");
        goto done;
    }
    if (take(&r, &ci, sizeof ci) != 0 || take(&r, &count, 8) != 0) {
        s = bad(error, error_size, TL_ERR_TRUNCATED, path, "truncated checkpoint");
        goto done;
    }
    ci.arch[sizeof ci.arch - 1] = '\0';
    if (tl_net_build_arch(net, ci.arch, ci.h, ci.w, ci.c, ci.classes) != TL_OK) {
        s = bad(error, error_size, TL_ERR_FORMAT, path, "names an unknown architecture");
        goto done;
    }
    if ((s = tl_net_finalize(net, batch, ci.seed)) != TL_OK) {
        bad(error, error_size, s, path, "cannot allocate the network");
        goto done;
    }
    if (count != net->param_count || take(&r, net->params, count * sizeof(float)) != 0) {
        s = bad(error, error_size, TL_ERR_SHAPE, path, "parameters do not match its architecture");
        goto done;
    }
    for (int i = 0; i < net->count; ++i) {
        tl_node *n = &net->nodes[i];
        if (n->kind == TL_LAYER_BATCHNORM &&
            (take(&r, n->running_mean, (size_t)n->c * sizeof(float)) != 0 ||
             take(&r, n->running_var, (size_t)n->c * sizeof(float)) != 0)) {
            s = bad(error, error_size, TL_ERR_TRUNCATED, path, "truncated checkpoint");
            goto done;
        }
    }
    uint32_t has_opt = 0;
    if (take(&r, &net->rng, 8) != 0 || take(&r, &has_opt, 4) != 0) {
        s = bad(error, error_size, TL_ERR_TRUNCATED, path, "truncated checkpoint");
        goto done;
    }
    if (opt) {
        uint32_t kind;
        int64_t step;
        if (!has_opt || take(&r, &kind, 4) != 0 || take(&r, &step, 8) != 0 || kind > TL_OPTIM_ADAMW) {
            s = bad(error, error_size, TL_ERR_FORMAT, path, "holds no optimiser state to resume from");
            goto done;
        }
        if ((s = tl_optim_init(opt, count)) != TL_OK ||
            take(&r, opt->m, count * sizeof(float)) != 0 || take(&r, opt->v, count * sizeof(float)) != 0) {
            s = bad(error, error_size, TL_ERR_TRUNCATED, path, "truncated optimiser state");
            goto done;
        }
        opt->kind = (tl_optim_kind)kind;
        opt->step = step;
    }
    if (info) {
        *info = ci;
    }
done:
    if (s != TL_OK) {
        tl_net_free(net);
        if (opt) {
            tl_optim_free(opt);
        }
    }
    free(data);
    return s;
}
