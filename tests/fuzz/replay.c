/* replay.c - a main() for the libFuzzer harnesses without libFuzzer: runs each file named on the
 * command line, or a few built-in inputs, through LLVMFuzzerTestOneInput. ctest builds every
 * harness with it from the same sources tests/fuzz/run.sh links, so a harness that no longer
 * builds or links, or that aborts on a plain input, fails `make test` rather than the next
 * `make fuzz`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Inputs every harness must take without complaint: its own grammar's seeds and junk. */
static const char *const builtin[] = {
    "",
    "{}",
    "[]",
    "null",
    "\xff\xfe\x00\x01",
    "{\"all\":[{\"age\":{\"min\":40,\"max\":60}},{\"condition\":{\"condition\":\"asthma\"}}]}",
    "[{\"type\":\"count\",\"epsilon\":0.5}]",
    "{\"resourceType\":\"Patient\",\"gender\":\"female\",\"birthDate\":\"1975-06-02\"}",
    "{\"resourceType\":\"Observation\",\"status\":\"final\",\"effectiveDateTime\":\"2024-01-03\","
    "\"valueInteger\":6}",
    "SGVsbG8sIHdvcmxk",
    "{\"alg\":\"EdDSA\",\"kid\":\"k\"}\n{\"sub\":\"x\",\"n\":1}",
};

/* The whole of file path in a new buffer (*size bytes), or NULL. */
static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
        *size = (size_t)n;
    else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    size_t i, ran = 0;

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    if (argc < 2) {
        for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++, ran++)
            LLVMFuzzerTestOneInput((const uint8_t *)builtin[i], strlen(builtin[i]));
    }
    for (int a = 1; a < argc; a++, ran++) {
        size_t size = 0;
        uint8_t *buf = slurp(argv[a], &size);
        if (!buf) {
            fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[a]);
            return 1;
        }
        LLVMFuzzerTestOneInput(buf, size);
        free(buf);
    }
    printf("%s: %zu inputs, no finding\n", argv[0], ran);
    return 0;
}
