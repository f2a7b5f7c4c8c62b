/* How close the CRNN gets to the machine's limit (meson benchmark 'crnn';
 * prints figures, never fails on them).
 *
 * For the paper's size and wider models, and for every kernel set this CPU
 * runs: microseconds per crnn_step (streaming model) and per frame of
 * crnn_run_sequence (offline model, T = 1000), the GFLOP/s that makes
 * (2 flops per multiply-add of the network), and the same for a loop of
 * independent multiply-adds in registers measured in the same run, the
 * machine's limit for one core. "cold" is crnn_step after the caches have
 * been flushed, as in a plugin that runs one step every 500 ms between other
 * work.
 *
 * The machine may be shared: every figure is the best of many short batches
 * (what the code costs when it gets the core), and the load average is
 * printed at the start and the end. Usage: bench_crnn [SET] (one kernel set
 * only, e.g. avx2). */
#include <time.h>

#include "crnn_common.h"
#include "crnn_kern.h"
#include "bench_load.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *label;
    int M, C, K; /* D = H = C */
} size_spec;

static const size_spec sizes[] = {
    {"paper M=64 C=D=H=8", 64, 8, 4},
    {"16-wide M=128", 128, 16, 4},
    {"32-wide M=128", 128, 32, 4},
    {"32-wide M=64", 64, 32, 4},
};

/* Multiply-adds per frame: conv, then per branch dense, GRU(s), maxout. */
static double macs(const size_spec *s, crnn_kind kind)
{
    const double M = s->M, C = s->C, D = C, H = C, K = s->K, ndir = kind == CRNN_OFFLINE ? 2 : 1;
    return 9 * C * M + 2 * (D * C * M + ndir * (3 * H * D + 3 * H * H) + K * ndir * H);
}

static model_spec spec_of(const size_spec *s, crnn_kind kind)
{
    model_spec sp = spec_default(kind, 0);
    sp.M = s->M;
    sp.C = sp.D = sp.H = s->C;
    sp.K = s->K;
    return sp;
}

/* Best of `batches` batches of n rounds of the peak loop: multiply-adds per second. */
static double peak_rate(const crnn_kern *k, int batches)
{
    float sink = 0;
    double best = 0;
    for (int b = 0; b < batches; b++) {
        double t0 = now(), n = k->peak(20000, &sink), dt = now() - t0;
        if (n / dt > best)
            best = n / dt;
    }
    if (sink == 1.5f)
        printf("(unlikely)\n");
    return best;
}

/* Best time per step over batches of `per` steps. */
static double time_steps(crnn *net, const float *x, int M, int per, int batches)
{
    float y[2], sink = 0;
    double best = 1e9;
    crnn_reset(net);
    for (int b = 0; b < batches; b++) {
        double t0 = now();
        for (int t = 0; t < per; t++) {
            crnn_step(net, x + (size_t)t * M, y);
            sink += y[0];
        }
        double dt = (now() - t0) / per;
        best = dt < best ? dt : best;
    }
    if (sink == 12345.0f)
        printf("(unlikely)\n");
    return best;
}

/* crnn_step after a pass over a buffer larger than the caches: median and
 * max over n steps. */
static void time_cold(crnn *net, const float *x, int M, int n, double *median, double *max)
{
    static unsigned char *junk;
    const size_t junk_size = (size_t)96 << 20;
    if (!junk && !(junk = calloc(junk_size, 1)))
        exit(1);
    double *t = malloc((size_t)n * sizeof *t);
    float y[2];
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < junk_size; j += 64)
            junk[j]++;
        double t0 = now();
        crnn_step(net, x + (size_t)i * M, y);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    *median = t[n / 2];
    *max = t[n - 1];
    free(t);
}

static double time_offline(crnn *net, const float *x, int T, int batches)
{
    float *y = malloc(2 * (size_t)T * sizeof *y);
    double best = 1e9;
    for (int b = 0; b < batches; b++) {
        double t0 = now();
        crnn_run_sequence(net, x, T, y);
        double dt = (now() - t0) / T;
        best = dt < best ? dt : best;
    }
    free(y);
    return best;
}

static crnn *create_with(const model_spec *sp, const crnn_kern *k)
{
    setenv("VALAR_CRNN_KERNELS", k->name, 1);
    crnn *net = create_or_die(sp);
    if (crnn_kernels(net) != k) {
        fprintf(stderr, "bench_crnn: kernel set %s not used\n", k->name);
        exit(1);
    }
    return net;
}

static void bench_set(const crnn_kern *k, double machine_peak)
{
    const double peak = peak_rate(k, 30);
    printf("\nkernel set %s: multiply-add loop %.1f GFLOP/s (%.0f%% of the machine's %.1f)\n",
           k->name, 2e-9 * peak, 100.0 * peak / machine_peak, 2e-9 * machine_peak);
    printf("  %-20s %8s | %8s %7s %5s | %8s %7s %5s | %13s\n", "model", "MACs", "step us",
           "GFLOP/s", "peak", "offl us", "GFLOP/s", "peak", "cold med/max");
    const int T = 1000;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_spec *s = &sizes[i];
        float *x = random_input(T, s->M, 3);
        model_spec sp = spec_of(s, CRNN_STREAMING);
        crnn *net = create_with(&sp, k);
        const double ms = macs(s, CRNN_STREAMING), mo = macs(s, CRNN_OFFLINE);
        double step = time_steps(net, x, s->M, 100, 60), cmed, cmax;
        time_cold(net, x, s->M, 25, &cmed, &cmax);
        crnn_destroy(net);
        sp = spec_of(s, CRNN_OFFLINE);
        net = create_with(&sp, k);
        double off = time_offline(net, x, T, 8);
        crnn_destroy(net);
        printf("  %-20s %7.1fk | %8.2f %7.1f %4.0f%% | %8.2f %7.1f %4.0f%% | %6.1f/%6.1f\n",
               s->label, ms / 1e3, 1e6 * step, 2e-9 * ms / step, 100.0 * ms / step / machine_peak,
               1e6 * off, 2e-9 * mo / off, 100.0 * mo / off / machine_peak, 1e6 * cmed,
               1e6 * cmax);
        free(x);
    }
}

int main(int argc, char **argv)
{
    bench_print_load("start");
    const crnn_kern *best = crnn_kern_select(NULL);
    printf("kernel sets this CPU runs:");
    for (int i = 0; crnn_kern_get(i); i++)
        printf(" %s", crnn_kern_get(i)->name);
    printf(" (default %s)\n", best->name);
    printf("MACs: multiply-adds per frame (offline: bidirectional, so more GRU work); "
           "times are the best of many batches\n");
    const double machine_peak = peak_rate(best, 30);
    for (int i = 0; crnn_kern_get(i); i++) {
        const crnn_kern *k = crnn_kern_get(i);
        if (argc > 1 && strcmp(argv[1], k->name) != 0)
            continue;
        bench_set(k, machine_peak);
    }
    bench_print_load("end");
    return 0;
}
