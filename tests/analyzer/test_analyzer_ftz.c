/* analyzer-ftz: results do not depend on the x86 flush-to-zero and
 * denormals-are-zero flags. DAWs set them in their audio threads (Ardour:
 * Preferences -> Audio -> "Denormal handling", FTZ+DAZ by default), `valar
 * analyze` runs without them, and the plugin promises the numbers of
 * `valar analyze --streaming`.
 *
 * For signals that produce denormals (a fade into and below the smallest
 * normal float, a stretch of denormal samples, silence) at several rates,
 * the features (melspec frames) and the results (every model found: the
 * placeholder and the default streaming model) with MXCSR FTZ|DAZ set must
 * be bit-identical to those without. Why they are: a flag only changes
 * values below 1.2e-38; mel energies are floored at log_floor (1e-10)
 * before the log, and the network's activations are many orders of
 * magnitude above. Skipped (77) where there is no MXCSR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "melspec.h"
#include "modelpath.h"
#include "analyzer_common.h"

#include "check.h"

#if defined(__SSE__)
#include <xmmintrin.h>

#define FTZ_DAZ 0x8040u /* MXCSR bit 15 (FTZ) | bit 6 (DAZ) */

/* test_signal, fading out from half-way so that the second half passes
 * through the denormal range into zeros, and 0.3 s of denormal samples
 * (sign alternating, some zeros) at a quarter. Returns how many input
 * samples are denormal. */
static size_t denormal_signal(float *x, double rate, size_t n)
{
    for (size_t i = n / 2; i < n; i++)
        x[i] *= (float)exp(-(double)(i - n / 2) / rate * 14.0);
    for (size_t i = n / 4, k = 0; k < (size_t)(0.3 * rate); i++, k++)
        x[i] = (float)(k % 7) * 1.3e-39f * (k & 1 ? -1.0f : 1.0f);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += x[i] != 0.0f && fabsf(x[i]) < 1.17549435e-38f;
    return d;
}

static int flags_seen_off, flags_seen_on;

/* Record which MXCSR state the analysis really ran under. */
static void add(void *user, const analyzer_result *r)
{
    unsigned csr = _mm_getcsr() & FTZ_DAZ;
    flags_seen_on += csr == FTZ_DAZ;
    flags_seen_off += csr == 0;
    collector_add(user, r);
}

static void analyse(const weights *w, double rate, const float *x, size_t n, int ftz,
                    collector *c)
{
    analyzer *a;
    char msg[512];
    int err = analyzer_create(w, rate, &a, msg, sizeof msg);
    if (err) {
        CHECK(0, "analyzer_create(%g Hz): %s", rate, msg);
        return;
    }
    c->n = 0;
    unsigned saved = _mm_getcsr();
    _mm_setcsr(ftz ? saved | FTZ_DAZ : saved & ~FTZ_DAZ);
    for (size_t pos = 0; pos < n; pos += 333)
        analyzer_push(a, x + pos, n - pos < 333 ? n - pos : 333, add, c);
    analyzer_finish(a, add, c);
    _mm_setcsr(saved);
    analyzer_destroy(a);
}

static void check_results(const weights *w, const char *name, double rate, const float *x,
                          size_t n)
{
    collector off, on;
    collector_init(&off, 256);
    collector_init(&on, 256);
    analyse(w, rate, x, n, 0, &off);
    analyse(w, rate, x, n, 1, &on);
    size_t same = 0;
    double worst = 0.0;
    for (size_t k = 0; k < off.n && k < on.n; k++) {
        const analyzer_result *p = &off.r[k], *q = &on.r[k];
        same += p->time_s == q->time_s && p->arousal == q->arousal && p->valence == q->valence;
        worst = fmax(worst, fmax(fabs(p->arousal - q->arousal), fabs(p->valence - q->valence)));
    }
    printf("%s, %g Hz: %zu of %zu results bit-identical with FTZ|DAZ (max |diff| %g)\n", name,
           rate, same, off.n, worst);
    CHECK(off.n > 20 && on.n == off.n && same == off.n,
          "%s, %g Hz: %zu results without the flags, %zu with, %zu identical (max |diff| %g)",
          name, rate, off.n, on.n, same, worst);
    free(off.r);
    free(on.r);
}

/* The features alone: every melspec frame, bit for bit. */
static void check_features(const weights *w, double rate, const float *x, size_t n)
{
    melspec_config cfg;
    char msg[512];
    if (melspec_config_read(&cfg, w, msg, sizeof msg)) {
        CHECK(0, "melspec_config_read: %s", msg);
        return;
    }
    melspec *m[2];
    size_t frames = 0, differ = 0;
    if (melspec_create(&cfg, rate, &m[0]) || melspec_create(&cfg, rate, &m[1])) {
        CHECK(0, "melspec_create(%g Hz)", rate);
        return;
    }
    size_t pos[2] = {0, 0};
    float *saved_frame = malloc((size_t)cfg.n_mels * sizeof *saved_frame);
    unsigned saved = _mm_getcsr();
    for (;;) {
        int ready[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            _mm_setcsr(k ? saved | FTZ_DAZ : saved & ~FTZ_DAZ);
            while (!ready[k] && pos[k] < n)
                pos[k] += melspec_feed(m[k], x + pos[k], n - pos[k], &ready[k]);
            _mm_setcsr(saved);
            if (k == 0 && ready[0])
                memcpy(saved_frame, melspec_frame(m[0]), (size_t)cfg.n_mels * sizeof *saved_frame);
        }
        if (!ready[0] || !ready[1]) {
            CHECK(ready[0] == ready[1], "%g Hz: one feature stream ended early", rate);
            break;
        }
        frames++;
        differ += memcmp(saved_frame, melspec_frame(m[1]), (size_t)cfg.n_mels * sizeof(float)) != 0;
    }
    printf("features, %g Hz: %zu of %zu frames bit-identical with FTZ|DAZ\n", rate,
           frames - differ, frames);
    CHECK(frames > 20 && differ == 0, "%g Hz: %zu of %zu feature frames differ with FTZ|DAZ",
          rate, differ, frames);
    free(saved_frame);
    melspec_destroy(m[0]);
    melspec_destroy(m[1]);
}

int main(void)
{
    weights *models[2] = {load_placeholder("streaming"), NULL};
    const char *names[2] = {"placeholder", NULL};
    char path[4096], msg[512];
    if (modelpath_default("streaming", path, sizeof path) == 0) { /* a trained model */
        if (weights_load(path, &models[1], msg, sizeof msg))
            CHECK(0, "%s: %s", path, msg);
        names[1] = path;
    }
    static const double rates[] = {8000, 22050, 44100, 48000, 96000};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        const double rate = rates[r];
        const size_t n = (size_t)(14.0 * rate);
        float *x = test_signal(rate, n);
        size_t d = denormal_signal(x, rate, n);
        CHECK(d > (size_t)(0.2 * rate), "%g Hz: only %zu denormal input samples", rate, d);
        check_features(models[0], rate, x, n);
        for (int k = 0; k < 2; k++)
            if (models[k])
                check_results(models[k], names[k], rate, x, n);
        /* Digital silence: the log floor everywhere. */
        memset(x, 0, n * sizeof *x);
        check_results(models[0], "silence, placeholder", rate, x, n);
        free(x);
    }
    CHECK(flags_seen_on > 0 && flags_seen_off > 0,
          "the analysis ran with the flags set (%d results) and clear (%d results)",
          flags_seen_on, flags_seen_off);
    weights_destroy(models[0]);
    weights_destroy(models[1]);
    return failures ? 1 : 0;
}
#else
int main(void)
{
    puts("no x86 MXCSR on this machine: nothing to test");
    return 77;
}
#endif
