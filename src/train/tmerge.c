#include "tmerge.h"

#include "crnn_layout.h"
#include "ttrain.h"
#include "valar_error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The members and the merged net: dimensions and each one's tensors. */
typedef struct {
    int n;
    crnn_dims d[TMERGE_MAX], m;
    const float *src[TMERGE_MAX][CRNN_MAX_BRANCHES][CRNN_N_TENSORS];
    int offC[TMERGE_MAX], offD[TMERGE_MAX], offH[TMERGE_MAX];
} plan;

/* Metadata that decides what a model's input means: members must agree. */
static const char *const same_meta[] = {"kind",  "branches",   "bn_eps",     "sample_rate",
                                        "n_fft", "hop_length", "n_mels",     "fmin",
                                        "fmax",  "log_floor",  "segment_ms", "seq_len"};

static int check_alike(const weights *const *in, const char *const *names, const plan *p, char *msg,
                       size_t len)
{
    for (int i = 1; i < p->n; i++) {
        for (size_t k = 0; k < sizeof same_meta / sizeof same_meta[0]; k++) {
            const char *a = weights_meta(in[0], same_meta[k]),
                       *b = weights_meta(in[i], same_meta[k]);
            if ((a || b) && (!a || !b || strcmp(a, b)))
                return valar_fail(msg, len, VALAR_ERR_META,
                                  "%s: metadata %s is '%s', but '%s' in %s (members must "
                                  "be of one kind and layout, on the same features)",
                                  names[i], same_meta[k], b ? b : "(absent)", a ? a : "(absent)",
                                  names[0]);
        }
        if (p->d[i].M != p->d[0].M)
            return valar_fail(msg, len, VALAR_ERR_META, "%s: %d mel bands, but %d in %s", names[i],
                              p->d[i].M, p->d[0].M, names[0]);
        for (int id = CRNN_INPUT_MEAN; id <= CRNN_INPUT_STD; id++)
            for (int m = 0; m < p->d[0].M; m++)
                if (fabsf(p->src[i][0][id][m] - p->src[0][0][id][m]) >
                    1e-5f * (1 + fabsf(p->src[0][0][id][m])))
                    return valar_fail(msg, len, VALAR_ERR_META,
                                      "%s: input statistics differ from %s's (band %d); members "
                                      "must be trained on the same training set",
                                      names[i], names[0], m);
    }
    return 0;
}

/* Read and check every member; the merged dimensions and offsets. */
static int make_plan(const weights *const *in, const char *const *names, plan *p, char *msg,
                     size_t len)
{
    char why[512];
    double eps;
    int err;
    p->m = (crnn_dims){0};
    p->m.K = 1;
    for (int i = 0; i < p->n; i++) {
        if ((err = crnn_layout_read(in[i], &p->d[i], &eps, why, sizeof why)) ||
            (err = crnn_layout_check(in[i], &p->d[i], p->src[i], why, sizeof why)))
            return valar_fail(msg, len, err, "%s: %s", names[i], why);
        p->offC[i] = p->m.C, p->offD[i] = p->m.D, p->offH[i] = p->m.H;
        p->m.C += p->d[i].C, p->m.D += p->d[i].D, p->m.H += p->d[i].H;
        if (p->m.K * (long)p->d[i].K > TMERGE_MAX_PIECES)
            return valar_fail(msg, len, VALAR_ERR_META,
                              "the merged maxout would have more than %d pieces (the product "
                              "of the members' K); merge fewer models",
                              TMERGE_MAX_PIECES);
        p->m.K *= p->d[i].K;
    }
    p->m.streaming = p->d[0].streaming, p->m.joint = p->d[0].joint, p->m.M = p->d[0].M;
    return check_alike(in, names, p, msg, len);
}

/* Member i's part of merged tensor t (of branch b) into dst, zero elsewhere. */
static void fill(const plan *p, const crnn_tensor *t, int i, float *dst)
{
    const crnn_dims *d = &p->d[i], *m = &p->m;
    const float *s = p->src[i][t->branch][t->id];
    int oc = p->offC[i], od = p->offD[i], oh = p->offH[i];
    switch (t->id) {
    case CRNN_INPUT_MEAN:
    case CRNN_INPUT_STD:
        if (i == 0)
            memcpy(dst, s, sizeof(float) * (size_t)m->M);
        break;
    case CRNN_CONV_W:
        memcpy(dst + (size_t)oc * 9, s, sizeof(float) * 9 * (size_t)d->C);
        break;
    case CRNN_CONV_B:
    case CRNN_BN_GAMMA:
    case CRNN_BN_BETA:
    case CRNN_BN_MEAN:
    case CRNN_BN_VAR:
        memcpy(dst + oc, s, sizeof(float) * (size_t)d->C);
        break;
    case CRNN_DENSE_W: /* [D, C*M], input c*M + mel */
        for (int r = 0; r < d->D; r++)
            memcpy(dst + (size_t)(od + r) * m->C * m->M + (size_t)oc * m->M,
                   s + (size_t)r * d->C * d->M, sizeof(float) * (size_t)d->C * d->M);
        break;
    case CRNN_DENSE_B:
        memcpy(dst + od, s, sizeof(float) * (size_t)d->D);
        break;
    default: { /* the GRUs: three gates of H rows; inputs D (ih), H (hh) or none (bias) */
        int ih = t->id == CRNN_GRU_WIH || t->id == CRNN_GRU_BW_WIH;
        int hh = t->id == CRNN_GRU_WHH || t->id == CRNN_GRU_BW_WHH;
        int cols = ih ? d->D : hh ? d->H : 1, mcols = ih ? m->D : hh ? m->H : 1;
        int off = ih ? od : hh ? oh : 0;
        for (int g = 0; g < 3; g++)
            for (int r = 0; r < d->H; r++)
                memcpy(dst + ((size_t)g * m->H + oh + r) * mcols + off,
                       s + ((size_t)g * d->H + r) * cols, sizeof(float) * (size_t)cols);
    }
    }
}

/* The merged maxout: piece k is one piece per member (k in mixed radix,
 * member 0 the fastest digit), weights and bias their average. */
static void fill_maxout(const plan *p, const crnn_tensor *t, float *dst)
{
    const crnn_dims *m = &p->m;
    int P = crnn_dims_outputs(m), dirs = crnn_dims_dirs(m), G = crnn_dims_gru_out(m);
    for (int o = 0; o < P; o++)
        for (int k = 0; k < m->K; k++) {
            int rest = k;
            for (int i = 0; i < p->n; i++) {
                const crnn_dims *d = &p->d[i];
                int ki = rest % d->K, Gi = crnn_dims_gru_out(d);
                rest /= d->K;
                const float *s = p->src[i][t->branch][t->id];
                if (t->id == CRNN_MAXOUT_B) {
                    dst[o * m->K + k] += s[o * d->K + ki] / (float)p->n;
                    continue;
                }
                for (int dir = 0; dir < dirs; dir++)
                    for (int u = 0; u < d->H; u++)
                        dst[((size_t)o * m->K + k) * G + dir * m->H + p->offH[i] + u] =
                            s[((size_t)o * d->K + ki) * Gi + dir * d->H + u] / (float)p->n;
            }
        }
}

/* Description, metrics and the members' provenance. */
static int set_meta(weights *w, const weights *const *in, int n, const char *args)
{
    int err = 0;
    for (int i = 0; i < weights_meta_count(in[0]) && !err; i++) {
        const char *k = weights_meta_key(in[0], i);
        if (strcmp(k, "metrics") && strcmp(k, "training_args") && strcmp(k, "created"))
            err = weights_set_meta(w, k, weights_meta(in[0], k));
    }
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n && arr; i++) {
        cJSON *o = cJSON_CreateObject();
        const char *keys[] = {"training_args", "metrics", "created"};
        for (int k = 0; k < 3 && o; k++)
            if (weights_meta(in[i], keys[k]))
                cJSON_AddStringToObject(o, keys[k], weights_meta(in[i], keys[k]));
        if (!o || !cJSON_AddItemToArray(arr, o))
            err = VALAR_ERR_NOMEM;
    }
    char *js = arr ? cJSON_PrintUnformatted(arr) : NULL, desc[256];
    snprintf(desc, sizeof desc,
             "valar CRNN (Malik et al. 2017), %s, the average of %d trained models "
             "(valar-train merge)",
             weights_meta(in[0], "kind") ? weights_meta(in[0], "kind") : "?", n);
    if (!err)
        err = js ? weights_set_meta(w, "members", js) : VALAR_ERR_NOMEM;
    if (!err)
        err = weights_set_meta(w, "description", desc);
    if (!err)
        err = ttrain_provenance(w, args);
    free(js);
    cJSON_Delete(arr);
    return err;
}

int tmerge(const weights *const *in, const char *const *names, int n, const char *args,
           weights **out, char *msg, size_t msglen)
{
    *out = NULL;
    if (n < 2 || n > TMERGE_MAX)
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "merge takes 2 to %d models, not %d",
                          TMERGE_MAX, n);
    plan *p = calloc(1, sizeof *p);
    weights *w = weights_create();
    int err = p && w ? 0 : VALAR_ERR_NOMEM;
    if (!err) {
        p->n = n;
        err = make_plan(in, names, p, msg, msglen);
    }
    crnn_tensor t;
    for (int j = 0; !err && crnn_layout_tensor(&p->m, j, &t); j++) {
        float *buf = calloc(t.count, sizeof *buf);
        if (!buf) {
            err = VALAR_ERR_NOMEM;
            break;
        }
        if (t.id == CRNN_MAXOUT_W || t.id == CRNN_MAXOUT_B)
            fill_maxout(p, &t, buf);
        else
            for (int i = 0; i < n; i++)
                fill(p, &t, i, buf);
        err = weights_add(w, t.name, t.ndim, t.shape, buf);
        free(buf);
    }
    if (!err)
        err = set_meta(w, in, n, args);
    if (err == VALAR_ERR_NOMEM)
        valar_fail(msg, msglen, err, "out of memory merging %d models", n);
    free(p);
    if (err) {
        weights_destroy(w);
        return err;
    }
    *out = w;
    return 0;
}
