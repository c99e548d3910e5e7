/*
 * expo_bench.c: parse throughput of the exposition parser (aa_expo_parse)
 * on one file, for bench/expo_bench.py.  Prints one JSON line: bytes,
 * samples, and the best and median seconds of `runs` full parses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aa/expo.h"

static int count_sample(void *ctx, const aa_expo_sample *s)
{
    size_t *n = ctx;

    (*n)++;
    return s->nlabels > 1000 ? AA_EINVAL : AA_OK;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    FILE *f;
    char *buf;
    long len;
    int runs, i;
    double *t;
    size_t n = 0;
    aa_expo_handler h = {count_sample, NULL, &n};
    aa_expo_limits lim = {0, (size_t)1 << 30, 0};
    aa_diag d;

    if (argc < 2) {
        fprintf(stderr, "usage: expo_bench FILE [RUNS]\n");
        return 64;
    }
    runs = argc > 2 ? atoi(argv[2]) : 20;
    f = fopen(argv[1], "rb");
    if (f == NULL || runs < 1) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len);
    t = calloc((size_t)runs, sizeof(double));
    if (buf == NULL || t == NULL ||
        fread(buf, 1, (size_t)len, f) != (size_t)len) {
        return 1;
    }
    fclose(f);
    for (i = 0; i < runs; i++) {
        double t0 = now();

        n = 0;
        if (aa_expo_parse(buf, (size_t)len, AA_EXPO_TEXT, &lim, &h, &d) !=
            AA_OK) {
            fprintf(stderr, "parse failed: %s\n", d.message);
            return 1;
        }
        t[i] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof(double), dbl_cmp);
    printf("{\"bytes\": %ld, \"samples\": %zu, \"best\": %.6f, "
           "\"median\": %.6f}\n",
           len, n, t[0], t[runs / 2]);
    free(buf);
    free(t);
    return 0;
}
