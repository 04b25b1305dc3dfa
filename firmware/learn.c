/* learn.c - on-device transfer learning on the Cortex-M4.
 *
 *   qemu ... -semihosting-config enable=on,target=native,arg=learn,arg=MODEL.tlm,
 *            arg=SAMPLES.tlls,arg=ADAPTED.tlm,arg=DELTA.f32
 *
 * Reads the model and a sample log (learn.h: the labelled inputs `tinylarge
 * learn --samples-out` learnt from, in that order) over semihosting, learns
 * the head from them with the default configuration exactly as the host
 * does, and writes the adapted model and the head's delta back, so a test
 * can compare them with the host's byte for byte. It prints the timer ticks
 * (x 40 = instructions under -icount shift=0) of the backbone's forward
 * passes, of the learning steps and of writing the model, and the RAM the
 * learner used beyond the arena.
 */
#include <string.h>

#include "board.h"
#include "fw_run.h"
#include "tinylarge/learn.h"

#define MODEL_CAPACITY (256u << 10)
#define SAMPLES_CAPACITY (1u << 20)
#define ARENA_CAPACITY (128u << 10)
#define WORK_CAPACITY (64u << 10)

static uint8_t model[MODEL_CAPACITY] __attribute__((aligned(16)));
static uint8_t adapted[MODEL_CAPACITY] __attribute__((aligned(16)));
static uint8_t samples[SAMPLES_CAPACITY] __attribute__((aligned(16)));
static uint8_t arena[ARENA_CAPACITY] __attribute__((aligned(16)));
static uint8_t work[WORK_CAPACITY] __attribute__((aligned(16)));
static float delta[8192];

static void report(const char *label, uint32_t value)
{
    board_write(label);
    board_write_u32(value);
    board_write("\n");
}

int main(void)
{
    const char *args[5];
    if (board_args(args, 5) != 5) {
        board_write("learn: usage: learn MODEL.tlm SAMPLES.tlls ADAPTED.tlm DELTA.f32\n");
        return 1;
    }
    const int32_t size = board_read_file(args[1], model, MODEL_CAPACITY);
    const int32_t log_size = board_read_file(args[2], samples, SAMPLES_CAPACITY);
    if (size <= 0 || log_size < (int32_t)sizeof(tl_samples_header)) {
        board_write("learn: cannot read the model or the sample log\n");
        return 1;
    }
    tl_samples_header h;
    memcpy(&h, samples, sizeof h);
    tl_model m;
    tl_interp it;
    if (fw_load(model, (uint32_t)size, arena, sizeof arena, &m, &it)) {
        return 1;
    }
    uint32_t input_size = 0;
    int8_t *input = tl_interp_input(&it, 0, &input_size);
    if (memcmp(h.magic, TL_SAMPLES_MAGIC, 4) != 0 || h.sample_size != input_size ||
        (uint64_t)h.count * (1u + input_size) > (uint32_t)log_size - sizeof h) {
        board_write("learn: the sample log does not fit the model\n");
        return 1;
    }
    tl_learner l;
    const size_t work_size = tl_learn_work_size(&m, NULL);
    const tl_status s = tl_learn_init(&l, &m, work, sizeof work, NULL);
    if (s != TL_OK) {
        board_write("learn: ");
        board_write(tl_status_str(s));
        board_write("\n");
        return 1;
    }
    uint32_t forward_ticks = 0, learn_ticks = 0;
    board_timer_start();
    for (uint32_t i = 0; i < h.count; ++i) {
        const uint8_t *rec = samples + sizeof h + (size_t)i * (1u + input_size);
        input = tl_interp_input(&it, 0, NULL);
        memcpy(input, rec + 1, input_size);
        const int8_t *features = NULL;
        const uint32_t t0 = board_timer_read();
        tl_status st = tl_learn_features(&l, &it, &features);
        const uint32_t t1 = board_timer_read();
        if (st == TL_OK) {
            st = tl_learn_add(&l, features, rec[0]);
        }
        const uint32_t t2 = board_timer_read();
        forward_ticks += t0 - t1; /* the timer counts down */
        learn_ticks += t1 - t2;
        if (st != TL_OK) {
            board_write("learn: a sample was refused\n");
            return 1;
        }
    }
    uint32_t adapted_size = 0;
    const uint32_t t0 = board_timer_read();
    const tl_status ws = tl_learn_write_model(&l, adapted, sizeof adapted, &adapted_size);
    const uint32_t write_ticks = t0 - board_timer_read();
    const uint32_t n = tl_learn_delta_count(&l);
    if (ws != TL_OK || n > sizeof delta / sizeof delta[0] || tl_learn_delta(&l, delta, n) != TL_OK) {
        board_write("learn: cannot write the adapted model\n");
        return 1;
    }
    if (board_write_file(args[3], adapted, adapted_size) || board_write_file(args[4], delta, n * 4u)) {
        board_write("learn: cannot write the results\n");
        return 1;
    }
    report("samples: ", h.count);
    report("work bytes: ", (uint32_t)work_size);
    report("learner bytes: ", (uint32_t)sizeof l);
    report("forward ticks: ", forward_ticks);
    report("learn ticks: ", learn_ticks);
    report("write ticks: ", write_ticks);
    return 0;
}
