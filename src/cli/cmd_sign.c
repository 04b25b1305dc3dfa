/* cmd_sign.c - `tinylarge keygen`, `tinylarge sign`, `tinylarge verify`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/edge.h"
#include "tinylarge/host.h"

int tl_cmd_keygen(int argc, char **argv)
{
    const char *name = NULL;
    const tl_opt options[] = {
        { "--out", TL_OPT_TEXT, &name, 0, 0, "NAME", "write NAME.key and NAME.pub (required)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "keygen",
        "usage: tinylarge keygen --out NAME\n\nCreates an Ed25519 key pair for signing models:\n"
        "NAME.key (secret, mode 0600, kept on the server) and NAME.pub (for devices).\n"
        "Existing files are never overwritten.",
        options, NULL, 0, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!name) {
        return tl_cli_fail("keygen", "usage: tinylarge keygen --out NAME");
    }
    char secret[4096], public_key[4096];
    snprintf(secret, sizeof secret, "%.4000s.key", name);
    snprintf(public_key, sizeof public_key, "%.4000s.pub", name);
    if (tl_keygen(secret, public_key) != TL_OK) {
        return tl_cli_fail("keygen", "%s: cannot create (it may exist already; keys are never overwritten)", secret);
    }
    printf("created %s (secret, owner only) and %s\n", secret, public_key);
    return 0;
}

/* sign MODEL --key NAME.key  /  verify MODEL --pub NAME.pub */
static int sign_or_verify(int argc, char **argv, int sign)
{
    const char *cmd = sign ? "sign" : "verify", *path = NULL, *key_path = NULL;
    const tl_opt options[] = {
        { sign ? "--key" : "--pub", TL_OPT_TEXT, &key_path, 0, 0, sign ? "NAME.key" : "NAME.pub",
          sign ? "the secret key (required)" : "the public key (required)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        cmd,
        sign ? "usage: tinylarge sign MODEL.tlm --key NAME.key\n\n"
               "Signs the model in place: Ed25519 over its SHA-256 digest, in its trailer."
             : "usage: tinylarge verify MODEL.tlm --pub NAME.pub\n\n"
               "Checks the model's digest and its signature under the public key.",
        options, &path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!path || !key_path) {
        return tl_cli_fail(cmd, "usage: tinylarge %s MODEL.tlm %s %s", cmd, sign ? "--key" : "--pub",
                           sign ? "NAME.key" : "NAME.pub");
    }
    uint8_t key[TL_SECRET_KEY_BYTES];
    char error[512];
    if (sodium_init() < 0 || tl_key_read(key_path, sign, key, error, sizeof error) != TL_OK) {
        return tl_cli_fail(cmd, "%s", error);
    }
    uint8_t *model;
    size_t size;
    if (tl_read_file(path, &model, &size) != TL_OK) {
        sodium_memzero(key, sizeof key);
        return tl_cli_fail(cmd, "%s: cannot read", path);
    }
    tl_status s = sign ? tl_model_sign(model, size, key) : tl_model_verify(model, size, key);
    sodium_memzero(key, sizeof key);
    int rc = 0;
    if (s != TL_OK) {
        rc = tl_cli_fail(cmd, "%s: %s", path,
                         s == TL_ERR_SIGNATURE ? "signature missing or invalid for this key" : tl_status_str(s));
    } else if (sign && tl_write_file_atomic(path, model, size) != TL_OK) {
        rc = tl_cli_fail(cmd, "%s: cannot write", path);
    } else {
        printf(sign ? "signed %s\n" : "%s: signature valid\n", path);
    }
    free(model);
    return rc;
}

int tl_cmd_sign(int argc, char **argv) { return sign_or_verify(argc, argv, 1); }
int tl_cmd_verify(int argc, char **argv) { return sign_or_verify(argc, argv, 0); }
