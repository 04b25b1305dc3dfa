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

int fw_timed_invoke(tl_interp *it, uint32_t *ticks)
{
    board_timer_start();
    const uint32_t t0 = board_timer_read();
    const tl_status s = tl_interp_invoke(it);
    *ticks = t0 - board_timer_read(); /* the timer counts down */
    if (s != TL_OK) {
        board_write("invoke failed\n");
        return 1;
    }
    return 0;
}

void fw_seeded_input(tl_interp *it)
{
    uint32_t in_size = 0;
    int8_t *in = tl_interp_input(it, 0, &in_size);
    uint32_t seed = 1;
    for (uint32_t i = 0; i < in_size; ++i) {
        seed = seed * 1103515245u + 12345u;
        in[i] = (int8_t)((seed >> 16) & 0xff);
    }
}
