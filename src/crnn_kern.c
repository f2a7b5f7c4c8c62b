/* crnn_kern: layer kernels of the CRNN (contract and layouts in crnn_kern.h).
 *
 * Compiled once per instruction set with KERN_SET = generic, avx2 or avx512
 * (see src/meson.build), -O3 so that the compiler vectorises the inner
 * loops, which all run over CRNN_VW contiguous floats or over a mel row,
 * and -ffp-contract=off so that a * b + c is never fused behind our back:
 * multiply-adds are fused exactly where MADD says, i.e. everywhere when the
 * target has a fast fmaf and nowhere otherwise. */
#include "crnn_kern.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef KERN_SET
#error "compile with -DKERN_SET=generic|avx2|avx512"
#endif

#ifdef __FP_FAST_FMAF
#define MADD(a, b, c) __builtin_fmaf(a, b, c) /* c + a * b, rounded once */
#else
#define MADD(a, b, c) ((c) + (a) * (b))
#endif

#define VW CRNN_VW

static void normalise(const float *restrict x, const float *restrict mean,
                      const float *restrict istd, int M, float *restrict xn)
{
    for (int m = 0; m < M; m++)
        xn[m] = (x[m] - mean[m]) * istd[m];
}

/* One filter over a mel row: 9 multiply-adds per output, in tap order. */
static void conv_filter(const float *restrict k, float b, const float *restrict r0,
                        const float *restrict r1, const float *restrict r2, int M,
                        float *restrict y)
{
    for (int m = 0; m < M; m++) {
        float s = b;
        s = MADD(k[0], r0[m - 1], s);
        s = MADD(k[1], r0[m], s);
        s = MADD(k[2], r0[m + 1], s);
        s = MADD(k[3], r1[m - 1], s);
        s = MADD(k[4], r1[m], s);
        s = MADD(k[5], r1[m + 1], s);
        s = MADD(k[6], r2[m - 1], s);
        s = MADD(k[7], r2[m], s);
        s = MADD(k[8], r2[m + 1], s);
        y[m] = s > 0.0f ? s : 0.0f;
    }
}

static void conv(const float *w, const float *b, const float *r0, const float *r1,
                 const float *r2, int C, int M, float *y)
{
    for (int c = 0; c < C; c++)
        conv_filter(w + 9 * c, b[c], r0, r1, r2, M, y + (size_t)c * M);
}

/* One panel's four chains of multiply-adds over inputs i0..i1 (a multiple
 * of 4 apart) into a[4 * VW] (chain k: inputs i with i % 4 == k, in order).
 * The portable dense and the sliced steps of every set sum this way. */
static inline void panel_madd(const float *restrict w, const float *restrict x, int i0, int i1,
                              float *restrict a)
{
    float a0[VW], a1[VW], a2[VW], a3[VW]; /* locals: the compiler keeps them in registers */
    memcpy(a0, a, sizeof a0);
    memcpy(a1, a + VW, sizeof a1);
    memcpy(a2, a + 2 * VW, sizeof a2);
    memcpy(a3, a + 3 * VW, sizeof a3);
    w += (size_t)i0 * VW;
    for (int i = i0; i < i1; i += 4, w += 4 * VW) {
        const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        for (int o = 0; o < VW; o++) {
            a0[o] = MADD(x0, w[o], a0[o]);
            a1[o] = MADD(x1, w[VW + o], a1[o]);
            a2[o] = MADD(x2, w[2 * VW + o], a2[o]);
            a3[o] = MADD(x3, w[3 * VW + o], a3[o]);
        }
    }
    memcpy(a, a0, sizeof a0);
    memcpy(a + VW, a1, sizeof a1);
    memcpy(a + 2 * VW, a2, sizeof a2);
    memcpy(a + 3 * VW, a3, sizeof a3);
}

#if defined(__AVX512F__)
/* Explicit SIMD where it pays: the compiler keeps the partial sums of a
 * panel in registers but makes a mess of combining them. */
#include <immintrin.h>

/* Panels p0 and p1 at once (8 chains of multiply-adds in flight). */
static void dense_2panels(const float *w0, const float *w1, const float *bias, const float *x,
                          int n_in, float *y)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int i = 0; i < n_in; i += 4, w0 += 4 * VW, w1 += 4 * VW) {
        const __m512 x0 = _mm512_set1_ps(x[i]), x1 = _mm512_set1_ps(x[i + 1]);
        const __m512 x2 = _mm512_set1_ps(x[i + 2]), x3 = _mm512_set1_ps(x[i + 3]);
        a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(w0), a0);
        a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(w0 + VW), a1);
        a2 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(w0 + 2 * VW), a2);
        a3 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(w0 + 3 * VW), a3);
        b0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(w1), b0);
        b1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(w1 + VW), b1);
        b2 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(w1 + 2 * VW), b2);
        b3 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(w1 + 3 * VW), b3);
    }
    a0 = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    b0 = _mm512_add_ps(_mm512_add_ps(b0, b1), _mm512_add_ps(b2, b3));
    _mm512_storeu_ps(y, _mm512_add_ps(_mm512_loadu_ps(bias), a0));
    _mm512_storeu_ps(y + VW, _mm512_add_ps(_mm512_loadu_ps(bias + VW), b0));
}

static void dense_panel(const float *w, const float *bias, const float *x, int n_in, float *y)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < n_in; i += 4, w += 4 * VW) {
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(x[i]), _mm512_loadu_ps(w), a0);
        a1 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 1]), _mm512_loadu_ps(w + VW), a1);
        a2 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 2]), _mm512_loadu_ps(w + 2 * VW), a2);
        a3 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 3]), _mm512_loadu_ps(w + 3 * VW), a3);
    }
    a0 = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    _mm512_storeu_ps(y, _mm512_add_ps(_mm512_loadu_ps(bias), a0));
}

#define HAVE_2PANELS

/* Four frames through one panel: each weight is loaded once for all four
 * (offline runs are limited by reading the weights). Per output the same
 * sum as dense_panel. */
#define DF 4
static void dense_panel_frames(const float *w, const float *bias, const float *x, int xs,
                               int n_in, float *y, int ys)
{
    const float *x0 = x, *x1 = x + xs, *x2 = x + 2 * xs, *x3 = x + 3 * xs;
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
    __m512 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    __m512 a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (int i = 0; i < n_in; i += 4, w += 4 * VW) {
        const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + VW);
        const __m512 w2 = _mm512_loadu_ps(w + 2 * VW), w3 = _mm512_loadu_ps(w + 3 * VW);
#define FRAME(f)                                                                                   \
    a##f##0 = _mm512_fmadd_ps(_mm512_set1_ps(x##f[i]), w0, a##f##0);                              \
    a##f##1 = _mm512_fmadd_ps(_mm512_set1_ps(x##f[i + 1]), w1, a##f##1);                          \
    a##f##2 = _mm512_fmadd_ps(_mm512_set1_ps(x##f[i + 2]), w2, a##f##2);                          \
    a##f##3 = _mm512_fmadd_ps(_mm512_set1_ps(x##f[i + 3]), w3, a##f##3);
        FRAME(0) FRAME(1) FRAME(2) FRAME(3)
#undef FRAME
    }
    const __m512 b = _mm512_loadu_ps(bias);
#define STORE(f)                                                                                   \
    _mm512_storeu_ps(y + f * ys, _mm512_add_ps(b, _mm512_add_ps(_mm512_add_ps(a##f##0, a##f##1),   \
                                                                _mm512_add_ps(a##f##2, a##f##3))));
    STORE(0) STORE(1) STORE(2) STORE(3)
#undef STORE
}

#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* A panel is two registers wide: 8 chains of multiply-adds in flight. */
static void dense_panel(const float *w, const float *bias, const float *x, int n_in, float *y)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int i = 0; i < n_in; i += 4, w += 4 * VW) {
        const __m256 x0 = _mm256_broadcast_ss(x + i), x1 = _mm256_broadcast_ss(x + i + 1);
        const __m256 x2 = _mm256_broadcast_ss(x + i + 2), x3 = _mm256_broadcast_ss(x + i + 3);
        a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w), a0);
        b0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w + 8), b0);
        a1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w + VW), a1);
        b1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w + VW + 8), b1);
        a2 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(w + 2 * VW), a2);
        b2 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(w + 2 * VW + 8), b2);
        a3 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(w + 3 * VW), a3);
        b3 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(w + 3 * VW + 8), b3);
    }
    a0 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    b0 = _mm256_add_ps(_mm256_add_ps(b0, b1), _mm256_add_ps(b2, b3));
    _mm256_storeu_ps(y, _mm256_add_ps(_mm256_loadu_ps(bias), a0));
    _mm256_storeu_ps(y + 8, _mm256_add_ps(_mm256_loadu_ps(bias + 8), b0));
}

/* No grouping of frames: 16 registers cannot hold the 16 partial sums of
 * two frames (dense_frames measured slower with half panels). */
#define DF 1

#else
/* Portable: the compiler vectorises the loops over a panel's outputs. */
static void dense_panel(const float *restrict w, const float *restrict bias,
                        const float *restrict x, int n_in, float *restrict y)
{
    float a[4 * VW] = {0};
    panel_madd(w, x, 0, n_in, a);
    for (int o = 0; o < VW; o++)
        y[o] = bias[o] + ((a[o] + a[VW + o]) + (a[2 * VW + o] + a[3 * VW + o]));
}

#define DF 1 /* no grouping of frames */
#endif

static void dense(const float *w, const float *bias, const float *x, int n_in, int n_out,
                  float *y)
{
    int p = 0;
#ifdef HAVE_2PANELS
    for (; p + 2 * VW <= n_out; p += 2 * VW)
        dense_2panels(w + (size_t)p * n_in, w + (size_t)(p + VW) * n_in, bias + p, x, n_in,
                      y + p);
#endif
    for (; p < n_out; p += VW)
        dense_panel(w + (size_t)p * n_in, bias + p, x, n_in, y + p);
}

/* nf frames (x[f * xs + i] -> y[f * ys + o]): groups of DF frames share
 * each weight load, the rest go one by one; every output is the same sum as
 * dense() makes of its frame alone. */
static void dense_frames(const float *w, const float *bias, const float *x, int xs, int nf,
                         int n_in, int n_out, float *y, int ys)
{
    int f = 0;
#if DF > 1
    for (; f + DF <= nf; f += DF)
        for (int p = 0; p < n_out; p += VW)
            dense_panel_frames(w + (size_t)p * n_in, bias + p, x + (size_t)f * xs, xs, n_in,
                               y + (size_t)f * ys + p, ys);
#endif
    for (; f < nf; f++)
        dense(w, bias, x + (size_t)f * xs, n_in, n_out, y + (size_t)f * ys);
}

/* Parts of dense() (crnn_kern.h): the same chains of multiply-adds, with
 * the partial sums kept in acc between calls instead of in registers, so
 * every lane sees the same operations in the same order. Portable: the
 * compiler vectorises the loops over a panel's outputs. */
static void dense_part(const float *restrict w, const float *restrict x, int n_in, int n_out,
                       int i0, int i1, float *restrict acc)
{
    for (int p = 0; p < n_out; p += VW, acc += 4 * VW)
        panel_madd(w + (size_t)p * n_in, x, i0, i1, acc);
}

static void dense_end(const float *restrict bias, const float *restrict acc, int n_out,
                      float *restrict y)
{
    for (int p = 0; p < n_out; p += VW, acc += 4 * VW)
        for (int o = 0; o < VW; o++)
            y[p + o] = bias[p + o] + ((acc[o] + acc[VW + o]) + (acc[2 * VW + o] + acc[3 * VW + o]));
}

/* Activations over whole padded arrays, branch-free so that the compiler
 * vectorises them (libm's expf and tanhf are scalar calls): Cephes' expf and
 * tanhf polynomials (their error: docs/design.md, Speed). */
static inline float exp_c(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    /* x = n ln2 + r, |r| <= ln2 / 2: t = 1.5 * 2^23 + n rounds n to an
     * integer, which then sits in t's low mantissa bits */
    const float t = x * 1.44269504f + 12582912.0f, n = t - 12582912.0f;
    float r = MADD(n, -0.693359375f, x);
    r = MADD(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = MADD(p, r, 1.3981999507e-3f);
    p = MADD(p, r, 8.3334519073e-3f);
    p = MADD(p, r, 4.1665795894e-2f);
    p = MADD(p, r, 1.6666665459e-1f);
    p = MADD(p, r, 5.0000001201e-1f);
    p = MADD(p, r * r, r) + 1.0f;
    uint32_t e; /* 2^n: n + 127 in the exponent field (unsigned: a NaN gives NaN, not UB) */
    memcpy(&e, &t, sizeof e);
    e = (e - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}

/* n is a multiple of CRNN_VW (whole panels of gates). */
static void sigmoid_all(float *restrict v, int n)
{
    for (int i = 0; i < n; i += VW)
        for (int o = 0; o < VW; o++)
            v[i + o] = 1.0f / (1.0f + exp_c(-v[i + o]));
}

static inline float tanh_c(float x)
{
    const float ax = fabsf(x), z = x * x;
    float p = -5.70498872745e-3f; /* |x| < 0.625: odd polynomial */
    p = MADD(p, z, 2.06390887954e-2f);
    p = MADD(p, z, -5.37397155531e-2f);
    p = MADD(p, z, 1.33314422036e-1f);
    p = MADD(p, z, -3.33332819422e-1f);
    const float small = MADD(p * z, x, x);
    const float big = 1.0f - 2.0f / (exp_c(2.0f * ax) + 1.0f);
    return ax < 0.625f ? small : copysignf(big, x);
}

static void tanh_all(float *restrict v, int n)
{
    for (int i = 0; i < n; i += VW)
        for (int o = 0; o < VW; o++)
            v[i + o] = tanh_c(v[i + o]);
}

static void gru_step(const crnn_gru *g, const float *x, float *restrict h, float *scratch)
{
    const int H = g->H, nzr = g->n_zr, nn = g->n_n;
    float *restrict gx = scratch;        /* W x + b: [n_zr + n_n] */
    float *restrict a = gx + nzr + nn;   /* gates: [n_zr + n_n] */
    float *restrict rh = a + nzr + nn;   /* r * h: [Hp], padding zero */
    dense(g->wih, g->bias, x, g->n_in, nzr + nn, gx);
    dense(g->uzr, gx, h, g->Hp, nzr, a); /* z, r before the sigmoid */
    sigmoid_all(a, nzr);
    for (int j = 0; j < g->Hp; j++) /* h's padding is zero, so is rh's */
        rh[j] = a[H + j] * h[j];
    dense(g->un, gx + nzr, rh, g->Hp, nn, a + nzr);
    tanh_all(a + nzr, nn);
    for (int j = 0; j < H; j++)
        h[j] = a[j] * h[j] + (1.0f - a[j]) * a[nzr + j];
}

static void maxout(const float *w, const float *b, const float *x, int n_in, int n_out, int P,
                   int K, float *scratch, float *out)
{
    dense(w, b, x, n_in, n_out, scratch);
    for (int p = 0; p < P; p++) {
        float best = scratch[p * K];
        for (int k = 1; k < K; k++)
            best = scratch[p * K + k] > best ? scratch[p * K + k] : best;
        out[p] = best < -1.0f ? -1.0f : best > 1.0f ? 1.0f : best;
    }
}

/* Peak: 12 independent chains of multiply-adds (latency 4 on two units
 * needs at least 8 in flight), as wide as this set's registers. */
#if defined(__AVX512F__)
#define PEAK_T __m512
#define PEAK_LANES 16
#define PEAK_SET1 _mm512_set1_ps
#define PEAK_MADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#define PEAK_STORE _mm512_storeu_ps
#elif defined(__AVX2__) && defined(__FMA__)
#define PEAK_T __m256
#define PEAK_LANES 8
#define PEAK_SET1 _mm256_set1_ps
#define PEAK_MADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#define PEAK_STORE _mm256_storeu_ps
#else
typedef float peak_t __attribute__((vector_size(16)));
#define PEAK_T peak_t
#define PEAK_LANES 4
#define PEAK_SET1(v) ((peak_t){v, v, v, v})
#define PEAK_MADD(a, b, c) ((c) + (a) * (b))
#define PEAK_STORE(p, v) __builtin_memcpy(p, &(v), sizeof(v))
#endif

static double peak(long n, float *sink)
{
    PEAK_T a[12];
    for (int c = 0; c < 12; c++)
        a[c] = PEAK_SET1(0.001f * (float)c);
    const PEAK_T m = PEAK_SET1(0.9999999f), d = PEAK_SET1(1e-7f);
    for (long i = 0; i < n; i++) {
#define P4(k)                                                                                      \
    a[k] = PEAK_MADD(a[k], m, d);                                                                  \
    a[k + 1] = PEAK_MADD(a[k + 1], m, d);                                                          \
    a[k + 2] = PEAK_MADD(a[k + 2], m, d);                                                          \
    a[k + 3] = PEAK_MADD(a[k + 3], m, d);
        P4(0) P4(4) P4(8)
#undef P4
    }
    float out[PEAK_LANES];
    for (int c = 1; c < 12; c++)
        a[0] = a[0] + a[c];
    PEAK_STORE(out, a[0]);
    for (int l = 0; l < PEAK_LANES; l++)
        *sink += out[l];
    return (double)n * 12 * PEAK_LANES;
}

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)

const crnn_kern CAT(crnn_kern_, KERN_SET) = {
    STR(KERN_SET), normalise, conv, dense, dense_frames, dense_part, dense_end, gru_step, maxout,
    peak,
};
