/* teval: how good a model is, in figures users understand, and the
 * baselines it must beat.
 *
 * Frame level: RMSE and Pearson r over all annotated frames, and per song
 * (mean +- std over songs, the MediaEval way). Song level: each song's mean
 * prediction against its mean target over its annotated frames: RMSE,
 * Pearson r, and Russell's quadrant of the two means (Q1 A+ V+, Q2 A+ V-,
 * Q3 A- V-, Q4 A- V+; 0 counts as +) against the song's quadrant (the one
 * its data gives, tsong.quad, else that of its mean target): accuracy, the
 * accuracy of the arousal and of the valence sign, confusion matrix.
 *
 * Baselines, fitted on a training set: the training mean (every frame of
 * every song gets the mean target of the training frames) and a ridge
 * regression on each song's per-band mean and standard deviation of the
 * log-mel frames (a "bag of frames" model; one prediction per song), with
 * the ridge penalty chosen on a validation set. */
#ifndef VALAR_TEVAL_H
#define VALAR_TEVAL_H

#include <stdio.h>
#include "tnet.h"
#include "ttrain.h"

typedef struct {
    /* frames */
    double rmse[2], r[2];                                          /* all annotated frames */
    double song_rmse[2], song_rmse_sd[2], song_r[2], song_r_sd[2]; /* per-song mean, std */
    long frames;
    int songs;
    int song_r_skipped[2]; /* songs left out of song_r: no r without variance (constant
                            * annotation or prediction, fewer than 2 annotated frames) */
    /* song means */
    double mean_rmse[2], mean_r[2];
    double quad_acc, sign_acc[2];
    int confusion[4][4]; /* [true quadrant - 1][predicted quadrant - 1] */
} tmetrics;

/* Russell's quadrant 1..4 of (arousal, valence). */
int teval_quadrant(double arousal, double valence);

/* Metrics of predictions pred[i] (T x 2, per song of set). */
void teval_metrics(const tset *set, float *const *pred, tmetrics *m);

/* Predictions of network n for every song of set, as inference runs it:
 * offline in windows of seq_len (0: whole songs), streaming stepped over
 * each whole song from a zero state. pred[i] must hold T x 2 floats.
 * 0, or -1 when out of memory. */
int teval_predict(const tnet *n, const tset *set, int seq_len, int threads, float **pred);

/* teval_predict + teval_metrics. 0, or -1 when out of memory. */
int teval_run(const tnet *n, const tset *set, int seq_len, int threads, tmetrics *m);

/* Per-song prediction arrays for set (T x 2 each); NULL when out of
 * memory. */
float **teval_alloc(const tset *set);
void teval_free(const tset *set, float **pred);

/* The training mean baseline: pred[i] of set = mean target of train. */
void teval_mean_baseline(const tset *train, const tset *set, float **pred);

/* The ridge baseline: fitted on train (penalty from a grid, chosen by the
 * mean of the two song-mean RMSEs on val; val may be train), predictions
 * for set. *lambda receives the chosen penalty. 0, or -1 when out of
 * memory (or no training songs). */
int teval_ridge_baseline(const tset *train, const tset *val, const tset *set, float **pred,
                         double *lambda);

/* The old one-model report (frame figures, and song-level ones). */
void tmetrics_print(FILE *f, const char *title, const tmetrics *m);

/* A table, one row per model: names[i], m[i]; then the confusion matrix
 * of each. */
void tmetrics_table(FILE *f, const char *const *names, const tmetrics *m, int n);

/* The same as one JSON object {"set", "songs", "frames", "models": [{"name",
 * figures..., "confusion"}]}; an undefined figure is null. 0, or -1 when
 * out of memory. */
int tmetrics_json(FILE *f, const char *set, const char *const *names, const tmetrics *m, int n);

/* RMSE and Pearson r of n pairs (stride 2 arrays ok via step); r is NAN
 * when either side has no variance. */
void tstat_pair(const float *p, const float *t, const unsigned char *lab, int n, int step,
                double *rmse, double *r);

#endif
