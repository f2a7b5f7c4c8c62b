/* Unit tests of the live engine (src/live/live.c) and the CC encoder
 * (src/midicc.c) without an audio server: a thread plays the audio
 * callback, feeding live_capture in odd block sizes, and the results must be
 * exactly those of the analyzer run directly on the same mono mix. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer.h"
#include "check.h"
#include "live.h"
#include "midicc.h"
#include "modelpath.h"
#include "weights.h"

#define MAX_RES 256

typedef struct {
    analyzer_result r[MAX_RES];
    int n;
} collected;

static void collect(void *user, const analyzer_result *r)
{
    collected *c = user;
    if (c->n < MAX_RES)
        c->r[c->n++] = *r;
}

static void test_midicc(void)
{
    CHECK(midicc_value7(-1.0f) == 0 && midicc_value7(1.0f) == 127, "7-bit ends: -1 -> 0, 1 -> 127");
    CHECK(midicc_value7(0.0f) == 64, "7-bit: 0 -> 63.5 rounds half up to 64 (got %d)",
          midicc_value7(0.0f));
    CHECK(midicc_value7(5.0f) == 127 && midicc_value7(-5.0f) == 0 && midicc_value7(NAN) == 64,
          "7-bit clamps out-of-range values, NaN -> middle");
    CHECK(midicc_value14(-1.0f) == 0 && midicc_value14(1.0f) == 16383 &&
              midicc_value14(0.0f) == 8192,
          "14-bit: -1 -> 0, 0 -> 8192, 1 -> 16383");
    /* Every value decodes back to within half a step of x, and steps are
     * monotonic. */
    int worst7 = 0, worst14 = 0, mono = 1, prev = -1;
    for (int i = -10000; i <= 10000; i++) {
        float x = i / 10000.0f;
        int v = midicc_value7(x), w = midicc_value14(x);
        if (fabs(v / 127.0 * 2 - 1 - x) > 1.0 / 127 + 1e-9)
            worst7 = 1;
        if (fabs(w / 16383.0 * 2 - 1 - x) > 1.0 / 16383 + 1e-9)
            worst14 = 1;
        mono &= w >= prev;
        prev = w;
    }
    CHECK(!worst7 && !worst14 && mono, "values decode to within half a step, monotonic");

    midicc_config c;
    midicc_config_default(&c);
    unsigned char m[4][3];
    int k = midicc_encode(&c, -1.0f, 1.0f, m);
    CHECK(k == 2 && m[0][0] == 0xB0 && m[0][1] == 20 && m[0][2] == 0 && m[1][0] == 0xB0 &&
              m[1][1] == 21 && m[1][2] == 127,
          "default: channel 1, CC 20 arousal, CC 21 valence");
    c.channel = 16;
    c.cc_arousal = 7;
    c.cc_valence = 31;
    c.fine14 = 1;
    k = midicc_encode(&c, 0.0f, 0.5f, m);
    int v14 = midicc_value14(0.5f);
    CHECK(k == 4 && m[0][0] == 0xBF && m[0][1] == 7 && m[0][2] == 64 && m[1][1] == 39 &&
              m[1][2] == 0 && m[2][1] == 31 && m[2][2] == v14 >> 7 && m[3][1] == 63 &&
              m[3][2] == (v14 & 127),
          "14-bit: MSB on CC n, LSB on n+32, channel 16 status 0xBF");

    char msg[200];
    midicc_config bad = c;
    bad.channel = 17;
    CHECK(midicc_config_check(&bad, msg, sizeof msg) < 0, "channel 17 rejected (%s)", msg);
    bad = c;
    bad.cc_arousal = 32;
    CHECK(midicc_config_check(&bad, msg, sizeof msg) < 0, "14-bit CC 32 rejected (%s)", msg);
    bad.fine14 = 0;
    bad.cc_arousal = 120;
    CHECK(midicc_config_check(&bad, msg, sizeof msg) < 0, "CC 120 rejected (%s)", msg);
    bad.cc_arousal = bad.cc_valence;
    CHECK(midicc_config_check(&bad, msg, sizeof msg) < 0, "same CC twice rejected (%s)", msg);
    CHECK(midicc_config_check(&c, msg, sizeof msg) == 0, "valid config accepted");
}

/* Stereo test signal: tones with a loudness swell plus noise, different per
 * channel, first sample non-zero. */
static void make_signal(float *l, float *r, size_t n, double rate)
{
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        double t = i / rate;
        double env = 0.5 + 0.5 * sin(2 * M_PI * 0.3 * t);
        s = s * 1103515245u + 12345u;
        double noise = ((s >> 8) & 0xffff) / 32768.0 - 1.0;
        l[i] = (float)(0.3 * env * sin(2 * M_PI * 220 * t) + 0.05 * noise + 0.01);
        r[i] = (float)(0.2 * sin(2 * M_PI * 330 * t + 0.5 * env) - 0.04 * noise);
    }
}

typedef struct {
    live *L;
    const float *l, *r;
    size_t n;
    int nin;
} feeder;

/* The "audio callback": odd block sizes, brief pauses like real periods. */
static void *feed(void *arg)
{
    feeder *f = arg;
    static const size_t sizes[] = {64, 1, 333, 1024, 17, 4096, 256, 5};
    size_t pos = 0;
    for (int i = 0; pos < f->n; i++) {
        size_t k = sizes[i % 8];
        if (k > f->n - pos)
            k = f->n - pos;
        const float *in[2] = {f->l + pos, f->r + pos};
        live_period_begin(f->L);
        live_capture(f->L, in, f->nin, k);
        live_period_end(f->L);
        pos += k;
        if (i % 64 == 0) {
            struct timespec t = {0, 200000};
            nanosleep(&t, NULL);
        }
    }
    return NULL;
}

static int same_results(const collected *a, const collected *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->r[i].time_s != b->r[i].time_s || a->r[i].arousal != b->r[i].arousal ||
            a->r[i].valence != b->r[i].valence)
            return 0;
    return 1;
}

static void test_engine(const weights *w)
{
    const double rate = 44100;
    const size_t n = (size_t)(5.3 * rate), lead = 12345;
    float *l = calloc(n + lead, sizeof *l), *r = calloc(n + lead, sizeof *r);
    float *mono = malloc(n * sizeof *mono);
    make_signal(l + lead, r + lead, n, rate);
    for (size_t i = 0; i < n; i++)
        mono[i] = (0.0f + l[lead + i] + r[lead + i]) / 2.0f;

    /* Reference: the analyzer on the mono mix, as valar analyze does. */
    static collected ref, got, got1, waited;
    analyzer *a;
    char msg[256];
    if (analyzer_create(w, rate, &a, msg, sizeof msg)) {
        CHECK(0, "analyzer_create: %s", msg);
        return;
    }
    analyzer_push(a, mono, n, collect, &ref);
    analyzer_destroy(a);
    CHECK(ref.n == 10, "reference: 5.3 s give 10 results (got %d)", ref.n);

    /* Stereo through the engine, worker running concurrently. */
    live_config lc = {.midi = 1, .stats = 1, .result_cb = collect, .user = &got};
    live *L;
    int err = live_create(w, rate, &lc, &L, msg, sizeof msg);
    CHECK(err == 0, "live_create at 44.1 kHz (%s)", err ? msg : "ok");
    if (err)
        return;
    CHECK(live_start(L) == 0, "worker starts");
    feeder f = {L, l + lead, r + lead, n, 2};
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);
    pthread_join(th, NULL);
    live_stop(L);
    CHECK(same_results(&got, &ref),
          "stereo in odd blocks through the ring = analyzer on the mix "
          "(%d results, bit-identical)",
          got.n);
    int midi_ok = 1, taken = 0;
    float av[2];
    while (live_midi_take(L, av)) {
        midi_ok &= taken < got.n && av[0] == got.r[taken].arousal && av[1] == got.r[taken].valence;
        taken++;
    }
    CHECK(midi_ok && taken == got.n, "MIDI queue holds every result in order (%d)", taken);
    live_stats s;
    live_get_stats(L, &s);
    CHECK(s.results == (uint64_t)got.n && s.dropped == 0, "stats: %llu results, 0 dropped",
          (unsigned long long)s.results);
    CHECK(s.periods > 100 && s.cb_mean_us > 0 && s.cb_max_us >= s.cb_mean_us && s.hop_mean_us > 0,
          "stats: %llu periods, callback %.2f us mean / %.2f max, worker %.1f us per hop",
          (unsigned long long)s.periods, s.cb_mean_us, s.cb_max_us, s.hop_mean_us);
    printf("stats: %llu periods, callback %.2f us mean / %.2f us max, worker %.1f us per hop\n",
           (unsigned long long)s.periods, s.cb_mean_us, s.cb_max_us, s.hop_mean_us);
    live_destroy(L);

    /* One channel: taken as is. */
    collected mref = {0};
    if (analyzer_create(w, rate, &a, msg, sizeof msg) == 0) {
        analyzer_push(a, l + lead, n, collect, &mref);
        analyzer_destroy(a);
    }
    lc = (live_config){.result_cb = collect, .user = &got1};
    if (live_create(w, rate, &lc, &L, msg, sizeof msg) == 0) {
        live_start(L);
        f = (feeder){L, l + lead, r + lead, n, 1};
        feed(&f);
        live_stop(L);
        CHECK(same_results(&got1, &mref) && !live_midi_take(L, av),
              "one input: results of that channel alone; no MIDI queued when off");
        live_destroy(L);
    }

    /* wait_signal: leading digital silence is skipped, time 0 is the first
     * non-zero sample. */
    lc = (live_config){.wait_signal = 1, .result_cb = collect, .user = &waited};
    if (live_create(w, rate, &lc, &L, msg, sizeof msg) == 0) {
        live_start(L);
        f = (feeder){L, l, r, n + lead, 2};
        feed(&f);
        live_stop(L);
        CHECK(same_results(&waited, &ref), "wait_signal: %zu leading zeros skipped, same results",
              lead);
        live_destroy(L);
    }

    /* max_results (--count): nothing beyond it reaches the outputs or MIDI. */
    static collected capped;
    lc = (live_config){.midi = 1, .max_results = 4, .result_cb = collect, .user = &capped};
    if (live_create(w, rate, &lc, &L, msg, sizeof msg) == 0) {
        live_start(L);
        f = (feeder){L, l + lead, r + lead, n, 2};
        feed(&f);
        live_stop(L);
        int m = 0;
        while (live_midi_take(L, av))
            m++;
        capped.n = capped.n == 4 && memcmp(capped.r, ref.r, 4 * sizeof *ref.r) == 0 ? 4 : -1;
        CHECK(capped.n == 4 && m == 4, "max_results 4: 4 results out, 4 on the MIDI queue (%d)", m);
        live_destroy(L);
    }

    /* A stalled worker: the ring fills and the rest is counted, not waited on. */
    lc = (live_config){0};
    if (live_create(w, rate, &lc, &L, msg, sizeof msg) == 0) {
        size_t total = 0, chunk = 48000;
        float *zeros = calloc(chunk, sizeof *zeros);
        const float *in[1] = {zeros};
        for (int i = 0; i < 8; i++, total += chunk)
            live_capture(L, in, 1, chunk);
        uint64_t d = live_dropped(L);
        live_start(L);
        live_stop(L); /* drains what fitted */
        live_get_stats(L, &s);
        CHECK(d > 0 && d < total && s.dropped == d && s.results == (total - d) / 22050,
              "overrun: %llu of %zu samples dropped and counted; the rest analysed (%llu results)",
              (unsigned long long)d, total, (unsigned long long)s.results);
        free(zeros);
        live_destroy(L);
    }
    free(l);
    free(r);
    free(mono);
}

int main(void)
{
    test_midicc();
    char path[4096], msg[512];
    weights *w;
    if (modelpath_default("streaming", path, sizeof path) < 0 ||
        weights_load(path, &w, msg, sizeof msg)) {
        printf("FAIL no streaming model (set VALAR_MODEL_DIR)\n");
        return 1;
    }
    test_engine(w);
    /* An offline model is refused with a message. */
    char opath[4096];
    weights *wo;
    if (modelpath_default("offline", opath, sizeof opath) >= 0 &&
        weights_load(opath, &wo, msg, sizeof msg) == 0) {
        live_config lc = {0};
        live *L;
        int err = live_create(wo, 48000, &lc, &L, msg, sizeof msg);
        CHECK(err < 0 && strstr(msg, "streaming"), "offline model refused: %s", msg);
        weights_destroy(wo);
    }
    weights_destroy(w);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
