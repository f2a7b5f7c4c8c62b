#include "teval.h"
#include "tpool.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- statistics ---- */

/* Running sums for RMSE and Pearson r; adding songs one after another gives
 * the same numbers as one pass over their concatenation. */
typedef struct {
    double sp, st, spp, stt, spt, se, cnt;
} pairsum;

static void pair_one(pairsum *s, double a, double b)
{
    s->sp += a;
    s->st += b;
    s->spp += a * a;
    s->stt += b * b;
    s->spt += a * b;
    s->se += (a - b) * (a - b);
    s->cnt++;
}

static void pair_add(pairsum *s, const float *p, const float *t, const unsigned char *lab, int n,
                     int step)
{
    for (int i = 0; i < n; i++)
        if (!lab || lab[i])
            pair_one(s, p[(size_t)i * step], t[(size_t)i * step]);
}

static void pair_result(const pairsum *s, double *rmse, double *r)
{
    double cnt = s->cnt;
    *rmse = cnt > 0 ? sqrt(s->se / cnt) : NAN;
    double vp = s->spp - s->sp * s->sp / cnt, vt = s->stt - s->st * s->st / cnt;
    /* no variance: below the rounding error of the sums (relative to the
     * sum of squares, which grows with the number of frames), not a fixed
     * threshold that a long constant series would exceed by rounding */
    int var = cnt > 1 && vp > 1e-12 + 1e-9 * s->spp && vt > 1e-12 + 1e-9 * s->stt;
    *r = var ? (s->spt - s->sp * s->st / cnt) / sqrt(vp * vt) : NAN;
}

void tstat_pair(const float *p, const float *t, const unsigned char *lab, int n, int step,
                double *rmse, double *r)
{
    pairsum s = {0};
    pair_add(&s, p, t, lab, n, step);
    pair_result(&s, rmse, r);
}

/* Mean and standard deviation of per-song figures, NaNs (songs without a
 * defined r) left out. */
typedef struct {
    double s, s2;
    int c;
} meansd;

static void msd_add(meansd *a, double v)
{
    if (isnan(v))
        return;
    a->s += v;
    a->s2 += v * v;
    a->c++;
}

static void msd_result(const meansd *a, double *mean, double *sd)
{
    double m = a->c ? a->s / a->c : NAN;
    *mean = m;
    *sd = a->c ? sqrt(fmax(0, a->s2 / a->c - m * m)) : NAN;
}

/* ---- metrics ---- */

int teval_quadrant(double arousal, double valence)
{
    return arousal >= 0 ? (valence >= 0 ? 1 : 2) : (valence >= 0 ? 4 : 3);
}

/* Means of the annotated frames of a song: out[0..2) of x (T x 2);
 * returns the number of frames. */
static int song_mean(const tsong *g, const float *x, double out[2])
{
    double s[2] = {0, 0};
    int c = 0;
    for (int t = 0; t < g->T; t++)
        if (g->lab[t]) {
            s[0] += x[t * 2];
            s[1] += x[t * 2 + 1];
            c++;
        }
    out[0] = c ? s[0] / c : 0;
    out[1] = c ? s[1] / c : 0;
    return c;
}

void teval_metrics(const tset *set, float *const *pred, tmetrics *m)
{
    memset(m, 0, sizeof *m);
    pairsum all[2] = {{0}}, means[2] = {{0}};
    meansd song_rmse[2] = {{0}}, song_r[2] = {{0}};
    int nq = 0, hits = 0, sign_hits[2] = {0, 0};
    for (int i = 0; i < set->n; i++) {
        const tsong *g = &set->songs[i];
        for (int p = 0; p < 2; p++) {
            pairsum one = {0};
            double rm, r;
            pair_add(&one, pred[i] + p, g->tgt + p, g->lab, g->T, 2);
            pair_add(&all[p], pred[i] + p, g->tgt + p, g->lab, g->T, 2);
            pair_result(&one, &rm, &r);
            msd_add(&song_rmse[p], rm);
            msd_add(&song_r[p], r);
            m->song_r_skipped[p] += isnan(r);
        }
        double mp[2], mt[2];
        int c = song_mean(g, pred[i], mp);
        song_mean(g, g->tgt, mt);
        m->frames += c;
        if (!c)
            continue;
        for (int p = 0; p < 2; p++)
            pair_one(&means[p], mp[p], mt[p]);
        int qt = g->quad ? g->quad : teval_quadrant(mt[0], mt[1]);
        int qp = teval_quadrant(mp[0], mp[1]);
        m->confusion[qt - 1][qp - 1]++;
        nq++;
        hits += qt == qp;
        /* the quadrant's signs: Q1, Q2 arousal +; Q1, Q4 valence + */
        sign_hits[0] += (qt <= 2) == (qp <= 2);
        sign_hits[1] += (qt == 1 || qt == 4) == (qp == 1 || qp == 4);
    }
    for (int p = 0; p < 2; p++) {
        pair_result(&all[p], &m->rmse[p], &m->r[p]);
        msd_result(&song_rmse[p], &m->song_rmse[p], &m->song_rmse_sd[p]);
        msd_result(&song_r[p], &m->song_r[p], &m->song_r_sd[p]);
        pair_result(&means[p], &m->mean_rmse[p], &m->mean_r[p]);
        m->sign_acc[p] = nq ? (double)sign_hits[p] / nq : NAN;
    }
    m->quad_acc = nq ? (double)hits / nq : NAN;
    m->songs = set->n;
}

/* ---- predictions ---- */

float **teval_alloc(const tset *set)
{
    float **pred = calloc((size_t)set->n + 1, sizeof(float *));
    for (int i = 0; pred && i < set->n; i++)
        if (!(pred[i] = calloc(2 * (size_t)(set->songs[i].T + 1), sizeof(float)))) {
            teval_free(set, pred);
            return NULL;
        }
    return pred;
}

void teval_free(const tset *set, float **pred)
{
    for (int i = 0; pred && i < set->n; i++)
        free(pred[i]);
    free(pred);
}

typedef struct {
    const tnet *n;
    const tset *set;
    int seq_len, nth;
    tseq **seqs;
    float **pred;
} eval_ctx;

/* A pool thread (tpool.h): predictions for songs j, j + nth, ... */
static void job_eval(void *ctx, int j)
{
    eval_ctx *e = ctx;
    for (int i = j; i < e->set->n; i += e->nth)
        ttrain_predict(e->n, e->seqs[j], &e->set->songs[i], e->seq_len, e->pred[i]);
}

int teval_predict(const tnet *n, const tset *set, int seq_len, int threads, float **pred)
{
    int nth = threads < 1 ? 1 : threads;
    if (nth > set->n)
        nth = set->n > 0 ? set->n : 1;
    int maxT = 1;
    for (int i = 0; i < set->n; i++)
        if (set->songs[i].T > maxT)
            maxT = set->songs[i].T;
    int cap = n->d.kind == 0 ? (seq_len > 0 ? seq_len : maxT) : 64;
    eval_ctx e = {n, set, seq_len, nth, calloc((size_t)nth, sizeof(tseq *)), pred};
    int err = !e.seqs;
    for (int j = 0; !err && j < nth; j++)
        err = !(e.seqs[j] = tseq_create(n, cap));
    tpool *pool = err ? NULL : tpool_create(nth);
    if (pool)
        tpool_run(pool, nth, job_eval, &e);
    else
        err = 1;
    tpool_destroy(pool);
    for (int j = 0; e.seqs && j < nth; j++)
        tseq_destroy(e.seqs[j]);
    free(e.seqs);
    return err ? -1 : 0;
}

int teval_run(const tnet *n, const tset *set, int seq_len, int threads, tmetrics *m)
{
    float **pred = teval_alloc(set);
    int err = !pred || teval_predict(n, set, seq_len, threads, pred);
    if (!err)
        teval_metrics(set, pred, m);
    teval_free(set, pred);
    return err ? -1 : 0;
}

/* ---- baselines ---- */

void teval_mean_baseline(const tset *train, const tset *set, float **pred)
{
    double s[2] = {0, 0};
    long c = 0;
    for (int i = 0; i < train->n; i++) {
        const tsong *g = &train->songs[i];
        for (int t = 0; t < g->T; t++)
            if (g->lab[t]) {
                s[0] += g->tgt[t * 2];
                s[1] += g->tgt[t * 2 + 1];
                c++;
            }
    }
    for (int i = 0; i < set->n; i++)
        for (int t = 0; t < set->songs[i].T; t++)
            for (int p = 0; p < 2; p++)
                pred[i][t * 2 + p] = c ? (float)(s[p] / c) : 0.0f;
}

/* Per-band mean and standard deviation of a song's frames: x[0..2M). */
static void bag_of_frames(const tsong *g, double *x)
{
    int M = g->M;
    for (int m = 0; m < M; m++) {
        double s = 0, s2 = 0;
        for (int t = 0; t < g->T; t++) {
            double v = g->x[(size_t)t * M + m];
            s += v;
            s2 += v * v;
        }
        double mu = g->T ? s / g->T : 0;
        x[m] = mu;
        x[M + m] = g->T ? sqrt(fmax(0, s2 / g->T - mu * mu)) : 0;
    }
}

/* Solves (A + lambda I) w = b in place (A: F x F symmetric positive
 * semi-definite, copied to L) by Cholesky; w has F rows and 2 columns. */
static int ridge_solve(const double *A, const double *b, int F, double lambda, double *L,
                       double *w)
{
    for (int i = 0; i < F; i++)
        for (int j = 0; j <= i; j++) {
            double s = A[i * F + j] + (i == j ? lambda : 0);
            for (int k = 0; k < j; k++)
                s -= L[i * F + k] * L[j * F + k];
            if (i == j) {
                if (!(s > 0))
                    return -1;
                L[i * F + i] = sqrt(s);
            } else
                L[i * F + j] = s / L[j * F + j];
        }
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < F; i++) { /* L y = b */
            double s = b[i * 2 + p];
            for (int k = 0; k < i; k++)
                s -= L[i * F + k] * w[k * 2 + p];
            w[i * 2 + p] = s / L[i * F + i];
        }
        for (int i = F - 1; i >= 0; i--) { /* L^T w = y */
            double s = w[i * 2 + p];
            for (int k = i + 1; k < F; k++)
                s -= L[k * F + i] * w[k * 2 + p];
            w[i * 2 + p] = s / L[i * F + i];
        }
    }
    return 0;
}

/* A fitted ridge model: standardised features, centred targets. */
typedef struct {
    int F;
    double *mu, *sd, *w, y0[2];
} ridge;

static void ridge_predict(const ridge *r, const tset *set, float **pred, double *x)
{
    for (int i = 0; i < set->n; i++) {
        const tsong *g = &set->songs[i];
        bag_of_frames(g, x);
        for (int p = 0; p < 2; p++) {
            double y = r->y0[p];
            for (int f = 0; f < r->F; f++)
                y += (x[f] - r->mu[f]) / r->sd[f] * r->w[f * 2 + p];
            float v = (float)fmax(-1, fmin(1, y));
            for (int t = 0; t < g->T; t++)
                pred[i][t * 2 + p] = v;
        }
    }
}

int teval_ridge_baseline(const tset *train, const tset *val, const tset *set, float **pred,
                         double *lambda)
{
    if (train->n < 1)
        return -1;
    int F = 2 * train->songs[0].M, N = train->n, rc = -1;
    double *X = malloc(sizeof(double) * (size_t)N * F), *Y = malloc(sizeof(double) * 2 * N);
    double *A = calloc((size_t)F * F, sizeof(double)), *b = calloc((size_t)F * 2, sizeof(double));
    double *L = malloc(sizeof(double) * (size_t)F * F), *x = malloc(sizeof(double) * F);
    ridge r = {F, calloc(F, sizeof(double)), calloc(F, sizeof(double)),
               calloc((size_t)F * 2, sizeof(double)), {0, 0}};
    double *best_w = calloc((size_t)F * 2, sizeof(double));
    float **vpred = teval_alloc(val);
    if (!X || !Y || !A || !b || !L || !x || !r.mu || !r.sd || !r.w || !best_w || !vpred)
        goto done;
    /* standardised features and centred song-mean targets */
    for (int i = 0; i < N; i++) {
        bag_of_frames(&train->songs[i], X + (size_t)i * F);
        song_mean(&train->songs[i], train->songs[i].tgt, Y + 2 * i);
    }
    for (int f = 0; f < F; f++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < N; i++) {
            s += X[(size_t)i * F + f];
            s2 += X[(size_t)i * F + f] * X[(size_t)i * F + f];
        }
        r.mu[f] = s / N;
        r.sd[f] = sqrt(fmax(s2 / N - r.mu[f] * r.mu[f], 1e-12));
    }
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < N; i++)
            r.y0[p] += Y[2 * i + p] / N;
    }
    for (int i = 0; i < N; i++) {
        double *xi = X + (size_t)i * F;
        for (int f = 0; f < F; f++)
            xi[f] = (xi[f] - r.mu[f]) / r.sd[f];
        for (int f = 0; f < F; f++) {
            for (int g = 0; g < F; g++)
                A[f * F + g] += xi[f] * xi[g];
            for (int p = 0; p < 2; p++)
                b[f * 2 + p] += xi[f] * (Y[2 * i + p] - r.y0[p]);
        }
    }
    /* the penalty with the lowest mean song-mean RMSE on val */
    double best = INFINITY;
    for (int k = -2; k <= 5; k++)
        for (int h = 0; h < 2; h++) {
            double lam = pow(10, k + 0.5 * h);
            if (ridge_solve(A, b, F, lam, L, r.w))
                continue;
            tmetrics m;
            ridge_predict(&r, val, vpred, x);
            teval_metrics(val, vpred, &m);
            double v = 0.5 * (m.mean_rmse[0] + m.mean_rmse[1]);
            if (v < best) {
                best = v;
                *lambda = lam;
                memcpy(best_w, r.w, sizeof(double) * (size_t)F * 2);
            }
        }
    if (isinf(best))
        goto done;
    memcpy(r.w, best_w, sizeof(double) * (size_t)F * 2);
    ridge_predict(&r, set, pred, x);
    rc = 0;
done:
    free(X);
    free(Y);
    free(A);
    free(b);
    free(L);
    free(x);
    free(r.mu);
    free(r.sd);
    free(r.w);
    free(best_w);
    teval_free(val, vpred);
    return rc;
}

/* ---- reports ---- */

static void fmt_r(char *buf, size_t len, double r)
{
    if (isnan(r))
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%.4f", r);
}

void tmetrics_print(FILE *f, const char *title, const tmetrics *m)
{
    fprintf(f, "%s: %d songs, %ld annotated frames\n", title, m->songs, m->frames);
    fprintf(f, "            all frames        per song (mean +- std)\n");
    fprintf(f, "            RMSE     r        RMSE             r\n");
    const char *nm[2] = {"arousal", "valence"};
    for (int p = 0; p < 2; p++) {
        /* r is not defined without variance: n/a rather than nan, and the
         * songs left out of the per-song mean are counted */
        char r[32] = "    n/a", sr[48] = "    n/a", skip[96] = "";
        int k = m->song_r_skipped[p];
        if (!isnan(m->r[p]))
            snprintf(r, sizeof r, "%7.4f", m->r[p]);
        if (!isnan(m->song_r[p]))
            snprintf(sr, sizeof sr, "%7.4f +- %.4f", m->song_r[p], m->song_r_sd[p]);
        if (k)
            snprintf(skip, sizeof skip, "  (%d song%s without variance skipped)", k,
                     k == 1 ? "" : "s");
        fprintf(f, "  %-8s  %.4f  %s   %.4f +- %.4f  %s%s\n", nm[p], m->rmse[p], r, m->song_rmse[p],
                m->song_rmse_sd[p], sr, skip);
    }
}

void tmetrics_table(FILE *f, const char *const *names, const tmetrics *m, int n)
{
    fprintf(f, "%-26s %-15s %-31s %-9s %-15s\n", "", "frames", "song means", "quadrant",
            "sign");
    fprintf(f, "%-26s %-7s %-7s %-7s %-7s %-7s %-7s %-9s %-7s %-7s\n", "model", "RMSE A",
            "RMSE V", "RMSE A", "RMSE V", "r A", "r V", "accuracy", "A", "V");
    for (int i = 0; i < n; i++) {
        char ra[16], rv[16];
        fmt_r(ra, sizeof ra, m[i].mean_r[0]);
        fmt_r(rv, sizeof rv, m[i].mean_r[1]);
        fprintf(f, "%-26.26s %-7.4f %-7.4f %-7.4f %-7.4f %-7s %-7s %5.1f %%   %5.1f %% %5.1f %%\n",
                names[i], m[i].rmse[0], m[i].rmse[1], m[i].mean_rmse[0], m[i].mean_rmse[1], ra,
                rv, 100 * m[i].quad_acc, 100 * m[i].sign_acc[0], 100 * m[i].sign_acc[1]);
    }
    for (int i = 0; i < n; i++) {
        fprintf(f, "\nconfusion, %s (rows: true quadrant, columns: predicted)\n", names[i]);
        fprintf(f, "      Q1   Q2   Q3   Q4\n");
        for (int q = 0; q < 4; q++)
            fprintf(f, "  Q%d %4d %4d %4d %4d\n", q + 1, m[i].confusion[q][0],
                    m[i].confusion[q][1], m[i].confusion[q][2], m[i].confusion[q][3]);
    }
}

/* A number, or null where it is not defined (JSON has no NaN). */
static void json_num(cJSON *o, const char *key, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

int tmetrics_json(FILE *f, const char *set, const char *const *names, const tmetrics *m, int n)
{
    cJSON *root = cJSON_CreateObject(), *models = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "set", set);
    cJSON_AddNumberToObject(root, "songs", n ? m[0].songs : 0);
    cJSON_AddNumberToObject(root, "frames", n ? (double)m[0].frames : 0);
    cJSON_AddItemToObject(root, "models", models);
    for (int i = 0; i < n; i++) {
        const tmetrics *x = &m[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(models, o);
        cJSON_AddStringToObject(o, "name", names[i]);
        json_num(o, "rmse_arousal", x->rmse[0]);
        json_num(o, "rmse_valence", x->rmse[1]);
        json_num(o, "r_arousal", x->r[0]);
        json_num(o, "r_valence", x->r[1]);
        json_num(o, "song_mean_rmse_arousal", x->mean_rmse[0]);
        json_num(o, "song_mean_rmse_valence", x->mean_rmse[1]);
        json_num(o, "song_mean_r_arousal", x->mean_r[0]);
        json_num(o, "song_mean_r_valence", x->mean_r[1]);
        json_num(o, "quadrant_accuracy", x->quad_acc);
        json_num(o, "arousal_sign_accuracy", x->sign_acc[0]);
        json_num(o, "valence_sign_accuracy", x->sign_acc[1]);
        cJSON *cm = cJSON_CreateArray();
        for (int q = 0; q < 4; q++)
            cJSON_AddItemToArray(cm, cJSON_CreateIntArray(x->confusion[q], 4));
        cJSON_AddItemToObject(o, "confusion", cm);
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt)
        return -1;
    fprintf(f, "%s\n", txt);
    cJSON_free(txt);
    return 0;
}
