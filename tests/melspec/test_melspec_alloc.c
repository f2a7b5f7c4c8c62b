/* melspec_feed never allocates or frees, from the first call after create
 * or reset on, at the model rate and resampled. Links tests/common/alloc_count.c
 * (which interposes malloc) directly, so it is built without sanitizers only
 * (suite 'nosan'). */
#include "alloc_count.h"
#include "melspec_common.h"

int main(void)
{
    melspec_config c;
    melspec_config_default(&c);
    /* the usual rates, and the extremes where soxr grows buffers late */
    const double rates[] = {22050, 48000, 44100,  16000,  96000,  192000, 8000,
                            1000,  1500,  384000, 400000, 768000, 1000000};
    const size_t blocks[] = {1, 64, 4096, 100000};
    const double secs = 12.0;
    int failed = 0;
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        size_t n = (size_t)(secs * rates[r]);
        float *x = test_signal(rates[r], n, 77);
        melspec *m = NULL;
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            /* a fresh object, or one that has run and been reset */
            if (b % 2 == 0) {
                melspec_destroy(m);
                m = create_or_die(&c, rates[r]);
            } else {
                melspec_reset(m);
            }
            long before = alloc_count_allocations();
            long segments = 0;
            for (size_t pos = 0; pos < n; pos += blocks[b]) {
                size_t k = n - pos < blocks[b] ? n - pos : blocks[b], off = 0;
                valar_rt_enter();
                for (;;) {
                    int ready = 0;
                    off += melspec_feed(m, x + pos + off, k - off, &ready);
                    if (!ready)
                        break;
                    segments++;
                }
                valar_rt_leave();
            }
            long allocs = alloc_count_allocations() - before;
            printf("%g Hz, block %zu: %ld segments, %ld allocations+frees in melspec_feed\n",
                   rates[r], blocks[b], segments, allocs);
            /* the resampler's latency may hold the last segment back (about
             * a second's worth of them at 1-1.5 kHz) */
            const long want = (long)(secs / 0.5) - (rates[r] < 8000 ? 3 : 1);
            if (allocs != 0 || segments < want) {
                fprintf(stderr, "FAIL: want 0 allocations and >= %ld segments\n", want);
                failed = 1;
            }
        }
        melspec_destroy(m);
        free(x);
    }
    if (alloc_count_sections() == 0) {
        fprintf(stderr, "FAIL: the allocation counter is not linked in\n");
        failed = 1;
    }
    return failed;
}
