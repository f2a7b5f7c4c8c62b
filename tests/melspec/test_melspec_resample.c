/* Resampled input: a signal generated at 48 kHz (and 44.1/16 kHz) gives
 * frames close to the same signal generated at the model rate, and a pure
 * tone at a band's centre frequency lands in that band at every input rate. */
#include "melspec_common.h"

/* Band-limited test signal as a function of time, so it can be generated at
 * any rate: 24 log-spaced tones from 60 Hz to fmax_hz, each with its own slow
 * amplitude modulation. */
static float *tones(double sr, size_t n, double fmax_hz)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x)
        exit(2);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / sr, v = 0.0;
        for (int k = 0; k < 24; k++) {
            double f = 60.0 * pow(fmax_hz / 60.0, k / 23.0);
            double am = 0.5 + 0.5 * sin(2.0 * M_PI * (0.3 + 0.11 * k) * t + k);
            v += 0.04 * am * sin(2.0 * M_PI * f * t + 0.7 * k);
        }
        x[i] = (float)v;
    }
    return x;
}

static frames analyse(const melspec_config *c, double rate, const float *x, size_t n)
{
    melspec *m = create_or_die(c, rate);
    frames f;
    frames_init(&f, (size_t)c->n_mels);
    run_stream(m, x, n, 777, 0, &f);
    melspec_destroy(m);
    return f;
}

/* Slaney mel scale, written out again here (librosa's definition). */
static double mel_of(double f)
{
    return f < 1000.0 ? f * 3.0 / 200.0 : 15.0 + log(f / 1000.0) / (log(6.4) / 27.0);
}

static double hz_of(double m)
{
    return m < 15.0 ? m * 200.0 / 3.0 : 1000.0 * exp((m - 15.0) * log(6.4) / 27.0);
}

int main(void)
{
    melspec_config c;
    melspec_config_default(&c);
    const int M = c.n_mels;
    const double secs = 6.0;
    int failed = 0;

    /* 1. Same signal, generated at the model rate and at other rates. Only
     * bands within 30 dB of the segment's loudest are compared (the bands
     * that hold tones): the rest hold only window leakage, 40-60 dB down,
     * where resampler noise shows. Segment 0 is skipped: the signal starts
     * with a step at t = 0, which the resampler's filter smears. Tones stop
     * at 9 kHz: soxr's anti-alias filter rolls off above that. */
    const size_t n_ref = (size_t)(secs * c.sample_rate);
    float *xr = tones(c.sample_rate, n_ref, 9000.0);
    frames ref = analyse(&c, c.sample_rate, xr, n_ref);
    double ref_fmax = 9000.0;
    const double in_rates[] = {48000, 44100, 16000, 96000};
    const double tol = 0.01; /* ln units (~0.04 dB); measured max 0.0016 (16 kHz input) */
    for (size_t r = 0; r < sizeof in_rates / sizeof in_rates[0]; r++) {
        double fmax_hz = in_rates[r] < 2 * 9000.0 ? 0.45 * in_rates[r] : 9000.0;
        if (fmax_hz != ref_fmax) {
            /* a low-rate signal cannot hold 9 kHz: compare against a
             * model-rate version of the same lower-band signal */
            ref_fmax = fmax_hz;
            free(xr);
            free(ref.data);
            xr = tones(c.sample_rate, n_ref, fmax_hz);
            ref = analyse(&c, c.sample_rate, xr, n_ref);
        }
        size_t n = (size_t)(secs * in_rates[r]);
        float *x = tones(in_rates[r], n, fmax_hz);
        frames f = analyse(&c, in_rates[r], x, n);
        double worst = 0.0;
        int compared = 0;
        if (f.n != ref.n) {
            fprintf(stderr, "FAIL %g Hz: %zu segments vs %zu\n", in_rates[r], f.n, ref.n);
            failed = 1;
        } else {
            for (size_t s = 1; s < f.n; s++) {
                const float *a = ref.data + s * (size_t)M, *b = f.data + s * (size_t)M;
                float top = a[0];
                for (int k = 1; k < M; k++)
                    top = a[k] > top ? a[k] : top;
                for (int k = 0; k < M; k++) {
                    if (a[k] < top - 6.9f) /* 30 dB in power */
                        continue;
                    double d = fabs((double)a[k] - b[k]);
                    worst = d > worst ? d : worst;
                    compared++;
                }
            }
        }
        printf("%g Hz vs %d Hz (tones up to %g Hz): %d values compared, max |diff| = %.4g "
               "(tolerance %g)\n",
               in_rates[r], c.sample_rate, fmax_hz, compared, worst, tol);
        if (!(worst < tol) || compared < (int)f.n * M / 5) {
            fprintf(stderr, "FAIL %g Hz: resampled frames differ\n", in_rates[r]);
            failed = 1;
        }
        free(f.data);
        free(x);
    }
    free(xr);
    free(ref.data);

    /* 2. A tone at the centre frequency of band b peaks in band b. */
    const double lo = mel_of(c.fmin), hi = mel_of(c.fmax);
    const int bands[] = {3, 12, 20, 33, 45, 55};
    const double rates[] = {22050, 48000, 44100, 16000};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        for (size_t i = 0; i < sizeof bands / sizeof bands[0]; i++) {
            int b = bands[i];
            double fc = hz_of(lo + (b + 1) * (hi - lo) / (M + 1));
            if (fc > 0.45 * rates[r])
                continue;
            size_t n = (size_t)(2.0 * rates[r]);
            float *x = malloc(n * sizeof *x);
            for (size_t j = 0; j < n; j++)
                x[j] = (float)(0.5 * sin(2.0 * M_PI * fc * (double)j / rates[r]));
            frames f = analyse(&c, rates[r], x, n);
            int best = -1;
            if (f.n == 4) {
                const float *v = f.data + 2 * (size_t)M; /* a segment well inside */
                best = 0;
                for (int k = 1; k < M; k++)
                    best = v[k] > v[best] ? k : best;
            }
            printf("%g Hz input, %.1f Hz tone: loudest band %d (want %d)\n", rates[r], fc, best, b);
            if (best != b) {
                fprintf(stderr, "FAIL: tone in the wrong band\n");
                failed = 1;
            }
            free(f.data);
            free(x);
        }
    }
    return failed;
}
