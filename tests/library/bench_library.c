/* valar analyze over a generated library (meson benchmark 'library'; never
 * run by the tests): files/s and x real time of the whole analysis at -j 1
 * and -j 2 (src/batch, as valar analyze runs it), against the floor of only
 * decoding the same files (audiofile_read_mono: libsndfile's read loop and
 * the mono mixdown). Per format it splits one file's cost into decoding,
 * resampling to the model rate (libsoxr, as melspec does), the rest of the
 * features (STFT, mel) and the network, single-threaded.
 *
 * Usage: bench_library DIR [files [min_s [max_s]]]
 * The library (synthetic music: chords, bass, drums, noise, changing
 * loudness) is written to DIR once as WAV, FLAC, MP3 and Opus in turn, at
 * 44.1 and 48 kHz (Opus: 48 kHz, the rates it has), and reused while the
 * parameters stay the same. */
#include <math.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/testrng.h"

#include "audiofile.h"
#include "batch.h"
#include "melspec.h"
#include "modelpath.h"
#include "offline.h"

#define NFMT 4
static const char *const fmt_name[NFMT] = {"wav", "flac", "mp3", "opus"};
static const int fmt_code[NFMT] = {
    SF_FORMAT_WAV | SF_FORMAT_PCM_16, SF_FORMAT_FLAC | SF_FORMAT_PCM_16,
    SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, SF_FORMAT_OGG | SF_FORMAT_OPUS};
#define BLOCK 4096

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall clock, and the CPU time of the whole process (all threads): on a
 * shared machine the CPU seconds are the steadier figure. */
static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static double cpu(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}


/* One block of a stereo synthetic song: a chord (three partials per note),
 * a bass line, a kick every beat, hi-hat noise, loudness that drifts. */
typedef struct {
    double rate, t, ph[8], tempo, f0;
    uint32_t seed;
} synth;

static void synth_block(synth *s, float *out, size_t n)
{
    static const double chord[4][3] = {
        {1, 1.26, 1.5}, {1.33, 1.68, 2}, {0.89, 1.12, 1.33}, {1.12, 1.5, 1.78}};
    for (size_t i = 0; i < n; i++, s->t += 1 / s->rate) {
        const double *c = chord[(int)(s->t / 2) % 4];
        double beat = fmod(s->t * s->tempo / 60, 1), x = 0;
        double loud = 0.55 + 0.45 * sin(2 * M_PI * s->t / 37);
        for (int k = 0; k < 3; k++) {
            s->ph[k] += 2 * M_PI * s->f0 * c[k] / s->rate;
            x += 0.15 * (sin(s->ph[k]) + 0.3 * sin(2 * s->ph[k]) + 0.1 * sin(3 * s->ph[k]));
        }
        s->ph[3] += 2 * M_PI * s->f0 / 4 * c[0] / s->rate;
        x += 0.25 * sin(s->ph[3]);
        x += 0.6 * exp(-beat * 18) * sin(2 * M_PI * 55 * beat);
        double noise = (double)test_rand(&s->seed) / 4294967296.0 - 0.5;
        x += noise * 0.3 * exp(-fmod(beat * 2, 1) * 30);
        x *= loud;
        out[2 * i] = (float)(0.55 * x); /* peaks stay below full scale */
        out[2 * i + 1] = (float)(0.55 * x + 0.05 * noise);
    }
}

static int write_song(const char *path, int fmt, int rate, double seconds, uint32_t seed)
{
    SF_INFO info = {.samplerate = rate, .channels = 2, .format = fmt_code[fmt]};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, sf_strerror(NULL));
        return -1;
    }
    synth s = {.rate = rate, .tempo = 80 + seed % 80, .f0 = 196 + 20 * (seed % 7), .seed = seed};
    float buf[2 * BLOCK];
    sf_count_t total = (sf_count_t)(seconds * rate), done = 0;
    while (done < total) {
        sf_count_t n = total - done < BLOCK ? total - done : BLOCK;
        synth_block(&s, buf, (size_t)n);
        if (sf_writef_float(f, buf, n) != n) {
            fprintf(stderr, "%s: %s\n", path, sf_strerror(f));
            break;
        }
        done += n;
    }
    sf_close(f);
    return done == total ? 0 : -1;
}

typedef struct {
    char path[4200];
    int fmt;
    double seconds;
} song;

/* The library in dir, generated unless its stamp says it already is. */
static song *library(const char *dir, int n, double lo, double hi)
{
    song *s = calloc((size_t)n, sizeof *s);
    char stamp[4200], want[128], have[128] = "";
    snprintf(stamp, sizeof stamp, "%s/stamp", dir);
    snprintf(want, sizeof want, "%d %g %g v1\n", n, lo, hi);
    FILE *f = fopen(stamp, "r");
    if (f) {
        if (!fgets(have, sizeof have, f))
            have[0] = '\0';
        fclose(f);
    }
    int fresh = strcmp(have, want) == 0;
    mkdir(dir, 0777);
    double t0 = now(), total = 0;
    uint32_t seed = 12345;
    for (int i = 0; s && i < n; i++) {
        s[i].fmt = i % NFMT;
        int rate = s[i].fmt == 3 || (i / NFMT) % 2 ? 48000 : 44100;
        s[i].seconds = lo + (hi - lo) * (double)(test_rand(&seed) % 1000) / 999.0;
        total += s[i].seconds;
        snprintf(s[i].path, sizeof s[i].path, "%s/song%03d.%s", dir, i, fmt_name[s[i].fmt]);
        if (!fresh && write_song(s[i].path, s[i].fmt, rate, s[i].seconds, seed)) {
            free(s);
            return NULL;
        }
    }
    if (s && !fresh && (f = fopen(stamp, "w"))) {
        fputs(want, f);
        fclose(f);
    }
    if (s)
        printf("library: %d files, %.1f h of stereo audio (%s in %.0f s)\n", n, total / 3600,
               fresh ? "reused" : "generated", now() - t0);
    return s;
}

/* CPU seconds to decode one file to mono (the floor); rs: also resample it
 * with libsoxr as melspec does; ms: also compute its features with melspec. */
static double decode(const char *path, const melspec_config *cfg, int rs, int ms)
{
    audiofile *af;
    char msg[512];
    static float in[BLOCK], out[2 * BLOCK];
    if (audiofile_open(path, &af, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
        exit(1);
    }
    double t0 = cpu(), rate = audiofile_rate(af);
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_t sx = rs ? soxr_create(rate, cfg->sample_rate, 1, NULL, &io, &q, NULL) : NULL;
    melspec *m = NULL;
    if (ms)
        melspec_create(cfg, rate, &m);
    long got;
    while ((got = audiofile_read_mono(af, in, BLOCK)) > 0) {
        size_t odone;
        if (sx)
            soxr_process(sx, in, (size_t)got, NULL, out, 2 * BLOCK, &odone);
        for (size_t pos = 0; m && pos < (size_t)got;) {
            int ready;
            pos += melspec_feed(m, in + pos, (size_t)got - pos, &ready);
        }
    }
    double t = cpu() - t0;
    soxr_delete(sx);
    melspec_destroy(m);
    audiofile_close(af);
    return t;
}

static int count_fn(void *user, const batch_item *it)
{
    if (it->err)
        fprintf(stderr, "%s\n", it->msg);
    *(int *)user += it->err != 0;
    return 0;
}

/* Wall seconds for analysing paths with nthreads workers; *cpu_s: CPU
 * seconds of all threads. */
static double analyse(const weights *w, int nthreads, const char **paths, size_t n, double *cpu_s)
{
    batch *b;
    int failed = 0;
    if (batch_create(w, nthreads, &b))
        exit(1);
    double t0 = now(), c0 = cpu();
    batch_run(b, paths, n, 1, NULL, count_fn, NULL, &failed);
    double t = now() - t0;
    *cpu_s = cpu() - c0;
    batch_destroy(b);
    if (failed)
        exit(1);
    return t;
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_library DIR [files [min_s [max_s]]]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 40;
    double lo = argc > 3 ? atof(argv[3]) : 30, hi = argc > 4 ? atof(argv[4]) : 180;
    char model[4096], msg[512];
    weights *w;
    if (modelpath_default("offline", model, sizeof model) < 0 ||
        weights_load(model, &w, msg, sizeof msg)) {
        fprintf(stderr, "no offline model\n");
        return 1;
    }
    melspec_config cfg;
    melspec_config_read(&cfg, w, msg, sizeof msg);
    song *s = library(argv[1], n, lo, hi);
    if (!s)
        return 1;
    const char **paths = malloc((size_t)n * sizeof *paths);
    double audio = 0, fa[NFMT] = {0}, dec[NFMT] = {0}, res[NFMT] = {0}, feat[NFMT] = {0};
    double an1[NFMT] = {0}, an2[NFMT] = {0}, c1[NFMT], c2[NFMT], dec_all = 0, load0 = loadavg();
    for (int i = 0; i < n; i++)
        decode(s[i].path, &cfg, 0, 0); /* into the page cache */
    double dec_wall = now();
    for (int i = 0; i < n; i++)
        dec_all += decode(s[i].path, &cfg, 0, 0);
    dec_wall = now() - dec_wall;
    for (int i = 0; i < n; i++) {
        int f = s[i].fmt;
        dec[f] += decode(s[i].path, &cfg, 0, 0);
        res[f] += decode(s[i].path, &cfg, 1, 0);
        feat[f] += decode(s[i].path, &cfg, 0, 1);
        audio += s[i].seconds;
        fa[f] += s[i].seconds;
    }
    for (int f = 0; f < NFMT; f++) {
        size_t k = 0;
        for (int i = 0; i < n; i++)
            if (s[i].fmt == f)
                paths[k++] = s[i].path;
        an1[f] = analyse(w, 1, paths, k, &c1[f]);
        an2[f] = analyse(w, 2, paths, k, &c2[f]);
    }
    for (int i = 0; i < n; i++)
        paths[i] = s[i].path;
    double call1, call2;
    double all1 = analyse(w, 1, paths, (size_t)n, &call1);
    double all2 = analyse(w, 2, paths, (size_t)n, &call2);
    printf("\nwhole library: %d files, %.0f s of audio; load average %.1f before, %.1f after "
           "(on %ld cores)\n",
           n, audio, load0, loadavg(), sysconf(_SC_NPROCESSORS_ONLN));
    printf("  %-20s %8s %8s %9s %12s %13s\n", "", "wall s", "CPU s", "files/s", "x real time",
           "x rt per CPU");
    printf("  %-20s %8.2f %8.2f %9.1f %12.0f %13.0f\n", "decode only, -j 1", dec_wall, dec_all,
           n / dec_wall, audio / dec_wall, audio / dec_all);
    printf("  %-20s %8.2f %8.2f %9.1f %12.0f %13.0f\n", "analysis, -j 1", all1, call1, n / all1,
           audio / all1, audio / call1);
    printf("  %-20s %8.2f %8.2f %9.1f %12.0f %13.0f\n", "analysis, -j 2", all2, call2, n / all2,
           audio / all2, audio / call2);
    printf("  analysis / decode only: %.2fx (CPU), %.2fx (wall); -j 2 speed-up (wall): %.2fx\n",
           call1 / dec_all, all1 / dec_wall, all1 / all2);
    printf("\nper format, -j 1, CPU seconds per hour of audio:\n");
    printf("  %-5s %7s %9s %9s %9s %8s %10s %10s\n", "", "decode", "resample", "features",
           "analysis", "network", "an/decode", "-j2 gain");
    for (int f = 0; f < NFMT; f++) {
        double h = 3600 / fa[f];
        /* features = decode + resample + STFT + mel; analysis adds the net. */
        printf("  %-5s %7.2f %9.2f %9.2f %9.2f %8.2f %9.2fx %9.2fx\n", fmt_name[f], dec[f] * h,
               (res[f] - dec[f]) * h, feat[f] * h, c1[f] * h, (c1[f] - feat[f]) * h, c1[f] / dec[f],
               an1[f] / an2[f]);
    }
    printf("  decode: libsndfile + mono mix; resample: libsoxr HQ to %d Hz alone;\n"
           "  features: decode + resample + STFT + mel (melspec); network: analysis - features;\n"
           "  -j2 gain: wall time -j 1 / -j 2 over that format's files\n",
           cfg.sample_rate);
    free(paths);
    free(s);
    weights_destroy(w);
    return 0;
}
