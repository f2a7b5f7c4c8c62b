/* Cost of melspec per 500 ms segment, at the model rate and resampled.
 * Prints timings; never fails on them. */
#include <time.h>

#include "melspec_common.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void)
{
    melspec_config c;
    melspec_config_default(&c);
    const double rates[] = {22050, 44100, 48000, 16000, 96000, 192000};
    const double secs = 120.0;
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        size_t n = (size_t)(secs * rates[r]);
        float *x = test_signal(rates[r], n, 3);
        melspec *m = create_or_die(&c, rates[r]);
        frames f;
        frames_init(&f, (size_t)c.n_mels);
        double t0 = now();
        run_stream(m, x, n, 512, 0, &f);
        double dt = now() - t0;
        printf("%6g Hz input: %zu segments in %.3f s: %.1f us per 500 ms segment "
               "(%.0fx real time)\n",
               rates[r], f.n, dt, 1e6 * dt / (double)f.n, secs / dt);
        melspec_destroy(m);
        /* create includes the resampler's warm-up */
        const int reps = 20;
        t0 = now();
        for (int i = 0; i < reps; i++)
            melspec_destroy(create_or_die(&c, rates[r]));
        printf("%6g Hz input: melspec_create + destroy %.2f ms\n", rates[r],
               1e3 * (now() - t0) / reps);
        free(f.data);
        free(x);
    }
    return 0;
}
