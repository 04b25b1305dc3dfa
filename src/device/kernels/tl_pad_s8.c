/* tl_pad_s8.c - PAD / PADV2 of an int8 tensor (TFLite's reference Pad:
 * data movement and a constant, so exact). The output is filled with the
 * value, then each innermost row of the input is copied into place. */
#include <string.h>

#include "kernels.h"

void tl_pad_s8(const tl_pad_params *p)
{
    int32_t od[4];
    for (int i = 0; i < 4; ++i) {
        od[i] = p->before[i] + p->in_dims[i] + p->after[i];
    }
    memset(p->output, p->value, (size_t)od[0] * (size_t)od[1] * (size_t)od[2] * (size_t)od[3]);
    const int8_t *in = p->input;
    for (int32_t a = 0; a < p->in_dims[0]; ++a) {
        for (int32_t b = 0; b < p->in_dims[1]; ++b) {
            for (int32_t c = 0; c < p->in_dims[2]; ++c) {
                const int32_t oa = a + p->before[0], ob = b + p->before[1], oc = c + p->before[2];
                int8_t *row = p->output + (((size_t)oa * (size_t)od[1] + (size_t)ob) * (size_t)od[2] + (size_t)oc) *
                                              (size_t)od[3] + (size_t)p->before[3];
                memcpy(row, in, (size_t)p->in_dims[3]);
                in += p->in_dims[3];
            }
        }
    }
}
