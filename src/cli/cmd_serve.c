/* cmd_serve.c - `tinylarge serve` (the edge server) and `tinylarge device`
 * (one device's update round), over CoAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cli.h"
#include "tinylarge/convert.h"
#include "tinylarge/edge.h"
#include "tinylarge/large.h"

int tl_cmd_serve(int argc, char **argv)
{
    const char *db = NULL, *host = "127.0.0.1";
    uint32_t port = 5683;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: tinylarge serve --db LIB [--host ADDRESS] [--port N]\n\n"
                   "The edge server: CoAP over UDP (default 127.0.0.1:5683) with\n"
                   "  GET /plan?name=N&flash=B&ram=B&macs=R&rate=BPS   the variant for a device\n"
                   "  GET /model?name=N&version=V&variant=X            its bytes, block-wise\n"
                   "until interrupted.\n");
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
            host = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            if (tl_cli_parse_u32(argv[++i], &port) || port == 0 || port > 65535) {
                return tl_cli_fail("serve", "--port needs 1..65535, not '%s'", argv[i]);
            }
        } else {
            return tl_cli_fail("serve", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!db) {
        return tl_cli_fail("serve", "need --db LIB");
    }
    char error[512] = "";
    if (tl_serve(db, host, (uint16_t)port, error, sizeof error) != 0) {
        return tl_cli_fail("serve", "%s", error);
    }
    return 0;
}

int tl_cmd_device(int argc, char **argv)
{
    const char *server = NULL, *name = NULL, *slots = NULL, *pub = NULL;
    tl_device_profile d = { 0, 0, 0, 0, 0 };
    double rate = 0, value;
    uint32_t eval = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: tinylarge device --server HOST:PORT --name NAME --slots DIR --flash B --ram B\n"
                   "                        --mac-rate R --rate BPS [--pub SERVER.pub] [--eval N]\n\n"
                   "One update round of a device: asks the edge server which variant fits,\n"
                   "downloads it, checks digest and signature (with --pub), refuses an older\n"
                   "version, installs it in the inactive of two slots in DIR and switches; any\n"
                   "failure keeps the running model. --eval runs the active model on N test images.\n");
            return 0;
        }
        if (i + 1 >= argc) {
            return tl_cli_fail("device", "incomplete option '%s'", a);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--server")) server = v;
        else if (!strcmp(a, "--name")) name = v;
        else if (!strcmp(a, "--slots")) slots = v;
        else if (!strcmp(a, "--pub")) pub = v;
        else if (!strcmp(a, "--eval")) {
            if (tl_cli_parse_u32(v, &eval)) return tl_cli_fail("device", "--eval needs a number, not '%s'", v);
        } else if (tl_cli_quantity(v, &value) != 0) {
            return tl_cli_fail("device", "%s needs a non-negative number (K/M/G allowed), not '%s'", a, v);
        } else if (!strcmp(a, "--flash")) d.flash_bytes = (uint64_t)value;
        else if (!strcmp(a, "--ram")) d.ram_bytes = (uint64_t)value;
        else if (!strcmp(a, "--mac-rate")) d.macs_per_second = value;
        else if (!strcmp(a, "--rate")) rate = value;
        else return tl_cli_fail("device", "unknown option '%s'", a);
    }
    if (!server || !name || !slots || !d.flash_bytes || !d.ram_bytes || !(d.macs_per_second > 0) || !(rate > 0)) {
        return tl_cli_fail("device", "need --server, --name, --slots, --flash, --ram, --mac-rate and --rate");
    }
    char host[64];
    uint32_t port = 5683;
    const char *colon = strrchr(server, ':');
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - server) : (int)strlen(server), server);
    if (colon && (tl_cli_parse_u32(colon + 1, &port) || port == 0 || port > 65535)) {
        return tl_cli_fail("device", "bad server port in '%s'", server);
    }
    mkdir(slots, 0755);
    uint8_t key[TL_PUBLIC_KEY_BYTES];
    char msg[512] = "";
    if (pub && (sodium_init() < 0 || tl_key_read(pub, 0, key, msg, sizeof msg) != TL_OK)) {
        return tl_cli_fail("device", "%s", msg);
    }
    const tl_status s = tl_device_update(host, (uint16_t)port, name, &d, rate, pub ? key : NULL, slots, msg, sizeof msg);
    if (s != TL_OK) {
        return tl_cli_fail("device", "%s", msg);
    }
    printf("%s\n", msg);
    char slot[2];
    int version;
    char variant[40];
    if (eval && tl_device_active(slots, slot, &version, variant)) {
        char path[4200], error[512];
        snprintf(path, sizeof path, "%.4000s/slot-%s.tlm", slots, slot);
        uint8_t *model;
        size_t size;
        tl_dataset test;
        float acc[16];
        int exits;
        if (tl_read_file(path, &model, &size) != TL_OK ||
            tl_fashion_mnist_load(NULL, 0, (int)eval, &test, error, sizeof error) != TL_OK) {
            return tl_cli_fail("device", "cannot evaluate %s", path);
        }
        if (tl_device_accuracy(model, size, &test, acc, &exits) == TL_OK) {
            printf("active model %s version %d: accuracy %.4f on %d test images\n", variant, version,
                   (double)acc[exits - 1], test.n);
        }
        free(model);
        tl_dataset_free(&test);
    }
    return 0;
}
