/* fuzz_import.c - libFuzzer target for the TFLite importer: any bytes give
 * an error or a graph that serialises into a model the device accepts. */
#include <stdint.h>
#include <stdlib.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_graph g;
    char error[256];
    if (tl_import_tflite(data, size, &g, error, sizeof error) != TL_OK) {
        return 0;
    }
    uint8_t *tlm;
    size_t tlm_size;
    if (tl_graph_serialize(&g, &tlm, &tlm_size) == TL_OK) {
        tl_model m;
        if (tl_model_load(&m, tlm, tlm_size, 0) != TL_OK) {
            abort(); /* the importer wrote a model the device refuses */
        }
        free(tlm);
    }
    tl_graph_free(&g);
    return 0;
}
