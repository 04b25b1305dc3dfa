/* cmd_sign.c - `tinylarge keygen`, `tinylarge sign`, `tinylarge verify`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "tinylarge/convert.h"
#include "tinylarge/edge.h"
#include "tinylarge/host.h"

int tl_cmd_keygen(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--out") != 0) {
        if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            printf("usage: tinylarge keygen --out NAME\n\nCreates an Ed25519 key pair for signing models:\n"
                   "NAME.key (secret, mode 0600, kept on the server) and NAME.pub (for devices).\n"
                   "Existing files are never overwritten.\n");
            return 0;
        }
        return tl_cli_fail("keygen", "usage: tinylarge keygen --out NAME");
    }
    char secret[4096], public_key[4096];
    snprintf(secret, sizeof secret, "%s.key", argv[2]);
    snprintf(public_key, sizeof public_key, "%s.pub", argv[2]);
    if (tl_keygen(secret, public_key) != TL_OK) {
        return tl_cli_fail("keygen", "%s: cannot create (it may exist already; keys are never overwritten)", secret);
    }
    printf("created %s (secret, owner only) and %s\n", secret, public_key);
    return 0;
}

/* sign MODEL --key NAME.key  /  verify MODEL --pub NAME.pub */
static int sign_or_verify(int argc, char **argv, int sign)
{
    const char *cmd = sign ? "sign" : "verify", *flag = sign ? "--key" : "--pub";
    if (argc != 4 || strcmp(argv[2], flag) != 0) {
        return tl_cli_fail(cmd, "usage: tinylarge %s MODEL.tlm %s %s", cmd, flag, sign ? "NAME.key" : "NAME.pub");
    }
    uint8_t key[TL_SECRET_KEY_BYTES];
    char error[512];
    if (sodium_init() < 0 || tl_key_read(argv[3], sign, key, error, sizeof error) != TL_OK) {
        return tl_cli_fail(cmd, "%s", error);
    }
    uint8_t *model;
    size_t size;
    if (tl_read_file(argv[1], &model, &size) != TL_OK) {
        sodium_memzero(key, sizeof key);
        return tl_cli_fail(cmd, "%s: cannot read", argv[1]);
    }
    tl_status s = sign ? tl_model_sign(model, size, key) : tl_model_verify(model, size, key);
    sodium_memzero(key, sizeof key);
    int rc = 0;
    if (s != TL_OK) {
        rc = tl_cli_fail(cmd, "%s: %s", argv[1],
                         s == TL_ERR_SIGNATURE ? "signature missing or invalid for this key" : tl_status_str(s));
    } else if (sign && tl_write_file_atomic(argv[1], model, size) != TL_OK) {
        rc = tl_cli_fail(cmd, "%s: cannot write", argv[1]);
    } else {
        printf(sign ? "signed %s\n" : "%s: signature valid\n", argv[1]);
    }
    free(model);
    return rc;
}

int tl_cmd_sign(int argc, char **argv) { return sign_or_verify(argc, argv, 1); }
int tl_cmd_verify(int argc, char **argv) { return sign_or_verify(argc, argv, 0); }
