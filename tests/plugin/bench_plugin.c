/* Where should valar.lv2 run the 500 ms analysis step: in run() or on the
 * LV2 worker? (meson benchmark 'plugin-step'; never run by the tests.)
 *
 * Both designs are simulated with the library code the plugin uses, on 60 s
 * of stereo audio per configuration:
 *
 *   run():  mix L/R, analyzer_push with whole steps (valar_lv2.c before
 *           it spread each step over several run() calls: bench
 *           plugin-run measures the real plugin both ways). Blocks that
 *           complete a segment (analyzer_push returned > 0) carry the step
 *           (melspec frame + crnn_step); the others only feed the resampler
 *           and the STFT.
 *   worker: what run() would do instead: copy the mixed block into a
 *           lock-free ring and post a semaphore (as hosts' schedule_work
 *           does); a second thread reads the ring and runs analyzer_push.
 *           Reported: the run() side, the worker's time per step, and how
 *           long after the block was posted the result was ready (the
 *           earliest a later run() could publish it).
 *
 * Usage: bench_plugin [model.safetensors] (default: the streaming model
 * modelpath finds, i.e. $VALAR_MODEL_DIR under meson). Times in µs. */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer.h"
#include "modelpath.h"
#include "ringbuf.h"

#define SECONDS 60

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double mean, p50, p99, max;
    long n;
} stats;

static stats summarise(double *t, long n)
{
    stats s = {0, 0, 0, 0, n};
    if (n < 1)
        return s;
    for (long i = 0; i < n; i++)
        s.mean += t[i] / n;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    s.p50 = t[n / 2];
    s.p99 = t[n * 99 / 100];
    s.max = t[n - 1];
    return s;
}

/* Stereo test audio: tones and noise whose level and pitch change every
 * 250 ms, so every segment does real work. */
static void make_signal(float *l, float *r, size_t n, double rate)
{
    unsigned seed = 12345;
    for (size_t i = 0; i < n; i++) {
        double t = i / rate;
        int q = (int)(t * 4);
        double f = 110.0 * pow(2.0, ((q * 5) % 36) / 12.0);
        double amp = 0.05 + 0.1 * ((q * 7) % 5);
        seed = seed * 1103515245u + 12345u;
        double noise = 0.1 * ((q * 3) % 4) * ((seed >> 8) / 8388608.0 - 1.0);
        l[i] = (float)(amp * sin(2 * M_PI * f * t) + noise);
        r[i] = (float)(0.7 * amp * sin(2 * M_PI * f * t + 1.0) + noise);
    }
}

static void mix(const float *l, const float *r, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (l[i] + r[i]) / 2.0f; /* as valar_lv2.c */
}

/* ---- the run() design ---- */
static void bench_in_run(analyzer *an, const float *l, const float *r, size_t n, size_t block,
                         double rate)
{
    float *m = malloc(block * sizeof *m);
    long cap = (long)(n / block) + 1, n_step = 0, n_plain = 0;
    double *t_step = malloc((size_t)cap * sizeof *t_step);
    double *t_plain = malloc((size_t)cap * sizeof *t_plain);
    analyzer_reset(an);
    for (size_t pos = 0; pos + block <= n; pos += block) {
        double t0 = now_us();
        mix(l + pos, r + pos, m, block);
        int got = analyzer_push(an, m, block, NULL, NULL);
        double dt = now_us() - t0;
        if (got > 0)
            t_step[n_step++] = dt;
        else
            t_plain[n_plain++] = dt;
    }
    stats s = summarise(t_step, n_step), p = summarise(t_plain, n_plain);
    double budget = block * 1e6 / rate;
    printf("  run():  plain blocks mean %6.2f p99 %6.2f max %7.2f | step blocks (%ld) mean %6.2f "
           "p50 %6.2f p99 %6.2f max %7.2f | step ~ %5.1f us | step block p99 = %4.1f%% of the "
           "%.0f us budget\n",
           p.mean, p.p99, p.max, s.n, s.mean, s.p50, s.p99, s.max, s.p50 - p.p50,
           100.0 * s.p99 / budget, budget);
    free(m);
    free(t_step);
    free(t_plain);
}

/* ---- the worker design ---- */
typedef struct {
    analyzer *an;
    ringbuf *rb;
    sem_t go;
    atomic_int quit;
    float *scratch;
    size_t block;
    double *t_work, *t_ready; /* per step: compute time, time the result was ready */
    atomic_long n_done;
    double *t_posted; /* per block: when run() posted it */
    atomic_long blocks_read;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        sem_wait(&w->go);
        if (atomic_load(&w->quit))
            break;
        size_t got = ringbuf_read(w->rb, w->scratch, w->block);
        double t0 = now_us();
        int steps = analyzer_push(w->an, w->scratch, got, NULL, NULL);
        double t1 = now_us();
        if (steps > 0) {
            long k = atomic_load(&w->n_done);
            w->t_work[k] = t1 - t0;
            w->t_ready[k] = t1 - w->t_posted[atomic_load(&w->blocks_read)];
            atomic_store(&w->n_done, k + 1);
        }
        atomic_fetch_add(&w->blocks_read, 1);
    }
    return NULL;
}

static void bench_worker(analyzer *an, const float *l, const float *r, size_t n, size_t block,
                         double rate)
{
    long blocks = (long)(n / block), cap = (long)(n / (rate / 2)) + 4;
    worker w = {0};
    w.an = an;
    w.block = block;
    w.rb = ringbuf_create(block * 64);
    w.scratch = malloc(block * sizeof *w.scratch);
    w.t_work = malloc((size_t)cap * sizeof *w.t_work);
    w.t_ready = malloc((size_t)cap * sizeof *w.t_ready);
    w.t_posted = malloc((size_t)blocks * sizeof *w.t_posted);
    double *t_run = malloc((size_t)blocks * sizeof *t_run);
    float *m = malloc(block * sizeof *m);
    sem_init(&w.go, 0, 0);
    analyzer_reset(an);
    pthread_t th;
    pthread_create(&th, NULL, worker_main, &w);
    /* Pace the blocks at 10x real time so the worker keeps up, as it would
     * have to in a host. */
    const long period_ns = (long)(block * 1e9 / rate / 10.0);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (long b = 0; b < blocks; b++) {
        next.tv_nsec += period_ns;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        double t0 = now_us();
        mix(l + b * block, r + b * block, m, block);
        ringbuf_write(w.rb, m, block);
        w.t_posted[b] = now_us();
        sem_post(&w.go);
        t_run[b] = w.t_posted[b] - t0;
    }
    while (atomic_load(&w.blocks_read) < blocks)
        sched_yield();
    atomic_store(&w.quit, 1);
    sem_post(&w.go);
    pthread_join(th, NULL);
    long k = atomic_load(&w.n_done);
    stats sr = summarise(t_run, blocks), sw = summarise(w.t_work, k), sl = summarise(w.t_ready, k);
    printf("  worker: run() side mean %6.2f max %7.2f | worker per step mean %6.2f max %7.2f | "
           "result ready after mean %6.1f max %7.1f us (+ up to one block until run() sees it)\n",
           sr.mean, sr.max, sw.mean, sw.max, sl.mean, sl.max);
    sem_destroy(&w.go);
    ringbuf_destroy(w.rb);
    free(w.scratch);
    free(w.t_work);
    free(w.t_ready);
    free(w.t_posted);
    free(t_run);
    free(m);
}

int main(int argc, char **argv)
{
    char path[4096], msg[1024];
    if (argc > 1)
        snprintf(path, sizeof path, "%s", argv[1]);
    else if (modelpath_default("streaming", path, sizeof path) < 0) {
        fprintf(stderr, "bench_plugin: no streaming model found (set VALAR_MODEL_DIR)\n");
        return 1;
    }
    weights *wt;
    if (weights_load(path, &wt, msg, sizeof msg)) {
        fprintf(stderr, "bench_plugin: %s\n", msg);
        return 1;
    }
    printf("model %s\n", path);
    const double rates[] = {44100, 48000, 96000};
    const size_t blocks[] = {32, 64, 256, 1024};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        size_t n = (size_t)(rates[i] * SECONDS);
        float *l = malloc(n * sizeof *l), *r = malloc(n * sizeof *r);
        make_signal(l, r, n, rates[i]);
        analyzer *an;
        if (analyzer_create(wt, rates[i], &an, msg, sizeof msg)) {
            fprintf(stderr, "bench_plugin: %s\n", msg);
            return 1;
        }
        for (size_t j = 0; j < sizeof blocks / sizeof blocks[0]; j++) {
            printf("%.0f Hz, %zu-frame blocks:\n", rates[i], blocks[j]);
            bench_in_run(an, l, r, n, blocks[j], rates[i]);
            bench_worker(an, l, r, n, blocks[j], rates[i]);
        }
        analyzer_destroy(an);
        free(l);
        free(r);
    }
    weights_destroy(wt);
    return 0;
}
