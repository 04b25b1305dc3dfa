/* state.c - a network's state as one vector: the parameters, then each
 * batch norm's running mean and variance (federated.h). */
#include <string.h>

#include "tinylarge/federated.h"

size_t tl_fed_state_size(const tl_net *net)
{
    size_t n = net->param_count;
    for (int i = 0; i < net->count; ++i) {
        if (net->nodes[i].kind == TL_LAYER_BATCHNORM) {
            n += 2 * (size_t)net->nodes[i].c;
        }
    }
    return n;
}

void tl_fed_state_get(const tl_net *net, float *state)
{
    memcpy(state, net->params, net->param_count * sizeof(float));
    float *p = state + net->param_count;
    for (int i = 0; i < net->count; ++i) {
        const tl_node *n = &net->nodes[i];
        if (n->kind == TL_LAYER_BATCHNORM) {
            memcpy(p, n->running_mean, (size_t)n->c * sizeof(float));
            memcpy(p + n->c, n->running_var, (size_t)n->c * sizeof(float));
            p += 2 * (size_t)n->c;
        }
    }
}

void tl_fed_state_set(tl_net *net, const float *state)
{
    memcpy(net->params, state, net->param_count * sizeof(float));
    const float *p = state + net->param_count;
    for (int i = 0; i < net->count; ++i) {
        tl_node *n = &net->nodes[i];
        if (n->kind == TL_LAYER_BATCHNORM) {
            memcpy(n->running_mean, p, (size_t)n->c * sizeof(float));
            memcpy(n->running_var, p + n->c, (size_t)n->c * sizeof(float));
            /* A variance averaged from non-negative ones stays non-negative,
             * but a robust rule or noise may not keep it so. */
            for (int k = 0; k < n->c; ++k) {
                n->running_var[k] = n->running_var[k] > 0.0f ? n->running_var[k] : 0.0f;
            }
            p += 2 * (size_t)n->c;
        }
    }
}
