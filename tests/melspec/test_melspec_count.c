/* Frame count and indexing: N seconds of audio give floor(N / 0.5) segments
 * after melspec_finish, at the model rate and resampled, with
 * melspec_frame_index counting up from 0; a segment is emitted only once
 * its last sample has arrived; feed consumes everything when no segment
 * completes; bad rates are refused. */
#include "melspec_common.h"

int main(void)
{
    melspec_config c;
    melspec_config_default(&c);
    const double rates[] = {22050, 44100, 48000, 16000, 8000, 96000, 32000};
    const double secs[] = {0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 3.7, 10.0};
    int failed = 0;
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        melspec *m = create_or_die(&c, rates[r]);
        for (size_t s = 0; s < sizeof secs / sizeof secs[0]; s++) {
            size_t n = (size_t)llround(secs[s] * rates[r]);
            float *x = test_signal(rates[r], n, 5);
            frames f;
            frames_init(&f, (size_t)c.n_mels);
            melspec_reset(m);
            run_stream(m, x, n, 1000, 0, &f);
            size_t want = (size_t)floor(secs[s] / 0.5 + 1e-9);
            int ok = f.n == want && !f.index_error;
            printf("%g Hz, %g s: %zu segments (want %zu)%s\n", rates[r], secs[s], f.n, want,
                   f.index_error ? ", bad indices" : "");
            if (!ok)
                failed = 1;
            free(f.data);
            free(x);
        }
        melspec_destroy(m);
    }

    /* At the model rate a segment appears exactly when its last sample is
     * fed, and feed stops right there. */
    {
        melspec *m = create_or_die(&c, c.sample_rate);
        const size_t seg = (size_t)melspec_segment_samples(&c);
        float *x = test_signal(c.sample_rate, 3 * seg, 9);
        int ready = 0;
        size_t used = melspec_feed(m, x, seg - 1, &ready);
        if (used != seg - 1 || ready || melspec_frame_index(m) != -1) {
            fprintf(stderr, "FAIL: segment emitted early (used %zu, ready %d)\n", used, ready);
            failed = 1;
        }
        used = melspec_feed(m, x + seg - 1, 2 * seg, &ready);
        if (used != 1 || !ready || melspec_frame_index(m) != 0) {
            fprintf(stderr, "FAIL: segment 0 not emitted at its last sample (used %zu)\n", used);
            failed = 1;
        }
        used = melspec_feed(m, x + seg, 2 * seg, &ready);
        if (used != seg || !ready || melspec_frame_index(m) != 1) {
            fprintf(stderr, "FAIL: segment 1 (used %zu, ready %d)\n", used, ready);
            failed = 1;
        }
        melspec_finish(m);
        used = melspec_feed(m, x, seg, &ready);
        if (used != 0 || ready) {
            fprintf(stderr, "FAIL: input accepted after finish\n");
            failed = 1;
        }
        melspec_destroy(m);
        free(x);
    }

    /* Rates that cannot work are refused, not crashed on. */
    const double bad[] = {0.0, -44100.0, NAN, INFINITY, 1.0, 1e12};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        melspec *m = (melspec *)&c; /* must be overwritten with NULL */
        int err = melspec_create(&c, bad[i], &m);
        if (err != VALAR_ERR_RATE || m) {
            fprintf(stderr, "FAIL: rate %g gave %d\n", bad[i], err);
            failed = 1;
        }
    }
    melspec_config bc = c;
    bc.hop = 440;
    melspec *m = NULL;
    if (melspec_create(&bc, 22050, &m) != VALAR_ERR_CONFIG || m) {
        fprintf(stderr, "FAIL: bad config accepted by melspec_create\n");
        failed = 1;
    }
    melspec_destroy(NULL);
    return failed;
}
