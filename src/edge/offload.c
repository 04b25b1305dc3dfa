/* offload.c - the cascade's policy (offload.h): when a device asks the edge. */
#include <math.h>
#include <string.h>

#include "tinylarge/offload.h"

float tl_offload_confidence(tl_confidence_measure measure, const int8_t *probs, uint32_t classes,
                            int32_t zero_point, uint32_t scale_q24)
{
    const double scale = (double)scale_q24 / 16777216.0;
    double first = 0.0, second = 0.0, entropy = 0.0;
    for (uint32_t i = 0; i < classes; ++i) {
        const double p = (double)(probs[i] - zero_point) * scale;
        if (p > first) {
            second = first;
            first = p;
        } else if (p > second) {
            second = p;
        }
        entropy -= p > 0.0 ? p * log(p) : 0.0;
    }
    double c = first;
    if (measure == TL_CONFIDENCE_MARGIN) {
        c = first - second;
    } else if (measure == TL_CONFIDENCE_ENTROPY) {
        c = classes > 1 ? 1.0 - entropy / log((double)classes) : 1.0;
    }
    return c < 0.0 ? 0.0f : c > 1.0 ? 1.0f : (float)c;
}

tl_status tl_confidence_measure_parse(const char *name, tl_confidence_measure *measure)
{
    static const char *const names[] = { "top1", "margin", "entropy" };
    for (int i = 0; i < 3; ++i) {
        if (name && strcmp(name, names[i]) == 0) {
            *measure = (tl_confidence_measure)i;
            return TL_OK;
        }
    }
    return TL_ERR_ARG;
}

void tl_offload_policy_init(tl_offload_policy *p, float threshold, double target, double deadline_s)
{
    memset(p, 0, sizeof *p);
    p->adaptive = threshold < 0.0f;
    p->threshold = p->adaptive ? 0.0f : (threshold > 1.0f ? 1.0f : threshold);
    p->target = target > 0.0 && target <= 1.0 ? target : 0.1;
    p->deadline_s = deadline_s > 0.0 ? deadline_s : 0.2;
}

double tl_offload_share(const tl_offload_policy *p)
{
    /* Half the deadline for the round trip leaves room for its spread. */
    const double room = p->rtt_s > 0.0 ? p->deadline_s / (2.0 * p->rtt_s) : 1.0;
    return p->target * (room < 1.0 ? room : 1.0);
}

/* The confidence below which `share` of the inputs seen so far fall. */
static float quantile(const tl_offload_policy *p, double share)
{
    const double want = share * (double)p->seen;
    double below = 0.0;
    for (int b = 0; b < 256; ++b) {
        if (below + p->histogram[b] > want) {
            return (float)b / 256.0f;
        }
        below += p->histogram[b];
    }
    return 1.0f;
}

int tl_offload_decide(tl_offload_policy *p, float confidence)
{
    const int bin = confidence <= 0.0f ? 0 : confidence >= 1.0f ? 255 : (int)(confidence * 256.0f);
    p->histogram[bin]++;
    p->seen++;
    if (p->adaptive) {
        p->threshold = quantile(p, tl_offload_share(p));
    }
    const int go = confidence < p->threshold;
    p->offloaded += (uint32_t)go;
    return go;
}

void tl_offload_observe(tl_offload_policy *p, double rtt_s, int answered)
{
    p->answered += (uint32_t)(answered != 0);
    /* A lost answer counts as the deadline: offloading then looks costly. */
    const double sample = answered ? rtt_s : p->deadline_s;
    p->rtt_s = p->rtt_s > 0.0 ? 0.8 * p->rtt_s + 0.2 * sample : sample;
}
