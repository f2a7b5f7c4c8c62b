#include "crnn_layout.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A dimension of a tensor's shape. */
enum { D_NONE, D_M, D_C, D_D, D_H, D_3H, D_K, D_P, D_G, D_CM, D_3 };

static const struct {
    const char *name; /* after "<branch>." for the per-branch tensors */
    unsigned char backward, trainable, ndim, shape[3];
} table[CRNN_N_TENSORS] = {
    [CRNN_INPUT_MEAN] = {"input.mean", 0, 0, 1, {D_M}},
    [CRNN_INPUT_STD] = {"input.std", 0, 0, 1, {D_M}},
    [CRNN_CONV_W] = {"conv.weight", 0, 1, 3, {D_C, D_3, D_3}},
    [CRNN_CONV_B] = {"conv.bias", 0, 1, 1, {D_C}},
    [CRNN_BN_GAMMA] = {"bn.gamma", 0, 1, 1, {D_C}},
    [CRNN_BN_BETA] = {"bn.beta", 0, 1, 1, {D_C}},
    [CRNN_BN_MEAN] = {"bn.mean", 0, 0, 1, {D_C}},
    [CRNN_BN_VAR] = {"bn.var", 0, 0, 1, {D_C}},
    [CRNN_DENSE_W] = {"dense.weight", 0, 1, 2, {D_D, D_CM}},
    [CRNN_DENSE_B] = {"dense.bias", 0, 1, 1, {D_D}},
    [CRNN_GRU_WIH] = {"gru.weight_ih", 0, 1, 2, {D_3H, D_D}},
    [CRNN_GRU_WHH] = {"gru.weight_hh", 0, 1, 2, {D_3H, D_H}},
    [CRNN_GRU_B] = {"gru.bias", 0, 1, 1, {D_3H}},
    [CRNN_GRU_BW_WIH] = {"gru_bw.weight_ih", 1, 1, 2, {D_3H, D_D}},
    [CRNN_GRU_BW_WHH] = {"gru_bw.weight_hh", 1, 1, 2, {D_3H, D_H}},
    [CRNN_GRU_BW_B] = {"gru_bw.bias", 1, 1, 1, {D_3H}},
    [CRNN_MAXOUT_W] = {"maxout.weight", 0, 1, 3, {D_P, D_K, D_G}},
    [CRNN_MAXOUT_B] = {"maxout.bias", 0, 1, 2, {D_P, D_K}},
};

int crnn_dims_branches(const crnn_dims *d)
{
    return d->joint ? 1 : 2;
}

int crnn_dims_outputs(const crnn_dims *d)
{
    return d->joint ? 2 : 1;
}

int crnn_dims_dirs(const crnn_dims *d)
{
    return d->streaming ? 1 : 2;
}

int crnn_dims_gru_out(const crnn_dims *d)
{
    return crnn_dims_dirs(d) * d->H;
}

const char *crnn_branch_name(const crnn_dims *d, int branch)
{
    return d->joint ? "joint" : branch == 0 ? "arousal" : "valence";
}

static int64_t dim_value(const crnn_dims *d, int which)
{
    switch (which) {
    case D_M:
        return d->M;
    case D_C:
        return d->C;
    case D_D:
        return d->D;
    case D_H:
        return d->H;
    case D_3H:
        return 3 * (int64_t)d->H;
    case D_K:
        return d->K;
    case D_P:
        return crnn_dims_outputs(d);
    case D_G:
        return crnn_dims_gru_out(d);
    case D_CM:
        return (int64_t)d->C * d->M;
    case D_3:
        return 3;
    default:
        return 0;
    }
}

/* Table entry id as the tensor of branch b. */
static void describe(const crnn_dims *d, int id, int b, crnn_tensor *t)
{
    t->id = id;
    t->branch = b;
    t->trainable = table[id].trainable;
    if (id >= CRNN_FIRST_BRANCH_TENSOR)
        snprintf(t->name, sizeof t->name, "%s.%s", crnn_branch_name(d, b), table[id].name);
    else
        snprintf(t->name, sizeof t->name, "%s", table[id].name);
    t->ndim = table[id].ndim;
    t->count = 1;
    for (int k = 0; k < 3; k++) {
        t->shape[k] = k < t->ndim ? dim_value(d, table[id].shape[k]) : 0;
        if (k < t->ndim)
            t->count *= (size_t)t->shape[k];
    }
}

int crnn_layout_tensor(const crnn_dims *d, int i, crnn_tensor *t)
{
    if (i < 0)
        return 0;
    if (i < CRNN_FIRST_BRANCH_TENSOR) {
        describe(d, i, 0, t);
        return 1;
    }
    i -= CRNN_FIRST_BRANCH_TENSOR;
    for (int b = 0; b < crnn_dims_branches(d); b++)
        for (int id = CRNN_FIRST_BRANCH_TENSOR; id < CRNN_N_TENSORS; id++) {
            if (table[id].backward && d->streaming)
                continue;
            if (i-- == 0) {
                describe(d, id, b, t);
                return 1;
            }
        }
    return 0;
}

size_t crnn_layout_params(const crnn_dims *d)
{
    size_t n = 0;
    crnn_tensor t;
    for (int i = 0; crnn_layout_tensor(d, i, &t); i++)
        n += t.trainable ? t.count : 0;
    return n;
}

/* ---- reading a file ---- */

/* The shape of a tensor that must have ndim usable dimensions. */
static int get_shape(const weights *w, const char *name, int want_ndim, int64_t *shape, char *msg,
                     size_t len)
{
    int nd = 0;
    if (!weights_get(w, name, &nd, shape))
        return valar_fail(msg, len, VALAR_ERR_MISSING, "tensor '%s' is missing", name);
    if (nd != want_ndim)
        return valar_fail(msg, len, VALAR_ERR_SHAPE, "tensor '%s' has %d dimensions, expected %d",
                          name, nd, want_ndim);
    for (int i = 0; i < nd; i++)
        if (shape[i] < 1 || shape[i] > 65536)
            return valar_fail(msg, len, VALAR_ERR_SHAPE,
                              "tensor '%s' has an unusable dimension %lld", name,
                              (long long)shape[i]);
    return 0;
}

/* format and version must be these exact words. */
static int read_format(const weights *w, char *msg, size_t len)
{
    const char *f = weights_meta(w, "format"), *v = weights_meta(w, "version");
    if (!f || strcmp(f, "valar-crnn") != 0)
        return valar_fail(msg, len, f ? VALAR_ERR_VERSION : VALAR_ERR_MISSING,
                          "metadata format is %s%s%s, expected \"valar-crnn\"", f ? "\"" : "",
                          f ? f : "missing", f ? "\"" : "");
    if (!v || strcmp(v, "1") != 0)
        return valar_fail(msg, len, v ? VALAR_ERR_VERSION : VALAR_ERR_MISSING,
                          "metadata version is %s%s%s, this valar reads version 1", v ? "\"" : "",
                          v ? v : "missing", v ? "\"" : "");
    return 0;
}

/* D, H and K from the first branch's tensors (the others must agree:
 * crnn_layout_check). */
static int read_branch_dims(const weights *w, crnn_dims *d, char *msg, size_t len)
{
    int64_t s[WEIGHTS_MAX_DIMS];
    char nm[64];
    const char *b0 = crnn_branch_name(d, 0);
    int err;
    snprintf(nm, sizeof nm, "%s.dense.weight", b0);
    if ((err = get_shape(w, nm, 2, s, msg, len)))
        return err;
    d->D = (int)s[0];
    if (s[1] != (int64_t)d->C * d->M)
        return valar_fail(msg, len, VALAR_ERR_SHAPE,
                          "tensor '%s' takes %lld inputs but the conv gives C*M = %d*%d = %lld "
                          "(input.mean has M = %d)",
                          nm, (long long)s[1], d->C, d->M, (long long)d->C * d->M, d->M);
    snprintf(nm, sizeof nm, "%s.gru.weight_ih", b0);
    if ((err = get_shape(w, nm, 2, s, msg, len)))
        return err;
    if (s[0] % 3)
        return valar_fail(msg, len, VALAR_ERR_SHAPE, "tensor '%s' has %lld rows, expected 3*H", nm,
                          (long long)s[0]);
    d->H = (int)(s[0] / 3);
    snprintf(nm, sizeof nm, "%s.maxout.weight", b0);
    if ((err = get_shape(w, nm, 3, s, msg, len)))
        return err;
    d->K = (int)s[1];
    return 0;
}

int crnn_layout_read(const weights *w, crnn_dims *d, double *bn_eps, char *msg, size_t msglen)
{
    static const char *const kinds[] = {"offline", "streaming"}, *const branches[] = {"separate",
                                                                                      "joint"};
    int err;
    if ((err = read_format(w, msg, msglen)) ||
        (err = weights_meta_choice(w, "kind", kinds, 2, &d->streaming, msg, msglen)) ||
        (err = weights_meta_choice(w, "branches", branches, 2, &d->joint, msg, msglen)) ||
        (err = weights_meta_double(w, "bn_eps", 0, 1, bn_eps, msg, msglen)))
        return err;
    if (*bn_eps == 0)
        return valar_fail(msg, msglen, VALAR_ERR_META,
                          "metadata key 'bn_eps' = '%s' is not positive",
                          weights_meta(w, "bn_eps"));
    int64_t s[WEIGHTS_MAX_DIMS];
    if ((err = get_shape(w, "input.mean", 1, s, msg, msglen)))
        return err;
    d->M = (int)s[0];
    if ((err = get_shape(w, "conv.weight", 3, s, msg, msglen)))
        return err;
    if (s[1] != 3 || s[2] != 3)
        return valar_fail(msg, msglen, VALAR_ERR_SHAPE,
                          "tensor 'conv.weight' has shape [%lld, %lld, %lld], expected [C, 3, 3]",
                          (long long)s[0], (long long)s[1], (long long)s[2]);
    d->C = (int)s[0];
    return read_branch_dims(w, d, msg, msglen);
}

/* Right after a streaming branch's GRU: it must have no backward one. */
static int no_backward(const weights *w, const crnn_dims *d, int b, char *msg, size_t msglen)
{
    char bw[64];
    snprintf(bw, sizeof bw, "%s.%s", crnn_branch_name(d, b), table[CRNN_GRU_BW_WIH].name);
    if (!weights_get(w, bw, NULL, NULL))
        return 0;
    return valar_fail(msg, msglen, VALAR_ERR_META,
                      "tensor '%s' is present but a streaming model has no backward GRU", bw);
}

int crnn_layout_check(const weights *w, const crnn_dims *d,
                      const float *data[CRNN_MAX_BRANCHES][CRNN_N_TENSORS], char *msg,
                      size_t msglen)
{
    memset(data, 0, sizeof(const float *) * CRNN_MAX_BRANCHES * CRNN_N_TENSORS);
    crnn_tensor t;
    int err;
    for (int i = 0; crnn_layout_tensor(d, i, &t); i++) {
        if ((err = weights_expect(w, t.name, t.ndim, t.shape, &data[t.branch][t.id], msg, msglen)))
            return err;
        if (t.id == CRNN_GRU_B && d->streaming && (err = no_backward(w, d, t.branch, msg, msglen)))
            return err;
    }
    if (!d->joint && weights_get(w, "joint.dense.weight", NULL, NULL))
        return valar_fail(msg, msglen, VALAR_ERR_META,
                          "tensor 'joint.dense.weight' is present but metadata branches is "
                          "\"separate\"");
    /* The file's feature config must give the frames this net reads: every
     * caller sizes frames by n_mels and the net reads M values each. */
    int n_mels;
    if (weights_meta(w, "n_mels") &&
        (err = weights_meta_int(w, "n_mels", INT_MIN, INT_MAX, &n_mels, msg, msglen)))
        return err;
    if (weights_meta(w, "n_mels") && n_mels != d->M)
        return valar_fail(msg, msglen, VALAR_ERR_SHAPE,
                          "model expects %d mel bands but its metadata says n_mels=%d", d->M,
                          n_mels);
    return 0;
}
