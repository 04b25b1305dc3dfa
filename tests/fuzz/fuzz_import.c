/* fuzz_import.c - libFuzzer target for the TFLite importer: any bytes give
 * an error or a graph that serialises into a model the device accepts; the
 * survey (`inspect MODEL.tflite`) reads the same bytes without crashing. */
#include <stdint.h>
#include <stdlib.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_op(void *ctx, const tl_tflite_op_info *op)
{
    *(uint32_t *)ctx += op->supported;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_graph g;
    char error[256];
    uint32_t supported = 0;
    (void)tl_tflite_survey(data, size, count_op, &supported, error, sizeof error);
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
