/* conv_direct.h - direct stride-1 convolution kernels (src/large only). */
#ifndef TL_LARGE_CONV_DIRECT_H
#define TL_LARGE_CONV_DIRECT_H

#include <stddef.h>

#include "tinylarge/large.h" /* tl_node, tl_conv_direct_available */

/* One image's stride-1 convolution: input (in_h, in_w, in_c) zero-padded by
 * pad_top/pad_left (and whatever the output size needs at the bottom and
 * right), output (out_h, out_w, out_c). */
typedef struct tl_conv_direct_shape {
    int in_h, in_w, in_c;
    int out_h, out_w, out_c;
    int k_h, k_w, pad_top, pad_left;
} tl_conv_direct_shape;

/* A stride-1 convolution node's two shapes: forward (input -> output; the
 * filter gradient reads the same padded input) and backward (output
 * gradient -> input gradient, filters turned round). */
static inline tl_conv_direct_shape tl_conv_direct_forward(const tl_node *src, const tl_node *n)
{
    return (tl_conv_direct_shape){ src->h, src->w, src->c, n->h, n->w, n->c, n->k_h, n->k_w, n->pad_top, n->pad_left };
}

static inline tl_conv_direct_shape tl_conv_direct_backward(const tl_node *src, const tl_node *n)
{
    return (tl_conv_direct_shape){ n->h, n->w, n->c, src->h, src->w, src->c,
                                   n->k_h, n->k_w, n->k_h - 1 - n->pad_top, n->k_w - 1 - n->pad_left };
}

/* 1 if the kernels of `lanes` floats a vector (tl_conv_direct_available)
 * take this shape: output channels a multiple of `lanes`. */
int tl_conv_direct_shape_ok(const tl_conv_direct_shape *s, int lanes);

/* Floats of the padded input copy tl_conv_direct_image needs. */
size_t tl_conv_direct_padded_size(const tl_conv_direct_shape *s);

/* Where filter row `row` (of rows = k_h * k_w * in_c, taps then input
 * channels) of output channel o goes in the kernels' packed filters: at
 * *first + row * *stride. The filters are packed by the kernels' blocks of
 * output channels (each block [rows][its channels], blocks one after
 * another) so that a block's filters are read in order. */
void tl_conv_direct_filter_column(int lanes, int oc, size_t rows, int o, size_t *first, size_t *stride);

/* out (+)= bias + conv(in, w) with the kernels of `lanes` (16 or 8, at
 * most what tl_conv_direct_available says): w is packed as
 * tl_conv_direct_filter_column says (oc * k_h * k_w * in_c floats);
 * bias may be NULL (zero); accumulate adds to out instead of assigning.
 * `padded` holds tl_conv_direct_padded_size(s) floats. */
void tl_conv_direct_image(const tl_conv_direct_shape *s, int lanes, const float *in, const float *w,
                          const float *bias, int accumulate, float *out, float *padded);

/* dw += the filter gradient of one image: in as above, dy the output
 * gradient (out_h, out_w, out_c); dw is [k_h][k_w][in_c][out_c]. */
void tl_conv_direct_filter_grad(const tl_conv_direct_shape *s, int lanes, const float *in, const float *dy,
                                float *dw, float *padded);

#endif /* TL_LARGE_CONV_DIRECT_H */
