/* The worst run() of the real valar.lv2 per sample rate and period size, for
 * the shipped streaming model and a 32-wide one, with each 500 ms step
 * spread over run() calls (the plugin as shipped) and whole (meson
 * benchmark 'plugin-run'; prints figures, never fails on them).
 *
 *   bench_plugin_run BUNDLE_DIR UNSPREAD_SO [SECONDS]
 *
 * Both builds of the plugin, the bundle's valar.so and UNSPREAD_SO (the
 * same source built with VALAR_LV2_SPREAD=0: whole steps in the run() that
 * completes a segment, as before spreading), are loaded with lilv from
 * copies of the bundle in temporary directories and given no urid:map, so
 * they analyse with the copy's default model: a valar-streaming.safetensors
 * written there for each model (the 32-wide one with random weights,
 * tests/crnn/crnn_common.h). SECONDS (default 20) of stereo audio run
 * through at each rate and period; every run() is timed by the wall clock
 * and by the thread's CPU clock (which leaves out the time other processes
 * took the core: the machine may be shared), and the stream is played
 * REPLAYS times, each block's CPU time being its least (a run() that
 * another process interrupted, or whose caches it thrashed, costs more than
 * its work: on a busy machine single maxima are mostly that).
 *
 * Step calls are the run() calls that carry part of a 500 ms step: the one
 * in which a segment completes (its last STFT frame: whole, in the call
 * that gives the resampler the chunk completing it; spread, 32 frames
 * after that one) and, spread, those that follow with the slices of its
 * step, one per 32 frames (analyzer_spread; found by pushing the same
 * blocks through an analyzer spread like the plugin's: the analysis does
 * not depend on how the input is split). "cold" replays the stream with
 * fresh instances and evicts the caches (a pass over 64 MiB) before every
 * step call, as a host with many other plugins would. At 32 frames the
 * spread step calls are also shown one by one, and the calls of the first
 * HOP_SECONDS that feed the resampler a chunk (every 256 frames) and,
 * spread, those 32 frames later that take its output into the STFT (an FFT
 * frame per 20 ms hop) are evicted too, and count in cold. crnn_step alone
 * and in slices, warm and cold, shows the network's share. */
#include <lilv/lilv.h>
#include <lv2/core/lv2.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analyzer.h"
#include "crnn.h"
#include "../crnn/crnn_common.h"
#include "bench_load.h"

#define URI "urn:valar:lv2:stereo"
#define PUSH_FRAMES 32 /* the plugin's pieces and slice spacing (plugin/valar_lv2.c) */
#define MAX_WINDOW 64  /* step calls shown one by one */
#define CHUNK 256      /* input samples per resampler call (src/melspec.c) */
#define HOP_SECONDS 2.0
#define REPLAYS 3

static double clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q of t[0..n) (sorts t). */
static double quantile(double *t, long n, double q)
{
    if (n < 1)
        return 0;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    long i = (long)ceil(q * n) - 1;
    return t[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* Stereo test audio: noise and tones whose level and pitch change every
 * 250 ms, so that every segment does real work. */
static void make_signal(float *l, float *r, size_t n, double rate)
{
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        double t = i / rate;
        int q = (int)(t * 4);
        double f = 110.0 * pow(2.0, ((q * 5) % 36) / 12.0), amp = 0.05 + 0.1 * ((q * 7) % 5);
        double noise = 0.1 * ((q * 3) % 4) * test_uniform(&s);
        l[i] = (float)(amp * sin(2 * M_PI * f * t) + noise);
        r[i] = (float)(0.7 * amp * sin(2 * M_PI * f * t + 1.0) + noise);
    }
}

/* One build of the plugin, loaded from its own copy of the bundle. */
typedef struct {
    char dir[32];   /* the copy, in /tmp */
    int spread;     /* its analyzer_spread: PUSH_FRAMES, or 0 (whole steps) */
    LilvWorld *world;
    const LilvPlugin *plugin;
    LilvNode *bundle, *uri;
} host;

typedef struct {
    LilvInstance *inst;
    float *in[2], *out[2], *controls; /* controls: one float per port */
} instance;

static int open_instance(host *h, double rate, size_t period, instance *in)
{
    memset(in, 0, sizeof *in);
    const LV2_Feature *features[] = {NULL};
    in->inst = lilv_plugin_instantiate(h->plugin, rate, features);
    if (!in->inst)
        return -1;
    const uint32_t n = lilv_plugin_get_num_ports(h->plugin);
    in->controls = calloc(n, sizeof *in->controls);
    LilvNode *audio = lilv_new_uri(h->world, LV2_CORE__AudioPort);
    LilvNode *control = lilv_new_uri(h->world, LV2_CORE__ControlPort);
    LilvNode *input = lilv_new_uri(h->world, LV2_CORE__InputPort);
    int ai = 0, ao = 0;
    for (uint32_t i = 0; i < n; i++) {
        const LilvPort *p = lilv_plugin_get_port_by_index(h->plugin, i);
        const int is_in = lilv_port_is_a(h->plugin, p, input);
        void *buf = NULL;
        if (lilv_port_is_a(h->plugin, p, audio)) {
            float **slot = is_in ? &in->in[ai++] : &in->out[ao++];
            *slot = calloc(period, sizeof **slot);
            buf = *slot;
        } else if (lilv_port_is_a(h->plugin, p, control)) {
            if (is_in) { /* its default */
                LilvNode *def = NULL;
                lilv_port_get_range(h->plugin, p, &def, NULL, NULL);
                in->controls[i] = def ? lilv_node_as_float(def) : 0.0f;
                lilv_node_free(def);
            }
            buf = &in->controls[i];
        } /* atom ports stay unconnected (NULL): no urid:map anyway */
        lilv_instance_connect_port(in->inst, i, buf);
    }
    lilv_node_free(audio);
    lilv_node_free(control);
    lilv_node_free(input);
    lilv_instance_activate(in->inst);
    return ai == 2 && ao == 2 ? 0 : -1;
}

static void close_instance(instance *in)
{
    lilv_instance_deactivate(in->inst);
    lilv_instance_free(in->inst);
    for (int c = 0; c < 2; c++) {
        free(in->in[c]);
        free(in->out[c]);
    }
    free(in->controls);
}

/* Which blocks carry step work: the library's analyzer, spread (by
 * `spread` frames; 0: whole steps) and fed like the plugin's. A result
 * comes in the block of the step's last slice; its segment completed
 * analyzer_delay() frames before. step[b] is -1 for other blocks, else the
 * block's place after the one where the segment completed (0). */
static signed char *step_blocks(const weights *w, double rate, int spread, const float *l,
                                const float *r, size_t n, size_t period, long *n_steps)
{
    analyzer *an;
    char msg[256];
    if (analyzer_create(w, rate, &an, msg, sizeof msg) || analyzer_spread(an, spread)) {
        fprintf(stderr, "bench_plugin_run: %s\n", msg);
        exit(1);
    }
    const long blocks = (long)(n / period);
    const long back = (analyzer_delay(an) + (long)period - 1) / (long)period;
    signed char *step = malloc((size_t)blocks);
    memset(step, -1, (size_t)blocks);
    float *m = malloc(period * sizeof *m);
    *n_steps = 0;
    for (long b = 0; b < blocks; b++) {
        for (size_t i = 0; i < period; i++)
            m[i] = (l[b * period + i] + r[b * period + i]) / 2.0f;
        int got = 0;
        for (size_t i = 0; i < period; i += PUSH_FRAMES)
            got += analyzer_push(an, m + i, period - i < PUSH_FRAMES ? period - i : PUSH_FRAMES,
                                 NULL, NULL);
        if (got > 0) {
            for (long k = b - back < 0 ? 0 : b - back; k <= b; k++)
                step[k] = (signed char)(k - (b - back) < MAX_WINDOW ? k - (b - back) : MAX_WINDOW);
            *n_steps += got;
        }
    }
    free(m);
    analyzer_destroy(an);
    return step;
}

static void evict_caches(void)
{
    static unsigned char *junk;
    const size_t size = (size_t)64 << 20;
    if (!junk && !(junk = calloc(size, 1)))
        exit(1);
    for (size_t j = 0; j < size; j += 64)
        junk[j]++;
}

/* Run the stream through a fresh instance; wall and CPU time of every
 * run(). Evict the caches before the blocks `evict` marks (NULL: none). */
static void run_stream(host *h, double rate, size_t period, const float *l, const float *r,
                       size_t n, const char *evict, double *wall, double *cpu)
{
    instance in;
    if (open_instance(h, rate, period, &in)) {
        fprintf(stderr, "bench_plugin_run: cannot instantiate %s at %g Hz\n", URI, rate);
        exit(1);
    }
    const long blocks = (long)(n / period);
    for (long b = 0; b < blocks; b++) {
        memcpy(in.in[0], l + b * period, period * sizeof *l);
        memcpy(in.in[1], r + b * period, period * sizeof *r);
        if (evict && evict[b])
            evict_caches();
        double c0 = clock_us(CLOCK_THREAD_CPUTIME_ID), w0 = clock_us(CLOCK_MONOTONIC);
        lilv_instance_run(in.inst, (uint32_t)period);
        double w1 = clock_us(CLOCK_MONOTONIC), c1 = clock_us(CLOCK_THREAD_CPUTIME_ID);
        wall[b] = w1 - w0;
        cpu[b] = c1 - c0;
    }
    close_instance(&in);
}

/* w as the bundle's default model. */
static void install_model(const weights *w, const char *bundle)
{
    char path[4200], msg[256];
    snprintf(path, sizeof path, "%s/valar-streaming.safetensors", bundle);
    if (!w || weights_save(w, path, msg, sizeof msg)) {
        fprintf(stderr, "bench_plugin_run: cannot write %s: %s\n", path, msg);
        exit(1);
    }
}

/* The network's share of a step block: crnn_step alone (CPU time), warm and
 * after evicting the caches, median and max over n steps. */
static void crnn_share(const weights *w, int M, int n)
{
    crnn *net;
    char msg[256];
    if (crnn_create(w, &net, msg, sizeof msg)) {
        fprintf(stderr, "bench_plugin_run: %s\n", msg);
        exit(1);
    }
    float *x = random_input(n, M, 5), y[2];
    double *t = malloc(2 * (size_t)n * sizeof *t);
    for (int cold = 0; cold < 2; cold++)
        for (int i = 0; i < n; i++) {
            if (cold)
                evict_caches();
            double c0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
            crnn_step(net, x + (size_t)i * M, y);
            t[cold * n + i] = clock_us(CLOCK_THREAD_CPUTIME_ID) - c0;
        }
    const double wmed = quantile(t, n, 0.5), wmax = t[n - 1];
    const double cmed = quantile(t + n, n, 0.5), cmax = t[2 * n - 1];
    printf("  crnn_step alone: %.1f us median, %.1f max; caches evicted: %.1f median, %.1f max\n",
           wmed, wmax, cmed, cmax);
    /* The same steps in slices (slice 0 includes crnn_step_begin). */
    const int ns = crnn_slices(net);
    double *ts = malloc(2 * (size_t)ns * n * sizeof *ts);
    crnn_reset(net);
    for (int cold = 0; cold < 2; cold++)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ns; k++) {
                if (cold)
                    evict_caches();
                double c0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
                if (k == 0)
                    crnn_step_begin(net, x + (size_t)i * M);
                crnn_step_slice(net, y);
                ts[((size_t)cold * ns + k) * n + i] = clock_us(CLOCK_THREAD_CPUTIME_ID) - c0;
            }
    printf("  crnn in %d slices (us, median warm / median cold / max cold):", ns);
    for (int k = 0; k < ns; k++) {
        double *wk = ts + (size_t)k * n, *ck = ts + ((size_t)ns + k) * n;
        const double a = quantile(wk, n, 0.5), b = quantile(ck, n, 0.5);
        printf("%s %.1f/%.1f/%.1f", k ? "," : "", a, b, ck[n - 1]);
    }
    printf("\n");
    free(ts);
    free(t);
    free(x);
    crnn_destroy(net);
}

/* Step calls one by one at 32 frames, into buf: by place after the
 * segment's end, the median CPU time warm and the largest cold; and the
 * largest cold of the other evicted blocks, by what they do (evict: 1
 * resampler call, 2 STFT). */
static void by_place(const signed char *step, const char *evict, long blocks, const double *warm,
                     const double *cold, char *buf, size_t size)
{
    double other[3] = {0};
    for (long b = 0; b < blocks; b++)
        if (evict[b] && step[b] < 0 && cold[b] > other[(int)evict[b]])
            other[(int)evict[b]] = cold[b];
    static double v[MAX_WINDOW + 1][4096];
    long nv[MAX_WINDOW + 1] = {0};
    double cmax[MAX_WINDOW + 1] = {0};
    int last = -1;
    for (long b = 0; b < blocks; b++) {
        const int k = step[b];
        if (k < 0)
            continue;
        if (nv[k] < 4096)
            v[k][nv[k]++] = warm[b];
        cmax[k] = cold[b] > cmax[k] ? cold[b] : cmax[k];
        last = k > last ? k : last;
    }
    size_t o = (size_t)snprintf(buf, size, "      spread step calls after the segment's end "
                                           "(median warm / max cold):");
    for (int k = 0; k <= last && o < size; k++)
        o += (size_t)snprintf(buf + o, size - o, "%s %d: %.1f/%.1f", k ? "," : "", k,
                              quantile(v[k], nv[k], 0.5), cmax[k]);
    if (o < size)
        snprintf(buf + o, size - o,
                 "\n      other calls of the first %.0f s, max cold: resampler %.1f, STFT %.1f\n",
                 HOP_SECONDS, other[1], other[2]);
}

/* Each block's least CPU time over REPLAYS runs of the stream through fresh
 * instances (what its work costs when nothing else disturbed the core: on
 * a shared machine single runs carry preemptions and interrupts); wall:
 * the first run's wall-clock times. */
static void replay(host *h, double rate, size_t period, const float *l, const float *r, size_t n,
                   const char *evict, double *wall, double *cpu)
{
    const long blocks = (long)(n / period);
    double *w = malloc(blocks * sizeof *w), *c = malloc(blocks * sizeof *c);
    for (int i = 0; i < REPLAYS; i++) {
        run_stream(h, rate, period, l, r, n, evict, i ? w : wall, c);
        for (long b = 0; b < blocks; b++)
            cpu[b] = i && cpu[b] < c[b] ? cpu[b] : c[b];
    }
    free(w);
    free(c);
}

/* The run() figures of one build at one rate and period, in us. */
typedef struct {
    double wall_p999, p999, max, cold, step_med;
    long n_steps;
} figures;

/* What block b of `period` frames does with the resampler when it is not a
 * step call, for eviction (HOP_SECONDS, 32 frames): 1 gives it a chunk (the
 * push that completes one), 2 takes that chunk's output into the STFT
 * (spread: the next 32 frames; whole, the same call does), else 0. */
static char feature_block(long b, size_t period, int spread)
{
    if ((b + 1) * period % CHUNK == 0)
        return 1;
    return spread && b > 0 && b * period % CHUNK == 0 ? 2 : 0;
}

/* Quantile q of a copy of t[0..n). */
static double quantile_of(const double *t, long n, double q)
{
    double *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    memcpy(c, t, (size_t)n * sizeof *c);
    const double v = quantile(c, n, q);
    free(c);
    return v;
}

/* The stream through build h at one rate and period: warm, then cold (the
 * caches evicted before every step call and, at 32 frames, every call of
 * the first HOP_SECONDS that works on a resampler chunk). detail (buf,
 * size): also the step calls one by one and the others' maxima. */
static figures measure(host *h, const weights *w, double rate, size_t period, const float *l,
                       const float *r, size_t n, char *detail, size_t size)
{
    figures f;
    const long blocks = (long)(n / period);
    signed char *step = step_blocks(w, rate, h->spread, l, r, n, period, &f.n_steps);
    double *wall = malloc(blocks * sizeof *wall), *cpu = malloc(blocks * sizeof *cpu);
    double *cold = malloc(blocks * sizeof *cold), *st = malloc((blocks + 1) * sizeof *st);
    char *evict = calloc((size_t)blocks, 1);
    replay(h, rate, period, l, r, n, NULL, wall, cpu);
    long k = 0;
    for (long b = 0; b < blocks; b++)
        if (step[b] >= 0)
            st[k++] = cpu[b];
    f.step_med = quantile(st, k, 0.5);
    f.wall_p999 = quantile_of(wall, blocks, 0.999);
    f.p999 = quantile_of(cpu, blocks, 0.999);
    f.max = quantile_of(cpu, blocks, 1.0);
    const long hop_blocks = period == PUSH_FRAMES ? (long)(HOP_SECONDS * rate / (double)period) : 0;
    for (long b = 0; b < blocks; b++) {
        const char fb = b < hop_blocks ? feature_block(b, period, h->spread) : 0;
        evict[b] = step[b] >= 0 ? 3 : fb;
    }
    replay(h, rate, period, l, r, n, evict, wall, cold);
    f.cold = 0;
    for (long b = 0; b < blocks; b++)
        if (evict[b] && cold[b] > f.cold)
            f.cold = cold[b];
    if (detail)
        by_place(step, evict, blocks, cpu, cold, detail, size);
    free(evict);
    free(step);
    free(wall);
    free(cpu);
    free(cold);
    free(st);
    return f;
}

/* The worst run() of f, in % of the period. */
static double worst_share(const figures *f, double budget)
{
    return 100.0 * (f->cold > f->max ? f->cold : f->max) / budget;
}

/* w: the model (the bench owns it), label: what it is; builds[0] the
 * unspread plugin, builds[1] the shipped (spread) one. */
static void bench_model(host builds[2], const char *label, weights *w, double seconds)
{
    crnn *net = NULL;
    analyzer *an = NULL;
    char msg[256];
    if (!w || crnn_create(w, &net, msg, sizeof msg) ||
        analyzer_create(w, 48000, &an, msg, sizeof msg) || analyzer_spread(an, PUSH_FRAMES)) {
        fprintf(stderr, "bench_plugin_run: %s: %s\n", label, w ? msg : "no model");
        exit(1);
    }
    const int M = crnn_n_mels(net);
    const long delay = analyzer_delay(an);
    printf("\n%s: M=%d, %ld parameters; spread: the step in %d network slices, results %ld "
           "frames later (%.2f ms at 44.1 kHz, %.2f at 48, %.2f at 96)\n",
           label, M, crnn_n_params(net), crnn_slices(net), delay, delay / 44.1, delay / 48.0,
           delay / 96.0);
    crnn_destroy(net);
    analyzer_destroy(an);
    for (int i = 0; i < 2; i++)
        install_model(w, builds[i].dir);
    crnn_share(w, M, 50);
    printf("  %6s %6s %7s %5s | %-39s | %-39s\n", "", "", "", "",
           "whole steps in run() (before)", "spread over run() calls (after)");
    printf("  %6s %6s %7s %5s |", "rate", "period", "budget", "steps");
    for (int i = 0; i < 2; i++)
        printf(" %7s %7s %7s %7s %6s |", "wall99.9", "p99.9", "max", "cold", "worst");
    printf(" %8s\n", "step med");
    const double rates[] = {44100, 48000, 96000};
    const size_t periods[] = {32, 64, 128, 256, 512, 1024};
    for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
        const double rate = rates[ri];
        const size_t n = (size_t)(seconds * rate);
        float *l = malloc(n * sizeof *l), *r = malloc(n * sizeof *r);
        make_signal(l, r, n, rate);
        for (size_t pi = 0; pi < sizeof periods / sizeof periods[0]; pi++) {
            const size_t period = periods[pi];
            const double budget = period * 1e6 / rate;
            char detail[2048] = "";
            figures f[2];
            for (int i = 0; i < 2; i++)
                f[i] = measure(&builds[i], w, rate, period, l, r, n,
                               i == 1 && pi == 0 ? detail : NULL, sizeof detail);
            printf("  %6.0f %6zu %7.1f %5ld |", rate, period, budget, f[0].n_steps);
            for (int i = 0; i < 2; i++)
                printf(" %7.1f %7.1f %7.1f %7.1f %5.1f%% |", f[i].wall_p999, f[i].p999, f[i].max,
                       f[i].cold, worst_share(&f[i], budget));
            printf(" %8.1f\n%s", f[1].step_med, detail);
            fflush(stdout);
        }
        free(l);
        free(r);
    }
    weights_destroy(w);
}

static void copy_file(const char *from, const char *to_dir, const char *name)
{
    char b[4200], buf[65536];
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    FILE *in = fopen(from, "rb"), *out = fopen(b, "wb");
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    if (!in || !out || ferror(in) || fclose(out)) {
        fprintf(stderr, "bench_plugin_run: cannot copy %s to %s\n", from, b);
        exit(1);
    }
    fclose(in);
}

static const char *const bundle_files[] = {"manifest.ttl", "valar.ttl", "valar.so",
                                           "valar-streaming.safetensors"};

/* A copy of the bundle in /tmp with the plugin binary so (as valar.so) and
 * model w, loaded with lilv. */
static void open_build(host *h, const char *bundle, const char *so, int spread, const weights *w)
{
    char from[4200];
    snprintf(h->dir, sizeof h->dir, "/tmp/valar-bench-XXXXXX");
    if (!mkdtemp(h->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/%s", bundle, bundle_files[i]);
        copy_file(from, h->dir, bundle_files[i]);
    }
    copy_file(so, h->dir, "valar.so");
    install_model(w, h->dir);
    h->spread = spread;
    h->world = lilv_world_new();
    snprintf(from, sizeof from, "%s/", h->dir);
    h->bundle = lilv_new_file_uri(h->world, NULL, from);
    lilv_world_load_bundle(h->world, h->bundle);
    h->uri = lilv_new_uri(h->world, URI);
    h->plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(h->world), h->uri);
    if (!h->plugin) {
        fprintf(stderr, "bench_plugin_run: no %s in %s\n", URI, h->dir);
        exit(1);
    }
}

static void close_build(host *h)
{
    char path[4200];
    lilv_node_free(h->uri);
    lilv_node_free(h->bundle);
    lilv_world_free(h->world);
    for (size_t i = 0; i < sizeof bundle_files / sizeof bundle_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", h->dir, bundle_files[i]);
        remove(path);
    }
    rmdir(h->dir);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_plugin_run BUNDLE_DIR UNSPREAD_SO [SECONDS]\n");
        return 2;
    }
    const double seconds = argc > 3 ? atof(argv[3]) : 20.0;
    /* the model the build's bundle ships (a trained one when models/ has it) */
    char shipped[4200], so[4200], msg[256];
    weights *sw = NULL;
    snprintf(shipped, sizeof shipped, "%s/valar-streaming.safetensors", argv[1]);
    if (weights_load(shipped, &sw, msg, sizeof msg)) {
        fprintf(stderr, "bench_plugin_run: %s\n", msg);
        return 1;
    }
    model_spec wide = spec_default(CRNN_STREAMING, 0);
    wide.M = 128;
    wide.C = wide.D = wide.H = 32;
    wide.K = 4;

    /* the unspread build, then the plugin as shipped */
    host builds[2];
    snprintf(so, sizeof so, "%s/valar.so", argv[1]);
    open_build(&builds[0], argv[1], argv[2], 0, sw);
    open_build(&builds[1], argv[1], so, PUSH_FRAMES, sw);
    /* One instance of each lives throughout so that the plugins' shared
     * objects stay loaded: they make FFTW's planner thread-safe (with
     * libfftw3f_threads), and the analyzers this program plans in its own
     * FFTW must not meet hooks left behind by an unloaded one. */
    instance keeper[2];
    for (int i = 0; i < 2; i++)
        if (open_instance(&builds[i], 48000, 64, &keeper[i])) {
            fprintf(stderr, "bench_plugin_run: cannot instantiate %s from %s\n", URI,
                    builds[i].dir);
            return 1;
        }
    bench_print_load("start");
    printf("times in us per run() of the real plugin, loaded with lilv: wall99.9 by the wall "
           "clock (one run); the rest by the thread's CPU clock, each block's least over %d "
           "runs: p99.9 and max over all blocks, cold = the max over step calls (at 32 frames "
           "also the calls of the first %.0f s that give the resampler a chunk or take its "
           "output into the STFT) with the caches evicted before each; worst = the larger of "
           "max and cold, in %% of the period; steps = 500 ms steps; step med = the median step "
           "call, spread\n",
           REPLAYS, HOP_SECONDS);
    bench_model(builds, "the shipped streaming model (valar-streaming.safetensors)", sw, seconds);
    bench_model(builds, "32-wide M=128 (random weights)", build_model(&wide), seconds);
    bench_print_load("end");
    for (int i = 0; i < 2; i++) {
        close_instance(&keeper[i]);
        close_build(&builds[i]);
    }
    return 0;
}
