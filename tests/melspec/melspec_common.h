/* Helpers shared by the melspec tests: deterministic test signals and a
 * driver that feeds a whole signal in blocks and collects every segment. */
#ifndef VALAR_TEST_MELSPEC_COMMON_H
#define VALAR_TEST_MELSPEC_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testrng.h"
#include "melspec.h"

/* Noise uniform in [-1, 1) (all 32 bits of testrng.h's generator). */
static inline float test_noise(uint32_t *s)
{
    return (float)((double)test_rand(s) / 2147483648.0 - 1.0);
}

/* n samples at rate sr: 1 s of silence, then noise + a linear chirp
 * (100 Hz -> 0.4 sr) + an exponential chirp, with 1.3 s of exact silence
 * in the middle (so whole segments hit the floor). */
static inline float *test_signal(double sr, size_t n, uint32_t seed)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x)
        exit(2);
    uint32_t s = seed ? seed : 1;
    const double T = (double)n / sr;
    const double f0 = 100.0, f1 = 0.4 * sr;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / sr;
        double nz = 0.05 * test_noise(&s);
        double lin = 0.3 * sin(2.0 * M_PI * (f0 * t + 0.5 * (f1 - f0) / T * t * t));
        double k = pow(50.0, 1.0 / T); /* 60 Hz -> 3 kHz */
        double ex = 0.2 * sin(2.0 * M_PI * 60.0 * (pow(k, t) - 1.0) / log(k));
        double v = nz + lin + ex;
        if (t < 1.0 || (t >= 0.45 * T && t < 0.45 * T + 1.3))
            v = 0.0;
        x[i] = (float)v;
    }
    return x;
}

/* Frames of one stream: every segment's n_mels values, in order. */
typedef struct {
    float *data;
    size_t n, cap, n_mels;
    int index_error; /* melspec_frame_index did not count up from 0 */
} frames;

static inline void frames_init(frames *f, size_t n_mels)
{
    f->data = NULL;
    f->n = f->cap = 0;
    f->n_mels = n_mels;
    f->index_error = 0;
}

static inline void frames_add(frames *f, const melspec *m)
{
    if (melspec_frame_index(m) != (long)f->n)
        f->index_error = 1;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->data = realloc(f->data, f->cap * f->n_mels * sizeof *f->data);
        if (!f->data)
            exit(2);
    }
    memcpy(f->data + f->n * f->n_mels, melspec_frame(m), f->n_mels * sizeof *f->data);
    f->n++;
}

/* End of stream: finish and collect the segments that complete. */
static inline void collect_end(melspec *m, frames *out)
{
    melspec_finish(m);
    int ready;
    do {
        ready = 0;
        melspec_feed(m, NULL, 0, &ready);
        if (ready)
            frames_add(out, m);
    } while (ready);
}

/* Feed x (n samples) in blocks of `block` (0: random sizes 1..5000 from
 * `seed`), then finish and collect the rest. */
static inline void run_stream(melspec *m, const float *x, size_t n, size_t block, uint32_t seed,
                              frames *out)
{
    uint32_t s = seed ? seed : 7;
    size_t pos = 0;
    while (pos < n) {
        size_t b = block;
        if (!b) {
            test_noise(&s);
            b = 1 + s % 5000;
        }
        if (b > n - pos)
            b = n - pos;
        size_t off = 0;
        for (;;) {
            int ready = 0;
            off += melspec_feed(m, x + pos + off, b - off, &ready);
            if (ready)
                frames_add(out, m);
            else
                break;
        }
        if (off != b) {
            fprintf(stderr, "melspec_feed consumed %zu of %zu without a segment\n", off, b);
            exit(1);
        }
        pos += b;
    }
    collect_end(m, out);
}

static inline melspec *create_or_die(const melspec_config *c, double rate)
{
    melspec *m;
    int err = melspec_create(c, rate, &m);
    if (err) {
        fprintf(stderr, "melspec_create(%g Hz): %s\n", rate, valar_strerror(err));
        exit(1);
    }
    return m;
}

#endif
