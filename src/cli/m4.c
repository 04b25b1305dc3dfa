/* m4.c - the Cortex-M4 measured under QEMU (cli.h): the runner image
 * (firmware/runner.c) runs a .tlm with -icount shift=0, one instruction a
 * nanosecond, so a tick of its 25 MHz timer is 40 instructions. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *tl_cli_default_runner(char *buf, size_t size)
{
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        return NULL;
    }
    self[n] = '\0';
    char *cut = strrchr(self, '/');
    if (cut) {
        *cut = '\0';
    }
    snprintf(buf, size, "%s/firmware/fw_runner.elf", self);
    return buf;
}

int tl_cli_m4_available(const char *runner)
{
    return runner && access(runner, R_OK) == 0 && system("command -v qemu-system-arm >/dev/null 2>&1") == 0;
}

/* The runner on the model under QEMU, with `mode` ("" or ",arg=--MODE");
 * its output to read. */
static FILE *start_runner(const char *runner, const char *model_path, const char *mode)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none "
             "-semihosting-config enable=on,target=native,arg=runner,arg='%s'%s -icount shift=0 -kernel '%s' 2>&1",
             model_path, mode, runner);
    return popen(cmd, "r");
}

/* "LABEL: T0 T1 ...": up to n tick counts into out[] as instructions; how
 * many were read. */
static uint32_t read_ticks(const char *line, size_t label, uint64_t *out, uint32_t n)
{
    const char *at = line + label;
    char *end = NULL;
    uint32_t got = 0;
    for (; got < n; ++got) {
        const unsigned long t = strtoul(at, &end, 10);
        if (end == at) {
            break;
        }
        out[got] = (uint64_t)t * 40;
        at = end;
    }
    return got;
}

int tl_cli_m4_measure(const char *runner, const char *model_path, int64_t *instructions, uint64_t *per_op,
                      uint32_t ops)
{
    FILE *p = start_runner(runner, model_path, per_op ? ",arg=--profile" : "");
    if (!p) {
        return -1;
    }
    char line[65536];
    long ticks = -1;
    uint32_t profiled = 0;
    while (fgets(line, sizeof line, p)) {
        if (!strncmp(line, "timer ticks: ", 13)) {
            ticks = strtol(line + 13, NULL, 10);
        } else if (per_op && !strncmp(line, "op ticks:", 9)) {
            profiled = read_ticks(line, 9, per_op, ops);
        }
    }
    pclose(p);
    if (ticks < 0 || (per_op && profiled != ops)) {
        return -1;
    }
    *instructions = (int64_t)ticks * 40;
    return 0;
}

int tl_cli_m4_pipeline(const char *runner, const char *model_path, uint64_t *block_work, uint32_t blocks,
                       int *same_answer)
{
    const size_t line_size = 16 + 12 * (size_t)blocks; /* a tick count a block */
    char *line = malloc(line_size);
    FILE *p = line ? start_runner(runner, model_path, ",arg=--pipeline") : NULL;
    if (!p) {
        free(line);
        return -1;
    }
    uint32_t got = 0;
    *same_answer = 0;
    while (fgets(line, (int)line_size, p)) {
        if (!strncmp(line, "block ticks:", 12)) {
            got = read_ticks(line, 12, block_work, blocks);
        } else if (!strncmp(line, "pipeline: the answer equals", 27)) {
            *same_answer = 1;
        }
    }
    pclose(p);
    free(line);
    return got == blocks ? 0 : -1;
}
