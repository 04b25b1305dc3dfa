/* runner.c - firmware that runs any .tlm model file on the Cortex-M4.
 *
 * The model path comes from the semihosting command line (QEMU:
 * -semihosting-config enable=on,target=native,arg=runner,arg=MODEL.tlm);
 * the file is read into RAM over semihosting, loaded and validated by the
 * device runtime, and run once on the same pseudo-random input as
 * `tinylarge run --seed 1`. It prints the output, the arena and the timer
 * ticks (x 40 = instructions under -icount shift=0). One image serves every
 * variant the compressor measures. With a last argument `--densify`
 * (arg=--densify) it first expands the model's sparse and int4 filters to
 * dense int8 on the M4 itself (tl_model_densify), as a device installing a
 * packed download does, and runs that. With `--profile` instead it also
 * runs the model again one operator at a time and prints each operator's
 * ticks ("op ticks: T0 T1 ..."): the device's cost of each cut between it
 * and the edge (`tinylarge split`). With `--pipeline` it runs the model
 * again as a layer pipeline (tl_pipeline) over the file arriving in 1 KB
 * blocks and prints the ticks of the work each block's arrival allows
 * ("block ticks: T0 T1 ..."): hashing it, running the operators whose
 * bytes are then in, and at the last block verifying the whole file
 * (`tinylarge pipeline`); then whether the answer equals the whole run's.
 */
#include <string.h>

#include "board.h"
#include "fw_run.h"
#include "tinylarge/device.h"

#define MODEL_CAPACITY (2u << 20)
#define ARENA_CAPACITY (256u << 10)
#define DENSE_CAPACITY (1u << 20)
#define PIPELINE_BLOCK 1024u   /* a CoAP Block2 block (SZX 6) */
#define OUTPUT_CAPACITY 4096u

static uint8_t model[MODEL_CAPACITY] __attribute__((aligned(16)));
static uint8_t dense[DENSE_CAPACITY] __attribute__((aligned(16)));
static uint8_t arena[ARENA_CAPACITY] __attribute__((aligned(16)));
static int8_t whole_output[OUTPUT_CAPACITY];

/* The model run again as it would be while arriving: 0 when the answer is
 * the whole run's (`whole`, `whole_size` bytes). */
static int run_pipelined(uint32_t size, const int8_t *whole, uint32_t whole_size)
{
    tl_pipeline p;
    int begun = 0;
    tl_status s = TL_OK;
    board_write("block ticks:");
    for (uint32_t held = 0; held < size && s == TL_OK;) {
        held = size - held > PIPELINE_BLOCK ? held + PIPELINE_BLOCK : size;
        const uint32_t a = board_timer_read();
        if (!begun) {
            s = tl_pipeline_begin(&p, model, held, arena, sizeof arena);
            begun = s == TL_OK;
            s = s == TL_ERR_TRUNCATED ? TL_OK : s;
            if (begun) {
                fw_seeded_input(&p.interp);
            }
        }
        uint32_t ran = 0;
        do {
            s = begun && s == TL_OK ? tl_pipeline_step(&p, held, &ran) : s;
        } while (s == TL_OK && ran);
        const uint32_t z = board_timer_read();
        board_write(" ");
        board_write_u32(a - z); /* the timer counts down */
    }
    board_write("\n");
    uint32_t out_size = 0;
    const int8_t *out = s == TL_OK ? tl_pipeline_output(&p, 0, &out_size) : NULL;
    if (!out || out_size != whole_size || memcmp(out, whole, out_size) != 0) {
        board_write("pipeline: the answer differs from the whole run's (");
        board_write(tl_status_str(s));
        board_write(")\n");
        return 1;
    }
    board_write("pipeline: the answer equals the whole run's\n");
    return 0;
}

int main(void)
{
    const char *args[3];
    const int count = board_args(args, 3);
    const int densify = count == 3 && strcmp(args[2], "--densify") == 0;
    const int profile = count == 3 && strcmp(args[2], "--profile") == 0;
    const int pipeline = count == 3 && strcmp(args[2], "--pipeline") == 0;
    if (count < 2 || (count == 3 && !densify && !profile && !pipeline)) {
        board_write("runner: usage: runner MODEL.tlm [--densify | --profile | --pipeline]\n");
        return 1;
    }
    const int32_t size = board_read_file(args[1], model, MODEL_CAPACITY);
    if (size <= 0) {
        board_write("runner: cannot read ");
        board_write(args[1]);
        board_write(" (missing, empty or too large)\n");
        return 1;
    }
    tl_model m;
    tl_interp it;
    uint32_t ticks;
    if (fw_load(model, (uint32_t)size, arena, sizeof arena, &m, &it)) {
        return 1;
    }
    if (densify) {
        uint32_t dense_size = 0;
        const tl_status s = tl_model_densify(&m, dense, sizeof dense, &dense_size);
        if (s != TL_OK) {
            board_write("runner: cannot make the model dense: ");
            board_write(tl_status_str(s));
            board_write("\n");
            return 1;
        }
        board_write("densified on the device: ");
        board_write_u32(dense_size);
        board_write(" bytes\n");
        if (fw_load(dense, dense_size, arena, sizeof arena, &m, &it)) {
            return 1;
        }
    }
    fw_seeded_input(&it);
    if (fw_timed_invoke(&it, &ticks, NULL)) {
        return 1;
    }
    uint32_t out_size;
    const int8_t *out = tl_interp_output(&it, 0, &out_size);
    board_report(out, out_size, tl_model_arena_size(&m), ticks);
    if (pipeline) {
        if (out_size > OUTPUT_CAPACITY) {
            board_write("runner: output too large to compare\n");
            return 1;
        }
        memcpy(whole_output, out, out_size);
        return run_pipelined((uint32_t)size, whole_output, out_size);
    }
    if (profile) {
        fw_seeded_input(&it);
        board_write("op ticks:");
        for (uint32_t op = 0; op < m.header->op_count; ++op) {
            const uint32_t a = board_timer_read();
            tl_interp_step(&it);
            const uint32_t z = board_timer_read();
            board_write(" ");
            board_write_u32(a - z); /* the timer counts down */
        }
        board_write("\n");
    }
    return 0;
}
