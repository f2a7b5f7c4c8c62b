#include "tnet.h"
#include "crnn_layout.h"
#include "tpool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t trng_mix(uint64_t a, uint64_t b)
{
    uint64_t s = a ^ (b * 0xD1B54A32D192ED03ull);
    splitmix(&s);
    return splitmix(&s);
}

double trng_uniform(uint64_t *state)
{
    return (double)(splitmix(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- layer primitives ---- */

/* y[t][c][m] = b[c] + sum_ij w[c][i][j] xin[t + i - o + 2][m + j - 1]. */
void tl_conv_fwd(const double *xin, int L, int M, int C, int o, const double *w, const double *b,
                 double *y)
{
    for (int t = 0; t < L; t++)
        for (int c = 0; c < C; c++) {
            double *yr = y + ((size_t)t * C + c) * M;
            for (int m = 0; m < M; m++)
                yr[m] = b[c];
            for (int i = 0; i < 3; i++) {
                const double *xr = xin + (size_t)(t + i - o + 2) * M;
                const double *wr = w + (c * 3 + i) * 3;
                for (int m = 0; m < M; m++) {
                    double acc = wr[1] * xr[m];
                    if (m > 0)
                        acc += wr[0] * xr[m - 1];
                    if (m + 1 < M)
                        acc += wr[2] * xr[m + 1];
                    yr[m] += acc;
                }
            }
        }
}

/* Accumulates into dw, db (the input is not trained, so no dx). */
void tl_conv_bwd(const double *xin, int L, int M, int C, int o, const double *dy, double *dw,
                 double *db)
{
    for (int t = 0; t < L; t++)
        for (int c = 0; c < C; c++) {
            const double *dr = dy + ((size_t)t * C + c) * M;
            double sb = 0;
            for (int m = 0; m < M; m++)
                sb += dr[m];
            db[c] += sb;
            for (int i = 0; i < 3; i++) {
                const double *xr = xin + (size_t)(t + i - o + 2) * M;
                double s0 = 0, s1 = 0, s2 = 0;
                for (int m = 0; m < M; m++) {
                    s1 += dr[m] * xr[m];
                    if (m > 0)
                        s0 += dr[m] * xr[m - 1];
                    if (m + 1 < M)
                        s2 += dr[m] * xr[m + 1];
                }
                double *wr = dw + (c * 3 + i) * 3;
                wr[0] += s0;
                wr[1] += s1;
                wr[2] += s2;
            }
        }
}

/* Adds per-channel sums of y and y^2 over the valid frames. */
void tl_bn_sums(const double *y, const unsigned char *valid, int L, int C, int M, double *s1,
                double *s2)
{
    for (int t = 0; t < L; t++) {
        if (!valid[t])
            continue;
        for (int c = 0; c < C; c++) {
            const double *yr = y + ((size_t)t * C + c) * M;
            for (int m = 0; m < M; m++) {
                s1[c] += yr[m];
                s2[c] += yr[m] * yr[m];
            }
        }
    }
}

void tl_bn_apply(const double *y, int L, int C, int M, const double *mean, const double *istd,
                 const double *gamma, const double *beta, double *xh, double *out)
{
    for (int t = 0; t < L; t++)
        for (int c = 0; c < C; c++) {
            size_t o = ((size_t)t * C + c) * M;
            for (int m = 0; m < M; m++) {
                xh[o + m] = (y[o + m] - mean[c]) * istd[c];
                out[o + m] = gamma[c] * xh[o + m] + beta[c];
            }
        }
}

/* Adds the sums the batch-norm backward pass needs (sum dout, sum dout*xh
 * per channel over valid frames); they are also dbeta and dgamma. */
void tl_bn_bwd_sums(const double *dout, const double *xh, const unsigned char *valid, int L, int C,
                    int M, double *sd, double *sdx, double *dgamma, double *dbeta)
{
    for (int t = 0; t < L; t++) {
        if (!valid[t])
            continue;
        for (int c = 0; c < C; c++) {
            size_t o = ((size_t)t * C + c) * M;
            double a = 0, b = 0;
            for (int m = 0; m < M; m++) {
                a += dout[o + m];
                b += dout[o + m] * xh[o + m];
            }
            sd[c] += a;
            sdx[c] += b;
            dgamma[c] += b;
            dbeta[c] += a;
        }
    }
}

/* dy = gamma istd (dout - mean(dout) - xh mean(dout xh)), batch means over
 * nv valid elements per channel; zero at invalid frames. */
void tl_bn_bwd_apply(const double *dout, const double *xh, const unsigned char *valid, int L, int C,
                     int M, const double *gamma, const double *istd, const double *sd,
                     const double *sdx, double nv, double *dy)
{
    for (int t = 0; t < L; t++)
        for (int c = 0; c < C; c++) {
            size_t o = ((size_t)t * C + c) * M;
            double k = gamma[c] * istd[c], md = sd[c] / nv, mdx = sdx[c] / nv;
            for (int m = 0; m < M; m++)
                dy[o + m] = valid[t] ? k * (dout[o + m] - md - xh[o + m] * mdx) : 0.0;
        }
}

/* The dense layer on the conv block's output, which is mostly zeros (ReLU,
 * and dropout in training): only the nonzero inputs nz[t][0..nnz[t]) are
 * visited, in ascending order.
 * y[t][d] = b[d] + W[d] . x[t]. */
void tl_dense_fwd(const double *x, const int *nz, const int *nnz, int L, int In, int D,
                  const double *W, const double *b, double *y)
{
    for (int t = 0; t < L; t++) {
        const double *xr = x + (size_t)t * In;
        const int *ix = nz + (size_t)t * In;
        for (int d = 0; d < D; d++) {
            const double *wr = W + (size_t)d * In;
            double acc = b[d];
            for (int j = 0; j < nnz[t]; j++)
                acc += wr[ix[j]] * xr[ix[j]];
            y[(size_t)t * D + d] = acc;
        }
    }
}

/* Accumulates dx, dW, db. dx only where x is nonzero: elsewhere the gradient
 * is cut by ReLU or dropout anyway (see bwd_top). */
void tl_dense_bwd(const double *x, const int *nz, const int *nnz, int L, int In, int D,
                  const double *W, const double *dy, double *dx, double *dW, double *db)
{
    for (int t = 0; t < L; t++) {
        const double *xr = x + (size_t)t * In;
        const int *ix = nz + (size_t)t * In;
        double *dxr = dx + (size_t)t * In;
        for (int d = 0; d < D; d++) {
            double g = dy[(size_t)t * D + d];
            if (g == 0.0)
                continue;
            const double *wr = W + (size_t)d * In;
            double *dwr = dW + (size_t)d * In;
            db[d] += g;
            for (int j = 0; j < nnz[t]; j++) {
                int i = ix[j];
                dwr[i] += g * xr[i];
                dxr[i] += g * wr[i];
            }
        }
    }
}

static double sigm(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* Step s handles frame t = s (or L-1-s when reverse); hs[0] = h0 and
 * hs[s+1] is the state after step s, which is the output at frame t.
 * z, r, n are stored per step. Rows of Wih/Whh/b: z, r, n. */
void tl_gru_fwd(const double *x, int L, int D, int H, const double *Wih, const double *Whh,
                const double *b, const double *h0, int reverse, double *hs, double *z, double *r,
                double *n)
{
    memcpy(hs, h0, sizeof(double) * (size_t)H);
    for (int s = 0; s < L; s++) {
        int t = reverse ? L - 1 - s : s;
        const double *xt = x + (size_t)t * D, *h = hs + (size_t)s * H;
        double *hn = hs + (size_t)(s + 1) * H;
        double *zs = z + (size_t)s * H, *rs = r + (size_t)s * H, *ns = n + (size_t)s * H;
        for (int k = 0; k < H; k++) {
            double az = b[k], ar = b[H + k];
            for (int i = 0; i < D; i++) {
                az += Wih[(size_t)k * D + i] * xt[i];
                ar += Wih[(size_t)(H + k) * D + i] * xt[i];
            }
            for (int j = 0; j < H; j++) {
                az += Whh[(size_t)k * H + j] * h[j];
                ar += Whh[(size_t)(H + k) * H + j] * h[j];
            }
            zs[k] = sigm(az);
            rs[k] = sigm(ar);
        }
        for (int k = 0; k < H; k++) {
            double an = b[2 * H + k];
            for (int i = 0; i < D; i++)
                an += Wih[(size_t)(2 * H + k) * D + i] * xt[i];
            for (int j = 0; j < H; j++)
                an += Whh[(size_t)(2 * H + k) * H + j] * (rs[j] * h[j]);
            ns[k] = tanh(an);
            hn[k] = zs[k] * h[k] + (1.0 - zs[k]) * ns[k];
        }
    }
}

/* dh: gradient of the loss w.r.t. the output at each frame (L x H, by
 * frame). Accumulates dx, dWih, dWhh, db; dh0 (if not NULL) receives the
 * gradient w.r.t. the initial state. */
void tl_gru_bwd(const double *x, int L, int D, int H, const double *Wih, const double *Whh,
                const double *hs, const double *z, const double *r, const double *n, int reverse,
                const double *dh, double *dx, double *dWih, double *dWhh, double *db, double *dh0)
{
    double carry[64], dan[64], daz[64], dar[64], drh[64];
    if (H > 64)
        abort(); /* sizes are checked at create */
    memset(carry, 0, sizeof carry);
    for (int s = L - 1; s >= 0; s--) {
        int t = reverse ? L - 1 - s : s;
        const double *xt = x + (size_t)t * D, *h = hs + (size_t)s * H;
        const double *zs = z + (size_t)s * H, *rs = r + (size_t)s * H, *ns = n + (size_t)s * H;
        double *dxt = dx + (size_t)t * D;
        double dhp[64];
        for (int k = 0; k < H; k++) {
            double g = carry[k] + dh[(size_t)t * H + k];
            double dz = g * (h[k] - ns[k]);
            double dn = g * (1.0 - zs[k]);
            dhp[k] = g * zs[k];
            dan[k] = dn * (1.0 - ns[k] * ns[k]);
            daz[k] = dz * zs[k] * (1.0 - zs[k]);
        }
        /* n gate: an = Wn x + Un (r h) + bn */
        for (int j = 0; j < H; j++) {
            double acc = 0;
            for (int k = 0; k < H; k++)
                acc += Whh[(size_t)(2 * H + k) * H + j] * dan[k];
            drh[j] = acc;
        }
        for (int j = 0; j < H; j++) {
            dar[j] = drh[j] * h[j] * rs[j] * (1.0 - rs[j]);
            dhp[j] += drh[j] * rs[j];
        }
        for (int g = 0; g < 3; g++) {
            const double *da = g == 0 ? daz : g == 1 ? dar : dan;
            for (int k = 0; k < H; k++) {
                size_t row = (size_t)(g * H + k);
                double d = da[k];
                db[row] += d;
                for (int i = 0; i < D; i++) {
                    dWih[row * D + i] += d * xt[i];
                    dxt[i] += d * Wih[row * D + i];
                }
                for (int j = 0; j < H; j++) {
                    double hj = g == 2 ? rs[j] * h[j] : h[j];
                    dWhh[row * H + j] += d * hj;
                    if (g < 2)
                        dhp[j] += d * Whh[row * H + j];
                }
            }
        }
        memcpy(carry, dhp, sizeof(double) * (size_t)H);
    }
    if (dh0)
        memcpy(dh0, carry, sizeof(double) * (size_t)H);
}

/* pre[t][p][k] = W[p][k] . g[t] + b[p][k]; out[t][p] = max_k pre. */
void tl_maxout_fwd(const double *g, int L, int G, int P, int K, const double *W, const double *b,
                   double *pre, int *arg, double *out)
{
    for (int t = 0; t < L; t++) {
        const double *gt = g + (size_t)t * G;
        for (int p = 0; p < P; p++) {
            int best = 0;
            double bv = 0;
            for (int k = 0; k < K; k++) {
                const double *wr = W + ((size_t)p * K + k) * G;
                double acc = b[p * K + k];
                for (int i = 0; i < G; i++)
                    acc += wr[i] * gt[i];
                pre[((size_t)t * P + p) * K + k] = acc;
                if (k == 0 || acc > bv) {
                    bv = acc;
                    best = k;
                }
            }
            arg[t * P + p] = best;
            out[t * P + p] = bv;
        }
    }
}

/* Accumulates dg, dW, db. */
void tl_maxout_bwd(const double *g, int L, int G, int P, int K, const double *W, const int *arg,
                   const double *dout, double *dg, double *dW, double *db)
{
    for (int t = 0; t < L; t++)
        for (int p = 0; p < P; p++) {
            double d = dout[t * P + p];
            int k = arg[t * P + p];
            const double *wr = W + ((size_t)p * K + k) * G;
            double *dwr = dW + ((size_t)p * K + k) * G;
            db[p * K + k] += d;
            for (int i = 0; i < G; i++) {
                dwr[i] += d * g[(size_t)t * G + i];
                dg[(size_t)t * G + i] += d * wr[i];
            }
        }
}

/* ---- the network ---- */

static crnn_dims layout_dims(const tnet_dims *d)
{
    return (crnn_dims){d->kind, d->joint, d->M, d->C, d->D, d->H, d->K};
}

/* Where a trainable tensor of the layout lives in theta. */
static size_t *param_offset(tnet *n, const crnn_tensor *t)
{
    tnet_branch *br = &n->br[t->branch];
    switch (t->id) {
    case CRNN_CONV_W:
        return &n->conv_w;
    case CRNN_CONV_B:
        return &n->conv_b;
    case CRNN_BN_GAMMA:
        return &n->bn_g;
    case CRNN_BN_BETA:
        return &n->bn_b;
    case CRNN_DENSE_W:
        return &br->dense_w;
    case CRNN_DENSE_B:
        return &br->dense_b;
    case CRNN_GRU_WIH:
    case CRNN_GRU_BW_WIH:
        return &br->wih[t->id == CRNN_GRU_BW_WIH];
    case CRNN_GRU_WHH:
    case CRNN_GRU_BW_WHH:
        return &br->whh[t->id == CRNN_GRU_BW_WHH];
    case CRNN_GRU_B:
    case CRNN_GRU_BW_B:
        return &br->gb[t->id == CRNN_GRU_BW_B];
    case CRNN_MAXOUT_W:
        return &br->mo_w;
    default: /* CRNN_MAXOUT_B */
        return &br->mo_b;
    }
}

tnet *tnet_create(const tnet_dims *d)
{
    if (d->M < 1 || d->C < 1 || d->D < 1 || d->H < 1 || d->H > 64 || d->C > 64 || d->K < 1 ||
        (d->kind != 0 && d->kind != 1))
        return NULL;
    tnet *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    const crnn_dims ld = layout_dims(d);
    n->d = *d;
    n->nbr = crnn_dims_branches(&ld);
    n->P = crnn_dims_outputs(&ld);
    n->ndir = crnn_dims_dirs(&ld);
    n->G = crnn_dims_gru_out(&ld);
    n->bn_eps = 1e-3;      /* Keras' default */
    n->bn_momentum = 0.99; /* Keras' default */
    /* theta: the trainable tensors one after the other, in layout order */
    size_t o = 0, C = (size_t)d->C, M = (size_t)d->M;
    crnn_tensor t;
    for (int i = 0; crnn_layout_tensor(&ld, i, &t); i++)
        if (t.trainable) {
            *param_offset(n, &t) = o;
            o += t.count;
        }
    n->n_params = o;
    n->theta = calloc(o, sizeof(double));
    n->bn_mean = calloc(C, sizeof(double));
    n->bn_var = calloc(C, sizeof(double));
    n->in_mean = calloc(M, sizeof(double));
    n->in_std = calloc(M, sizeof(double));
    if (!n->theta || !n->bn_mean || !n->bn_var || !n->in_mean || !n->in_std) {
        tnet_destroy(n);
        return NULL;
    }
    for (size_t c = 0; c < C; c++) {
        n->bn_var[c] = 1;
        n->theta[n->bn_g + c] = 1;
    }
    for (size_t m = 0; m < M; m++)
        n->in_std[m] = 1;
    return n;
}

void tnet_destroy(tnet *n)
{
    if (!n)
        return;
    free(n->theta);
    free(n->bn_mean);
    free(n->bn_var);
    free(n->in_mean);
    free(n->in_std);
    free(n);
}

static void fill_uniform(double *p, size_t cnt, double lim, uint64_t *rng)
{
    for (size_t i = 0; i < cnt; i++)
        p[i] = (2.0 * trng_uniform(rng) - 1.0) * lim;
}

/* Orthogonal H x H block by Gram-Schmidt on a random matrix. */
static void fill_orthogonal(double *q, int H, uint64_t *rng)
{
    for (int i = 0; i < H; i++) {
        for (;;) {
            double *row = q + (size_t)i * H;
            fill_uniform(row, (size_t)H, 1.0, rng);
            for (int j = 0; j < i; j++) {
                const double *pj = q + (size_t)j * H;
                double dot = 0;
                for (int k = 0; k < H; k++)
                    dot += row[k] * pj[k];
                for (int k = 0; k < H; k++)
                    row[k] -= dot * pj[k];
            }
            double nrm = 0;
            for (int k = 0; k < H; k++)
                nrm += row[k] * row[k];
            nrm = sqrt(nrm);
            if (nrm > 1e-6) {
                for (int k = 0; k < H; k++)
                    row[k] /= nrm;
                break;
            }
        }
    }
}

void tnet_init(tnet *n, uint64_t seed)
{
    const tnet_dims *d = &n->d;
    uint64_t rng = trng_mix(seed, 0x1417);
    double *th = n->theta;
    memset(th, 0, sizeof(double) * n->n_params);
    fill_uniform(th + n->conv_w, (size_t)d->C * 9, sqrt(6.0 / (9.0 + 9.0 * d->C)), &rng);
    for (int c = 0; c < d->C; c++) {
        th[n->bn_g + c] = 1;
        n->bn_mean[c] = 0;
        n->bn_var[c] = 1;
    }
    for (int b = 0; b < n->nbr; b++) {
        tnet_branch *br = &n->br[b];
        int in = d->C * d->M;
        fill_uniform(th + br->dense_w, (size_t)d->D * in, sqrt(6.0 / (in + d->D)), &rng);
        for (int k = 0; k < n->ndir; k++) {
            fill_uniform(th + br->wih[k], (size_t)3 * d->H * d->D, sqrt(6.0 / (d->D + 3 * d->H)),
                         &rng);
            for (int g = 0; g < 3; g++)
                fill_orthogonal(th + br->whh[k] + (size_t)g * d->H * d->H, d->H, &rng);
        }
        fill_uniform(th + br->mo_w, (size_t)n->P * d->K * n->G, sqrt(6.0 / (n->G + d->K)), &rng);
    }
}

/* ---- weight files ---- */

/* Where a tensor of the layout lives in the net. */
static double *tensor_data(tnet *n, const crnn_tensor *t)
{
    switch (t->id) {
    case CRNN_INPUT_MEAN:
        return n->in_mean;
    case CRNN_INPUT_STD:
        return n->in_std;
    case CRNN_BN_MEAN:
        return n->bn_mean;
    case CRNN_BN_VAR:
        return n->bn_var;
    default:
        return n->theta + *param_offset(n, t);
    }
}

static int add_t(weights *w, const crnn_tensor *t, const double *p)
{
    float *f = malloc(sizeof(float) * t->count);
    if (!f)
        return VALAR_ERR_NOMEM;
    for (size_t i = 0; i < t->count; i++)
        f[i] = (float)p[i];
    int err = weights_add(w, t->name, t->ndim, t->shape, f);
    free(f);
    return err;
}

weights *tnet_to_weights(const tnet *n, const melspec_config *fc)
{
    weights *w = weights_create();
    if (!w)
        return NULL;
    const crnn_dims ld = layout_dims(&n->d);
    crnn_tensor t;
    int err = 0;
    for (int i = 0; crnn_layout_tensor(&ld, i, &t); i++)
        err |= add_t(w, &t, tensor_data((tnet *)n, &t)); /* only read */
    err |= weights_set_meta(w, "format", "valar-crnn");
    err |= weights_set_meta(w, "version", "1");
    err |= weights_set_meta(w, "kind", n->d.kind ? "streaming" : "offline");
    err |= weights_set_meta(w, "branches", n->d.joint ? "joint" : "separate");
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", n->bn_eps);
    err |= weights_set_meta(w, "bn_eps", buf);
    if (fc)
        err |= melspec_config_write(fc, w);
    if (err) {
        weights_destroy(w);
        return NULL;
    }
    return w;
}

int tnet_from_weights(const weights *w, tnet **out, char *msg, size_t msglen)
{
    *out = NULL;
    crnn_dims ld;
    double eps;
    const float *data[CRNN_MAX_BRANCHES][CRNN_N_TENSORS];
    int err = crnn_layout_read(w, &ld, &eps, msg, msglen);
    if (!err)
        err = crnn_layout_check(w, &ld, data, msg, msglen);
    if (err)
        return err;
    tnet_dims d = {ld.streaming, ld.joint, ld.M, ld.C, ld.D, ld.H, ld.K};
    tnet *n = tnet_create(&d);
    if (!n)
        return valar_fail(msg, msglen, VALAR_ERR_SHAPE,
                          "dimensions the trainer cannot use (M %d C %d D %d H %d K %d; H and C "
                          "at most 64)",
                          d.M, d.C, d.D, d.H, d.K);
    n->bn_eps = eps;
    crnn_tensor t;
    for (int i = 0; crnn_layout_tensor(&ld, i, &t); i++) {
        double *p = tensor_data(n, &t);
        for (size_t k = 0; k < t.count; k++)
            p[k] = data[t.branch][t.id][k];
    }
    *out = n;
    return 0;
}

/* ---- sequences ---- */

tseq *tseq_create(const tnet *n, int cap)
{
    const tnet_dims *d = &n->d;
    tseq *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t cm = (size_t)cap * d->C * d->M, nb = (size_t)n->nbr;
    int ok = 1;
#define A(p, cnt)                                                                                  \
    do {                                                                                           \
        (p) = calloc((cnt) > 0 ? (cnt) : 1, sizeof *(p));                                          \
        ok &= (p) != NULL;                                                                         \
    } while (0)
    s->cap = cap;
    A(s->xin, (size_t)(cap + 3) * d->M);
    A(s->valid, (size_t)cap);
    A(s->lab, (size_t)cap);
    A(s->tgt, (size_t)cap * 2);
    A(s->h0, (size_t)2 * d->H);
    A(s->y, cm);
    A(s->xh, cm);
    A(s->a, cm);
    A(s->am, cm);
    A(s->dmc, cm);
    A(s->nz, cm);
    A(s->nnz, (size_t)cap);
    A(s->dn, nb * cap * d->D);
    A(s->gin, nb * cap * d->D);
    A(s->dmg, nb * cap * d->D);
    for (int b = 0; b < n->nbr; b++)
        for (int k = 0; k < n->ndir; k++) {
            A(s->hs[b][k], (size_t)(cap + 1) * d->H);
            A(s->z[b][k], (size_t)cap * d->H);
            A(s->r[b][k], (size_t)cap * d->H);
            A(s->nn[b][k], (size_t)cap * d->H);
        }
    A(s->g, nb * cap * n->G);
    A(s->pre, nb * cap * n->P * d->K);
    A(s->arg, nb * cap * n->P);
    A(s->out, (size_t)cap * 2);
    A(s->da, cm);
    A(s->dgin, (size_t)cap * d->D);
    A(s->dhs, (size_t)cap * d->H);
    A(s->dg, (size_t)cap * n->G);
    A(s->dout, (size_t)cap * n->P);
    A(s->grad, n->n_params);
    A(s->s1, (size_t)d->C);
    A(s->s2, (size_t)d->C);
    A(s->sd, (size_t)d->C);
    A(s->sdx, (size_t)d->C);
#undef A
    if (!ok) {
        tseq_destroy(s);
        return NULL;
    }
    return s;
}

void tseq_destroy(tseq *s)
{
    if (!s)
        return;
    void *p[] = {s->xin,  s->valid, s->lab, s->tgt,  s->h0,   s->y,  s->xh,  s->a,   s->am,  s->dmc,
                 s->nz,   s->nnz,   s->dn,  s->gin,  s->dmg,  s->g,  s->pre, s->arg, s->out, s->da,
                 s->dgin, s->dhs,   s->dg,  s->dout, s->grad, s->s1, s->s2,  s->sd,  s->sdx};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        free(p[i]);
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 2; k++) {
            free(s->hs[b][k]);
            free(s->z[b][k]);
            free(s->r[b][k]);
            free(s->nn[b][k]);
        }
    free(s);
}

void tseq_set_input(const tnet *n, tseq *s, int row, const float *x, const taug *aug)
{
    int M = n->d.M, k = aug ? aug->bands : 0;
    const double *add = aug ? aug->add : NULL;
    double *dst = s->xin + (size_t)row * M;
    for (int m = 0; m < M; m++) {
        int src = m + k < 0 ? 0 : m + k >= M ? M - 1 : m + k;
        dst[m] = x ? ((double)x[src] + (add ? add[m] : 0) - n->in_mean[m]) / n->in_std[m] : 0.0;
    }
}

/* The conv block's output a through ReLU (zero at invalid frames) and
 * dropout (rate pc, masks from *rng) into am, with its activity sums and
 * the nonzero indices per frame. */
static void relu_dropout(const tnet *n, tseq *s, double pc, uint64_t *rng)
{
    const int L = s->L, CM = n->d.C * n->d.M;
    s->act_abs = s->act_sq = 0;
    for (int t = 0; t < L; t++) {
        int *ix = s->nz + (size_t)t * CM, cnt = 0;
        for (int i = 0; i < CM; i++) {
            size_t o = (size_t)t * CM + i;
            double v = s->valid[t] && s->a[o] > 0 ? s->a[o] : 0.0;
            s->a[o] = v;
            s->act_abs += v;
            s->act_sq += v * v;
            double k = 1.0;
            if (pc > 0)
                k = trng_uniform(rng) < pc ? 0.0 : 1.0 / (1.0 - pc);
            s->dmc[o] = k;
            s->am[o] = v * k;
            if (s->am[o] != 0.0)
                ix[cnt++] = i;
        }
        s->nnz[t] = cnt;
    }
}

/* Branch b: dense, dropout on the GRU input (rate pg), GRU(s), maxout into
 * s->out. */
static void fwd_branch(const tnet *n, tseq *s, int b, double pg, uint64_t *rng)
{
    const tnet_dims *d = &n->d;
    const double *th = n->theta;
    const tnet_branch *br = &n->br[b];
    const int L = s->L, CM = d->C * d->M;
    size_t ob = (size_t)b * s->cap;
    double *dn = s->dn + ob * d->D, *gin = s->gin + ob * d->D, *dmg = s->dmg + ob * d->D;
    tl_dense_fwd(s->am, s->nz, s->nnz, L, CM, d->D, th + br->dense_w, th + br->dense_b, dn);
    for (int i = 0; i < L * d->D; i++) {
        double k = 1.0;
        if (pg > 0)
            k = trng_uniform(rng) < pg ? 0.0 : 1.0 / (1.0 - pg);
        dmg[i] = k;
        gin[i] = dn[i] * k;
    }
    double zero[64] = {0};
    double *g = s->g + ob * n->G;
    for (int k = 0; k < n->ndir; k++) {
        tl_gru_fwd(gin, L, d->D, d->H, th + br->wih[k], th + br->whh[k], th + br->gb[k],
                   k == 0 ? s->h0 + (size_t)b * d->H : zero, k, s->hs[b][k], s->z[b][k], s->r[b][k],
                   s->nn[b][k]);
        for (int t = 0; t < L; t++) {
            int st = k ? L - 1 - t : t;
            memcpy(g + (size_t)t * n->G + k * d->H, s->hs[b][k] + (size_t)(st + 1) * d->H,
                   sizeof(double) * (size_t)d->H);
        }
    }
    double ob2[2];
    for (int t = 0; t < L; t++) {
        tl_maxout_fwd(g + (size_t)t * n->G, 1, n->G, n->P, d->K, th + br->mo_w, th + br->mo_b,
                      s->pre + (ob * n->P + (size_t)t * n->P) * d->K,
                      s->arg + ob * n->P + (size_t)t * n->P, ob2);
        for (int p = 0; p < n->P; p++)
            s->out[t * 2 + (n->d.joint ? p : b)] = ob2[p];
    }
}

/* Everything after batch norm for one sequence: ReLU, dropout, branches,
 * outputs. bn_out is in s->a on entry. train: draw dropout masks. */
static void fwd_top(const tnet *n, tseq *s, const tnet_reg *reg, uint64_t rng, int train)
{
    double pc = train && reg ? reg->drop_conv : 0, pg = train && reg ? reg->drop_gru : 0;
    relu_dropout(n, s, pc, &rng);
    for (int b = 0; b < n->nbr; b++)
        fwd_branch(n, s, b, pg, &rng);
    s->sse = s->nlab = 0;
    s->nvalid = 0;
    for (int t = 0; t < s->L; t++) {
        s->nvalid += s->valid[t];
        if (!s->lab[t])
            continue;
        for (int p = 0; p < 2; p++) {
            double e = s->out[t * 2 + p] - s->tgt[t * 2 + p];
            s->sse += e * e;
        }
        s->nlab += 1;
    }
}

void tnet_eval_seq(const tnet *n, tseq *s, float *pred, double *h_last)
{
    const tnet_dims *d = &n->d;
    const double *th = n->theta;
    double istd[64]; /* C <= 64 (tnet_create) */
    for (int c = 0; c < d->C; c++)
        istd[c] = 1.0 / sqrt(n->bn_var[c] + n->bn_eps);
    tl_conv_fwd(s->xin, s->L, d->M, d->C, d->kind ? 2 : 1, th + n->conv_w, th + n->conv_b, s->y);
    tl_bn_apply(s->y, s->L, d->C, d->M, n->bn_mean, istd, th + n->bn_g, th + n->bn_b, s->xh, s->a);
    fwd_top(n, s, NULL, 0, 0);
    if (pred)
        for (int i = 0; i < s->L * 2; i++) {
            double v = s->out[i];
            pred[i] = (float)(v > 1 ? 1 : v < -1 ? -1 : v);
        }
    if (h_last)
        for (int b = 0; b < n->nbr; b++)
            memcpy(h_last + (size_t)b * d->H, s->hs[b][0] + (size_t)s->L * d->H,
                   sizeof(double) * (size_t)d->H);
}

/* Backward from the outputs to the BN output for one sequence; fills
 * s->grad for everything above the conv and the BN partial sums. */
static void bwd_top(const tnet *n, tseq *s, const tnet_reg *reg, double dscale, double nact)
{
    const tnet_dims *d = &n->d;
    const double *th = n->theta;
    int L = s->L, CM = d->C * d->M;
    double *gr = s->grad;
    memset(s->da, 0, sizeof(double) * (size_t)L * CM);
    for (int b = 0; b < n->nbr; b++) {
        const tnet_branch *br = &n->br[b];
        size_t ob = (size_t)b * s->cap;
        for (int t = 0; t < L; t++)
            for (int p = 0; p < n->P; p++) {
                int col = d->joint ? p : b;
                s->dout[t * n->P + p] =
                    s->lab[t] ? (s->out[t * 2 + col] - s->tgt[t * 2 + col]) * dscale : 0.0;
            }
        double *g = s->g + ob * n->G;
        memset(s->dg, 0, sizeof(double) * (size_t)L * n->G);
        tl_maxout_bwd(g, L, n->G, n->P, d->K, th + br->mo_w, s->arg + ob * n->P, s->dout, s->dg,
                      gr + br->mo_w, gr + br->mo_b);
        memset(s->dgin, 0, sizeof(double) * (size_t)L * d->D);
        double *gin = s->gin + ob * d->D;
        for (int k = 0; k < n->ndir; k++) {
            for (int t = 0; t < L; t++)
                memcpy(s->dhs + (size_t)t * d->H, s->dg + (size_t)t * n->G + k * d->H,
                       sizeof(double) * (size_t)d->H);
            tl_gru_bwd(gin, L, d->D, d->H, th + br->wih[k], th + br->whh[k], s->hs[b][k],
                       s->z[b][k], s->r[b][k], s->nn[b][k], k, s->dhs, s->dgin, gr + br->wih[k],
                       gr + br->whh[k], gr + br->gb[k], NULL);
        }
        const double *dmg = s->dmg + ob * d->D;
        for (int i = 0; i < L * d->D; i++)
            s->dgin[i] *= dmg[i];
        tl_dense_bwd(s->am, s->nz, s->nnz, L, CM, d->D, th + br->dense_w, s->dgin, s->da,
                     gr + br->dense_w, gr + br->dense_b);
    }
    /* through dropout, the activity penalty and ReLU to the BN output */
    double l1 = reg ? reg->act_l1 / nact : 0, l2 = reg ? 2.0 * reg->act_l2 / nact : 0;
    for (size_t i = 0; i < (size_t)L * CM; i++) {
        double a = s->a[i];
        s->da[i] = a > 0 ? s->da[i] * s->dmc[i] + l1 + l2 * a : 0.0;
    }
    memset(s->sd, 0, sizeof(double) * (size_t)d->C);
    memset(s->sdx, 0, sizeof(double) * (size_t)d->C);
    tl_bn_bwd_sums(s->da, s->xh, s->valid, L, d->C, d->M, s->sd, s->sdx, gr + n->bn_g,
                   gr + n->bn_b);
}

/* ---- batches ---- */

typedef struct {
    tnet *n;
    tseq **seqs;
    const tnet_reg *reg;
    uint64_t seed;
    double mean[64], istd[64], sd[64], sdx[64];
    double nv, dscale, nact;
} batch_ctx;

/* Pool threads (tpool.h), as the jobs below: one sequence each. */
static void job_conv(void *ctx, int i)
{
    batch_ctx *b = ctx;
    const tnet *n = b->n;
    tseq *s = b->seqs[i];
    const tnet_dims *d = &n->d;
    tl_conv_fwd(s->xin, s->L, d->M, d->C, d->kind ? 2 : 1, n->theta + n->conv_w,
                n->theta + n->conv_b, s->y);
    memset(s->s1, 0, sizeof(double) * (size_t)d->C);
    memset(s->s2, 0, sizeof(double) * (size_t)d->C);
    tl_bn_sums(s->y, s->valid, s->L, d->C, d->M, s->s1, s->s2);
}

static void job_top(void *ctx, int i)
{
    batch_ctx *b = ctx;
    const tnet *n = b->n;
    tseq *s = b->seqs[i];
    const tnet_dims *d = &n->d;
    tl_bn_apply(s->y, s->L, d->C, d->M, b->mean, b->istd, n->theta + n->bn_g, n->theta + n->bn_b,
                s->xh, s->a);
    fwd_top(n, s, b->reg, trng_mix(b->seed, (uint64_t)i), 1);
}

static void job_bwd_top(void *ctx, int i)
{
    batch_ctx *b = ctx;
    tseq *s = b->seqs[i];
    memset(s->grad, 0, sizeof(double) * b->n->n_params);
    bwd_top(b->n, s, b->reg, b->dscale, b->nact);
}

static void job_bwd_conv(void *ctx, int i)
{
    batch_ctx *b = ctx;
    const tnet *n = b->n;
    tseq *s = b->seqs[i];
    const tnet_dims *d = &n->d;
    /* dy goes into s->am, no longer needed */
    tl_bn_bwd_apply(s->da, s->xh, s->valid, s->L, d->C, d->M, n->theta + n->bn_g, b->istd, b->sd,
                    b->sdx, b->nv, s->am);
    tl_conv_bwd(s->xin, s->L, d->M, d->C, d->kind ? 2 : 1, s->am, s->grad + n->conv_w,
                s->grad + n->conv_b);
}

/* The batch's batch-norm statistics from the sequences' sums (into b), and
 * with update_stats the running ones. */
static void batch_norm_stats(tnet *n, tseq **seqs, int N, int update_stats, batch_ctx *b)
{
    const int C = n->d.C;
    double s1[64] = {0}, s2[64] = {0};
    b->nv = 0;
    for (int i = 0; i < N; i++) {
        for (int c = 0; c < C; c++) {
            s1[c] += seqs[i]->s1[c];
            s2[c] += seqs[i]->s2[c];
        }
        for (int t = 0; t < seqs[i]->L; t++)
            b->nv += seqs[i]->valid[t];
    }
    b->nv *= n->d.M;
    double nv = b->nv > 0 ? b->nv : 1;
    for (int c = 0; c < C; c++) {
        double mean = s1[c] / nv, var = s2[c] / nv - mean * mean;
        if (var < 0)
            var = 0;
        b->mean[c] = mean;
        b->istd[c] = 1.0 / sqrt(var + n->bn_eps);
        if (update_stats && b->nv > 1) {
            double m = n->bn_momentum;
            n->bn_mean[c] = m * n->bn_mean[c] + (1 - m) * mean;
            n->bn_var[c] = m * n->bn_var[c] + (1 - m) * var * b->nv / (b->nv - 1);
        }
    }
}

/* The loss from the sequences' sums; *rmse its RMSE part; b->nact and
 * b->dscale for the backward pass. */
static double batch_loss(const tnet *n, tseq **seqs, int N, const tnet_reg *reg, batch_ctx *b,
                         double *rmse)
{
    const int C = n->d.C;
    double sse = 0, nlab = 0, aabs = 0, asq = 0;
    for (int i = 0; i < N; i++) {
        sse += seqs[i]->sse;
        nlab += seqs[i]->nlab;
        aabs += seqs[i]->act_abs;
        asq += seqs[i]->act_sq;
    }
    b->nact = (b->nv > 0 ? b->nv : 1) * C;
    double r = nlab > 0 ? sqrt(sse / (2.0 * nlab)) : 0.0;
    b->dscale = r > 0 ? 1.0 / (2.0 * nlab * r) : 0.0;
    double loss = r + reg->act_l1 * aabs / b->nact + reg->act_l2 * asq / b->nact;
    const double *cw = n->theta + n->conv_w;
    for (int i = 0; i < C * 9; i++)
        loss += reg->l1 * fabs(cw[i]) + reg->l2 * cw[i] * cw[i];
    *rmse = r;
    return loss;
}

/* The backward pass over the batch: the sum of the sequences' gradients and
 * the ElasticNet's on conv.weight into grad. */
static void batch_grad(const tnet *n, tseq **seqs, int N, const tnet_reg *reg, tpool *pool,
                       batch_ctx *b, double *grad)
{
    const int C = n->d.C;
    tpool_run(pool, N, job_bwd_top, b);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++) {
            b->sd[c] += seqs[i]->sd[c];
            b->sdx[c] += seqs[i]->sdx[c];
        }
    tpool_run(pool, N, job_bwd_conv, b);
    memset(grad, 0, sizeof(double) * n->n_params);
    for (int i = 0; i < N; i++) {
        const double *g = seqs[i]->grad;
        for (size_t k = 0; k < n->n_params; k++)
            grad[k] += g[k];
    }
    const double *cw = n->theta + n->conv_w;
    for (int i = 0; i < C * 9; i++) {
        double w = cw[i];
        grad[n->conv_w + i] += reg->l1 * (w > 0 ? 1.0 : w < 0 ? -1.0 : 0.0) + 2.0 * reg->l2 * w;
    }
}

double tnet_batch(tnet *n, tseq **seqs, int N, const tnet_reg *reg, uint64_t seed, tpool *pool,
                  int update_stats, double *grad, double *rmse)
{
    batch_ctx b;
    memset(&b, 0, sizeof b);
    b.n = n;
    b.seqs = seqs;
    b.reg = reg;
    b.seed = seed;
    tpool_run(pool, N, job_conv, &b);
    batch_norm_stats(n, seqs, N, update_stats, &b);
    tpool_run(pool, N, job_top, &b);
    double r, loss = batch_loss(n, seqs, N, reg, &b, &r);
    if (rmse)
        *rmse = r;
    if (grad)
        batch_grad(n, seqs, N, reg, pool, &b, grad);
    return loss;
}

/* ---- Adam ---- */

int tadam_init(tadam *a, size_t n, double lr)
{
    memset(a, 0, sizeof *a);
    a->lr = lr;
    a->b1 = 0.9;
    a->b2 = 0.999;
    a->eps = 1e-8;
    a->n = n;
    a->m = calloc(n, sizeof(double));
    a->v = calloc(n, sizeof(double));
    if (!a->m || !a->v) {
        tadam_free(a);
        return -1;
    }
    return 0;
}

void tadam_free(tadam *a)
{
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
}

void tadam_step(tadam *a, double *theta, const double *grad)
{
    a->t++;
    double c1 = 1.0 - pow(a->b1, (double)a->t), c2 = 1.0 - pow(a->b2, (double)a->t);
    for (size_t i = 0; i < a->n; i++) {
        a->m[i] = a->b1 * a->m[i] + (1 - a->b1) * grad[i];
        a->v[i] = a->b2 * a->v[i] + (1 - a->b2) * grad[i] * grad[i];
        theta[i] -= a->lr * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + a->eps);
    }
}
