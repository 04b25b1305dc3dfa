/* offload.h - a device's cascade with the edge (src/edge/offload.c): the
 * device runs its own model; when its confidence (the margin of its two
 * likeliest classes, or another measure below) is under a threshold it
 * asks the edge's model (POST /infer) and takes that answer,
 * falling back to its own when none comes within the deadline. The
 * threshold is fixed, or "auto": the quantile of the device's own
 * confidences that offloads a target share of its inputs, scaled down when
 * the measured round trip nears the deadline (a slow link or a loaded
 * edge), so the device offloads less when offloading costs more. */
#ifndef TINYLARGE_OFFLOAD_H
#define TINYLARGE_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/coap.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_offload_policy {
    int adaptive;               /* 1: "auto" */
    float threshold;            /* offload below this confidence (0..1) */
    double target;              /* auto: the share of inputs to offload at a fast edge */
    double deadline_s;          /* an answer later than this is not waited for */
    double rtt_s;               /* the round trip, smoothed (0 until measured) */
    uint32_t histogram[256];    /* the device's confidences seen, in 1/256ths */
    uint32_t seen, offloaded, answered;
} tl_offload_policy;

/* How sure the device is of an answer, from its softmax exit's int8
 * probabilities ((q - zero_point) x scale_q24 / 2^24), 1 = certain:
 * top1, the largest probability; margin, the largest less the second;
 * entropy, 1 - H(p) / log(classes). The policy below takes any of them. */
typedef enum tl_confidence_measure {
    TL_CONFIDENCE_TOP1,
    TL_CONFIDENCE_MARGIN,
    TL_CONFIDENCE_ENTROPY
} tl_confidence_measure;
float tl_offload_confidence(tl_confidence_measure measure, const int8_t *probs, uint32_t classes,
                            int32_t zero_point, uint32_t scale_q24);
/* "top1", "margin" or "entropy"; TL_ERR_ARG for anything else. */
tl_status tl_confidence_measure_parse(const char *name, tl_confidence_measure *measure);

/* threshold in [0, 1], or < 0 for auto (target share, e.g. 0.1). */
void tl_offload_policy_init(tl_offload_policy *p, float threshold, double target, double deadline_s);
/* 1 if an input the device's model answered with `confidence`
 * (tl_offload_confidence) goes to the edge; counts it either way. */
int tl_offload_decide(tl_offload_policy *p, float confidence);
/* An offload's outcome: its round trip, and whether it was answered in time. */
void tl_offload_observe(tl_offload_policy *p, double rtt_s, int answered);
/* The share auto mode aims at now: target x min(1, deadline / (2 x rtt)). */
double tl_offload_share(const tl_offload_policy *p);

/* A CoAP session to the edge's /infer, kept open across requests. */
typedef struct tl_offload_client tl_offload_client;
tl_status tl_offload_connect(const char *host, uint16_t port, const tl_psk *psk, tl_offload_client **client,
                             char *msg, size_t msg_size);
/* Sends the input (query NULL), or the activations crossing a cut (query
 * "cut=K&name=N&version=V&variant=X"), and waits up to timeout_s: *label
 * and *confidence from the edge. TL_ERR_IO: no answer in time (the device
 * keeps its own). */
tl_status tl_offload_ask(tl_offload_client *client, const char *query, const int8_t *input, size_t size,
                         double timeout_s, int *label, float *confidence, char *msg, size_t msg_size);
/* Any request to the edge: POST path?query with body, or GET when body is
 * NULL; the answer's body (malloc'd, NUL-terminated past *answer_size).
 * TL_ERR_IO: no answer in time; TL_ERR_ARG: refused (msg: the reason). */
tl_status tl_offload_request(tl_offload_client *client, const char *path, const char *query, const uint8_t *body,
                             size_t size, double timeout_s, uint8_t **answer, size_t *answer_size, char *msg,
                             size_t msg_size);
void tl_offload_disconnect(tl_offload_client *client);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_OFFLOAD_H */
