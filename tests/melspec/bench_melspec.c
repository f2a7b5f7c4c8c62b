/* Cost of melspec per 500 ms segment and where it goes (meson benchmark
 * 'melspec'; prints figures, never fails on them).
 *
 * For n_fft 1024 and 2048 and 64 and 128 mel bands, at 22.05 (the model
 * rate: no resampling), 44.1 and 48 kHz input (and more rates for the
 * default configuration): microseconds per 500 ms segment, fed in 512-sample
 * blocks, split into
 *   FFT        the FFTW plan melspec uses (r2c, FFTW_ESTIMATE), frames per
 *              segment times one transform, timed alone;
 *   frames     window, power sums and the mel filterbank: the model-rate
 *              total minus the FFT;
 *   resampler  libsoxr: the total minus the model-rate total.
 * The machine may be shared: each figure is the best over many segments
 * (what the code costs when it has the core); the load average is printed
 * at the start and the end. Also: melspec_create + destroy (includes the
 * resampler's warm-up). */
#include <fftw3.h>
#include <time.h>

#include "melspec_common.h"
#include "bench_load.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best time per segment: the stream is fed 512 samples at a time and timed
 * from one completed segment to the next. */
static double per_segment(const melspec_config *c, double rate, const float *x, size_t n)
{
    melspec *m = create_or_die(c, rate);
    double best = 1e9, t0 = now();
    int segs = 0;
    for (size_t pos = 0; pos < n; pos += 512) {
        size_t b = n - pos < 512 ? n - pos : 512, off = 0;
        for (;;) {
            int ready = 0;
            off += melspec_feed(m, x + pos + off, b - off, &ready);
            if (!ready)
                break;
            double t = now();
            if (segs++ > 2 && t - t0 < best) /* the first ones warm the caches */
                best = t - t0;
            t0 = t;
        }
    }
    melspec_destroy(m);
    return best;
}

/* Best time of one r2c transform of n_fft points. */
static double fft_time(int n_fft)
{
    float *in = fftwf_alloc_real((size_t)n_fft);
    fftwf_complex *out = fftwf_alloc_complex((size_t)n_fft / 2 + 1);
    fftwf_plan p = fftwf_plan_dft_r2c_1d(n_fft, in, out, FFTW_ESTIMATE);
    for (int i = 0; i < n_fft; i++)
        in[i] = (float)sin(0.1 * i);
    double best = 1e9;
    for (int r = 0; r < 200; r++) {
        double t0 = now();
        for (int k = 0; k < 25; k++)
            fftwf_execute(p);
        double dt = (now() - t0) / 25;
        best = dt < best ? dt : best;
    }
    fftwf_destroy_plan(p);
    fftwf_free(in);
    fftwf_free(out);
    return best;
}

int main(void)
{
    bench_print_load("start");
    const double secs = 30.0;
    const int ffts[] = {1024, 2048}, mels[] = {64, 128};
    printf("%-22s %8s | %7s %7s %9s (us per 500 ms segment, best of %.0f s of audio)\n",
           "config", "input", "total", "FFT", "frames", secs);
    for (int fi = 0; fi < 2; fi++) {
        for (int mi = 0; mi < 2; mi++) {
            melspec_config c;
            melspec_config_default(&c);
            c.n_fft = ffts[fi];
            c.n_mels = mels[mi];
            const int F = melspec_segment_samples(&c) / c.hop;
            const double fft = F * fft_time(c.n_fft);
            const int first = fi == 0 && mi == 0;
            const double rates[] = {22050, 44100, 48000, 16000, 96000, 192000};
            const int nr = first ? 6 : 3;
            double model = 0;
            for (int r = 0; r < nr; r++) {
                size_t n = (size_t)(secs * rates[r]);
                float *x = test_signal(rates[r], n, 3);
                double t = per_segment(&c, rates[r], x, n);
                free(x);
                char label[64];
                snprintf(label, sizeof label, "n_fft %d, %d mels", c.n_fft, c.n_mels);
                if (r == 0) {
                    model = t;
                    printf("%-22s %6.0f Hz | %7.1f %7.1f %9.1f\n", label, rates[r], 1e6 * t,
                           1e6 * fft, 1e6 * (t - fft));
                } else {
                    printf("%-22s %6.0f Hz | %7.1f   resampler %5.1f\n", label, rates[r], 1e6 * t,
                           1e6 * (t - model));
                }
            }
        }
    }
    melspec_config c;
    melspec_config_default(&c);
    const double rates[] = {22050, 48000};
    for (int r = 0; r < 2; r++) {
        const int reps = 20;
        double t0 = now();
        for (int i = 0; i < reps; i++)
            melspec_destroy(create_or_die(&c, rates[r]));
        printf("%6g Hz input: melspec_create + destroy %.2f ms\n", rates[r],
               1e3 * (now() - t0) / reps);
    }
    bench_print_load("end");
    return 0;
}
