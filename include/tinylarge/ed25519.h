/* ed25519.h - signature verification on the device: SHA-512 and Ed25519
 * (RFC 8032), C99, no heap, no global state.
 *
 * The edge signs with libsodium; a microcontroller has no such library, so
 * the device carries a small verifier of its own. It accepts exactly what
 * libsodium's crypto_sign_verify_detached accepts: S below the group order,
 * a canonical public key of large order, R not of small order, and the
 * encoded [S]B - [h]A equal to R byte for byte (tests hold it to libsodium
 * on RFC 8032's vectors, random and tampered signatures, and signed models).
 * Only public data goes in, so it may take time that depends on it.
 */
#ifndef TINYLARGE_ED25519_H
#define TINYLARGE_ED25519_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_sha512 {
    uint64_t state[8];
    uint64_t length;             /* bytes hashed so far */
    uint8_t block[128];
    uint32_t fill;
} tl_sha512;

void tl_sha512_init(tl_sha512 *ctx);
void tl_sha512_update(tl_sha512 *ctx, const void *data, size_t size);
void tl_sha512_final(tl_sha512 *ctx, uint8_t digest[64]);

/* A verification whose message arrives in pieces (a manifest's signed
 * structure is hashed where it lies, with a few bytes of framing around it). */
typedef struct tl_ed25519_check {
    tl_sha512 hash;              /* SHA-512(R || A || message) */
    uint8_t signature[64];
    uint8_t public_key[32];
} tl_ed25519_check;

void tl_ed25519_check_init(tl_ed25519_check *check, const uint8_t signature[64], const uint8_t public_key[32]);
void tl_ed25519_check_update(tl_ed25519_check *check, const void *message, size_t size);
/* TL_OK when the signature holds; TL_ERR_SIGNATURE otherwise. */
tl_status tl_ed25519_check_final(tl_ed25519_check *check);

/* The same in one call. */
tl_status tl_ed25519_verify(const uint8_t signature[64], const void *message, size_t size,
                            const uint8_t public_key[32]);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_ED25519_H */
