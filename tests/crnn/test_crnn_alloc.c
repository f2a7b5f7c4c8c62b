/* crnn_step, sliced steps (crnn_step_begin, crnn_step_slice) and
 * crnn_reset never allocate or free. Links
 * tests/common/alloc_count.c (which interposes malloc) directly, so it is
 * built without sanitizers only (suite 'nosan'). */
#include "alloc_count.h"
#include "crnn_common.h"

int main(void)
{
    int failed = 0;
    const int T = 200;
    for (int joint = 0; joint < 2; joint++) {
        model_spec sp = spec_default(CRNN_STREAMING, joint);
        crnn *net = create_or_die(&sp);
        float *x = random_input(T, sp.M, 5);
        float out[2], sum = 0;
        long before = alloc_count_allocations(), sections = alloc_count_sections();
        for (int rep = 0; rep < 3; rep++) {
            valar_rt_enter();
            crnn_reset(net);
            valar_rt_leave();
            for (int t = 0; t < T; t++) {
                valar_rt_enter();
                int err = crnn_step(net, x + (size_t)t * sp.M, out);
                valar_rt_leave();
                if (err) {
                    fprintf(stderr, "FAIL: crnn_step returned %d\n", err);
                    failed = 1;
                }
                sum += out[0] + out[1];
            }
        }
        long allocs = alloc_count_allocations() - before;
        long n = alloc_count_sections() - sections;
        printf("streaming %s: %ld real-time sections (crnn_reset, crnn_step), %ld "
               "allocations+frees (checksum %g)\n",
               joint ? "joint" : "separate", n, allocs, (double)sum);
        if (allocs != 0 || n != 3L * (T + 1)) {
            fprintf(stderr, "FAIL: %ld allocations+frees in %ld sections (want 0 in %d)\n", allocs,
                    n, 3 * (T + 1));
            failed = 1;
        }
        free(x);
        crnn_destroy(net);
    }
    /* sliced, with the shipped model's shape (several slices) */
    model_spec sp = spec_default(CRNN_STREAMING, 0);
    sp.M = 192;
    sp.C = sp.D = sp.H = 16;
    crnn *net = create_or_die(&sp);
    float *x = random_input(T, sp.M, 6), out[2], sum = 0;
    long before = alloc_count_allocations(), sections = alloc_count_sections(), calls = 0;
    for (int t = 0; t < T; t++) {
        valar_rt_enter();
        int err = crnn_step_begin(net, x + (size_t)t * sp.M);
        valar_rt_leave();
        for (int r = 0; !err && r == 0; calls++) {
            valar_rt_enter();
            r = crnn_step_slice(net, out);
            valar_rt_leave();
            err = r < 0;
        }
        if (err) {
            fprintf(stderr, "FAIL: sliced step failed at frame %d\n", t);
            failed = 1;
        }
        sum += out[0] + out[1];
    }
    long allocs = alloc_count_allocations() - before, n = alloc_count_sections() - sections;
    printf("sliced (%d slices per step): %ld real-time sections, %ld allocations+frees "
           "(checksum %g)\n",
           crnn_slices(net), n, allocs, (double)sum);
    if (allocs != 0 || crnn_slices(net) < 2 || calls != (long)T * crnn_slices(net) ||
        n != T + calls) {
        fprintf(stderr, "FAIL: %ld allocations+frees in %ld sections, %ld slices\n", allocs, n,
                calls);
        failed = 1;
    }
    free(x);
    crnn_destroy(net);
    printf(failed ? "FAILED\n" : "ok\n");
    return failed;
}
