/* analyzer_push and analyzer_push_interleaved never allocate or free, also
 * spread (analyzer_spread, with the shipped model: steps in slices). Links
 * tests/common/alloc_count.c (which interposes malloc) directly, so it is
 * built without sanitizers only (suite 'nosan'). */
#include <stdio.h>
#include <stdlib.h>

#include "alloc_count.h"
#include "analyzer.h"
#include "analyzer_common.h"

int main(void)
{
    weights *placeholder = load_placeholder("streaming"), *shipped = NULL;
    char path[4096], msg[512];
    snprintf(path, sizeof path, "%s/valar-streaming.safetensors",
             getenv("VALAR_MODEL_DIR") ? getenv("VALAR_MODEL_DIR") : "models");
    if (weights_load(path, &shipped, msg, sizeof msg)) {
        fprintf(stderr, "cannot load %s: %s\n", path, msg);
        return 1;
    }
    const double rates[] = {48000, 22050, 96000, 44100};
    const int spreads[] = {0, 0, 32, 32};
    const size_t blocks[] = {64, 1, 4096, 100000};
    int failed = 0;
    for (size_t i = 0; i < 4; i++) {
        analyzer *a;
        weights *w = spreads[i] ? shipped : placeholder;
        int err = analyzer_create(w, rates[i], &a, msg, sizeof msg);
        if (!err)
            err = analyzer_spread(a, spreads[i]);
        if (err) {
            fprintf(stderr, "analyzer_create: %s\n", msg);
            return 1;
        }
        const size_t n = (size_t)(5.0 * rates[i]);
        float *x = test_signal(rates[i], n);
        float *st = malloc(2 * n * sizeof *st);
        for (size_t k = 0; k < n; k++)
            st[2 * k] = st[2 * k + 1] = x[k];
        collector c;
        collector_init(&c, 1024);
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            for (int stereo = 0; stereo < 2; stereo++) {
                long before = alloc_count_allocations();
                analyzer_reset(a);
                c.n = 0;
                for (size_t pos = 0; pos < n; pos += blocks[b]) {
                    size_t m = n - pos < blocks[b] ? n - pos : blocks[b];
                    valar_rt_enter();
                    if (stereo)
                        analyzer_push_interleaved(a, st + 2 * pos, m, 2, collector_add, &c);
                    else
                        analyzer_push(a, x + pos, m, collector_add, &c);
                    valar_rt_leave();
                }
                long allocs = alloc_count_allocations() - before;
                printf("%g Hz, spread %d, block %zu, %s: %zu results, %ld allocations+frees\n",
                       rates[i], spreads[i], blocks[b], stereo ? "stereo" : "mono", c.n, allocs);
                if (allocs != 0 || c.n < 8) {
                    fprintf(stderr, "FAIL: %ld allocations+frees, %zu results (want 0, >= 8)\n",
                            allocs, c.n);
                    failed = 1;
                }
            }
        }
        free(c.r);
        free(st);
        free(x);
        analyzer_destroy(a);
    }
    if (alloc_count_sections() <= 0) {
        fprintf(stderr, "FAIL: no real-time sections counted\n");
        failed = 1;
    }
    weights_destroy(placeholder);
    weights_destroy(shipped);
    printf(failed ? "FAILED\n" : "ok\n");
    return failed;
}
