/* tl_lstm_s8.c - UNIDIRECTIONAL_SEQUENCE_LSTM with int8 activations and
 * weights and an int16 cell (TFLite's 8x8->16 integer LSTM, step by step as
 * TFLite Micro's LstmStep runs it: each gate is an input FC plus a
 * recurrent FC into Q3.12, saturated, then the 16-bit sigmoid or tanh into
 * Q0.15; the cell is forget x cell + input x cell gate, clipped; the hidden
 * state is tanh(cell) x output gate, requantised to int8; it is also that
 * step's output). The hidden and cell states are state tensors, so a
 * sequence can continue over several inferences. */
#include <string.h>

#include "kernels.h"
#include "op.h"
#include "sigmoid16.h"

/* out[r][o] = sat16(requant(sum_d w[o][d] (x[r][d] + x_offset) + bias[o])). */
static void fc_to_s16(const int8_t *x, int32_t x_offset, const int8_t *w, const int32_t *bias, int32_t rows,
                      int32_t n_in, int32_t n_out, int32_t multiplier, int32_t shift, int16_t *out)
{
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *xr = x + r * n_in;
        for (int32_t o = 0; o < n_out; ++o) {
            const int8_t *wo = w + o * n_in;
            uint32_t acc = 0; /* wraps as TFLite's int32 would, without undefined behaviour */
            for (int32_t d = 0; d < n_in; ++d) {
                acc += (uint32_t)(wo[d] * (xr[d] + x_offset));
            }
            if (bias) {
                acc += (uint32_t)bias[o];
            }
            const int32_t v = tl_requantize((int32_t)acc, multiplier, shift);
            out[r * n_out + o] = (int16_t)(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
        }
    }
}

static void add_s16(const int16_t *a, const int16_t *b, int32_t n, int16_t *out)
{
    for (int32_t i = 0; i < n; ++i) {
        const int32_t s = a[i] + b[i];
        out[i] = (int16_t)(s < -32768 ? -32768 : (s > 32767 ? 32767 : s));
    }
}

/* Element-wise a x b requantised (TFLite's MulElementwise, symmetric
 * inputs), clamped to [lo, hi]. */
static int32_t mul_s16(int32_t a, int32_t b, int32_t multiplier, int32_t shift, int32_t offset, int32_t lo, int32_t hi)
{
    const int32_t v = tl_requantize(a * b, multiplier, shift) + offset;
    return v < lo ? lo : (v > hi ? hi : v);
}

/* One gate: FC(input) + FC(hidden), then sigmoid (or tanh for the cell
 * gate) in place. */
static void gate(const tl_lstm_params *p, int32_t g, const int8_t *x, const int8_t *h, int32_t rows, int16_t *out,
                 int16_t *scratch)
{
    const tl_lstm_header *k = p->header;
    const int32_t n = rows * p->n_state;
    fc_to_s16(x, k->input_offset, p->input_weights + g * p->n_state * p->n_input, p->bias + g * p->n_state, rows,
              p->n_input, p->n_state, k->input_mult[g], k->input_shift[g], out);
    fc_to_s16(h, k->hidden_offset, p->recurrent_weights + g * p->n_state * p->n_state, NULL, rows, p->n_state,
              p->n_state, k->recurrent_mult[g], k->recurrent_shift[g], scratch);
    add_s16(out, scratch, n, out);
    for (int32_t i = 0; i < n; ++i) {
        out[i] = g == TL_LSTM_CELL_GATE ? tl_tanh_s16(out[i], 3, 0) : tl_sigmoid_s16(out[i]);
    }
}

static void step(const tl_lstm_params *p, const int8_t *x, int8_t *h, int16_t *c, int32_t rows, int8_t *out)
{
    const tl_lstm_header *k = p->header;
    const int32_t n = rows * p->n_state;
    int16_t *forget = p->buffers, *input = forget + p->buffer_stride, *cell = input + p->buffer_stride;
    int16_t *scratch = cell + p->buffer_stride;
    gate(p, TL_LSTM_FORGET_GATE, x, h, rows, forget, scratch);
    gate(p, TL_LSTM_INPUT_GATE, x, h, rows, input, scratch);
    gate(p, TL_LSTM_CELL_GATE, x, h, rows, cell, scratch);
    for (int32_t i = 0; i < n; ++i) {
        c[i] = (int16_t)mul_s16(forget[i], c[i], k->forget_mult, k->forget_shift, 0, -32768, 32767);
        input[i] = (int16_t)mul_s16(input[i], cell[i], k->update_mult, k->update_shift, 0, -32768, 32767);
    }
    add_s16(c, input, n, c);
    if (k->cell_clip > 0) {
        for (int32_t i = 0; i < n; ++i) {
            c[i] = (int16_t)(c[i] > k->cell_clip ? k->cell_clip : (c[i] < -k->cell_clip ? -k->cell_clip : c[i]));
        }
    }
    int16_t *output_gate = input;
    gate(p, TL_LSTM_OUTPUT_GATE, x, h, rows, output_gate, scratch);
    /* tanh of the cell at its own scale: into the table's units. */
    const int32_t s = 15 + k->cell_scale_power - 3;
    const int32_t tanh_mult = s < 0 ? 3 : 3 << s, tanh_shift = s < 0 ? -s : 0;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t t = tl_tanh_s16(c[i], tanh_mult, tanh_shift);
        h[i] = (int8_t)mul_s16(t, output_gate[i], k->hidden_mult, k->hidden_shift, k->hidden_zero_point, -128, 127);
    }
    memcpy(out, h, (size_t)n);
}

void tl_lstm_s8(const tl_lstm_params *p)
{
    const int32_t in_step = p->header->time_major ? p->batches * p->n_input : p->n_input;
    const int32_t out_step = p->header->time_major ? p->batches * p->n_state : p->n_state;
    const int8_t *x = p->input;
    int8_t *out = p->output;
    if (p->header->time_major) { /* all batches at once, one step at a time */
        for (int32_t t = 0; t < p->time_steps; ++t, x += in_step, out += out_step) {
            step(p, x, p->hidden, p->cell, p->batches, out);
        }
        return;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t t = 0; t < p->time_steps; ++t, x += in_step, out += out_step) {
            step(p, x, p->hidden + b * p->n_state, p->cell + b * p->n_state, 1, out);
        }
    }
}

/* ---- the operator ---- */

static uint32_t round4(uint64_t n)
{
    return (uint32_t)((n + 3u) & ~(uint64_t)3u);
}

/* Sizes from the tensors: batches, time steps, input and state widths. */
static void lstm_sizes(const tl_tensor_rec *in, const tl_tensor_rec *hidden, int32_t time_major, uint32_t *batches,
                       uint32_t *time_steps, uint32_t *n_input, uint32_t *n_state)
{
    *batches = time_major ? in->dims[1] : in->dims[0];
    *time_steps = time_major ? in->dims[0] : in->dims[1];
    *n_input = in->dims[2];
    *n_state = (uint32_t)(tl_tensor_elements(hidden) / (*batches ? *batches : 1));
}

static tl_status check_lstm(const tl_model *m, const tl_op_rec *op)
{
    tl_status s = tl_op_check_s8_output(m, op);
    if (s != TL_OK) {
        return s;
    }
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *h = tl_op_tensor(m, op->inputs[1]);
    const tl_tensor_rec *c = tl_op_tensor(m, op->inputs[2]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 3 || !tl_op_is_s8_activation(in) || h->kind != TL_TENSOR_STATE || h->dtype != TL_DTYPE_INT8 ||
        c->kind != TL_TENSOR_STATE || c->dtype != TL_DTYPE_INT16) {
        return TL_ERR_FORMAT;
    }
    if (op->requant % 4 != 0 || (uint64_t)op->requant + sizeof(tl_lstm_header) > m->weights_size) {
        return TL_ERR_BOUNDS;
    }
    const tl_lstm_header *k = (const tl_lstm_header *)(const void *)(m->weights + op->requant);
    if (k->time_major < 0 || k->time_major > 1 || in->rank != 3 || out->rank != 3) {
        return TL_ERR_FORMAT;
    }
    uint32_t batches, time_steps, n_input, n_state;
    lstm_sizes(in, h, k->time_major, &batches, &time_steps, &n_input, &n_state);
    if ((uint64_t)batches * n_state != tl_tensor_elements(h) || c->data_size != 2ull * 5 * batches * n_state ||
        out->dims[0] != in->dims[0] || out->dims[1] != in->dims[1] || out->dims[2] != n_state ||
        n_input > TL_MAX_DOT || n_state > TL_MAX_DOT) {
        return TL_ERR_SHAPE;
    }
    const uint64_t need = sizeof(tl_lstm_header) + round4(4ull * n_state * n_input) + round4(4ull * n_state * n_state) +
                          16ull * n_state;
    if (op->bias != need || (uint64_t)op->requant + need > m->weights_size) {
        return TL_ERR_BOUNDS;
    }
    for (int g = 0; g < 4; ++g) {
        if (!tl_op_valid_multiplier(k->input_mult[g], k->input_shift[g]) ||
            !tl_op_valid_multiplier(k->recurrent_mult[g], k->recurrent_shift[g])) {
            return TL_ERR_QUANT;
        }
    }
    /* tanh of the cell scales an int16 by 3 << (12 + power) at most: keep it in int32. */
    if (!tl_op_valid_multiplier(k->forget_mult, k->forget_shift) ||
        !tl_op_valid_multiplier(k->update_mult, k->update_shift) ||
        !tl_op_valid_multiplier(k->hidden_mult, k->hidden_shift) || k->cell_scale_power < -28 ||
        k->cell_scale_power > 2 || k->cell_clip < 0 || k->cell_clip > 32767 || k->input_offset < -127 ||
        k->input_offset > 128 || k->hidden_offset < -127 || k->hidden_offset > 128 || k->hidden_zero_point < -128 ||
        k->hidden_zero_point > 127 || k->hidden_offset != -k->hidden_zero_point) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_lstm(const tl_interp *it, const tl_op_rec *op)
{
    const tl_model *m = it->model;
    const tl_tensor_rec *in = &m->tensors[op->inputs[0]], *h = &m->tensors[op->inputs[1]];
    const uint8_t *block = m->weights + op->requant;
    tl_lstm_params p;
    p.header = (const tl_lstm_header *)(const void *)block;
    uint32_t batches, time_steps, n_input, n_state;
    lstm_sizes(in, h, p.header->time_major, &batches, &time_steps, &n_input, &n_state);
    p.batches = (int32_t)batches;
    p.time_steps = (int32_t)time_steps;
    p.n_input = (int32_t)n_input;
    p.n_state = (int32_t)n_state;
    p.input_weights = (const int8_t *)(block + sizeof(tl_lstm_header));
    p.recurrent_weights = p.input_weights + round4(4ull * n_state * n_input);
    p.bias = (const int32_t *)(const void *)(p.recurrent_weights + round4(4ull * n_state * n_state));
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.hidden = tl_op_activation(it, op->inputs[1]);
    p.cell = (int16_t *)(void *)tl_op_activation(it, op->inputs[2]);
    p.buffers = p.cell + batches * n_state;
    p.buffer_stride = (int32_t)(batches * n_state);
    tl_lstm_s8(&p);
}

const tl_op_kind tl_op_unidirectional_sequence_lstm = { "UNIDIRECTIONAL_SEQUENCE_LSTM", 0, check_lstm, run_lstm };
