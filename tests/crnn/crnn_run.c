/* Test driver for ref_crnn.py: loads a weight file, runs a batch of input
 * sequences through crnn_run_sequence and, on streaming models, through
 * crnn_reset + crnn_step per frame, and writes the outputs.
 *
 * usage: crnn_run MODEL IN OUT
 *        crnn_run --kernels   (the kernel sets this CPU runs, src/crnn_kern.h)
 *   IN:  int32 nseq, int32 M, int32 T[nseq], then the sequences' T x M
 *        float32 values one after another (all little-endian)
 *   OUT: per sequence T x 2 float32 from crnn_run_sequence, then (streaming
 *        only) T x 2 from the steps
 * Prints "kind=K n_mels=M n_params=N" on stdout. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crnn.h"
#include "crnn_kern.h"
#include "weights.h"

static int read_all(FILE *f, void *p, size_t size, size_t n)
{
    return fread(p, size, n, f) == n;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--kernels") == 0) {
        for (int i = 0; crnn_kern_get(i); i++)
            printf("%s\n", crnn_kern_get(i)->name);
        return 0;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: crnn_run MODEL IN OUT\n");
        return 2;
    }
    char msg[512];
    weights *w;
    int err = weights_load(argv[1], &w, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "crnn_run: %s\n", msg);
        return 1;
    }
    crnn *net;
    err = crnn_create(w, &net, msg, sizeof msg);
    weights_destroy(w);
    if (err) {
        fprintf(stderr, "crnn_run: %s: %s\n", argv[1], msg);
        return 1;
    }
    FILE *in = fopen(argv[2], "rb");
    int32_t hdr[2];
    if (!in || !read_all(in, hdr, sizeof hdr[0], 2) || hdr[0] < 1 || hdr[1] != crnn_n_mels(net)) {
        fprintf(stderr, "crnn_run: %s: bad input header\n", argv[2]);
        return 1;
    }
    const int nseq = hdr[0], M = hdr[1];
    int32_t *T = malloc((size_t)nseq * sizeof *T);
    if (!T || !read_all(in, T, sizeof *T, (size_t)nseq)) {
        fprintf(stderr, "crnn_run: %s: truncated\n", argv[2]);
        return 1;
    }
    FILE *out = fopen(argv[3], "wb");
    if (!out) {
        fprintf(stderr, "crnn_run: cannot write %s\n", argv[3]);
        return 1;
    }
    const int streaming = crnn_get_kind(net) == CRNN_STREAMING;
    printf("kind=%d n_mels=%d n_params=%ld\n", (int)crnn_get_kind(net), crnn_n_mels(net),
           crnn_n_params(net));
    for (int s = 0; s < nseq; s++) {
        size_t n = (size_t)T[s] * (size_t)M;
        float *x = malloc(n * sizeof *x), *y = malloc(2 * (size_t)T[s] * sizeof *y);
        if (!x || !y || !read_all(in, x, sizeof *x, n)) {
            fprintf(stderr, "crnn_run: %s: truncated\n", argv[2]);
            return 1;
        }
        err = crnn_run_sequence(net, x, T[s], y);
        if (err) {
            fprintf(stderr, "crnn_run: crnn_run_sequence(T=%d): %s\n", T[s], valar_strerror(err));
            return 1;
        }
        fwrite(y, sizeof *y, 2 * (size_t)T[s], out);
        if (streaming) {
            crnn_reset(net);
            for (int t = 0; t < T[s]; t++) {
                err = crnn_step(net, x + (size_t)t * M, y + 2 * t);
                if (err) {
                    fprintf(stderr, "crnn_run: crnn_step: %s\n", valar_strerror(err));
                    return 1;
                }
            }
            fwrite(y, sizeof *y, 2 * (size_t)T[s], out);
        }
        free(y);
        free(x);
    }
    if (fclose(out) != 0) {
        fprintf(stderr, "crnn_run: writing %s failed\n", argv[3]);
        return 1;
    }
    fclose(in);
    free(T);
    crnn_destroy(net);
    return 0;
}
