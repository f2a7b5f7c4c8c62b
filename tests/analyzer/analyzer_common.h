/* Shared by the analyzer tests and benchmark: a deterministic test signal,
 * a result collector and the placeholder model paths. */
#ifndef VALAR_TEST_ANALYZER_COMMON_H
#define VALAR_TEST_ANALYZER_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "analyzer.h"
#include "weights.h"

/* Tones and noise whose pitch, level and noisiness change every 250 ms, so
 * consecutive segments have different features. Caller frees. */
static inline float *test_signal(double rate, size_t n)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x)
        return NULL;
    uint32_t s = 12345u;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate;
        int q = (int)(t * 4.0);
        double f = 110.0 * pow(2.0, (double)((q * 5) % 36) / 12.0);
        double amp = 0.05 + 0.4 * (double)((q * 7) % 5) / 4.0;
        double noise_amp = 0.3 * (double)((q * 3) % 4) / 3.0;
        s = s * 1664525u + 1013904223u;
        double noise = (double)(s >> 8) / 16777216.0 * 2.0 - 1.0;
        x[i] = (float)(amp * sin(2.0 * M_PI * f * t) + noise_amp * noise);
    }
    return x;
}

typedef struct {
    analyzer_result *r;
    size_t n, cap;
    int overflow;
} collector;

static inline int collector_init(collector *c, size_t cap)
{
    c->r = malloc((cap ? cap : 1) * sizeof *c->r);
    c->n = 0;
    c->cap = cap;
    c->overflow = 0;
    return c->r != NULL;
}

/* Never allocates: safe inside a real-time section. */
static inline void collector_add(void *user, const analyzer_result *r)
{
    collector *c = user;
    if (c->n < c->cap)
        c->r[c->n++] = *r;
    else
        c->overflow = 1;
}

/* $VALAR_MODEL_DIR/placeholder-<kind>.safetensors, loaded; exits on failure. */
static inline weights *load_placeholder(const char *kind)
{
    const char *dir = getenv("VALAR_MODEL_DIR");
    char path[4096], msg[512];
    snprintf(path, sizeof path, "%s/placeholder-%s.safetensors", dir ? dir : "models", kind);
    weights *w;
    int err = weights_load(path, &w, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "cannot load %s: %s\n", path, msg);
        exit(1);
    }
    return w;
}

#endif
