#include "ttrain.h"
#include "teval.h"
#include "atomicfile.h"
#include "tpool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void tset_free(tset *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->songs[i].x);
        free(s->songs[i].tgt);
        free(s->songs[i].lab);
    }
    free(s->songs);
    s->songs = NULL;
    s->n = 0;
}

/* Per-band mean and standard deviation of all frames of a set; -1 when out
 * of memory. */
static int tset_stats(const tset *s, int M, double *mean, double *std)
{
    double *s1 = calloc((size_t)M, sizeof(double)), *s2 = calloc((size_t)M, sizeof(double));
    if (!s1 || !s2) {
        free(s1);
        free(s2);
        return -1;
    }
    double cnt = 0;
    for (int i = 0; i < s->n; i++) {
        const tsong *g = &s->songs[i];
        for (int t = 0; t < g->T; t++)
            for (int m = 0; m < M; m++) {
                double v = g->x[(size_t)t * M + m];
                s1[m] += v;
                s2[m] += v * v;
            }
        cnt += g->T;
    }
    for (int m = 0; m < M; m++) {
        double mu = cnt > 0 ? s1[m] / cnt : 0;
        double var = cnt > 0 ? s2[m] / cnt - mu * mu : 1;
        mean[m] = mu;
        std[m] = sqrt(var > 1e-6 ? var : 1e-6); /* a silent band must not divide by zero */
    }
    free(s1);
    free(s2);
    return 0;
}

void ttrain_defaults(ttrain_opts *o)
{
    memset(o, 0, sizeof *o);
    o->C = o->D = o->H = 8;
    o->K = 4;
    o->seq_len = 10;
    o->batch = 32;
    o->epochs = 100;
    o->patience = 10;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = n > 0 ? (int)n : 1;
    o->seed = 1;
    o->lr = 1e-3;
    /* the paper's log-mel configuration: dropout 0.75, L1 0.1, L2 0.001 */
    o->reg = (tnet_reg){0.75, 0.75, 0.1, 0.001, 0.1, 0.001};
}

/* ---- filling sequences ---- */

/* Frames [start, start + L) of g into s (with hist, the two frames before
 * as the causal conv's history); aug: augmentation, or NULL. */
static void fill_rows(const tnet *n, tseq *s, const tsong *g, int start, int L, int hist,
                      const taug *aug)
{
    s->L = L;
    memset(s->xin, 0, sizeof(double) * (size_t)(s->cap + 3) * n->d.M);
    for (int r = hist ? 0 : 2; r < L + 2; r++) {
        int f = start + r - 2;
        if (f >= 0 && f < g->T)
            tseq_set_input(n, s, r, g->x + (size_t)f * g->M, aug);
    }
    for (int t = 0; t < L; t++) {
        int f = start + t;
        s->valid[t] = 1;
        s->lab[t] = g->lab[f];
        s->tgt[t * 2] = g->tgt[(size_t)f * 2];
        s->tgt[t * 2 + 1] = g->tgt[(size_t)f * 2 + 1];
    }
}

/* A random augmentation into *aug (add: M values of room): a gain uniform
 * in +-gain_db and a spectral tilt (a line through the band centre,
 * +-tilt_db/2 at the ends, slope uniform) added to the ln-power log-mel
 * bands, and a shift by a whole number of bands uniform in +-shift_bands.
 * Without augmentation, NULL. */
static const taug *aug_draw(const ttrain_opts *o, int M, uint64_t seed, taug *aug, double *add)
{
    if (o->aug_gain_db <= 0 && o->aug_tilt_db <= 0 && o->aug_shift <= 0)
        return NULL;
    uint64_t rng = seed;
    double db2ln = log(10.0) / 10.0; /* dB of power -> ln(power) */
    double g = (2 * trng_uniform(&rng) - 1) * o->aug_gain_db;
    double k = (2 * trng_uniform(&rng) - 1) * o->aug_tilt_db;
    for (int m = 0; m < M; m++)
        add[m] = db2ln * (g + k * (M > 1 ? (double)m / (M - 1) - 0.5 : 0));
    aug->add = add;
    aug->bands = o->aug_shift > 0 ? (int)(trng_uniform(&rng) * (2 * o->aug_shift + 1)) -
                                        o->aug_shift
                                  : 0;
    return aug;
}

void ttrain_predict(const tnet *n, tseq *s, const tsong *g, int seq_len, float *pred)
{
    int H = n->d.H;
    if (n->d.kind == 0) {
        int W = seq_len > 0 ? seq_len : g->T;
        for (int start = 0; start < g->T; start += W) {
            int L = g->T - start < W ? g->T - start : W;
            fill_rows(n, s, g, start, L, 0, NULL);
            tnet_eval_seq(n, s, pred + (size_t)start * 2, NULL);
        }
        return;
    }
    double h[128];
    memset(s->h0, 0, sizeof(double) * 2 * (size_t)H);
    for (int start = 0; start < g->T; start += s->cap) {
        int L = g->T - start < s->cap ? g->T - start : s->cap;
        fill_rows(n, s, g, start, L, 1, NULL);
        tnet_eval_seq(n, s, pred + (size_t)start * 2, h);
        memcpy(s->h0, h, sizeof(double) * 2 * (size_t)H);
    }
}

/* ---- training ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void shuffle(int *v, int n, uint64_t seed)
{
    uint64_t rng = seed;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(trng_uniform(&rng) * (i + 1));
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

typedef struct {
    int song, start;
} twin;

/* Offline training windows over each song's annotated span. */
static twin *make_windows(const tset *s, int L, int *count)
{
    int cap = 16, n = 0;
    twin *w = malloc(sizeof *w * (size_t)cap);
    for (int i = 0; w && i < s->n; i++) {
        const tsong *g = &s->songs[i];
        int a = -1, b = -1;
        for (int t = 0; t < g->T; t++)
            if (g->lab[t]) {
                if (a < 0)
                    a = t;
                b = t;
            }
        if (a < 0)
            continue;
        for (int st = a;; st += L) {
            int s0 = st + L > b + 1 ? b + 1 - L : st;
            if (s0 < 0)
                s0 = 0;
            if (n == cap) {
                twin *nw = realloc(w, sizeof *w * (size_t)(cap *= 2));
                if (!nw) {
                    free(w);
                    return NULL;
                }
                w = nw;
            }
            w[n++] = (twin){i, s0};
            if (st + L >= b + 1)
                break;
        }
    }
    *count = n;
    return w;
}

/* Private resume state: exact doubles (weights files hold F32 only). */
#define STATE_MAGIC "VALARTS1"

typedef struct {
    int epoch, bad_epochs;
    long step;
    double best;
} tprogress;

/* ema (or NULL): the running average of the weights, appended. */
static int save_state(const char *path, const tnet *n, const tadam *a, const tprogress *pr,
                      const double *ema, char *msg, size_t msglen)
{
    atomicfile tf;
    if (atomicfile_open(&tf, path, "resume state", msg, msglen))
        return -1;
    FILE *f = tf.f;
    int dims[7] = {n->d.kind, n->d.joint, n->d.M, n->d.C, n->d.D, n->d.H, n->d.K};
    size_t np = n->n_params, C = (size_t)n->d.C, M = (size_t)n->d.M;
    int ok = fwrite(STATE_MAGIC, 8, 1, f) == 1 && fwrite(dims, sizeof dims, 1, f) == 1 &&
             fwrite(pr, sizeof *pr, 1, f) == 1 && fwrite(&a->t, sizeof a->t, 1, f) == 1 &&
             fwrite(n->theta, sizeof(double), np, f) == np &&
             fwrite(a->m, sizeof(double), np, f) == np &&
             fwrite(a->v, sizeof(double), np, f) == np &&
             fwrite(n->bn_mean, sizeof(double), C, f) == C &&
             fwrite(n->bn_var, sizeof(double), C, f) == C &&
             fwrite(n->in_mean, sizeof(double), M, f) == M &&
             fwrite(n->in_std, sizeof(double), M, f) == M &&
             (!ema || fwrite(ema, sizeof(double), np, f) == np);
    return atomicfile_commit(&tf, ok, msg, msglen);
}

/* ema (or NULL) gets the saved average of the weights, or the weights
 * when the state has none (saved without --ema). */
static int load_state(const char *path, tnet *n, tadam *a, tprogress *pr, double *ema, char *msg,
                      size_t msglen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msglen, "%s: cannot open resume state", path);
        return -1;
    }
    char magic[8];
    int dims[7];
    int want[7] = {n->d.kind, n->d.joint, n->d.M, n->d.C, n->d.D, n->d.H, n->d.K};
    size_t np = n->n_params, C = (size_t)n->d.C, M = (size_t)n->d.M;
    int ok = fread(magic, 8, 1, f) == 1 && !memcmp(magic, STATE_MAGIC, 8) &&
             fread(dims, sizeof dims, 1, f) == 1;
    if (ok && memcmp(dims, want, sizeof dims)) {
        fclose(f);
        snprintf(msg, msglen,
                 "%s: resume state is for another network (kind/branches/sizes differ)", path);
        return -1;
    }
    ok = ok && fread(pr, sizeof *pr, 1, f) == 1 && fread(&a->t, sizeof a->t, 1, f) == 1 &&
         fread(n->theta, sizeof(double), np, f) == np && fread(a->m, sizeof(double), np, f) == np &&
         fread(a->v, sizeof(double), np, f) == np && fread(n->bn_mean, sizeof(double), C, f) == C &&
         fread(n->bn_var, sizeof(double), C, f) == C &&
         fread(n->in_mean, sizeof(double), M, f) == M &&
         fread(n->in_std, sizeof(double), M, f) == M;
    if (ok && ema && fread(ema, sizeof(double), np, f) != np)
        memcpy(ema, n->theta, sizeof(double) * np);
    fclose(f);
    if (!ok) {
        snprintf(msg, msglen, "%s: resume state is truncated or not a valar-train state", path);
        return -1;
    }
    return 0;
}

int ttrain_provenance(weights *w, const char *args)
{
    char buf[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    int err = weights_set_meta(w, "created", buf);
    if (!err && args)
        err = weights_set_meta(w, "training_args", args);
    return err;
}

static int save_weights(const tnet *n, const ttrain_opts *o, const melspec_config *fc,
                        const char *path, const tmetrics *vm, int epoch, char *msg, size_t msglen)
{
    weights *w = tnet_to_weights(n, fc);
    if (!w) {
        snprintf(msg, msglen, "%s: out of memory building the weight file", path);
        return -1;
    }
    char buf[512];
    int err = 0;
    snprintf(buf, sizeof buf, "%d", o->seq_len);
    err |= weights_set_meta(w, "seq_len", buf);
    snprintf(buf, sizeof buf,
             "valar CRNN (Malik et al. 2017), %s, %s branches, trained by valar-train",
             n->d.kind ? "streaming" : "offline", n->d.joint ? "joint" : "separate");
    err |= weights_set_meta(w, "description", buf);
    if (o->trained_on)
        err |= weights_set_meta(w, "trained_on", o->trained_on);
    err |= ttrain_provenance(w, o->args);
    if (vm) {
        /* JSON has no NaN: an undefined r (no variance) is null */
        char ra[32] = "null", rv[32] = "null";
        if (!isnan(vm->r[0]))
            snprintf(ra, sizeof ra, "%.4f", vm->r[0]);
        if (!isnan(vm->r[1]))
            snprintf(rv, sizeof rv, "%.4f", vm->r[1]);
        snprintf(buf, sizeof buf,
                 "{\"epoch\": %d, \"val_rmse_arousal\": %.4f, \"val_rmse_valence\": %.4f, "
                 "\"val_r_arousal\": %s, \"val_r_valence\": %s}",
                 epoch, vm->rmse[0], vm->rmse[1], ra, rv);
        err |= weights_set_meta(w, "metrics", buf);
    }
    if (err)
        snprintf(msg, msglen, "%s: out of memory building the weight file", path);
    else
        err = weights_save(w, path, msg, msglen);
    weights_destroy(w);
    return err;
}

/* A streaming lane: the song it walks through and where it is. */
typedef struct {
    int song, pos;
    int row;       /* its sequence in the current batch, -1: none */
    double h[128]; /* GRU state to carry, [2][H], H <= 64 */
    const taug *aug; /* this song's augmentation (r->aug[lane]), or NULL */
} tlane;

/* Everything inference needs: parameters and statistics. */
static void copy_net(tnet *dst, const tnet *src)
{
    memcpy(dst->theta, src->theta, sizeof(double) * src->n_params);
    memcpy(dst->bn_mean, src->bn_mean, sizeof(double) * (size_t)src->d.C);
    memcpy(dst->bn_var, src->bn_var, sizeof(double) * (size_t)src->d.C);
    memcpy(dst->in_mean, src->in_mean, sizeof(double) * (size_t)src->d.M);
    memcpy(dst->in_std, src->in_std, sizeof(double) * (size_t)src->d.M);
}

/* The state of one training run. */
typedef struct {
    const ttrain_opts *o;
    const tset *train;
    tnet *net;
    tpool *pool;
    tnet *best;     /* the best network so far */
    double *ema;    /* --ema: running average of the weights (what is validated and saved) */
    tseq **seqs;    /* o->batch */
    taug *aug;      /* o->batch: each sequence's augmentation */
    double **add;   /* o->batch x M: the values aug[i].add points to */
    double *grad;
    int *order;     /* streaming: song order */
    tlane *lanes;   /* streaming: o->batch */
    twin *wins;     /* offline: training windows */
    int *worder, nwin;
    tadam adam;
    tprogress pr;
    double t_start;
    double loss_sum, rmse_sum; /* over this epoch's nb batches */
    long nb;
} trun;

static int time_up(const trun *r)
{
    return r->o->time_limit > 0 && now_s() - r->t_start > r->o->time_limit;
}

/* One mini-batch of seqs[0..N): gradient, Adam step, counters. Returns 1
 * when the time limit has passed. */
static int run_batch(trun *r, int N, uint64_t eseed)
{
    double rm;
    r->loss_sum += tnet_batch(r->net, r->seqs, N, &r->o->reg, trng_mix(eseed, (uint64_t)r->pr.step),
                              r->pool, 1, r->grad, &rm);
    r->rmse_sum += rm;
    tadam_step(&r->adam, r->net->theta, r->grad);
    if (r->ema) {
        double k = r->o->ema;
        const double *th = r->net->theta;
        for (size_t i = 0; i < r->net->n_params; i++)
            r->ema[i] = k * r->ema[i] + (1 - k) * th[i];
    }
    r->pr.step++;
    r->nb++;
    return time_up(r);
}

/* Offline epoch: the windows in shuffled order. Returns 1 when stopped by
 * the time limit. */
static int epoch_offline(trun *r, uint64_t eseed)
{
    const twin *wins = r->wins;
    int nwin = r->nwin, *worder = r->worder;
    int B = r->o->batch, L = r->o->seq_len;
    for (int i = 0; i < nwin; i++)
        worder[i] = i;
    shuffle(worder, nwin, eseed);
    for (int b0 = 0; b0 < nwin; b0 += B) {
        int N = nwin - b0 < B ? nwin - b0 : B;
        for (int i = 0; i < N; i++) {
            int k = worder[b0 + i];
            const twin *w = &wins[k];
            const tsong *g = &r->train->songs[w->song];
            uint64_t rng = trng_mix(eseed, (uint64_t)k + 1);
            int start = w->start;
            if (r->o->crop) { /* the window moved by up to half its length */
                start += (int)(trng_uniform(&rng) * (L + 1)) - L / 2;
                start = start + L > g->T ? g->T - L : start;
                start = start < 0 ? 0 : start;
            }
            int Lw = g->T - start < L ? g->T - start : L;
            fill_rows(r->net, r->seqs[i], g, start, Lw, 0,
                      aug_draw(r->o, g->M, trng_mix(rng, 7), &r->aug[i], r->add[i]));
        }
        if (run_batch(r, N, eseed))
            return 1;
    }
    return 0;
}

/* Lane l starts song (-1: none) with its augmentation, from a zero state
 * when it is the lane's first song of the epoch (or without --carry-state). */
static void lane_start(trun *r, tlane *ln, int l, int song, uint64_t eseed, int first)
{
    ln->song = song;
    ln->pos = 0;
    /* --carry-state: the next song starts from the state the last one left,
     * as a live stream does when the music changes */
    if (first || !r->o->carry_state)
        memset(ln->h, 0, sizeof ln->h);
    ln->aug = song < 0 ? NULL
                       : aug_draw(r->o, r->net->d.M, trng_mix(eseed ^ 0xA5A5u, (uint64_t)song),
                                  &r->aug[l], r->add[l]);
}

/* Streaming epoch: each lane walks through songs in shuffled order, one
 * chunk per batch. Returns 1 when stopped by the time limit. */
static int epoch_streaming(trun *r, uint64_t eseed)
{
    tlane *lanes = r->lanes;
    int *order = r->order;
    const tset *set = r->train;
    int B = r->o->batch, L = r->o->seq_len, H = r->net->d.H, next = 0;
    for (int i = 0; i < set->n; i++)
        order[i] = i;
    shuffle(order, set->n, eseed);
    for (int l = 0; l < B; l++)
        lane_start(r, &lanes[l], l, next < set->n ? order[next++] : -1, eseed, 1);
    for (;;) {
        int N = 0;
        for (int l = 0; l < B; l++) {
            tlane *ln = &lanes[l];
            ln->row = -1;
            if (ln->song < 0)
                continue;
            const tsong *g = &set->songs[ln->song];
            int Lc = g->T - ln->pos < L ? g->T - ln->pos : L;
            fill_rows(r->net, r->seqs[N], g, ln->pos, Lc, 1, ln->aug);
            memcpy(r->seqs[N]->h0, ln->h, sizeof(double) * 2 * (size_t)H);
            ln->row = N++;
        }
        if (N == 0)
            return 0;
        int stop = run_batch(r, N, eseed);
        for (int l = 0; l < B; l++) {
            tlane *ln = &lanes[l];
            if (ln->row < 0)
                continue;
            const tseq *s = r->seqs[ln->row];
            /* carry the state (computed with the weights before this
             * update: truncated BPTT) */
            for (int b = 0; b < r->net->nbr; b++)
                memcpy(ln->h + (size_t)b * H, s->hs[b][0] + (size_t)s->L * H,
                       sizeof(double) * (size_t)H);
            ln->pos += s->L;
            while (ln->song >= 0 && ln->pos >= set->songs[ln->song].T)
                lane_start(r, ln, l, next < set->n ? order[next++] : -1, eseed, 0);
        }
        if (stop)
            return 1;
    }
}

/* Everything a run allocates, or -1 (r is then freed by trun_free). */
static int trun_alloc(trun *r, const tnet_dims *d)
{
    const ttrain_opts *o = r->o;
    int B = o->batch;
    r->net = tnet_create(d);
    r->best = tnet_create(d);
    r->pool = tpool_create(o->threads);
    r->seqs = calloc((size_t)B, sizeof *r->seqs);
    r->aug = calloc((size_t)B, sizeof *r->aug);
    r->add = calloc((size_t)B, sizeof *r->add);
    r->grad = r->net ? calloc(r->net->n_params, sizeof(double)) : NULL;
    if (o->ema > 0 && r->net)
        r->ema = calloc(r->net->n_params, sizeof(double));
    r->order = malloc(sizeof(int) * (size_t)(r->train->n + 1));
    r->lanes = calloc((size_t)B, sizeof *r->lanes);
    if (o->kind == 0 && (r->wins = make_windows(r->train, o->seq_len, &r->nwin)))
        r->worder = malloc(sizeof(int) * (size_t)(r->nwin + 1));
    int ok = r->net && r->best && r->pool && r->seqs && r->aug && r->add && r->grad && r->order &&
             (o->ema <= 0 || r->ema) &&
             r->lanes && (o->kind || (r->wins && r->worder)) &&
             tadam_init(&r->adam, r->net->n_params, o->lr) == 0;
    for (int i = 0; ok && i < B; i++)
        ok = (r->seqs[i] = tseq_create(r->net, o->seq_len)) &&
             (r->add[i] = calloc((size_t)d->M, sizeof(double)));
    return ok ? 0 : -1;
}

static void trun_free(trun *r)
{
    for (int i = 0; i < r->o->batch; i++) {
        if (r->seqs)
            tseq_destroy(r->seqs[i]);
        if (r->add)
            free(r->add[i]);
    }
    free(r->seqs);
    free(r->aug);
    free(r->add);
    free(r->grad);
    free(r->ema);
    free(r->order);
    free(r->wins);
    free(r->worder);
    free(r->lanes);
    tadam_free(&r->adam);
    tpool_destroy(r->pool);
    tnet_destroy(r->net);
    tnet_destroy(r->best);
}

/* The learning rate of epoch ep: constant, or a cosine from lr down to
 * lr / 100 at the last epoch. */
static double epoch_lr(const ttrain_opts *o, int ep)
{
    if (!o->lr_cosine || o->epochs <= 1)
        return o->lr;
    double f = (double)(ep - 1) / (o->epochs - 1);
    return o->lr * (0.01 + 0.99 * 0.5 * (1 + cos(M_PI * f)));
}

static void log_epoch(const trun *r, int ep, const tmetrics *vm, const char *vname, double secs,
                      int improved)
{
    char ra[16] = "n/a", rv[16] = "n/a"; /* r without variance */
    if (!isnan(vm->r[0]))
        snprintf(ra, sizeof ra, "%.3f", vm->r[0]);
    if (!isnan(vm->r[1]))
        snprintf(rv, sizeof rv, "%.3f", vm->r[1]);
    fprintf(r->o->log,
            "epoch %3d  loss %.4f  train rmse %.4f  %s rmse A %.4f V %.4f  r A %s V %s  %.2f s%s\n",
            ep, r->nb ? r->loss_sum / r->nb : 0, r->nb ? r->rmse_sum / r->nb : 0, vname,
            vm->rmse[0], vm->rmse[1], ra, rv, secs, improved ? "  *best" : "");
}

/* With --ema the averaged weights take the network's place (and back). */
static void swap_ema(trun *r)
{
    if (r->ema) {
        double *t = r->net->theta;
        r->net->theta = r->ema;
        r->ema = t;
    }
}

/* Validate the network on vset, keep and save it when it is the best so
 * far, save it as the last epoch. 0 or -1. */
static int validate(trun *r, int ep, const tset *vset, const melspec_config *fc, double secs,
                    char *msg, size_t msglen)
{
    const ttrain_opts *o = r->o;
    tmetrics vm;
    if (teval_run(r->net, vset, o->seq_len, o->threads, &vm)) {
        snprintf(msg, msglen, "out of memory in validation");
        return -1;
    }
    double v = 0.5 * (vm.rmse[0] + vm.rmse[1]);
    int improved = v < r->pr.best;
    if (improved) {
        r->pr.best = v;
        r->pr.bad_epochs = 0;
        copy_net(r->best, r->net);
        if (o->out && save_weights(r->net, o, fc, o->out, &vm, ep, msg, msglen))
            return -1;
    } else
        r->pr.bad_epochs++;
    r->pr.epoch = ep;
    if (o->log)
        log_epoch(r, ep, &vm, vset == r->train ? "train-eval" : "val", secs, improved);
    return o->last && save_weights(r->net, o, fc, o->last, &vm, ep, msg, msglen) ? -1 : 0;
}

/* After epoch ep: validate (the averaged weights with --ema), save, save
 * the resume state. Returns 0, 1 to stop early, -1 on error. */
static int epoch_end(trun *r, int ep, const tset *vset, const melspec_config *fc, double secs,
                     char *msg, size_t msglen)
{
    const ttrain_opts *o = r->o;
    swap_ema(r);
    int err = validate(r, ep, vset, fc, secs, msg, msglen);
    swap_ema(r);
    if (err || (o->state && save_state(o->state, r->net, &r->adam, &r->pr, r->ema, msg, msglen)))
        return -1;
    if (o->patience > 0 && r->pr.bad_epochs >= o->patience) {
        if (o->log)
            fprintf(o->log, "early stop: no improvement for %d epochs\n", o->patience);
        return 1;
    }
    return 0;
}

/* Initial weights and input statistics, or the resume state. */
static int trun_start(trun *r, char *msg, size_t msglen)
{
    const ttrain_opts *o = r->o;
    tnet *net = r->net;
    tnet_init(net, o->seed);
    if (r->ema)
        memcpy(r->ema, net->theta, sizeof(double) * net->n_params);
    if (tset_stats(r->train, net->d.M, net->in_mean, net->in_std)) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    if (o->resume && o->state && access(o->state, F_OK) == 0) {
        if (load_state(o->state, net, &r->adam, &r->pr, r->ema, msg, msglen))
            return -1;
        if (o->log)
            fprintf(o->log, "resumed from %s after epoch %d (best %.4f)\n", o->state,
                    r->pr.epoch, r->pr.best);
    } else if (o->resume && o->log)
        fprintf(o->log, "no resume state %s yet: starting from scratch\n",
                o->state ? o->state : "(none)");
    copy_net(r->best, net);
    return 0;
}

int ttrain_run(const ttrain_opts *o, const tset *train, const tset *val, const melspec_config *fc,
               tnet **out_net, char *msg, size_t msglen)
{
    if (out_net)
        *out_net = NULL;
    if (train->n < 1) {
        snprintf(msg, msglen, "no training songs");
        return -1;
    }
    if (o->seq_len < 1 || o->batch < 1) {
        snprintf(msg, msglen, "seq_len and batch must be at least 1");
        return -1;
    }
    long nlab = 0;
    for (int i = 0; i < train->n; i++)
        for (int t = 0; t < train->songs[i].T; t++)
            nlab += train->songs[i].lab[t];
    if (nlab == 0) {
        snprintf(msg, msglen, "the training songs have no annotated frames");
        return -1;
    }
    tnet_dims d = {o->kind, o->joint, train->songs[0].M, o->C, o->D, o->H, o->K};
    trun r = {.o = o, .train = train, .pr = {0, 0, 0, INFINITY}};
    int rc = -1;
    if (trun_alloc(&r, &d)) {
        snprintf(msg, msglen, "out of memory (or bad network sizes)");
        goto done;
    }
    if (trun_start(&r, msg, msglen))
        goto done;
    const tset *vset = val && val->n > 0 ? val : train;
    if (r.pr.epoch == 0 && o->log && o->epochs > 0) { /* the starting point, for comparison */
        tmetrics vm;
        if (teval_run(r.net, vset, o->seq_len, o->threads, &vm) == 0)
            fprintf(o->log, "epoch   0  (initial weights)  %s rmse A %.4f V %.4f\n",
                    vset == train ? "train-eval" : "val", vm.rmse[0], vm.rmse[1]);
    }
    r.t_start = now_s();
    for (int ep = r.pr.epoch + 1, stop = 0; ep <= o->epochs && !stop; ep++) {
        double t0 = now_s();
        uint64_t eseed = trng_mix(o->seed, (uint64_t)ep);
        r.loss_sum = r.rmse_sum = 0;
        r.nb = 0;
        r.adam.lr = epoch_lr(o, ep);
        stop = o->kind == 0 ? epoch_offline(&r, eseed) : epoch_streaming(&r, eseed);
        int end = epoch_end(&r, ep, vset, fc, now_s() - t0, msg, msglen);
        if (end < 0)
            goto done;
        if (end > 0)
            break;
        stop |= time_up(&r);
        if (stop && o->log)
            fprintf(o->log, "time limit of %g s reached in epoch %d: stopping\n", o->time_limit,
                    ep);
    }
    rc = 0;
    if (out_net) {
        *out_net = r.best;
        r.best = NULL;
    }
done:
    trun_free(&r);
    return rc;
}
