/* Cost of analyzer_push per 500 ms of 48 kHz audio, in blocks of 64 and
 * 1024 frames, and the heap one analyzer holds (meson benchmark
 * 'analyzer-push'; never run by the tests).
 * Usage: bench_analyzer [model.safetensors] (default: the placeholder). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "analyzer.h"
#include "analyzer_common.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    weights *w;
    char msg[512];
    if (argc > 1) {
        if (weights_load(argv[1], &w, msg, sizeof msg)) {
            fprintf(stderr, "%s\n", msg);
            return 1;
        }
    } else {
        w = load_placeholder("streaming");
    }
    const double rate = 48000, seconds = 60;
    const size_t n = (size_t)(rate * seconds);
    float *x = test_signal(rate, n);
    analyzer *a;
    /* Heap in use before and after create (glibc's count of allocated
     * bytes, FFTW plans and soxr state included). */
    size_t heap0 = mallinfo2().uordblks;
    int err = analyzer_create(w, rate, &a, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "analyzer_create: %s\n", msg);
        return 1;
    }
    printf("48 kHz analyzer: %.0f KiB of heap (model, features, resampler, FFT)\n",
           (double)(mallinfo2().uordblks - heap0) / 1024.0);
    const size_t blocks[] = {64, 1024};
    for (int b = 0; b < 2; b++) {
        double best = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            analyzer_reset(a);
            int results = 0;
            double t0 = now();
            for (size_t pos = 0; pos < n; pos += blocks[b]) {
                size_t m = n - pos < blocks[b] ? n - pos : blocks[b];
                results += analyzer_push(a, x + pos, m, NULL, NULL);
            }
            double t = now() - t0;
            if (t < best)
                best = t;
            /* The resampler's latency holds back the last segment or so. */
            if (results < (int)(seconds * 2) - 2)
                fprintf(stderr, "unexpected: %d results\n", results);
        }
        double per_seg = best / (seconds * 2);
        printf("48 kHz, block %4zu: %.1f us per 500 ms of audio (%.5f x real time, %.0f x "
               "faster than real time)\n",
               blocks[b], per_seg * 1e6, best / seconds, seconds / best);
    }
    analyzer_destroy(a);
    free(x);
    weights_destroy(w);
    return 0;
}
