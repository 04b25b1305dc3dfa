/* layers.c - forward and backward passes of every layer (float32, NHWC).
 *
 * Each layer is a forward/backward pair side by side. Backward accumulates
 * (+=) into its inputs' dout and into the flat gradient array, so a node
 * read by several later nodes (a residual branch point) gets the sum.
 * Stride-1 convolutions run the direct kernels of conv_direct.c where the
 * CPU and the channel counts allow; the rest are im2col + OpenBLAS sgemm
 * over chunks of output pixels that keep the column buffer in cache, and
 * 1x1 stride-1 convolutions skip im2col and run one sgemm over the batch. This is deliberately a
 * plain, readable engine: no autograd, no graph compiler.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "tinylarge/large.h"
#include "conv_direct.h"
#include "util.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f
#define BN_BLOCK 1024 /* pixels summed in float before folding into double */

static size_t sample_size(const tl_node *n)
{
    return (size_t)n->h * n->w * n->c;
}

/* Backward writes each input's gradient without zeroing it first: the
 * first consumer (in backward order) assigns, later ones add. Returns 1 if
 * `node`'s dout already holds gradient (add), 0 if this writer assigns;
 * either way it holds gradient afterwards. */
static int grad_accumulate(tl_net *net, int node)
{
    const int ready = net->nodes[node].grad_ready;
    net->nodes[node].grad_ready = 1;
    return ready;
}

/* For writers that scatter-add: zero the first `count` samples' gradient
 * if nothing is there yet. */
static void grad_scatter_start(tl_net *net, int node, int count)
{
    if (!grad_accumulate(net, node)) {
        memset(net->nodes[node].dout, 0, (size_t)count * sample_size(&net->nodes[node]) * sizeof(float));
    }
}

/* ---- convolution: in (N,H,W,C), weight (OC, KH, KW, C), out (N,OH,OW,OC) ---- */

static int conv_is_pointwise(const tl_node *n)
{
    return n->k_h == 1 && n->k_w == 1 && n->stride_h == 1 && n->stride_w == 1;
}

/* Valid kx taps [*lo, *hi) of a window row starting at input column ix0. */
static void valid_columns(int ix0, int k_w, int in_w, int *lo, int *hi)
{
    *lo = ix0 < 0 ? -ix0 : 0;
    *hi = in_w - ix0 < k_w ? in_w - ix0 : k_w;
    if (*hi < *lo) {
        *hi = *lo;
    }
}

/* cols (p1 - p0, KH*KW*C): row r holds the input window of output pixel
 * p0 + r of one image. Each filter row's valid taps are one contiguous run
 * in both buffers. */
static void im2col(const float *img, const tl_node *src, const tl_node *n, int p0, int p1, float *cols)
{
    const int c = src->c, row_len = n->k_w * c;
    float *row = cols;
    for (int p = p0; p < p1; ++p) {
        const int oy = p / n->w, ox = p % n->w;
        const int ix0 = ox * n->stride_w - n->pad_left;
        int lo, hi;
        valid_columns(ix0, n->k_w, src->w, &lo, &hi);
        for (int ky = 0; ky < n->k_h; ++ky, row += row_len) {
            const int iy = oy * n->stride_h - n->pad_top + ky;
            if (iy < 0 || iy >= src->h || lo == hi) {
                memset(row, 0, (size_t)row_len * sizeof(float));
                continue;
            }
            if (lo > 0) {
                memset(row, 0, (size_t)lo * c * sizeof(float));
            }
            memcpy(row + lo * c, img + ((size_t)iy * src->w + ix0 + lo) * c, (size_t)(hi - lo) * c * sizeof(float));
            if (hi < n->k_w) {
                memset(row + hi * c, 0, (size_t)(n->k_w - hi) * c * sizeof(float));
            }
        }
    }
}

/* The adjoint of im2col: scatter-add the rows of output pixels [p0, p1)
 * back into the image gradient. */
static void col2im(const float *cols, const tl_node *src, const tl_node *n, int p0, int p1, float *img)
{
    const int c = src->c, row_len = n->k_w * c;
    const float *row = cols;
    for (int p = p0; p < p1; ++p) {
        const int oy = p / n->w, ox = p % n->w;
        const int ix0 = ox * n->stride_w - n->pad_left;
        int lo, hi;
        valid_columns(ix0, n->k_w, src->w, &lo, &hi);
        for (int ky = 0; ky < n->k_h; ++ky, row += row_len) {
            const int iy = oy * n->stride_h - n->pad_top + ky;
            if (iy < 0 || iy >= src->h) {
                continue;
            }
            float *dst = img + ((size_t)iy * src->w + ix0 + lo) * c;
            const float *from = row + lo * c;
            const int len = (hi - lo) * c;
            for (int k = 0; k < len; ++k) {
                dst[k] += from[k];
            }
        }
    }
}

/* Output pixels per chunk: the budget's, never more than scratch holds
 * (finalize sized it for at least one row of every convolution). */
static size_t conv_chunk(const tl_net *net, size_t k, size_t total)
{
    const size_t rows = tl_conv_chunk(net->im2col_floats, k, total), fit = net->scratch_size / k;
    return rows < fit ? rows : fit;
}

/* im2col over the batch-wide output pixels [q0, q1) (pixel q is pixel
 * q % m of image q / m), which may span several images. */
static void im2col_chunk(const tl_node *src, const tl_node *n, size_t q0, size_t q1, float *cols)
{
    const size_t m = (size_t)n->h * n->w, k = (size_t)n->k_h * n->k_w * src->c;
    for (size_t q = q0; q < q1;) {
        const size_t b = q / m, p0 = q % m, p1 = q1 - b * m < m ? q1 - b * m : m;
        im2col(src->out + b * sample_size(src), src, n, (int)p0, (int)p1, cols + (q - q0) * k);
        q = b * m + p1;
    }
}

/* The adjoint of im2col_chunk, into src's gradient. */
static void col2im_chunk(const float *cols, tl_node *src, const tl_node *n, size_t q0, size_t q1)
{
    const size_t m = (size_t)n->h * n->w, k = (size_t)n->k_h * n->k_w * src->c;
    for (size_t q = q0; q < q1;) {
        const size_t b = q / m, p0 = q % m, p1 = q1 - b * m < m ? q1 - b * m : m;
        col2im(cols + (q - q0) * k, src, n, (int)p0, (int)p1, src->dout + b * sample_size(src));
        q = b * m + p1;
    }
}

/* 1 if the direct kernels run this convolution's pass here: stride 1,
 * not a pointwise GEMM, and a shape they take (conv_direct.h). */
static int direct_applies(const tl_net *net, const tl_node *n, const tl_conv_direct_shape *s)
{
    return net->conv_direct && n->stride_h == 1 && n->stride_w == 1 && !conv_is_pointwise(n) &&
           tl_conv_direct_shape_ok(s, net->conv_direct);
}

static void conv_forward(tl_net *net, tl_node *n, int count)
{
    const tl_node *src = &net->nodes[n->in[0]];
    const float *w = net->params + n->weight_at, *bias = net->params + n->bias_at;
    const int k = n->k_h * n->k_w * src->c, m = n->h * n->w;
    const tl_conv_direct_shape shape = tl_conv_direct_forward(src, n);
    if (direct_applies(net, n, &shape)) {
        /* Filters (OC, KH, KW, C) -> rows (KH, KW, C) of each block of
         * output channels, packed as the kernels read them. */
        float *wt = net->direct_w;
        for (int o = 0; o < n->c; ++o) {
            size_t at, step;
            tl_conv_direct_filter_column(net->conv_direct, n->c, (size_t)k, o, &at, &step);
            for (int t = 0; t < k; ++t, at += step) {
                wt[at] = w[(size_t)o * k + t];
            }
        }
        for (int b = 0; b < count; ++b) {
            tl_conv_direct_image(&shape, net->conv_direct, src->out + b * sample_size(src), wt, bias, 0,
                                 n->out + b * sample_size(n), net->direct_in);
        }
        return;
    }
    /* Start from the bias and let the GEMM add to it (beta 1): one pass over
     * the output instead of BLAS zeroing it and a second pass adding bias. */
    for (size_t p = 0; p < (size_t)count * m; ++p) {
        memcpy(n->out + p * n->c, bias, (size_t)n->c * sizeof(float));
    }
    if (conv_is_pointwise(n)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, count * m, n->c, k, 1.0f, src->out, k, w, k,
                    1.0f, n->out, n->c);
    } else {
        /* Chunks of output pixels whose columns stay in cache (util.h). */
        const size_t total = (size_t)count * m, chunk = conv_chunk(net, (size_t)k, total);
        for (size_t q0 = 0; q0 < total; q0 += chunk) {
            const size_t q1 = total - q0 < chunk ? total : q0 + chunk;
            im2col_chunk(src, n, q0, q1, net->scratch);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(q1 - q0), n->c, k, 1.0f, net->scratch, k, w,
                        k, 1.0f, n->out + q0 * n->c, n->c);
        }
    }
}

static void conv_backward(tl_net *net, tl_node *n, int count)
{
    tl_node *src = &net->nodes[n->in[0]];
    const float *w = net->params + n->weight_at;
    float *dw = net->grads + n->weight_at, *db = net->grads + n->bias_at;
    const int k = n->k_h * n->k_w * src->c, m = n->h * n->w;
    const int need_din = src->kind != TL_LAYER_INPUT;
    for (size_t p = 0; p < (size_t)count * m; ++p) {
        const float *d = n->dout + p * n->c;
        for (int c = 0; c < n->c; ++c) {
            db[c] += d[c];
        }
    }
    if (conv_is_pointwise(n)) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n->c, k, count * m, 1.0f, n->dout, n->c,
                    src->out, k, 1.0f, dw, k);
        if (need_din) {
            const float beta = grad_accumulate(net, n->in[0]) ? 1.0f : 0.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, count * m, k, n->c, 1.0f, n->dout, n->c,
                        w, k, beta, src->dout, k);
        }
        return;
    }
    const tl_conv_direct_shape fwd = tl_conv_direct_forward(src, n), shape = tl_conv_direct_backward(src, n);
    const int direct_dw = direct_applies(net, n, &fwd);
    if (direct_dw) {
        /* Filter gradient image by image into (KH, KW, C, OC), then added
         * into dw's (OC, KH, KW, C). direct_w is free until the input
         * gradient below. */
        float *g = net->direct_w;
        memset(g, 0, n->weight_count * sizeof(float));
        for (int b = 0; b < count; ++b) {
            tl_conv_direct_filter_grad(&fwd, net->conv_direct, src->out + b * sample_size(src),
                                       n->dout + b * sample_size(n), g, net->direct_in);
        }
        for (int o = 0; o < n->c; ++o) {
            for (int t = 0; t < k; ++t) {
                dw[(size_t)o * k + t] += g[(size_t)t * n->c + o];
            }
        }
    }
    const int direct_din = need_din && direct_applies(net, n, &shape);
    if (direct_din) {
        /* dX = dY convolved with the filters turned round, channels swapped:
         * (OC, KH, KW, C) -> rows (KH, KW, OC) of each block of the C
         * channels (the outputs here), packed as the kernels read them. */
        float *wf = net->direct_w;
        const size_t rows = (size_t)n->k_h * n->k_w * n->c;
        for (int c = 0; c < src->c; ++c) {
            size_t at, step;
            tl_conv_direct_filter_column(net->conv_direct, src->c, rows, c, &at, &step);
            for (int ky = 0; ky < n->k_h; ++ky) {
                for (int kx = 0; kx < n->k_w; ++kx) {
                    for (int o = 0; o < n->c; ++o, at += step) {
                        wf[at] = w[(((size_t)o * n->k_h + n->k_h - 1 - ky) * n->k_w + n->k_w - 1 - kx) * src->c + c];
                    }
                }
            }
        }
        const int add = grad_accumulate(net, n->in[0]);
        for (int b = 0; b < count; ++b) {
            tl_conv_direct_image(&shape, net->conv_direct, n->dout + b * sample_size(n), wf, NULL, add,
                                 src->dout + b * sample_size(src), net->direct_in);
        }
    } else if (need_din) {
        grad_scatter_start(net, n->in[0], count);
    }
    if (direct_dw && (direct_din || !need_din)) {
        return;
    }
    /* What the direct kernels did not do: im2col + GEMM, chunk by chunk. */
    const size_t total = (size_t)count * m, chunk = conv_chunk(net, (size_t)k, total);
    for (size_t q0 = 0; q0 < total; q0 += chunk) {
        const size_t q1 = total - q0 < chunk ? total : q0 + chunk;
        const int rows = (int)(q1 - q0);
        const float *dout = n->dout + q0 * n->c;
        if (!direct_dw) {
            im2col_chunk(src, n, q0, q1, net->scratch);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n->c, k, rows, 1.0f, dout, n->c, net->scratch, k,
                        1.0f, dw, k);
        }
        if (need_din && !direct_din) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, k, n->c, 1.0f, dout, n->c, w, k, 0.0f,
                        net->scratch2, k);
            col2im_chunk(net->scratch2, src, n, q0, q1);
        }
    }
}

/* ---- depthwise convolution: weight (KH, KW, C), multiplier 1 ---- */

static void dwconv_forward(tl_net *net, tl_node *n, int count)
{
    const tl_node *src = &net->nodes[n->in[0]];
    const float *w = net->params + n->weight_at, *bias = net->params + n->bias_at;
    const int c_count = n->c;
    for (int b = 0; b < count; ++b) {
        const float *img = src->out + b * sample_size(src);
        float *out = n->out + b * sample_size(n);
        for (int oy = 0; oy < n->h; ++oy) {
            for (int ox = 0; ox < n->w; ++ox, out += c_count) {
                memcpy(out, bias, (size_t)c_count * sizeof(float));
                for (int ky = 0; ky < n->k_h; ++ky) {
                    const int iy = oy * n->stride_h - n->pad_top + ky;
                    if (iy < 0 || iy >= src->h) {
                        continue;
                    }
                    for (int kx = 0; kx < n->k_w; ++kx) {
                        const int ix = ox * n->stride_w - n->pad_left + kx;
                        if (ix < 0 || ix >= src->w) {
                            continue;
                        }
                        const float *x = img + ((size_t)iy * src->w + ix) * c_count;
                        const float *wt = w + ((size_t)ky * n->k_w + kx) * c_count;
                        for (int c = 0; c < c_count; ++c) {
                            out[c] += x[c] * wt[c];
                        }
                    }
                }
            }
        }
    }
}

static void dwconv_backward(tl_net *net, tl_node *n, int count)
{
    tl_node *src = &net->nodes[n->in[0]];
    const float *w = net->params + n->weight_at;
    float *dw = net->grads + n->weight_at, *db = net->grads + n->bias_at;
    const int c_count = n->c;
    const int need_din = src->kind != TL_LAYER_INPUT;
    if (need_din) {
        grad_scatter_start(net, n->in[0], count);
    }
    for (int b = 0; b < count; ++b) {
        const float *img = src->out + b * sample_size(src);
        float *dimg = src->dout + b * sample_size(src);
        const float *dout = n->dout + b * sample_size(n);
        for (int oy = 0; oy < n->h; ++oy) {
            for (int ox = 0; ox < n->w; ++ox, dout += c_count) {
                for (int c = 0; c < c_count; ++c) {
                    db[c] += dout[c];
                }
                for (int ky = 0; ky < n->k_h; ++ky) {
                    const int iy = oy * n->stride_h - n->pad_top + ky;
                    if (iy < 0 || iy >= src->h) {
                        continue;
                    }
                    for (int kx = 0; kx < n->k_w; ++kx) {
                        const int ix = ox * n->stride_w - n->pad_left + kx;
                        if (ix < 0 || ix >= src->w) {
                            continue;
                        }
                        const size_t at = ((size_t)iy * src->w + ix) * c_count;
                        const size_t wo = ((size_t)ky * n->k_w + kx) * c_count;
                        for (int c = 0; c < c_count; ++c) {
                            dw[wo + c] += dout[c] * img[at + c];
                        }
                        if (need_din) {
                            for (int c = 0; c < c_count; ++c) {
                                dimg[at + c] += dout[c] * w[wo + c];
                            }
                        }
                    }
                }
            }
        }
    }
}

/* ---- dense: in (N, I) flattened, weight (O, I), out (N, O) ---- */

static void dense_forward(tl_net *net, tl_node *n, int count)
{
    const tl_node *src = &net->nodes[n->in[0]];
    const int in = (int)sample_size(src);
    const float *w = net->params + n->weight_at, *bias = net->params + n->bias_at;
    for (int b = 0; b < count; ++b) {
        memcpy(n->out + (size_t)b * n->c, bias, (size_t)n->c * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, count, n->c, in, 1.0f, src->out, in, w, in, 1.0f,
                n->out, n->c);
}

static void dense_backward(tl_net *net, tl_node *n, int count)
{
    tl_node *src = &net->nodes[n->in[0]];
    const int in = (int)sample_size(src);
    float *dw = net->grads + n->weight_at, *db = net->grads + n->bias_at;
    for (int b = 0; b < count; ++b) {
        for (int o = 0; o < n->c; ++o) {
            db[o] += n->dout[(size_t)b * n->c + o];
        }
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n->c, in, count, 1.0f, n->dout, n->c, src->out, in,
                1.0f, dw, in);
    if (src->kind != TL_LAYER_INPUT) {
        const float beta = grad_accumulate(net, n->in[0]) ? 1.0f : 0.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, count, in, n->c, 1.0f, n->dout, n->c,
                    net->params + n->weight_at, in, beta, src->dout, in);
    }
}

/* ---- batch normalisation: per channel over (N, H, W) ----
 * Loops run pixel by pixel with all channels inside (memory order), with
 * per-channel sums in double: one pass over the activations per sum. */

static void batchnorm_forward(tl_net *net, tl_node *n, int count)
{
    const tl_node *src = &net->nodes[n->in[0]];
    const float *gamma = net->params + n->weight_at, *beta = net->params + n->bias_at;
    const size_t pixels = (size_t)count * n->h * n->w;
    const int cc = n->c;
    float *scale = net->scratch2, *shift = net->scratch2 + cc; /* scratch2 >= 2c floats */
    if (net->training) {
        double *sum = calloc(2 * (size_t)cc, sizeof(double));
        if (!sum) {
            return;
        }
        double *sq = sum + cc;
        /* Float partial sums over blocks of pixels (vectorised), folded into
         * doubles block by block so long batches keep their precision. */
        float *part = net->scratch2 + 3 * (size_t)cc, *part_sq = part + cc; /* scratch2 >= 5c floats */
        for (size_t p0 = 0; p0 < pixels; p0 += BN_BLOCK) {
            const size_t p1 = p0 + BN_BLOCK < pixels ? p0 + BN_BLOCK : pixels;
            memset(part, 0, 2 * (size_t)cc * sizeof(float));
            for (size_t p = p0; p < p1; ++p) {
                const float *x = src->out + p * cc;
                for (int c = 0; c < cc; ++c) {
                    part[c] += x[c];
                    part_sq[c] += x[c] * x[c];
                }
            }
            for (int c = 0; c < cc; ++c) {
                sum[c] += part[c];
                sq[c] += part_sq[c];
            }
        }
        for (int c = 0; c < cc; ++c) {
            const double mean = sum[c] / (double)pixels;
            double var = sq[c] / (double)pixels - mean * mean;
            var = var > 0 ? var : 0;
            n->saved_mean[c] = (float)mean;
            n->saved_invstd[c] = (float)(1.0 / sqrt(var + BN_EPS));
            const double unbiased = pixels > 1 ? var * (double)pixels / (double)(pixels - 1) : var;
            n->running_mean[c] = (1 - BN_MOMENTUM) * n->running_mean[c] + BN_MOMENTUM * (float)mean;
            n->running_var[c] = (1 - BN_MOMENTUM) * n->running_var[c] + BN_MOMENTUM * (float)unbiased;
        }
        free(sum);
    } else {
        for (int c = 0; c < cc; ++c) {
            n->saved_mean[c] = n->running_mean[c];
            n->saved_invstd[c] = 1.0f / sqrtf(n->running_var[c] + BN_EPS);
        }
    }
    /* y = x * scale + shift */
    for (int c = 0; c < cc; ++c) {
        scale[c] = gamma[c] * n->saved_invstd[c];
        shift[c] = beta[c] - n->saved_mean[c] * scale[c];
    }
    for (size_t p = 0; p < pixels; ++p) {
        const float *x = src->out + p * cc;
        float *y = n->out + p * cc;
        for (int c = 0; c < cc; ++c) {
            y[c] = x[c] * scale[c] + shift[c];
        }
    }
}

static void batchnorm_backward(tl_net *net, tl_node *n, int count)
{
    tl_node *src = &net->nodes[n->in[0]];
    const float *gamma = net->params + n->weight_at;
    float *dgamma = net->grads + n->weight_at, *dbeta = net->grads + n->bias_at;
    const size_t pixels = (size_t)count * n->h * n->w;
    const int cc = n->c;
    const float *mean = n->saved_mean, *invstd = n->saved_invstd;
    double *sum_dy = calloc(2 * (size_t)cc, sizeof(double));
    if (!sum_dy) {
        return;
    }
    double *sum_dy_xhat = sum_dy + cc;
    float *part = net->scratch2 + 3 * (size_t)cc, *part_xhat = part + cc; /* as in the forward pass */
    for (size_t p0 = 0; p0 < pixels; p0 += BN_BLOCK) {
        const size_t p1 = p0 + BN_BLOCK < pixels ? p0 + BN_BLOCK : pixels;
        memset(part, 0, 2 * (size_t)cc * sizeof(float));
        for (size_t p = p0; p < p1; ++p) {
            const float *x = src->out + p * cc, *dy = n->dout + p * cc;
            for (int c = 0; c < cc; ++c) {
                part[c] += dy[c];
                part_xhat[c] += dy[c] * ((x[c] - mean[c]) * invstd[c]);
            }
        }
        for (int c = 0; c < cc; ++c) {
            sum_dy[c] += part[c];
            sum_dy_xhat[c] += part_xhat[c];
        }
    }
    for (int c = 0; c < cc; ++c) {
        dgamma[c] += (float)sum_dy_xhat[c];
        dbeta[c] += (float)sum_dy[c];
    }
    if (src->kind != TL_LAYER_INPUT) {
        /* training: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat));
         * eval: dx = gamma * invstd * dy */
        float *k = net->scratch2, *a = k + cc, *b = a + cc;
        for (int c = 0; c < cc; ++c) {
            k[c] = gamma[c] * invstd[c];
            a[c] = net->training ? (float)(sum_dy[c] / (double)pixels) : 0.0f;
            b[c] = net->training ? (float)(sum_dy_xhat[c] / (double)pixels) : 0.0f;
        }
        const int add = grad_accumulate(net, n->in[0]);
        for (size_t p = 0; p < pixels; ++p) {
            const float *x = src->out + p * cc, *dy = n->dout + p * cc;
            float *dx = src->dout + p * cc;
            if (add) {
                for (int c = 0; c < cc; ++c) {
                    dx[c] += k[c] * (dy[c] - a[c] - (x[c] - mean[c]) * invstd[c] * b[c]);
                }
            } else {
                for (int c = 0; c < cc; ++c) {
                    dx[c] = k[c] * (dy[c] - a[c] - (x[c] - mean[c]) * invstd[c] * b[c]);
                }
            }
        }
    }
    free(sum_dy);
}

/* ---- pooling: windows without padding ---- */

static void pool_forward(tl_net *net, tl_node *n, int count)
{
    const tl_node *src = &net->nodes[n->in[0]];
    const int cc = n->c;
    const float inv = 1.0f / (float)(n->k_h * n->k_w);
    for (int b = 0; b < count; ++b) {
        const float *img = src->out + b * sample_size(src);
        float *out = n->out + b * sample_size(n);
        int32_t *arg = n->argmax ? n->argmax + b * sample_size(n) : NULL;
        for (int oy = 0; oy < n->h; ++oy) {
            for (int ox = 0; ox < n->w; ++ox) {
                for (int c = 0; c < cc; ++c) {
                    float best = -INFINITY, sum = 0;
                    int32_t at = 0;
                    for (int ky = 0; ky < n->k_h; ++ky) {
                        for (int kx = 0; kx < n->k_w; ++kx) {
                            const int32_t i = (int32_t)((((size_t)(oy * n->stride_h + ky) * src->w) +
                                                         (size_t)(ox * n->stride_w + kx)) * cc + c);
                            sum += img[i];
                            if (img[i] > best) {
                                best = img[i];
                                at = i;
                            }
                        }
                    }
                    const size_t o = ((size_t)oy * n->w + ox) * cc + c;
                    if (n->kind == TL_LAYER_MAXPOOL) {
                        out[o] = best;
                        arg[o] = at;
                    } else {
                        out[o] = sum * inv;
                    }
                }
            }
        }
    }
}

static void pool_backward(tl_net *net, tl_node *n, int count)
{
    tl_node *src = &net->nodes[n->in[0]];
    if (src->kind == TL_LAYER_INPUT) {
        return;
    }
    const int cc = n->c;
    const float inv = 1.0f / (float)(n->k_h * n->k_w);
    grad_scatter_start(net, n->in[0], count);
    for (int b = 0; b < count; ++b) {
        float *dimg = src->dout + b * sample_size(src);
        const float *dout = n->dout + b * sample_size(n);
        const int32_t *arg = n->argmax ? n->argmax + b * sample_size(n) : NULL;
        for (int oy = 0; oy < n->h; ++oy) {
            for (int ox = 0; ox < n->w; ++ox) {
                for (int c = 0; c < cc; ++c) {
                    const size_t o = ((size_t)oy * n->w + ox) * cc + c;
                    if (n->kind == TL_LAYER_MAXPOOL) {
                        dimg[arg[o]] += dout[o];
                        continue;
                    }
                    for (int ky = 0; ky < n->k_h; ++ky) {
                        for (int kx = 0; kx < n->k_w; ++kx) {
                            dimg[(((size_t)(oy * n->stride_h + ky) * src->w) + (size_t)(ox * n->stride_w + kx)) * cc +
                                 c] += dout[o] * inv;
                        }
                    }
                }
            }
        }
    }
}

static void gap_forward(tl_net *net, tl_node *n, int count)
{
    const tl_node *src = &net->nodes[n->in[0]];
    const size_t pixels = (size_t)src->h * src->w;
    for (int b = 0; b < count; ++b) {
        const float *img = src->out + b * sample_size(src);
        float *out = n->out + (size_t)b * n->c;
        memset(out, 0, (size_t)n->c * sizeof(float));
        for (size_t p = 0; p < pixels; ++p) {
            for (int c = 0; c < n->c; ++c) {
                out[c] += img[p * n->c + c];
            }
        }
        for (int c = 0; c < n->c; ++c) {
            out[c] /= (float)pixels;
        }
    }
}

static void gap_backward(tl_net *net, tl_node *n, int count)
{
    tl_node *src = &net->nodes[n->in[0]];
    const size_t pixels = (size_t)src->h * src->w;
    if (src->kind == TL_LAYER_INPUT) {
        return;
    }
    grad_scatter_start(net, n->in[0], count);
    for (int b = 0; b < count; ++b) {
        float *dimg = src->dout + b * sample_size(src);
        const float *dout = n->dout + (size_t)b * n->c;
        for (size_t p = 0; p < pixels; ++p) {
            for (int c = 0; c < n->c; ++c) {
                dimg[p * n->c + c] += dout[c] / (float)pixels;
            }
        }
    }
}

/* ---- element-wise: ReLU, ReLU6, ADD, dropout ---- */

static void elementwise_forward(tl_net *net, tl_node *n, int count)
{
    const tl_node *a = &net->nodes[n->in[0]];
    const size_t size = (size_t)count * sample_size(n);
    switch (n->kind) {
    case TL_LAYER_RELU:
        for (size_t i = 0; i < size; ++i) {
            n->out[i] = a->out[i] > 0 ? a->out[i] : 0;
        }
        break;
    case TL_LAYER_RELU6:
        for (size_t i = 0; i < size; ++i) {
            const float x = a->out[i];
            n->out[i] = x > 0 ? (x < 6 ? x : 6) : 0;
        }
        break;
    case TL_LAYER_ADD: {
        const tl_node *b = &net->nodes[n->in[1]];
        for (size_t i = 0; i < size; ++i) {
            n->out[i] = a->out[i] + b->out[i];
        }
        break;
    }
    case TL_LAYER_DROPOUT: {
        const float keep = 1.0f - n->rate, scale = 1.0f / keep;
        for (size_t i = 0; i < size; ++i) {
            if (!net->training) {
                n->out[i] = a->out[i];
                continue;
            }
            net->rng ^= net->rng << 13;
            net->rng ^= net->rng >> 7;
            net->rng ^= net->rng << 17;
            n->mask[i] = (float)(net->rng >> 40) / 16777216.0f < keep;
            n->out[i] = n->mask[i] ? a->out[i] * scale : 0;
        }
        break;
    }
    default:
        break;
    }
}

/* dst (+)= g over `size` values; one loop per case so each vectorises. */
static void write_grad(float *dst, const float *g, size_t size, int add)
{
    if (add) {
        for (size_t i = 0; i < size; ++i) {
            dst[i] += g[i];
        }
    } else {
        memcpy(dst, g, size * sizeof(float));
    }
}

static void elementwise_backward(tl_net *net, tl_node *n, int count)
{
    tl_node *a = &net->nodes[n->in[0]];
    const size_t size = (size_t)count * sample_size(n);
    if (n->kind == TL_LAYER_ADD) {
        write_grad(a->dout, n->dout, size, grad_accumulate(net, n->in[0]));
        write_grad(net->nodes[n->in[1]].dout, n->dout, size, grad_accumulate(net, n->in[1]));
        return;
    }
    if (a->kind == TL_LAYER_INPUT) {
        return;
    }
    /* The local gradient into this node's dout, in place, then passed on. */
    float *g = n->dout;
    if (n->kind == TL_LAYER_RELU) {
        for (size_t i = 0; i < size; ++i) {
            g[i] = n->out[i] > 0 ? g[i] : 0.0f;
        }
    } else if (n->kind == TL_LAYER_RELU6) {
        for (size_t i = 0; i < size; ++i) {
            g[i] = a->out[i] > 0 && a->out[i] < 6 ? g[i] : 0.0f;
        }
    } else if (n->kind == TL_LAYER_DROPOUT && net->training) {
        const float scale = 1.0f / (1.0f - n->rate);
        for (size_t i = 0; i < size; ++i) {
            g[i] = n->mask[i] ? g[i] * scale : 0.0f;
        }
    }
    write_grad(a->dout, g, size, grad_accumulate(net, n->in[0]));
}

/* ---- the passes ---- */

/* Runs nodes [first, last] forward. */
static void forward_nodes(tl_net *net, int count, int first, int last)
{
    for (int i = first; i <= last; ++i) {
        tl_node *n = &net->nodes[i];
        switch (n->kind) {
        case TL_LAYER_CONV: conv_forward(net, n, count); break;
        case TL_LAYER_DWCONV: dwconv_forward(net, n, count); break;
        case TL_LAYER_DENSE: dense_forward(net, n, count); break;
        case TL_LAYER_BATCHNORM: batchnorm_forward(net, n, count); break;
        case TL_LAYER_MAXPOOL:
        case TL_LAYER_AVGPOOL: pool_forward(net, n, count); break;
        case TL_LAYER_GLOBAL_AVGPOOL: gap_forward(net, n, count); break;
        default: elementwise_forward(net, n, count); break;
        }
        if (i == net->cut && net->cut_fn) {
            net->cut_fn(net->cut_ctx, n->out, count, sample_size(n), 0); /* device -> edge */
        }
    }
}

void tl_net_forward(tl_net *net, const float *x, int count)
{
    memcpy(net->nodes[0].out, x, (size_t)count * sample_size(&net->nodes[0]) * sizeof(float));
    forward_nodes(net, count, 1, net->count - 1);
}

void tl_net_forward_until(tl_net *net, const float *x, int count, int cut)
{
    memcpy(net->nodes[0].out, x, (size_t)count * sample_size(&net->nodes[0]) * sizeof(float));
    forward_nodes(net, count, 1, cut);
}

void tl_net_forward_after(tl_net *net, const float *cut_values, int count, int cut)
{
    memcpy(net->nodes[cut].out, cut_values, (size_t)count * sample_size(&net->nodes[cut]) * sizeof(float));
    forward_nodes(net, count, cut + 1, net->count - 1);
}

size_t tl_net_node_values(const tl_net *net, int node)
{
    return node >= 0 && node < net->count ? sample_size(&net->nodes[node]) : 0;
}

tl_status tl_net_set_cut(tl_net *net, int node, void (*fn)(void *ctx, float *values, int count, size_t per_sample,
                                                            int backward),
                         void *ctx)
{
    if (!net || node < 0 || node >= net->count - 1) {
        return TL_ERR_ARG; /* the edge's half needs a node */
    }
    /* Only the cut's activation may cross: no skip connection over it. */
    for (int i = node + 1; node > 0 && i < net->count; ++i) {
        for (int k = 0; k < 2; ++k) {
            if (net->nodes[i].in[k] >= 0 && net->nodes[i].in[k] < node) {
                return TL_ERR_SHAPE;
            }
        }
    }
    net->cut = fn ? node : 0;
    net->cut_fn = node ? fn : NULL;
    net->cut_ctx = ctx;
    return TL_OK;
}

/* Runs nodes [bottom, top] backward, those a gradient reaches. */
static void backward_nodes(tl_net *net, int count, int top, int bottom)
{
    for (int i = top; i >= bottom; --i) {
        tl_node *n = &net->nodes[i];
        if (!n->grad_ready) {
            continue; /* no gradient reaches this node */
        }
        if (i == net->cut && net->cut_fn) {
            net->cut_fn(net->cut_ctx, n->dout, count, sample_size(n), 1); /* edge -> device */
        }
        switch (n->kind) {
        case TL_LAYER_CONV: conv_backward(net, n, count); break;
        case TL_LAYER_DWCONV: dwconv_backward(net, n, count); break;
        case TL_LAYER_DENSE: dense_backward(net, n, count); break;
        case TL_LAYER_BATCHNORM: batchnorm_backward(net, n, count); break;
        case TL_LAYER_MAXPOOL:
        case TL_LAYER_AVGPOOL: pool_backward(net, n, count); break;
        case TL_LAYER_GLOBAL_AVGPOOL: gap_backward(net, n, count); break;
        default: elementwise_backward(net, n, count); break;
        }
    }
}

/* Only the exits (and seeded nodes) hold gradient, set by the losses;
 * every other dout is written by its first consumer (grad_accumulate),
 * none is zeroed. */
static void mark_exits(tl_net *net)
{
    for (int i = 0; i < net->count; ++i) {
        net->nodes[i].grad_ready = net->nodes[i].grad_seed;
        net->nodes[i].grad_seed = 0;
    }
    for (int e = 0; e < net->exit_count; ++e) {
        net->nodes[net->exits[e]].grad_ready = 1;
    }
}

void tl_net_backward(tl_net *net, int count)
{
    mark_exits(net);
    backward_nodes(net, count, net->count - 1, 1);
}

void tl_net_backward_after(tl_net *net, int count, int cut)
{
    mark_exits(net);
    backward_nodes(net, count, net->count - 1, cut + 1); /* the cut's dout: written by its consumers */
}

void tl_net_backward_until(tl_net *net, const float *cut_gradient, int count, int cut)
{
    for (int i = 0; i < net->count; ++i) {
        net->nodes[i].grad_ready = 0;
        net->nodes[i].grad_seed = 0;
    }
    memcpy(net->nodes[cut].dout, cut_gradient, (size_t)count * sample_size(&net->nodes[cut]) * sizeof(float));
    net->nodes[cut].grad_ready = 1;
    backward_nodes(net, count, cut, 1);
}

void tl_net_zero_grads(tl_net *net)
{
    memset(net->grads, 0, net->param_count * sizeof(float));
}
