/* crnn API contract (src/crnn.h) on models built in memory: accessors, the
 * argument and kind checks, streaming state (reset, causality, run_sequence
 * leaving the stream alone), offline models seeing the future, and
 * crnn_create rejecting each kind of bad model with the right code and a
 * message naming the culprit. Numerical correctness is ref_crnn.py's job. */
#include "crnn_common.h"

#include "check.h"

static const char *kind_name(crnn_kind k)
{
    return k == CRNN_OFFLINE ? "offline" : "streaming";
}

static long count_params(const model_spec *sp, int trainable_only)
{
    long C = sp->C, M = sp->M, D = sp->D, H = sp->H, K = sp->K;
    long P = sp->joint ? 2 : 1, G = sp->kind == CRNN_OFFLINE ? 2 * H : H;
    long gru = 3 * H * D + 3 * H * H + 3 * H;
    long branch = D * C * M + D + gru * (sp->kind == CRNN_OFFLINE ? 2 : 1) + P * K * G + P * K;
    long n = C * 9 + C + branch * (sp->joint ? 1 : 2);
    if (!trainable_only)
        n += 2 * M + 4 * C; /* input normalisation and all of batch norm */
    return n;
}

static void test_accessors(void)
{
    for (int k = 0; k < 2; k++) {
        for (int joint = 0; joint < 2; joint++) {
            model_spec sp = spec_default((crnn_kind)k, joint);
            sp.M = 5 + 7 * k + joint;
            crnn *net = create_or_die(&sp);
            CHECK(crnn_get_kind(net) == (crnn_kind)k, "%s: kind %d", kind_name(k),
                  crnn_get_kind(net));
            CHECK(crnn_n_mels(net) == sp.M, "n_mels %d, want %d", crnn_n_mels(net), sp.M);
            long n = crnn_n_params(net), lo = count_params(&sp, 1), hi = count_params(&sp, 0);
            printf("%s %s M=%d: %ld parameters (weights: %ld, all tensors: %ld)\n", kind_name(k),
                   joint ? "joint" : "separate", sp.M, n, lo, hi);
            CHECK(n >= lo && n <= hi, "crnn_n_params %ld outside [%ld, %ld]", n, lo, hi);
            crnn_destroy(net);
        }
    }
    crnn_destroy(NULL); /* like free() */
}

static void test_arguments(void)
{
    for (int k = 0; k < 2; k++) {
        model_spec sp = spec_default((crnn_kind)k, 0);
        crnn *net = create_or_die(&sp);
        float *x = random_input(4, sp.M, 7);
        float out[8] = {0}, o2[2] = {0};
        CHECK(crnn_run_sequence(net, x, 0, out) == VALAR_ERR_ARG, "%s: T=0 not rejected",
              kind_name(k));
        CHECK(crnn_run_sequence(net, x, -3, out) == VALAR_ERR_ARG, "%s: T=-3 not rejected",
              kind_name(k));
        int err = crnn_step(net, x, o2);
        if (k == CRNN_OFFLINE)
            CHECK(err == VALAR_ERR_KIND, "crnn_step on an offline model returned %d", err);
        else
            CHECK(err == 0, "crnn_step on a streaming model returned %d", err);
        CHECK(crnn_run_sequence(net, x, 4, out) == 0, "%s: run_sequence T=4 failed", kind_name(k));
        const char *s = valar_strerror(VALAR_ERR_KIND);
        CHECK(s && *s, "valar_strerror(VALAR_ERR_KIND) empty");
        s = valar_strerror(VALAR_ERR_ARG);
        CHECK(s && *s, "valar_strerror(VALAR_ERR_ARG) empty");
        s = valar_strerror(VALAR_ERR_SHAPE);
        CHECK(s && *s, "valar_strerror(VALAR_ERR_SHAPE) empty");
        s = valar_strerror(-12345);
        CHECK(s != NULL, "valar_strerror(unknown) is NULL");
        free(x);
        crnn_destroy(net);
    }
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m))
            m = d; /* NaN propagates */
    }
    return m;
}

static void step_all(crnn *net, const float *x, int T, int M, float *out)
{
    for (int t = 0; t < T; t++)
        if (crnn_step(net, x + (size_t)t * M, out + 2 * t) != 0)
            CHECK(0, "crnn_step failed at frame %d", t);
}

static void test_streaming_state(void)
{
    for (int joint = 0; joint < 2; joint++) {
        model_spec sp = spec_default(CRNN_STREAMING, joint);
        crnn *net = create_or_die(&sp);
        const int T = 40, M = sp.M;
        float *a = random_input(T, M, 11), *b = random_input(T, M, 12);
        float *s1 = malloc(2 * T * sizeof *s1), *s2 = malloc(2 * T * sizeof *s2);
        float *q = malloc(2 * T * sizeof *q);

        /* A fresh net starts from zeros: same as after crnn_reset. */
        step_all(net, a, T, M, s1);
        crnn_reset(net);
        step_all(net, a, T, M, s2);
        CHECK(max_diff(s1, s2, 2 * T) == 0, "fresh net and reset net differ by %g",
              max_diff(s1, s2, 2 * T));

        /* The state is carried: without reset, history changes the outputs. */
        step_all(net, b, T, M, s2);
        step_all(net, a, T, M, s2);
        float d = max_diff(s1, s2, 2);
        CHECK(d > 1e-4f, "first output after history equals the fresh one (diff %g)", d);

        /* crnn_reset mid-stream, and run_sequence between steps leaves the
         * stream alone. */
        crnn_reset(net);
        step_all(net, a, T / 2, M, s2);
        CHECK(crnn_run_sequence(net, b, T, q) == 0, "run_sequence failed");
        step_all(net, a + (size_t)(T / 2) * M, T - T / 2, M, s2 + 2 * (T / 2));
        CHECK(max_diff(s1, s2, 2 * T) == 0,
              "run_sequence between steps changed the stream (diff %g)", max_diff(s1, s2, 2 * T));

        /* Causality: a prefix gives the same outputs, and changing frame 25
         * changes nothing before it (in both paths). */
        CHECK(crnn_run_sequence(net, a, T, q) == 0, "run_sequence failed");
        float *p = malloc(2 * T * sizeof *p);
        CHECK(crnn_run_sequence(net, a, 17, p) == 0, "run_sequence T=17 failed");
        CHECK(max_diff(p, q, 2 * 17) == 0, "prefix of 17 frames differs by %g",
              max_diff(p, q, 2 * 17));
        float *a2 = malloc((size_t)T * M * sizeof *a2);
        memcpy(a2, a, (size_t)T * M * sizeof *a2);
        for (int m = 0; m < M; m++)
            a2[25 * M + m] += 3.0f;
        CHECK(crnn_run_sequence(net, a2, T, p) == 0, "run_sequence failed");
        CHECK(max_diff(p, q, 2 * 25) == 0, "a change at frame 25 altered earlier outputs by %g",
              max_diff(p, q, 2 * 25));
        CHECK(max_diff(p + 50, q + 50, 2) > 1e-4f, "a change at frame 25 did not alter frame 25");
        crnn_reset(net);
        step_all(net, a2, T, M, s2);
        CHECK(max_diff(s1, s2, 2 * 25) == 0, "steps: frame 25 altered earlier outputs by %g",
              max_diff(s1, s2, 2 * 25));
        /* The conv sees t-2..t: frames 25, 26, 27 change through the conv
         * directly, later ones through the GRU state. */
        CHECK(max_diff(s1 + 54, s2 + 54, 2) > 1e-4f, "frame 25 did not reach frame 27");

        printf("streaming %s: state, reset, causality ok\n", joint ? "joint" : "separate");
        free(a2);
        free(p);
        free(q);
        free(s2);
        free(s1);
        free(b);
        free(a);
        crnn_destroy(net);
    }
}

static void test_offline_sees_future(void)
{
    model_spec sp = spec_default(CRNN_OFFLINE, 0);
    crnn *net = create_or_die(&sp);
    const int T = 30, M = sp.M;
    float *a = random_input(T, M, 21), *p = malloc(2 * T * sizeof *p),
          *q = malloc(2 * T * sizeof *q);
    CHECK(crnn_run_sequence(net, a, T, p) == 0, "run_sequence failed");
    CHECK(crnn_run_sequence(net, a, T, q) == 0, "run_sequence failed");
    CHECK(max_diff(p, q, 2 * T) == 0, "two identical runs differ by %g", max_diff(p, q, 2 * T));
    for (int m = 0; m < M; m++)
        a[(T - 1) * M + m] += 3.0f;
    CHECK(crnn_run_sequence(net, a, T, q) == 0, "run_sequence failed");
    /* The backward GRU carries the last frame to the first. */
    CHECK(max_diff(p, q, 2) > 1e-6f, "offline: last frame does not reach the first (diff %g)",
          max_diff(p, q, 2));
    printf("offline: bidirectional ok (first-frame change %g)\n", max_diff(p, q, 2));
    free(q);
    free(p);
    free(a);
    crnn_destroy(net);
}

/* One bad model: crnn_create must fail with `code` (or `alt`, if not 0) and a
 * message containing one of the |-separated names in `want`. */
static void expect_fail(const char *what, const model_spec *sp, int code, int alt, const char *want)
{
    weights *w = build_model(sp);
    if (!w) {
        failures++;
        return;
    }
    crnn *net = (crnn *)(uintptr_t)1; /* must not be mistaken for a result */
    char msg[512];
    strcpy(msg, "(untouched)");
    int err = crnn_create(w, &net, msg, sizeof msg);
    weights_destroy(w);
    int named = 0;
    char alts[256];
    snprintf(alts, sizeof alts, "%s", want);
    for (char *save, *tok = strtok_r(alts, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
        named |= strstr(msg, tok) != NULL;
    printf("%-44s -> %d (%s): %s\n", what, err, err ? valar_strerror(err) : "ok", msg);
    if (err == 0) {
        CHECK(0, "%s: accepted", what);
        crnn_destroy(net);
        return;
    }
    CHECK(err == code || (alt && err == alt), "%s: code %d (%s), want %d (%s)", what, err,
          valar_strerror(err), code, valar_strerror(code));
    CHECK(named, "%s: message \"%s\" does not name %s", what, msg, want);
    CHECK(strchr(msg, '\n') == NULL, "%s: message is not one line", what);
}

static void test_bad_models(void)
{
    const int MISSING = VALAR_ERR_MISSING, SHAPE = VALAR_ERR_SHAPE;
    const int INVALID = VALAR_ERR_META, VERSION = VALAR_ERR_VERSION;
    struct {
        int kind, joint;
        const char *skip, *skip_meta, *bad;
        int bad_dim, delta;
        const char *key, *value;
        int code;
        const char *want;
    } cases[] = {
        /* missing tensors */
        {1, 0, "conv.weight", NULL, NULL, 0, 0, NULL, NULL, MISSING, "conv.weight"},
        {1, 0, "input.std", NULL, NULL, 0, 0, NULL, NULL, MISSING, "input.std"},
        {1, 0, "bn.var", NULL, NULL, 0, 0, NULL, NULL, MISSING, "bn.var"},
        {1, 0, "valence.gru.weight_hh", NULL, NULL, 0, 0, NULL, NULL, MISSING,
         "valence.gru.weight_hh"},
        {0, 0, "arousal.gru_bw.bias", NULL, NULL, 0, 0, NULL, NULL, MISSING, "arousal.gru_bw.bias"},
        {1, 1, "joint.maxout.bias", NULL, NULL, 0, 0, NULL, NULL, MISSING, "joint.maxout.bias"},
        {0, 1, "joint.dense.weight", NULL, NULL, 0, 0, NULL, NULL, MISSING, "joint.dense.weight"},
        /* joint tensors but branches = separate, and the reverse */
        {1, 1, NULL, NULL, NULL, 0, 0, "branches", "separate", MISSING, "arousal."},
        {1, 0, NULL, NULL, NULL, 0, 0, "branches", "joint", MISSING, "joint."},
        /* a streaming file that says offline lacks the backward GRU */
        {1, 0, NULL, NULL, NULL, 0, 0, "kind", "offline", MISSING, "gru_bw"},
        /* wrong shapes */
        {1, 0, NULL, NULL, "conv.weight", 2, 1, NULL, NULL, SHAPE, "conv.weight"},
        {0, 0, NULL, NULL, "conv.weight", 1, -1, NULL, NULL, SHAPE, "conv.weight"},
        {1, 0, NULL, NULL, "conv.bias", 0, 1, NULL, NULL, SHAPE, "conv.bias|conv.weight"},
        {1, 0, NULL, NULL, "bn.gamma", 0, -1, NULL, NULL, SHAPE, "bn.gamma|conv.weight"},
        {1, 0, NULL, NULL, "bn.mean", 0, 2, NULL, NULL, SHAPE, "bn.mean|conv.weight"},
        {1, 0, NULL, NULL, "input.std", 0, 1, NULL, NULL, SHAPE, "input.std|input.mean"},
        {0, 0, NULL, NULL, "valence.gru_bw.weight_hh", 1, 1, NULL, NULL, SHAPE,
         "valence.gru_bw.weight_hh"},
        {1, 0, NULL, NULL, "arousal.gru.bias", 0, 3, NULL, NULL, SHAPE,
         "arousal.gru.bias|arousal.gru.weight"},
        {1, 1, NULL, NULL, "joint.maxout.bias", 1, 1, NULL, NULL, SHAPE,
         "joint.maxout.bias|joint.maxout.weight"},
        /* inconsistent dimensions between tensors */
        {1, 0, NULL, NULL, "arousal.dense.weight", 1, 1, NULL, NULL, SHAPE, "arousal.dense.weight"},
        {0, 1, NULL, NULL, "joint.dense.weight", 1, -64, NULL, NULL, SHAPE, "joint.dense.weight"},
        {1, 0, NULL, NULL, "valence.dense.bias", 0, 1, NULL, NULL, SHAPE,
         "valence.dense.bias|valence.dense.weight"},
        {1, 0, NULL, NULL, "arousal.gru.weight_ih", 1, 1, NULL, NULL, SHAPE,
         "arousal.gru.weight_ih|arousal.dense"},
        {1, 0, NULL, NULL, "valence.gru.weight_hh", 1, -1, NULL, NULL, SHAPE,
         "valence.gru.weight_hh"},
        {1, 0, NULL, NULL, "arousal.gru.weight_ih", 0, 3, NULL, NULL, SHAPE,
         "arousal.gru.weight_ih|arousal.gru.weight_hh"},
        {0, 0, NULL, NULL, "arousal.maxout.weight", 2, -8, NULL, NULL, SHAPE,
         "arousal.maxout.weight"}, /* G = H on an offline model */
        {1, 0, NULL, NULL, "arousal.maxout.weight", 2, 8, NULL, NULL, SHAPE,
         "arousal.maxout.weight"}, /* G = 2H on a streaming model */
        {1, 0, NULL, NULL, "valence.maxout.weight", 0, 1, NULL, NULL, SHAPE,
         "valence.maxout.weight"}, /* P = 2 on a separate branch */
        {1, 1, NULL, NULL, "joint.maxout.weight", 0, -1, NULL, NULL, SHAPE,
         "joint.maxout.weight"}, /* P = 1 on the joint branch */
        /* metadata */
        {1, 0, NULL, "bn_eps", NULL, 0, 0, NULL, NULL, MISSING, "bn_eps"},
        {1, 0, NULL, NULL, NULL, 0, 0, "bn_eps", "abc", INVALID, "bn_eps"},
        {1, 0, NULL, NULL, NULL, 0, 0, "bn_eps", "", INVALID, "bn_eps"},
        {1, 0, NULL, NULL, NULL, 0, 0, "bn_eps", "0.001x", INVALID, "bn_eps"},
        {1, 0, NULL, NULL, NULL, 0, 0, "bn_eps", "-1", INVALID, "bn_eps"},
        {1, 0, NULL, NULL, NULL, 0, 0, "bn_eps", "nan", INVALID, "bn_eps"},
        {1, 0, NULL, "kind", NULL, 0, 0, NULL, NULL, MISSING, "kind"},
        {1, 0, NULL, NULL, NULL, 0, 0, "kind", "online", INVALID, "kind"},
        {1, 0, NULL, "branches", NULL, 0, 0, NULL, NULL, MISSING, "branches"},
        {1, 0, NULL, NULL, NULL, 0, 0, "branches", "both", INVALID, "branches"},
        {1, 0, NULL, "format", NULL, 0, 0, NULL, NULL, MISSING, "format"},
        {1, 0, NULL, NULL, NULL, 0, 0, "format", "valar-cnn", VERSION, "format|valar-cnn"},
        {1, 0, NULL, "version", NULL, 0, 0, NULL, NULL, MISSING, "version"},
        {1, 0, NULL, NULL, NULL, 0, 0, "version", "2", VERSION, "version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model_spec sp = spec_default((crnn_kind)cases[i].kind, cases[i].joint);
        sp.skip = cases[i].skip;
        sp.skip_meta = cases[i].skip_meta;
        sp.bad = cases[i].bad;
        sp.bad_dim = cases[i].bad_dim;
        sp.delta = cases[i].delta;
        sp.meta_key = cases[i].key;
        sp.meta_value = cases[i].value;
        char what[160];
        snprintf(what, sizeof what, "%s %s: %s%s%s%s", kind_name(sp.kind),
                 sp.joint ? "joint" : "separate",
                 sp.skip        ? "no "
                 : sp.skip_meta ? "no meta "
                 : sp.bad       ? "shape "
                                : "meta ",
                 sp.skip        ? sp.skip
                 : sp.skip_meta ? sp.skip_meta
                 : sp.bad       ? sp.bad
                                : sp.meta_key,
                 sp.meta_value ? "=" : "", sp.meta_value ? sp.meta_value : "");
        expect_fail(what, &sp, cases[i].code, 0, cases[i].want);
    }

    /* An offline file that says streaming: its backward GRU has no place
     * (rejecting the extra tensors or the 2H-wide maxout both make sense). */
    model_spec sp = spec_default(CRNN_OFFLINE, 0);
    sp.meta_key = "kind";
    sp.meta_value = "streaming";
    expect_fail("offline separate: meta kind=streaming", &sp, VALAR_ERR_META,
                VALAR_ERR_SHAPE, "gru_bw|maxout.weight");
}

/* A tiny message buffer is filled, truncated and terminated, never overrun
 * (ASan checks the bound; the canary checks the contract). */
static void test_short_message(void)
{
    model_spec sp = spec_default(CRNN_STREAMING, 0);
    sp.skip = "valence.gru.weight_hh";
    weights *w = build_model(&sp);
    if (!w) {
        failures++;
        return;
    }
    char buf[24];
    memset(buf, 'X', sizeof buf);
    crnn *net = NULL;
    int err = crnn_create(w, &net, buf, 8);
    CHECK(err == VALAR_ERR_MISSING, "short msg: code %d", err);
    CHECK(memchr(buf, '\0', 8) != NULL, "short msg: not terminated within msglen");
    for (size_t i = 8; i < sizeof buf; i++)
        CHECK(buf[i] == 'X', "short msg: byte %zu written past msglen", i);
    err = crnn_create(w, &net, NULL, 0);
    CHECK(err == VALAR_ERR_MISSING, "NULL msg: code %d", err);
    weights_destroy(w);
}

int main(void)
{
    test_accessors();
    test_arguments();
    test_streaming_state();
    test_offline_sees_future();
    test_bad_models();
    test_short_message();
    printf(failures ? "FAILED (%d)\n" : "ok\n", failures);
    return failures != 0;
}
