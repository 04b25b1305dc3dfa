/* tl_batch_matmul.c - BATCH_MATMUL of int8 tensors (TFLite's reference
 * BatchMatMul): for each batch, (lhs - zp) x (rhs - zp) summed in int32,
 * requantised, plus the output's zero point, clamped. Either side may be
 * read transposed (adj_x, adj_y); batch dimensions of 1 repeat. The sums
 * are exact integers, so the order TFLite adds them in does not matter. */
#include "kernels.h"
#include "op.h"

void tl_batch_matmul_s8(const tl_batch_matmul_params *p)
{
    const int32_t rows = p->rows, depth = p->depth, cols = p->cols;
    /* element (m, k) of lhs and (k, n) of rhs, as strides */
    const int32_t lhs_m = p->adj_x ? 1 : depth, lhs_k = p->adj_x ? rows : 1;
    const int32_t rhs_k = p->adj_y ? 1 : cols, rhs_n = p->adj_y ? depth : 1;
    int8_t *out = p->output;
    for (int32_t b0 = 0; b0 < p->out_batches[0]; ++b0) {
        for (int32_t b1 = 0; b1 < p->out_batches[1]; ++b1) {
            const int8_t *lhs = p->lhs + ((p->lhs_batches[0] > 1 ? b0 : 0) * p->lhs_batches[1] +
                                          (p->lhs_batches[1] > 1 ? b1 : 0)) * rows * depth;
            const int8_t *rhs = p->rhs + ((p->rhs_batches[0] > 1 ? b0 : 0) * p->rhs_batches[1] +
                                          (p->rhs_batches[1] > 1 ? b1 : 0)) * depth * cols;
            for (int32_t m = 0; m < rows; ++m) {
                for (int32_t n = 0; n < cols; ++n) {
                    int32_t acc = 0;
                    for (int32_t k = 0; k < depth; ++k) {
                        acc += (lhs[m * lhs_m + k * lhs_k] + p->lhs_offset) * (rhs[k * rhs_k + n * rhs_n] + p->rhs_offset);
                    }
                    int32_t v = tl_requantize(acc, p->multiplier, p->shift) + p->output_offset;
                    v = v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v);
                    *out++ = (int8_t)v;
                }
            }
        }
    }
}

/* ---- the operator ---- */

/* A tensor's last two dims (rows, columns as stored) and the two batch
 * dims before them, 1 where the rank has none. */
static void matrix_dims(const tl_tensor_rec *t, int32_t *batches, int32_t *r, int32_t *c)
{
    const uint32_t n = t->rank;
    batches[0] = n >= 4 ? (int32_t)t->dims[n - 4] : 1;
    batches[1] = n >= 3 ? (int32_t)t->dims[n - 3] : 1;
    *r = (int32_t)t->dims[n - 2];
    *c = (int32_t)t->dims[n - 1];
}

static void batch_matmul_params(const tl_model *m, const tl_op_rec *op, tl_batch_matmul_params *p)
{
    const tl_tensor_rec *lhs = &m->tensors[op->inputs[0]], *rhs = &m->tensors[op->inputs[1]];
    const tl_tensor_rec *out = &m->tensors[op->output];
    int32_t lr, lc, rr, rc, orows, ocols;
    p->adj_x = op->p[TL_BATCH_MATMUL_ADJ_X];
    p->adj_y = op->p[TL_BATCH_MATMUL_ADJ_Y];
    matrix_dims(lhs, p->lhs_batches, &lr, &lc);
    matrix_dims(rhs, p->rhs_batches, &rr, &rc);
    matrix_dims(out, p->out_batches, &orows, &ocols);
    p->rows = p->adj_x ? lc : lr;
    p->depth = p->adj_x ? lr : lc;
    p->cols = p->adj_y ? rr : rc;
    p->lhs_offset = op->input_offset;
    p->rhs_offset = op->p[TL_BATCH_MATMUL_RHS_OFFSET];
    p->output_offset = op->output_offset;
    p->multiplier = op->p[TL_BATCH_MATMUL_MULT];
    p->shift = op->p[TL_BATCH_MATMUL_SHIFT];
    p->act_min = op->act_min;
    p->act_max = op->act_max;
}

/* int8 lhs (an activation), rhs (activation or constant) and output, ranks
 * 2 to 4; depths that agree, an output of [batches, rows, cols] whose
 * batches each side matches or repeats; depth small enough that no int32
 * sum overflows (255 * 255 per term). */
static tl_status check_batch_matmul(const tl_model *m, const tl_op_rec *op)
{
    tl_status s = tl_op_check_s8_output(m, op);
    if (s != TL_OK) {
        return s;
    }
    const tl_tensor_rec *lhs = tl_op_tensor(m, op->inputs[0]), *rhs = tl_op_tensor(m, op->inputs[1]);
    const tl_tensor_rec *out = tl_op_tensor(m, op->output);
    if (op->input_count != 2 || !tl_op_is_s8_activation(lhs) || !rhs || rhs->dtype != TL_DTYPE_INT8 ||
        (!tl_op_is_activation(rhs) && rhs->kind != TL_TENSOR_CONST) || (uint32_t)op->p[TL_BATCH_MATMUL_ADJ_X] > 1 ||
        (uint32_t)op->p[TL_BATCH_MATMUL_ADJ_Y] > 1) {
        return TL_ERR_FORMAT;
    }
    if (lhs->rank < 2 || rhs->rank < 2 || out->rank < 2) {
        return TL_ERR_SHAPE;
    }
    tl_batch_matmul_params p;
    batch_matmul_params(m, op, &p);
    int32_t rr, rc, orows, ocols, dummy[2];
    matrix_dims(rhs, dummy, &rr, &rc);
    matrix_dims(out, dummy, &orows, &ocols);
    if ((p.adj_y ? rc : rr) != p.depth || orows != p.rows || ocols != p.cols || p.depth > 33000) {
        return TL_ERR_SHAPE;
    }
    for (int i = 0; i < 2; ++i) {
        if ((p.lhs_batches[i] != 1 && p.lhs_batches[i] != p.out_batches[i]) ||
            (p.rhs_batches[i] != 1 && p.rhs_batches[i] != p.out_batches[i])) {
            return TL_ERR_SHAPE;
        }
    }
    if (p.lhs_offset < -127 || p.lhs_offset > 128 || p.rhs_offset < -127 || p.rhs_offset > 128 ||
        !tl_op_valid_multiplier(p.multiplier, p.shift)) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_batch_matmul(const tl_interp *it, const tl_op_rec *op)
{
    const tl_model *m = it->model;
    tl_batch_matmul_params p;
    batch_matmul_params(m, op, &p);
    p.lhs = tl_op_activation(it, op->inputs[0]);
    p.rhs = m->tensors[op->inputs[1]].kind == TL_TENSOR_CONST ? (const int8_t *)tl_op_constant(m, op->inputs[1])
                                                              : tl_op_activation(it, op->inputs[1]);
    p.output = tl_op_activation(it, op->output);
    tl_batch_matmul_s8(&p);
}

const tl_op_kind tl_op_batch_matmul = { "BATCH_MATMUL", 0, check_batch_matmul, run_batch_matmul };
