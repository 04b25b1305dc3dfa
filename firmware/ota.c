/* ota.c - a Cortex-M4 device that receives models in situ: the update
 * state machine (src/device/update/) on this board, driven over UART0 by a
 * gateway (`tinylarge device --uart`), which speaks CoAP to the edge server
 * and relays the signed manifest and the blocks (update_link.h).
 *
 * The board's "flash" is RAM here: two model slots, a staging region for
 * progressive streams, and the record, kept across gateway restarts for as
 * long as the firmware runs (a real device keeps them in flash through
 * power cuts; the machine is the same). RUN runs the running model on the
 * same pseudo-random input as `tinylarge run --seed 1` and answers with
 * its output, so the gateway can compare it with the host's.
 *
 * Progress goes to the semihosting console; the link carries only frames.
 */
#include <string.h>

#include "board.h"
#include "fw_run.h"
#include "tinylarge/device.h"
#include "tinylarge/update.h"
#include "tinylarge/update_link.h"

#define SLOT_BYTES (160u << 10)
#define STAGING_BYTES (192u << 10)
#define ARENA_BYTES (128u << 10)

/* The publisher's public key, provisioned at boot: a `tinylarge keygen`
 * .pub file (a label line, then 64 hex digits) named on the semihosting
 * command line, as a real device would read it from its provisioning
 * flash. */
static uint8_t publisher_key[32];

static uint8_t slots[2][SLOT_BYTES] __attribute__((aligned(16)));
static uint8_t staging[STAGING_BYTES] __attribute__((aligned(16)));
static uint8_t work[SLOT_BYTES] __attribute__((aligned(16)));
static uint8_t arena[ARENA_BYTES] __attribute__((aligned(16)));
static tl_update_record stored;
static int has_stored;
static tl_update machine;
static tl_link_reader reader;

static uint8_t *region(tl_update_region r)
{
    return r == TL_REGION_STAGING ? staging : slots[r];
}

static tl_status flash_erase(void *user, tl_update_region r, uint32_t offset, uint32_t size)
{
    (void)user;
    memset(region(r) + offset, 0xFF, size);
    return TL_OK;
}

static tl_status flash_write(void *user, tl_update_region r, uint32_t offset, const void *data, uint32_t size)
{
    (void)user;
    memcpy(region(r) + offset, data, size);
    return TL_OK;
}

static const uint8_t *flash_map(void *user, tl_update_region r)
{
    (void)user;
    return region(r);
}

static tl_status record_save(void *user, const tl_update_record *record)
{
    (void)user;
    stored = *record;
    has_stored = 1;
    return TL_OK;
}

static void on_event(void *user, const tl_update_event *e)
{
    (void)user;
    board_write(e->kind == TL_UPDATE_INSTALLED ? "ota: installed " : "ota: prefix runnable, ");
    board_write(e->manifest->model);
    board_write(" version ");
    board_write_u32(e->manifest->version);
    board_write(" (");
    board_write_u32(e->size);
    board_write(" bytes)\n");
}

static void send(uint8_t type, const void *payload, uint32_t size)
{
    static uint8_t frame[TL_LINK_MAX_PAYLOAD + TL_LINK_OVERHEAD];
    const size_t n = tl_link_frame(type, payload, size, frame, sizeof frame);
    board_uart_write(frame, (uint32_t)n);
}

static void answer_state(tl_status status, uint32_t verdict, int installed)
{
    tl_update_state st;
    uint8_t out[TL_LINK_STATE_BYTES];
    tl_update_state_of(&machine, status, &st);
    st.verdict = verdict;
    st.installed = (uint32_t)installed;
    tl_link_put_state(&st, out);
    send(TL_LINK_STATE, out, sizeof out);
}

/* The running model on the seeded input: status, arena, ticks, output. */
static void run_active(void)
{
    static uint8_t out[9 + 256];
    uint32_t size = 0, ticks = 0, out_size = 0;
    const uint8_t *bytes = tl_update_active(&machine, &size);
    tl_model m;
    tl_interp it;
    tl_status s = bytes ? tl_model_load(&m, bytes, size, 0) : TL_ERR_STATE;
    if (s == TL_OK) {
        s = tl_interp_init(&it, &m, arena, sizeof arena);
    }
    const int8_t *output = NULL;
    if (s == TL_OK) {
        fw_seeded_input(&it);
        s = fw_timed_invoke(&it, &ticks, NULL) ? TL_ERR_STATE : TL_OK;
        output = s == TL_OK ? tl_interp_output(&it, 0, &out_size) : NULL;
        if (out_size > 256) {
            out_size = 256;
        }
    }
    const uint32_t arena_used = s == TL_OK ? tl_model_arena_size(&m) : 0;
    out[0] = (uint8_t)s;
    for (int i = 0; i < 4; ++i) {
        out[1 + i] = (uint8_t)(arena_used >> (8 * i));
        out[5 + i] = (uint8_t)(ticks >> (8 * i));
    }
    if (output) {
        memcpy(out + 9, output, out_size);
    }
    send(TL_LINK_OUTPUT, out, 9 + (output ? out_size : 0));
}

static void handle(uint8_t type, const uint8_t *p, uint32_t size)
{
    tl_status s = TL_OK;
    int installed = 0;
    tl_update_verdict verdict = (tl_update_verdict)0;
    switch (type) {
    case TL_LINK_HELLO:
        break;
    case TL_LINK_OFFER:
        if (size < 2) {
            s = TL_ERR_TRUNCATED;
            break;
        }
        machine.config.first_planes = p[1] ? p[1] : 4;
        s = tl_update_offer(&machine, p + 2, size - 2, p[0], &verdict);
        break;
    case TL_LINK_BLOCK: {
        if (size < 4) {
            s = TL_ERR_TRUNCATED;
            break;
        }
        const uint32_t index = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        s = tl_update_block(&machine, index, p + 4, size - 4, &installed);
        break;
    }
    case TL_LINK_SAVE:
        s = tl_update_checkpoint(&machine);
        break;
    case TL_LINK_RUN:
        run_active();
        return;
    default:
        s = TL_ERR_UNSUPPORTED;
        break;
    }
    answer_state(s, (uint32_t)verdict, installed);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Reads the key file named by the command line ("ota KEY.pub"). */
static int provision_key(void)
{
    static char text[256];
    const char *args[2];
    if (board_args(args, 2) != 2) {
        board_write("ota: usage: ota KEY.pub (arg=ota,arg=KEY.pub)\n");
        return 1;
    }
    const int32_t size = board_read_file(args[1], (uint8_t *)text, sizeof text - 1);
    if (size < 0) {
        board_write("ota: cannot read the key file\n");
        return 1;
    }
    text[size] = '\0';
    const char *hex = strchr(text, '\n');
    for (int i = 0; hex && i < 32; ++i) {
        const int hi = hex_digit(hex[1 + 2 * i]), lo = hex_digit(hex[2 + 2 * i]);
        if (hi < 0 || lo < 0) {
            hex = NULL;
            break;
        }
        publisher_key[i] = (uint8_t)(hi << 4 | lo);
    }
    if (!hex) {
        board_write("ota: the key file is not a tinylarge public key\n");
        return 1;
    }
    return 0;
}

int main(void)
{
    if (provision_key()) {
        return 1;
    }
    board_uart_init();
    tl_link_reader_init(&reader);
    const tl_update_io io = { flash_erase, flash_write, flash_map, { SLOT_BYTES, SLOT_BYTES, STAGING_BYTES },
                              record_save, NULL, on_event, NULL };
    tl_update_config config;
    memset(&config, 0, sizeof config);
    config.public_key = publisher_key;
    config.target = "cortex-m4";
    config.work = work;
    config.work_size = sizeof work;
    config.save_every = 1; /* the record is RAM here: saving is a copy */
    if (tl_update_start(&machine, &config, &io, has_stored ? &stored : NULL) != TL_OK) {
        board_write("ota: cannot start the update machine\n");
        return 1;
    }
    board_write("ota: waiting for the gateway on UART0\n");
    for (;;) {
        const int byte = board_uart_read();
        if (byte >= 0 && tl_link_feed(&reader, (uint8_t)byte)) {
            handle(reader.type, reader.payload, reader.size);
        }
    }
}
