/* fuzz_edge.c - libFuzzer target for what the edge and the device client
 * read off the network: a /plan query (tl_plan_request_decode, the
 * server's parser of every plan request), the CBOR manifest a plan is
 * answered with (tl_manifest_decode, the device's parser), and the context
 * matching the planner does on a query's pairs (tl_context_fit).
 *   byte 0: which (0 query, 1 manifest, 2 context against tags); the rest
 *   is the input (for 2: context, a NUL, tags).
 * Whatever decodes must survive a round trip through the matching encoder
 * unchanged: an encoder and decoder that disagree are a finding, as is
 * any out-of-bounds access or undefined behaviour (ASan + UBSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/library.h"
#include "tinylarge/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void query(const uint8_t *data, size_t size)
{
    tl_plan_request r, back;
    char error[320], text[1024];
    if (tl_plan_request_decode((const char *)data, size, &r, error, sizeof error) != TL_OK) {
        if (!error[0]) {
            abort(); /* a refusal always says why */
        }
        return;
    }
    if (tl_plan_request_encode(&r, text, sizeof text) != TL_OK) {
        return; /* longer than a device would ever send */
    }
    if (tl_plan_request_decode(text, strlen(text), &back, error, sizeof error) != TL_OK ||
        back.profile.flash_bytes != r.profile.flash_bytes || back.profile.ram_bytes != r.profile.ram_bytes ||
        strcmp(back.device, r.device) != 0 || strcmp(back.name, r.name) != 0 ||
        strcmp(back.context, r.context) != 0) {
        abort(); /* what the device writes, the server must read the same */
    }
}

static void manifest(const uint8_t *data, size_t size)
{
    tl_manifest m, back;
    if (tl_manifest_decode(data, size, &m) != TL_OK) {
        return;
    }
    uint8_t *cbor = NULL;
    size_t n = 0;
    if (tl_manifest_encode(&m, &cbor, &n) != TL_OK) {
        return;
    }
    if (tl_manifest_decode(cbor, n, &back) != TL_OK || strcmp(back.model, m.model) != 0 ||
        strcmp(back.variant, m.variant) != 0 || back.version != m.version || back.bytes != m.bytes ||
        memcmp(back.sha256, m.sha256, 32) != 0 || back.tlp_bytes != m.tlp_bytes || back.planes != m.planes ||
        back.fetch_port != m.fetch_port || strcmp(back.then, m.then) != 0 ||
        back.envelope_size != m.envelope_size || memcmp(back.envelope, m.envelope, m.envelope_size) != 0) {
        abort();
    }
    free(cbor);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const uint8_t which = data[0] % 3;
    ++data;
    --size;
    if (which == 0) {
        query(data, size);
    } else if (which == 1) {
        manifest(data, size);
    } else {
        char *text = malloc(size + 2);
        if (!text) {
            return 0;
        }
        memcpy(text, data, size);
        text[size] = '\0';
        text[size + 1] = '\0';
        const size_t context_length = strlen(text);
        tl_context_fit(text, text + context_length + (context_length < size ? 1 : 0));
        free(text);
    }
    return 0;
}
