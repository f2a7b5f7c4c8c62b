/* Synthetic "music" whose emotion is known: arousal follows the smoothed
 * loudness, valence the pitch register of a harmonic tone. Both controls are
 * sums of slow sinusoids with random phases; the target of 500 ms segment k
 * is the mean of the control over [0.5 k, 0.5 k + 0.5) s, mapped to about
 * [-0.8, 0.8]. Shared by the trainer tests. */
#ifndef VALAR_TEST_SYNTH_H
#define VALAR_TEST_SYNTH_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../common/testrng.h"

/* Uniform in [0, 1). */
static double synth_rand(uint32_t *s)
{
    return (double)test_rand(s) * (1.0 / 4294967296.0);
}

/* Fills audio (n samples at rate sr) and targets (n / (sr / 2) segments x 2).
 * The controls are slow (periods of 4 s or more), so they and the derived
 * level and frequency are updated every 32 samples, and the tone is a
 * rotating phasor: no transcendental functions per sample, which keeps the
 * tests fast under ASan. */
static void synth_song(uint64_t seed, int sr, long n, float *audio, float *tgt)
{
    uint32_t s = (uint32_t)(seed * 2654435761u + 17) | 1; /* never 0 */
    double pa[3], pv[3], fa[3], fv[3];
    for (int k = 0; k < 3; k++) {
        pa[k] = 6.283 * synth_rand(&s);
        pv[k] = 6.283 * synth_rand(&s);
        fa[k] = 1.0 / (4 + 10 * synth_rand(&s));
        fv[k] = 1.0 / (4 + 10 * synth_rand(&s));
    }
    long seg = sr / 2, nseg = n / seg;
    double ca = 0, cv = 0, amp = 0, cw = 1, sw = 0, re = 1, im = 0;
    for (long k = 0; k < nseg; k++)
        tgt[k * 2] = tgt[k * 2 + 1] = 0;
    for (long i = 0; i < n; i++) {
        if (i % 32 == 0) {
            double t = (double)i / sr;
            ca = cv = 0;
            for (int k = 0; k < 3; k++) {
                ca += sin(6.283 * fa[k] * t + pa[k]) / 3;
                cv += sin(6.283 * fv[k] * t + pv[k]) / 3;
            }
            /* ca, cv in [-1, 1]: level -36..-6 dBFS, register 150..3000 Hz */
            amp = pow(10, (-21 + 15 * ca) / 20);
            double w = 6.283 * 670 * pow(20, cv / 2) / sr;
            cw = cos(w);
            sw = sin(w);
            double norm = 1.0 / sqrt(re * re + im * im); /* keep the phasor on the circle */
            re *= norm;
            im *= norm;
        }
        double nr = re * cw - im * sw;
        im = re * sw + im * cw;
        re = nr;
        /* sin(x) + 0.5 sin(2x) + 0.25 sin(3x) from sin(x) = im, cos(x) = re */
        double tone = im + re * im + 0.25 * im * (3 - 4 * im * im);
        double noise = 2 * synth_rand(&s) - 1;
        audio[i] = (float)(amp * (0.5 * tone + 0.15 * noise));
        long k = i / seg;
        if (k < nseg) {
            tgt[k * 2] += (float)(0.8 * ca / seg);
            tgt[k * 2 + 1] += (float)(0.8 * cv / seg);
        }
    }
}

#endif
