/* The trainer learns a synthetic task (synth.h: arousal = smoothed loudness,
 * valence = pitch register) from features computed by the library's
 * melspec, for both kinds:
 *   - validation RMSE well below chance (predicting the validation mean);
 *   - the weight file it writes loads with crnn_create, and crnn's
 *     predictions (crnn_run_sequence in seq_len windows for offline,
 *     crnn_step over whole songs for streaming) equal the trainer's own
 *     eval-mode forward pass within 1e-5 and follow the target;
 *   - training is deterministic: same seed, 1 or 2 threads, same weights. */
#include "crnn.h"
#include "melspec.h"
#include "tnet.h"
#include "teval.h"
#include "ttrain.h"
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

enum { SR = 22050, SONG_S = 30 };

static int make_set(tset *set, int n, uint64_t seed0, const melspec_config *fc)
{
    set->n = n;
    set->songs = calloc((size_t)n, sizeof(tsong));
    long ns = (long)SR * SONG_S;
    float *audio = malloc(sizeof(float) * (size_t)ns);
    float *tg = malloc(sizeof(float) * 2 * SONG_S * 2);
    melspec *ms = NULL;
    if (!set->songs || !audio || !tg || melspec_create(fc, SR, &ms) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        tsong *g = &set->songs[i];
        snprintf(g->id, sizeof g->id, "synth%d", i);
        synth_song(seed0 + (uint64_t)i, SR, ns, audio, tg);
        g->M = fc->n_mels;
        g->x = malloc(sizeof(float) * (size_t)g->M * SONG_S * 2);
        g->tgt = malloc(sizeof(float) * 2 * SONG_S * 2);
        g->lab = malloc(SONG_S * 2);
        melspec_reset(ms);
        size_t off = 0;
        int T = 0, ready;
        while (off < (size_t)ns) {
            off += melspec_feed(ms, audio + off, (size_t)ns - off, &ready);
            if (ready && T < SONG_S * 2)
                memcpy(g->x + (size_t)(T++) * g->M, melspec_frame(ms), sizeof(float) * g->M);
        }
        melspec_finish(ms);
        do {
            melspec_feed(ms, NULL, 0, &ready);
            if (ready && T < SONG_S * 2)
                memcpy(g->x + (size_t)(T++) * g->M, melspec_frame(ms), sizeof(float) * g->M);
        } while (ready);
        g->T = T;
        for (int t = 0; t < T; t++) {
            g->tgt[t * 2] = tg[t * 2];
            g->tgt[t * 2 + 1] = tg[t * 2 + 1];
            g->lab[t] = t >= 4; /* like DEAM: the first seconds are not annotated */
        }
    }
    melspec_destroy(ms);
    free(audio);
    free(tg);
    return 0;
}

/* RMSE of predicting the mean, per output, over annotated frames. */
static void chance(const tset *s, double out[2])
{
    for (int p = 0; p < 2; p++) {
        double sum = 0, sq = 0, n = 0;
        for (int i = 0; i < s->n; i++)
            for (int t = 0; t < s->songs[i].T; t++)
                if (s->songs[i].lab[t]) {
                    double v = s->songs[i].tgt[t * 2 + p];
                    sum += v;
                    sq += v * v;
                    n++;
                }
        out[p] = sqrt(sq / n - (sum / n) * (sum / n));
    }
}

static double corr(const float *a, const float *b, int n, const unsigned char *lab)
{
    double r, rm;
    tstat_pair(a, b, lab, n, 2, &rm, &r);
    return r;
}

static void run_kind(int kind, const tset *train, const tset *val, const melspec_config *fc,
                     const char *dir)
{
    const char *kn = kind ? "streaming" : "offline";
    char path[512];
    snprintf(path, sizeof path, "%s/synth-%s.safetensors", dir, kn);
    ttrain_opts o;
    ttrain_defaults(&o);
    o.kind = kind;
    o.seq_len = 10;
    o.lr = 0.01;
    o.reg = (tnet_reg){0.1, 0.1, 1e-4, 1e-4, 1e-4, 1e-4};
    o.epochs = 40;
    o.patience = 0;
    o.threads = 2;
    o.seed = 3;
    o.time_limit = 0; /* epochs only: the same result under ASan */
    o.out = path;
    o.log = NULL;
    char msg[512];
    tnet *net = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int err = ttrain_run(&o, train, val, fc, &net, msg, sizeof msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(err == 0, "%s: ttrain_run: %s", kn, msg);
    if (err)
        return;
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    tmetrics m;
    CHECK(teval_run(net, val, o.seq_len, 2, &m) == 0, "%s: teval_run failed", kn);
    double ch[2];
    chance(val, ch);
    printf("%s: trained %.1f s; val RMSE arousal %.4f valence %.4f (chance %.4f %.4f), r %.3f "
           "%.3f\n",
           kn, secs, m.rmse[0], m.rmse[1], ch[0], ch[1], m.r[0], m.r[1]);
    CHECK(m.rmse[0] < 0.5 * ch[0], "%s: arousal RMSE %.4f not below half of chance %.4f", kn,
          m.rmse[0], ch[0]);
    CHECK(m.rmse[1] < 0.6 * ch[1], "%s: valence RMSE %.4f not below 0.6 x chance %.4f", kn,
          m.rmse[1], ch[1]);

    /* the written file, through the inference module */
    weights *w = NULL;
    crnn *c = NULL;
    err = weights_load(path, &w, msg, sizeof msg);
    CHECK(err == 0, "%s: weights_load: %s", kn, msg);
    if (!err) {
        err = crnn_create(w, &c, msg, sizeof msg);
        CHECK(err == 0, "%s: crnn_create: %s", kn, msg);
        CHECK(!weights_meta(w, "seq_len") || atoi(weights_meta(w, "seq_len")) == o.seq_len,
              "%s: seq_len metadata", kn);
    }
    if (c) {
        CHECK(crnn_get_kind(c) == (kind ? CRNN_STREAMING : CRNN_OFFLINE), "%s: kind", kn);
        tnet *fl = NULL; /* the net as stored (F32), so both sides use the same numbers */
        tnet_from_weights(w, &fl, msg, sizeof msg);
        tseq *s = fl ? tseq_create(fl, 64) : NULL;
        double maxd = 0, rsum[2] = {0, 0};
        for (int i = 0; s && i < val->n; i++) {
            const tsong *g = &val->songs[i];
            float *mine = malloc(sizeof(float) * 2 * g->T),
                  *theirs = malloc(sizeof(float) * 2 * g->T);
            ttrain_predict(fl, s, g, o.seq_len, mine);
            if (kind == 0) {
                for (int st = 0; st < g->T; st += o.seq_len) {
                    int L = g->T - st < o.seq_len ? g->T - st : o.seq_len;
                    crnn_run_sequence(c, g->x + (size_t)st * g->M, L, theirs + st * 2);
                }
            } else {
                crnn_reset(c);
                for (int t = 0; t < g->T; t++)
                    crnn_step(c, g->x + (size_t)t * g->M, theirs + t * 2);
                /* and the whole-sequence entry point gives the same */
                float *seq = malloc(sizeof(float) * 2 * g->T);
                crnn_run_sequence(c, g->x, g->T, seq);
                for (int t = 0; t < 2 * g->T; t++)
                    maxd = fmax(maxd, fabs(seq[t] - theirs[t]));
                free(seq);
            }
            for (int t = 0; t < 2 * g->T; t++)
                maxd = fmax(maxd, fabs(mine[t] - theirs[t]));
            rsum[0] += corr(theirs, g->tgt, g->T, g->lab);
            rsum[1] += corr(theirs + 1, g->tgt + 1, g->T, g->lab);
            free(mine);
            free(theirs);
        }
        printf("%s: crnn vs trainer forward max |diff| %.2e; crnn per-song r arousal %.3f "
               "valence %.3f\n",
               kn, maxd, rsum[0] / val->n, rsum[1] / val->n);
        CHECK(s != NULL, "%s: tnet_from_weights: %s", kn, msg);
        CHECK(maxd < 1e-5, "%s: crnn and trainer differ by %.3g", kn, maxd);
        CHECK(rsum[0] / val->n > 0.8, "%s: crnn arousal does not follow the target", kn);
        CHECK(rsum[1] / val->n > 0.6, "%s: crnn valence does not follow the target", kn);
        tseq_destroy(s);
        tnet_destroy(fl);
        crnn_destroy(c);
    }
    weights_destroy(w);
    tnet_destroy(net);
}

/* Two short runs with the same seed and 1 vs 2 threads give the same bits. */
static void determinism(const tset *train, const tset *val, const melspec_config *fc)
{
    tnet *a = NULL, *b = NULL;
    char msg[256];
    for (int k = 0; k < 2; k++) {
        ttrain_opts o;
        ttrain_defaults(&o);
        o.kind = k; /* offline with 1 thread, streaming with 2: both paths */
        o.epochs = 2;
        o.seed = 9;
        o.threads = 1;
        ttrain_run(&o, train, val, fc, &a, msg, sizeof msg);
        o.threads = 2;
        ttrain_run(&o, train, val, fc, &b, msg, sizeof msg);
        int same = a && b && !memcmp(a->theta, b->theta, sizeof(double) * a->n_params) &&
                   !memcmp(a->bn_var, b->bn_var, sizeof(double) * a->d.C);
        printf("determinism %s: 1 vs 2 threads %s\n", k ? "streaming" : "offline",
               same ? "identical" : "DIFFER");
        CHECK(same, "training is not deterministic across thread counts");
        tnet_destroy(a);
        tnet_destroy(b);
        a = b = NULL;
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    melspec_config fc;
    melspec_config_default(&fc);
    tset train = {0}, val = {0};
    if (make_set(&train, 24, 100, &fc) || make_set(&val, 6, 900, &fc)) {
        printf("FAIL: could not build the synthetic set\n");
        return 1;
    }
    printf("synthetic set: %d + %d songs of %d frames, %d mels\n", train.n, val.n, train.songs[0].T,
           fc.n_mels);
    determinism(&train, &val, &fc);
    run_kind(0, &train, &val, &fc, dir);
    run_kind(1, &train, &val, &fc, dir);
    tset_free(&train);
    tset_free(&val);
    if (failures) {
        printf("%d checks FAILED\n", failures);
        return 1;
    }
    printf("all learning checks passed\n");
    return 0;
}
