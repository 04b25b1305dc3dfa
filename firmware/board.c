/* board.c - start-up, semihosting and timer for QEMU's mps2-an386. */
#include <string.h>

#include "board.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
int main(void);
void tl_reset_handler(void);
static void fault_handler(void);

/* Cortex-M vector table: initial stack, reset, NMI, hard fault, ... */
__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top), tl_reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, 0, 0, fault_handler,
    fault_handler,
};

void tl_reset_handler(void)
{
    uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    /* Enable the FPU (CP10, CP11) before any code may use it. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    board_exit(main() == 0);
}

static void fault_handler(void)
{
    board_write("fault\n");
    board_exit(0);
}

uint32_t board_semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_write(const char *text)
{
    board_semihost(0x04, text); /* SYS_WRITE0 */
}

void board_write_u32(uint32_t value)
{
    char buf[11];
    int i = 10;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    board_write(buf + i);
}

void board_write_i32(int32_t value)
{
    if (value < 0) {
        board_write("-");
        board_write_u32((uint32_t)(-(int64_t)value));
    } else {
        board_write_u32((uint32_t)value);
    }
}

void board_report(const int8_t *out, uint32_t size, uint32_t arena, uint32_t ticks)
{
    board_write("output:");
    for (uint32_t i = 0; i < size; ++i) {
        board_write(" ");
        board_write_i32(out[i]);
    }
    board_write("\narena: ");
    board_write_u32(arena);
    board_write("\ntimer ticks: ");
    board_write_u32(ticks);
    board_write("\n");
}

void board_exit(int success)
{
    /* SYS_EXIT: ADP_Stopped_ApplicationExit ends QEMU with status 0,
     * ADP_Stopped_RunTimeErrorUnknown with status 1. */
    board_semihost(0x18, (const void *)(success ? 0x20026u : 0x20023u));
    for (;;) {
    }
}

int board_args(const char **args, int max)
{
    static char cmdline[512];
    uint32_t block[2] = { (uint32_t)(uintptr_t)cmdline, sizeof cmdline };
    if (board_semihost(0x15, block) != 0) { /* SYS_GET_CMDLINE */
        return 0;
    }
    int count = 0;
    for (char *p = cmdline; *p && count < max;) {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p) {
            args[count++] = p;
        }
        while (*p && *p != ' ') {
            ++p;
        }
    }
    return count;
}

static int32_t open_file(const char *path, uint32_t mode)
{
    uint32_t open_args[3] = { (uint32_t)(uintptr_t)path, mode, (uint32_t)strlen(path) };
    return (int32_t)board_semihost(0x01, open_args); /* SYS_OPEN */
}

int32_t board_read_file(const char *path, uint8_t *buf, uint32_t capacity)
{
    const int32_t fd = open_file(path, 1 /* "rb" */);
    if (fd < 0) {
        return -1;
    }
    uint32_t handle = (uint32_t)fd;
    const int32_t size = (int32_t)board_semihost(0x0C, &handle); /* SYS_FLEN */
    uint32_t read_args[3] = { handle, (uint32_t)(uintptr_t)buf, size > 0 ? (uint32_t)size : 0 };
    const int ok = size >= 0 && (uint32_t)size <= capacity && board_semihost(0x06, read_args) == 0; /* SYS_READ */
    board_semihost(0x02, &handle); /* SYS_CLOSE */
    return ok ? size : -1;
}

int board_write_file(const char *path, const void *data, uint32_t size)
{
    const int32_t fd = open_file(path, 5 /* "wb" */);
    if (fd < 0) {
        return 1;
    }
    uint32_t handle = (uint32_t)fd;
    uint32_t write_args[3] = { handle, (uint32_t)(uintptr_t)data, size };
    const uint32_t missing = board_semihost(0x05, write_args); /* SYS_WRITE: bytes not written */
    return (board_semihost(0x02, &handle) != 0) | (missing != 0); /* SYS_CLOSE */
}

#define TIMER0 ((volatile uint32_t *)0x40000000u)

void board_timer_start(void)
{
    TIMER0[0] = 0;            /* CTRL: stop */
    TIMER0[2] = 0xFFFFFFFFu;  /* RELOAD */
    TIMER0[1] = 0xFFFFFFFFu;  /* VALUE */
    TIMER0[0] = 1;            /* CTRL: enable */
}

uint32_t board_timer_read(void)
{
    return TIMER0[1];
}

#define UART0 ((volatile uint32_t *)0x40004000u)
enum { UART_DATA = 0, UART_STATE = 1, UART_CTRL = 2, UART_BAUDDIV = 4 };

void board_uart_init(void)
{
    UART0[UART_BAUDDIV] = 16; /* QEMU ignores the rate but refuses a divider below 16 */
    UART0[UART_CTRL] = 3;     /* TX and RX enabled */
}

void board_uart_write(const uint8_t *data, uint32_t size)
{
    for (uint32_t i = 0; i < size; ++i) {
        while (UART0[UART_STATE] & 1u) { /* TX buffer full */
        }
        UART0[UART_DATA] = data[i];
    }
}

int board_uart_read(void)
{
    return UART0[UART_STATE] & 2u ? (int)(UART0[UART_DATA] & 0xFFu) : -1;
}

uint32_t board_stack_used(const uint8_t *top)
{
    const uint8_t *p = top - BOARD_STACK_PAINT_BYTES;
    while (p < top && *p == BOARD_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)(top - p) + BOARD_STACK_MARGIN;
}
