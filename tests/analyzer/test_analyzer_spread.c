/* analyzer_spread: a spread analyzer reports bit for bit the results of
 * whole steps, each exactly analyzer_delay() input samples later (the push
 * that reaches that point), whatever the block sizes; a reset with a step
 * in flight gives a fresh stream; analyzer_finish completes a step in
 * flight; a segment that completes with a step still in flight (slices
 * 1 s apart) finishes that one first, the values still bit for bit; bad
 * settings are refused. Models: the placeholder (one slice),
 * the shipped streaming model and a generated 32-wide one (several). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "analyzer_common.h"
#include "../crnn/crnn_common.h"

#include "check.h"
#include "testrng.h"

/* Results with the input position at which each was reported: the end of
 * the push that reported it. */
typedef struct {
    collector c;
    size_t *at;
    size_t end; /* end of the push in progress */
} timed;

static void timed_add(void *user, const analyzer_result *r)
{
    timed *t = user;
    if (t->c.n < t->c.cap)
        t->at[t->c.n] = t->end;
    collector_add(&t->c, r);
}

static void timed_init(timed *t, size_t cap)
{
    collector_init(&t->c, cap);
    t->at = malloc(cap * sizeof *t->at);
}

static analyzer *make(const weights *w, double rate, int spread)
{
    analyzer *a;
    char msg[512] = "";
    if (analyzer_create(w, rate, &a, msg, sizeof msg) || analyzer_spread(a, spread)) {
        fprintf(stderr, "analyzer_create(%g Hz): %s\n", rate, msg);
        exit(1);
    }
    return a;
}

static uint32_t rng = 0x9e3779b9u;

/* Push x in blocks (0: random sizes 1..3000), then finish (reported at n). */
static void run(analyzer *a, const float *x, size_t n, size_t block, timed *t)
{
    t->c.n = 0;
    for (size_t pos = 0; pos < n;) {
        size_t b = block ? block : 1 + test_rand(&rng) % 3000;
        if (b > n - pos)
            b = n - pos;
        t->end = pos + b;
        analyzer_push(a, x + pos, b, timed_add, t);
        pos += b;
    }
    t->end = n;
    analyzer_finish(a, timed_add, t);
}

static int same_values(const timed *a, const timed *b, const char *what)
{
    if (a->c.n != b->c.n) {
        CHECK(0, "%s: %zu results vs %zu", what, a->c.n, b->c.n);
        return 0;
    }
    for (size_t i = 0; i < a->c.n; i++)
        if (memcmp(&a->c.r[i], &b->c.r[i], sizeof a->c.r[i]) != 0) {
            CHECK(0, "%s: result %zu differs: (%g, %.9g, %.9g) vs (%g, %.9g, %.9g)", what, i,
                  a->c.r[i].time_s, a->c.r[i].arousal, a->c.r[i].valence, b->c.r[i].time_s,
                  b->c.r[i].arousal, b->c.r[i].valence);
            return 0;
        }
    return 1;
}

/* Result i of b came in the push (start, end] that holds ref's position
 * (from one-sample pushes) + delay, or from analyzer_finish at n when that
 * is at or past the end. */
static int delayed_by(const timed *ref, const timed *b, size_t delay, size_t block, size_t n,
                      const char *what)
{
    for (size_t i = 0; i < ref->c.n && i < b->c.n; i++) {
        const size_t want = ref->at[i] + delay, got = b->at[i];
        size_t end = block ? (want + block - 1) / block * block : got;
        int ok = got == (end < n ? end : n) &&
                 (block || (got >= want && got - want < 3000) || (want >= n && got == n));
        if (!ok) {
            CHECK(0, "%s: result %zu reported at sample %zu, want %zu (+%zu)", what, i, got, want,
                  delay);
            return 0;
        }
    }
    return 1;
}

static void test_model(const char *name, const weights *w, const double *rates, int nrates)
{
    for (int ri = 0; ri < nrates; ri++) {
        const double rate = rates[ri], seconds = 6.2;
        const size_t n = (size_t)(seconds * rate);
        float *x = test_signal(rate, n);
        timed ref, got;
        timed_init(&ref, 64);
        timed_init(&got, 64);
        analyzer *whole = make(w, rate, 0);
        run(whole, x, n, 1, &ref);
        CHECK(ref.c.n == 12 && analyzer_delay(whole) == 0, "%s %g Hz: %zu results, delay %ld", name,
              rate, ref.c.n, analyzer_delay(whole));
        static const int spreads[] = {32, 1, 100};
        for (int si = 0; si < 3; si++) {
            analyzer *a = make(w, rate, spreads[si]);
            const long delay = analyzer_delay(a);
            char what[160];
            static const size_t blocks[] = {1, 32, 64, 1000, 0, 1 << 30};
            for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                analyzer_reset(a);
                run(a, x, n, blocks[bi], &got);
                snprintf(what, sizeof what, "%s, %g Hz, spread %d (delay %ld), block %zu", name,
                         rate, spreads[si], delay, blocks[bi]);
                if (same_values(&ref, &got, what))
                    delayed_by(&ref, &got, (size_t)delay, blocks[bi], n, what);
            }
            printf("%s, %g Hz, spread %d: delay %ld samples, results identical\n", name, rate,
                   spreads[si], delay);

            /* A reset right after a segment completed (its step in flight),
             * then the whole stream: as if fresh. */
            analyzer_reset(a);
            analyzer_push(a, x, ref.at[3], NULL, NULL);
            CHECK(analyzer_spread(a, 64) == VALAR_ERR_ARG, "%s: spread changed in flight", what);
            analyzer_reset(a);
            run(a, x, n, 777, &got);
            snprintf(what, sizeof what, "%s, %g Hz, spread %d: reset in flight", name, rate,
                     spreads[si]);
            same_values(&ref, &got, what);

            /* finish right after the last segment completed: its step is
             * finished there */
            analyzer_reset(a);
            got.c.n = 0;
            got.end = ref.at[ref.c.n - 1];
            analyzer_push(a, x, got.end, timed_add, &got);
            analyzer_finish(a, timed_add, &got);
            snprintf(what, sizeof what, "%s, %g Hz, spread %d: finish in flight", name, rate,
                     spreads[si]);
            same_values(&ref, &got, what);
            analyzer_destroy(a);
        }
        /* Slices so far apart that the next segment completes with a step
         * in flight: that step is finished at once, still bit for bit. */
        analyzer *slow = make(w, rate, (int)rate);
        run(slow, x, n, 64, &got);
        char what[160];
        snprintf(what, sizeof what, "%s, %g Hz, spread %d: steps overlap", name, rate, (int)rate);
        same_values(&ref, &got, what);
        analyzer_destroy(slow);
        analyzer_destroy(whole);
        free(ref.c.r);
        free(ref.at);
        free(got.c.r);
        free(got.at);
        free(x);
    }
}

static weights *load(const char *file)
{
    const char *dir = getenv("VALAR_MODEL_DIR");
    char path[4096], msg[512];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "models", file);
    weights *w;
    if (weights_load(path, &w, msg, sizeof msg)) {
        fprintf(stderr, "cannot load %s: %s\n", path, msg);
        exit(1);
    }
    return w;
}

static void test_errors(const weights *w)
{
    analyzer *a = make(w, 48000, 0);
    CHECK(analyzer_spread(a, -1) == VALAR_ERR_ARG, "negative spread accepted");
    CHECK(analyzer_spread(NULL, 32) == VALAR_ERR_ARG, "NULL analyzer accepted");
    CHECK(analyzer_delay(NULL) == 0, "delay of NULL");
    CHECK(analyzer_spread(a, 32) == 0 && analyzer_delay(a) > 0, "spread 32 refused");
    CHECK(analyzer_spread(a, 0) == 0 && analyzer_delay(a) == 0, "spread 0 refused");
    analyzer_destroy(a);
}

int main(void)
{
    weights *placeholder = load("placeholder-streaming.safetensors");
    weights *shipped = load("valar-streaming.safetensors");
    model_spec sp = spec_default(CRNN_STREAMING, 0);
    sp.M = 128;
    sp.C = sp.D = sp.H = 32;
    weights *wide = build_model(&sp);
    if (!wide)
        return 1;
    const double all[] = {22050, 44100, 96000, 8000}, two[] = {48000, 22050};
    test_model("placeholder", placeholder, two, 2);
    test_model("shipped", shipped, all, 4);
    test_model("32-wide", wide, two, 2);
    test_errors(shipped);
    weights_destroy(placeholder);
    weights_destroy(shipped);
    weights_destroy(wide);
    printf(failures ? "FAILED\n" : "ok\n");
    return failures ? 1 : 0;
}
