/* Shared by the crnn tests and benchmark: random but well-scaled CRNN weight
 * sets built in memory (the layout of src/crnn.h), optionally damaged in one
 * place, and a deterministic random log-mel input. */
#ifndef VALAR_TEST_CRNN_COMMON_H
#define VALAR_TEST_CRNN_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/testrng.h"
#include "crnn.h"
#include "weights.h"

typedef struct {
    crnn_kind kind;
    int joint; /* branches = "joint" (one branch, P = 2) instead of "separate" */
    int M, C, D, H, K;
    const char *bn_eps; /* metadata value; NULL omits the key */
    uint32_t seed;
    /* Damage (all optional): leave out a tensor or metadata key, add `delta`
     * to dimension `bad_dim` of tensor `bad`, or set metadata key `meta_key`
     * to `meta_value`. */
    const char *skip;
    const char *skip_meta;
    const char *bad;
    int bad_dim, delta;
    const char *meta_key, *meta_value;
} model_spec;

/* The paper's configuration (8 filters, 8 dense and 8 GRU units) on valar's
 * 64 mel bands, with 4 maxout pieces. */
static inline model_spec spec_default(crnn_kind kind, int joint)
{
    model_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.joint = joint;
    s.M = 64;
    s.C = 8;
    s.D = 8;
    s.H = 8;
    s.K = 4;
    s.bn_eps = "0.001";
    s.seed = 1;
    return s;
}

/* Roughly standard normal (sum of uniforms): good enough for test data. */
static inline double rng_normal(uint32_t *s)
{
    double a = 0;
    for (int i = 0; i < 6; i++)
        a += test_uniform(s);
    return a * 0.7071;
}

static inline int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Values for a tensor, scaled by its role so that activations stay in the
 * useful range (outputs mostly inside (-1, 1), GRU gates not saturated). */
static inline void fill_tensor(const char *name, float *x, size_t n, const int64_t *shape,
                               uint32_t *s)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        if (strcmp(name, "input.mean") == 0)
            v = -5.0 + 3.0 * test_uniform(s);
        else if (strcmp(name, "input.std") == 0)
            v = 1.75 + 1.25 * test_uniform(s);
        else if (strcmp(name, "conv.weight") == 0)
            v = 0.33 * rng_normal(s);
        else if (strcmp(name, "bn.gamma") == 0)
            v = (1.0 + 0.5 * test_uniform(s)) * (test_uniform(s) < -0.6 ? -1 : 1);
        else if (strcmp(name, "bn.var") == 0)
            v = 1.0 + 0.95 * test_uniform(s);
        else if (ends_with(name, "dense.weight"))
            v = 1.5 * rng_normal(s) / sqrt((double)shape[1]);
        else if (ends_with(name, "weight_ih"))
            v = 1.2 * rng_normal(s) / sqrt((double)shape[1]);
        else if (ends_with(name, "weight_hh"))
            v = 1.5 * rng_normal(s) / sqrt((double)shape[1]);
        else if (ends_with(name, "maxout.weight"))
            v = 0.8 * rng_normal(s) / sqrt((double)shape[2]);
        else /* biases, bn.beta, bn.mean */
            v = 0.3 * rng_normal(s);
        x[i] = (float)v;
    }
}

static inline int add_tensor(weights *w, const model_spec *sp, uint32_t *s, const char *name,
                             int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    if (sp->skip && strcmp(sp->skip, name) == 0)
        return 0;
    int64_t shape[3] = {d0, d1, d2};
    if (sp->bad && strcmp(sp->bad, name) == 0 && sp->bad_dim < ndim)
        shape[sp->bad_dim] += sp->delta;
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    float *x = malloc(n * sizeof *x);
    if (!x)
        return -1;
    fill_tensor(name, x, n, shape, s);
    int err = weights_add(w, name, ndim, shape, x);
    free(x);
    return err;
}

static inline int set_meta(weights *w, const model_spec *sp, const char *key, const char *value)
{
    if (sp->skip_meta && strcmp(sp->skip_meta, key) == 0)
        return 0;
    if (!value)
        return 0;
    return weights_set_meta(w, key, value);
}

/* The weights for spec sp, or NULL (with a message) on failure. */
static inline weights *build_model(const model_spec *sp)
{
    weights *w = weights_create();
    if (!w) {
        fprintf(stderr, "weights_create failed\n");
        return NULL;
    }
    uint32_t s = sp->seed ? sp->seed : 1;
    const int M = sp->M, C = sp->C, D = sp->D, H = sp->H, K = sp->K;
    const int P = sp->joint ? 2 : 1, G = sp->kind == CRNN_OFFLINE ? 2 * H : H;
    int err = 0;
    err |= add_tensor(w, sp, &s, "input.mean", 1, M, 0, 0);
    err |= add_tensor(w, sp, &s, "input.std", 1, M, 0, 0);
    err |= add_tensor(w, sp, &s, "conv.weight", 3, C, 3, 3);
    err |= add_tensor(w, sp, &s, "conv.bias", 1, C, 0, 0);
    err |= add_tensor(w, sp, &s, "bn.gamma", 1, C, 0, 0);
    err |= add_tensor(w, sp, &s, "bn.beta", 1, C, 0, 0);
    err |= add_tensor(w, sp, &s, "bn.mean", 1, C, 0, 0);
    err |= add_tensor(w, sp, &s, "bn.var", 1, C, 0, 0);
    const char *joint[] = {"joint"}, *separate[] = {"arousal", "valence"};
    const char **br = sp->joint ? joint : separate;
    for (int b = 0; b < (sp->joint ? 1 : 2); b++) {
        char n[64];
#define T(suffix, nd, a, bb, c)                                                                    \
    (snprintf(n, sizeof n, "%s.%s", br[b], suffix), add_tensor(w, sp, &s, n, nd, a, bb, c))
        err |= T("dense.weight", 2, D, (int64_t)C * M, 0);
        err |= T("dense.bias", 1, D, 0, 0);
        err |= T("gru.weight_ih", 2, 3 * H, D, 0);
        err |= T("gru.weight_hh", 2, 3 * H, H, 0);
        err |= T("gru.bias", 1, 3 * H, 0, 0);
        if (sp->kind == CRNN_OFFLINE) {
            err |= T("gru_bw.weight_ih", 2, 3 * H, D, 0);
            err |= T("gru_bw.weight_hh", 2, 3 * H, H, 0);
            err |= T("gru_bw.bias", 1, 3 * H, 0, 0);
        }
        err |= T("maxout.weight", 3, P, K, G);
        err |= T("maxout.bias", 2, P, K, 0);
#undef T
    }
    char nm[16];
    snprintf(nm, sizeof nm, "%d", M);
    err |= set_meta(w, sp, "format", "valar-crnn");
    err |= set_meta(w, sp, "version", "1");
    err |= set_meta(w, sp, "kind", sp->kind == CRNN_OFFLINE ? "offline" : "streaming");
    err |= set_meta(w, sp, "branches", sp->joint ? "joint" : "separate");
    err |= set_meta(w, sp, "bn_eps", sp->bn_eps);
    err |= set_meta(w, sp, "sample_rate", "22050");
    err |= set_meta(w, sp, "n_fft", "1024");
    err |= set_meta(w, sp, "hop_length", "441");
    err |= set_meta(w, sp, "n_mels", nm);
    err |= set_meta(w, sp, "fmin", "0");
    err |= set_meta(w, sp, "fmax", "11025");
    err |= set_meta(w, sp, "segment_ms", "500");
    err |= set_meta(w, sp, "log_floor", "1e-10");
    if (sp->meta_key)
        err |= weights_set_meta(w, sp->meta_key, sp->meta_value);
    if (err) {
        fprintf(stderr, "building the test model failed\n");
        weights_destroy(w);
        return NULL;
    }
    return w;
}

/* build_model + crnn_create; exits on failure. */
static inline crnn *create_or_die(const model_spec *sp)
{
    weights *w = build_model(sp);
    if (!w)
        exit(1);
    crnn *net;
    char msg[512];
    int err = crnn_create(w, &net, msg, sizeof msg);
    weights_destroy(w); /* crnn_create copies what it needs */
    if (err) {
        fprintf(stderr, "crnn_create: %s (%s)\n", msg, valar_strerror(err));
        exit(1);
    }
    return net;
}

/* T x M log-mel-like input around the model's input.mean (about -5). Caller
 * frees. */
static inline float *random_input(int T, int M, uint32_t seed)
{
    float *x = malloc((size_t)T * (size_t)M * sizeof *x);
    if (!x) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    uint32_t s = seed ? seed : 1;
    for (size_t i = 0; i < (size_t)T * (size_t)M; i++)
        x[i] = (float)(-5.0 + 2.5 * rng_normal(&s));
    return x;
}

#endif
