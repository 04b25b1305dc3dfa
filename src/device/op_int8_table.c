/* op_int8_table.c - the int8-only kind of each operator that has one: the
 * same checks and int8 kernels as the full kind, without its other element
 * types and weight encodings. `tinylarge resolver` writes a firmware's
 * table with these where every record of the operator in its models is
 * accepted by them, so the firmware links only the int8 kernels. Host
 * builds only; no firmware links this table. */
#include "op.h"

extern const tl_op_kind tl_op_conv_2d_int8, tl_op_depthwise_conv_2d_int8, tl_op_fully_connected_int8,
    tl_op_average_pool_2d_int8, tl_op_max_pool_2d_int8, tl_op_softmax_int8;

const tl_op_kind *const tl_op_int8_table[TL_OP_COUNT_] = {
    [TL_OP_CONV_2D] = &tl_op_conv_2d_int8,
    [TL_OP_DEPTHWISE_CONV_2D] = &tl_op_depthwise_conv_2d_int8,
    [TL_OP_FULLY_CONNECTED] = &tl_op_fully_connected_int8,
    [TL_OP_AVERAGE_POOL_2D] = &tl_op_average_pool_2d_int8,
    [TL_OP_MAX_POOL_2D] = &tl_op_max_pool_2d_int8,
    [TL_OP_SOFTMAX] = &tl_op_softmax_int8,
};

int tl_op_int8_accepts(const tl_model *m, uint32_t index)
{
    if (index >= m->header->op_count) {
        return 0;
    }
    const tl_op_rec *op = &m->ops[index];
    const tl_op_kind *kind = op->opcode < TL_OP_COUNT_ ? tl_op_int8_table[op->opcode] : NULL;
    return kind && kind->check(m, op) == TL_OK;
}
