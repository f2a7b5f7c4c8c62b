/* Block-size invariance: the same audio fed in blocks of 1, 64, 1000, 4096
 * and random sizes gives bit-identical frames (memcmp) to feeding it in one
 * block, at the model rate and resampled from 44100, 48000 and 16000 Hz.
 * Also: melspec_reset gives a fresh stream (same frames again), and staged
 * (melspec_set_staged) the same frames whenever melspec_work comes, also
 * too late (after the next chunk filled up, so the feed takes the held
 * output itself). */
#include "melspec_common.h"

static int same(const frames *a, const frames *b, const char *what, double rate)
{
    if (a->index_error || b->index_error) {
        fprintf(stderr, "FAIL %g Hz %s: indices do not count up from 0\n", rate, what);
        return 0;
    }
    if (a->n != b->n) {
        fprintf(stderr, "FAIL %g Hz %s: %zu segments vs %zu\n", rate, what, a->n, b->n);
        return 0;
    }
    if (memcmp(a->data, b->data, a->n * a->n_mels * sizeof *a->data) != 0) {
        fprintf(stderr, "FAIL %g Hz %s: frames differ\n", rate, what);
        return 0;
    }
    return 1;
}

/* Feed x staged in random blocks, calling melspec_work 0..299 samples
 * after each resampler call. Returns how often the feed took the held
 * output itself (the next chunk came first), or -1 if a feed stopped short
 * anywhere but right after a resampler call. */
static int run_staged(melspec *m, const float *x, size_t n, uint32_t seed, frames *out)
{
    uint32_t s = seed;
    size_t pos = 0, work_at = SIZE_MAX, call_at = 0; /* the last resampler call */
    int late = 0;
    while (pos < n) {
        if (pos >= work_at) {
            work_at = SIZE_MAX;
            if (melspec_work(m))
                frames_add(out, m);
            continue;
        }
        size_t b = 1 + test_rand(&s) % 700;
        if (b > n - pos)
            b = n - pos;
        if (work_at != SIZE_MAX && b > work_at - pos)
            b = work_at - pos;
        int r = 0;
        const int was_held = melspec_held(m);
        const size_t used = melspec_feed(m, x + pos, b, &r);
        pos += used;
        if (r)
            frames_add(out, m);
        else if (used < b && !melspec_held(m))
            return -1;
        /* a resampler call just now (they come every chunk of input) */
        if (melspec_held(m) && (!was_held || pos == call_at + melspec_chunk(m))) {
            late += was_held; /* the feed took the previous output itself */
            call_at = pos;
            work_at = pos + test_rand(&s) % 300;
        }
    }
    collect_end(m, out);
    return melspec_held(m) ? -1 : late;
}

int main(void)
{
    melspec_config c;
    melspec_config_default(&c);
    const double rates[] = {22050, 44100, 48000, 16000};
    const size_t blocks[] = {1, 64, 1000, 4096, 0 /* random */, 0 /* random, other seed */};
    const double seconds = 4.3;
    int failed = 0;
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        size_t n = (size_t)(seconds * rates[r]);
        float *x = test_signal(rates[r], n, 4242);
        melspec *m = create_or_die(&c, rates[r]);
        frames ref;
        frames_init(&ref, (size_t)c.n_mels);
        run_stream(m, x, n, n, 0, &ref);
        if (ref.n != 8) {
            fprintf(stderr, "FAIL %g Hz: %zu segments from %g s (want 8)\n", rates[r], ref.n,
                    seconds);
            failed = 1;
        }
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            /* every other run on a fresh object, the rest after reset */
            if (b % 2) {
                melspec_destroy(m);
                m = create_or_die(&c, rates[r]);
            } else {
                melspec_reset(m);
            }
            frames f;
            frames_init(&f, (size_t)c.n_mels);
            run_stream(m, x, n, blocks[b], (uint32_t)(b + 1), &f);
            char what[64];
            snprintf(what, sizeof what, "block %zu%s", blocks[b], blocks[b] ? "" : " (random)");
            if (same(&ref, &f, what, rates[r]))
                printf("%g Hz, %s: %zu segments, bit-identical\n", rates[r], what, f.n);
            else
                failed = 1;
            free(f.data);
        }
        for (uint32_t seed = 1; seed <= 3; seed++) {
            frames f;
            frames_init(&f, (size_t)c.n_mels);
            melspec_reset(m);
            melspec_set_staged(m, 1);
            char what[64];
            snprintf(what, sizeof what, "staged, seed %u", seed);
            const int late = run_staged(m, x, n, seed, &f);
            if (late <= 0 && rates[r] != c.sample_rate) {
                fprintf(stderr, "FAIL %g Hz %s: %s\n", rates[r], what,
                        late < 0 ? "a feed stopped short with nothing held"
                                 : "no feed took held output (the case is not tested)");
                failed = 1;
            } else if (same(&ref, &f, what, rates[r])) {
                printf("%g Hz, %s: %zu segments, bit-identical (%d outputs taken by the feed)\n",
                       rates[r], what, f.n, late);
            } else {
                failed = 1;
            }
            free(f.data);
        }
        melspec_destroy(m);
        free(ref.data);
        free(x);
    }
    return failed;
}
