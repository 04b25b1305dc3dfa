/* learn.c - on-device transfer learning of the classifier head (learn.h).
 *
 * The head is the FULLY_CONNECTED op feeding the model's last exit. Its int8
 * weights are read into float (w * scale[c]); biases come back from the
 * effective biases (bias = effective + zp * sum(w)). Training is softmax
 * cross-entropy by SGD with momentum on the dequantised features, with an L2
 * anchor to the original head. Writing back quantises per channel and
 * recomputes the constants the kernel reads.
 *
 * Determinism: the host and the Cortex-M4 must produce the same bytes. Both
 * run IEEE single precision; this file is built with -ffp-contract=off (no
 * fused multiply-add on either side), every sum runs in one fixed order, and
 * exp and rounding are written here rather than taken from a libm.
 */
#include <string.h>

#include "tinylarge/learn.h"

tl_learn_config tl_learn_defaults(void)
{
    tl_learn_config c;
    c.learning_rate = 0.01f;
    c.momentum = 0.0f;
    c.anchor = 1e-3f;
    c.replay = 4;
    c.memory = 256;
    c.seed = 1;
    return c;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int finite_positive(float f)
{
    const uint32_t u = float_bits(f);
    return (u >> 31) == 0 && ((u >> 23) & 0xffu) != 0xffu && u != 0;
}

/* e^x for x <= 0 (x is a logit minus the row's maximum): 2^n * p(r) with
 * r = x - n ln 2 in about [-0.35, 0.35] and p a degree-6 Taylor polynomial
 * (relative error < 2e-7 there). */
static float exp_nonpositive(float x)
{
    if (!(x > -87.0f)) {
        return 0.0f;
    }
    const float t = x * 1.44269504f;
    const int32_t n = (int32_t)(t - 0.5f); /* truncation: round to nearest for t < 0 */
    const float r = (x - (float)n * 0.693145752f) - (float)n * 1.42860677e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * bits_float((uint32_t)(n + 127) << 23);
}

/* Round half away from zero, saturating at +-2^30. */
static int32_t round_int(float f)
{
    if (!(f < 1073741824.0f)) {
        return f != f ? 0 : 1073741824;
    }
    if (!(f > -1073741824.0f)) {
        return -1073741824;
    }
    return (int32_t)(f >= 0.0f ? f + 0.5f : f - 0.5f);
}

/* real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31): the
 * frexp of a float is its bits, and its 24-bit significand times 2^7 is the
 * Q31 multiplier exactly. Below 2^-31 the multiplier is zero, as TFLite's. */
static tl_status quantize_multiplier(float real, int32_t *multiplier, int32_t *shift)
{
    const uint32_t u = float_bits(real);
    const int32_t exponent_field = (int32_t)((u >> 23) & 0xffu);
    if ((u >> 31) != 0 || exponent_field == 0xff) {
        return TL_ERR_QUANT;
    }
    const int32_t exponent = exponent_field - 126;
    if (exponent_field == 0 || exponent < -31) {
        *multiplier = 0;
        *shift = 0;
        return TL_OK;
    }
    if (exponent > 30) {
        return TL_ERR_QUANT;
    }
    *multiplier = (int32_t)(((u & 0x7fffffu) | 0x800000u) << 7);
    *shift = exponent;
    return TL_OK;
}

/* The head: the last FULLY_CONNECTED op before the last exit's end, with
 * only SOFTMAX or RESHAPE after it, int8 dense weights and float scales
 * the learner can read. Returns its index or -1. */
static int32_t find_head(const tl_model *m)
{
    if (!m || !m->header || m->header->exit_count == 0) {
        return -1;
    }
    const uint32_t end = m->exits[m->header->exit_count - 1].op_end;
    int32_t head = -1;
    for (uint32_t k = end; k-- > 0;) {
        const uint8_t code = m->ops[k].opcode;
        if (code == TL_OP_FULLY_CONNECTED) {
            head = (int32_t)k;
            break;
        }
        if (code != TL_OP_SOFTMAX && code != TL_OP_RESHAPE) {
            return -1;
        }
    }
    if (head < 0) {
        return -1;
    }
    const tl_op_rec *op = &m->ops[head];
    const tl_tensor_rec *in = &m->tensors[op->inputs[0]];
    const tl_tensor_rec *f = &m->tensors[op->inputs[1]];
    const tl_tensor_rec *out = &m->tensors[op->output];
    if (op->activation != TL_ACT_NONE || f->dtype != TL_DTYPE_INT8 || f->kind != TL_TENSOR_CONST || f->dims[0] == 0 || f->dims[0] > 255 ||
        f->dims[1] == 0 || in->data_size != f->dims[1] || !finite_positive(in->scale) ||
        !finite_positive(out->scale)) {
        return -1;
    }
    if (f->quant == TL_QUANT_PER_CHANNEL) {
        const uint32_t at = f->channel_scales, bytes = 4u * f->dims[0];
        if (at == TL_NONE || (at & 3u) != 0 || at > m->weights_size || bytes > m->weights_size - at) {
            return -1;
        }
        const uint8_t *scales = m->weights + at;
        for (uint32_t c = 0; c < f->dims[0]; ++c) {
            float s;
            memcpy(&s, scales + 4u * c, sizeof s);
            if (!finite_positive(s)) {
                return -1;
            }
        }
    } else if (f->quant != TL_QUANT_PER_TENSOR || !finite_positive(f->scale)) {
        return -1;
    }
    return head;
}

static float filter_scale(const tl_model *m, const tl_tensor_rec *f, uint32_t c)
{
    if (f->quant != TL_QUANT_PER_CHANNEL) {
        return f->scale;
    }
    float s;
    memcpy(&s, m->weights + f->channel_scales + 4u * c, sizeof s);
    return s;
}

/* Work buffer layout: six float arrays then the remembered samples. */
static size_t layout(uint32_t inputs, uint32_t classes, uint32_t memory)
{
    const size_t params = (size_t)classes * inputs + classes;
    const size_t floats = 3 * params + inputs + classes; /* head, its original, velocity; x, logits */
    return floats * sizeof(float) + (size_t)memory * inputs + memory;
}

size_t tl_learn_work_size(const tl_model *model, const tl_learn_config *config)
{
    const int32_t head = find_head(model);
    if (head < 0) {
        return 0;
    }
    const tl_learn_config c = config ? *config : tl_learn_defaults();
    const tl_tensor_rec *f = &model->tensors[model->ops[head].inputs[1]];
    return layout(f->dims[1], f->dims[0], c.memory);
}

tl_status tl_learn_init(tl_learner *l, const tl_model *m, void *work, size_t work_size,
                        const tl_learn_config *config)
{
    if (!l || !m || !work || ((uintptr_t)work & 3u) != 0) {
        return TL_ERR_ARG;
    }
    const tl_learn_config c = config ? *config : tl_learn_defaults();
    if (!(c.learning_rate > 0.0f && c.learning_rate < 10.0f) || !(c.momentum >= 0.0f && c.momentum < 1.0f) ||
        !(c.anchor >= 0.0f && c.anchor < 1.0f) || c.replay > 64 || (c.replay > 0 && c.memory == 0) ||
        c.memory > 65536) {
        return TL_ERR_ARG;
    }
    const int32_t head = find_head(m);
    if (head < 0) {
        return TL_ERR_UNSUPPORTED;
    }
    const tl_op_rec *op = &m->ops[head];
    const tl_tensor_rec *in = &m->tensors[op->inputs[0]];
    const tl_tensor_rec *f = &m->tensors[op->inputs[1]];
    const uint32_t inputs = f->dims[1], classes = f->dims[0];
    if (work_size < layout(inputs, classes, c.memory)) {
        return TL_ERR_ARENA;
    }
    memset(l, 0, sizeof *l);
    l->model = m;
    l->config = c;
    l->head_op = (uint32_t)head;
    l->features = op->inputs[0];
    l->inputs = inputs;
    l->classes = classes;
    l->input_scale = in->scale;
    l->input_zero_point = in->zero_point;
    l->output_scale = m->tensors[op->output].scale;
    const size_t params = (size_t)classes * inputs + classes;
    float *p = (float *)work;
    l->weight = p;
    l->bias = p + (size_t)classes * inputs;
    p += params;
    l->weight0 = p;
    l->bias0 = p + (size_t)classes * inputs;
    p += params;
    l->velocity = p;
    p += params;
    l->x = p;
    p += inputs;
    l->logits = p;
    p += classes;
    l->memory = (int8_t *)p;
    l->labels = (uint8_t *)p + (size_t)c.memory * inputs;
    l->rng = c.seed ? c.seed : 1u;

    const int8_t *w = (const int8_t *)(m->weights + f->data_offset);
    const int32_t *effective = (const int32_t *)(const void *)(m->weights + op->bias);
    for (uint32_t k = 0; k < classes; ++k) {
        const float s = filter_scale(m, f, k);
        int32_t sum = 0;
        for (uint32_t i = 0; i < inputs; ++i) {
            sum += w[(size_t)k * inputs + i];
            l->weight0[(size_t)k * inputs + i] = (float)w[(size_t)k * inputs + i] * s;
        }
        /* effective = bias - zp * sum(w); op->input_offset is -zp. */
        const int32_t bias = effective[k] - op->input_offset * sum;
        l->bias0[k] = (float)bias * (l->input_scale * s);
    }
    memcpy(l->weight, l->weight0, params * sizeof(float));
    memset(l->velocity, 0, params * sizeof(float));
    return TL_OK;
}

tl_status tl_learn_features(const tl_learner *l, tl_interp *it, const int8_t **features)
{
    if (!l || !it || !features || it->model != l->model) {
        return TL_ERR_ARG;
    }
    it->next_op = 0;
    while (it->next_op < l->head_op) {
        const tl_status s = tl_interp_step(it);
        if (s != TL_OK) {
            return s;
        }
    }
    *features = (const int8_t *)(it->arena + l->model->plan[l->features]);
    return TL_OK;
}

/* x = dequantised features; logits = W x + b. */
static void forward(const tl_learner *l, const int8_t *features)
{
    for (uint32_t i = 0; i < l->inputs; ++i) {
        l->x[i] = (float)((int32_t)features[i] - l->input_zero_point) * l->input_scale;
    }
    for (uint32_t k = 0; k < l->classes; ++k) {
        const float *row = l->weight + (size_t)k * l->inputs;
        float acc = l->bias[k];
        for (uint32_t i = 0; i < l->inputs; ++i) {
            acc += row[i] * l->x[i];
        }
        l->logits[k] = acc;
    }
}

void tl_learn_step(tl_learner *l, const int8_t *features, uint32_t label)
{
    forward(l, features);
    float top = l->logits[0];
    for (uint32_t k = 1; k < l->classes; ++k) {
        top = l->logits[k] > top ? l->logits[k] : top;
    }
    float total = 0.0f;
    for (uint32_t k = 0; k < l->classes; ++k) {
        l->logits[k] = exp_nonpositive(l->logits[k] - top);
        total += l->logits[k];
    }
    const float lr = l->config.learning_rate, mu = l->config.momentum, anchor = l->config.anchor;
    float *vw = l->velocity, *vb = l->velocity + (size_t)l->classes * l->inputs;
    for (uint32_t k = 0; k < l->classes; ++k) {
        /* d(cross-entropy)/d(logit k) = p_k - [k == label] */
        const float g = l->logits[k] / total - (k == label ? 1.0f : 0.0f);
        float *row = l->weight + (size_t)k * l->inputs, *v = vw + (size_t)k * l->inputs;
        const float *row0 = l->weight0 + (size_t)k * l->inputs;
        for (uint32_t i = 0; i < l->inputs; ++i) {
            const float grad = g * l->x[i] + anchor * (row[i] - row0[i]);
            v[i] = mu * v[i] + grad;
            row[i] -= lr * v[i];
        }
        const float grad_b = g + anchor * (l->bias[k] - l->bias0[k]);
        vb[k] = mu * vb[k] + grad_b;
        l->bias[k] -= lr * vb[k];
    }
}

static uint32_t next_random(tl_learner *l)
{
    uint32_t x = l->rng; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    l->rng = x;
    return x;
}

tl_status tl_learn_add(tl_learner *l, const int8_t *features, uint32_t label)
{
    if (!l || !features || label >= l->classes) {
        return TL_ERR_ARG;
    }
    tl_learn_step(l, features, label);
    if (l->config.memory > 0) {
        memcpy(l->memory + (size_t)l->next_slot * l->inputs, features, l->inputs);
        l->labels[l->next_slot] = (uint8_t)label;
        l->next_slot = (l->next_slot + 1) % l->config.memory;
        if (l->remembered < l->config.memory) {
            ++l->remembered;
        }
        for (uint32_t r = 0; r < l->config.replay; ++r) {
            const uint32_t j = next_random(l) % l->remembered;
            tl_learn_step(l, l->memory + (size_t)j * l->inputs, l->labels[j]);
        }
    }
    ++l->samples;
    return TL_OK;
}

uint32_t tl_learn_predict(const tl_learner *l, const int8_t *features)
{
    forward(l, features);
    uint32_t best = 0;
    for (uint32_t k = 1; k < l->classes; ++k) {
        if (l->logits[k] > l->logits[best]) {
            best = k;
        }
    }
    return best;
}

uint32_t tl_learn_delta_count(const tl_learner *l)
{
    return l ? l->classes * l->inputs + l->classes : 0;
}

tl_status tl_learn_delta(const tl_learner *l, float *delta, uint32_t count)
{
    if (!l || !delta || count != tl_learn_delta_count(l)) {
        return TL_ERR_ARG;
    }
    for (uint32_t i = 0; i < count; ++i) {
        delta[i] = l->weight[i] - l->weight0[i]; /* bias follows weight in both */
    }
    return TL_OK;
}

tl_status tl_learn_apply(tl_learner *l, const float *delta, uint32_t count)
{
    if (!l || !delta || count != tl_learn_delta_count(l)) {
        return TL_ERR_ARG;
    }
    for (uint32_t i = 0; i < count; ++i) {
        l->weight[i] += delta[i]; /* bias follows weight */
    }
    return TL_OK;
}

/* Offset of a pointer into the model inside the model's bytes. */
static size_t offset_in(const tl_model *m, const void *p)
{
    return (size_t)((const uint8_t *)p - m->base);
}

/* Gives the head's output (the logits) a new scale and zero point in the
 * copy `out`: the tensor record, the head's output offset, and the
 * constants of the SOFTMAX ops that read it. A softmax's input multiplier
 * is beta * scale * 2^26 (TFLite's PreprocessSoftmaxScaling, 5 integer
 * bits), so it scales with the new scale / the old. */
static tl_status rescale_logits(const tl_learner *l, uint8_t *out, float scale, int32_t zero_point)
{
    const tl_model *m = l->model;
    const uint32_t logits = m->ops[l->head_op].output;
    const float ratio = scale / l->output_scale;
    for (uint32_t k = l->head_op + 1; k < m->header->op_count; ++k) {
        if (m->ops[k].opcode != TL_OP_SOFTMAX || m->ops[k].inputs[0] != logits) {
            continue;
        }
        tl_op_rec *sm = (tl_op_rec *)(void *)(out + offset_in(m, &m->ops[k]));
        const int32_t old_shift = m->ops[k].p[TL_SOFTMAX_INPUT_LEFT_SHIFT];
        /* multiplier * 2^(shift - 31), in float: 2^(shift - 31) from its bits. */
        const float real = (float)m->ops[k].p[TL_SOFTMAX_INPUT_MULT] * bits_float((uint32_t)(old_shift + 96) << 23) *
                           ratio;
        int32_t multiplier, shift;
        if (!(real > 1.0f) || quantize_multiplier(real, &multiplier, &shift) != TL_OK || shift < 1) {
            return TL_ERR_QUANT;
        }
        /* The input radius: 31 * 2^26 / 2^shift; differences reach -255 at most. */
        const float radius = 31.0f * bits_float((uint32_t)(127 + 26 - shift) << 23);
        sm->p[TL_SOFTMAX_INPUT_MULT] = multiplier;
        sm->p[TL_SOFTMAX_INPUT_LEFT_SHIFT] = shift;
        sm->p[TL_SOFTMAX_DIFF_MIN] = radius > 255.0f ? -255 : -(int32_t)radius;
        sm->input_offset = -zero_point;
    }
    tl_op_rec *head = (tl_op_rec *)(void *)(out + offset_in(m, &m->ops[l->head_op]));
    head->output_offset = zero_point;
    head->act_min = -128;
    head->act_max = 127;
    tl_tensor_rec *rec = (tl_tensor_rec *)(void *)(out + offset_in(m, &m->tensors[logits]));
    rec->scale = scale;
    rec->zero_point = zero_point;
    return TL_OK;
}

tl_status tl_learn_write_model(const tl_learner *l, uint8_t *out, size_t capacity, uint32_t *size)
{
    if (!l || !out || !size || ((uintptr_t)out & 3u) != 0) {
        return TL_ERR_ARG;
    }
    const tl_model *m = l->model;
    if (capacity < m->size || m->size < sizeof(tl_trailer)) {
        return TL_ERR_ARENA;
    }
    const tl_op_rec *op = &m->ops[l->head_op];
    const uint32_t filter = op->inputs[1];
    const tl_tensor_rec *f = &m->tensors[filter];
    const size_t weights_at = offset_in(m, m->weights);
    int8_t *w = (int8_t *)(out + weights_at + f->data_offset);
    int32_t *requant = (int32_t *)(void *)(out + weights_at + op->requant);
    int32_t *effective = (int32_t *)(void *)(out + weights_at + op->bias);
    const uint32_t inputs = l->inputs, classes = l->classes;
    const int32_t zero_point = -op->input_offset;
    const int64_t max_bias = 2147483647 - (int64_t)inputs * 128 * 128;
    tl_status s = TL_OK;

    /* The logits' range: the learnt head may reach beyond the shipped one's,
     * and saturated logits tie; so it is measured on the remembered samples
     * (0 kept inside), and a SOFTMAX reading the logits is rescaled to match. */
    float output_scale = l->output_scale;
    int32_t output_zero_point = m->tensors[op->output].zero_point;
    if (l->remembered > 0) {
        float lo = 0.0f, hi = 0.0f;
        for (uint32_t j = 0; j < l->remembered; ++j) {
            forward(l, l->memory + (size_t)j * l->inputs);
            for (uint32_t k = 0; k < l->classes; ++k) {
                lo = l->logits[k] < lo ? l->logits[k] : lo;
                hi = l->logits[k] > hi ? l->logits[k] : hi;
            }
        }
        const float scale = (hi - lo) * 1.25f / 255.0f; /* a margin for unseen samples */
        if (finite_positive(scale)) {
            output_scale = scale;
            output_zero_point = -128 + round_int(-lo * 1.125f / scale);
            output_zero_point = output_zero_point > 127 ? 127 : output_zero_point;
        }
    }
    /* One scale per channel, or one for the tensor, from the largest |w|. */
    float tensor_max = 0.0f;
    for (uint32_t i = 0; i < classes * inputs; ++i) {
        const float a = l->weight[i] < 0.0f ? -l->weight[i] : l->weight[i];
        tensor_max = a > tensor_max ? a : tensor_max;
    }
    if (out != m->base) {
        memmove(out, m->base, m->size);
    }
    for (uint32_t k = 0; k < classes; ++k) {
        const float *row = l->weight + (size_t)k * inputs;
        float top = tensor_max;
        if (f->quant == TL_QUANT_PER_CHANNEL) {
            top = 0.0f;
            for (uint32_t i = 0; i < inputs; ++i) {
                const float a = row[i] < 0.0f ? -row[i] : row[i];
                top = a > top ? a : top;
            }
        }
        float scale = top / 127.0f;
        if (!finite_positive(scale)) {
            scale = filter_scale(m, f, k); /* an all-zero row: any scale will do */
        }
        int32_t sum = 0;
        for (uint32_t i = 0; i < inputs; ++i) {
            int32_t q = round_int(row[i] / scale);
            q = q > 127 ? 127 : (q < -127 ? -127 : q);
            w[(size_t)k * inputs + i] = (int8_t)q;
            sum += q;
        }
        const float bias_scale = l->input_scale * scale;
        int64_t bias = (int64_t)round_int(l->bias[k] / bias_scale) - (int64_t)zero_point * sum;
        bias = bias > max_bias ? max_bias : (bias < -max_bias ? -max_bias : bias);
        effective[k] = (int32_t)bias;
        int32_t multiplier, shift;
        s = quantize_multiplier(bias_scale / output_scale, &multiplier, &shift);
        if (s != TL_OK) {
            return s;
        }
        requant[k] = multiplier;
        requant[classes + k] = shift;
        if (f->quant == TL_QUANT_PER_CHANNEL) {
            memcpy(out + weights_at + f->channel_scales + 4u * k, &scale, sizeof scale);
        } else if (k == 0) {
            tl_tensor_rec *rec = (tl_tensor_rec *)(void *)(out + offset_in(m, &m->tensors[filter]));
            rec->scale = scale;
        }
    }
    s = rescale_logits(l, out, output_scale, output_zero_point);
    if (s != TL_OK) {
        return s;
    }
    /* A fresh digest; the edge's signature no longer covers these bytes. */
    tl_trailer *trailer = (tl_trailer *)(void *)(out + offset_in(m, m->trailer));
    trailer->signature_alg = TL_SIG_NONE;
    trailer->key_id = 0;
    memset(trailer->signature, 0, sizeof trailer->signature);
    tl_sha256 sha;
    tl_sha256_init(&sha);
    tl_sha256_update(&sha, out, offset_in(m, m->trailer));
    tl_sha256_final(&sha, trailer->sha256);
    *size = m->size;
    return TL_OK;
}
