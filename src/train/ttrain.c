#include "ttrain.h"
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

void tset_stats(const tset *s, int M, double *mean, double *std)
{
    double *s1 = calloc((size_t)M, sizeof(double)), *s2 = calloc((size_t)M, sizeof(double));
    double cnt = 0;
    for (int i = 0; s1 && s2 && i < s->n; i++) {
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
        double mu = cnt > 0 && s1 ? s1[m] / cnt : 0;
        double var = cnt > 0 && s2 ? s2[m] / cnt - mu * mu : 1;
        mean[m] = mu;
        std[m] = sqrt(var > 1e-6 ? var : 1e-6); /* a silent band must not divide by zero */
    }
    free(s1);
    free(s2);
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

/* ---- statistics ---- */

void tstat_pair(const float *p, const float *t, const unsigned char *lab, int n, int step,
                double *rmse, double *r)
{
    double sp = 0, st = 0, spp = 0, stt = 0, spt = 0, se = 0, cnt = 0;
    for (int i = 0; i < n; i++) {
        if (lab && !lab[i])
            continue;
        double a = p[(size_t)i * step], b = t[(size_t)i * step];
        sp += a;
        st += b;
        spp += a * a;
        stt += b * b;
        spt += a * b;
        se += (a - b) * (a - b);
        cnt++;
    }
    *rmse = cnt > 0 ? sqrt(se / cnt) : NAN;
    double vp = spp - sp * sp / cnt, vt = stt - st * st / cnt;
    *r = cnt > 1 && vp > 1e-12 && vt > 1e-12 ? (spt - sp * st / cnt) / sqrt(vp * vt) : NAN;
}

/* ---- filling sequences ---- */

static void fill_rows(const tnet *n, tseq *s, const tsong *g, int start, int L, int hist)
{
    s->L = L;
    memset(s->xin, 0, sizeof(double) * (size_t)(s->cap + 3) * n->d.M);
    for (int r = hist ? 0 : 2; r < L + 2; r++) {
        int f = start + r - 2;
        if (f >= 0 && f < g->T)
            tseq_set_input(n, s, r, g->x + (size_t)f * g->M);
    }
    for (int t = 0; t < L; t++) {
        int f = start + t;
        s->valid[t] = 1;
        s->lab[t] = g->lab[f];
        s->tgt[t * 2] = g->tgt[(size_t)f * 2];
        s->tgt[t * 2 + 1] = g->tgt[(size_t)f * 2 + 1];
    }
}

void ttrain_predict(const tnet *n, tseq *s, const tsong *g, int seq_len, float *pred)
{
    int H = n->d.H;
    if (n->d.kind == 0) {
        int W = seq_len > 0 ? seq_len : g->T;
        for (int start = 0; start < g->T; start += W) {
            int L = g->T - start < W ? g->T - start : W;
            fill_rows(n, s, g, start, L, 0);
            tnet_eval_seq(n, s, pred + (size_t)start * 2, NULL);
        }
        return;
    }
    double h[128];
    memset(s->h0, 0, sizeof(double) * 2 * (size_t)H);
    for (int start = 0; start < g->T; start += s->cap) {
        int L = g->T - start < s->cap ? g->T - start : s->cap;
        fill_rows(n, s, g, start, L, 1);
        tnet_eval_seq(n, s, pred + (size_t)start * 2, h);
        memcpy(s->h0, h, sizeof(double) * 2 * (size_t)H);
    }
}

/* ---- evaluation ---- */

typedef struct {
    const tnet *n;
    const tset *set;
    int seq_len, nth;
    tseq **seqs;
    float **pred;
} eval_ctx;

static void job_eval(void *ctx, int j)
{
    eval_ctx *e = ctx;
    for (int i = j; i < e->set->n; i += e->nth)
        ttrain_predict(e->n, e->seqs[j], &e->set->songs[i], e->seq_len, e->pred[i]);
}

static void mean_sd(const double *v, int n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    int c = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) {
            s += v[i];
            s2 += v[i] * v[i];
            c++;
        }
    *mean = c ? s / c : NAN;
    *sd = c ? sqrt(fmax(0, s2 / c - (s / c) * (s / c))) : NAN;
}

int ttrain_eval(const tnet *n, const tset *set, int seq_len, int threads, tmetrics *m)
{
    memset(m, 0, sizeof *m);
    int nth = threads < 1 ? 1 : threads > set->n ? (set->n > 0 ? set->n : 1) : threads;
    int maxT = 1;
    for (int i = 0; i < set->n; i++)
        if (set->songs[i].T > maxT)
            maxT = set->songs[i].T;
    int cap = n->d.kind == 0 ? (seq_len > 0 ? seq_len : maxT) : 64;
    eval_ctx e = {n,
                  set,
                  seq_len,
                  nth,
                  calloc((size_t)nth, sizeof(tseq *)),
                  calloc((size_t)set->n + 1, sizeof(float *))};
    int err = !e.seqs || !e.pred;
    for (int j = 0; !err && j < nth; j++)
        err = !(e.seqs[j] = tseq_create(n, cap));
    for (int i = 0; !err && i < set->n; i++)
        err = !(e.pred[i] = malloc(sizeof(float) * 2 * (size_t)(set->songs[i].T + 1)));
    tpool *pool = err ? NULL : tpool_create(nth);
    if (!err && pool) {
        tpool_run(pool, nth, job_eval, &e);
        /* all frames */
        long tot = 0;
        for (int i = 0; i < set->n; i++)
            tot += set->songs[i].T;
        float *P = malloc(sizeof(float) * 2 * (size_t)(tot + 1));
        float *Tg = malloc(sizeof(float) * 2 * (size_t)(tot + 1));
        unsigned char *Lb = malloc((size_t)tot + 1);
        double *sr[4];
        for (int k = 0; k < 4; k++)
            sr[k] = calloc((size_t)set->n + 1, sizeof(double));
        if (P && Tg && Lb && sr[0] && sr[1] && sr[2] && sr[3]) {
            long o = 0;
            for (int i = 0; i < set->n; i++) {
                const tsong *g = &set->songs[i];
                memcpy(P + o * 2, e.pred[i], sizeof(float) * 2 * (size_t)g->T);
                memcpy(Tg + o * 2, g->tgt, sizeof(float) * 2 * (size_t)g->T);
                memcpy(Lb + o, g->lab, (size_t)g->T);
                for (int t = 0; t < g->T; t++)
                    m->frames += g->lab[t];
                for (int p = 0; p < 2; p++)
                    tstat_pair(e.pred[i] + p, g->tgt + p, g->lab, g->T, 2, &sr[p][i],
                               &sr[2 + p][i]);
                o += g->T;
            }
            for (int p = 0; p < 2; p++) {
                tstat_pair(P + p, Tg + p, Lb, (int)tot, 2, &m->rmse[p], &m->r[p]);
                mean_sd(sr[p], set->n, &m->song_rmse[p], &m->song_rmse_sd[p]);
                mean_sd(sr[2 + p], set->n, &m->song_r[p], &m->song_r_sd[p]);
            }
            m->songs = set->n;
        } else
            err = 1;
        free(P);
        free(Tg);
        free(Lb);
        for (int k = 0; k < 4; k++)
            free(sr[k]);
    } else
        err = 1;
    tpool_destroy(pool);
    for (int j = 0; e.seqs && j < nth; j++)
        tseq_destroy(e.seqs[j]);
    for (int i = 0; e.pred && i < set->n; i++)
        free(e.pred[i]);
    free(e.seqs);
    free(e.pred);
    return err ? -1 : 0;
}

void tmetrics_print(FILE *f, const char *title, const tmetrics *m)
{
    fprintf(f, "%s: %d songs, %ld annotated frames\n", title, m->songs, m->frames);
    fprintf(f, "            all frames        per song (mean +- std)\n");
    fprintf(f, "            RMSE     r        RMSE             r\n");
    const char *nm[2] = {"arousal", "valence"};
    for (int p = 0; p < 2; p++)
        fprintf(f, "  %-8s  %.4f  %7.4f   %.4f +- %.4f  %7.4f +- %.4f\n", nm[p], m->rmse[p],
                m->r[p], m->song_rmse[p], m->song_rmse_sd[p], m->song_r[p], m->song_r_sd[p]);
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

static int save_state(const char *path, const tnet *n, const tadam *a, const tprogress *pr,
                      char *msg, size_t msglen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(msg, msglen, "%s: cannot write", tmp);
        return -1;
    }
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
             fwrite(n->in_std, sizeof(double), M, f) == M;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        snprintf(msg, msglen, "%s: write failed", path);
        return -1;
    }
    return 0;
}

static int load_state(const char *path, tnet *n, tadam *a, tprogress *pr, char *msg, size_t msglen)
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
    fclose(f);
    if (!ok) {
        snprintf(msg, msglen, "%s: resume state is truncated or not a valar-train state", path);
        return -1;
    }
    return 0;
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
    snprintf(buf, sizeof buf, "%d", o->seq_len);
    weights_set_meta(w, "seq_len", buf);
    snprintf(buf, sizeof buf,
             "valar CRNN (Malik et al. 2017), %s, %s branches, trained by valar-train",
             n->d.kind ? "streaming" : "offline", n->d.joint ? "joint" : "separate");
    weights_set_meta(w, "description", buf);
    if (o->args)
        weights_set_meta(w, "training_args", o->args);
    if (o->trained_on)
        weights_set_meta(w, "trained_on", o->trained_on);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    weights_set_meta(w, "created", buf);
    if (vm) {
        snprintf(buf, sizeof buf,
                 "{\"epoch\": %d, \"val_rmse_arousal\": %.4f, \"val_rmse_valence\": %.4f, "
                 "\"val_r_arousal\": %.4f, \"val_r_valence\": %.4f}",
                 epoch, vm->rmse[0], vm->rmse[1], vm->r[0], vm->r[1]);
        weights_set_meta(w, "metrics", buf);
    }
    int err = weights_save(w, path, msg, msglen);
    weights_destroy(w);
    return err;
}

typedef struct {
    int song, pos;
    double h[128];
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

int ttrain_run(const ttrain_opts *o, const tset *train, const tset *val, const melspec_config *fc,
               tnet **out_net, char *msg, size_t msglen)
{
    if (out_net)
        *out_net = NULL;
    if (train->n < 1) {
        snprintf(msg, msglen, "no training songs");
        return -1;
    }
    int M = train->songs[0].M;
    tnet_dims d = {o->kind, o->joint, M, o->C, o->D, o->H, o->K};
    tnet *net = tnet_create(&d), *best = tnet_create(&d);
    tadam adam = {0};
    tpool *pool = tpool_create(o->threads);
    int B = o->batch, L = o->seq_len, nwin = 0, rc = -1;
    tseq **seqs = calloc((size_t)B, sizeof *seqs);
    double *grad = net ? calloc(net->n_params, sizeof(double)) : NULL;
    int *order = malloc(sizeof(int) * (size_t)(train->n + 1));
    twin *wins = o->kind == 0 ? make_windows(train, L, &nwin) : NULL;
    tlane *lanes = calloc((size_t)B, sizeof *lanes);
    int *worder = NULL;
    int alloc_ok = net && best && pool && seqs && grad && order && lanes && (o->kind || wins) &&
                   tadam_init(&adam, net->n_params, o->lr) == 0;
    for (int i = 0; alloc_ok && i < B; i++)
        alloc_ok = (seqs[i] = tseq_create(net, L)) != NULL;
    long nlab = 0;
    for (int i = 0; i < train->n; i++)
        for (int t = 0; t < train->songs[i].T; t++)
            nlab += train->songs[i].lab[t];
    if (alloc_ok && nlab == 0) {
        snprintf(msg, msglen, "the training songs have no annotated frames");
        goto done;
    }
    worder = alloc_ok && nwin ? malloc(sizeof(int) * (size_t)nwin) : NULL;
    if (!alloc_ok || (o->kind == 0 && !worder)) {
        snprintf(msg, msglen, "out of memory (or bad network sizes)");
        goto done;
    }
    const tset *vset = val && val->n > 0 ? val : train;
    tprogress pr = {0, 0, 0, INFINITY};
    tnet_init(net, o->seed);
    tset_stats(train, M, net->in_mean, net->in_std);
    if (o->resume && o->state && access(o->state, F_OK) == 0) {
        if (load_state(o->state, net, &adam, &pr, msg, msglen))
            goto done;
        if (o->log)
            fprintf(o->log, "resumed from %s after epoch %d (best %.4f)\n", o->state, pr.epoch,
                    pr.best);
    } else if (o->resume && o->log)
        fprintf(o->log, "no resume state %s yet: starting from scratch\n",
                o->state ? o->state : "(none)");
    copy_net(best, net);
    double t_start = now_s();
    int stop = 0;
    for (int ep = pr.epoch + 1; ep <= o->epochs && !stop; ep++) {
        double t0 = now_s(), loss_sum = 0, rmse_sum = 0;
        long nb = 0;
        uint64_t eseed = trng_mix(o->seed, (uint64_t)ep);
        if (o->kind == 0) {
            for (int i = 0; i < nwin; i++)
                worder[i] = i;
            shuffle(worder, nwin, eseed);
            for (int b0 = 0; b0 < nwin && !stop; b0 += B) {
                int N = nwin - b0 < B ? nwin - b0 : B;
                for (int i = 0; i < N; i++) {
                    const twin *w = &wins[worder[b0 + i]];
                    const tsong *g = &train->songs[w->song];
                    int Lw = g->T - w->start < L ? g->T - w->start : L;
                    fill_rows(net, seqs[i], g, w->start, Lw, 0);
                }
                double rm;
                loss_sum += tnet_batch(net, seqs, N, &o->reg, trng_mix(eseed, (uint64_t)pr.step),
                                       pool, 1, grad, &rm);
                rmse_sum += rm;
                tadam_step(&adam, net->theta, grad);
                pr.step++;
                nb++;
                if (o->time_limit > 0 && now_s() - t_start > o->time_limit)
                    stop = 1;
            }
        } else {
            for (int i = 0; i < train->n; i++)
                order[i] = i;
            shuffle(order, train->n, eseed);
            int next = 0, H = net->d.H;
            for (int l = 0; l < B; l++) {
                lanes[l].song = next < train->n ? order[next++] : -1;
                lanes[l].pos = 0;
                memset(lanes[l].h, 0, sizeof lanes[l].h);
            }
            for (;;) {
                int N = 0, map[256];
                for (int l = 0; l < B && N < 256; l++) {
                    if (lanes[l].song < 0)
                        continue;
                    const tsong *g = &train->songs[lanes[l].song];
                    int Lc = g->T - lanes[l].pos < L ? g->T - lanes[l].pos : L;
                    fill_rows(net, seqs[N], g, lanes[l].pos, Lc, 1);
                    memcpy(seqs[N]->h0, lanes[l].h, sizeof(double) * 2 * (size_t)H);
                    map[N++] = l;
                }
                if (N == 0 || stop)
                    break;
                double rm;
                loss_sum += tnet_batch(net, seqs, N, &o->reg, trng_mix(eseed, (uint64_t)pr.step),
                                       pool, 1, grad, &rm);
                rmse_sum += rm;
                tadam_step(&adam, net->theta, grad);
                pr.step++;
                nb++;
                for (int i = 0; i < N; i++) {
                    tlane *ln = &lanes[map[i]];
                    const tsong *g = &train->songs[ln->song];
                    tseq *s = seqs[i];
                    /* carry the state (computed with the weights before
                     * this update: truncated BPTT) */
                    for (int b = 0; b < net->nbr; b++)
                        memcpy(ln->h + (size_t)b * H, s->hs[b][0] + (size_t)s->L * H,
                               sizeof(double) * (size_t)H);
                    ln->pos += s->L;
                    while (ln->song >= 0 && ln->pos >= train->songs[ln->song].T) {
                        ln->song = next < train->n ? order[next++] : -1;
                        ln->pos = 0;
                        memset(ln->h, 0, sizeof ln->h);
                    }
                    (void)g;
                }
                if (o->time_limit > 0 && now_s() - t_start > o->time_limit)
                    stop = 1;
            }
        }
        double t_train = now_s() - t0;
        tmetrics vm;
        if (ttrain_eval(net, vset, L, o->threads, &vm)) {
            snprintf(msg, msglen, "out of memory in validation");
            goto done;
        }
        double v = 0.5 * (vm.rmse[0] + vm.rmse[1]);
        int improved = v < pr.best;
        if (improved) {
            pr.best = v;
            pr.bad_epochs = 0;
            copy_net(best, net);
            if (o->out && save_weights(net, o, fc, o->out, &vm, ep, msg, msglen))
                goto done;
        } else
            pr.bad_epochs++;
        pr.epoch = ep;
        if (o->log)
            fprintf(o->log,
                    "epoch %3d  loss %.4f  train rmse %.4f  %s rmse A %.4f V %.4f  r A %.3f V "
                    "%.3f  %.2f s%s\n",
                    ep, nb ? loss_sum / nb : 0, nb ? rmse_sum / nb : 0,
                    vset == train ? "train-eval" : "val", vm.rmse[0], vm.rmse[1], vm.r[0], vm.r[1],
                    t_train, improved ? "  *best" : "");
        if (o->last && save_weights(net, o, fc, o->last, &vm, ep, msg, msglen))
            goto done;
        if (o->state && save_state(o->state, net, &adam, &pr, msg, msglen))
            goto done;
        if (o->patience > 0 && pr.bad_epochs >= o->patience) {
            if (o->log)
                fprintf(o->log, "early stop: no improvement for %d epochs\n", o->patience);
            break;
        }
        if (o->time_limit > 0 && now_s() - t_start > o->time_limit)
            stop = 1;
    }
    rc = 0;
    if (out_net) {
        *out_net = best;
        best = NULL;
    }
done:
    for (int i = 0; seqs && i < B; i++)
        tseq_destroy(seqs[i]);
    free(seqs);
    free(grad);
    free(order);
    free(wins);
    free(worder);
    free(lanes);
    tadam_free(&adam);
    tpool_destroy(pool);
    tnet_destroy(net);
    tnet_destroy(best);
    return rc;
}
