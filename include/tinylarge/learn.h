/* learn.h - on-device transfer learning: a device adapts its model's
 * classifier head to its own data, the backbone frozen (TinyOL / TinyTL's
 * "last layer" setting).
 *
 * C99, no heap, no stdio, built for the host and the Cortex-M4 alike: the
 * learner lives in a work buffer the caller gives (tl_learn_work_size says
 * how big), reads the device's own activations (the head's input, computed
 * by the interpreter up to the head) and keeps the head in float32, which
 * the M4's FPU runs in single instructions. Every float operation is a plain
 * IEEE add, multiply or divide in a fixed order (no fused multiply-add, no
 * libm), so the same samples give the same bytes on the host and on the M4.
 *
 *     tl_learner l;
 *     tl_learn_init(&l, &model, work, sizeof work, NULL);
 *     for each labelled sample:
 *         fill tl_interp_input(&it, 0, NULL);
 *         tl_learn_features(&l, &it, &features);   // backbone only
 *         tl_learn_add(&l, features, label);       // one step + replay steps
 *     tl_learn_write_model(&l, out, capacity, &size); // the model, new head
 *     tl_learn_delta(&l, delta, count);               // for federated learning
 */
#ifndef TINYLARGE_LEARN_H
#define TINYLARGE_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_learn_config {
    float learning_rate;    /* SGD step size (default 0.01) */
    float momentum;         /* heavy-ball momentum (default 0: measured, it
                               makes replayed steps noisier, bench/learn.sh) */
    float anchor;           /* L2 pull toward the model's own head, which
                               keeps a few samples from erasing what the
                               teacher taught (default 1e-3) */
    uint32_t replay;        /* extra steps on remembered samples after each
                               new one (default 4) */
    uint32_t memory;        /* samples remembered (their features, one byte
                               each, and the label) for replay (default 256) */
    uint32_t seed;          /* which remembered samples are replayed (default 1) */
} tl_learn_config;

/* The defaults above. */
tl_learn_config tl_learn_defaults(void);

typedef struct tl_learner {
    const tl_model *model;
    tl_learn_config config;
    uint32_t head_op;       /* the FULLY_CONNECTED op that is the last exit's head */
    uint32_t features;      /* its input tensor: the device's own activations */
    uint32_t inputs;        /* features per sample */
    uint32_t classes;       /* head outputs */
    float input_scale;
    int32_t input_zero_point;
    float output_scale;
    float *weight, *bias;   /* the head being learnt: [classes][inputs], [classes] */
    float *weight0, *bias0; /* the model's head, for the anchor and the delta */
    float *velocity;        /* momentum of weight then bias */
    float *x, *logits;      /* scratch of one step */
    int8_t *memory;         /* remembered features [memory][inputs] */
    uint8_t *labels;        /* and their labels */
    uint32_t remembered;    /* filled entries of memory */
    uint32_t next_slot;     /* ring position of the next sample remembered */
    uint32_t samples;       /* samples learnt from */
    uint32_t rng;           /* replay choice */
} tl_learner;

/* Bytes of work buffer a learner of `model` needs with `config` (NULL: the
 * defaults), or 0 if the model has no head the learner can train (its last
 * exit is not fed by an int8 FULLY_CONNECTED op with float scales). */
size_t tl_learn_work_size(const tl_model *model, const tl_learn_config *config);

/* Binds a learner to a loaded model and a work buffer (4-byte aligned) and
 * reads the model's head into float. TL_ERR_UNSUPPORTED: no trainable head;
 * TL_ERR_ARENA: the work buffer is too small; TL_ERR_ARG: a bad config. */
tl_status tl_learn_init(tl_learner *learner, const tl_model *model, void *work, size_t work_size,
                        const tl_learn_config *config);

/* Runs the interpreter (its input already filled) up to the head and
 * points *features at the head's int8 input (learner->inputs bytes, in the
 * interpreter's arena). */
tl_status tl_learn_features(const tl_learner *learner, tl_interp *interp, const int8_t **features);

/* Learns from one labelled sample: one step on it, then config.replay steps
 * on remembered ones; the sample is remembered. TL_ERR_ARG: label out of
 * range. */
tl_status tl_learn_add(tl_learner *learner, const int8_t *features, uint32_t label);

/* One SGD step of the head on one sample (what tl_learn_add calls). */
void tl_learn_step(tl_learner *learner, const int8_t *features, uint32_t label);

/* The class the learnt float head predicts for the features. */
uint32_t tl_learn_predict(const tl_learner *learner, const int8_t *features);

/* Writes the model with the learnt head quantised back to int8 (per-channel
 * scales, effective biases and requantisation constants recomputed, as the
 * converter does) and a fresh SHA-256 digest; the copy is unsigned (its
 * trailer's signature cleared): the device vouches for it by its digest,
 * the edge's signature stays on the model it shipped. `out` must hold the
 * model's size; *size gets it. */
tl_status tl_learn_write_model(const tl_learner *learner, uint8_t *out, size_t capacity, uint32_t *size);

/* Adds delta (tl_learn_delta's layout, count values) to the head: how an
 * aggregator applies the mean of devices' deltas before writing the model. */
tl_status tl_learn_apply(tl_learner *learner, const float *delta, uint32_t count);

/* Values in the head's delta: classes * inputs weights then classes biases. */
uint32_t tl_learn_delta_count(const tl_learner *learner);

/* The learnt head minus the model's head, in the float domain of the
 * training engine's dense layer ([out][in] weights, then biases), which is
 * what a federated client sends back. */
tl_status tl_learn_delta(const tl_learner *learner, float *delta, uint32_t count);

/* A log of labelled samples as a device may keep them in flash (and the
 * host hands the Cortex-M4 test the same ones): this header, then `count`
 * records of one label byte and `sample_size` int8 input bytes. */
#define TL_SAMPLES_MAGIC "TLLS"
typedef struct tl_samples_header {
    char magic[4];          /* "TLLS" */
    uint32_t count;
    uint32_t sample_size;   /* the model's input bytes */
    uint32_t reserved;      /* 0 */
} tl_samples_header;
typedef char tl_check_samples_header_size[(sizeof(tl_samples_header) == 16) ? 1 : -1];

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_LEARN_H */
