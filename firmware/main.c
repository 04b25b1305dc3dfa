/* main.c - firmware: run one embedded .tlm model on one embedded input with
 * the device runtime, print the output and the instructions it took.
 *
 * The model is used in place from flash (zero copy); only the arena is in
 * RAM. The arena is a fixed static buffer, as on a real device.
 */
#include <string.h>

#include "board.h"
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
    const uint32_t model_size = (uint32_t)(tl_model_blob_end - tl_model_blob);
    tl_status s = tl_model_load(&model, tl_model_blob, model_size, 0);
    if (s != TL_OK) {
        board_write("load failed: ");
        board_write(tl_status_str(s));
        board_write("\n");
        return 1;
    }
    s = tl_interp_init(&it, &model, arena, sizeof arena);
    uint32_t in_size = 0;
    int8_t *in = s == TL_OK ? tl_interp_input(&it, 0, &in_size) : NULL;
    if (!in || in_size != (uint32_t)(tl_input_blob_end - tl_input_blob)) {
        board_write("arena or input size mismatch\n");
        return 1;
    }
    memcpy(in, tl_input_blob, in_size);
    board_timer_start();
    const uint32_t t0 = board_timer_read();
    s = tl_interp_invoke(&it);
    const uint32_t t1 = board_timer_read();
    if (s != TL_OK) {
        board_write("invoke failed\n");
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
    board_report(out, out_size, tl_model_arena_size(&model), t0 - t1);
    return 0;
}
