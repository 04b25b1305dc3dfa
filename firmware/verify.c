/* verify.c - firmware that measures the update code on the Cortex-M4: one
 * Ed25519 signature check (RFC 8032's third test vector, which the host
 * tests hold to libsodium), timed with the board's timer (x 40 = executed
 * instructions under -icount shift=0), the stack it takes (the stack below
 * the caller painted first, the deepest byte changed found after), and the
 * same signature with one bit flipped, which must be refused. The RAM the
 * state machine itself holds is sizeof(tl_update), printed too.
 */
#include <string.h>

#include "board.h"
#include "tinylarge/ed25519.h"
#include "tinylarge/update.h"

static const uint8_t public_key[32] = {
    0xfc, 0x51, 0xcd, 0x8e, 0x62, 0x18, 0xa1, 0xa3, 0x8d, 0xa4, 0x7e, 0xd0, 0x02, 0x30, 0xf0, 0x58,
    0x08, 0x16, 0xed, 0x13, 0xba, 0x33, 0x03, 0xac, 0x5d, 0xeb, 0x91, 0x15, 0x48, 0x90, 0x80, 0x25
};
static const uint8_t message[2] = { 0xaf, 0x82 };
static uint8_t signature[64] = {
    0x62, 0x91, 0xd6, 0x57, 0xde, 0xec, 0x24, 0x02, 0x48, 0x27, 0xe6, 0x9c, 0x3a, 0xbe, 0x01, 0xa3,
    0x0c, 0xe5, 0x48, 0xa2, 0x84, 0x74, 0x3a, 0x44, 0x5e, 0x36, 0x80, 0xd7, 0xdb, 0x5a, 0xc3, 0xac,
    0x18, 0xff, 0x9b, 0x53, 0x8d, 0x16, 0xf2, 0x90, 0xae, 0x67, 0xf7, 0x60, 0x98, 0x4d, 0xc6, 0x59,
    0x4a, 0x7c, 0x15, 0xe9, 0x71, 0x6e, 0xd2, 0x8d, 0xc0, 0x27, 0xbe, 0xce, 0xea, 0x1e, 0xc4, 0x0a
};

/* Paints the stack below this frame, runs one check, and returns how deep
 * the check went (board_stack_used: at most the 64-byte margin over). */
static uint32_t __attribute__((noinline)) deepest(tl_status *status, uint32_t *ticks)
{
    uint8_t *top = board_stack_paint();
    board_timer_start();
    const uint32_t t0 = board_timer_read();
    *status = tl_ed25519_verify(signature, message, sizeof message, public_key);
    *ticks = t0 - board_timer_read(); /* the timer counts down */
    return board_stack_used(top);
}

int main(void)
{
    tl_status s;
    uint32_t ticks;
    const uint32_t stack = deepest(&s, &ticks);
    board_write(s == TL_OK ? "signature check: ok\n" : "signature check: FAILED\n");
    board_write("timer ticks: ");
    board_write_u32(ticks);
    board_write("\nstack: ");
    board_write_u32(stack);
    board_write("\nupdate state: ");
    board_write_u32((uint32_t)sizeof(tl_update));
    board_write("\n");
    signature[10] ^= 1;
    const tl_status tampered = tl_ed25519_verify(signature, message, sizeof message, public_key);
    board_write(tampered == TL_ERR_SIGNATURE ? "tampered: refused\n" : "tampered: ACCEPTED\n");
    return s == TL_OK && tampered == TL_ERR_SIGNATURE ? 0 : 1;
}
