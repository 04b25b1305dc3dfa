/* cmd_serve.c - `tinylarge serve` (the edge server), `tinylarge device` (a
 * device's update rounds) and `tinylarge context` (set a device's context
 * on the server), over CoAP. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/edge.h"
#include "tinylarge/federated.h"
#include "tinylarge/large.h"
#include "tinylarge/host.h"
#include "tinylarge/learn.h"
#include "tinylarge/offload.h"
#include "tinylarge/split.h"

int tl_cmd_serve(int argc, char **argv)
{
    tl_serve_options o = { .host = "127.0.0.1", .poll_seconds = 1.0, .round_size = 3, .max_weight = 10000.0,
                           .round_mode = TL_ROUND_PLAIN, .round_timeout = 30.0, .infer_batch = 32,
                           .infer_wait = 0.002, .split_lr = 0.05, .upstream_ttl = 60.0 };
    int secure = 0, fixed_point = 0;
    uint32_t port = 0;
    const char *key_path = NULL, *rule = "mean";
    const tl_opt options[] = {
        { "--db", TL_OPT_TEXT, &o.library, 0, 0, "LIB", "the library: a SQLite file or a PostgreSQL connection string",
          NULL },
        { "--host", TL_OPT_TEXT, &o.host, 0, 0, "ADDRESS", "the address to listen on (default 127.0.0.1)", NULL },
        { "--port", TL_OPT_U32, &port, 1, 65535, "N", "the port (default 5683, 5684 with --psk)", NULL },
        { "--psk", TL_OPT_TEXT, &o.psk_file, 0, 0, "FILE", "DTLS with these identities only (lines 'identity hex-key\n"
          "[operator]')", NULL },
        { "--upstream", TL_OPT_TEXT, &o.upstream, 0, 0, "LIB", "the central library this one caches (three tiers):\n"
          "a model missing here is fetched from it, newer versions every --upstream-ttl", NULL },
        { "--upstream-ttl", TL_OPT_DOUBLE, &o.upstream_ttl, 0.001, 86400, "S", "how often cached models are brought up\n"
          "to the upstream's latest version (default 60)", NULL },
        { "--poll", TL_OPT_DOUBLE, &o.poll_seconds, 0.001, 86400, "S", "look for newly published versions every S\n"
          "seconds (default 1)", NULL },
        { "--quiet", TL_OPT_FLAG, &o.quiet, 0, 0, NULL, "no line per plan on stderr", NULL },
        { "--session-timeout", TL_OPT_U32, &o.session_timeout, 1, 86400, "S", "drop a device's session after S idle\n"
          "seconds (default 5; with --psk 60)", NULL },
        { "--max-idle-sessions", TL_OPT_U32, &o.max_idle_sessions, 1, 1000000, "N", "keep at most N idle sessions, the\n"
          "least recently used dropped first (default 10000; keep it above the\n"
          "devices downloading at once: a session between two of a device's\n"
          "requests counts as idle)", NULL },
        { "--max-handshakes", TL_OPT_U32, &o.max_handshakes, 1, 1000000, "N", "with --psk: at most N DTLS handshakes\n"
          "under way (default 4096, under 1 KB each); beyond that new\n"
          "peers are ignored until partial handshakes time out", NULL },
        { "--dtls-alarm", TL_OPT_DOUBLE, &o.dtls_alarm, 0.01, 1e9, "RATE", "with --psk: when ClientHellos from addresses not\n"
          "seen come faster than RATE a second (default 100), the first of\n"
          "each address is dropped and its retransmission let through: a\n"
          "flood of one-off spoofed hellos never reaches the handshake\n"
          "table, a device's handshake takes a second longer (below 1:\n"
          "always)", NULL },
        { "--no-dtls-gate", TL_OPT_FLAG, &o.no_dtls_gate, 0, 0, NULL, "with --psk: every ClientHello straight to libcoap\n"
          "(to measure without the gate)", NULL },
        { "--workers", TL_OPT_INT, &o.workers, 0, 64, "N", "N download worker processes, one per core, serving\n"
          "/model on PORT+1..PORT+N; each plan names one (default 0: this\n"
          "process serves every download)", NULL },
        { "--federate", TL_OPT_TEXT, &o.federate, 0, 0, "NAME", "run federated rounds of this model: devices send\n"
          "their head's delta to /update", NULL },
        { "--round-size", TL_OPT_INT, &o.round_size, 1, 100000, "K", "updates that close a round (default 3)", NULL },
        { "--aggregate", TL_OPT_TEXT, &rule, 0, 0, "RULE", "how a round's updates combine: mean (default), median,\n"
          "trimmed:BETA, krum:F, multikrum:F:M", NULL },
        { "--max-weight", TL_OPT_DOUBLE, &o.max_weight, 1e-6, 1e9, "W", "refuse updates claiming more weight (a device's\n"
          "weight, its sample count, is its own claim; default 10000)", NULL },
        { "--key", TL_OPT_TEXT, &key_path, 0, 0, "NAME.key", "sign the versions the rounds publish", NULL },
        { "--secagg", TL_OPT_FLAG, &secure, 0, 0, NULL, "secure rounds: devices mask their fixed-point updates\n"
          "(secure aggregation); the server learns only their mean", NULL },
        { "--fixed-point", TL_OPT_FLAG, &fixed_point, 0, 0, NULL, "fixed-point rounds without masks (a secure round's\n"
          "arithmetic, to compare with)", NULL },
        { "--edge-model", TL_OPT_TEXT, &o.edge_model, 0, 0, "CKPT", "answer POST /infer with this model (a checkpoint of\n"
          "the large engine: the teacher, say), requests batched", NULL },
        { "--infer-batch", TL_OPT_INT, &o.infer_batch, 1, 4096, "B", "requests an inference batch takes at most\n"
          "(default 32; 1: each alone)", NULL },
        { "--infer-wait", TL_OPT_DOUBLE, &o.infer_wait, 0.00001, 1.0, "S", "how long a request waits for others to\n"
          "share its batch (default 0.002 s)", NULL },
        { "--round-timeout", TL_OPT_DOUBLE, &o.round_timeout, 0.1, 86400, "S", "a secure round's phase goes on without\n"
          "the devices that have not acted after S seconds (default 30)", NULL },
        { "--split-learn", TL_OPT_TEXT, &o.split_learn, 0, 0, "CKPT", "split learning: train the edge's half of this\n"
          "checkpoint on devices' activations at --split-cut (POST /split)", NULL },
        { "--split-cut", TL_OPT_INT, &o.split_cut, 1, 100000, "NODE", "the last node of the device's half", NULL },
        { "--split-lr", TL_OPT_DOUBLE, &o.split_lr, 1e-6, 10, "X", "the edge's SGD rate (default 0.05; momentum 0.9)",
          NULL },
        { "--split-out", TL_OPT_TEXT, &o.split_out, 0, 0, "CKPT", "where a device's join writes the whole model", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "serve",
        "usage: tinylarge serve --db LIB [--host ADDRESS] [--port N] [--psk FILE] [--poll S] [--quiet]\n"
        "                       [--session-timeout S] [--max-idle-sessions N] [--max-handshakes N]\n"
        "                       [--dtls-alarm RATE] [--no-dtls-gate] [--workers N]\n"
        "                       [--federate NAME [--round-size K] [--aggregate RULE] [--key NAME.key]\n"
        "                        [--secagg [--round-timeout S] | --fixed-point]]\n"
        "                       [--edge-model CKPT [--infer-batch B] [--infer-wait S]]\n"
        "                       [--split-learn CKPT --split-cut NODE [--split-lr X] [--split-out CKPT]]\n\n"
        "The edge server, CoAP over UDP (default 127.0.0.1:5683), or DTLS with --psk.\n"
        "  GET  /plan?flash=B&ram=B&macs=R&rate=BPS[&name=N][&device=ID][&K=V...]\n"
        "       the variant for a device, as a CBOR manifest with the publisher's signed\n"
        "       manifest; observable: devices are notified when their context changes\n"
        "       or a version is published\n"
        "  GET  /model?name=N&version=V&variant=X[&form=tlp]   its bytes, block-wise\n"
        "  POST /context?device=ID&K=V...                        set a device's context\n"
        "With --workers N, /model is also served by N processes on PORT+1..PORT+N\n"
        "(one per core); each plan names one of them in its \"port\".\n"
        "With --federate: GET /round (observable) says which round is open; PUT\n"
        "/update?device=ID&name=N&round=R&weight=W takes a device's head delta\n"
        "(float32, block-wise). The round's state is kept in the library: a restarted\n"
        "server goes on with it. K updates close a round: the rule combines them,\n"
        "the head takes the result and the model is published as the next version.\n"
        "With --secagg, K devices start a round: they advertise keys, deal sealed\n"
        "shares (PUT /secagg), send masked fixed-point updates and open the shares of\n"
        "who stayed or dropped; the server unmasks only the sum.\n"
        "With --edge-model: POST /infer takes a device's int8 input (pixel - 128) and\n"
        "answers class=C&confidence=P&scores=..., the requests of a few milliseconds\n"
        "run as one batch.\n"
        "With --split-learn: GET /split says the architecture and the cut; POST\n"
        "/split?step=train takes a batch's activations at the cut with its labels and\n"
        "answers their gradient (the edge's half learns); POST /split?step=join takes\n"
        "the device's half and writes the whole model to --split-out.",
        options, NULL, 0, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    o.port = (uint16_t)port;
    if (!o.library) {
        return tl_cli_fail("serve", "need --db LIB");
    }
    if (o.split_learn && o.split_cut < 1) {
        return tl_cli_fail("serve", "--split-learn %s: need --split-cut NODE (the last node of the device's half)",
                           o.split_learn);
    }
    char error[512] = "";
    tl_round_publisher publisher;
    memset(&publisher, 0, sizeof publisher);
    uint8_t key[TL_SECRET_KEY_BYTES];
    if ((secure || fixed_point) && !o.federate) {
        return tl_cli_fail("serve", "--secagg and --fixed-point are kinds of rounds: they need --federate");
    }
    if (o.federate) {
        if (tl_agg_parse(rule, &publisher.rule) != 0) {
            return tl_cli_fail("serve", "--aggregate %s: expected mean, median, trimmed:BETA, krum:F or multikrum:F:M",
                               rule);
        }
        if (secure && fixed_point) {
            return tl_cli_fail("serve", "--secagg and --fixed-point: choose one");
        }
        if ((secure || fixed_point) && publisher.rule.kind != TL_AGG_MEAN) {
            return tl_cli_fail("serve", "--aggregate %s: a %s round can only be averaged (the server sees only the "
                               "sum)", rule, secure ? "secure" : "fixed-point");
        }
        if (secure && o.round_size < 3) {
            return tl_cli_fail("serve", "--secagg needs --round-size >= 3 (with two, each device learns the other's "
                               "update from the sum)");
        }
        o.round_mode = secure ? TL_ROUND_SECURE : fixed_point ? TL_ROUND_FIXED : TL_ROUND_PLAIN;
        if (key_path && (sodium_init() < 0 || tl_key_read(key_path, 1, key, error, sizeof error) != TL_OK)) {
            return tl_cli_fail("serve", "%s", error);
        }
        publisher.secret_key = key_path ? key : NULL;
        o.round_done = tl_round_publish;
        o.round_ctx = &publisher;
    } else if (key_path) {
        return tl_cli_fail("serve", "--key signs what the rounds publish: it needs --federate");
    }
    const int rc = tl_serve(&o, error, sizeof error);
    sodium_memzero(key, sizeof key);
    if (rc != 0) {
        return tl_cli_fail("serve", "%s", error);
    }
    return 0;
}

/* What the device does with each model it gets: report, and with --eval
 * classify test images with it. */
typedef struct device_run {
    tl_dataset test;
    int eval;
    int first_done;
    uint8_t *prefix;            /* the first prefix run, measured once the download is over */
    size_t prefix_size;
    int prefix_planes;
    double prefix_seconds;
} device_run;

static void on_log(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
    fflush(stdout);
}

static void on_model(void *ctx, const uint8_t *model, size_t size, const tl_manifest *m, int planes, double seconds)
{
    device_run *run = ctx;
    float acc[16];
    int exits = 0;
    if (!run->first_done && run->test.n > 0) {
        /* Time to first inference: the model is here, plus one inference. */
        tl_dataset one = run->test;
        one.n = 1;
        const double t0 = tl_monotonic_seconds();
        if (tl_runtime_accuracy(model, size, &one, acc, &exits) == TL_OK) {
            printf("first inference after %.3f s with %s %s (%d of 8 planes)\n", seconds + tl_monotonic_seconds() - t0,
                   m->model, m->variant, planes);
        }
        run->first_done = 1;
    }
    if (!run->eval) {
        fflush(stdout);
        return;
    }
    if (planes < 8) {
        /* Measuring here would stall the download: keep the first prefix
         * and measure it when the download is over. */
        if (!run->prefix && (run->prefix = aligned_alloc(16, (size + 16) / 16 * 16)) != NULL) {
            memcpy(run->prefix, model, size);
            run->prefix_size = size;
            run->prefix_planes = planes;
            run->prefix_seconds = seconds;
        }
        fflush(stdout);
        return;
    }
    if (run->prefix && tl_runtime_accuracy(run->prefix, run->prefix_size, &run->test, acc, &exits) == TL_OK) {
        printf("prefix of %s version %d (%d of 8 planes): accuracy %.4f on %d test images (ran at %.2f s)\n",
               m->variant, m->version, run->prefix_planes, (double)acc[exits - 1], run->test.n, run->prefix_seconds);
    }
    free(run->prefix);
    run->prefix = NULL;
    if (tl_runtime_accuracy(model, size, &run->test, acc, &exits) == TL_OK) {
        printf("active model %s version %d: accuracy %.4f on %d test images (installed at %.2f s)\n", m->variant,
               m->version, (double)acc[exits - 1], run->test.n, seconds);
    }
    fflush(stdout);
}

/* The device's part in a federated round (--learn). */
typedef struct device_learning {
    const char *data, *classes, *shift;
    uint32_t samples;
    int drop;                   /* leave the round before the update (tests) */
} device_learning;

/* Learns the active model's head from the local data and sends the delta
 * to the open round; prints what the server said. 0 on success. */
static int learn_and_send(const tl_device_options *o, const device_learning *learn)
{
    char slot[2], variant[40], model_name[64], path[4200], error[512] = "";
    int version = 0, keep[256], kept = 0;
    tl_shift_kind shift;
    double amount;
    if (learn->classes && (kept = tl_cli_parse_int_list(learn->classes, keep, 256, 0, 255)) <= 0) {
        return tl_cli_fail("device", "--learn-classes %s: expected class numbers separated by commas", learn->classes);
    }
    if (tl_shift_parse(learn->shift, &shift, &amount) != 0) {
        return tl_cli_fail("device", "--learn-shift %s: expected rotate:DEGREES, brightness:DELTA, noise:SIGMA or none",
                           learn->shift);
    }
    if (!o->slots || !tl_device_active(o->slots, slot, &version, variant, model_name)) {
        return tl_cli_fail("device", "--learn: no active model in %s", o->slots ? o->slots : "(no --slots)");
    }
    snprintf(path, sizeof path, "%.4000s/slot-%s.tlm", o->slots, slot);
    uint8_t *bytes = NULL;
    size_t size = 0;
    tl_dataset data = { 0 };
    tl_model model;
    tl_learner l;
    tl_interp it;
    void *work = NULL, *arena = NULL;
    float *delta = NULL;
    uint32_t *order = NULL;
    int rc = 0;
    const tl_learn_config cfg = tl_learn_defaults();
    tl_status s = tl_read_file(path, &bytes, &size);
    if (s == TL_OK) {
        s = tl_model_load(&model, bytes, size, TL_LOAD_SKIP_DIGEST); /* verified when installed */
    }
    const size_t work_size = s == TL_OK ? tl_learn_work_size(&model, &cfg) : 0;
    if (s != TL_OK || work_size == 0) {
        rc = tl_cli_fail("device", "%s: the active model (%s version %d) %s", path, variant, version,
                         s != TL_OK ? "does not load" : "has no head to learn");
        goto done;
    }
    if (tl_dataset_load_shifted(learn->data, 1, keep, kept, shift, amount, 1, &data, error, sizeof error) != TL_OK) {
        rc = tl_cli_fail("device", "--learn: %s", error);
        goto done;
    }
    work = malloc(work_size);
    arena = malloc(tl_model_arena_size(&model) + 1);
    order = malloc(sizeof(uint32_t) * (size_t)(data.n > 0 ? data.n : 1));
    if (!work || !arena || !order || data.n == 0) {
        rc = tl_cli_fail("device", "--learn: %s", data.n == 0 ? "no local samples of those classes" : "out of memory");
        goto done;
    }
    /* Each device its own samples: the order is seeded by its name (FNV-1a). */
    uint64_t seed = 14695981039346656037ull;
    for (const char *p = o->device_id ? o->device_id : "device"; *p; ++p) {
        seed = (seed ^ (uint8_t)*p) * 1099511628211ull;
    }
    tl_shuffle(order, data.n, seed, 0);
    s = tl_learn_init(&l, &model, work, work_size, &cfg);
    if (s == TL_OK) {
        s = tl_interp_init(&it, &model, arena, tl_model_arena_size(&model));
    }
    if (s == TL_OK) {
        s = tl_learn_dataset(&l, &it, &data, order, learn->samples, NULL);
    }
    const uint32_t count = s == TL_OK ? tl_learn_delta_count(&l) : 0;
    delta = count ? malloc(sizeof(float) * count) : NULL;
    if (s == TL_OK && (!delta || tl_learn_delta(&l, delta, count) != TL_OK)) {
        s = TL_ERR_NOMEM;
    }
    if (s != TL_OK) {
        rc = tl_cli_fail("device", "--learn: %s version %d: %s", variant, version,
                         s == TL_ERR_SHAPE ? "the model does not take the local data's images" : tl_status_str(s));
        goto done;
    }
    int round = 0;
    char reply[320];
    s = tl_round_send(o->host, o->port, o->psk, o->device_id ? o->device_id : "device", model_name, delta, count,
                      (double)learn->samples, learn->drop ? TL_ROUND_SEND_DROP : 0, &round, reply, sizeof reply);
    if (s != TL_OK) {
        rc = tl_cli_fail("device", "round of %s: %s", model_name, reply);
        goto done;
    }
    printf("learnt %s version %d's head from %u local samples; round %d: %s\n", model_name, version, learn->samples,
           round, reply);
done:
    free(delta);
    free(order);
    free(arena);
    free(work);
    tl_dataset_free(&data);
    free(bytes);
    return rc;
}

/* The device's cascade with the edge (--offload): its active model on the
 * --eval test images, the unsure ones asked of the edge's /infer. */
typedef struct device_offload {
    const char *mode;           /* a threshold 0..1, or "auto" */
    double target, deadline;
    const char *edge;           /* HOST:PORT of the edge model (NULL: the --server) */
    const char *measure;        /* top1, margin or entropy */
    int split_objective;        /* --split auto minimises: tl_split_objective */
} device_offload;

/* The model the device runs now, loaded with an arena, for --offload and --split. */
typedef struct active_model {
    char variant[40], name[64], path[4200];
    int version;
    uint8_t *bytes, *arena;
    tl_model model;
    tl_interp it;
} active_model;

static void active_close(active_model *a)
{
    free(a->arena);
    free(a->bytes);
    a->arena = a->bytes = NULL;
}

/* 0, or 1 with a message naming `what`. */
static int active_open(const tl_device_options *o, const char *what, active_model *a)
{
    char slot[2];
    memset(a, 0, sizeof *a);
    if (!o->slots || !tl_device_active(o->slots, slot, &a->version, a->variant, a->name)) {
        return tl_cli_fail("device", "%s: no active model in %s", what, o->slots ? o->slots : "(no --slots)");
    }
    snprintf(a->path, sizeof a->path, "%.4000s/slot-%s.tlm", o->slots, slot);
    size_t size = 0;
    tl_status s = tl_read_file(a->path, &a->bytes, &size);
    if (s == TL_OK) {
        s = tl_model_load(&a->model, a->bytes, size, 0);
    }
    if (s == TL_OK && !(a->arena = malloc(tl_model_arena_size(&a->model) + 1))) {
        s = TL_ERR_NOMEM;
    }
    if (s == TL_OK) {
        s = tl_interp_init(&a->it, &a->model, a->arena, tl_model_arena_size(&a->model));
    }
    if (s != TL_OK) {
        active_close(a);
        return tl_cli_fail("device", "%s: %s: %s", what, a->path, tl_status_str(s));
    }
    return 0;
}

/* The edge's /infer: --edge, or the --server. 0, or 1 with a message. */
static int edge_open(const tl_device_options *o, const device_offload *off, const char *what,
                     tl_offload_client **edge)
{
    char host[256], msg[512] = "";
    uint16_t port = o->port;
    snprintf(host, sizeof host, "%s", o->host);
    if (off->edge && tl_cli_host_port("device", off->edge, host, sizeof host, &port) != 0) {
        return 1;
    }
    if (tl_offload_connect(host, port, o->psk, edge, msg, sizeof msg) != TL_OK) {
        return tl_cli_fail("device", "%s: %s", what, msg);
    }
    return 0;
}

/* A request's bytes beside its payload: IPv4 and UDP (28), CoAP's header,
 * token and option headers (about 20); a query adds its own length. */
#define REQUEST_HEADER_BYTES 48

static int offload_eval(const tl_device_options *o, const tl_dataset *test, const device_offload *off)
{
    char msg[512] = "";
    char *end = NULL;
    const float threshold = strcmp(off->mode, "auto") ? strtof(off->mode, &end) : -1.0f;
    if (end && (*end || !(threshold >= 0.0f && threshold <= 1.0f))) {
        return tl_cli_fail("device", "--offload %s: expected a confidence in [0, 1] or auto", off->mode);
    }
    tl_confidence_measure measure;
    if (tl_confidence_measure_parse(off->measure, &measure) != TL_OK) {
        return tl_cli_fail("device", "--offload-measure %s: expected top1, margin or entropy", off->measure);
    }
    active_model a;
    tl_offload_client *edge = NULL;
    if (active_open(o, "--offload", &a) != 0) {
        return 1;
    }
    int rc = edge_open(o, off, "--offload", &edge);
    if (rc != 0) {
        goto done;
    }
    const tl_model *model = &a.model;
    tl_interp *it = &a.it;
    tl_offload_policy policy;
    tl_offload_policy_init(&policy, threshold, off->target, off->deadline);
    const uint32_t last = model->header->exit_count - 1;
    const tl_exit_rec *exit_rec = &model->exits[last];
    if (exit_rec->kind != TL_EXIT_PROBS) {
        rc = tl_cli_fail("device", "--offload: %s does not end in a softmax: no confidence to offload by", a.path);
        goto done;
    }
    const size_t sample = (size_t)test->h * test->w * test->c;
    int8_t *input = malloc(sample);
    long hits = 0, alone = 0, fell_back = 0, bytes_up = 0;
    /* The device's energy in the cost model's terms (split.h): it runs the
     * whole model on every image, and sends the offloaded ones with a
     * request's headers (REQUEST_HEADER_BYTES). */
    double model_instructions = 0.0;
    for (uint32_t op = 0; op < model->header->op_count; ++op) {
        model_instructions += (double)tl_split_estimated_instructions(model, op);
    }
    double rtt_sum = 0.0, energy_sum = 0.0;
    for (int i = 0; input && i < test->n; ++i) {
        uint32_t n = 0;
        int8_t *in = tl_interp_input(it, 0, &n);
        tl_exit_result r;
        if (n != sample) {
            rc = tl_cli_fail("device", "--offload: the model takes %u values, the test images have %zu", n, sample);
            break;
        }
        tl_dataset_device_input(test, (uint32_t)i, input);
        memcpy(in, input, sample); /* the arena may reuse the input's bytes: keep a copy to send */
        if (tl_interp_run_to_exit(it, last, &r) != TL_OK) {
            rc = tl_cli_fail("device", "--offload: %s does not run", a.path);
            break;
        }
        int answer = (int)r.top_class;
        alone += answer == test->labels[i];
        const float confidence = tl_offload_confidence(measure, r.data, r.size, exit_rec->prob_zero_point,
                                                       exit_rec->prob_scale_q24);
        if (tl_offload_decide(&policy, confidence)) {
            int label = -1;
            float edge_confidence = 0.0f;
            const double t0 = tl_monotonic_seconds();
            const tl_status asked = tl_offload_ask(edge, NULL, input, sample, policy.deadline_s, &label,
                                                   &edge_confidence, msg, sizeof msg);
            const double rtt = tl_monotonic_seconds() - t0;
            tl_offload_observe(&policy, rtt, asked == TL_OK);
            bytes_up += (long)sample;
            energy_sum += (double)(sample + REQUEST_HEADER_BYTES) * 8.0 * TL_SPLIT_JOULES_PER_BIT;
            if (asked == TL_OK) {
                answer = label;
                rtt_sum += rtt;
            } else {
                ++fell_back; /* no answer in time: the device's own stands */
            }
        }
        hits += answer == test->labels[i];
        energy_sum += model_instructions * TL_SPLIT_JOULES_PER_INSTRUCTION;
    }
    if (rc == 0 && input && test->n > 0) {
        char how[64];
        if (policy.adaptive) {
            snprintf(how, sizeof how, "auto on %s, target %.2f", off->measure, policy.target);
        } else {
            snprintf(how, sizeof how, "threshold %s on %s", off->mode, off->measure);
        }
        printf("offload (%s): accuracy %.4f on %d test images (device alone %.4f); %u offloaded (%.1f%%), %u "
               "answered (mean round trip %.1f ms), %ld fell back; %ld bytes up\n",
               how, (double)hits / test->n, test->n,
               (double)alone / test->n, policy.offloaded, 100.0 * policy.offloaded / test->n, policy.answered,
               policy.answered ? 1000.0 * rtt_sum / policy.answered : 0.0, fell_back, bytes_up);
        printf("device energy per image: mean %.4f mJ (%.2g J an instruction, %.2g J a bit sent, a request's "
               "headers included)\n", 1e3 * energy_sum / test->n, TL_SPLIT_JOULES_PER_INSTRUCTION,
               TL_SPLIT_JOULES_PER_BIT);
        if (policy.adaptive) {
            printf("offload auto: target %.3f of inputs, aiming at %.3f after the measured round trip (threshold "
                   "%.3f)\n", policy.target, tl_offload_share(&policy), (double)policy.threshold);
        }
    }
    if (!input) {
        rc = tl_cli_fail("device", "--offload: out of memory");
    }
    free(input);
done:
    tl_offload_disconnect(edge);
    active_close(&a);
    return rc;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Split inference on the --eval test images (--split K|auto): the device
 * runs its first K operators, sends what crosses the cut to the edge's
 * /infer?cut=K, which runs the rest of the same model; with no answer in
 * time the device runs the rest itself. auto chooses K for each image with
 * the cost model (split.h): its operators' instructions (estimated from
 * their MACs) at its --ips (or --mac-rate), its --rate, and
 * the round trip it has measured (fading while it sends nothing). */
static int split_eval(const tl_device_options *o, const tl_dataset *test, const device_offload *off,
                      const char *mode)
{
    char msg[512] = "", query[256];
    char *end = NULL;
    const long fixed = strcmp(mode, "auto") ? strtol(mode, &end, 10) : -1;
    if (end && (*end || fixed < 0)) {
        return tl_cli_fail("device", "--split %s: expected a number of operators or auto", mode);
    }
    active_model a;
    if (active_open(o, "--split", &a) != 0) {
        return 1;
    }
    const tl_model *model = &a.model;
    tl_interp *it = &a.it;
    const uint32_t ops = model->header->op_count;
    const uint32_t capacity = tl_model_arena_size(model) + 1; /* what crosses a cut fits the arena */
    int8_t *packed = malloc(capacity);
    uint64_t *instructions = calloc(ops + 1, sizeof *instructions);
    double *edge_seconds = calloc(ops + 1, sizeof *edge_seconds);
    tl_split_cut *cuts = calloc(ops + 1, sizeof *cuts);
    double *latency = calloc((size_t)test->n + 1, sizeof *latency);
    tl_offload_client *edge = NULL;
    int rc = 0;
    if (fixed > (long)ops) {
        rc = tl_cli_fail("device", "--split %ld: %s has %u operators", fixed, a.variant, ops);
    } else if (!packed || !instructions || !edge_seconds || !cuts || !latency) {
        rc = tl_cli_fail("device", "--split: out of memory");
    } else {
        rc = edge_open(o, off, "--split", &edge);
    }
    if (rc != 0) {
        goto done;
    }
    for (uint32_t op = 0; op < ops; ++op) {
        instructions[op] = tl_split_estimated_instructions(model, op);
    }
    const double ips = o->profile.instructions_per_second > 0 ? o->profile.instructions_per_second
                                                                : o->profile.macs_per_second * TL_M4_INSTRUCTIONS_PER_MAC;
    double rtt = 0.0;
    /* A request's bytes beside the cut's: its headers and the query (its longest cut). */
    snprintf(query, sizeof query, "cut=%u&name=%s&version=%d&variant=%s", ops, a.name, a.version, a.variant);
    const uint32_t overhead = REQUEST_HEADER_BYTES + (uint32_t)strlen(query);
    long hits = 0, fell_back = 0, sent_bytes = 0, asked = 0, cut_sum = 0;
    double exchange_sum = 0.0, energy_sum = 0.0; /* the device's: the cost model's constants */
    const size_t sample = (size_t)test->h * test->w * test->c;
    for (int i = 0; i < test->n; ++i) {
        uint32_t k = (uint32_t)fixed;
        if (fixed < 0) {
            const tl_split_link link = { o->rate_bps, rtt, ips, TL_SPLIT_JOULES_PER_INSTRUCTION,
                                         TL_SPLIT_JOULES_PER_BIT, overhead };
            tl_split_costs(model, instructions, edge_seconds, &link, (tl_split_objective)off->split_objective, cuts,
                           &k);
        }
        cut_sum += k;
        uint32_t n = 0;
        int8_t *in = tl_interp_input(it, 0, &n);
        if (n != sample) {
            rc = tl_cli_fail("device", "--split: the model takes %u values, the test images have %zu", n, sample);
            break;
        }
        tl_dataset_device_input(test, (uint32_t)i, in);
        for (uint32_t op = 0; op < k; ++op) {
            tl_interp_step(it);
            latency[i] += (double)instructions[op] / ips;
            energy_sum += (double)instructions[op] * TL_SPLIT_JOULES_PER_INSTRUCTION;
        }
        int label = -1;
        if (k < ops) {
            uint32_t crossing = 0;
            float confidence = 0.0f;
            tl_interp_cut_save(it, k, packed, capacity, &crossing);
            snprintf(query, sizeof query, "cut=%u&name=%s&version=%d&variant=%s", k, a.name, a.version, a.variant);
            const double t0 = tl_monotonic_seconds();
            const tl_status answered = tl_offload_ask(edge, query, packed, crossing, off->deadline, &label,
                                                      &confidence, msg, sizeof msg);
            /* The round trip, smoothed; a lost answer counts as the deadline. */
            const double took = answered == TL_OK ? tl_monotonic_seconds() - t0 : off->deadline;
            latency[i] += took;
            exchange_sum += took;
            /* What the exchange took beyond sending the cut's bytes at the
             * link's rate (which the cost model adds for each cut itself). */
            double trip = took - (double)(crossing + overhead) * 8.0 / (double)o->rate_bps;
            trip = trip > 0.0 ? trip : 0.0;
            rtt = rtt > 0.0 ? 0.8 * rtt + 0.2 * trip : trip;
            sent_bytes += crossing;
            energy_sum += (double)(crossing + overhead) * 8.0 * TL_SPLIT_JOULES_PER_BIT;
            ++asked;
            if (answered != TL_OK) {
                label = -1;
                ++fell_back;
            }
        } else if (fixed < 0) {
            /* Nothing sent, so nothing measured: a round trip that was slow
             * once would keep every later image on the device. Letting the
             * stale estimate fade makes auto try the edge again now and then
             * (and fall back to the device if the link is still slow). */
            rtt *= 0.98;
        }
        if (label < 0) {
            /* All on the device, or no answer in time: the device has the whole model. */
            tl_exit_result r;
            tl_interp_run_to_exit(it, model->header->exit_count - 1, &r);
            label = (int)r.top_class;
            for (uint32_t op = k; op < ops; ++op) {
                latency[i] += (double)instructions[op] / ips;
                energy_sum += (double)instructions[op] * TL_SPLIT_JOULES_PER_INSTRUCTION;
            }
        }
        hits += label == test->labels[i];
    }
    if (rc == 0 && test->n > 0) {
        printf("split (%s%s%s): accuracy %.4f on %d test images; mean cut %.1f of %u operators, %ld sent to the edge "
               "(%ld bytes), %ld fell back, a mean exchange of %.1f ms\n", fixed < 0 ? "auto" : "K = ",
               fixed < 0 ? "" : mode, fixed >= 0 ? "" : off->split_objective == TL_SPLIT_ENERGY ? ", least energy"
                                                                                             : ", least latency",
               (double)hits / test->n, test->n, (double)cut_sum / test->n, ops, asked, sent_bytes, fell_back,
               asked ? 1e3 * exchange_sum / (double)asked : 0.0);
        printf("device energy per image: mean %.4f mJ (%.2g J an instruction, %.2g J a bit sent, a request's "
               "headers included)\n", 1e3 * energy_sum / test->n, TL_SPLIT_JOULES_PER_INSTRUCTION,
               TL_SPLIT_JOULES_PER_BIT);
        double mean = 0.0;
        for (int i = 0; i < test->n; ++i) {
            mean += latency[i] / test->n;
        }
        qsort(latency, (size_t)test->n, sizeof *latency, compare_doubles);
        printf("latency per image: mean %.1f ms, p50 %.1f ms, p99 %.1f ms (the device's operators at %.0f M "
               "instructions/s, the exchanges with the edge measured)\n", 1e3 * mean, 1e3 * latency[test->n / 2],
               1e3 * latency[(size_t)(0.99 * (test->n - 1))], ips / 1e6);
    }
done:
    tl_offload_disconnect(edge);
    free(latency);
    free(cuts);
    free(edge_seconds);
    free(instructions);
    free(packed);
    active_close(&a);
    return rc;
}

int tl_cmd_device(int argc, char **argv)
{
    device_learning learn = { NULL, NULL, "none", 200, 0 };
    device_offload offload = { NULL, 0.1, 0.2, NULL, "margin", TL_SPLIT_LATENCY };
    const char *eval_data = NULL, *split = NULL;
    const char *server = NULL, *pub = NULL, *psk_file = NULL;
    tl_device_options o;
    memset(&o, 0, sizeof o);
    o.port = 5683;
    uint32_t eval = 0, first_planes = 0, updates = 0;
    tl_profile_args profile;
    memset(&profile, 0, sizeof profile);
    tl_opt device[TL_PROFILE_OPTIONS];
    tl_opt_profile_group(device, &profile);
    const tl_opt options[] = {
        { "--server", TL_OPT_TEXT, &server, 0, 0, "HOST:PORT", "the edge server (required)", NULL },
        { "--slots", TL_OPT_TEXT, &o.slots, 0, 0, "DIR", "the device's slots and update record (this process is the\n"
          "device)", NULL },
        { "--uart", TL_OPT_TEXT, &o.uart, 0, 0, "SOCKET", "be a gateway: the device is behind a serial link (a Unix\n"
          "socket, QEMU's -serial unix:PATH) and runs the update machine\nitself, with its own key; this process "
          "fetches and relays", NULL },
        { "--run", TL_OPT_FLAG, &o.run_remote, 0, 0, NULL, "with --uart: the device then runs its model on the seeded\n"
          "input and its output is printed (\"output: ...\")", NULL },
        { "--pub", TL_OPT_TEXT, &pub, 0, 0, "KEY", "the publisher's Ed25519 public key (from `tinylarge keygen`)", NULL },
        { "--insecure", TL_OPT_FLAG, &o.insecure, 0, 0, NULL, "no key: take unsigned manifests (anyone on the path can\n"
          "then install a model); for trials only", NULL },
        { "--name", TL_OPT_TEXT, &o.name, 0, 0, "NAME", "a model by name", NULL },
        { "--context", TL_OPT_TEXT, &o.context, 0, 0, "K=V&K=V", "the device's situation, e.g. task=fashion&location=hall\n"
          "(the server picks the model tagged for it)", NULL },
        { "--id", TL_OPT_TEXT, &o.device_id, 0, 0, "ID", "the device's name to the server (for /context)", NULL },
        { "--psk", TL_OPT_TEXT, &psk_file, 0, 0, "FILE", "DTLS with the identity in FILE ('identity hex-key')", NULL },
        { "", TL_OPT_GROUP, NULL, 0, 0, NULL, NULL, device },
        { "--rate", TL_OPT_QUANTITY, &o.rate_bps, 1, 1e12, "BPS", "the channel rate the planner counts on (required)", NULL },
        { "--progressive", TL_OPT_FLAG, &o.progressive, 0, 0, NULL, "download the bit-plane stream; a device with no model\n"
          "runs the first planes as soon as they arrive", NULL },
        { "--first-planes", TL_OPT_U32, &first_planes, 1, 8, "N", "the smallest prefix worth running (default: the\n"
          "planner's prefix, else 4)", NULL },
        { "--link-rate", TL_OPT_QUANTITY, &o.link_bps, 0, 0, "BPS", "emulate a link this slow (paces the blocks)", NULL },
        { "--watch", TL_OPT_DOUBLE, &o.watch_seconds, 0, 0, "S", "stay registered (CoAP Observe) for S seconds and\n"
          "follow the server's notifications", NULL },
        { "--updates", TL_OPT_U32, &updates, 0, 4294967295.0, "N", "with --watch: stop after N installs", NULL },
        { "--timeout", TL_OPT_DOUBLE, &o.block_timeout_s, 0, 0, "S", "how long a silent server is waited for (default\n"
          "10)", NULL },
        { "--learn", TL_OPT_TEXT, &learn.data, 0, 0, "DIR", "then learn the active model's head from local data (the\n"
          "train split of DIR) and send the delta to the server's open round", NULL },
        { "--learn-classes", TL_OPT_TEXT, &learn.classes, 0, 0, "LIST", "the classes the device sees (default: all)",
          NULL },
        { "--learn-shift", TL_OPT_TEXT, &learn.shift, 0, 0, "KIND:X", "its covariate shift (as tinylarge learn --shift)",
          NULL },
        { "--learn-samples", TL_OPT_U32, &learn.samples, 1, 1000000, "N", "local samples to learn from (default 200)",
          NULL },
        { "--eval-data", TL_OPT_TEXT, &eval_data, 0, 0, "DIR", "the test images --eval takes (default: the\n"
          "Fashion-MNIST package's)", NULL },
        { "--offload", TL_OPT_TEXT, &offload.mode, 0, 0, "T|auto", "with --eval: images the active model is less sure\n"
          "of than T (0..1, by --offload-measure) go to the edge's /infer (auto: a\n"
          "target share, less when the round trip nears the deadline)", NULL },
        { "--offload-measure", TL_OPT_TEXT, &offload.measure, 0, 0, "M", "how sure the model is: margin (its largest\n"
          "probability less the second; default), top1 (the largest) or entropy\n(1 - H / log C)", NULL },
        { "--split", TL_OPT_TEXT, &split, 0, 0, "K|auto", "with --eval: run the first K operators, the edge the rest\n"
          "(auto: K per image from the cost model, the link's --rate and the round\n"
          "trip measured)", NULL },
        { "--split-objective", TL_OPT_CHOICE, &offload.split_objective, 0, 0, "latency|energy", "what --split auto's\n"
          "cut minimises: the answer's latency (default) or the device's energy", NULL },
        { "--edge", TL_OPT_TEXT, &offload.edge, 0, 0, "HOST:PORT", "where --offload sends (default: the --server)",
          NULL },
        { "--offload-target", TL_OPT_DOUBLE, &offload.target, 0.0001, 1, "SHARE", "auto's share of images to offload\n"
          "(default 0.1)", NULL },
        { "--offload-deadline", TL_OPT_DOUBLE, &offload.deadline, 0.001, 60, "S", "wait this long for the edge's answer,\n"
          "then keep the device's own (default 0.2)", NULL },
        { "--learn-drop", TL_OPT_FLAG, &learn.drop, 0, 0, NULL, "learn, then leave the round before sending the update\n"
          "(in a secure round: after dealing its shares), as a device that loses\npower would: for tests", NULL },
        { "--eval", TL_OPT_U32, &eval, 0, 4294967295.0, "N", "classify N Fashion-MNIST test images with each model it\n"
          "runs", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "device",
        "usage: tinylarge device --server HOST:PORT --slots DIR --flash B --ram B --mac-rate R --rate BPS\n"
        "                        [--name NAME | --context K=V&K=V...] (--pub KEY | --insecure) [options]\n"
        "       tinylarge device --server HOST:PORT --uart SOCKET [--run] --flash B ... (a gateway)\n\n"
        "A device's update rounds, run by the device's own update state machine: asks the\n"
        "edge server which variant fits (its profile, channel rate and context), checks\n"
        "the publisher's signed manifest (name, version, sequence, size, digest) against\n"
        "--pub, refuses a rollback, downloads the model block by block into DIR (resuming\n"
        "an interrupted download), checks it against the manifest, installs it in the\n"
        "inactive of two slots and switches; any failure keeps the running model.",
        options, NULL, 0, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    tl_profile_args_apply(&profile, &o.profile);
    o.deadline_s = profile.deadline;
    if (!server || !(o.slots || o.uart) || !o.profile.flash_bytes || !o.profile.ram_bytes ||
        !(o.profile.macs_per_second > 0) || !(o.rate_bps > 0)) {
        return tl_cli_fail("device", "need --server, --slots (or --uart), --flash, --ram, --mac-rate and --rate");
    }
    if (o.slots && o.uart) {
        return tl_cli_fail("device", "--slots (this process is the device) and --uart (it relays to one) exclude each"
                                     " other");
    }
    if (split && (!eval || !o.slots || offload.mode)) {
        return tl_cli_fail("device", "--split measures split inference on --eval N test images with the model in "
                           "--slots (not with --offload)");
    }
    if (offload.mode && (!eval || !o.slots)) {
        return tl_cli_fail("device", "--offload measures the cascade on --eval N test images with the model in --slots");
    }
    if (learn.data && !o.slots) {
        return tl_cli_fail("device", "--learn learns the model in --slots (a device behind --uart learns on its own)");
    }
    if (o.run_remote && !o.uart) {
        return tl_cli_fail("device", "--run asks a device behind --uart to run its model");
    }
    if (!o.name && !o.context) {
        return tl_cli_fail("device", "need --name NAME or --context K=V (e.g. task=fashion)");
    }
    if (!pub && !o.insecure && !o.uart) {
        return tl_cli_fail("device", "need --pub KEY, the publisher's public key: a device takes signed models only"
                                     " (--insecure takes unsigned ones, on purpose)");
    }
    if (pub && o.insecure) {
        return tl_cli_fail("device", "--pub and --insecure exclude each other");
    }
    char host[64];
    if (tl_cli_host_port("device", server, host, sizeof host, &o.port)) {
        return 1;
    }
    o.host = host;
    o.first_planes = (int)first_planes;
    o.max_updates = (int)updates;
    if (o.slots && mkdir(o.slots, 0755) != 0) {
        struct stat st;
        if (stat(o.slots, &st) != 0 || !S_ISDIR(st.st_mode)) {
            return tl_cli_fail("device", "%s: cannot make the slot folder", o.slots);
        }
    }
    uint8_t key[TL_PUBLIC_KEY_BYTES];
    char msg[512] = "";
    if (pub && (sodium_init() < 0 || tl_key_read(pub, 0, key, msg, sizeof msg) != TL_OK)) {
        return tl_cli_fail("device", "%s", msg);
    }
    tl_psk psk;
    if (psk_file && tl_psk_read(psk_file, &psk, 1, msg, sizeof msg) != 1) {
        return tl_cli_fail("device", "%s", msg[0] ? msg : "the pre-shared key file holds no identity");
    }
    o.public_key = pub ? key : NULL;
    o.psk = psk_file ? &psk : NULL;
    device_run run;
    memset(&run, 0, sizeof run);
    run.eval = (int)eval;
    char error[512];
    if (eval && tl_dataset_load_dir(eval_data, 0, (int)eval, &run.test, error, sizeof error) != TL_OK) {
        return tl_cli_fail("device", "%s", error);
    }
    o.log = on_log;
    o.on_model = on_model;
    o.ctx = &run;
    const tl_status s = tl_device_run(&o, msg, sizeof msg);
    /* An active model that did not change this time is still evaluated. */
    char slot[2], variant[40];
    int version;
    if (s == TL_OK && eval && o.slots && !strncmp(msg, "up to date", 10) && tl_device_active(o.slots, slot, &version, variant, NULL)) {
        char path[4200];
        snprintf(path, sizeof path, "%.4000s/slot-%s.tlm", o.slots, slot);
        uint8_t *model;
        size_t size;
        float acc[16];
        int exits;
        if (tl_read_file(path, &model, &size) == TL_OK) {
            if (tl_runtime_accuracy(model, size, &run.test, acc, &exits) == TL_OK) {
                printf("active model %s version %d: accuracy %.4f on %d test images\n", variant, version,
                       (double)acc[exits - 1], run.test.n);
            }
            free(model);
        }
    }
    free(run.prefix);
    /* The cascade with the edge, on the model now active. */
    const int offload_rc = s != TL_OK ? 0
                           : offload.mode ? offload_eval(&o, &run.test, &offload)
                           : split        ? split_eval(&o, &run.test, &offload, split)
                                          : 0;
    if (eval) {
        tl_dataset_free(&run.test);
    }
    if (s != TL_OK) {
        return tl_cli_fail("device", "%s", msg);
    }
    if (offload_rc != 0) {
        return offload_rc;
    }
    if (strncmp(msg, "installed", 9) != 0) {
        printf("%s\n", msg); /* "installed" lines were logged as they happened */
    }
    fflush(stdout);
    return learn.data ? learn_and_send(&o, &learn) : 0;
}

int tl_cmd_context(int argc, char **argv)
{
    const char *server = NULL, *device = NULL, *psk_file = NULL;
    const char *given[TL_OPT_LIST_MAX];
    char pairs[512] = "";
    size_t used = 0;
    const tl_opt options[] = {
        { "--server", TL_OPT_TEXT, &server, 0, 0, "HOST:PORT", "the edge server (required)", NULL },
        { "--device", TL_OPT_TEXT, &device, 0, 0, "ID", "the device (required)", NULL },
        { "--psk", TL_OPT_TEXT, &psk_file, 0, 0, "FILE", "DTLS with the identity in FILE ('identity hex-key')", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "context",
        "usage: tinylarge context --server HOST:PORT --device ID [--psk FILE] [K=V...]\n\n"
        "Sets a device's context on the edge server (K= with no value removes K) and\n"
        "prints the result; the server notifies the devices observing their plan. With\n"
        "no K=V, prints the context. With DTLS (--psk), only the device itself or an\n"
        "operator identity may set it.",
        options, given, TL_OPT_LIST_MAX, NULL
    };
    int count;
    const int parsed = tl_opt_parse(&spec, argc, argv, &count);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    for (int k = 0; k < count; ++k) {
        const char *a = given[k];
        if (!strchr(a, '=') || a[0] == '=' || strchr(a, '&')) {
            return tl_cli_fail("context", "'%s' is not K=V", a);
        }
        used += (size_t)snprintf(pairs + used, sizeof pairs - used, "%s%s", used ? "&" : "", a);
        if (used >= sizeof pairs) {
            return tl_cli_fail("context", "the context is too long");
        }
    }
    if (!server || !device) {
        return tl_cli_fail("context", "need --server HOST:PORT and --device ID");
    }
    char host[64], reply[512] = "";
    uint16_t port = psk_file ? 5684 : 5683;
    if (tl_cli_host_port("context", server, host, sizeof host, &port)) {
        return 1;
    }
    tl_psk psk;
    if (psk_file && tl_psk_read(psk_file, &psk, 1, reply, sizeof reply) != 1) {
        return tl_cli_fail("context", "%s", reply[0] ? reply : "the pre-shared key file holds no identity");
    }
    if (tl_context_set(host, port, psk_file ? &psk : NULL, device, used ? pairs : NULL, reply, sizeof reply) != TL_OK) {
        return tl_cli_fail("context", "%s", reply);
    }
    printf("%s: %s\n", device, reply);
    return 0;
}
