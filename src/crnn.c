/* crnn: inference for the CRNN of Malik et al. 2017 (see crnn.h for the
 * network and the tensor names). Everything is copied out of the weights
 * object at create time, batch norm is folded into the conv, and the
 * weights are pre-arranged for the kernels of crnn_kern.h (padded, output
 * panels, both branches' dense layers in one matrix); the streaming state
 * (two past input frames, GRU states) lives in the struct, so crnn_step
 * does a fixed amount of work and never allocates. */
#include "crnn.h"
#include "crnn_kern.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BRANCHES 2

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
    branch br[MAX_BRANCHES];
    float *zero; /* a zero mel row (time padding before the first frame) */
    /* streaming: normalised frames t-2, t-1, t (rotated), and scratch */
    float *hist[3];
    float *conv;    /* [n_in], padding zero */
    float *dense;   /* [n_dense] */
    float *scratch; /* [n_scratch] */
    float *block;   /* one allocation holding all of the above */
};

const char *crnn_strerror(int err)
{
    switch (err) {
    case CRNN_ERR_KIND:
        return "operation needs a streaming model";
    case CRNN_ERR_ARG:
        return "bad argument";
    default:
        return weights_strerror(err);
    }
}

static void fmt(char *msg, size_t len, const char *f, ...)
{
    if (!msg || !len)
        return;
    va_list ap;
    va_start(ap, f);
    vsnprintf(msg, len, f, ap);
    va_end(ap);
}

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

static int get_shape(const weights *w, const char *name, int want_ndim, int64_t *shape,
                     const float **data, char *msg, size_t len)
{
    int nd = 0;
    const float *d = weights_get(w, name, &nd, shape);
    if (!d) {
        fmt(msg, len, "tensor '%s' is missing", name);
        return WEIGHTS_ERR_MISSING;
    }
    if (nd != want_ndim) {
        fmt(msg, len, "tensor '%s' has %d dimensions, expected %d", name, nd, want_ndim);
        return WEIGHTS_ERR_SHAPE;
    }
    for (int i = 0; i < nd; i++)
        if (shape[i] < 1 || shape[i] > 65536) {
            fmt(msg, len, "tensor '%s' has an unusable dimension %lld", name, (long long)shape[i]);
            return WEIGHTS_ERR_SHAPE;
        }
    if (data)
        *data = d;
    return 0;
}

static int expect(const weights *w, const char *name, int nd, int64_t a, int64_t b, int64_t c,
                  const float **data, char *msg, size_t len)
{
    const int64_t shape[3] = {a, b, c};
    return weights_expect(w, name, nd, shape, data, msg, len);
}

typedef struct {
    const float *dw, *db, *mw, *mb;
    const float *g[2][3]; /* [dir][wih, whh, b] */
} branch_src;

static int check_branch(const weights *w, const char *b, crnn *n, int ndir, branch_src *s,
                        char *msg, size_t len)
{
    static const char *dirs[2] = {"gru", "gru_bw"};
    char name[64];
    int err;
    snprintf(name, sizeof name, "%s.dense.weight", b);
    if ((err = expect(w, name, 2, n->D, (int64_t)n->C * n->M, 0, &s->dw, msg, len)))
        return err;
    snprintf(name, sizeof name, "%s.dense.bias", b);
    if ((err = expect(w, name, 1, n->D, 0, 0, &s->db, msg, len)))
        return err;
    for (int d = 0; d < 2; d++) {
        snprintf(name, sizeof name, "%s.%s.weight_ih", b, dirs[d]);
        if (d >= ndir) {
            if (weights_get(w, name, NULL, NULL)) {
                fmt(msg, len, "tensor '%s' is present but a streaming model has no backward GRU",
                    name);
                return WEIGHTS_ERR_INVALID;
            }
            continue;
        }
        if ((err = expect(w, name, 2, 3 * n->H, n->D, 0, &s->g[d][0], msg, len)))
            return err;
        snprintf(name, sizeof name, "%s.%s.weight_hh", b, dirs[d]);
        if ((err = expect(w, name, 2, 3 * n->H, n->H, 0, &s->g[d][1], msg, len)))
            return err;
        snprintf(name, sizeof name, "%s.%s.bias", b, dirs[d]);
        if ((err = expect(w, name, 1, 3 * n->H, 0, 0, &s->g[d][2], msg, len)))
            return err;
    }
    snprintf(name, sizeof name, "%s.maxout.weight", b);
    if ((err = expect(w, name, 3, n->P, n->K, n->G, &s->mw, msg, len)))
        return err;
    snprintf(name, sizeof name, "%s.maxout.bias", b);
    return expect(w, name, 2, n->P, n->K, 0, &s->mb, msg, len);
}

/* Metadata key that must be one of two words: *which = 0 for a, 1 for b. */
static int meta_choice(const weights *w, const char *key, const char *a, const char *b, int *which,
                       char *msg, size_t len)
{
    const char *v = weights_meta(w, key);
    if (!v) {
        fmt(msg, len, "metadata key '%s' is missing", key);
        return WEIGHTS_ERR_MISSING;
    }
    if (strcmp(v, a) != 0 && strcmp(v, b) != 0) {
        fmt(msg, len, "metadata %s is \"%s\", expected \"%s\" or \"%s\"", key, v, a, b);
        return WEIGHTS_ERR_INVALID;
    }
    *which = strcmp(v, b) == 0;
    return 0;
}

static int read_meta(const weights *w, crnn *n, int *joint, float *eps, char *msg, size_t len)
{
    const char *f = weights_meta(w, "format"), *v = weights_meta(w, "version");
    if (!f || strcmp(f, "valar-crnn") != 0) {
        fmt(msg, len, "metadata format is %s%s%s, expected \"valar-crnn\"", f ? "\"" : "",
            f ? f : "missing", f ? "\"" : "");
        return f ? WEIGHTS_ERR_VERSION : WEIGHTS_ERR_MISSING;
    }
    if (!v || strcmp(v, "1") != 0) {
        fmt(msg, len, "metadata version is %s%s%s, this valar reads version 1", v ? "\"" : "",
            v ? v : "missing", v ? "\"" : "");
        return v ? WEIGHTS_ERR_VERSION : WEIGHTS_ERR_MISSING;
    }
    int streaming, err;
    if ((err = meta_choice(w, "kind", "offline", "streaming", &streaming, msg, len)) ||
        (err = meta_choice(w, "branches", "separate", "joint", joint, msg, len)))
        return err;
    n->kind = streaming ? CRNN_STREAMING : CRNN_OFFLINE;
    const char *e = weights_meta(w, "bn_eps");
    if (!e) {
        fmt(msg, len, "metadata key 'bn_eps' is missing");
        return WEIGHTS_ERR_MISSING;
    }
    char *end;
    double d = strtod(e, &end);
    if (end == e || *end || !isfinite(d) || d <= 0 || d > 1) {
        fmt(msg, len, "metadata bn_eps is \"%s\", expected a small positive number", e);
        return WEIGHTS_ERR_INVALID;
    }
    *eps = (float)d;
    return 0;
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

/* Copy the weights into the block in the kernels' layout. */
static void fill(crnn *n, const branch_src *src, const float *mean, const float *std,
                 const float *cw, const float *cb, const float *const *bn, float eps,
                 int ndir)
{
    const int M = n->M, C = n->C, CM = C * M, H = n->H, K = n->K, P = n->P, G = n->G;
    for (int m = 0; m < M; m++) {
        n->mean[m] = mean[m];
        n->istd[m] = 1.0f / std[m];
    }
    for (int c = 0; c < C; c++) {
        /* BN(conv + b) = s * conv + (s * (b - mean) + beta), s = gamma / sqrt(var + eps) */
        float sc = bn[0][c] / sqrtf(bn[3][c] + eps);
        for (int k = 0; k < 9; k++)
            n->cw[c * 9 + k] = cw[c * 9 + k] * sc;
        n->cb[c] = sc * (cb[c] - bn[2][c]) + bn[1][c];
    }
    for (int b = 0; b < n->nb; b++) {
        const branch_src *s = &src[b];
        branch *br = &n->br[b];
        for (int d = 0; d < n->D; d++) {
            const int col = b * n->Dp + d;
            n->db[col] = s->db[d];
            for (int i = 0; i < CM; i++)
                *panel_at(n->dw, n->n_in, i, col) = s->dw[(size_t)d * CM + i];
        }
        gru_fill(&br->fw, n->D, s->g[0]);
        if (ndir == 2)
            gru_fill(&br->bw, n->D, s->g[1]);
        /* maxout input: [h_fw (Hp) | h_bw (Hp)] */
        for (int col = 0; col < P * K; col++) {
            br->mb[col] = s->mb[col];
            for (int i = 0; i < G; i++)
                *panel_at(br->mw, n->Gp, i < H ? i : n->Hp + i - H, col) =
                    s->mw[(size_t)col * G + i];
        }
    }
}

int crnn_create(const weights *w, crnn **out, char *msg, size_t len)
{
    if (!out)
        return CRNN_ERR_ARG;
    *out = NULL;
    if (!w) {
        fmt(msg, len, "no weights");
        return CRNN_ERR_ARG;
    }
    crnn tmp = {0}, *n = &tmp;
    int joint = 0, err;
    float eps = 0;
    if ((err = read_meta(w, n, &joint, &eps, msg, len)))
        return err;

    int64_t s[WEIGHTS_MAX_DIMS];
    const float *mean, *std, *cw, *cb, *bn[4];
    if ((err = get_shape(w, "input.mean", 1, s, &mean, msg, len)))
        return err;
    n->M = (int)s[0];
    if ((err = expect(w, "input.std", 1, n->M, 0, 0, &std, msg, len)))
        return err;
    for (int m = 0; m < n->M; m++)
        if (!(std[m] > 0)) {
            fmt(msg, len, "tensor 'input.std' has a non-positive value at band %d", m);
            return WEIGHTS_ERR_INVALID;
        }
    if ((err = get_shape(w, "conv.weight", 3, s, &cw, msg, len)))
        return err;
    if (s[1] != 3 || s[2] != 3) {
        fmt(msg, len, "tensor 'conv.weight' has shape [%lld, %lld, %lld], expected [C, 3, 3]",
            (long long)s[0], (long long)s[1], (long long)s[2]);
        return WEIGHTS_ERR_SHAPE;
    }
    n->C = (int)s[0];
    if ((err = expect(w, "conv.bias", 1, n->C, 0, 0, &cb, msg, len)))
        return err;
    static const char *bn_names[4] = {"bn.gamma", "bn.beta", "bn.mean", "bn.var"};
    for (int i = 0; i < 4; i++)
        if ((err = expect(w, bn_names[i], 1, n->C, 0, 0, &bn[i], msg, len)))
            return err;
    for (int c = 0; c < n->C; c++)
        if (!(bn[3][c] >= 0)) {
            fmt(msg, len, "tensor 'bn.var' has a negative value at filter %d", c);
            return WEIGHTS_ERR_INVALID;
        }

    /* Branch dimensions come from the first branch; the rest must agree. */
    const char *names[MAX_BRANCHES] = {"arousal", "valence"};
    if (joint)
        names[0] = "joint";
    n->nb = joint ? 1 : 2;
    n->P = joint ? 2 : 1;
    char nm[64];
    snprintf(nm, sizeof nm, "%s.dense.weight", names[0]);
    if ((err = get_shape(w, nm, 2, s, NULL, msg, len)))
        return err;
    n->D = (int)s[0];
    if (s[1] != (int64_t)n->C * n->M) {
        fmt(msg, len,
            "tensor '%s' takes %lld inputs but the conv gives C*M = %d*%d = %lld "
            "(input.mean has M = %d)",
            nm, (long long)s[1], n->C, n->M, (long long)n->C * n->M, n->M);
        return WEIGHTS_ERR_SHAPE;
    }
    snprintf(nm, sizeof nm, "%s.gru.weight_ih", names[0]);
    if ((err = get_shape(w, nm, 2, s, NULL, msg, len)))
        return err;
    if (s[0] % 3) {
        fmt(msg, len, "tensor '%s' has %lld rows, expected 3*H", nm, (long long)s[0]);
        return WEIGHTS_ERR_SHAPE;
    }
    n->H = (int)(s[0] / 3);
    int ndir = n->kind == CRNN_OFFLINE ? 2 : 1;
    n->G = ndir * n->H;
    snprintf(nm, sizeof nm, "%s.maxout.weight", names[0]);
    if ((err = get_shape(w, nm, 3, s, NULL, msg, len)))
        return err;
    n->K = (int)s[1];
    branch_src src[MAX_BRANCHES];
    memset(src, 0, sizeof src);
    for (int b = 0; b < n->nb; b++)
        if ((err = check_branch(w, names[b], n, ndir, &src[b], msg, len)))
            return err;
    if (!joint && weights_get(w, "joint.dense.weight", NULL, NULL)) {
        fmt(msg, len,
            "tensor 'joint.dense.weight' is present but metadata branches is \"separate\"");
        return WEIGHTS_ERR_INVALID;
    }
    /* The file's feature config must give the frames this net reads: every
     * caller sizes frames by n_mels and the net reads M values each. A
     * missing or malformed n_mels is left to melspec_config_read. */
    const char *fm = weights_meta(w, "n_mels");
    if (fm) {
        char *end;
        errno = 0;
        long v = strtol(fm, &end, 10);
        if (end != fm && !*end && !errno && v != n->M) {
            fmt(msg, len, "model expects %d mel bands but its metadata says n_mels=%ld", n->M, v);
            return WEIGHTS_ERR_SHAPE;
        }
    }

    /* The kernels: the best set this CPU runs, unless the environment
     * names one (tests compare the sets). */
    const char *want = getenv("VALAR_CRNN_KERNELS");
    n->k = crnn_kern_select(want);
    if (!n->k) {
        fmt(msg, len, "VALAR_CRNN_KERNELS=%s: no such kernel set on this CPU", want);
        return CRNN_ERR_ARG;
    }

    /* Sizes of everything, then one allocation, zeroed (padding stays 0). */
    dimensions(n, ndir);
    arena a = {NULL, 0};
    layout(n, &a, ndir);
    const size_t bytes = (size_t)round_up((int)a.used, ALIGN_FLOATS) * sizeof(float);
    float *block = aligned_alloc(ALIGN_FLOATS * sizeof(float), bytes);
    crnn *net = block ? calloc(1, sizeof *net) : NULL;
    if (!net) {
        free(block);
        fmt(msg, len, "out of memory");
        return WEIGHTS_ERR_NOMEM;
    }
    memset(block, 0, bytes);
    *net = tmp;
    net->block = a.p = block;
    a.used = 0;
    layout(net, &a, ndir);
    fill(net, src, mean, std, cw, cb, bn, eps, ndir);
    /* Trained: conv, BN gamma and beta (not its running mean/var), and each
     * branch but its GRU state. */
    const long M = n->M, C = n->C, D = n->D, H = n->H, K = n->K, P = n->P, G = n->G;
    const long per_gru = 3 * H * D + 3 * H * H + 3 * H;
    net->n_params = C * 9 + C + 2 * C + n->nb * (D * C * M + D + ndir * per_gru + P * K * G + P * K);
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
    for (int i = 0; i < 3; i++)
        memset(net->hist[i], 0, (size_t)net->M * sizeof(float));
    for (int b = 0; b < net->nb; b++)
        memset(net->br[b].h, 0, (size_t)net->Hp * sizeof(float));
}

/* Real-time safe (audio thread in the LV2 plugin, worker in valar listen). */
int crnn_step(crnn *net, const float *in, float out[2])
{
    if (!net || !in || !out)
        return CRNN_ERR_ARG;
    if (net->kind != CRNN_STREAMING)
        return CRNN_ERR_KIND;
    const crnn_kern *k = net->k;
    /* Rotate the history so hist[2] is the new frame (t), hist[0] is t-2. */
    float *oldest = net->hist[0];
    net->hist[0] = net->hist[1];
    net->hist[1] = net->hist[2];
    net->hist[2] = oldest;
    k->normalise(in, net->mean, net->istd, net->M, net->hist[2]);
    k->conv(net->cw, net->cb, net->hist[0], net->hist[1], net->hist[2], net->C, net->M, net->conv);
    k->dense(net->dw, net->db, net->conv, net->n_in, net->n_dense, net->dense);
    for (int b = 0; b < net->nb; b++) {
        branch *br = &net->br[b];
        k->gru_step(&br->fw, net->dense + b * net->Dp, br->h, net->scratch);
        k->maxout(br->mw, br->mb, br->h, net->Gp, net->n_mo, net->P, net->K, net->scratch,
                  out + b);
    }
    return 0;
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
        return CRNN_ERR_ARG;
    const crnn_kern *k = net->k;
    const size_t M = net->M, stride = M + 1, nd = net->n_dense, ni = net->n_in;
    const int off = net->kind == CRNN_OFFLINE ? 1 : 2; /* time offset of kernel row 0 */
    /* xn: T rows with a zero between them (the mel padding); conv
     * [SEQ_BLOCK][n_in]; dense [T][n_dense]; GRU outputs [T][Gp]; h [Hp];
     * scratch */
    const size_t n_xn = (size_t)T * stride + 1;
    const size_t need = n_xn + SEQ_BLOCK * ni + (size_t)T * nd + (size_t)T * net->Gp + net->Hp +
                        net->n_scratch;
    float *buf = calloc(need, sizeof(float));
    if (!buf)
        return WEIGHTS_ERR_NOMEM;
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
