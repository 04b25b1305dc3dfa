/* fw_run.h - what every firmware image does with a model: load and bind it
 * (reporting failures over semihosting) and time one inference. */
#ifndef TL_FW_RUN_H
#define TL_FW_RUN_H

#include <stdint.h>

#include "tinylarge/device.h"

/* Loads `size` bytes of model and binds the arena; 0 on success, else it
 * has printed why and returns 1. */
int fw_load(const uint8_t *model, uint32_t size, uint8_t *arena, uint32_t arena_size, tl_model *m, tl_interp *it);

/* Fills each input k with the pseudo-random values `tinylarge run --seed 1`
 * uses (byte i is (s >> 16) & 0xff after s = s * 1103515245 + 12345, from
 * s = 1 + k; a float takes that byte - 128, over 128), so outputs compare
 * with the host's. */
void fw_seeded_input(tl_interp *it);

/* Runs every operator; the board timer's ticks go to *ticks and, unless
 * stack is NULL, the bytes of stack the inference took (measured by
 * painting) to *stack. 0 on success. */
int fw_timed_invoke(tl_interp *it, uint32_t *ticks, uint32_t *stack);

#endif /* TL_FW_RUN_H */
