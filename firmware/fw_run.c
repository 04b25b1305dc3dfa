/* fw_run.c - loading and timing a model, shared by the firmware images. */
#include "board.h"
#include "fw_run.h"

int fw_load(const uint8_t *model, uint32_t size, uint8_t *arena, uint32_t arena_size, tl_model *m, tl_interp *it)
{
    const tl_status s = tl_model_load(m, model, size, 0);
    if (s != TL_OK) {
        board_write("load failed: ");
        board_write(tl_status_str(s));
        board_write("\n");
        return 1;
    }
    if (tl_interp_init(it, m, arena, arena_size) != TL_OK) {
        board_write("arena too small\n");
        return 1;
    }
    return 0;
}

int fw_timed_invoke(tl_interp *it, uint32_t *ticks, uint32_t *stack)
{
    /* Painted only when asked: what one inference takes, helpers' frames
     * included. */
    uint8_t *top = stack ? board_stack_paint() : NULL;
    board_timer_start();
    const uint32_t t0 = board_timer_read();
    const tl_status s = tl_interp_invoke(it);
    *ticks = t0 - board_timer_read(); /* the timer counts down */
    if (stack) {
        *stack = board_stack_used(top);
    }
    if (s != TL_OK) {
        board_write("invoke failed\n");
        return 1;
    }
    return 0;
}

void fw_seeded_input(tl_interp *it)
{
    for (uint32_t k = 0; k < it->model->header->input_count; ++k) {
        uint32_t in_size = 0;
        int8_t *in = tl_interp_input(it, k, &in_size);
        const int is_float = tl_model_io_tensor(it->model, k)->dtype == TL_DTYPE_FLOAT32;
        uint32_t seed = 1 + k;
        for (uint32_t i = 0; i < (is_float ? in_size / 4 : in_size); ++i) {
            seed = seed * 1103515245u + 12345u;
            if (is_float) {
                ((float *)(void *)in)[i] = (float)((int32_t)((seed >> 16) & 0xff) - 128) / 128.0f;
            } else {
                in[i] = (int8_t)((seed >> 16) & 0xff);
            }
        }
    }
}
