/* cmd_library.c - `tinylarge library add|list|show|remove`: the model
 * library the edge server serves from (SQLite file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/edge.h"

static void print_model(void *ctx, const char *name, int version, int variants, const char *tags)
{
    (void)ctx;
    printf("%-20s version %-3d %3d variants  %s\n", name, version, variants, tags);
}

int tl_cmd_library(int argc, char **argv)
{
    const char *verb = NULL, *db = NULL, *name = NULL, *dir = NULL, *key_path = NULL;
    tl_opt_list tags = { { NULL }, 0 };
    const tl_opt options[] = {
        { "--db", TL_OPT_TEXT, &db, 0, 0, "LIB", "the library: a SQLite file or a PostgreSQL connection string", NULL },
        { "--name", TL_OPT_TEXT, &name, 0, 0, "NAME", "the model", NULL },
        { "--catalogue", TL_OPT_TEXT, &dir, 0, 0, "DIR", "add: the catalogue folder (from `tinylarge compress`)", NULL },
        { "--key", TL_OPT_TEXT, &key_path, 0, 0, "NAME.key", "add: sign every variant and its manifest", NULL },
        { "--tag", TL_OPT_LIST, &tags, 0, 0, "K=V", "add: a context tag (repeat for more)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "library",
        "usage: tinylarge library add --db LIB --name NAME --catalogue DIR [--key NAME.key] [--tag K=V]...\n"
        "       tinylarge library list --db LIB\n"
        "       tinylarge library show --db LIB --name NAME\n"
        "       tinylarge library remove --db LIB --name NAME\n\n"
        "The model library: each model's variant catalogue (from `tinylarge compress`)\n"
        "published as numbered versions, every variant's bytes stored with its digest,\n"
        "signed with the server's key when --key is given, and context tags (task,\n"
        "location, time window, application) for the planner.",
        options, &verb, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!verb) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("library", "need add, list, show or remove");
    }
    const int add = !strcmp(verb, "add"), list = !strcmp(verb, "list"), show = !strcmp(verb, "show"),
              rm = !strcmp(verb, "remove");
    if (!add && !list && !show && !rm) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("library", "unknown action '%s' (add, list, show, remove)", verb);
    }
    if (!db || (!list && !name) || (add && !dir)) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("library", "%s needs --db%s%s", verb, list ? "" : " and --name", add ? " and --catalogue" : "");
    }
    char error[512] = "";
    uint8_t key[TL_SECRET_KEY_BYTES];
    if (key_path && (sodium_init() < 0 || tl_key_read(key_path, 1, key, error, sizeof error) != TL_OK)) {
        return tl_cli_fail("library", "%s", error);
    }
    tl_library *lib;
    if (tl_library_open(db, &lib, error, sizeof error) != TL_OK) {
        return tl_cli_fail("library", "%s", error);
    }
    int rc = 0, version = 0;
    if (add) {
        if (tl_library_publish(lib, name, dir, key_path ? key : NULL, tags.item, tags.count, &version, error,
                               sizeof error) != TL_OK) {
            rc = tl_cli_fail("library", "%s", error);
        } else {
            tl_variant v[TL_CATALOGUE_MAX_VARIANTS];
            int count = 0;
            tl_library_variants(lib, name, v, TL_CATALOGUE_MAX_VARIANTS, &count, &version, error, sizeof error);
            printf("published %s version %d: %d variants%s\n", name, version, count, key_path ? ", signed" : "");
        }
        sodium_memzero(key, sizeof key);
    } else if (list) {
        if (tl_library_list(lib, print_model, NULL, error, sizeof error) != TL_OK) {
            rc = tl_cli_fail("library", "%s", error);
        }
    } else if (show) {
        tl_variant v[TL_CATALOGUE_MAX_VARIANTS];
        int count;
        if (tl_library_variants(lib, name, v, TL_CATALOGUE_MAX_VARIANTS, &count, &version, error, sizeof error) != TL_OK) {
            rc = tl_cli_fail("library", "%s", error);
        } else {
            printf("%s version %d\n%-16s %8s %8s %10s %7s\n", name, version, "variant", "accuracy", "bytes", "MACs",
                   "arena");
            for (int i = 0; i < count; ++i) {
                printf("%-16s %8.4f %8llu %10llu %7llu\n", v[i].name, (double)v[i].accuracy,
                       (unsigned long long)v[i].bytes, (unsigned long long)v[i].macs, (unsigned long long)v[i].arena);
            }
        }
    } else if (tl_library_remove(lib, name, error, sizeof error) != TL_OK) {
        rc = tl_cli_fail("library", "%s", error);
    } else {
        printf("removed %s\n", name);
    }
    tl_library_close(lib);
    return rc;
}
