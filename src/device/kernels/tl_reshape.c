/* tl_reshape.c - RESHAPE (and SQUEEZE, EXPAND_DIMS: the importer maps
 * them here): the same bytes under another shape. Usually planned in place
 * (same arena offset), when there is nothing to do. */
#include <string.h>

#include "kernels.h"
#include "op.h"

static tl_status check_reshape(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || in->dtype != out->dtype) {
        return TL_ERR_FORMAT;
    }
    return in->data_size == out->data_size ? TL_OK : TL_ERR_SHAPE;
}

static void run_reshape(const tl_interp *it, const tl_op_rec *op)
{
    int8_t *dst = tl_op_activation(it, op->output);
    const int8_t *src = tl_op_activation(it, op->inputs[0]);
    if (dst != src) {
        memmove(dst, src, it->model->tensors[op->output].data_size);
    }
}

const tl_op_kind tl_op_reshape = { "RESHAPE", 0, check_reshape, run_reshape };
