/* Parity between the trainer and the inference module: a weight file
 * written by valar-train, loaded with weights_load + crnn_create, gives the
 * same outputs through crnn_run_sequence and crnn_step as the trainer's own
 * eval-mode forward pass (running BN statistics, no dropout), for both kinds
 * (offline, streaming) and both branch layouts (separate, joint = CRNN_NB).
 *
 * Part 1: random networks with every parameter, the BN running statistics
 * and the input normalisation perturbed away from their initial values, in
 * the paper's sizes and in deliberately unequal sizes (M, C, D, H, K all
 * different, so a transposed index cannot go unnoticed). Offline: whole
 * sequences and windows of seq_len over a length that is not a multiple;
 * streaming: crnn_step from a reset state and crnn_run_sequence against the
 * trainer run in chunks that carry the state.
 * Part 2: the files ttrain_run itself writes (best and last, after a short
 * training on random data) for all four variants: metadata (format,
 * version, kind, branches, bn_eps, seq_len, feature config, provenance) and
 * the same parity.
 *
 * Tolerance 1e-5, against the trainer loaded from the same F32 file and
 * against the trainer's own double-precision weights before rounding. */
#include "crnn.h"
#include "melspec.h"
#include "tnet.h"
#include "ttrain.h"
#include "weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t rng = 777;

static double rnd(double lo, double hi)
{
    return lo + (hi - lo) * trng_uniform(&rng);
}

/* A song of T random frames around the network's input statistics. */
static void make_song(tsong *g, int T, int M, const double *mean, const double *std)
{
    memset(g, 0, sizeof *g);
    snprintf(g->id, sizeof g->id, "rand%d", T);
    g->T = T;
    g->M = M;
    g->x = malloc(sizeof(float) * (size_t)T * M);
    g->tgt = calloc((size_t)T * 2, sizeof(float));
    g->lab = calloc((size_t)T, 1);
    for (int t = 0; t < T; t++)
        for (int m = 0; m < M; m++)
            g->x[(size_t)t * M + m] = (float)(mean[m] + 1.5 * std[m] * rnd(-1, 1));
}

static void free_song(tsong *g)
{
    free(g->x);
    free(g->tgt);
    free(g->lab);
}

static double maxdiff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

/* Runs crnn on a song the way valar runs it (offline: windows of seq_len,
 * 0 = whole; streaming: crnn_step from a reset state). */
static int crnn_song(crnn *c, const tsong *g, int seq_len, float *out)
{
    if (crnn_get_kind(c) == CRNN_OFFLINE) {
        int W = seq_len > 0 ? seq_len : g->T;
        for (int st = 0; st < g->T; st += W) {
            int L = g->T - st < W ? g->T - st : W;
            int err = crnn_run_sequence(c, g->x + (size_t)st * g->M, L, out + 2 * st);
            if (err)
                return err;
        }
        return 0;
    }
    crnn_reset(c);
    for (int t = 0; t < g->T; t++) {
        int err = crnn_step(c, g->x + (size_t)t * g->M, out + 2 * t);
        if (err)
            return err;
    }
    return 0;
}

typedef struct {
    double vs_f32, vs_double; /* worst |crnn - trainer| */
    double spread;            /* std of the outputs (the comparison is not vacuous) */
    double clipped;           /* fraction of outputs at +-1 */
    double bn_effect;         /* worst |crnn - trainer with BN stats reset| */
} parity;

/* Compares crnn (from the file at path) with the trainer net dbl (double
 * weights) and the same net reloaded from the file, on songs of several
 * lengths. */
static void compare(const char *what, const char *path, const tnet *dbl, int seq_len, parity *pr)
{
    memset(pr, 0, sizeof *pr);
    char msg[512] = "";
    weights *w = NULL;
    crnn *c = NULL;
    tnet *fl = NULL, *nobn = NULL;
    int err = weights_load(path, &w, msg, sizeof msg);
    CHECK(!err, "%s: weights_load: %s", what, msg);
    if (!err) {
        err = crnn_create(w, &c, msg, sizeof msg);
        CHECK(!err, "%s: crnn_create: %s", what, msg);
    }
    if (!err) {
        err = tnet_from_weights(w, &fl, msg, sizeof msg);
        CHECK(!err, "%s: tnet_from_weights: %s", what, msg);
    }
    if (!err)
        err = tnet_from_weights(w, &nobn, msg, sizeof msg);
    if (err)
        goto out;
    const tnet_dims *d = &dbl->d;
    CHECK(crnn_get_kind(c) == (d->kind ? CRNN_STREAMING : CRNN_OFFLINE), "%s: kind", what);
    CHECK(crnn_n_mels(c) == d->M, "%s: crnn_n_mels %d, expected %d", what, crnn_n_mels(c), d->M);
    for (int k = 0; k < d->C; k++) {
        nobn->bn_mean[k] = 0;
        nobn->bn_var[k] = 1;
    }
    /* lengths: 1 and 2 (shorter than the causal conv), one window, a
     * non-multiple of seq_len, and longer than the trainer's chunk */
    static const int Ts[] = {1, 2, 10, 37, 83};
    double s1 = 0, s2 = 0, cnt = 0, clip = 0;
    for (size_t i = 0; i < sizeof Ts / sizeof Ts[0]; i++) {
        tsong g;
        make_song(&g, Ts[i], d->M, dbl->in_mean, dbl->in_std);
        int T = g.T;
        float *ref = malloc(sizeof(float) * 2 * T), *mine = malloc(sizeof(float) * 2 * T),
              *seq = malloc(sizeof(float) * 2 * T);
        /* streaming: a chunk of 16 so that the state and the conv history
         * are carried across chunks as in training and validation */
        int cap = d->kind ? 16 : (seq_len > 0 ? seq_len : T);
        tseq *s = tseq_create(fl, cap);
        err = crnn_song(c, &g, seq_len, ref);
        CHECK(!err, "%s: crnn on %d frames: %s", what, T, valar_strerror(err));
        if (d->kind) {
            /* crnn_run_sequence on a streaming model = reset + T steps */
            err = crnn_run_sequence(c, g.x, T, seq);
            CHECK(!err, "%s: crnn_run_sequence: %s", what, valar_strerror(err));
            double dd = maxdiff(seq, ref, 2 * T);
            CHECK(dd < 1e-6, "%s: T=%d crnn_run_sequence and crnn_step differ by %.3g", what, T,
                  dd);
        } else if (seq_len > 0 && T > seq_len) {
            /* the whole sequence at once differs from windows: checks the
             * windows really are what the comparison below runs */
            crnn_run_sequence(c, g.x, T, seq);
            ttrain_predict(fl, s, &g, seq_len, mine);
            CHECK(maxdiff(seq, mine, 2 * T) > 1e-4, "%s: windows make no difference?", what);
        }
        ttrain_predict(fl, s, &g, seq_len, mine);
        pr->vs_f32 = fmax(pr->vs_f32, maxdiff(mine, ref, 2 * T));
        ttrain_predict(dbl, s, &g, seq_len, mine);
        pr->vs_double = fmax(pr->vs_double, maxdiff(mine, ref, 2 * T));
        ttrain_predict(nobn, s, &g, seq_len, mine);
        pr->bn_effect = fmax(pr->bn_effect, maxdiff(mine, ref, 2 * T));
        for (int k = 0; k < 2 * T; k++) {
            s1 += ref[k];
            s2 += (double)ref[k] * ref[k];
            clip += fabsf(ref[k]) >= 1.0f;
            cnt++;
        }
        tseq_destroy(s);
        free(ref);
        free(mine);
        free(seq);
        free_song(&g);
    }
    pr->spread = sqrt(fmax(0, s2 / cnt - (s1 / cnt) * (s1 / cnt)));
    pr->clipped = clip / cnt;
    printf("%-48s crnn vs trainer: %.2e (F32 file) %.2e (double); out std %.3f, clipped "
           "%.0f%%, BN stats matter %.2g\n",
           what, pr->vs_f32, pr->vs_double, pr->spread, 100 * pr->clipped, pr->bn_effect);
    CHECK(pr->vs_f32 < 1e-5, "%s: crnn and trainer (same F32 weights) differ by %.3g", what,
          pr->vs_f32);
    CHECK(pr->vs_double < 1e-5, "%s: crnn and trainer (double weights) differ by %.3g", what,
          pr->vs_double);
    CHECK(pr->spread > 0.02, "%s: outputs hardly vary (std %.3g): comparison too weak", what,
          pr->spread);
    CHECK(pr->clipped < 0.5, "%s: %.0f%% of outputs clipped: comparison too weak", what,
          100 * pr->clipped);
    CHECK(pr->bn_effect > 1e-3, "%s: BN running statistics make no difference (%.3g)", what,
          pr->bn_effect);
out:
    crnn_destroy(c);
    tnet_destroy(fl);
    tnet_destroy(nobn);
    weights_destroy(w);
}

/* Part 1: random networks written with tnet_to_weights. */
static void random_net(const char *dir, int kind, int joint, int M, int C, int D, int H, int K,
                       double shift)
{
    tnet_dims d = {kind, joint, M, C, D, H, K};
    tnet *n = tnet_create(&d);
    CHECK(n != NULL, "tnet_create");
    if (!n)
        return;
    tnet_init(n, 42 + (uint64_t)(kind * 2 + joint));
    /* move everything away from its initial value: biases, gamma, beta,
     * running statistics, input normalisation */
    for (size_t i = 0; i < n->n_params; i++)
        if (n->theta[i] == 0.0)
            n->theta[i] = rnd(-0.2, 0.2);
    for (int c = 0; c < C; c++) {
        n->theta[n->bn_g + c] = rnd(0.5, 1.5);
        n->bn_mean[c] = rnd(-0.5, 0.5);
        n->bn_var[c] = rnd(0.3, 3);
    }
    for (int m = 0; m < M; m++) {
        n->in_mean[m] = rnd(-12, -2);
        n->in_std[m] = rnd(0.5, 3);
    }
    /* shift > 0 pushes some outputs past 1: the clipping must agree too */
    for (int b = 0; b < n->nbr; b++)
        for (int i = 0; i < n->P * K; i++)
            n->theta[n->br[b].mo_b + i] += shift;
    n->bn_eps = 1e-3;
    melspec_config fc;
    melspec_config_default(&fc);
    fc.n_mels = M;
    char path[512], what[128], msg[512] = "";
    snprintf(path, sizeof path, "%s/parity-%d%d-%d.safetensors", dir, kind, joint, M);
    weights *w = tnet_to_weights(n, &fc);
    CHECK(w != NULL, "tnet_to_weights");
    int err = w ? weights_save(w, path, msg, sizeof msg) : -1;
    CHECK(!err, "weights_save %s: %s", path, msg);
    weights_destroy(w);
    static const int seqs[] = {0, 10};
    for (int i = 0; !err && i < (kind ? 1 : 2); i++) {
        snprintf(what, sizeof what, "random %s %s M%d C%d D%d H%d K%d%s",
                 kind ? "streaming" : "offline", joint ? "joint" : "separate", M, C, D, H, K,
                 kind      ? ""
                 : seqs[i] ? " seq 10"
                           : " whole");
        parity pr;
        compare(what, path, n, seqs[i], &pr);
    }
    remove(path);
    tnet_destroy(n);
}

/* Part 2: the files ttrain_run writes. */
static void trained_net(const char *dir, int kind, int joint)
{
    enum { M = 64, NS = 6, T = 40 };
    tset train = {calloc(NS, sizeof(tsong)), NS};
    double mean[M], std[M];
    for (int m = 0; m < M; m++) {
        mean[m] = rnd(-12, -2);
        std[m] = rnd(0.5, 3);
    }
    for (int i = 0; i < NS; i++) {
        make_song(&train.songs[i], T, M, mean, std);
        for (int t = 0; t < T; t++) {
            train.songs[i].lab[t] = t >= 5;
            train.songs[i].tgt[2 * t] = (float)(0.1 * train.songs[i].x[(size_t)t * M + 3] + 0.7);
            train.songs[i].tgt[2 * t + 1] = (float)rnd(-0.5, 0.5);
        }
    }
    char out[512], last[512], what[160], msg[512] = "";
    snprintf(out, sizeof out, "%s/parity-trained-%d%d.safetensors", dir, kind, joint);
    snprintf(last, sizeof last, "%s/parity-trained-%d%d.last.safetensors", dir, kind, joint);
    ttrain_opts o;
    ttrain_defaults(&o);
    o.kind = kind;
    o.joint = joint;
    o.epochs = 3;
    o.patience = 0;
    o.threads = 2;
    o.batch = 8;
    o.lr = 0.01;
    o.out = out;
    o.last = last;
    o.args = "train --test parity";
    o.trained_on = "random frames";
    melspec_config fc;
    melspec_config_default(&fc);
    tnet *best = NULL;
    int err = ttrain_run(&o, &train, NULL, &fc, &best, msg, sizeof msg);
    CHECK(!err, "ttrain_run: %s", msg);
    for (int f = 0; !err && f < 2; f++) {
        const char *path = f ? last : out;
        weights *w = NULL;
        err = weights_load(path, &w, msg, sizeof msg);
        CHECK(!err, "%s: %s", path, msg);
        if (err)
            break;
        struct {
            const char *k, *v;
        } want[] = {{"format", "valar-crnn"},
                    {"version", "1"},
                    {"kind", kind ? "streaming" : "offline"},
                    {"branches", joint ? "joint" : "separate"},
                    {"seq_len", "10"},
                    {"training_args", o.args},
                    {"trained_on", o.trained_on},
                    {"bn_eps", NULL},
                    {"description", NULL},
                    {"created", NULL},
                    {"metrics", NULL}};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            const char *v = weights_meta(w, want[i].k);
            CHECK(v && (!want[i].v || !strcmp(v, want[i].v)), "%s: metadata %s = %s", path,
                  want[i].k, v ? v : "(missing)");
        }
        CHECK(!weights_meta(w, "placeholder"), "%s: a trained file says placeholder", path);
        melspec_config rc;
        err = melspec_config_read(&rc, w, msg, sizeof msg);
        CHECK(!err && rc.sample_rate == fc.sample_rate && rc.n_fft == fc.n_fft &&
                  rc.hop == fc.hop && rc.n_mels == fc.n_mels && rc.fmin == fc.fmin &&
                  rc.fmax == fc.fmax && rc.segment_ms == fc.segment_ms &&
                  rc.log_floor == fc.log_floor,
              "%s: feature config does not round-trip: %s", path, msg);
        int nd;
        int64_t sh[WEIGHTS_MAX_DIMS];
        const float *im = weights_get(w, "input.mean", &nd, sh);
        double dm = 0;
        for (int m = 0; im && m < M; m++)
            dm = fmax(dm, fabs(im[m] - mean[m]));
        CHECK(im && dm < 0.5, "%s: input.mean is not the training set's mean (off by %.3g)", path,
              dm);
        weights_destroy(w);
        if (f == 0 && best) {
            snprintf(what, sizeof what, "trained %s %s (best)", kind ? "streaming" : "offline",
                     joint ? "joint" : "separate");
            parity pr;
            compare(what, path, best, 10, &pr);
        }
        remove(path);
    }
    char st[600];
    snprintf(st, sizeof st, "%s.state", out);
    remove(st);
    tnet_destroy(best);
    tset_free(&train);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    for (int kind = 0; kind < 2; kind++)
        for (int joint = 0; joint < 2; joint++) {
            random_net(dir, kind, joint, 64, 8, 8, 8, 4, 0.0);
            random_net(dir, kind, joint, 20, 5, 6, 7, 3, 0.6);
        }
    for (int kind = 0; kind < 2; kind++)
        for (int joint = 0; joint < 2; joint++)
            trained_net(dir, kind, joint);
    if (failures) {
        printf("%d checks FAILED\n", failures);
        return 1;
    }
    printf("all parity checks passed\n");
    return 0;
}
