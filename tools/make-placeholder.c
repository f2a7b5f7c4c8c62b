/* make-placeholder: write the shipped placeholder models.
 *
 *   make-placeholder OUTDIR [AUDIO]
 *
 * Writes OUTDIR/placeholder-offline.safetensors and
 * OUTDIR/placeholder-streaming.safetensors: the paper's network with random
 * weights from a fixed seed (so the output is reproducible), metadata
 * placeholder = true. With AUDIO, the input normalisation is the per-band
 * mean and std of that file's features, so that the random network sees
 * inputs of the scale a trained one would, and its outputs move with the
 * music instead of sitting at a clip limit. The numbers mean nothing. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crnn.h"
#include "melspec.h"
#include "offline.h"
#include "weights.h"

enum { C = 8, D = 8, H = 8, K = 4 };

static uint64_t rng_state = 0x5eed5eed2017ULL;

/* splitmix64: tiny, and the same on every platform. */
static double uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static int add_random(weights *w, const char *name, int nd, int64_t a, int64_t b, int64_t c,
                      double scale)
{
    const int64_t shape[3] = {a, b, c};
    size_t n = (size_t)a * (nd > 1 ? b : 1) * (nd > 2 ? c : 1);
    float *x = malloc(n * sizeof *x);
    if (!x)
        return VALAR_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((2 * uniform() - 1) * scale);
    int err = weights_add(w, name, nd, shape, x);
    free(x);
    return err;
}

static int add_const(weights *w, const char *name, int64_t n, const float *v, float c)
{
    float *x = malloc((size_t)n * sizeof *x);
    if (!x)
        return VALAR_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        x[i] = v ? v[i] : c;
    int err = weights_add(w, name, 1, &n, x);
    free(x);
    return err;
}

static int make(const char *path, int offline, const melspec_config *fc, const float *mean,
                const float *std, const char *stats_from)
{
    const int M = fc->n_mels;
    weights *w = weights_create();
    if (!w)
        return VALAR_ERR_NOMEM;
    int err = 0;
    err |= add_const(w, "input.mean", M, mean, 0);
    err |= add_const(w, "input.std", M, std, 1);
    /* Scales keep every layer's output near unit variance (Glorot-like). */
    err |= add_random(w, "conv.weight", 3, C, 3, 3, 0.6);
    err |= add_random(w, "conv.bias", 1, C, 0, 0, 0.1);
    /* Identity batch norm: the conv scale above already gives unit variance. */
    err |= add_const(w, "bn.gamma", C, NULL, 1);
    err |= add_const(w, "bn.beta", C, NULL, 0);
    err |= add_const(w, "bn.mean", C, NULL, 0);
    err |= add_const(w, "bn.var", C, NULL, 1);
    static const char *branches[2] = {"arousal", "valence"};
    char name[64];
    for (int b = 0; b < 2; b++) {
        const char *p = branches[b];
        snprintf(name, sizeof name, "%s.dense.weight", p);
        err |= add_random(w, name, 2, D, (int64_t)C * M, 0, 3.0 / sqrt((double)C * M));
        snprintf(name, sizeof name, "%s.dense.bias", p);
        err |= add_random(w, name, 1, D, 0, 0, 0.1);
        for (int d = 0; d < (offline ? 2 : 1); d++) {
            const char *g = d ? "gru_bw" : "gru";
            snprintf(name, sizeof name, "%s.%s.weight_ih", p, g);
            err |= add_random(w, name, 2, 3 * H, D, 0, 0.6);
            snprintf(name, sizeof name, "%s.%s.weight_hh", p, g);
            err |= add_random(w, name, 2, 3 * H, H, 0, 0.6);
            snprintf(name, sizeof name, "%s.%s.bias", p, g);
            err |= add_random(w, name, 1, 3 * H, 0, 0, 0.1);
        }
        const int G = offline ? 2 * H : H;
        snprintf(name, sizeof name, "%s.maxout.weight", p);
        err |= add_random(w, name, 3, 1, K, G, 0.2);
        snprintf(name, sizeof name, "%s.maxout.bias", p);
        err |= add_random(w, name, 2, 1, K, 0, 0.1);
    }
    char desc[512];
    snprintf(desc, sizeof desc,
             "PLACEHOLDER: random weights (tools/make-placeholder.c, fixed seed), not trained; "
             "input normalisation from %s. Its predictions mean nothing.",
             stats_from ? stats_from : "none (mean 0, std 1)");
    err |= weights_set_meta(w, "format", "valar-crnn");
    err |= weights_set_meta(w, "version", "1");
    err |= weights_set_meta(w, "kind", offline ? "offline" : "streaming");
    err |= weights_set_meta(w, "branches", "separate");
    err |= weights_set_meta(w, "bn_eps", "0.001");
    err |= weights_set_meta(w, "seq_len", offline ? "10" : "0");
    err |= weights_set_meta(w, "placeholder", "true");
    err |= weights_set_meta(w, "description", desc);
    err |= weights_set_meta(w, "trained_on", "nothing");
    err |= melspec_config_write(fc, w);
    char msg[512] = "";
    if (!err) {
        /* Refuse to ship a file that crnn would not load. */
        crnn *net;
        err = crnn_create(w, &net, msg, sizeof msg);
        if (!err)
            crnn_destroy(net);
    }
    if (!err)
        err = weights_save(w, path, msg, sizeof msg);
    if (err)
        fprintf(stderr, "make-placeholder: %s: %s\n", path, *msg ? msg : valar_strerror(err));
    weights_destroy(w);
    return err;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: make-placeholder OUTDIR [AUDIO]\n");
        return 2;
    }
    melspec_config fc;
    melspec_config_default(&fc);
    const int M = fc.n_mels;
    float *mean = calloc((size_t)M, sizeof *mean), *std = calloc((size_t)M, sizeof *std);
    if (!mean || !std)
        return 1;
    for (int m = 0; m < M; m++)
        std[m] = 1;
    const char *audio = argc == 3 ? argv[2] : NULL;
    if (audio) {
        float *x;
        int T;
        char msg[512];
        if (offline_features(audio, &fc, &x, &T, msg, sizeof msg)) {
            fprintf(stderr, "make-placeholder: %s\n", msg);
            return 1;
        }
        if (T < 2) {
            fprintf(stderr, "make-placeholder: %s: too short for statistics\n", audio);
            return 1;
        }
        for (int m = 0; m < M; m++) {
            double s = 0, s2 = 0;
            for (int t = 0; t < T; t++)
                s += x[t * M + m];
            s /= T;
            for (int t = 0; t < T; t++)
                s2 += (x[t * M + m] - s) * (x[t * M + m] - s);
            mean[m] = (float)s;
            std[m] = (float)fmax(sqrt(s2 / (T - 1)), 1e-3);
        }
        free(x);
        /* Name only the file, so the metadata doesn't depend on the checkout path. */
        const char *slash = strrchr(audio, '/');
        audio = slash ? slash + 1 : audio;
    }
    char path[4096];
    int err = 0;
    for (int offline = 1; offline >= 0 && !err; offline--) {
        snprintf(path, sizeof path, "%s/placeholder-%s.safetensors", argv[1],
                 offline ? "offline" : "streaming");
        rng_state = 0x5eed5eed2017ULL + (uint64_t)offline;
        err = make(path, offline, &fc, mean, std, audio);
    }
    free(mean);
    free(std);
    return err ? 1 : 0;
}
