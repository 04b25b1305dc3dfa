/* options.h - one option parser for every command: each command declares
 * a table (name, kind, destination, range, help) and tl_opt_parse reads
 * argv against it and prints the usage from it. The same mistakes get the
 * same messages and exit status 2 in every command: an unknown option, a
 * missing value, a value that is not of the option's kind or out of its
 * range, a stray argument. */
#ifndef TL_CLI_OPTIONS_H
#define TL_CLI_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

typedef enum tl_opt_kind {
    TL_OPT_END = 0,     /* ends a table */
    TL_OPT_FLAG,        /* int: set to 1 */
    TL_OPT_TEXT,        /* const char *: the value */
    TL_OPT_LIST,        /* tl_opt_list: each value appended (the option repeats) */
    TL_OPT_U32,         /* uint32_t, a whole number in [min, max] */
    TL_OPT_INT,         /* int, a whole number in [min, max] */
    TL_OPT_FLOAT,       /* float, finite, in [min, max] */
    TL_OPT_DOUBLE,      /* double, finite, in [min, max] */
    TL_OPT_QUANTITY,    /* double, K, M or G allowed (x 1e3, 1e6, 1e9), in [min, max] */
    TL_OPT_CHOICE,      /* int: the index of the value among `choices` ("a|b|c") */
    TL_OPT_GROUP        /* `group`: another table's options, inline (shared groups) */
} tl_opt_kind;

#define TL_OPT_LIST_MAX 32

typedef struct tl_opt_list {
    const char *item[TL_OPT_LIST_MAX];
    int count;
} tl_opt_list;

typedef struct tl_opt {
    const char *name;           /* "--epochs", or "-o|--output" for an alias */
    tl_opt_kind kind;
    void *dest;
    double min, max;            /* numbers: the range (both 0: not negative, no upper bound) */
    const char *value;          /* in the help: "N", "FILE"; choices: "a|b|c" */
    const char *help;           /* one or more lines; NULL: not listed */
    const struct tl_opt *group; /* TL_OPT_GROUP */
} tl_opt;

typedef struct tl_command_spec {
    const char *verb;           /* "import" */
    const char *usage;          /* the usage line(s) and what the command does */
    const tl_opt *options;
    const char **positional;    /* where positional arguments go */
    int max_positional;
    void (*more_help)(FILE *out); /* printed after the options (may be NULL) */
} tl_command_spec;

/* The device profile, as `plan` and `device` both take it: one group of
 * options, one meaning. Quantities are read as doubles (K/M/G) and applied
 * to a tl_device_profile by tl_profile_args_apply. */
typedef struct tl_profile_args {
    double flash, ram, mac_rate, ips, energy_per_mac, energy_budget, deadline;
    int densify;
} tl_profile_args;

#define TL_PROFILE_OPTIONS 9 /* eight options and the end of the group */
struct tl_device_profile;
void tl_opt_profile_group(tl_opt group[TL_PROFILE_OPTIONS], tl_profile_args *args);
void tl_profile_args_apply(const tl_profile_args *args, struct tl_device_profile *profile);

/* What tl_opt_parse returns: go on, or the command's exit status. */
enum { TL_OPT_OK = -1, TL_OPT_HELP = 0, TL_OPT_ERROR = 2 };

/* Reads argv[1..]; *positional_count gets the number of positional
 * arguments. TL_OPT_HELP (0): the usage was printed to stdout; TL_OPT_ERROR
 * (2): a message naming the argument was printed to stderr. Either is the
 * exit status: `if ((rc = tl_opt_parse(...)) != TL_OPT_OK) return rc;`. */
int tl_opt_parse(const tl_command_spec *spec, int argc, char **argv, int *positional_count);

/* The usage (the spec's text, then its options). */
void tl_opt_usage(const tl_command_spec *spec, FILE *out);

#endif /* TL_CLI_OPTIONS_H */
