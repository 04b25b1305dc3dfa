/* sign.c - Ed25519 signatures on models (libsodium).
 *
 * The edge server signs every model it publishes; a device accepts a model
 * only if the signature over its digest verifies with the server's public
 * key. The private key never leaves the server: it lives in a file only its
 * owner can read.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tinylarge/device.h"
#include "tinylarge/signing.h"

static const char *const labels[2] = { "tinylarge ed25519 public key", "tinylarge ed25519 secret key" };

static tl_status write_key(const char *path, int secret, const uint8_t *key, size_t size)
{
    /* O_EXCL: never overwrite a key; 0600 for the secret one from the start. */
    const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, secret ? 0600 : 0644);
    if (fd < 0) {
        return TL_ERR_IO;
    }
    char hex[2 * TL_SECRET_KEY_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, key, size);
    char text[256];
    const int n = snprintf(text, sizeof text, "%s\n%s\n", labels[secret], hex);
    const int ok = n > 0 && write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    sodium_memzero(hex, sizeof hex);
    sodium_memzero(text, sizeof text);
    if (close(fd) != 0 || !ok) {
        unlink(path);
        return TL_ERR_IO;
    }
    return TL_OK;
}

tl_status tl_keygen(const char *secret_path, const char *public_path)
{
    if (!secret_path || !public_path || sodium_init() < 0) {
        return TL_ERR_ARG;
    }
    uint8_t pk[TL_PUBLIC_KEY_BYTES], sk[TL_SECRET_KEY_BYTES];
    crypto_sign_keypair(pk, sk);
    tl_status s = write_key(secret_path, 1, sk, sizeof sk);
    if (s == TL_OK) {
        s = write_key(public_path, 0, pk, sizeof pk);
        if (s != TL_OK) {
            unlink(secret_path);
        }
    }
    sodium_memzero(sk, sizeof sk);
    return s;
}

tl_status tl_key_read(const char *path, int secret, uint8_t *key, char *error, size_t error_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(error, error_size, "%s: cannot read: %s", path, strerror(errno));
        return TL_ERR_IO;
    }
    char label[64] = "", hex[2 * TL_SECRET_KEY_BYTES + 8] = "";
    const int got = fscanf(f, "%63[^\n]\n%135s", label, hex);
    fclose(f);
    const size_t size = secret ? TL_SECRET_KEY_BYTES : TL_PUBLIC_KEY_BYTES;
    size_t bin_len = 0;
    tl_status s = TL_OK;
    if (got != 2 || strcmp(label, labels[secret]) != 0 ||
        sodium_hex2bin(key, size, hex, strlen(hex), NULL, &bin_len, NULL) != 0 || bin_len != size) {
        snprintf(error, error_size, "%s: not a %s file", path, labels[secret]);
        s = TL_ERR_FORMAT;
    }
    sodium_memzero(hex, sizeof hex);
    return s;
}

tl_status tl_model_sign(uint8_t *model, size_t size, const uint8_t secret_key[TL_SECRET_KEY_BYTES])
{
    tl_model m;
    tl_status s = tl_model_load(&m, model, size, 0);
    if (s != TL_OK) {
        return s;
    }
    tl_trailer *tr = (tl_trailer *)(void *)(model + m.size - sizeof *tr);
    crypto_sign_detached(tr->signature, NULL, tr->sha256, sizeof tr->sha256, secret_key);
    tr->signature_alg = TL_SIG_ED25519;
    /* key_id: the public key's first 4 bytes (the secret key's second half). */
    memcpy(&tr->key_id, secret_key + 32, 4);
    return TL_OK;
}

tl_status tl_model_verify(const uint8_t *model, size_t size, const uint8_t public_key[TL_PUBLIC_KEY_BYTES])
{
    tl_model m;
    tl_status s = tl_model_load(&m, model, size, 0);
    if (s != TL_OK) {
        return s;
    }
    if (m.trailer->signature_alg != TL_SIG_ED25519 ||
        crypto_sign_verify_detached(m.trailer->signature, m.trailer->sha256, sizeof m.trailer->sha256,
                                    public_key) != 0) {
        return TL_ERR_SIGNATURE;
    }
    return TL_OK;
}
