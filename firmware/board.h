/* board.h - what the firmware needs of the mps2-an386 board: semihosting
 * output and exit, and the CMSDK APB timer used to count instructions. */
#ifndef TL_BOARD_H
#define TL_BOARD_H

#include <stdint.h>

/* A semihosting call (ARM's semihosting numbers: 0x01 open, 0x06 read, ...). */
uint32_t board_semihost(uint32_t op, const void *arg);
void board_write(const char *text);
void board_write_u32(uint32_t value);
void board_write_i32(int32_t value);
void board_exit(int success);

/* The semihosting command line split at spaces into args[0..max) (args[0]
 * is the image's own name); returns the count, 0 if there is none. The
 * words live in a static buffer. */
int board_args(const char **args, int max);
/* Reads a host file into buf; returns its size, or -1 (missing, larger
 * than capacity, short read). */
int32_t board_read_file(const char *path, uint8_t *buf, uint32_t capacity);
/* Writes (creates or truncates) a host file; 0 on success. */
int board_write_file(const char *path, const void *data, uint32_t size);

/* Prints a run's result in the form the tests and benchmarks read:
 * "output: v v ...", "arena: N", "timer ticks: N". */
void board_report(const int8_t *out, uint32_t size, uint32_t arena, uint32_t ticks);

/* Free-running down-counter at 25 MHz; under `qemu -icount shift=0` one
 * tick is 40 executed instructions. */
void board_timer_start(void);
uint32_t board_timer_read(void);

/* Stack depth by painting. board_stack_paint() (inlined into its caller)
 * fills the BOARD_STACK_PAINT_BYTES below the caller's stack pointer, less
 * a 64-byte margin for the caller's own spills, and returns where the paint
 * ends; board_stack_used(top) is how deep what ran since went below the
 * caller's stack pointer: the deepest byte changed, plus the margin (so at
 * most 64 bytes over). */
#define BOARD_STACK_PAINT_BYTES 16384u
#define BOARD_STACK_MARGIN 64u
#define BOARD_STACK_PAINT 0xA5u
static inline uint8_t *board_stack_paint(void)
{
    uint8_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    uint8_t *top = sp - BOARD_STACK_MARGIN;
    for (uint8_t *p = top - BOARD_STACK_PAINT_BYTES; p < top; ++p) {
        *(volatile uint8_t *)p = BOARD_STACK_PAINT;
    }
    return top;
}
uint32_t board_stack_used(const uint8_t *top);

/* UART0 (CMSDK APB UART), polled: QEMU connects it to a host chardev with
 * -serial (a socket, for the update gateway). */
void board_uart_init(void);
void board_uart_write(const uint8_t *data, uint32_t size);
/* The next received byte, or -1 if none is waiting. */
int board_uart_read(void);

#endif /* TL_BOARD_H */
