/* Epoch time of valar-train on a DEAM-sized feature set: 431 training songs
 * of 45 s (90 frames, the last 60 annotated) and 58 validation songs, 64
 * mels, the paper's configuration (batch 32, dropout 0.75, ElasticNet), for
 * both kinds. Features are random (the time of an epoch does not depend on
 * what the audio sounds like); the target is a fixed function of them.
 * Prints the training time of each epoch (validation excluded) as the
 * trainer logs it. usage: bench_train [threads [seq_len [epochs]]] */
#include "ttrain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void make_set(tset *s, int n, int T, int M, uint64_t seed)
{
    s->n = n;
    s->songs = calloc((size_t)n, sizeof(tsong));
    uint64_t rng = seed;
    for (int i = 0; i < n; i++) {
        tsong *g = &s->songs[i];
        snprintf(g->id, sizeof g->id, "%d", i);
        g->T = T;
        g->M = M;
        g->x = malloc(sizeof(float) * (size_t)T * M);
        g->tgt = malloc(sizeof(float) * (size_t)T * 2);
        g->lab = malloc((size_t)T);
        for (int t = 0; t < T; t++) {
            double lo = 0;
            for (int m = 0; m < M; m++) {
                double v = -8 + 3 * trng_uniform(&rng);
                g->x[(size_t)t * M + m] = (float)v;
                lo += m < M / 4 ? v : 0;
            }
            g->tgt[t * 2] = (float)(0.2 * (lo / (M / 4) + 6.5));
            g->tgt[t * 2 + 1] = (float)(0.5 * (trng_uniform(&rng) - 0.5));
            g->lab[t] = t >= 30;
        }
    }
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, seq = argc > 2 ? atoi(argv[2]) : 10,
        epochs = argc > 3 ? atoi(argv[3]) : 3;
    tset train, val;
    make_set(&train, 431, 90, 64, 1);
    make_set(&val, 58, 90, 64, 2);
    melspec_config fc;
    melspec_config_default(&fc);
    for (int kind = 0; kind < 2; kind++) {
        ttrain_opts o;
        ttrain_defaults(&o);
        o.kind = kind;
        o.threads = threads > 0 ? threads : 1;
        o.seq_len = seq > 0 ? seq : 10;
        o.epochs = epochs > 0 ? epochs : 3;
        o.patience = 0;
        o.log = stdout;
        char msg[256];
        printf("%s, %d threads, seq_len %d, batch %d, dropout %.2f:\n",
               kind ? "streaming" : "offline", o.threads, o.seq_len, o.batch, o.reg.drop_conv);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (ttrain_run(&o, &train, &val, &fc, NULL, msg, sizeof msg)) {
            printf("ttrain_run: %s\n", msg);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("  %.2f s per epoch including validation\n", s / o.epochs);
    }
    tset_free(&train);
    tset_free(&val);
    return 0;
}
