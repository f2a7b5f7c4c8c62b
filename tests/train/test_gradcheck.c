/* Finite-difference gradient checks, in double precision, for every layer
 * of the trainer (tl_* primitives) and for the whole network (offline and
 * streaming, separate and joint branches) in training mode: batch-norm batch
 * statistics, fixed dropout masks, ElasticNet on weights and activity,
 * unlabelled and invalid frames, streaming history rows and carried state.
 *
 * Central differences with step 1e-6; a gradient passes when
 * |analytic - numeric| <= 1e-3 * max(|analytic|, |numeric|) or the absolute
 * difference is below 1e-8 (gradients that are zero up to rounding, e.g.
 * conv.bias in front of batch norm). Also checks that a batch gives
 * bit-identical results with 1 and 3 threads. */
#include "tnet.h"
#include "tpool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static uint64_t rng = 12345;

static double rnd(void)
{
    return 2.0 * trng_uniform(&rng) - 1.0;
}

static void fill(double *p, size_t n, double s)
{
    for (size_t i = 0; i < n; i++)
        p[i] = s * rnd();
}

typedef double (*loss_fn)(void *ctx);

/* Compares analytic gradients g[i] of loss with central differences over
 * the n values at p. Returns the worst relative error. */
static double check(const char *what, loss_fn f, void *ctx, double *p, const double *g, size_t n)
{
    double worst = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = p[i], h = 1e-6;
        p[i] = keep + h;
        double lp = f(ctx);
        p[i] = keep - h;
        double lm = f(ctx);
        p[i] = keep;
        double num = (lp - lm) / (2 * h), an = g[i];
        double diff = fabs(num - an), scale = fmax(fabs(num), fabs(an));
        double rel = scale > 0 ? diff / scale : 0;
        if (diff > 1e-8 && rel > 1e-3) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: analytic %.9g numeric %.9g\n", what, i, an, num);
            bad++;
        }
        if (scale > 1e-6 && rel > worst)
            worst = rel;
    }
    printf("%-36s %5zu values, worst rel. error %.2e%s\n", what, n, worst, bad ? "  FAIL" : "");
    if (bad)
        failures++;
    return worst;
}

/* ---- conv ---- */
enum { L = 7, M = 5, C = 3, D = 4, H = 3, K = 3 };

static struct {
    double xin[(L + 3) * M], w[C * 9], b[C], y[L * C * M], R[L * C * M];
    int o;
} cv;

static double conv_loss(void *ctx)
{
    (void)ctx;
    tl_conv_fwd(cv.xin, L, M, C, cv.o, cv.w, cv.b, cv.y);
    double s = 0;
    for (int i = 0; i < L * C * M; i++)
        s += cv.R[i] * cv.y[i];
    return s;
}

static void test_conv(int o)
{
    cv.o = o;
    fill(cv.xin, sizeof cv.xin / sizeof(double), 1);
    /* the padding row after the end is zero by contract */
    memset(cv.xin + (L + 2) * M, 0, sizeof(double) * M);
    if (o == 1)
        memset(cv.xin, 0, sizeof(double) * M);
    fill(cv.w, C * 9, 1);
    fill(cv.b, C, 1);
    fill(cv.R, L * C * M, 1);
    double dw[C * 9] = {0}, db[C] = {0};
    tl_conv_bwd(cv.xin, L, M, C, o, cv.R, dw, db);
    check(o == 1 ? "conv (same) weight" : "conv (causal) weight", conv_loss, NULL, cv.w, dw, C * 9);
    check(o == 1 ? "conv (same) bias" : "conv (causal) bias", conv_loss, NULL, cv.b, db, C);
    /* the convolution itself, against a direct evaluation of the formula */
    conv_loss(NULL);
    double maxd = 0;
    for (int t = 0; t < L; t++)
        for (int c = 0; c < C; c++)
            for (int m = 0; m < M; m++) {
                double acc = cv.b[c];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        int tt = t + i - o, mm = m + j - 1;
                        if (mm < 0 || mm >= M || tt < -2 || tt > L)
                            continue;
                        acc += cv.w[c * 9 + i * 3 + j] * cv.xin[(tt + 2) * M + mm];
                    }
                maxd = fmax(maxd, fabs(acc - cv.y[(t * C + c) * M + m]));
            }
    printf("conv o=%d vs direct formula: max diff %.2e\n", o, maxd);
    if (maxd > 1e-12)
        failures++;
}

/* ---- batch norm over a batch of two sequences with an invalid frame ---- */
static struct {
    double y[2][L * C * M], R[2][L * C * M], g[C], b[C];
    double xh[2][L * C * M], out[2][L * C * M];
    unsigned char valid[2][L];
    double mean[C], istd[C], nv;
} bn;

static double bn_forward(void)
{
    double s1[C] = {0}, s2[C] = {0};
    bn.nv = 0;
    for (int k = 0; k < 2; k++) {
        tl_bn_sums(bn.y[k], bn.valid[k], L, C, M, s1, s2);
        for (int t = 0; t < L; t++)
            bn.nv += bn.valid[k][t] * M;
    }
    for (int c = 0; c < C; c++) {
        bn.mean[c] = s1[c] / bn.nv;
        bn.istd[c] = 1 / sqrt(s2[c] / bn.nv - bn.mean[c] * bn.mean[c] + 1e-3);
    }
    double s = 0;
    for (int k = 0; k < 2; k++) {
        tl_bn_apply(bn.y[k], L, C, M, bn.mean, bn.istd, bn.g, bn.b, bn.xh[k], bn.out[k]);
        for (int t = 0; t < L; t++)
            for (int i = 0; i < C * M; i++)
                s += bn.valid[k][t] ? bn.R[k][t * C * M + i] * bn.out[k][t * C * M + i] : 0;
    }
    return s;
}

static double bn_loss(void *ctx)
{
    (void)ctx;
    return bn_forward();
}

static void test_bn(void)
{
    fill(&bn.y[0][0], 2 * L * C * M, 2);
    fill(&bn.R[0][0], 2 * L * C * M, 1);
    fill(bn.g, C, 1);
    fill(bn.b, C, 1);
    memset(bn.valid, 1, sizeof bn.valid);
    bn.valid[1][L - 1] = 0;
    bn.valid[1][L - 2] = 0;
    bn_forward();
    double sd[C] = {0}, sdx[C] = {0}, dg[C] = {0}, db[C] = {0}, dy[2][L * C * M];
    for (int k = 0; k < 2; k++)
        tl_bn_bwd_sums(bn.R[k], bn.xh[k], bn.valid[k], L, C, M, sd, sdx, dg, db);
    for (int k = 0; k < 2; k++)
        tl_bn_bwd_apply(bn.R[k], bn.xh[k], bn.valid[k], L, C, M, bn.g, bn.istd, sd, sdx, bn.nv,
                        dy[k]);
    check("batch norm input", bn_loss, NULL, &bn.y[0][0], &dy[0][0], 2 * L * C * M);
    check("batch norm gamma", bn_loss, NULL, bn.g, dg, C);
    check("batch norm beta", bn_loss, NULL, bn.b, db, C);
}

/* ---- dense (on sparse input, as the network runs it) ---- */
static struct {
    double x[L * 6], W[D * 6], b[D], y[L * D], R[L * D];
    int nz[L * 6], nnz[L];
} dn;

/* The index lists of the nonzero inputs, recomputed from x at every call
 * as the network's forward pass does. */
static double dense_loss(void *ctx)
{
    (void)ctx;
    for (int t = 0; t < L; t++) {
        dn.nnz[t] = 0;
        for (int i = 0; i < 6; i++)
            if (dn.x[t * 6 + i] != 0.0)
                dn.nz[t * 6 + dn.nnz[t]++] = i;
    }
    tl_dense_fwd(dn.x, dn.nz, dn.nnz, L, 6, D, dn.W, dn.b, dn.y);
    double s = 0;
    for (int i = 0; i < L * D; i++)
        s += dn.R[i] * dn.y[i];
    return s;
}

/* sparse: some inputs zero (as after ReLU and dropout); the input gradient
 * is then only defined (and only checked) with every input nonzero */
static void test_dense(int sparse)
{
    fill(dn.x, L * 6, 1);
    if (sparse)
        for (int i = 0; i < L * 6; i += 3)
            dn.x[i] = 0.0;
    fill(dn.W, D * 6, 1);
    fill(dn.b, D, 1);
    fill(dn.R, L * D, 1);
    dense_loss(NULL);
    double dx[L * 6] = {0}, dW[D * 6] = {0}, db[D] = {0};
    tl_dense_bwd(dn.x, dn.nz, dn.nnz, L, 6, D, dn.W, dn.R, dx, dW, db);
    check(sparse ? "dense (sparse input) weight" : "dense weight", dense_loss, NULL, dn.W, dW,
          D * 6);
    check(sparse ? "dense (sparse input) bias" : "dense bias", dense_loss, NULL, dn.b, db, D);
    if (!sparse)
        check("dense input", dense_loss, NULL, dn.x, dx, L * 6);
}

/* ---- GRU ---- */
static struct {
    double x[L * D], Wih[3 * H * D], Whh[3 * H * H], b[3 * H], h0[H], R[L * H];
    double hs[(L + 1) * H], z[L * H], r[L * H], n[L * H];
    int rev;
} gr;

static double gru_loss(void *ctx)
{
    (void)ctx;
    tl_gru_fwd(gr.x, L, D, H, gr.Wih, gr.Whh, gr.b, gr.h0, gr.rev, gr.hs, gr.z, gr.r, gr.n);
    double s = 0;
    for (int t = 0; t < L; t++) {
        int st = gr.rev ? L - 1 - t : t;
        for (int k = 0; k < H; k++)
            s += gr.R[t * H + k] * gr.hs[(st + 1) * H + k];
    }
    return s;
}

static void test_gru(int rev)
{
    gr.rev = rev;
    fill(gr.x, L * D, 1);
    fill(gr.Wih, 3 * H * D, 1);
    fill(gr.Whh, 3 * H * H, 1);
    fill(gr.b, 3 * H, 0.5);
    fill(gr.h0, H, 0.8);
    fill(gr.R, L * H, 1);
    gru_loss(NULL);
    double dx[L * D] = {0}, dWih[3 * H * D] = {0}, dWhh[3 * H * H] = {0}, db[3 * H] = {0}, dh0[H];
    tl_gru_bwd(gr.x, L, D, H, gr.Wih, gr.Whh, gr.hs, gr.z, gr.r, gr.n, rev, gr.R, dx, dWih, dWhh,
               db, dh0);
    check(rev ? "GRU backward-in-time weight_ih" : "GRU weight_ih", gru_loss, NULL, gr.Wih, dWih,
          3 * H * D);
    check(rev ? "GRU backward-in-time weight_hh" : "GRU weight_hh", gru_loss, NULL, gr.Whh, dWhh,
          3 * H * H);
    check(rev ? "GRU backward-in-time bias" : "GRU bias", gru_loss, NULL, gr.b, db, 3 * H);
    check(rev ? "GRU backward-in-time input" : "GRU input", gru_loss, NULL, gr.x, dx, L * D);
    check(rev ? "GRU backward-in-time h0" : "GRU h0", gru_loss, NULL, gr.h0, dh0, H);
    /* one step against the equations of crnn.h */
    gru_loss(NULL);
    double h[H], maxd = 0;
    for (int k = 0; k < H; k++)
        h[k] = gr.h0[k];
    int t = rev ? L - 1 : 0;
    double zz[H], rr[H];
    for (int k = 0; k < H; k++) {
        double az = gr.b[k], ar = gr.b[H + k];
        for (int i = 0; i < D; i++) {
            az += gr.Wih[k * D + i] * gr.x[t * D + i];
            ar += gr.Wih[(H + k) * D + i] * gr.x[t * D + i];
        }
        for (int j = 0; j < H; j++) {
            az += gr.Whh[k * H + j] * h[j];
            ar += gr.Whh[(H + k) * H + j] * h[j];
        }
        zz[k] = 1 / (1 + exp(-az));
        rr[k] = 1 / (1 + exp(-ar));
    }
    for (int k = 0; k < H; k++) {
        double an = gr.b[2 * H + k];
        for (int i = 0; i < D; i++)
            an += gr.Wih[(2 * H + k) * D + i] * gr.x[t * D + i];
        for (int j = 0; j < H; j++)
            an += gr.Whh[(2 * H + k) * H + j] * rr[j] * h[j];
        double hn = zz[k] * h[k] + (1 - zz[k]) * tanh(an);
        maxd = fmax(maxd, fabs(hn - gr.hs[H + k]));
    }
    printf("GRU first step vs crnn.h equations: max diff %.2e\n", maxd);
    if (maxd > 1e-12)
        failures++;
}

/* ---- maxout ---- */
enum { G = 6, P = 2 };
static struct {
    double g[L * G], W[P * K * G], b[P * K], pre[L * P * K], out[L * P], R[L * P];
    int arg[L * P];
} mo;

static double maxout_loss(void *ctx)
{
    (void)ctx;
    tl_maxout_fwd(mo.g, L, G, P, K, mo.W, mo.b, mo.pre, mo.arg, mo.out);
    double s = 0;
    for (int i = 0; i < L * P; i++)
        s += mo.R[i] * mo.out[i];
    return s;
}

static void test_maxout(void)
{
    fill(mo.g, L * G, 1);
    fill(mo.W, P * K * G, 1);
    fill(mo.b, P * K, 1);
    fill(mo.R, L * P, 1);
    maxout_loss(NULL);
    double dg[L * G] = {0}, dW[P * K * G] = {0}, db[P * K] = {0};
    tl_maxout_bwd(mo.g, L, G, P, K, mo.W, mo.arg, mo.R, dg, dW, db);
    check("maxout weight", maxout_loss, NULL, mo.W, dW, P * K * G);
    check("maxout bias", maxout_loss, NULL, mo.b, db, P * K);
    check("maxout input", maxout_loss, NULL, mo.g, dg, L * G);
}

/* ---- whole network ---- */
enum { NS = 3 };
typedef struct {
    tnet *net;
    tseq *seqs[NS];
    tnet_reg reg;
    tpool *pool;
} whole;

static double whole_loss(void *ctx)
{
    whole *w = ctx;
    return tnet_batch(w->net, w->seqs, NS, &w->reg, 77, w->pool, 0, NULL, NULL);
}

static void test_whole(int kind, int joint)
{
    tnet_dims d = {kind, joint, M, C, D, H, K};
    whole w;
    memset(&w, 0, sizeof w);
    w.net = tnet_create(&d);
    tnet_init(w.net, 5);
    /* non-trivial biases, BN affine and maxout so that every path is used */
    double *th = w.net->theta;
    fill(th + w.net->conv_b, C, 0.3);
    for (int c = 0; c < C; c++) {
        th[w.net->bn_g + c] = 1 + 0.3 * rnd();
        th[w.net->bn_b + c] = 0.3 + 0.2 * rnd();
    }
    for (int b = 0; b < w.net->nbr; b++) {
        fill(th + w.net->br[b].dense_b, D, 0.3);
        for (int k = 0; k < w.net->ndir; k++)
            fill(th + w.net->br[b].gb[k], 3 * H, 0.3);
        fill(th + w.net->br[b].mo_w, (size_t)w.net->P * K * w.net->G, 1.0);
        fill(th + w.net->br[b].mo_b, (size_t)w.net->P * K, 0.3);
    }
    w.reg = (tnet_reg){0.25, 0.25, 0.01, 0.001, 0.01, 0.001};
    w.pool = tpool_create(1);
    for (int i = 0; i < NS; i++) {
        tseq *s = w.seqs[i] = tseq_create(w.net, L);
        s->L = L;
        memset(s->xin, 0, sizeof(double) * (L + 3) * M);
        /* streaming: history rows before the chunk; offline: row 1 is the
         * zero padding before the window */
        int first = kind ? 0 : 2;
        fill(s->xin + first * M, (size_t)(L + 2 - first) * M, 1.5);
        for (int t = 0; t < L; t++) {
            s->valid[t] = 1;
            s->lab[t] = (t + i) % 4 != 0;
            s->tgt[t * 2] = 0.6 * rnd();
            s->tgt[t * 2 + 1] = 0.6 * rnd();
        }
        if (i == 2) { /* a song that ends inside the chunk */
            s->valid[L - 1] = s->lab[L - 1] = 0;
            memset(s->xin + (L + 1) * M, 0, sizeof(double) * M);
        }
        if (kind)
            fill(s->h0, 2 * H, 0.5);
    }
    double *grad = calloc(w.net->n_params, sizeof(double));
    double rmse;
    tnet_batch(w.net, w.seqs, NS, &w.reg, 77, w.pool, 0, grad, &rmse);
    char what[64];
    snprintf(what, sizeof what, "whole net %s %s", kind ? "streaming" : "offline",
             joint ? "joint" : "separate");
    check(what, whole_loss, &w, w.net->theta, grad, w.net->n_params);

    /* same batch, 3 threads: bit-identical loss and gradient */
    tpool *p3 = tpool_create(3);
    double *g3 = calloc(w.net->n_params, sizeof(double));
    double l1 = tnet_batch(w.net, w.seqs, NS, &w.reg, 77, w.pool, 0, grad, NULL);
    double l3 = tnet_batch(w.net, w.seqs, NS, &w.reg, 77, p3, 0, g3, NULL);
    int same = l1 == l3 && !memcmp(grad, g3, sizeof(double) * w.net->n_params);
    printf("%s: 1 vs 3 threads %s\n", what, same ? "identical" : "DIFFER");
    if (!same)
        failures++;
    free(g3);
    tpool_destroy(p3);
    free(grad);
    for (int i = 0; i < NS; i++)
        tseq_destroy(w.seqs[i]);
    tpool_destroy(w.pool);
    tnet_destroy(w.net);
}

/* The input augmentation (not differentiated: it is applied to the data):
 * a shift by whole bands with the edge repeated, then the additive part,
 * then the normalisation. */
static void test_augment(void)
{
    tnet_dims d = {0, 0, 5, 1, 1, 1, 1};
    tnet *n = tnet_create(&d);
    tseq *s = n ? tseq_create(n, 1) : NULL;
    if (!s) {
        printf("FAIL augment: out of memory\n");
        failures++;
        tnet_destroy(n);
        return;
    }
    for (int m = 0; m < 5; m++) {
        n->in_mean[m] = 1;
        n->in_std[m] = 2;
    }
    const float x[5] = {1, 2, 3, 4, 5};
    const double add[5] = {0.5, 0, 0, 0, -0.5};
    const struct {
        taug a;
        int use;
        double want[5];
    } cases[] = {{{NULL, 2}, 1, {3, 4, 5, 5, 5}},
                 {{NULL, -1}, 1, {1, 1, 2, 3, 4}},
                 {{add, 1}, 1, {2.5, 3, 4, 5, 4.5}},
                 {{NULL, 0}, 0, {1, 2, 3, 4, 5}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tseq_set_input(n, s, 2, x, cases[c].use ? &cases[c].a : NULL);
        for (int m = 0; m < 5; m++)
            if (fabs(s->xin[2 * 5 + m] - (cases[c].want[m] - 1) / 2) > 1e-12) {
                printf("FAIL augment case %zu band %d: %g, want %g\n", c, m, s->xin[2 * 5 + m],
                       (cases[c].want[m] - 1) / 2);
                failures++;
            }
    }
    tseq_destroy(s);
    tnet_destroy(n);
}

int main(void)
{
    test_augment();
    test_conv(1);
    test_conv(2);
    test_bn();
    test_dense(0);
    test_dense(1);
    test_gru(0);
    test_gru(1);
    test_maxout();
    test_whole(0, 0);
    test_whole(0, 1);
    test_whole(1, 0);
    test_whole(1, 1);
    if (failures) {
        printf("%d checks FAILED\n", failures);
        return 1;
    }
    printf("all gradient checks passed\n");
    return 0;
}
