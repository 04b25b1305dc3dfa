/* fuzz_seed.c - writes seed inputs for the fuzzers into a folder. */
#include <stdio.h>
#include <stdlib.h>

#include "tiny_model.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seed FOLDER\n");
        return 2;
    }
    for (uint32_t seed = 1; seed <= 3; ++seed) {
        uint8_t *buf;
        size_t size;
        if (tiny_model_bytes(seed, &buf, &size)) {
            fprintf(stderr, "fuzz_seed: cannot build the seed model\n");
            return 1;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/tiny%u.tlm", argv[1], seed);
        if (tl_write_file_atomic(path, buf, size) != TL_OK) {
            fprintf(stderr, "fuzz_seed: %s: cannot write\n", path);
            return 1;
        }
        /* and its progressive stream */
        uint8_t *stream;
        size_t stream_size;
        if (tl_progressive_encode(buf, size, &stream, &stream_size, NULL) == TL_OK) {
            snprintf(path, sizeof path, "%s/tiny%u.tlp", argv[1], seed);
            tl_write_file_atomic(path, stream, stream_size);
            free(stream);
        }
        free(buf);
    }
    return 0;
}
