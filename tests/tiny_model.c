/* tiny_model.c - see tiny_model.h.
 *
 * trunk:  in[1,8,8,3] -conv3x3/2-> t1[1,4,4,8] -dw3x3-> t2 -conv1x1(int4)-> t3
 *         add(t1, t3) -> t4 -maxpool2/2-> t5[1,2,2,8]
 * exit 0: t5 -avgpool-> [1,1,1,8] -reshape-> [1,8] -fc(sparse)-> [1,5] -softmax-> exit0
 * exit 1: t5 -conv1x1(bitmap)-> [1,2,2,16] -avgpool-> -reshape-> [1,16] -fc-> [1,5] -softmax-> exit1
 */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "tiny_model.h"

static uint16_t act(tl_graph *g, const char *name, uint32_t rank, uint32_t d0, uint32_t d1, uint32_t d2,
                    uint32_t d3, float scale, int32_t zp)
{
    const uint32_t dims[4] = { d0, d1, d2, d3 };
    return (uint16_t)tl_graph_add_activation(g, name, rank, dims, scale, zp);
}

static int conv(tl_graph *g, test_rng *r, uint16_t in, uint16_t out, uint8_t opcode, uint8_t dtype,
                uint32_t k, uint32_t stride, uint8_t activation, float zero_share)
{
    const tl_tensor_rec *ti = &g->tensors[in].rec, *to = &g->tensors[out].rec;
    const uint32_t out_c = to->dims[to->rank - 1];
    const uint32_t in_c = ti->dims[ti->rank - 1];
    const int dw = opcode == TL_OP_DEPTHWISE_CONV_2D;
    const uint32_t count = k * k * out_c * (dw ? 1 : in_c);
    int8_t *w = malloc(count);
    float *scales = malloc(out_c * sizeof *scales);
    int32_t *bias = malloc(out_c * sizeof *bias);
    for (uint32_t i = 0; i < count; ++i) {
        const int32_t lim = dtype == TL_DTYPE_INT4 ? 7 : 127;
        w[i] = rng_float(r, 0, 1) < zero_share ? 0 : (int8_t)rng_int(r, -lim, lim);
    }
    for (uint32_t c = 0; c < out_c; ++c) {
        scales[c] = rng_float(r, 0.002f, 0.01f) * (dtype == TL_DTYPE_INT4 ? 16.0f : 1.0f);
        bias[c] = rng_int(r, -500, 500);
    }
    tl_conv_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.opcode = opcode;
    spec.weight_dtype = dtype;
    spec.activation = activation;
    spec.same_padding = 1;
    spec.stride_h = spec.stride_w = stride;
    spec.dilation_h = spec.dilation_w = 1;
    spec.k_h = spec.k_w = k;
    spec.weights = w;
    spec.filter_scales = scales;
    spec.scale_count = out_c;
    spec.bias = bias;
    char error[128];
    int32_t op = tl_graph_add_conv(g, in, out, &spec, error, sizeof error);
    free(w);
    free(scales);
    free(bias);
    return op < 0;
}

int tiny_model_build(tl_graph *g, uint32_t seed, tiny_model_ids *ids)
{
    memset(g, 0, sizeof *g);
    test_rng r = { 0x9E3779B97F4A7C15ull ^ seed };
    const uint16_t in = act(g, "input", 4, 1, 8, 8, 3, 0.05f, -3);
    const uint16_t t1 = act(g, "t1", 4, 1, 4, 4, 8, 0.04f, -128);
    const uint16_t t2 = act(g, "t2", 4, 1, 4, 4, 8, 0.03f, -128);
    const uint16_t t3 = act(g, "t3", 4, 1, 4, 4, 8, 0.05f, 4);
    const uint16_t t4 = act(g, "t4", 4, 1, 4, 4, 8, 0.06f, -10);
    const uint16_t t5 = act(g, "t5", 4, 1, 2, 2, 8, 0.06f, -10);
    const uint16_t h0 = act(g, "head0/pool", 4, 1, 1, 1, 8, 0.06f, -10);
    const uint16_t h0f = act(g, "head0/flat", 2, 1, 8, 1, 1, 0.06f, -10);
    const uint16_t h0l = act(g, "head0/logits", 2, 1, 5, 1, 1, 0.1f, 0);
    const uint16_t e0 = act(g, "exit0", 2, 1, 5, 1, 1, 1.0f / 256, -128);
    const uint16_t t6 = act(g, "t6", 4, 1, 2, 2, 16, 0.05f, -128);
    const uint16_t t7 = act(g, "t7", 4, 1, 1, 1, 16, 0.05f, -128);
    const uint16_t t8 = act(g, "t8", 2, 1, 16, 1, 1, 0.05f, -128);
    const uint16_t t9 = act(g, "logits", 2, 1, 5, 1, 1, 0.1f, 3);
    const uint16_t e1 = act(g, "exit1", 2, 1, 5, 1, 1, 1.0f / 256, -128);
    g->inputs[g->input_count++] = in;
    int bad = conv(g, &r, in, t1, TL_OP_CONV_2D, TL_DTYPE_INT8, 3, 2, TL_ACT_RELU, 0);
    bad |= conv(g, &r, t1, t2, TL_OP_DEPTHWISE_CONV_2D, TL_DTYPE_INT8, 3, 1, TL_ACT_RELU6, 0);
    bad |= conv(g, &r, t2, t3, TL_OP_CONV_2D, TL_DTYPE_INT4, 1, 1, TL_ACT_NONE, 0);
    bad |= tl_graph_add_add(g, t1, t3, t4, TL_ACT_NONE) < 0;
    bad |= tl_graph_add_pool(g, TL_OP_MAX_POOL_2D, t4, t5, 2, 2, 2, 2, 0, TL_ACT_NONE) < 0;
    bad |= tl_graph_add_pool(g, TL_OP_AVERAGE_POOL_2D, t5, h0, 2, 2, 2, 2, 0, TL_ACT_NONE) < 0;
    bad |= tl_graph_add_reshape(g, h0, h0f) < 0;
    bad |= conv(g, &r, h0f, h0l, TL_OP_FULLY_CONNECTED, TL_DTYPE_SPARSE_INT8, 1, 1, TL_ACT_NONE, 0.6f);
    bad |= tl_graph_add_softmax(g, h0l, e0, 1.0f) < 0;
    bad |= tl_graph_add_exit(g, e0, g->op_count) != TL_OK;
    bad |= conv(g, &r, t5, t6, TL_OP_CONV_2D, TL_DTYPE_BITMAP_INT8, 1, 1, TL_ACT_RELU, 0.5f);
    bad |= tl_graph_add_pool(g, TL_OP_AVERAGE_POOL_2D, t6, t7, 2, 2, 1, 1, 0, TL_ACT_NONE) < 0;
    bad |= tl_graph_add_reshape(g, t7, t8) < 0;
    bad |= conv(g, &r, t8, t9, TL_OP_FULLY_CONNECTED, TL_DTYPE_INT8, 1, 1, TL_ACT_NONE, 0);
    bad |= tl_graph_add_softmax(g, t9, e1, 1.0f) < 0;
    bad |= tl_graph_add_exit(g, e1, g->op_count) != TL_OK;
    g->outputs[g->output_count++] = e1;
    bad |= tl_graph_set_meta(g, "task", "tiny test model") != TL_OK;
    if (ids) {
        ids->input = in;
        ids->exit0 = e0;
        ids->exit1 = e1;
        ids->pooled = h0;
        ids->flat = h0f;
    }
    if (bad) {
        tl_graph_free(g);
    }
    return bad;
}

int tiny_model_bytes(uint32_t seed, uint8_t **buf, size_t *size)
{
    tl_graph g;
    if (tiny_model_build(&g, seed, NULL)) {
        return 1;
    }
    tl_status s = tl_graph_serialize(&g, buf, size);
    tl_graph_free(&g);
    return s != TL_OK;
}

int wide_model_bytes(uint32_t seed, uint8_t **buf, size_t *size)
{
    tl_graph g;
    memset(&g, 0, sizeof g);
    test_rng r = { 0x2545F4914F6CDD1Dull ^ seed };
    const uint16_t in = act(&g, "input", 2, 1, 1024, 1, 1, 0.05f, -3);
    const uint16_t logits = act(&g, "logits", 2, 1, 16, 1, 1, 0.2f, 0);
    const uint16_t out = act(&g, "probabilities", 2, 1, 16, 1, 1, 1.0f / 256, -128);
    g.inputs[g.input_count++] = in;
    int bad = conv(&g, &r, in, logits, TL_OP_FULLY_CONNECTED, TL_DTYPE_INT8, 1, 1, TL_ACT_NONE, 0);
    bad |= tl_graph_add_softmax(&g, logits, out, 1.0f) < 0;
    g.outputs[g.output_count++] = out;
    tl_status s = bad ? TL_ERR_ARG : tl_graph_serialize(&g, buf, size);
    tl_graph_free(&g);
    return s != TL_OK;
}

int head_model_bytes(uint32_t seed, uint32_t features, uint32_t classes, uint8_t **buf, size_t *size)
{
    tl_graph g;
    memset(&g, 0, sizeof g);
    test_rng r = { 0xD1B54A32D192ED03ull ^ seed };
    const uint16_t in = act(&g, "features", 2, 1, features, 1, 1, 0.05f, -3);
    const uint16_t logits = act(&g, "logits", 2, 1, classes, 1, 1, 0.15f, 2);
    const uint16_t out = act(&g, "probabilities", 2, 1, classes, 1, 1, 1.0f / 256, -128);
    g.inputs[g.input_count++] = in;
    int bad = conv(&g, &r, in, logits, TL_OP_FULLY_CONNECTED, TL_DTYPE_INT8, 1, 1, TL_ACT_NONE, 0);
    bad |= tl_graph_add_softmax(&g, logits, out, 1.0f) < 0;
    bad |= tl_graph_add_exit(&g, out, g.op_count) != TL_OK;
    g.outputs[g.output_count++] = out;
    tl_status s = bad ? TL_ERR_ARG : tl_graph_serialize(&g, buf, size);
    tl_graph_free(&g);
    return s != TL_OK;
}

int transpose_pad_model_bytes(const int32_t *perm, int32_t pad_before1, uint8_t **bytes, size_t *size)
{
    tl_graph g;
    memset(&g, 0, sizeof g);
    const uint32_t in_dims[4] = { 1, 2, 3, 4 }, mid_dims[4] = { 1, 4, 2, 3 }, out_dims[4] = { 1, 6, 4, 4 };
    const int32_t in = tl_graph_add_activation(&g, "in", 4, in_dims, 0.1f, 3);
    const int32_t mid = tl_graph_add_activation(&g, "mid", 4, mid_dims, 0.1f, 3);
    const int32_t out = tl_graph_add_activation(&g, "out", 4, out_dims, 0.1f, 3);
    tl_op_rec t;
    memset(&t, 0, sizeof t);
    t.opcode = TL_OP_TRANSPOSE;
    t.input_count = 1;
    t.inputs[0] = (uint16_t)in;
    t.inputs[1] = t.inputs[2] = TL_NO_TENSOR;
    t.output = (uint16_t)mid;
    t.stride_h = t.stride_w = t.dilation_h = t.dilation_w = t.filter_h = t.filter_w = 1;
    t.act_min = -128;
    t.act_max = 127;
    for (int i = 0; i < 4; ++i) {
        t.p[TL_TRANSPOSE_PERM + i] = perm[i];
    }
    tl_op_rec p = t;
    p.opcode = TL_OP_PAD;
    p.inputs[0] = (uint16_t)mid;
    p.output = (uint16_t)out;
    memset(p.p, 0, sizeof p.p);
    p.p[TL_PAD_BEFORE + 1] = pad_before1; /* [1,4,2,3] -> [1,6,4,4]: rows 1+1, 0+2, 0+1 */
    p.p[TL_PAD_AFTER + 1] = 1;
    p.p[TL_PAD_AFTER + 2] = 2;
    p.p[TL_PAD_AFTER + 3] = 1;
    p.p[TL_PAD_VALUE] = 3;
    tl_status s = TL_ERR_NOMEM;
    if (in >= 0 && mid >= 0 && out >= 0 && tl_graph_add_op(&g, &t, NULL, NULL, 0) >= 0 &&
        tl_graph_add_op(&g, &p, NULL, NULL, 0) >= 0) {
        g.inputs[g.input_count++] = (uint16_t)in;
        g.outputs[g.output_count++] = (uint16_t)out;
        s = tl_graph_add_exit(&g, (uint16_t)out, 2);
        if (s == TL_OK) {
            s = tl_graph_serialize(&g, bytes, size);
        }
    }
    tl_graph_free(&g);
    return s == TL_OK ? 0 : 1;
}

int single_op_model_bytes(const tl_op_rec *op, const uint32_t in_dims[4], const uint32_t out_dims[4],
                          uint8_t **bytes, size_t *size)
{
    tl_graph g;
    memset(&g, 0, sizeof g);
    const int32_t in = tl_graph_add_activation(&g, "in", 4, in_dims, 0.1f, 0);
    const int32_t out = tl_graph_add_activation(&g, "out", 4, out_dims, 0.1f, 0);
    tl_op_rec rec = *op;
    rec.input_count = 1;
    rec.inputs[0] = (uint16_t)in;
    rec.inputs[1] = rec.inputs[2] = TL_NO_TENSOR;
    rec.output = (uint16_t)out;
    tl_status s = TL_ERR_NOMEM;
    if (in >= 0 && out >= 0 && tl_graph_add_op(&g, &rec, NULL, NULL, 0) >= 0) {
        g.inputs[g.input_count++] = (uint16_t)in;
        g.outputs[g.output_count++] = (uint16_t)out;
        s = tl_graph_add_exit(&g, (uint16_t)out, 1);
        if (s == TL_OK) {
            s = tl_graph_serialize(&g, bytes, size);
        }
    }
    tl_graph_free(&g);
    return s == TL_OK ? 0 : 1;
}
