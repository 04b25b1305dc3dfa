/* learn_data.c - the device learner fed from a host dataset (large.h): the
 * one loop `tinylarge learn`, the federated simulator's MCU-class clients
 * and `tinylarge device --learn` share. */
#include <string.h>

#include "tinylarge/large.h"
#include "tinylarge/learn.h"

tl_status tl_learn_dataset(tl_learner *l, tl_interp *it, const tl_dataset *ds, const uint32_t *order, uint32_t count,
                           uint8_t *log)
{
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    uint32_t input_size = 0;
    if (!l || !it || !ds || !order || ds->n < 1 || !tl_interp_input(it, 0, &input_size) || input_size != sample) {
        return TL_ERR_SHAPE;
    }
    for (uint32_t i = 0; i < count; ++i) {
        const uint32_t idx = order[i % (uint32_t)ds->n]; /* more samples than images: another pass */
        int8_t *in = tl_interp_input(it, 0, NULL);
        tl_dataset_device_input(ds, idx, in);
        if (log) {
            uint8_t *rec = log + sizeof(tl_samples_header) + (size_t)i * (1 + sample);
            rec[0] = ds->labels[idx];
            memcpy(rec + 1, in, sample);
        }
        const int8_t *features = NULL;
        tl_status s = tl_learn_features(l, it, &features);
        if (s == TL_OK) {
            s = tl_learn_add(l, features, ds->labels[idx]);
        }
        if (s != TL_OK) {
            return s;
        }
    }
    return TL_OK;
}
