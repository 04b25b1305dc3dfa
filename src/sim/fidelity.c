/* fidelity.c - inference outcomes from the device runtime itself: each
 * variant's .tlm (beside its catalogue) run on the test images, for the
 * sampled devices of `fidelity = full` and for the cascade's confidence
 * (tl_offload_confidence, the measure the devices use). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"
#include "tinylarge/host.h"
#include "tinylarge/large.h"
#include "tinylarge/offload.h"

static void folder_of(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (slash) {
        snprintf(out, size, "%.*s", (int)(slash - path), path);
    } else {
        snprintf(out, size, ".");
    }
}

tl_status sim_runtime_open(sim_runtime *rt, const tl_sim_config *config, char *error, size_t error_size)
{
    memset(rt, 0, sizeof *rt);
    tl_status s = tl_dataset_load_dir(config->data_dir[0] ? config->data_dir : NULL, 0, 0, &rt->test, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    size_t arena = 0;
    for (int a = 0; a < config->app_count; a++) {
        const tl_sim_app *app = &config->apps[a];
        char folder[600];
        folder_of(app->catalogue_path, folder, sizeof folder);
        for (int v = 0; v < app->variant_count; v++) {
            sim_runtime_model *m = &rt->models[a][v];
            char path[900];
            snprintf(path, sizeof path, "%s/%s.tlm", folder, app->variants[v].name);
            if (tl_read_file(path, &m->data, &m->size) != TL_OK) {
                /* Not every variant need be a device model (a float
                 * teacher is not): such a variant's outcomes are drawn. */
                continue;
            }
            s = tl_model_load(&m->model, m->data, m->size, 0);
            if (s != TL_OK) {
                sim_runtime_close(rt);
                return tl_fail(error, error_size, s, "%s: not a device model (%s)", path, tl_status_str(s));
            }
            const tl_exit_rec *last = &m->model.exits[m->model.header->exit_count - 1];
            if (last->kind != TL_EXIT_PROBS) {
                sim_runtime_close(rt);
                return tl_fail(error, error_size, TL_ERR_UNSUPPORTED, "%s does not end in a softmax", path);
            }
            m->ready = 1;
            rt->loaded++;
            arena = m->model.header->arena_size > arena ? m->model.header->arena_size : arena;
        }
    }
    if (rt->loaded == 0) {
        sim_runtime_close(rt);
        return tl_fail(error, error_size, TL_ERR_IO,
                       "fidelity full / cascade: no variant has its .tlm beside its catalogue (e.g. %s/%s.tlm)",
                       config->apps[0].catalogue_path, config->apps[0].variants[0].name);
    }
    rt->arena_size = arena;
    rt->arena = aligned_alloc(16, (arena + 15) / 16 * 16);
    if (!rt->arena) {
        sim_runtime_close(rt);
        return tl_fail(error, error_size, TL_ERR_NOMEM, "out of memory for the device runtime");
    }
    return TL_OK;
}

int sim_runtime_has(const sim_runtime *rt, int app, int variant)
{
    return rt->loaded && variant >= 0 && rt->models[app][variant].ready;
}

tl_status sim_runtime_infer(sim_runtime *rt, int app, int variant, uint32_t image, int *correct, float *confidence)
{
    sim_runtime_model *m = &rt->models[app][variant];
    tl_interp it;
    tl_status s = tl_interp_init(&it, &m->model, rt->arena, rt->arena_size);
    if (s != TL_OK) {
        return s;
    }
    uint32_t n = 0;
    int8_t *in = tl_interp_input(&it, 0, &n);
    if (n != (uint32_t)(rt->test.h * rt->test.w * rt->test.c)) {
        return TL_ERR_SHAPE;
    }
    image %= (uint32_t)rt->test.n;
    tl_dataset_device_input(&rt->test, image, in);
    const uint32_t last = m->model.header->exit_count - 1;
    tl_exit_result r;
    s = tl_interp_run_to_exit(&it, last, &r);
    if (s != TL_OK) {
        return s;
    }
    const tl_exit_rec *exit = &m->model.exits[last];
    *correct = r.top_class == rt->test.labels[image];
    *confidence = tl_offload_confidence(TL_CONFIDENCE_MARGIN, r.data, r.size, exit->prob_zero_point,
                                        exit->prob_scale_q24);
    return TL_OK;
}

void sim_runtime_close(sim_runtime *rt)
{
    for (int a = 0; a < TL_SIM_MAX_APPS; a++) {
        for (int v = 0; v < TL_SIM_MAX_APP_VARIANTS; v++) {
            free(rt->models[a][v].data);
        }
    }
    free(rt->arena);
    tl_dataset_free(&rt->test);
    memset(rt, 0, sizeof *rt);
}
