/* summary: one file's mood in a few numbers (valar analyze --summary).
 *
 * Quadrants of the valence-arousal plane (Russell's circumplex, as in
 * Thayer's mood model), a value of exactly 0 counting as positive:
 *   1  valence >= 0, arousal >= 0   happy
 *   2  valence <  0, arousal >= 0   tense
 *   3  valence <  0, arousal <  0   sad
 *   4  valence >= 0, arousal <  0   calm
 * Every segment is 500 ms, so a share of segments is a share of time. */
#ifndef VALAR_SUMMARY_H
#define VALAR_SUMMARY_H

#include <stddef.h>
#include "analyzer.h"

typedef struct {
    double duration_s;               /* audio decoded, seconds */
    size_t segments;                 /* results summarised (0: the rest is undefined) */
    double arousal_mean, arousal_sd; /* sd over the segments (population, / n) */
    double valence_mean, valence_sd;
    double share[4]; /* fraction of segments in quadrant 1..4 */
    int quadrant;    /* 1..4, the largest share (the lower on a tie); 0 if none */
} summary;

void summary_compute(const analyzer_result *r, size_t n, double duration_s, summary *s);
/* 1..4 for one point. */
int summary_quadrant(float arousal, float valence);
/* "happy", "tense", "sad", "calm"; NULL for 0. */
const char *summary_mood(int quadrant);

#endif
