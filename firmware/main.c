/* main.c - firmware: run one embedded .tlm model on one embedded input with
 * the device runtime, print the output and the instructions it took.
 *
 * The model is used in place from flash (zero copy); only the arena is in
 * RAM. The arena is a fixed static buffer, as on a real device.
 */
#include <string.h>

#include "board.h"
#include "fw_run.h"
#include "tinylarge/device.h"

extern const uint8_t tl_model_blob[], tl_model_blob_end[];
extern const uint8_t tl_input_blob[], tl_input_blob_end[];

#ifndef TL_ARENA_BYTES
#define TL_ARENA_BYTES 131072
#endif
static uint8_t arena[TL_ARENA_BYTES] __attribute__((aligned(16)));

int main(void)
{
    tl_model model;
    tl_interp it;
    uint32_t ticks, stack;
    if (fw_load(tl_model_blob, (uint32_t)(tl_model_blob_end - tl_model_blob), arena, sizeof arena, &model, &it)) {
        return 1;
    }
    uint32_t in_size = 0;
    int8_t *in = tl_interp_input(&it, 0, &in_size);
    if (in_size != (uint32_t)(tl_input_blob_end - tl_input_blob)) {
        board_write("input size mismatch\n");
        return 1;
    }
    memcpy(in, tl_input_blob, in_size);
    if (fw_timed_invoke(&it, &ticks, &stack)) {
        return 1;
    }
    uint32_t out_size;
    const int8_t *out = tl_interp_output(&it, 0, &out_size);
    /* Again, one operator at a time, for the per-operator profile. */
    board_write("\nprofile:");
    memcpy(tl_interp_input(&it, 0, NULL), tl_input_blob, in_size);
    for (uint32_t op = 0; op < model.header->op_count; ++op) {
        const uint32_t a = board_timer_read();
        tl_interp_step(&it);
        const uint32_t z = board_timer_read();
        board_write(" ");
        board_write(tl_opcode_name(model.ops[op].opcode));
        board_write("=");
        board_write_u32(a - z);
    }
    board_write("\n");
    board_report(out, out_size, tl_model_arena_size(&model), ticks);
    board_write("stack: ");
    board_write_u32(stack);
    board_write("\n");
    return 0;
}
