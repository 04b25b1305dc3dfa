/* cli.h - shared helpers of the tinylarge command line tool. */
#ifndef TL_CLI_H
#define TL_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/device.h"

/* Prints "tinylarge CMD: message" to stderr; returns 1 (the exit status). */
int tl_cli_fail(const char *cmd, const char *fmt, ...);

/* Reads and validates a .tlm file; prints a precise error and returns
 * non-zero on failure. *buffer must be freed by the caller. */
int tl_cli_load_model(const char *cmd, const char *path, uint8_t **buffer, tl_model *model);

/* "0,3,5" into out[] (each in [lo, hi]); the count, or -1. */
int tl_cli_parse_int_list(const char *text, int *out, int capacity, int lo, int hi);

/* "HOST[:PORT]" into host and *port (left as it is without ":PORT"); 0, or
 * 1 with a message naming cmd. */
int tl_cli_host_port(const char *cmd, const char *server, char *host, size_t size, uint16_t *port);

/* Parses a non-negative integer option value; returns 0 on success. */
int tl_cli_parse_u32(const char *text, uint32_t *out);

/* Every input of the model bound to `it` filled as `run --seed SEED`
 * fills it (cmd_run.c): the same bytes the firmware runner uses for seed 1.
 * Asking for the inputs starts a new inference. */
void tl_cli_seed_inputs(tl_interp *it, uint32_t seed);

/* The Cortex-M4 under QEMU (m4.c): the runner image beside the tinylarge
 * binary (firmware/fw_runner.elf in the build tree), into buf; whether it
 * and qemu-system-arm are there; one inference's instructions and, when
 * per_op is not NULL, each of the `ops` operators'. 0, or -1 if the run
 * failed. */
const char *tl_cli_default_runner(char *buf, size_t size);
int tl_cli_m4_available(const char *runner);
int tl_cli_m4_measure(const char *runner, const char *model_path, int64_t *instructions, uint64_t *per_op,
                      uint32_t ops);
/* The runner's layer pipeline over the file in 1 KB blocks: each block's
 * instructions into block_work[blocks]; *same_answer = 1 when the M4's
 * pipelined answer equalled its whole run's. 0, or -1. */
int tl_cli_m4_pipeline(const char *runner, const char *model_path, uint64_t *block_work, uint32_t blocks,
                       int *same_answer);

int tl_cmd_import(int argc, char **argv);
int tl_cmd_inspect(int argc, char **argv);
int tl_cmd_run(int argc, char **argv);
int tl_cmd_train(int argc, char **argv);
int tl_cmd_distill(int argc, char **argv);
int tl_cmd_eval(int argc, char **argv);
int tl_cmd_export(int argc, char **argv);
int tl_cmd_compress(int argc, char **argv);
int tl_cmd_progressive(int argc, char **argv);
int tl_cmd_plan(int argc, char **argv);
int tl_cmd_keygen(int argc, char **argv);
int tl_cmd_library(int argc, char **argv);
int tl_cmd_serve(int argc, char **argv);
int tl_cmd_device(int argc, char **argv);
int tl_cmd_context(int argc, char **argv);
int tl_cmd_cascade(int argc, char **argv);
int tl_cmd_sign(int argc, char **argv);
int tl_cmd_verify(int argc, char **argv);
int tl_cmd_densify(int argc, char **argv);
int tl_cmd_learn(int argc, char **argv);
int tl_cmd_federate(int argc, char **argv);
int tl_cmd_split(int argc, char **argv);
int tl_cmd_pipeline(int argc, char **argv);
int tl_cmd_split_learn(int argc, char **argv);
int tl_cmd_sim(int argc, char **argv);
int tl_cmd_resolver(int argc, char **argv);

#endif /* TL_CLI_H */
