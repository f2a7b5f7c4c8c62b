/* analyzer: results do not depend on block size or on mono vs interleaved
 * input, equal melspec + crnn_step run by hand, are time-stamped 0, 0.5,
 * 1.0 ..., and N seconds give floor(N / 0.5) results; offline models and bad
 * arguments are refused. Uses the placeholder models in $VALAR_MODEL_DIR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "crnn.h"
#include "melspec.h"
#include "analyzer_common.h"

#include "check.h"
#include "testrng.h"

static weights *streaming;
static double segment_s; /* segment length from the model's metadata */

static analyzer *make(double rate)
{
    analyzer *a;
    char msg[512] = "";
    int err = analyzer_create(streaming, rate, &a, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "analyzer_create(%g Hz): %s (%s)\n", rate, msg, valar_strerror(err));
        exit(1);
    }
    return a;
}

static uint32_t rng = 0x2545f491u;

static size_t random_block(void)
{
    return 1 + test_rand(&rng) % 5000;
}

/* Push n frames of `channels` interleaved channels in blocks of `block`
 * frames (0 = random sizes), then finish. Checks that the push/finish return
 * values add up to the number of callbacks. */
static void run(analyzer *a, const float *x, size_t n, int channels, size_t block, collector *c)
{
    c->n = 0;
    c->overflow = 0;
    long returned = 0;
    for (size_t pos = 0; pos < n;) {
        size_t b = block ? block : random_block();
        if (b > n - pos)
            b = n - pos;
        int got = channels == 1 ? analyzer_push(a, x + pos, b, collector_add, c)
                                : analyzer_push_interleaved(a, x + pos * (size_t)channels, b,
                                                            channels, collector_add, c);
        CHECK(got >= 0, "push returned %d", got);
        returned += got;
        pos += b;
    }
    int got = analyzer_finish(a, collector_add, c);
    CHECK(got >= 0, "finish returned %d", got);
    returned += got;
    CHECK(!c->overflow, "collector overflow");
    CHECK(returned == (long)c->n, "push/finish returned %ld results, callback saw %zu", returned,
          c->n);
}

static int same_results(const collector *a, const collector *b, const char *what)
{
    if (a->n != b->n) {
        CHECK(0, "%s: %zu results vs %zu", what, a->n, b->n);
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        const analyzer_result *p = &a->r[i], *q = &b->r[i];
        if (p->time_s != q->time_s || p->arousal != q->arousal || p->valence != q->valence) {
            CHECK(0, "%s: result %zu differs: (%g, %.9g, %.9g) vs (%g, %.9g, %.9g)", what, i,
                  p->time_s, p->arousal, p->valence, q->time_s, q->arousal, q->valence);
            return 0;
        }
    }
    return 1;
}

static void check_times(const collector *c, const char *what)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->r[i].time_s != (double)i * segment_s) {
            CHECK(0, "%s: result %zu has time %.9g, want %.9g", what, i, c->r[i].time_s,
                  (double)i * segment_s);
            return;
        }
    }
}

/* Block sizes, mono vs stereo, reset: all must give identical results. */
static void test_invariance(double rate)
{
    const double seconds = 8.3;
    const size_t n = (size_t)(seconds * rate);
    float *x = test_signal(rate, n);
    float *stereo = malloc(2 * n * sizeof *stereo);
    for (size_t i = 0; i < n; i++)
        stereo[2 * i] = stereo[2 * i + 1] = x[i];
    collector ref, got;
    collector_init(&ref, 64);
    collector_init(&got, 64);
    analyzer *a = make(rate);
    char what[128];

    run(a, x, n, 1, 4096, &ref);
    snprintf(what, sizeof what, "%g Hz, block 4096", rate);
    CHECK(ref.n == (size_t)floor(seconds / segment_s), "%s: %zu results, want %d", what, ref.n,
          (int)floor(seconds / segment_s));
    check_times(&ref, what);
    /* A constant output would make the comparisons below meaningless. */
    int varies = 0;
    for (size_t i = 1; i < ref.n; i++)
        varies |= ref.r[i].arousal != ref.r[0].arousal || ref.r[i].valence != ref.r[0].valence;
    CHECK(varies, "%s: the model gives the same output for every segment", what);
    for (size_t i = 0; i < ref.n; i++)
        CHECK(fabsf(ref.r[i].arousal) <= 1 && fabsf(ref.r[i].valence) <= 1,
              "%s: result %zu out of [-1, 1]", what, i);

    static const size_t blocks[] = {1, 64, 1000, 0, 1 << 30};
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
        analyzer_reset(a);
        run(a, x, n, 1, blocks[k], &got);
        snprintf(what, sizeof what, "%g Hz mono, block %zu (0 = random)", rate, blocks[k]);
        same_results(&ref, &got, what);
        analyzer_reset(a);
        run(a, stereo, n, 2, blocks[k], &got);
        snprintf(what, sizeof what, "%g Hz stereo, block %zu (0 = random)", rate, blocks[k]);
        same_results(&ref, &got, what);
    }

    /* Reset mid-stream, then a whole stream: as if fresh. */
    analyzer_reset(a);
    analyzer_push(a, x, n / 3, NULL, NULL);
    analyzer_reset(a);
    run(a, x, n, 1, 777, &got);
    snprintf(what, sizeof what, "%g Hz after reset mid-stream", rate);
    same_results(&ref, &got, what);

    /* A second analyzer gives the same results as the first. */
    analyzer *b = make(rate);
    run(b, x, n, 1, 512, &got);
    snprintf(what, sizeof what, "%g Hz second analyzer", rate);
    same_results(&ref, &got, what);
    analyzer_destroy(b);

    analyzer_destroy(a);
    free(ref.r);
    free(got.r);
    free(stereo);
    free(x);
}

/* At the model rate, the analyzer is melspec + crnn_step and nothing else. */
static void test_by_hand(void)
{
    melspec_config cfg;
    char msg[512];
    if (melspec_config_read(&cfg, streaming, msg, sizeof msg) != 0) {
        CHECK(0, "melspec_config_read: %s", msg);
        return;
    }
    const double rate = cfg.sample_rate;
    const size_t n = (size_t)(6.1 * rate);
    float *x = test_signal(rate, n);

    melspec *m;
    crnn *net;
    CHECK(melspec_create(&cfg, rate, &m) == 0, "melspec_create");
    CHECK(crnn_create(streaming, &net, msg, sizeof msg) == 0, "crnn_create: %s", msg);
    collector hand, got;
    collector_init(&hand, 64);
    collector_init(&got, 64);
    size_t pos = 0;
    int ready, finished = 0;
    for (;;) {
        pos += melspec_feed(m, x + pos, n - pos, &ready);
        if (!ready) {
            if (pos < n)
                continue;
            if (finished)
                break;
            melspec_finish(m);
            finished = 1;
            continue;
        }
        float out[2];
        CHECK(crnn_step(net, melspec_frame(m), out) == 0, "crnn_step");
        analyzer_result r = {melspec_frame_index(m) * segment_s, out[0], out[1]};
        collector_add(&hand, &r);
    }
    analyzer *a = make(rate);
    run(a, x, n, 1, 1000, &got);
    CHECK(hand.n == 12, "by hand: %zu segments, want 12", hand.n);
    same_results(&hand, &got, "analyzer vs melspec + crnn_step");
    analyzer_destroy(a);
    melspec_destroy(m);
    crnn_destroy(net);
    free(hand.r);
    free(got.r);
    free(x);
}

/* N seconds of audio give floor(N / segment) results after finish, and no
 * more than that before it. */
static void test_counts(void)
{
    static const double rates[] = {22050, 44100, 48000, 16000, 96000};
    static const double secs[] = {0.0, 0.1, 0.4, 0.5, 1.0, 1.3, 3.0, 4.9};
    collector c;
    collector_init(&c, 64);
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        analyzer *a = make(rates[i]);
        CHECK(analyzer_input_rate(a) == rates[i], "input rate %g", analyzer_input_rate(a));
        for (size_t j = 0; j < sizeof secs / sizeof secs[0]; j++) {
            size_t n = (size_t)llround(secs[j] * rates[i]);
            size_t want = (size_t)floor(secs[j] / segment_s + 1e-9);
            float *x = test_signal(rates[i], n);
            analyzer_reset(a);
            c.n = 0;
            int pushed = analyzer_push(a, x, n, collector_add, &c);
            CHECK(pushed >= 0 && (size_t)pushed <= want,
                  "%g Hz, %g s: %d results before finish, at most %zu expected", rates[i], secs[j],
                  pushed, want);
            analyzer_finish(a, collector_add, &c);
            CHECK(c.n == want, "%g Hz, %g s: %zu results after finish, want %zu", rates[i], secs[j],
                  c.n, want);
            check_times(&c, "counts");
            /* Finishing twice adds nothing. */
            CHECK(analyzer_finish(a, collector_add, &c) == 0, "second finish produced results");
            free(x);
        }
        analyzer_destroy(a);
    }
    free(c.r);
}

static void test_errors(void)
{
    weights *off = load_placeholder("offline");
    analyzer *a = (analyzer *)&a; /* must be overwritten with NULL */
    char msg[512] = "";
    int err = analyzer_create(off, 48000, &a, msg, sizeof msg);
    CHECK(err == VALAR_ERR_KIND, "offline model: got %d, want VALAR_ERR_KIND", err);
    CHECK(a == NULL, "offline model: *out not NULL");
    CHECK(strstr(msg, "streaming") != NULL, "offline model: message '%s'", msg);
    printf("offline model refused: %s\n", msg);
    weights_destroy(off);

    static const double bad_rates[] = {0, -44100, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++) {
        msg[0] = 0;
        err = analyzer_create(streaming, bad_rates[i], &a, msg, sizeof msg);
        CHECK(err < 0 && a == NULL && msg[0], "rate %g accepted (%d)", bad_rates[i], err);
    }
    CHECK(analyzer_create(NULL, 48000, &a, NULL, 0) == VALAR_ERR_ARG, "NULL weights");

    a = make(48000);
    float x[8] = {0};
    CHECK(analyzer_push_interleaved(a, x, 4, 0, NULL, NULL) == VALAR_ERR_ARG, "0 channels");
    CHECK(analyzer_push(a, NULL, 4, NULL, NULL) == VALAR_ERR_ARG, "NULL samples");
    CHECK(analyzer_push(a, NULL, 0, NULL, NULL) == 0, "empty push");
    analyzer_destroy(a);
    analyzer_destroy(NULL);

    /* A rate melspec cannot use is its own code, not a weights one. */
    err = analyzer_create(streaming, 500, &a, msg, sizeof msg);
    CHECK(err == VALAR_ERR_RATE && a == NULL && strstr(msg, "500"), "rate 500: %d %s", err, msg);
}

int main(void)
{
    streaming = load_placeholder("streaming");
    melspec_config cfg;
    char msg[512];
    if (melspec_config_read(&cfg, streaming, msg, sizeof msg) != 0) {
        fprintf(stderr, "melspec_config_read: %s\n", msg);
        return 1;
    }
    segment_s = cfg.segment_ms / 1000.0;

    test_errors();
    test_counts();
    test_by_hand();
    test_invariance(48000);
    test_invariance(cfg.sample_rate);
    weights_destroy(streaming);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
