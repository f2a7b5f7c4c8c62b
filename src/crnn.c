/* crnn: inference for the CRNN of Malik et al. 2017 (see crnn.h for the
 * network and the tensor names). Everything is copied out of the weights
 * object at create time, batch norm is folded into the conv, and the
 * streaming state (two past input frames, GRU states) lives in the struct,
 * so crnn_step does a fixed amount of work and never allocates. */
#include "crnn.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BRANCHES 2

typedef struct {
    float *wih, *whh, *b; /* [3H][D], [3H][H], [3H] */
} gru;

typedef struct {
    float *dw, *db; /* dense [D][C*M], [D] */
    gru fw, bw;     /* bw only offline */
    float *mw, *mb; /* maxout [P][K][G], [P][K] */
    float *h;       /* streaming GRU state [H] */
} branch;

struct crnn {
    crnn_kind kind;
    int M, C, D, H, K, P, G, nb; /* nb branches; P outputs per branch */
    long n_params;
    float *mean, *istd; /* input normalisation [M] */
    float *cw, *cb;     /* folded conv [C][3][3], [C] */
    branch br[MAX_BRANCHES];
    /* streaming: normalised frames t-2, t-1, t (rotated), and scratch */
    float *hist[3];
    float *conv;            /* [C*M] */
    float *dense;           /* [D] */
    float *gates, *gates_h; /* [3H] each */
    float *g;               /* [G] */
    float *block;           /* one allocation holding all of the above */
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

static inline float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* ---- loading ---- */

/* Bump allocator over one block: a model is a handful of small arrays. */
typedef struct {
    float *p;
    size_t used;
} arena;

static float *take(arena *a, size_t n)
{
    float *r = a->p + a->used;
    a->used += n;
    return r;
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

static void copy(float *dst, const float *src, size_t n)
{
    memcpy(dst, src, n * sizeof *dst);
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

    /* Sizes of everything, then one allocation. */
    const size_t M = n->M, C = n->C, D = n->D, H = n->H, K = n->K, P = n->P, G = n->G;
    const size_t per_gru = 3 * H * D + 3 * H * H + 3 * H;
    const size_t per_branch = D * C * M + D + ndir * per_gru + P * K * G + P * K + H;
    const size_t total = 2 * M + C * 9 + C + n->nb * per_branch + 3 * M + C * M + D + 6 * H + G;
    arena a = {malloc(total * sizeof(float)), 0};
    if (!a.p) {
        fmt(msg, len, "out of memory");
        return WEIGHTS_ERR_NOMEM;
    }
    crnn *net = calloc(1, sizeof *net);
    if (!net) {
        free(a.p);
        fmt(msg, len, "out of memory");
        return WEIGHTS_ERR_NOMEM;
    }
    *net = tmp;
    net->block = a.p;
    net->mean = take(&a, M);
    net->istd = take(&a, M);
    for (size_t m = 0; m < M; m++) {
        net->mean[m] = mean[m];
        net->istd[m] = 1.0f / std[m];
    }
    net->cw = take(&a, C * 9);
    net->cb = take(&a, C);
    for (size_t c = 0; c < C; c++) {
        /* BN(conv + b) = s * conv + (s * (b - mean) + beta), s = gamma / sqrt(var + eps) */
        float sc = bn[0][c] / sqrtf(bn[3][c] + eps);
        for (int k = 0; k < 9; k++)
            net->cw[c * 9 + k] = cw[c * 9 + k] * sc;
        net->cb[c] = sc * (cb[c] - bn[2][c]) + bn[1][c];
    }
    for (int b = 0; b < n->nb; b++) {
        branch *br = &net->br[b];
        br->dw = take(&a, D * C * M);
        copy(br->dw, src[b].dw, D * C * M);
        br->db = take(&a, D);
        copy(br->db, src[b].db, D);
        for (int d = 0; d < ndir; d++) {
            gru *g = d ? &br->bw : &br->fw;
            g->wih = take(&a, 3 * H * D);
            copy(g->wih, src[b].g[d][0], 3 * H * D);
            g->whh = take(&a, 3 * H * H);
            copy(g->whh, src[b].g[d][1], 3 * H * H);
            g->b = take(&a, 3 * H);
            copy(g->b, src[b].g[d][2], 3 * H);
        }
        br->mw = take(&a, P * K * G);
        copy(br->mw, src[b].mw, P * K * G);
        br->mb = take(&a, P * K);
        copy(br->mb, src[b].mb, P * K);
        br->h = take(&a, H);
    }
    for (int i = 0; i < 3; i++)
        net->hist[i] = take(&a, M);
    net->conv = take(&a, C * M);
    net->dense = take(&a, D);
    net->gates = take(&a, 3 * H);
    net->gates_h = take(&a, 3 * H);
    net->g = take(&a, G);
    /* Trained: conv, BN gamma and beta (not its running mean/var), and each
     * branch but its GRU state. */
    net->n_params = (long)(C * 9 + C + 2 * C + n->nb * (per_branch - H));
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

/* ---- kernels ---- */

static void normalise(const crnn *n, const float *x, float *xn)
{
    for (int m = 0; m < n->M; m++)
        xn[m] = (x[m] - n->mean[m]) * n->istd[m];
}

/* Conv + folded BN + ReLU for one output frame from three input rows
 * (time offsets 0, 1, 2 of the kernel; NULL = zero padding). */
static void conv_frame(const crnn *n, const float *r0, const float *r1, const float *r2, float *y)
{
    const int M = n->M;
    const float *rows[3] = {r0, r1, r2};
    for (int c = 0; c < n->C; c++) {
        const float *k = n->cw + c * 9;
        float *yc = y + c * M;
        for (int m = 0; m < M; m++)
            yc[m] = n->cb[c];
        for (int i = 0; i < 3; i++) {
            const float *r = rows[i];
            if (!r)
                continue;
            const float k0 = k[i * 3], k1 = k[i * 3 + 1], k2 = k[i * 3 + 2];
            for (int m = 0; m < M; m++) {
                float s = k1 * r[m];
                if (m > 0)
                    s += k0 * r[m - 1];
                if (m + 1 < M)
                    s += k2 * r[m + 1];
                yc[m] += s;
            }
        }
        for (int m = 0; m < M; m++)
            if (!(yc[m] > 0))
                yc[m] = 0;
    }
}

static void dense(const crnn *n, const branch *br, const float *x, float *y)
{
    const int in = n->C * n->M;
    for (int d = 0; d < n->D; d++) {
        const float *w = br->dw + (size_t)d * in;
        float s = 0;
        for (int i = 0; i < in; i++)
            s += w[i] * x[i];
        y[d] = s + br->db[d];
    }
}

/* One GRU step: h <- GRU(x, h). gx, gh are [3H] scratch. */
static void gru_step(const crnn *n, const gru *g, const float *x, float *h, float *gx, float *gh)
{
    const int H = n->H, D = n->D;
    for (int j = 0; j < 3 * H; j++) {
        const float *w = g->wih + (size_t)j * D;
        float s = g->b[j];
        for (int i = 0; i < D; i++)
            s += w[i] * x[i];
        gx[j] = s;
    }
    /* z and r see U h; n sees U (r * h), so it needs r first. */
    for (int j = 0; j < 2 * H; j++) {
        const float *u = g->whh + (size_t)j * H;
        float s = 0;
        for (int i = 0; i < H; i++)
            s += u[i] * h[i];
        gx[j] = sigmoidf(gx[j] + s);
    }
    for (int i = 0; i < H; i++)
        gh[i] = gx[H + i] * h[i]; /* r * h */
    for (int j = 0; j < H; j++) {
        const float *u = g->whh + (size_t)(2 * H + j) * H;
        float s = 0;
        for (int i = 0; i < H; i++)
            s += u[i] * gh[i];
        gx[2 * H + j] = tanhf(gx[2 * H + j] + s);
    }
    for (int j = 0; j < H; j++) {
        const float z = gx[j];
        h[j] = z * h[j] + (1.0f - z) * gx[2 * H + j];
    }
}

static float clip1(float x)
{
    return x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
}

static void maxout(const crnn *n, const branch *br, const float *g, float *out)
{
    const int K = n->K, G = n->G;
    for (int p = 0; p < n->P; p++) {
        float best = -INFINITY;
        for (int k = 0; k < K; k++) {
            const float *w = br->mw + ((size_t)p * K + k) * G;
            float s = br->mb[p * K + k];
            for (int i = 0; i < G; i++)
                s += w[i] * g[i];
            if (s > best)
                best = s;
        }
        out[p] = clip1(best);
    }
}

/* ---- entry points ---- */

void crnn_reset(crnn *net)
{
    for (int i = 0; i < 3; i++)
        memset(net->hist[i], 0, (size_t)net->M * sizeof(float));
    for (int b = 0; b < net->nb; b++)
        memset(net->br[b].h, 0, (size_t)net->H * sizeof(float));
}

int crnn_step(crnn *net, const float *in, float out[2])
{
    if (!net || !in || !out)
        return CRNN_ERR_ARG;
    if (net->kind != CRNN_STREAMING)
        return CRNN_ERR_KIND;
    /* Rotate the history so hist[2] is the new frame (t), hist[0] is t-2. */
    float *oldest = net->hist[0];
    net->hist[0] = net->hist[1];
    net->hist[1] = net->hist[2];
    net->hist[2] = oldest;
    normalise(net, in, net->hist[2]);
    conv_frame(net, net->hist[0], net->hist[1], net->hist[2], net->conv);
    for (int b = 0; b < net->nb; b++) {
        branch *br = &net->br[b];
        dense(net, br, net->conv, net->dense);
        gru_step(net, &br->fw, net->dense, br->h, net->gates, net->gates_h);
        maxout(net, br, br->h, out + b);
    }
    return 0;
}

int crnn_run_sequence(crnn *net, const float *in, int T, float *out)
{
    if (!net || !in || !out || T < 1)
        return CRNN_ERR_ARG;
    const size_t M = net->M, C = net->C, D = net->D, H = net->H, G = net->G;
    const int off = net->kind == CRNN_OFFLINE ? 1 : 2; /* time offset of kernel row 0 */
    const int ndir = net->kind == CRNN_OFFLINE ? 2 : 1;
    /* xn [T][M], conv [C*M], dense [nb][T][D], gru out [T][G], h, gates */
    size_t need = (size_t)T * M + C * M + (size_t)net->nb * T * D + (size_t)T * G + H + 6 * H;
    float *buf = malloc(need * sizeof(float));
    if (!buf)
        return WEIGHTS_ERR_NOMEM;
    float *xn = buf, *y = xn + (size_t)T * M, *ds = y + C * M;
    float *go = ds + (size_t)net->nb * T * D, *h = go + (size_t)T * G;
    float *gx = h + H, *gh = gx + 3 * H;

    for (int t = 0; t < T; t++)
        normalise(net, in + (size_t)t * M, xn + (size_t)t * M);
    for (int t = 0; t < T; t++) {
        const float *r[3];
        for (int i = 0; i < 3; i++) {
            int s = t + i - off;
            r[i] = s >= 0 && s < T ? xn + (size_t)s * M : NULL;
        }
        conv_frame(net, r[0], r[1], r[2], y);
        for (int b = 0; b < net->nb; b++)
            dense(net, &net->br[b], y, ds + ((size_t)b * T + t) * D);
    }
    for (int b = 0; b < net->nb; b++) {
        const branch *br = &net->br[b];
        const float *db = ds + (size_t)b * T * D;
        memset(h, 0, H * sizeof(float));
        for (int t = 0; t < T; t++) {
            gru_step(net, &br->fw, db + (size_t)t * D, h, gx, gh);
            memcpy(go + (size_t)t * G, h, H * sizeof(float));
        }
        if (ndir == 2) {
            memset(h, 0, H * sizeof(float));
            for (int t = T - 1; t >= 0; t--) {
                gru_step(net, &br->bw, db + (size_t)t * D, h, gx, gh);
                memcpy(go + (size_t)t * G + H, h, H * sizeof(float));
            }
        }
        for (int t = 0; t < T; t++) {
            float o[2];
            maxout(net, br, go + (size_t)t * G, o);
            for (int p = 0; p < net->P; p++)
                out[(size_t)t * 2 + b + p] = o[p];
        }
    }
    free(buf);
    return 0;
}
