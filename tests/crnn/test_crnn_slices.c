/* Sliced steps (crnn_step_begin + crnn_step_slice) give crnn_step's
 * results bit for bit, for every kernel set this CPU runs, several model
 * shapes (padding included) and slice budgets from the default down to one
 * dense input group per slice; the plan keeps each slice's dense weights
 * within the budget; a reset drops a step in flight; misuse is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crnn_common.h"
#include "crnn_kern.h"

#include "check.h"

typedef struct {
    const char *name;
    int joint, M, C, D, H, K;
} shape;

static const shape shapes[] = {
    {"paper", 0, 64, 8, 8, 8, 4},
    {"paper joint", 1, 64, 8, 8, 8, 4},
    {"shipped (16-wide, M 192)", 0, 192, 16, 16, 16, 4},
    {"32-wide, M 128", 0, 128, 32, 32, 32, 4},
    {"odd (M 37, C 5, D 7, H 9, K 3)", 0, 37, 5, 7, 9, 3},
    {"odd joint (M 50, C 3, D 21, H 17, K 2)", 1, 50, 3, 21, 17, 2},
};

static crnn *create_with(model_spec *sp, const crnn_kern *k)
{
    setenv("VALAR_CRNN_KERNELS", k->name, 1);
    crnn *net = create_or_die(sp);
    unsetenv("VALAR_CRNN_KERNELS");
    CHECK(crnn_kernels(net) == k, "kernel set %s not used", k->name);
    return net;
}

/* One sliced step; the number of slice calls it took, or -1. */
static int sliced_step(crnn *net, const float *in, float out[2])
{
    if (crnn_step_begin(net, in) != 0)
        return -1;
    for (int n = 1;; n++) {
        int r = crnn_step_slice(net, out);
        if (r < 0)
            return -1;
        if (r == 1)
            return n;
    }
}

/* T frames both ways from a fresh state; 0 if every output is identical. */
static int compare(crnn *whole, crnn *sliced, const float *x, int T, int M, const char *what)
{
    int bad = 0;
    crnn_reset(whole);
    crnn_reset(sliced);
    for (int t = 0; t < T; t++) {
        float a[2], b[2];
        int e = crnn_step(whole, x + (size_t)t * M, a);
        int n = sliced_step(sliced, x + (size_t)t * M, b);
        if (e || n != crnn_slices(sliced) || memcmp(a, b, sizeof a) != 0) {
            if (!bad)
                CHECK(0, "%s: frame %d: step (%d) %.9g %.9g, sliced (%d of %d slices) %.9g %.9g",
                      what, t, e, a[0], a[1], n, crnn_slices(sliced), b[0], b[1]);
            bad = 1;
        }
    }
    return bad;
}

static void test_identical(void)
{
    const int T = 30;
    const size_t budgets[] = {CRNN_SLICE_BYTES, 32 * 1024, 4096, 1};
    for (int ks = 0; crnn_kern_get(ks); ks++) {
        const crnn_kern *k = crnn_kern_get(ks);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const shape *s = &shapes[i];
            model_spec sp = spec_default(CRNN_STREAMING, s->joint);
            sp.M = s->M;
            sp.C = s->C;
            sp.D = s->D;
            sp.H = s->H;
            sp.K = s->K;
            sp.seed = 7 + (uint32_t)i;
            crnn *whole = create_with(&sp, k), *sliced = create_with(&sp, k);
            float *x = random_input(T, s->M, 3 + (uint32_t)i);
            char counts[128] = "";
            for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
                int n = crnn_set_slice_bytes(sliced, budgets[b]);
                /* no slice holds more dense weights than the budget, unless
                 * it is one group of CRNN_NPART inputs */
                const long dense = (long)s->C * s->M * (s->joint ? 1 : 2) * s->D * 4;
                long want = (dense + (long)budgets[b] - 1) / (long)budgets[b];
                if (want > (long)s->C * s->M / CRNN_NPART + 1)
                    want = (long)s->C * s->M / CRNN_NPART;
                CHECK(n >= 1 && n >= want, "%s, budget %zu: %d slices (want >= %ld)", s->name,
                      budgets[b], n, want);
                char what[160];
                snprintf(what, sizeof what, "%s, set %s, budget %zu (%d slices)", s->name, k->name,
                         budgets[b], n);
                compare(whole, sliced, x, T, s->M, what);
                size_t l = strlen(counts);
                snprintf(counts + l, sizeof counts - l, "%s%d", b ? "/" : "", n);
            }
            printf("%-8s %-40s slices %s: identical to crnn_step\n", k->name, s->name, counts);
            free(x);
            crnn_destroy(whole);
            crnn_destroy(sliced);
        }
    }
}

/* The default plan: the paper-size net is one slice; the shipped shape is
 * cut so that no slice reads more than the budget of dense weights. */
static void test_plan(void)
{
    model_spec sp = spec_default(CRNN_STREAMING, 0);
    crnn *net = create_or_die(&sp);
    CHECK(crnn_slices(net) == 1, "paper size: %d slices by default (want 1)", crnn_slices(net));
    crnn_destroy(net);
    sp.M = 192;
    sp.C = sp.D = sp.H = 16;
    net = create_or_die(&sp);
    const int n = crnn_slices(net);
    CHECK(n >= 3 && n <= 6, "shipped shape: %d slices by default (want 3..6: 384 KiB of dense "
                            "weights in slices of %d KiB)", n, CRNN_SLICE_BYTES / 1024);
    printf("default plan: paper size 1 slice, shipped shape %d\n", n);
    crnn_destroy(net);
}

static void test_flight(void)
{
    model_spec sp = spec_default(CRNN_STREAMING, 0);
    sp.M = 192;
    sp.C = sp.D = sp.H = 16;
    crnn *a = create_or_die(&sp), *b = create_or_die(&sp);
    const int T = 12, M = sp.M;
    float *x = random_input(T, M, 21), o[2], p[2];
    CHECK(crnn_slices(b) > 1, "the test needs several slices");

    /* misuse */
    CHECK(crnn_step_slice(b, o) == VALAR_ERR_ARG, "slice with no step in flight accepted");
    CHECK(crnn_step_begin(b, x) == 0, "begin failed");
    CHECK(crnn_step_begin(b, x) == VALAR_ERR_ARG, "begin with a step in flight accepted");
    CHECK(crnn_step(b, x, o) == VALAR_ERR_ARG, "crnn_step with a step in flight accepted");
    CHECK(crnn_set_slice_bytes(b, 4096) == VALAR_ERR_ARG, "re-planning in flight accepted");
    CHECK(crnn_step_slice(b, NULL) == VALAR_ERR_ARG && crnn_step_begin(NULL, x) == VALAR_ERR_ARG &&
              crnn_step_slice(NULL, o) == VALAR_ERR_ARG,
          "NULL arguments accepted");
    CHECK(crnn_set_slice_bytes(NULL, 4096) == VALAR_ERR_ARG, "NULL net accepted");

    /* A reset drops the step in flight (half done): the stream then equals
     * a fresh one. */
    CHECK(crnn_step_slice(b, o) == 0, "first slice failed");
    crnn_reset(b);
    CHECK(crnn_set_slice_bytes(b, 0) == VALAR_ERR_ARG, "a budget of 0 accepted");
    int bad = 0;
    for (int t = 0; t < T; t++) {
        crnn_step(a, x + (size_t)t * M, o);
        bad |= sliced_step(b, x + (size_t)t * M, p) < 0 || memcmp(o, p, sizeof o) != 0;
        /* and a dropped half step between frames changes nothing either */
        if (t == 5) {
            crnn_step_begin(b, x);
            crnn_step_slice(b, p);
            crnn_reset(b);
            crnn_reset(a);
        }
    }
    CHECK(!bad, "after a reset with a step in flight the outputs differ from a fresh net's");

    /* offline models have no steps */
    model_spec off = spec_default(CRNN_OFFLINE, 0);
    crnn *c = create_or_die(&off);
    CHECK(crnn_step_begin(c, x) == VALAR_ERR_KIND, "offline model: begin not refused");
    CHECK(crnn_step_slice(c, o) == VALAR_ERR_ARG, "offline model: slice not refused");
    printf("misuse refused; a reset drops a step in flight\n");
    crnn_destroy(c);
    free(x);
    crnn_destroy(a);
    crnn_destroy(b);
}

int main(void)
{
    test_identical();
    test_plan();
    test_flight();
    printf(failures ? "FAILED\n" : "ok\n");
    return failures ? 1 : 0;
}
