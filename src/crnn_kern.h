/* crnn_kern: the CRNN's layer kernels, one small function per layer, over
 * weights that crnn_create has pre-arranged for them. Internal to valar:
 * crnn.c uses it, and tests and benchmarks use it to pick a kernel set.
 *
 * The same source (crnn_kern.c) is compiled once per instruction set and
 * the set is chosen at run time (crnn_kern_select), so one x86-64 binary
 * uses AVX-512 or AVX2+FMA where the CPU has them and SSE2 elsewhere; other
 * architectures get the generic set, which their compiler vectorises.
 *
 * Arithmetic is fixed by the source, not by the vector width: every output
 * is summed in the same order in every set (the only difference between
 * sets is whether a multiply-add is fused, i.e. rounded once), so within a
 * set a frame gives the same bits whether it comes from crnn_step or from
 * crnn_run_sequence.
 *
 * Layouts:
 *   matrix ("panels"): y[o] = bias[o] + sum_i x[i] W[i][o] for n_out outputs
 *     (a multiple of CRNN_VW) and n_in inputs (a multiple of CRNN_NPART) is
 *     stored as n_out / CRNN_VW panels of n_in rows of CRNN_VW floats, so the
 *     inner loop runs over contiguous outputs; padding rows and columns hold
 *     zeros. The sum over i is split into CRNN_NPART interleaved partial sums
 *     (input i goes to partial i % CRNN_NPART), each summed in order of i,
 *     then y = bias + ((p0 + p1) + (p2 + p3)).
 *   rows: a mel row r of M values may be read at r[-1] and r[M], which hold
 *     zeros (the conv's 'same' padding over mel). */
#ifndef VALAR_CRNN_KERN_H
#define VALAR_CRNN_KERN_H

#include "crnn.h"

#define CRNN_VW 16   /* outputs per panel: 1 AVX-512, 2 AVX, 4 SSE/NEON registers */
#define CRNN_NPART 4 /* partial sums per output; inputs are padded to a multiple */

/* One GRU direction (gates z, r, n as in crnn.h). */
typedef struct {
    int n_in;            /* inputs (D, padded to CRNN_NPART) */
    int H, Hp;           /* units; H padded to CRNN_NPART (h read as an input) */
    int n_zr, n_n;       /* output widths: z|r gates (2H) and n gate (H), padded to CRNN_VW */
    const float *wih;    /* panels [n_in] -> [n_zr + n_n]: z at 0, r at H, n at n_zr */
    const float *bias;   /* [n_zr + n_n], same columns */
    const float *uzr;    /* panels [Hp] -> [n_zr] */
    const float *un;     /* panels [Hp] -> [n_n] */
} crnn_gru;

/* Scratch floats gru_step needs for g. */
#define CRNN_GRU_SCRATCH(g) (2 * ((g)->n_zr + (g)->n_n) + (g)->Hp)

typedef struct {
    const char *name; /* "generic", "avx2", "avx512" */
    /* xn[m] = (x[m] - mean[m]) * istd[m] */
    void (*normalise)(const float *x, const float *mean, const float *istd, int M, float *xn);
    /* y[c*M + m] = relu(b[c] + sum_{i,j} w[c*9 + i*3 + j] * r_i[m + j - 1]) for
     * rows r0, r1, r2 (time offsets 0, 1, 2 of the kernel). */
    void (*conv)(const float *w, const float *b, const float *r0, const float *r1,
                 const float *r2, int C, int M, float *y);
    /* Matrix layout above. */
    void (*dense)(const float *w, const float *bias, const float *x, int n_in, int n_out,
                  float *y);
    /* The same for nf frames, x[f * xs + i] -> y[f * ys + o], bit-identical
     * to nf dense() calls but reading the weights once per few frames. */
    void (*dense_frames)(const float *w, const float *bias, const float *x, int xs, int nf,
                         int n_in, int n_out, float *y, int ys);
    /* dense() in parts, for a step spread over several calls: acc holds the
     * CRNN_NPART partial sums of every output, [n_out / CRNN_VW][CRNN_NPART]
     * [CRNN_VW], zero to start; dense_part adds inputs [i0, i1) (multiples
     * of CRNN_NPART), dense_end writes y = bias + ((p0 + p1) + (p2 + p3)).
     * Over parts that cover the inputs, bit-identical to dense(). */
    void (*dense_part)(const float *w, const float *x, int n_in, int n_out, int i0, int i1,
                       float *acc);
    void (*dense_end)(const float *bias, const float *acc, int n_out, float *y);
    /* h <- GRU(x, h); h has Hp floats whose padding stays zero. */
    void (*gru_step)(const crnn_gru *g, const float *x, float *h, float *scratch);
    /* out[p] = clip(max_k (b[p*K + k] + W x)[p*K + k]) for p < P; W: panels
     * [n_in] -> [n_out], n_out >= P*K; scratch holds n_out floats. */
    void (*maxout)(const float *w, const float *b, const float *x, int n_in, int n_out, int P,
                   int K, float *scratch, float *out);
    /* Benchmark: n rounds of independent multiply-adds in registers, the way
     * this set does them; returns the number done (the result is kept). */
    double (*peak)(long n, float *sink);
} crnn_kern;

/* The kernel set named want ("generic", "avx2", "avx512") if this CPU runs
 * it, else NULL; want NULL or "" gives the best set this CPU runs. */
const crnn_kern *crnn_kern_select(const char *want);
/* The i-th set this CPU runs (0 = generic), NULL past the last. */
const crnn_kern *crnn_kern_get(int i);
/* The set a network uses: the best one, unless the environment variable
 * VALAR_CRNN_KERNELS named another when it was created. */
const crnn_kern *crnn_kernels(const crnn *net);

#endif
