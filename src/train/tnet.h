/* tnet: the CRNN of crnn.h in double precision, with the forward pass in
 * training mode (batch-norm batch statistics, dropout) and eval mode
 * (running statistics), and the backward pass for every parameter.
 *
 * Layout and equations are exactly those of crnn.h: the tensors, their
 * shapes and the order of the parameters in theta come from crnn_layout.h;
 * index orders, GRU gate order z, r, n, conv time offset 1 offline / 2
 * causal as crnn.c.
 * The layer primitives (tl_*) are exported for the gradient-check tests.
 *
 * Training loss, over the labelled frames of a mini-batch:
 *   RMSE over both outputs (unclipped maxout output; predictions are clipped
 *   to [-1, 1] like crnn.c, which can only lower the error on targets in
 *   [-1, 1], and the unclipped loss keeps a gradient everywhere)
 *   + l1 * sum|conv.weight| + l2 * sum conv.weight^2
 *   + act_l1 * mean|a| + act_l2 * mean a^2, a = the conv block's output
 *     (after BN and ReLU, before dropout) over the batch's valid frames. */
#ifndef VALAR_TNET_H
#define VALAR_TNET_H

#include <stddef.h>
#include <stdint.h>
#include "weights.h"
#include "melspec.h"

typedef struct {
    int kind;  /* 0 offline (bidirectional, 'same' conv), 1 streaming (causal) */
    int joint; /* 1: one "joint" branch with P = 2 outputs (CRNN_NB) */
    int M, C, D, H, K;
} tnet_dims;

typedef struct {
    size_t dense_w, dense_b;
    size_t wih[2], whh[2], gb[2]; /* [0] forward GRU, [1] backward (offline) */
    size_t mo_w, mo_b;
} tnet_branch;

typedef struct {
    tnet_dims d;
    int nbr, P, G, ndir; /* branches, outputs per branch, GRU output width, directions */
    size_t n_params;
    size_t conv_w, conv_b, bn_g, bn_b;
    tnet_branch br[2];
    double *theta;            /* n_params */
    double *bn_mean, *bn_var; /* [C] running statistics */
    double *in_mean, *in_std; /* [M] */
    double bn_eps, bn_momentum;
} tnet;

typedef struct {
    double drop_conv, drop_gru; /* dropout rates (fraction dropped) */
    double l1, l2;              /* ElasticNet on conv.weight */
    double act_l1, act_l2;      /* ElasticNet on the conv activity */
} tnet_reg;

/* Allocates parameters (zero) and statistics (mean 0, var 1, input 0/1). */
tnet *tnet_create(const tnet_dims *d);
void tnet_destroy(tnet *n);
/* Glorot-uniform dense/conv/maxout weights, orthogonal GRU recurrent
 * weights, zero biases, gamma 1. */
void tnet_init(tnet *n, uint64_t seed);

/* To a weight file (F32 tensors + metadata format, version, kind, branches,
 * bn_eps and the feature config). */
weights *tnet_to_weights(const tnet *n, const melspec_config *fc);
/* From a weight file written by tnet_to_weights (or any crnn.h file): its
 * layout read and checked as crnn_create does (crnn_layout.h). 0, or what
 * crnn_layout_read/check return, VALAR_ERR_SHAPE (dimensions the trainer
 * does not take: H or C over 64); *out is NULL on failure. */
int tnet_from_weights(const weights *w, tnet **out, char *msg, size_t msglen);

/* One sequence of a batch: inputs set by the caller, then everything the
 * backward pass needs. Frames t = 0..L-1; xin row r holds normalised input
 * of frame r - 2 (rows 0, 1: history before the chunk, zero at a song's
 * start; row L + 2: zero, the 'same' padding after the end). */
typedef struct {
    int cap, L;
    double *xin;                /* (cap + 3) x M */
    unsigned char *valid, *lab; /* [cap]: frame exists / frame has a target */
    double *tgt;                /* cap x 2 */
    double *h0;                 /* [2][H]: initial forward GRU state per branch */
    /* forward state */
    double *y, *xh, *a, *am, *dmc; /* cap x C x M each (dmc: dropout scale) */
    int *nz, *nnz; /* per frame: indices of the nonzero am values (cap x C x M), their count */
    double *dn, *gin, *dmg;                          /* per branch cap x D */
    double *hs[2][2], *z[2][2], *r[2][2], *nn[2][2]; /* [branch][dir] */
    double *g, *pre;                                 /* cap x G, cap x P x K (per branch) */
    int *arg;                                        /* per branch cap x P */
    double *out;                                     /* cap x 2, unclipped */
    /* backward scratch */
    double *da, *dgin, *dhs, *dg, *dout;
    double *grad; /* n_params, this sequence's gradient */
    /* partial sums for the batch reductions */
    double *s1, *s2, *sd, *sdx; /* [C] */
    double sse, nlab, act_abs, act_sq, nvalid;
} tseq;

tseq *tseq_create(const tnet *n, int cap);
void tseq_destroy(tseq *s);
/* Data augmentation of a sequence's input frames: each raw frame moved by
 * `bands` mel bands (x'[m] = x[m + bands], the edge band repeated: a pitch
 * shift where the mel scale is logarithmic, above 1 kHz), then add[m]
 * added (a gain is the same value in every band; NULL: nothing). */
typedef struct {
    const double *add;
    int bands;
} taug;

/* Copy raw log-mel frames into xin rows (normalised with in_mean/in_std);
 * frames before the song start or after its end (NULL rows) are zero.
 * aug: augmentation, or NULL. */
void tseq_set_input(const tnet *n, tseq *s, int row, const float *x, const taug *aug);

/* Eval mode on one sequence (running BN statistics, no dropout); pred gets
 * L x 2 clipped outputs when not NULL. h_last (optional, [2][H]) receives
 * the forward GRU state after frame L - 1. */
void tnet_eval_seq(const tnet *n, tseq *s, float *pred, double *h_last);

/* Training step on a batch: forward in training mode with batch statistics,
 * loss, backward; grad (n_params) receives the batch gradient. Dropout
 * masks come from seed and each sequence's index, so the result does not
 * depend on nthreads. Updates the BN running statistics when update_stats.
 * Returns the loss (RMSE + regularisers); *rmse gets the RMSE part. */
typedef struct tpool tpool;
double tnet_batch(tnet *n, tseq **seqs, int N, const tnet_reg *reg, uint64_t seed, tpool *pool,
                  int update_stats, double *grad, double *rmse);

/* Adam (Kingma & Ba, bias-corrected). */
typedef struct {
    double lr, b1, b2, eps;
    long t;
    double *m, *v;
    size_t n;
} tadam;
int tadam_init(tadam *a, size_t n, double lr);
void tadam_free(tadam *a);
void tadam_step(tadam *a, double *theta, const double *grad);

/* Layer primitives (row-major; see tnet.c for the index conventions). */
void tl_conv_fwd(const double *xin, int L, int M, int C, int o, const double *w, const double *b,
                 double *y);
void tl_conv_bwd(const double *xin, int L, int M, int C, int o, const double *dy, double *dw,
                 double *db);
void tl_bn_sums(const double *y, const unsigned char *valid, int L, int C, int M, double *s1,
                double *s2);
void tl_bn_apply(const double *y, int L, int C, int M, const double *mean, const double *istd,
                 const double *gamma, const double *beta, double *xh, double *out);
void tl_bn_bwd_sums(const double *dout, const double *xh, const unsigned char *valid, int L, int C,
                    int M, double *sd, double *sdx, double *dgamma, double *dbeta);
void tl_bn_bwd_apply(const double *dout, const double *xh, const unsigned char *valid, int L, int C,
                     int M, const double *gamma, const double *istd, const double *sd,
                     const double *sdx, double nv, double *dy);
/* Dense on sparse input: nz[t * In ..] holds the indices of frame t's
 * nnz[t] nonzero inputs, ascending; dx is computed only at those. */
void tl_dense_fwd(const double *x, const int *nz, const int *nnz, int L, int In, int D,
                  const double *W, const double *b, double *y);
void tl_dense_bwd(const double *x, const int *nz, const int *nnz, int L, int In, int D,
                  const double *W, const double *dy, double *dx, double *dW, double *db);
void tl_gru_fwd(const double *x, int L, int D, int H, const double *Wih, const double *Whh,
                const double *b, const double *h0, int reverse, double *hs, double *z, double *r,
                double *n);
void tl_gru_bwd(const double *x, int L, int D, int H, const double *Wih, const double *Whh,
                const double *hs, const double *z, const double *r, const double *n, int reverse,
                const double *dh, double *dx, double *dWih, double *dWhh, double *db, double *dh0);
void tl_maxout_fwd(const double *g, int L, int G, int P, int K, const double *W, const double *b,
                   double *pre, int *arg, double *out);
void tl_maxout_bwd(const double *g, int L, int G, int P, int K, const double *W, const int *arg,
                   const double *dout, double *dg, double *dW, double *db);

/* Deterministic random numbers (splitmix64). */
uint64_t trng_mix(uint64_t a, uint64_t b);
double trng_uniform(uint64_t *state); /* [0, 1) */

#endif
