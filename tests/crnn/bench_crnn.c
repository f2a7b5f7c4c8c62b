/* Cost of the CRNN per 500 ms frame: crnn_step on streaming models, and
 * crnn_run_sequence per frame for both kinds. Prints timings; never fails on
 * them. */
#include <time.h>

#include "crnn_common.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void bench(const char *label, model_spec sp)
{
    crnn *net = create_or_die(&sp);
    const int T = 1000;
    float *x = random_input(T, sp.M, 3), *y = malloc(2 * T * sizeof *y);
    float sink = 0;
    printf("%s %s M=%d C=%d D=%d H=%d K=%d (%ld parameters):\n", label,
           sp.kind == CRNN_OFFLINE ? "offline" : "streaming", sp.M, sp.C, sp.D, sp.H, sp.K,
           crnn_n_params(net));
    if (sp.kind == CRNN_STREAMING) {
        const int reps = 20;
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            crnn_reset(net);
            for (int t = 0; t < T; t++) {
                crnn_step(net, x + (size_t)t * sp.M, y);
                sink += y[0];
            }
        }
        double dt = now() - t0;
        printf("  crnn_step:         %8.2f us per frame\n", 1e6 * dt / (reps * T));
    }
    const int lens[] = {60, 1000};
    for (int i = 0; i < 2; i++) {
        int reps = 20000 / lens[i];
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            crnn_run_sequence(net, x, lens[i], y);
            sink += y[0];
        }
        double dt = now() - t0;
        printf("  crnn_run_sequence: %8.2f us per frame (T=%d)\n",
               1e6 * dt / ((double)reps * lens[i]), lens[i]);
    }
    if (sink == 12345.0f)
        printf("(unlikely)\n");
    free(y);
    free(x);
    crnn_destroy(net);
}

int main(void)
{
    for (int k = 0; k < 2; k++) {
        bench("paper size", spec_default((crnn_kind)k, 0));
        model_spec sp = spec_default((crnn_kind)k, 0);
        sp.C = sp.D = sp.H = 32;
        bench("wide", sp);
    }
    return 0;
}
