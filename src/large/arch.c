/* arch.c - the named architectures `tinylarge train --arch NAME` builds.
 *
 * Students use only operators the device runtime runs (convolution,
 * depthwise convolution, pooling, dense, add; batch norm folds into the
 * preceding convolution at export). The teacher is a ResNet sized for 28x28
 * inputs. Add an architecture by adding a builder and a table row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/large.h"

/* conv -> batchnorm -> relu */
static int cbr(tl_net *net, int x, int c, int k, int stride)
{
    return tl_net_relu(net, tl_net_batchnorm(net, tl_net_conv(net, x, c, k, stride, 1)));
}

/* A basic residual block (two 3x3 convolutions); a 1x1 projection when the
 * shape changes. */
static int residual(tl_net *net, int x, int c, int stride)
{
    int y = cbr(net, x, c, 3, stride);
    y = tl_net_batchnorm(net, tl_net_conv(net, y, c, 3, 1, 1));
    int shortcut = x;
    if (stride != 1 || net->nodes[x].c != c) {
        shortcut = tl_net_batchnorm(net, tl_net_conv(net, x, c, 1, stride, 1));
    }
    return tl_net_relu(net, tl_net_add(net, y, shortcut));
}

static int head(tl_net *net, int x, int classes, float weight)
{
    const int logits = tl_net_dense(net, tl_net_global_avgpool(net, x), classes);
    return tl_net_add_exit(net, logits, weight) == TL_OK ? logits : -1;
}

/* ~1.56 M parameters: 3 stages of 2 residual blocks (48, 96, 192 channels). */
static int build_teacher(tl_net *net, int classes)
{
    int x = cbr(net, 0, 48, 3, 1);
    x = residual(net, x, 48, 1);
    x = residual(net, x, 48, 1);
    x = residual(net, x, 96, 2);
    x = residual(net, x, 96, 1);
    x = residual(net, x, 192, 2);
    x = residual(net, x, 192, 1);
    x = tl_net_dropout(net, tl_net_global_avgpool(net, x), 0.2f);
    const int logits = tl_net_dense(net, x, classes);
    return tl_net_add_exit(net, logits, 1.0f) == TL_OK ? logits : -1;
}

/* The students' plan: 4 convolutions (a, a, b, c channels), a 2x2 max pool
 * after the second and the third. */
static int four_convs(tl_net *net, int classes, int a, int b, int c)
{
    int x = cbr(net, 0, a, 3, 1);
    x = cbr(net, x, a, 3, 1);
    x = tl_net_maxpool(net, x, 2, 2);
    x = cbr(net, x, b, 3, 1);
    x = tl_net_maxpool(net, x, 2, 2);
    x = cbr(net, x, c, 3, 1);
    return head(net, x, classes, 1.0f);
}

/* ~45 K parameters. */
static int build_student(tl_net *net, int classes) { return four_convs(net, classes, 24, 48, 64); }

/* ~59 K parameters: the student about 1.17 times as wide, near the 60 K a
 * "small student" may have. */
static int build_student_wide(tl_net *net, int classes) { return four_convs(net, classes, 28, 56, 72); }

/* The student with an early exit after its first pooled block. */
static int build_student_exits(tl_net *net, int classes)
{
    int x = cbr(net, 0, 24, 3, 1);
    x = cbr(net, x, 24, 3, 1);
    x = tl_net_maxpool(net, x, 2, 2);
    if (head(net, x, classes, 0.3f) < 0) {
        return -1;
    }
    x = cbr(net, x, 48, 3, 1);
    x = tl_net_maxpool(net, x, 2, 2);
    x = cbr(net, x, 64, 3, 1);
    return head(net, x, classes, 1.0f);
}

/* The student with a bottleneck for split inference (BottleNet++'s idea):
 * after the second pool (7x7x48 on Fashion-MNIST) a linear 3x3 convolution
 * of stride 2 narrows to 4x4x3, 48 int8 values a sample (16x fewer than
 * the 784-byte image); the edge's half goes on from there. Cut after it,
 * the device sends 48 bytes. */
static int build_student_bottleneck(tl_net *net, int classes)
{
    int x = cbr(net, 0, 24, 3, 1);
    x = cbr(net, x, 24, 3, 1);
    x = tl_net_maxpool(net, x, 2, 2);
    x = cbr(net, x, 48, 3, 1);
    x = tl_net_maxpool(net, x, 2, 2);
    x = tl_net_batchnorm(net, tl_net_conv(net, x, 3, 3, 2, 1)); /* the cut: linear, 4x4x3 */
    x = cbr(net, x, 64, 3, 1);
    x = cbr(net, x, 64, 3, 1);
    return head(net, x, classes, 1.0f);
}

/* The edge's half after a cut at 7x7: three 3x3 convolutions (48/48/64)
 * widen back from the few channels that crossed, then the head. */
static int tail_at_7x7(tl_net *net, int x, int classes)
{
    x = cbr(net, x, 48, 3, 1);
    x = cbr(net, x, 48, 3, 1);
    x = cbr(net, x, 64, 3, 1);
    return head(net, x, classes, 1.0f);
}

/* A bottleneck right after the first convolution, where most of the
 * work is still ahead (the device's half: 2.7 M of ~20 M Cortex-M4
 * instructions): a linear 4x4 convolution of stride 4 to 7x7x1, 49 int8
 * values; the edge's half widens back and does the rest. */
static int build_student_early_cut(tl_net *net, int classes)
{
    int x = cbr(net, 0, 24, 3, 1);
    x = tl_net_batchnorm(net, tl_net_conv(net, x, 1, 4, 4, 1)); /* the cut: linear, 7x7x1 */
    return tail_at_7x7(net, x, classes);
}

/* The cut as early as it can be, for a device whose energy goes mostly to
 * its radio: a 4x4 convolution of stride 4 (16 features a patch, ReLU)
 * and a linear 1x1 convolution code each 4x4 patch of the image in 2
 * values (7x7x2, 98 int8 values: 8x fewer than the 784-byte image) for
 * 12.5 K MACs; the edge's half is the early cut's.
 * (Tried first: the linear 4x4 convolution straight to 2 channels, 0.7
 * points lower after 4 epochs.) */
static int build_student_stem_cut(tl_net *net, int classes)
{
    int x = cbr(net, 0, 16, 4, 4);
    x = tl_net_batchnorm(net, tl_net_conv(net, x, 2, 1, 1, 1)); /* the cut: linear, 7x7x2 */
    return tail_at_7x7(net, x, classes);
}

/* ~4.3 K parameters: depthwise-separable, for the smallest devices. */
static int build_student_tiny(tl_net *net, int classes)
{
    int x = cbr(net, 0, 16, 3, 2);
    x = tl_net_relu(net, tl_net_batchnorm(net, tl_net_dwconv(net, x, 3, 1, 1)));
    x = cbr(net, x, 32, 1, 1);
    x = tl_net_relu(net, tl_net_batchnorm(net, tl_net_dwconv(net, x, 3, 2, 1)));
    x = cbr(net, x, 64, 1, 1);
    return head(net, x, classes, 1.0f);
}

typedef struct arch {
    const char *name;
    int (*build)(tl_net *net, int classes);
    const char *description;
} arch;

static const arch archs[] = {
    { "teacher", build_teacher, "ResNet, 3 stages x 2 basic blocks (48/96/192 channels), ~1.56 M parameters" },
    { "student", build_student, "4 convolutions (24/24/48/64) with 2 max pools, ~45 K parameters" },
    { "student-wide", build_student_wide, "the student wider (28/28/56/72), ~59 K parameters" },
    { "student-exits", build_student_exits, "the student with an early exit after its first block" },
    { "student-bottleneck", build_student_bottleneck, "the student, a 4x4x3 bottleneck after its 2nd pool (48 B cut)" },
    { "student-early-cut", build_student_early_cut, "a 7x7x1 bottleneck after the 1st conv (49 B cut)" },
    { "student-stem-cut", build_student_stem_cut, "the image's 4x4 patches to 7x7x2 first (98 B cut), ~50 K parameters" },
    { "student-tiny", build_student_tiny, "depthwise-separable (16/32/64 channels), ~4.3 K parameters" },
};

const char *const *tl_arch_names(void)
{
    static const char *names[sizeof archs / sizeof archs[0] + 1];
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; ++i) {
        names[i] = archs[i].name;
    }
    return names;
}

const char *tl_arch_describe(const char *name)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; ++i) {
        if (!strcmp(archs[i].name, name)) {
            return archs[i].description;
        }
    }
    return NULL;
}

/* "ARCH@F": ARCH with its prunable convolutions narrowed by the fraction F
 * (prune_channels.c): build ARCH once to learn its shape, then again with
 * the narrower widths. */
static tl_status build_pruned(tl_net *net, const char *name, int h, int w, int c, int classes)
{
    const char *at = strchr(name, '@');
    char base[32], *end;
    const float fraction = strtof(at + 1, &end);
    if ((size_t)(at - name) >= sizeof base || *end || !(fraction > 0.0f && fraction < 1.0f)) {
        return TL_ERR_ARG;
    }
    memcpy(base, name, (size_t)(at - name));
    base[at - name] = '\0';
    tl_net full;
    tl_status s = tl_net_build_arch(&full, base, h, w, c, classes);
    if (s != TL_OK) {
        return s;
    }
    int widths[256], count = 0;
    s = tl_conv_widths(&full, fraction, widths, 256, &count);
    tl_net_free(&full);
    if (s == TL_OK) {
        s = tl_net_init(net, h, w, c);
    }
    if (s != TL_OK) {
        return s;
    }
    net->conv_widths = widths;
    net->conv_width_count = count;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; ++i) {
        if (!strcmp(archs[i].name, base)) {
            const int ok = archs[i].build(net, classes) >= 0 && net->conv_width_next == count;
            net->conv_widths = NULL;
            if (!ok) {
                tl_net_free(net);
                return TL_ERR_SHAPE;
            }
            snprintf(net->arch, sizeof net->arch, "%s", name);
            return TL_OK;
        }
    }
    tl_net_free(net);
    return TL_ERR_ARG;
}

tl_status tl_net_build_arch(tl_net *net, const char *name, int h, int w, int c, int classes)
{
    if (strchr(name, '@')) {
        return build_pruned(net, name, h, w, c, classes);
    }
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; ++i) {
        if (strcmp(archs[i].name, name) != 0) {
            continue;
        }
        tl_status s = tl_net_init(net, h, w, c);
        if (s != TL_OK) {
            return s;
        }
        if (archs[i].build(net, classes) < 0) {
            tl_net_free(net);
            return TL_ERR_SHAPE;
        }
        strncpy(net->arch, name, sizeof net->arch - 1);
        return TL_OK;
    }
    return TL_ERR_ARG;
}
