/* test_dtls_gate.c - the filter in front of the DTLS endpoint: what it
 * holds, what it lets through, and when. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "tinylarge/dtls_gate.h"

/* The first bytes of a DTLS 1.2 ClientHello record in epoch 0. */
static const uint8_t hello[14] = { 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 1 };

static struct sockaddr_in peer(uint32_t host, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(host);
    a.sin_port = htons(port);
    return a;
}

static tl_gate_verdict judge(tl_dtls_gate *g, const uint8_t *d, size_t size, uint32_t host, uint16_t port, double now)
{
    const struct sockaddr_in a = peer(host, port);
    return tl_dtls_gate_judge(g, d, size, (const struct sockaddr *)&a, sizeof a, now);
}

static void below_the_alarm_every_hello_passes_at_once(void **state)
{
    (void)state;
    tl_dtls_gate *g;
    assert_int_equal(tl_dtls_gate_new(&g, 1024, 10.0, 100.0), TL_OK);
    for (uint32_t i = 0; i < 100; ++i) {
        assert_int_equal(judge(g, hello, sizeof hello, 0x7f000001u + i, 5000, 1000.0 + i * 0.001), TL_GATE_PASS);
    }
    assert_false(tl_dtls_gate_stats_of(g, 1000.2).flooding);
    assert_int_equal(tl_dtls_gate_stats_of(g, 1000.2).held, 0);
    tl_dtls_gate_free(g);
}

static void in_a_flood_an_address_first_hello_is_held_and_its_retransmission_passes(void **state)
{
    (void)state;
    tl_dtls_gate *g;
    assert_int_equal(tl_dtls_gate_new(&g, 65536, 10.0, 100.0), TL_OK);
    /* 2,000 one-off hellos in a second: past the first 100, each is held. */
    int held = 0;
    for (uint32_t i = 0; i < 2000; ++i) {
        held += judge(g, hello, sizeof hello, 0x0a000000u + i, 4000, 50.0 + i * 0.0005) == TL_GATE_DROP;
    }
    assert_int_equal(held, 1900);
    assert_true(tl_dtls_gate_stats_of(g, 50.9).flooding);
    /* A device's hello in the flood: held, then its retransmission a second
     * later passes, and so does the rest of its handshake. */
    assert_int_equal(judge(g, hello, sizeof hello, 0xc0a80001u, 40000, 50.99), TL_GATE_DROP);
    for (uint32_t i = 0; i < 2000; ++i) { /* the flood goes on */
        judge(g, hello, sizeof hello, 0x0b000000u + i, 4000, 51.0 + i * 0.0005);
    }
    assert_int_equal(judge(g, hello, sizeof hello, 0xc0a80001u, 40000, 51.99), TL_GATE_PASS);
    assert_int_equal(judge(g, hello, sizeof hello, 0xc0a80001u, 40000, 52.10), TL_GATE_PASS);
    /* Another port of the same address is another peer. */
    assert_int_equal(judge(g, hello, sizeof hello, 0xc0a80001u, 40001, 51.99), TL_GATE_DROP);
    /* Past the window the address is new again. */
    judge(g, hello, sizeof hello, 0x0c000000u, 4000, 61.5);
    for (uint32_t i = 0; i < 200; ++i) {
        judge(g, hello, sizeof hello, 0x0d000000u + i, 4000, 61.5 + i * 0.001);
    }
    assert_int_equal(judge(g, hello, sizeof hello, 0xc0a80001u, 40000, 61.8), TL_GATE_DROP);
    tl_dtls_gate_free(g);
}

static void only_first_epoch_client_hellos_are_ever_held(void **state)
{
    (void)state;
    tl_dtls_gate *g;
    assert_int_equal(tl_dtls_gate_new(&g, 1024, 10.0, 0.5), TL_OK); /* below 1: every first hello held */
    uint8_t d[14];
    memcpy(d, hello, sizeof d);
    d[13] = 16; /* ClientKeyExchange */
    assert_int_equal(judge(g, d, sizeof d, 1, 1, 5.0), TL_GATE_PASS);
    memcpy(d, hello, sizeof d);
    d[4] = 1; /* epoch 1: encrypted */
    assert_int_equal(judge(g, d, sizeof d, 1, 1, 5.0), TL_GATE_PASS);
    d[0] = 23; /* application data */
    assert_int_equal(judge(g, d, sizeof d, 1, 1, 5.0), TL_GATE_PASS);
    assert_int_equal(judge(g, hello, 13, 1, 1, 5.0), TL_GATE_PASS); /* too short to be a hello */
    assert_int_equal(judge(g, (const uint8_t *)"\x40\x01\x00\x01", 4, 1, 1, 5.0), TL_GATE_PASS); /* plain CoAP */
    assert_int_equal(judge(g, hello, sizeof hello, 1, 1, 5.0), TL_GATE_DROP);
    assert_int_equal(judge(g, hello, sizeof hello, 1, 1, 6.0), TL_GATE_PASS);
    assert_int_equal(tl_dtls_gate_stats_of(g, 6.0).held, 1);
    tl_dtls_gate_free(g);
}

static void the_flood_mode_ends_when_the_hellos_stop(void **state)
{
    (void)state;
    tl_dtls_gate *g;
    assert_int_equal(tl_dtls_gate_new(&g, 4096, 10.0, 10.0), TL_OK);
    for (uint32_t i = 0; i < 50; ++i) {
        judge(g, hello, sizeof hello, 0x0a000000u + i, 1, 100.0 + i * 0.01);
    }
    assert_true(tl_dtls_gate_stats_of(g, 100.6).flooding);
    assert_true(tl_dtls_gate_stats_of(g, 101.5).flooding); /* the last whole second still counts */
    assert_false(tl_dtls_gate_stats_of(g, 102.1).flooding);
    assert_int_equal(judge(g, hello, sizeof hello, 0x0b000001u, 1, 102.1), TL_GATE_PASS);
    tl_dtls_gate_free(g);
}

static void a_gate_needs_room_and_a_window(void **state)
{
    (void)state;
    tl_dtls_gate *g = (tl_dtls_gate *)&g;
    assert_int_equal(tl_dtls_gate_new(&g, 2, 10.0, 100.0), TL_ERR_ARG);
    assert_null(g);
    assert_int_equal(tl_dtls_gate_new(&g, 1024, 0.0, 100.0), TL_ERR_ARG);
    assert_int_equal(tl_dtls_gate_new(&g, 1024, 10.0, -1.0), TL_ERR_ARG);
    tl_dtls_gate_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(below_the_alarm_every_hello_passes_at_once),
        cmocka_unit_test(in_a_flood_an_address_first_hello_is_held_and_its_retransmission_passes),
        cmocka_unit_test(only_first_epoch_client_hellos_are_ever_held),
        cmocka_unit_test(the_flood_mode_ends_when_the_hellos_stop),
        cmocka_unit_test(a_gate_needs_room_and_a_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
