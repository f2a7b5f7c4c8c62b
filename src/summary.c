#include "summary.h"

#include <math.h>

int summary_quadrant(float arousal, float valence)
{
    if (arousal >= 0)
        return valence >= 0 ? 1 : 2;
    return valence >= 0 ? 4 : 3;
}

const char *summary_mood(int quadrant)
{
    static const char *const words[] = {"happy", "tense", "sad", "calm"};
    return quadrant >= 1 && quadrant <= 4 ? words[quadrant - 1] : NULL;
}

void summary_compute(const analyzer_result *r, size_t n, double duration_s, summary *s)
{
    *s = (summary){.duration_s = duration_s, .segments = n};
    if (n == 0)
        return;
    double sa = 0, sv = 0;
    size_t count[4] = {0};
    for (size_t k = 0; k < n; k++) {
        sa += r[k].arousal;
        sv += r[k].valence;
        count[summary_quadrant(r[k].arousal, r[k].valence) - 1]++;
    }
    s->arousal_mean = sa / (double)n;
    s->valence_mean = sv / (double)n;
    /* Two passes: no cancellation when the spread is small next to the mean. */
    double da = 0, dv = 0;
    for (size_t k = 0; k < n; k++) {
        da += (r[k].arousal - s->arousal_mean) * (r[k].arousal - s->arousal_mean);
        dv += (r[k].valence - s->valence_mean) * (r[k].valence - s->valence_mean);
    }
    s->arousal_sd = sqrt(da / (double)n);
    s->valence_sd = sqrt(dv / (double)n);
    s->quadrant = 1;
    for (int q = 0; q < 4; q++) {
        s->share[q] = (double)count[q] / (double)n;
        if (count[q] > count[s->quadrant - 1])
            s->quadrant = q + 1;
    }
}
