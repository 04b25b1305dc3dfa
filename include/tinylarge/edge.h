/* edge.h - the edge tier in one include: the planner, signing, the model
 * library, manifests and the CoAP server and device client. Each part has
 * its own header; include just the one a file needs. */
#ifndef TINYLARGE_EDGE_H
#define TINYLARGE_EDGE_H

#include "tinylarge/coap.h"
#include "tinylarge/dtls_gate.h"
#include "tinylarge/library.h"
#include "tinylarge/manifest.h"
#include "tinylarge/planner.h"
#include "tinylarge/signing.h"

#endif /* TINYLARGE_EDGE_H */
