/* signing.h - model signing keys and signatures (src/edge/sign.c, Ed25519 via libsodium). */
#ifndef TINYLARGE_SIGNING_H
#define TINYLARGE_SIGNING_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_PUBLIC_KEY_BYTES 32
#define TL_SECRET_KEY_BYTES 64

/* Creates a key pair: the secret key file readable by its owner only
 * (created with mode 0600, never overwritten), the public key beside it.
 * Files are one line of hex after a one-line label. */
tl_status tl_keygen(const char *secret_path, const char *public_path);
tl_status tl_key_read(const char *path, int secret, uint8_t *key, char *error, size_t error_size);

/* Signs a model in place: Ed25519 over its 32-byte SHA-256 digest, written
 * into the trailer with key_id = the public key's first 4 bytes. The digest
 * does not cover the trailer, so signing leaves it unchanged. */
tl_status tl_model_sign(uint8_t *model, size_t size, const uint8_t secret_key[TL_SECRET_KEY_BYTES]);

/* Checks the digest (the device loader) and the signature. TL_ERR_SIGNATURE
 * for an unsigned model, another key's or a forged signature. */
tl_status tl_model_verify(const uint8_t *model, size_t size, const uint8_t public_key[TL_PUBLIC_KEY_BYTES]);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_SIGNING_H */
