/* crnn: inference for the CRNN of Malik et al. 2017 (see crnn.h for the
 * network and the tensor names). Everything is copied out of the weights
 * object at create time, batch norm is folded into the conv, and the
 * weights are pre-arranged for the kernels of crnn_kern.h (padded, output
 * panels, both branches' dense layers in one matrix); the streaming state
 * (two past input frames, GRU states) lives in the struct, so crnn_step
 * does a fixed amount of work and never allocates. */
#include "crnn.h"
#include "crnn_kern.h"
#include "crnn_layout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    crnn_gru fw, bw; /* bw only offline */
    float *mw, *mb;  /* maxout panels [Gp] -> [n_mo] (column p*K + k), bias [n_mo] */
    float *h;        /* streaming GRU state [Hp] */
} branch;

struct crnn {
    crnn_kind kind;
    const crnn_kern *k;
    int M, C, D, H, K, P, G, nb; /* nb branches; P outputs per branch */
    int Dp, Hp, Gp;              /* D, H, ndir * Hp padded to CRNN_NPART */
    int n_in;                    /* dense inputs: C*M padded to CRNN_NPART */
    int n_dense;                 /* dense outputs: branch b's unit d at b*Dp + d */
    int n_mo;                    /* maxout outputs: P*K padded to CRNN_VW */
    size_t n_scratch;            /* floats of scratch for gru_step and maxout */
    long n_params;
    float *mean, *istd; /* input normalisation [M] */
    float *cw, *cb;     /* folded conv [C][3][3], [C] */
    float *dw, *db;     /* dense panels [n_in] -> [n_dense], bias [n_dense] */
    branch br[CRNN_MAX_BRANCHES];
    float *zero; /* a zero mel row (time padding before the first frame) */
    /* streaming: normalised frames t-2, t-1, t (rotated), and scratch */
    float *hist[3];
    float *conv;    /* [n_in], padding zero */
    float *dense;   /* [n_dense] */
    float *scratch; /* [n_scratch] */
    /* sliced steps (crnn_step_begin, crnn_step_slice): the plan, see
     * plan_slices, and the step in flight */
    int sl_n;          /* slices per step */
    int sl_rows0;      /* dense inputs in slice 0, after the conv */
    int sl_rows;       /* dense inputs in each later slice */
    int sl_dense_last; /* the slice that ends the dense layer */
    int sl_next;       /* the next slice to run; -1: no step in flight */
    float *acc;        /* dense partial sums [n_dense * CRNN_NPART] */
    float *block;      /* one allocation holding all of the above */
};

/* ---- loading ---- */

/* Bump allocator over one block: a model is a handful of small arrays,
 * each starting on a cache line. With p == NULL it only counts. */
typedef struct {
    float *p;
    size_t used;
} arena;

#define ALIGN_FLOATS 16 /* 64 bytes */

static float *take(arena *a, size_t n)
{
    a->used = (a->used + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    float *r = a->p ? a->p + a->used : NULL;
    a->used += n;
    return r;
}

/* A mel row readable at [-1] and [M] (zeros: the conv's padding over mel). */
static float *take_row(arena *a, int M)
{
    float *r = take(a, (size_t)M + 2);
    return r ? r + 1 : NULL;
}

static int round_up(int n, int k)
{
    return (n + k - 1) / k * k;
}

/* Panel layout of crnn_kern.h: element (input i, output column c) of a
 * matrix with n_in (padded) inputs. */
static float *panel_at(float *w, int n_in, int i, int c)
{
    return w + ((size_t)(c / CRNN_VW) * n_in + i) * CRNN_VW + c % CRNN_VW;
}

/* Padded sizes of everything (see struct crnn). */
static void dimensions(crnn *n, int ndir)
{
    n->Dp = round_up(n->D, CRNN_NPART);
    n->Hp = round_up(n->H, CRNN_NPART);
    n->Gp = ndir * n->Hp;
    n->n_in = round_up(n->C * n->M, CRNN_NPART);
    n->n_dense = round_up(n->nb * n->Dp, CRNN_VW);
    n->n_mo = round_up(n->P * n->K, CRNN_VW);
    const int n_zr = round_up(2 * n->H, CRNN_VW), n_n = round_up(n->H, CRNN_VW);
    const size_t g = 2 * (size_t)(n_zr + n_n) + (size_t)n->Hp;
    n->n_scratch = g > (size_t)n->n_mo ? g : (size_t)n->n_mo;
}

static void gru_layout(arena *a, crnn_gru *g, const crnn *n)
{
    g->n_in = n->Dp;
    g->H = n->H;
    g->Hp = n->Hp;
    g->n_zr = round_up(2 * n->H, CRNN_VW);
    g->n_n = round_up(n->H, CRNN_VW);
    const size_t nout = (size_t)(g->n_zr + g->n_n);
    g->wih = take(a, (size_t)g->n_in * nout);
    g->bias = take(a, nout);
    g->uzr = take(a, (size_t)g->Hp * g->n_zr);
    g->un = take(a, (size_t)g->Hp * g->n_n);
}

/* Where every array goes in the block (a->p == NULL: just the size). */
static void layout(crnn *n, arena *a, int ndir)
{
    const size_t M = n->M, C = n->C;
    n->mean = take(a, M);
    n->istd = take(a, M);
    n->cw = take(a, C * 9);
    n->cb = take(a, C);
    n->dw = take(a, (size_t)n->n_in * n->n_dense);
    n->db = take(a, n->n_dense);
    for (int b = 0; b < n->nb; b++) {
        branch *br = &n->br[b];
        gru_layout(a, &br->fw, n);
        if (ndir == 2)
            gru_layout(a, &br->bw, n);
        br->mw = take(a, (size_t)n->Gp * n->n_mo);
        br->mb = take(a, n->n_mo);
        br->h = take(a, n->Hp);
    }
    n->zero = take_row(a, n->M);
    for (int i = 0; i < 3; i++)
        n->hist[i] = take_row(a, n->M);
    n->conv = take(a, n->n_in);
    n->dense = take(a, n->n_dense);
    n->scratch = take(a, n->n_scratch);
    n->acc = take(a, (size_t)n->n_dense * CRNN_NPART);
}

/* PyTorch's [3H][D] input and [3H][H] hidden weights and [3H] bias (gates
 * z, r, n) into the panels of g, whose padding is already zero. */
static void gru_fill(const crnn_gru *g, int D, const float *const *src)
{
    const int H = g->H;
    float *wih = (float *)g->wih, *bias = (float *)g->bias;
    float *uzr = (float *)g->uzr, *un = (float *)g->un;
    for (int gate = 0; gate < 3; gate++)
        for (int j = 0; j < H; j++) {
            const int row = gate * H + j, col = gate < 2 ? row : g->n_zr + j;
            bias[col] = src[2][row];
            for (int i = 0; i < D; i++)
                *panel_at(wih, g->n_in, i, col) = src[0][(size_t)row * D + i];
            for (int i = 0; i < H; i++) {
                const float v = src[1][(size_t)row * H + i];
                if (gate < 2)
                    *panel_at(uzr, g->Hp, i, col) = v;
                else
                    *panel_at(un, g->Hp, i, j) = v;
            }
        }
}

/* Copy the weights (src[branch][tensor], crnn_layout.h) into the block in
 * the kernels' layout. */
static void fill(crnn *n, const float *src[][CRNN_N_TENSORS], float eps, int ndir)
{
    const int M = n->M, C = n->C, CM = C * M, H = n->H, K = n->K, P = n->P, G = n->G;
    const float *const *g = src[0];
    for (int m = 0; m < M; m++) {
        n->mean[m] = g[CRNN_INPUT_MEAN][m];
        n->istd[m] = 1.0f / g[CRNN_INPUT_STD][m];
    }
    for (int c = 0; c < C; c++) {
        /* BN(conv + b) = s * conv + (s * (b - mean) + beta), s = gamma / sqrt(var + eps) */
        float sc = g[CRNN_BN_GAMMA][c] / sqrtf(g[CRNN_BN_VAR][c] + eps);
        for (int k = 0; k < 9; k++)
            n->cw[c * 9 + k] = g[CRNN_CONV_W][c * 9 + k] * sc;
        n->cb[c] = sc * (g[CRNN_CONV_B][c] - g[CRNN_BN_MEAN][c]) + g[CRNN_BN_BETA][c];
    }
    for (int b = 0; b < n->nb; b++) {
        const float *const *s = src[b];
        branch *br = &n->br[b];
        for (int d = 0; d < n->D; d++) {
            const int col = b * n->Dp + d;
            n->db[col] = s[CRNN_DENSE_B][d];
            for (int i = 0; i < CM; i++)
                *panel_at(n->dw, n->n_in, i, col) = s[CRNN_DENSE_W][(size_t)d * CM + i];
        }
        gru_fill(&br->fw, n->D, s + CRNN_GRU_WIH);
        if (ndir == 2)
            gru_fill(&br->bw, n->D, s + CRNN_GRU_BW_WIH);
        /* maxout input: [h_fw (Hp) | h_bw (Hp)] */
        for (int col = 0; col < P * K; col++) {
            br->mb[col] = s[CRNN_MAXOUT_B][col];
            for (int i = 0; i < G; i++)
                *panel_at(br->mw, n->Gp, i < H ? i : n->Hp + i - H, col) =
                    s[CRNN_MAXOUT_W][(size_t)col * G + i];
        }
    }
}

/* Values the shapes do not rule out but the network cannot use. */
static int check_values(const crnn *n, const float *const *g, char *msg, size_t len)
{
    for (int m = 0; m < n->M; m++)
        if (!(g[CRNN_INPUT_STD][m] > 0))
            return valar_fail(msg, len, VALAR_ERR_META,
                              "tensor 'input.std' has a non-positive value at band %d", m);
    for (int c = 0; c < n->C; c++)
        if (!(g[CRNN_BN_VAR][c] >= 0))
            return valar_fail(msg, len, VALAR_ERR_META,
                              "tensor 'bn.var' has a negative value at filter %d", c);
    return 0;
}

/* The model's dimensions, checked against the whole layout, and its
 * tensors in src. */
static int read_model(const weights *w, crnn *n, float *eps,
                      const float *src[CRNN_MAX_BRANCHES][CRNN_N_TENSORS], char *msg, size_t len)
{
    crnn_dims d;
    double e;
    int err = crnn_layout_read(w, &d, &e, msg, len);
    if (!err)
        err = crnn_layout_check(w, &d, src, msg, len);
    if (err)
        return err;
    n->kind = d.streaming ? CRNN_STREAMING : CRNN_OFFLINE;
    n->M = d.M;
    n->C = d.C;
    n->D = d.D;
    n->H = d.H;
    n->K = d.K;
    n->P = crnn_dims_outputs(&d);
    n->G = crnn_dims_gru_out(&d);
    n->nb = crnn_dims_branches(&d);
    n->n_params = (long)crnn_layout_params(&d);
    *eps = (float)e;
    return check_values(n, src[0], msg, len);
}

/* ---- slices ----
 * A slice's cost when the caches are cold (another plugin ran in between)
 * is about that of bringing in what it touches, so slices are cut by bytes
 * read and written: the conv (slice 0), then the dense layer's inputs in
 * ranges that fill each slice up to the budget, then the GRUs and maxouts
 * (with the last dense range if they fit). */

static size_t conv_bytes(const crnn *n)
{
    return sizeof(float) * (10 * (size_t)n->C + 3 * ((size_t)n->M + 2) + (size_t)n->n_in);
}

/* One dense input: its row of weights and its value. */
static size_t row_bytes(const crnn *n)
{
    return sizeof(float) * ((size_t)n->n_dense + 1);
}

/* All branches' GRU and maxout, the dense bias, sums and outputs. */
static size_t tail_bytes(const crnn *n)
{
    const crnn_gru *g = &n->br[0].fw;
    const size_t gates = (size_t)(g->n_zr + g->n_n);
    const size_t branch = ((size_t)g->n_in + 1 + (size_t)g->Hp) * gates +
                          ((size_t)n->Gp + 1) * (size_t)n->n_mo + (size_t)n->Hp;
    return sizeof(float) * ((size_t)n->nb * branch + (2 + CRNN_NPART) * (size_t)n->n_dense +
                            n->n_scratch);
}

static void plan_slices(crnn *n, size_t budget)
{
    const size_t rb = row_bytes(n), cb = conv_bytes(n);
    long r0 = cb < budget ? (long)((budget - cb) / rb) / CRNN_NPART * CRNN_NPART : 0;
    if (r0 > n->n_in)
        r0 = n->n_in;
    long rk = (long)(budget / rb) / CRNN_NPART * CRNN_NPART;
    if (rk < CRNN_NPART)
        rk = CRNN_NPART;
    const long rest = n->n_in - r0, more = (rest + rk - 1) / rk; /* slices after 0 */
    const size_t last = more ? (size_t)(rest - (more - 1) * rk) * rb : cb + (size_t)r0 * rb;
    n->sl_rows0 = (int)r0;
    n->sl_rows = (int)rk;
    n->sl_dense_last = (int)more;
    n->sl_n = (int)more + 1 + (last + tail_bytes(n) > budget);
}

/* The dense inputs [*i0, *i1) of slice s (empty after the last range). */
static void slice_rows(const crnn *n, int s, int *i0, int *i1)
{
    long a = s == 0 ? 0 : n->sl_rows0 + (long)(s - 1) * n->sl_rows;
    long b = n->sl_rows0 + (long)s * n->sl_rows;
    *i0 = (int)(a < n->n_in ? a : n->n_in);
    *i1 = (int)(b < n->n_in ? b : n->n_in);
}

int crnn_create(const weights *w, crnn **out, char *msg, size_t len)
{
    if (!out)
        return VALAR_ERR_ARG;
    *out = NULL;
    if (!w)
        return valar_fail(msg, len, VALAR_ERR_ARG, "no weights");
    crnn tmp = {0}, *n = &tmp;
    float eps = 0;
    const float *src[CRNN_MAX_BRANCHES][CRNN_N_TENSORS];
    int err = read_model(w, n, &eps, src, msg, len);
    if (err)
        return err;

    /* The kernels: the best set this CPU runs, unless the environment
     * names one (tests compare the sets). */
    const char *want = getenv("VALAR_CRNN_KERNELS");
    n->k = crnn_kern_select(want);
    if (!n->k)
        return valar_fail(msg, len, VALAR_ERR_ARG,
                          "VALAR_CRNN_KERNELS=%s: no such kernel set on this CPU", want);

    /* Sizes of everything, then one allocation, zeroed (padding stays 0). */
    const int ndir = n->kind == CRNN_OFFLINE ? 2 : 1;
    dimensions(n, ndir);
    arena a = {NULL, 0};
    layout(n, &a, ndir);
    const size_t bytes = (size_t)round_up((int)a.used, ALIGN_FLOATS) * sizeof(float);
    float *block = aligned_alloc(ALIGN_FLOATS * sizeof(float), bytes);
    crnn *net = block ? calloc(1, sizeof *net) : NULL;
    if (!net) {
        free(block);
        return valar_fail(msg, len, VALAR_ERR_NOMEM, "out of memory");
    }
    memset(block, 0, bytes);
    *net = tmp;
    net->block = a.p = block;
    a.used = 0;
    layout(net, &a, ndir);
    fill(net, src, eps, ndir);
    plan_slices(net, CRNN_SLICE_BYTES);
    crnn_reset(net);
    *out = net;
    return 0;
}

void crnn_destroy(crnn *net)
{
    if (!net)
        return;
    free(net->block);
    free(net);
}

crnn_kind crnn_get_kind(const crnn *net)
{
    return net->kind;
}
int crnn_n_mels(const crnn *net)
{
    return net->M;
}
long crnn_n_params(const crnn *net)
{
    return net->n_params;
}

/* ---- kernel sets ---- */

extern const crnn_kern crnn_kern_generic;
#if VALAR_KERN_X86
extern const crnn_kern crnn_kern_avx2, crnn_kern_avx512;
static const crnn_kern *const sets[] = {&crnn_kern_generic, &crnn_kern_avx2, &crnn_kern_avx512};
#else
static const crnn_kern *const sets[] = {&crnn_kern_generic};
#endif
#define N_SETS (int)(sizeof sets / sizeof sets[0])

static int cpu_runs(const crnn_kern *k)
{
#if VALAR_KERN_X86
    if (k == &crnn_kern_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (k == &crnn_kern_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
    return k == &crnn_kern_generic;
}

const crnn_kern *crnn_kern_get(int i)
{
    for (int s = 0; s < N_SETS; s++)
        if (cpu_runs(sets[s]) && i-- == 0)
            return sets[s];
    return NULL;
}

const crnn_kern *crnn_kern_select(const char *want)
{
    const crnn_kern *best = NULL;
    for (int s = 0; s < N_SETS; s++) {
        if (!cpu_runs(sets[s]))
            continue;
        if (want && *want && strcmp(want, sets[s]->name) == 0)
            return sets[s];
        best = sets[s];
    }
    return want && *want ? NULL : best;
}

const crnn_kern *crnn_kernels(const crnn *net)
{
    return net->k;
}

/* ---- entry points ---- */

void crnn_reset(crnn *net)
{
    net->sl_next = -1;
    for (int i = 0; i < 3; i++)
        memset(net->hist[i], 0, (size_t)net->M * sizeof(float));
    for (int b = 0; b < net->nb; b++)
        memset(net->br[b].h, 0, (size_t)net->Hp * sizeof(float));
}

/* The caller's thread (audio or worker): the new frame into the history,
 * normalised; hist[2] is t, hist[0] is t-2. */
static void push_frame(crnn *net, const float *in)
{
    float *oldest = net->hist[0];
    net->hist[0] = net->hist[1];
    net->hist[1] = net->hist[2];
    net->hist[2] = oldest;
    net->k->normalise(in, net->mean, net->istd, net->M, net->hist[2]);
}

static void conv_step(crnn *net)
{
    net->k->conv(net->cw, net->cb, net->hist[0], net->hist[1], net->hist[2], net->C, net->M,
                 net->conv);
}

/* The caller's thread: GRUs and maxouts of every branch from net->dense. */
static void branches_step(crnn *net, float out[2])
{
    const crnn_kern *k = net->k;
    for (int b = 0; b < net->nb; b++) {
        branch *br = &net->br[b];
        k->gru_step(&br->fw, net->dense + b * net->Dp, br->h, net->scratch);
        k->maxout(br->mw, br->mb, br->h, net->Gp, net->n_mo, net->P, net->K, net->scratch, out + b);
    }
}

/* Real-time safe (audio thread in the LV2 plugin, worker in valar listen). */
int crnn_step(crnn *net, const float *in, float out[2])
{
    if (!net || !in || !out || net->sl_next >= 0)
        return VALAR_ERR_ARG;
    if (net->kind != CRNN_STREAMING)
        return VALAR_ERR_KIND;
    push_frame(net, in);
    conv_step(net);
    net->k->dense(net->dw, net->db, net->conv, net->n_in, net->n_dense, net->dense);
    branches_step(net, out);
    return 0;
}

/* Real-time safe: the audio thread in the LV2 plugin. */
int crnn_step_begin(crnn *net, const float *in)
{
    if (!net || !in || net->sl_next >= 0)
        return VALAR_ERR_ARG;
    if (net->kind != CRNN_STREAMING)
        return VALAR_ERR_KIND;
    push_frame(net, in);
    memset(net->acc, 0, (size_t)net->n_dense * CRNN_NPART * sizeof *net->acc);
    net->sl_next = 0;
    return 0;
}

/* Real-time safe: the audio thread in the LV2 plugin. */
int crnn_step_slice(crnn *net, float out[2])
{
    if (!net || !out || net->sl_next < 0)
        return VALAR_ERR_ARG;
    const int s = net->sl_next;
    int i0, i1;
    if (s == 0)
        conv_step(net);
    slice_rows(net, s, &i0, &i1);
    if (i0 < i1)
        net->k->dense_part(net->dw, net->conv, net->n_in, net->n_dense, i0, i1, net->acc);
    if (s == net->sl_dense_last)
        net->k->dense_end(net->db, net->acc, net->n_dense, net->dense);
    if (s + 1 < net->sl_n) {
        net->sl_next = s + 1;
        return 0;
    }
    branches_step(net, out);
    net->sl_next = -1;
    return 1;
}

int crnn_slices(const crnn *net)
{
    return net->sl_n;
}

int crnn_set_slice_bytes(crnn *net, size_t bytes)
{
    if (!net || bytes < 1 || net->sl_next >= 0)
        return VALAR_ERR_ARG;
    plan_slices(net, bytes);
    return net->sl_n;
}

/* One branch over T frames of dense outputs ds [T][n_dense]: GRU(s) into go
 * [T][Gp], then maxout into out. */
static void run_branch(const crnn *net, int b, const float *ds, int T, float *go, float *h,
                       float *scratch, float *out)
{
    const crnn_kern *k = net->k;
    const branch *br = &net->br[b];
    const size_t nd = net->n_dense, Gp = net->Gp, Hp = net->Hp;
    memset(h, 0, Hp * sizeof *h);
    for (int t = 0; t < T; t++) {
        k->gru_step(&br->fw, ds + t * nd + b * net->Dp, h, scratch);
        memcpy(go + t * Gp, h, Hp * sizeof *h);
    }
    if (net->kind == CRNN_OFFLINE) {
        memset(h, 0, Hp * sizeof *h);
        for (int t = T - 1; t >= 0; t--) {
            k->gru_step(&br->bw, ds + t * nd + b * net->Dp, h, scratch);
            memcpy(go + t * Gp + Hp, h, Hp * sizeof *h);
        }
    }
    for (int t = 0; t < T; t++) {
        float o[2];
        k->maxout(br->mw, br->mb, go + t * Gp, net->Gp, net->n_mo, net->P, net->K, scratch, o);
        for (int p = 0; p < net->P; p++)
            out[(size_t)t * 2 + b + p] = o[p];
    }
}

/* Frames per pass of the conv and dense layers offline: dense_frames reads
 * each weight once per group of frames. */
#define SEQ_BLOCK 8

int crnn_run_sequence(crnn *net, const float *in, int T, float *out)
{
    if (!net || !in || !out || T < 1)
        return VALAR_ERR_ARG;
    const crnn_kern *k = net->k;
    const size_t M = net->M, stride = M + 1, nd = net->n_dense, ni = net->n_in;
    const int off = net->kind == CRNN_OFFLINE ? 1 : 2; /* time offset of kernel row 0 */
    /* xn: T rows with a zero between them (the mel padding); conv
     * [SEQ_BLOCK][n_in]; dense [T][n_dense]; GRU outputs [T][Gp]; h [Hp];
     * scratch */
    const size_t n_xn = (size_t)T * stride + 1;
    const size_t need =
        n_xn + SEQ_BLOCK * ni + (size_t)T * nd + (size_t)T * net->Gp + net->Hp + net->n_scratch;
    float *buf = calloc(need, sizeof(float));
    if (!buf)
        return VALAR_ERR_NOMEM;
    float *y = buf + n_xn, *ds = y + SEQ_BLOCK * ni, *go = ds + (size_t)T * nd;
    float *h = go + (size_t)T * net->Gp, *scratch = h + net->Hp;

    for (int t = 0; t < T; t++)
        k->normalise(in + t * M, net->mean, net->istd, net->M, buf + 1 + t * stride);
    for (int t0 = 0; t0 < T; t0 += SEQ_BLOCK) {
        const int nf = T - t0 < SEQ_BLOCK ? T - t0 : SEQ_BLOCK;
        for (int f = 0; f < nf; f++) {
            const float *r[3];
            for (int i = 0; i < 3; i++) {
                int s = t0 + f + i - off;
                r[i] = s >= 0 && s < T ? buf + 1 + s * stride : net->zero;
            }
            k->conv(net->cw, net->cb, r[0], r[1], r[2], net->C, net->M, y + f * ni);
        }
        k->dense_frames(net->dw, net->db, y, (int)ni, nf, net->n_in, net->n_dense, ds + t0 * nd,
                        (int)nd);
    }
    for (int b = 0; b < net->nb; b++)
        run_branch(net, b, ds, T, go, h, scratch, out);
    free(buf);
    return 0;
}
