/* melspec: log mel-band energies per segment, streaming (contract in melspec.h).
 *
 * Model-rate samples go through push_model(): every hop samples one STFT
 * frame of the last n_fft samples is windowed, transformed (FFTW r2c),
 * turned into power and summed into the mel bands; after F frames the
 * segment mean is logged into m->frame.
 *
 * When the input rate differs from the model rate, input is gathered into
 * fixed CHUNK-sample blocks and only whole blocks are given to libsoxr, so
 * the sequence of soxr calls (and hence its output) depends on the stream
 * alone, never on how the caller cut it into blocks. soxr's output waits in
 * m->res until push_model has taken it; a full chunk is resampled only once
 * m->res is empty. Staged (melspec_set_staged), the output of each chunk
 * also waits for melspec_work, so that the resampler call and the STFT
 * frames it completes can run in different calls. */
#include "melspec.h"

#include <fftw3.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Input samples per soxr call. */
#define CHUNK 256

/* Zeros fed to a fresh resampler (at least this many seconds of input, and
 * at least WARM_MIN_CHUNKS calls), so that soxr has grown all its internal
 * buffers before the first melspec_feed: it allocates during its first few
 * hundred calls, and feed must not. melspec-alloc checks that it does not,
 * from 1 kHz to 1 MHz; docs/design.md (Real-time rules) has what
 * shorter warm-ups left. */
#define WARM_SECONDS 4.0
#define WARM_MIN_CHUNKS 64

/* Accepted input rates. */
#define MIN_INPUT_RATE 1000.0
#define MAX_INPUT_RATE 1000000.0

/* FFTW's planner is not thread-safe; create/destroy may run on several
 * threads (trainer workers, plugin worker). fftwf_execute is. soxr's
 * set-up (create, clear) is serialised too, as a precaution. */
static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

enum { FIN_NONE, FIN_LAST_CHUNK, FIN_FLUSH, FIN_DONE };

struct melspec {
    melspec_config cfg;
    int n_fft, hop, n_bins, n_mels, frames_per_seg;

    float *window;          /* periodic Hann, n_fft */
    float *hist;            /* last n_fft model-rate samples; the newest hop is being filled */
    int fill;               /* samples of the current hop received */
    float *fft_in;          /* n_fft, FFTW-aligned */
    fftwf_complex *fft_out; /* n_bins */
    fftwf_plan plan;

    /* Sparse filterbank: band b has weights wt[band_off[b] .. +band_len[b]]
     * for bins band_start[b] ... */
    int *band_start, *band_len, *band_off;
    float *wt;

    double *acc;       /* per-bin sum of power over this segment's frames */
    int frames_in_seg; /* frames summed into acc */
    int deferred;      /* melspec_set_deferred */
    double *done;      /* deferred: the closed segment's sums while pending, else zeros */
    int pending;       /* deferred: done holds a segment not yet in frame */
    float *frame;      /* last completed segment's log energies */
    long index;        /* its index, -1 before the first */

    /* Resampling (soxr == NULL when the input is at the model rate). */
    double input_rate;
    soxr_t soxr;
    float *chunk; /* CHUNK input samples being gathered */
    size_t chunk_n;
    float *res; /* soxr output not yet pushed */
    size_t res_n, res_pos, res_cap;
    size_t warm_chunks; /* zero chunks fed at reset (see prime_resampler) */
    size_t warm_skip;   /* output samples they stand for */
    size_t skip;        /* output samples still to drop */
    int staged;         /* melspec_set_staged */
    int held;           /* staged: res waits for melspec_work */
    int finishing;      /* FIN_* */
};

void melspec_config_default(melspec_config *c)
{
    c->sample_rate = 22050;
    c->n_fft = 1024;
    c->hop = 441;
    c->n_mels = 64;
    c->fmin = 0.0f;
    c->fmax = 11025.0f;
    c->segment_ms = 500;
    c->log_floor = 1e-10f;
}

int melspec_segment_samples(const melspec_config *c)
{
    return (int)((long long)c->segment_ms * c->sample_rate / 1000);
}

/* ---- Slaney mel scale (librosa hz_to_mel / mel_to_hz, htk=False) ---- */

#define MEL_F_SP (200.0 / 3.0)
#define MEL_MIN_LOG_HZ 1000.0
#define MEL_MIN_LOG_MEL (MEL_MIN_LOG_HZ / MEL_F_SP)
#define MEL_LOGSTEP (0.06875177742094912) /* log(6.4) / 27 */

static double hz_to_mel(double f)
{
    if (f >= MEL_MIN_LOG_HZ)
        return MEL_MIN_LOG_MEL + log(f / MEL_MIN_LOG_HZ) / MEL_LOGSTEP;
    return f / MEL_F_SP;
}

static double mel_to_hz(double m)
{
    if (m >= MEL_MIN_LOG_MEL)
        return MEL_MIN_LOG_HZ * exp(MEL_LOGSTEP * (m - MEL_MIN_LOG_MEL));
    return MEL_F_SP * m;
}

/* Edge i (0 .. n_mels+1) of the filterbank in Hz: librosa's
 * mel_frequencies(n_mels + 2, fmin, fmax), i.e. linspace on the mel scale. */
static double mel_edge(const melspec_config *c, int i)
{
    double lo = hz_to_mel(c->fmin), hi = hz_to_mel(c->fmax);
    int n = c->n_mels + 2;
    /* numpy's linspace: start + i * step, the last point exactly stop */
    double m = i == n - 1 ? hi : lo + (double)i * ((hi - lo) / (double)(n - 1));
    return mel_to_hz(m);
}

/* Weight of FFT bin k in band b given the band's three edges f0 < f1 < f2
 * (librosa.filters.mel with norm='slaney'). */
static double mel_weight(double f0, double f1, double f2, double fk)
{
    double lower = (fk - f0) / (f1 - f0);
    double upper = (f2 - fk) / (f2 - f1);
    double w = lower < upper ? lower : upper;
    if (!(w > 0.0))
        return 0.0;
    return w * 2.0 / (f2 - f0);
}

static double bin_hz(const melspec_config *c, int k)
{
    return (double)k * c->sample_rate / c->n_fft;
}

/* The FFT bins with a nonzero weight in the band with edges f0 < f1 < f2
 * form one run (the triangle is positive exactly for f0 < fk < f2): returns
 * its length (0 if none) and its first bin in *first (0 if none). Scans only
 * from just below f0 (>= 0: fmin is checked first) to f2, so a whole
 * filterbank costs O(n_mels + n_bins). */
static int band_bins(const melspec_config *c, double f0, double f1, double f2, int *first)
{
    const int n_bins = c->n_fft / 2 + 1;
    int n = 0;
    *first = 0;
    for (int k = (int)floor(f0 * c->n_fft / c->sample_rate); k < n_bins && bin_hz(c, k) <= f2;
         k++) {
        if (mel_weight(f0, f1, f2, bin_hz(c, k)) > 0.0) {
            if (n++ == 0)
                *first = k;
        } else if (n > 0) {
            break;
        }
    }
    return n;
}

/* ---- configuration ---- */

int melspec_config_check(const melspec_config *c, char *msg, size_t msglen)
{
#define BAD(...) return valar_fail(msg, msglen, VALAR_ERR_CONFIG, __VA_ARGS__)
    if (!c)
        BAD("feature config: missing");
    if (c->sample_rate < 1000 || c->sample_rate > 384000)
        BAD("feature config: sample_rate %d out of range (1000..384000)", c->sample_rate);
    if (c->segment_ms < 1 || c->segment_ms > 60000)
        BAD("feature config: segment_ms %d out of range (1..60000)", c->segment_ms);
    if ((long long)c->segment_ms * c->sample_rate % 1000 != 0)
        BAD("feature config: segment_ms %d is not a whole number of samples at %d Hz",
            c->segment_ms, c->sample_rate);
    int seg = melspec_segment_samples(c);
    if (c->hop < 1 || seg % c->hop != 0)
        BAD("feature config: hop_length %d does not divide the segment (%d samples)", c->hop, seg);
    if (c->n_fft < c->hop || c->n_fft < 2 || c->n_fft > (1 << 20))
        BAD("feature config: n_fft %d must be at least hop_length %d (and 2..%d)", c->n_fft, c->hop,
            1 << 20);
    if (!isfinite(c->fmin) || !isfinite(c->fmax) || c->fmin < 0.0f || c->fmin >= c->fmax)
        BAD("feature config: need 0 <= fmin < fmax (fmin %g, fmax %g)", (double)c->fmin,
            (double)c->fmax);
    if ((double)c->fmax > c->sample_rate / 2.0)
        BAD("feature config: fmax %g above half the sample rate (%d Hz)", (double)c->fmax,
            c->sample_rate);
    if (!isfinite(c->log_floor) || !(c->log_floor > 0.0f))
        BAD("feature config: log_floor %g must be positive", (double)c->log_floor);
    if (c->n_mels < 1 || c->n_mels > 4096)
        BAD("feature config: n_mels %d out of range (1..4096)", c->n_mels);
    /* A band narrower than the bin spacing may catch no bin at all; it would
     * always read log_floor, so such a configuration is rejected. */
    double f0 = mel_edge(c, 0), f1 = mel_edge(c, 1);
    for (int b = 0; b < c->n_mels; b++) {
        double f2 = mel_edge(c, b + 2);
        int first;
        if (band_bins(c, f0, f1, f2, &first) == 0)
            BAD("feature config: mel band %d (%.1f..%.1f Hz) gets no FFT bin; use fewer "
                "n_mels or a larger n_fft",
                b, f0, f2);
        f0 = f1;
        f1 = f2;
    }
#undef BAD
    return VALAR_OK;
}

/* The feature config's metadata keys and where each goes. */
static const struct {
    const char *key;
    size_t at;
    int is_float;
} config_keys[] = {
    {"sample_rate", offsetof(melspec_config, sample_rate), 0},
    {"n_fft", offsetof(melspec_config, n_fft), 0},
    {"hop_length", offsetof(melspec_config, hop), 0},
    {"n_mels", offsetof(melspec_config, n_mels), 0},
    {"fmin", offsetof(melspec_config, fmin), 1},
    {"fmax", offsetof(melspec_config, fmax), 1},
    {"segment_ms", offsetof(melspec_config, segment_ms), 0},
    {"log_floor", offsetof(melspec_config, log_floor), 1},
};
#define N_CONFIG_KEYS (sizeof config_keys / sizeof config_keys[0])

int melspec_config_read(melspec_config *c, const weights *w, char *msg, size_t msglen)
{
    if (!c || !w)
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "melspec_config_read: invalid argument");
    /* Any int or float here; melspec_config_check judges the values. */
    melspec_config t;
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        char *field = (char *)&t + config_keys[i].at;
        const char *key = config_keys[i].key;
        double x;
        int err = config_keys[i].is_float
                      ? weights_meta_double(w, key, -FLT_MAX, FLT_MAX, &x, msg, msglen)
                      : weights_meta_int(w, key, INT_MIN, INT_MAX, (int *)field, msg, msglen);
        if (err)
            return err;
        if (config_keys[i].is_float)
            *(float *)field = (float)x;
    }
    *c = t;
    return VALAR_OK;
}

/* The shortest decimal that reads back as the same float: 1e-10, not
 * 1.00000001e-10, in the metadata people read with `valar info`. */
static void format_float(char *buf, size_t len, float f)
{
    for (int prec = 6; prec < 9; prec++) {
        snprintf(buf, len, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return;
    }
    snprintf(buf, len, "%.9g", (double)f); /* always round-trips */
}

int melspec_config_write(const melspec_config *c, weights *w)
{
    if (!c || !w)
        return VALAR_ERR_ARG;
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        const char *field = (const char *)c + config_keys[i].at;
        char buf[64];
        if (config_keys[i].is_float)
            format_float(buf, sizeof buf, *(const float *)field);
        else
            snprintf(buf, sizeof buf, "%d", *(const int *)field);
        int err = weights_set_meta(w, config_keys[i].key, buf);
        if (err)
            return err;
    }
    return VALAR_OK;
}

/* ---- create / destroy ---- */

/* Sparse Slaney filterbank: the nonzero run of each band. */
static int build_filterbank(melspec *m)
{
    const melspec_config *c = &m->cfg;
    const int n = m->n_mels;
    double *f = malloc((size_t)(n + 2) * sizeof *f); /* band edges, Hz */
    if (!f)
        return VALAR_ERR_NOMEM;
    for (int i = 0; i < n + 2; i++)
        f[i] = mel_edge(c, i);
    size_t total = 0;
    for (int b = 0; b < n; b++) {
        m->band_len[b] = band_bins(c, f[b], f[b + 1], f[b + 2], &m->band_start[b]);
        m->band_off[b] = (int)total;
        total += (size_t)m->band_len[b];
    }
    m->wt = malloc((total ? total : 1) * sizeof *m->wt);
    if (m->wt)
        for (int b = 0; b < n; b++)
            for (int i = 0; i < m->band_len[b]; i++)
                m->wt[m->band_off[b] + i] =
                    (float)mel_weight(f[b], f[b + 1], f[b + 2], bin_hz(c, m->band_start[b] + i));
    free(f);
    return m->wt ? VALAR_OK : VALAR_ERR_NOMEM;
}

static long long gcd_ll(long long a, long long b)
{
    while (b) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Choose the warm-up: whole chunks, and when the rates are integers, a
 * whole number of resampling periods, so that the zeros stand for an exact
 * number of output samples and dropping them leaves the stream aligned as
 * if the resampler were fresh. Otherwise the rounding shifts the stream by
 * under half an output sample, which the features do not see. */
static void warm_up_length(melspec *m)
{
    const double in = m->input_rate, out = m->cfg.sample_rate;
    long long k_min = (long long)ceil(WARM_SECONDS * in);
    if (k_min < WARM_MIN_CHUNKS * CHUNK)
        k_min = WARM_MIN_CHUNKS * CHUNK;
    long long k = (k_min + CHUNK - 1) / CHUNK * CHUNK;
    if (in == floor(in)) {
        long long g = gcd_ll((long long)in, (long long)out);
        long long p = (long long)in / g;               /* input samples per period */
        long long unit = p / gcd_ll(p, CHUNK) * CHUNK; /* lcm(p, CHUNK) */
        if (unit <= 4 * k)
            k = (k_min + unit - 1) / unit * unit;
    }
    m->warm_chunks = (size_t)(k / CHUNK);
    m->warm_skip = (size_t)llround((double)k * out / in);
}

/* Buffers, filterbank, window and FFT plan. */
static int make_stft(melspec *m)
{
    const size_t N = (size_t)m->n_fft, M = (size_t)m->n_mels;
    m->window = malloc(N * sizeof *m->window);
    m->hist = malloc(N * sizeof *m->hist);
    m->fft_in = fftwf_alloc_real(N);
    m->fft_out = fftwf_alloc_complex((size_t)m->n_bins);
    m->band_start = malloc(M * sizeof *m->band_start);
    m->band_len = malloc(M * sizeof *m->band_len);
    m->band_off = malloc(M * sizeof *m->band_off);
    m->acc = malloc((size_t)m->n_bins * sizeof *m->acc);
    m->done = malloc((size_t)m->n_bins * sizeof *m->done);
    m->frame = malloc(M * sizeof *m->frame);
    if (!m->window || !m->hist || !m->fft_in || !m->fft_out || !m->band_start || !m->band_len ||
        !m->band_off || !m->acc || !m->done || !m->frame || build_filterbank(m))
        return VALAR_ERR_NOMEM;
    /* periodic Hann (scipy get_window('hann', N, fftbins=True)) */
    for (size_t i = 0; i < N; i++)
        m->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)N));
    pthread_mutex_lock(&planner_lock);
    m->plan = fftwf_plan_dft_r2c_1d(m->n_fft, m->fft_in, m->fft_out, FFTW_ESTIMATE);
    pthread_mutex_unlock(&planner_lock);
    return m->plan ? VALAR_OK : VALAR_ERR_NOMEM;
}

/* libsoxr from the input rate to the model rate, and its buffers. */
static int make_resampler(melspec *m)
{
    const double ratio = (double)m->cfg.sample_rate / m->input_rate;
    /* one chunk's worth of output plus slack; soxr keeps any excess */
    m->res_cap = (size_t)ceil(CHUNK * ratio) + 64;
    m->chunk = malloc(CHUNK * sizeof *m->chunk);
    m->res = malloc(m->res_cap * sizeof *m->res);
    if (!m->chunk || !m->res)
        return VALAR_ERR_NOMEM;
    soxr_error_t e = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    pthread_mutex_lock(&planner_lock); /* filter design; cheap to be safe */
    m->soxr = soxr_create(m->input_rate, (double)m->cfg.sample_rate, 1, &e, &io, &q, &rt);
    pthread_mutex_unlock(&planner_lock);
    if (!m->soxr || e)
        return VALAR_ERR_RESAMPLE;
    warm_up_length(m);
    return VALAR_OK;
}

int melspec_create(const melspec_config *c, double input_rate, melspec **out)
{
    if (out)
        *out = NULL;
    if (!c || !out || melspec_config_check(c, NULL, 0))
        return VALAR_ERR_CONFIG;
    if (!(input_rate >= MIN_INPUT_RATE && input_rate <= MAX_INPUT_RATE))
        return VALAR_ERR_RATE;
    melspec *m = calloc(1, sizeof *m);
    if (!m)
        return VALAR_ERR_NOMEM;
    m->cfg = *c;
    m->n_fft = c->n_fft;
    m->hop = c->hop;
    m->n_bins = c->n_fft / 2 + 1;
    m->n_mels = c->n_mels;
    m->frames_per_seg = melspec_segment_samples(c) / c->hop;
    m->input_rate = input_rate;
    int err = make_stft(m);
    if (!err && input_rate != (double)c->sample_rate)
        err = make_resampler(m);
    if (err) {
        melspec_destroy(m);
        return err;
    }
    melspec_reset(m);
    *out = m;
    return VALAR_OK;
}

void melspec_destroy(melspec *m)
{
    if (!m)
        return;
    if (m->plan) {
        pthread_mutex_lock(&planner_lock);
        fftwf_destroy_plan(m->plan);
        pthread_mutex_unlock(&planner_lock);
    }
    if (m->soxr)
        soxr_delete(m->soxr);
    fftwf_free(m->fft_in);
    fftwf_free(m->fft_out);
    free(m->window);
    free(m->hist);
    free(m->band_start);
    free(m->band_len);
    free(m->band_off);
    free(m->wt);
    free(m->acc);
    free(m->done);
    free(m->frame);
    free(m->chunk);
    free(m->res);
    free(m);
}

static void resample(melspec *m, const float *in, size_t n);

/* A fresh resampler, warmed up with zeros whose output is dropped. */
static void prime_resampler(melspec *m)
{
    pthread_mutex_lock(&planner_lock);
    soxr_clear(m->soxr);
    pthread_mutex_unlock(&planner_lock);
    memset(m->chunk, 0, CHUNK * sizeof *m->chunk);
    m->skip = m->warm_skip;
    for (size_t i = 0; i < m->warm_chunks; i++)
        resample(m, m->chunk, CHUNK);
    m->res_n = m->res_pos = 0;
}

/* Not real-time safe when resampling: soxr_clear frees and reallocates. */
void melspec_reset(melspec *m)
{
    if (!m)
        return;
    memset(m->hist, 0, (size_t)m->n_fft * sizeof *m->hist);
    m->fill = 0;
    memset(m->acc, 0, (size_t)m->n_bins * sizeof *m->acc);
    memset(m->done, 0, (size_t)m->n_bins * sizeof *m->done);
    m->pending = 0;
    m->frames_in_seg = 0;
    for (int b = 0; b < m->n_mels; b++)
        m->frame[b] = logf(m->cfg.log_floor);
    m->index = -1;
    m->chunk_n = 0;
    m->res_n = m->res_pos = 0;
    m->held = 0;
    m->finishing = FIN_NONE;
    if (m->soxr)
        prime_resampler(m);
}

/* ---- streaming ----
 * Everything from here on runs on the thread that feeds: an audio callback,
 * an LV2 run() or a worker. It never allocates, locks or does I/O. */

/* One STFT frame of hist into the segment's power sums. The filterbank is
 * linear, so it is applied once per segment to the summed power (25 times
 * less work than per frame). Loops over whole arrays, which the compiler
 * vectorises (melspec.c is built with -O3). */
static void stft_frame(melspec *m)
{
    const int N = m->n_fft, nb = m->n_bins;
    const float *restrict h = m->hist, *restrict w = m->window;
    float *restrict in = m->fft_in;
    for (int i = 0; i < N; i++)
        in[i] = h[i] * w[i];
    fftwf_execute(m->plan);
    const float *restrict X = (const float *)m->fft_out; /* re, im pairs */
    double *restrict acc = m->acc;
    for (int k = 0; k < nb; k++) {
        const double re = X[2 * k], im = X[2 * k + 1];
        acc[k] += re * re + im * im;
    }
}

/* A segment's power sums into m->frame; the sums are zeroed for reuse. */
static void mel_log(melspec *m, double *restrict sums)
{
    const double floor_ = (double)m->cfg.log_floor;
    for (int b = 0; b < m->n_mels; b++) {
        const float *w = m->wt + m->band_off[b];
        const double *p = sums + m->band_start[b];
        double s = 0.0;
        for (int i = 0; i < m->band_len[b]; i++)
            s += (double)w[i] * p[i];
        double mean = s / m->frames_per_seg;
        m->frame[b] = (float)log(mean > floor_ ? mean : floor_);
    }
    memset(sums, 0, (size_t)m->n_bins * sizeof *sums);
}

void melspec_frame_compute(melspec *m)
{
    if (m && m->pending) {
        mel_log(m, m->done);
        m->pending = 0;
    }
}

void melspec_set_deferred(melspec *m, int on)
{
    if (!m)
        return;
    melspec_frame_compute(m);
    m->deferred = on != 0;
}

/* Deferred, the sums only change places with the (zeroed) spare. */
static void end_segment(melspec *m)
{
    if (m->deferred) {
        melspec_frame_compute(m);
        double *t = m->done;
        m->done = m->acc;
        m->acc = t;
        m->pending = 1;
    } else {
        mel_log(m, m->acc);
    }
    m->frames_in_seg = 0;
    m->index++;
}

/* Take model-rate samples until a segment completes (*ready = 1) or x is
 * used up; returns the number taken. */
static size_t push_model(melspec *m, const float *x, size_t n, int *ready)
{
    const size_t hop = (size_t)m->hop, keep = (size_t)(m->n_fft - m->hop);
    size_t i = 0;
    while (i < n) {
        size_t take = hop - (size_t)m->fill;
        if (take > n - i)
            take = n - i;
        memcpy(m->hist + keep + m->fill, x + i, take * sizeof *x);
        m->fill += (int)take;
        i += take;
        if ((size_t)m->fill < hop)
            break;
        stft_frame(m);
        memmove(m->hist, m->hist + hop, keep * sizeof *m->hist);
        m->fill = 0;
        if (++m->frames_in_seg == m->frames_per_seg) {
            end_segment(m);
            *ready = 1;
            break;
        }
    }
    return i;
}

static void resample(melspec *m, const float *in, size_t n)
{
    size_t odone = 0;
    if (soxr_process(m->soxr, in, n, NULL, m->res, m->res_cap, &odone))
        odone = 0; /* cannot happen once created; the stream just ends */
    size_t drop = m->skip < odone ? m->skip : odone;
    m->skip -= drop;
    m->res_n = odone;
    m->res_pos = drop;
}

/* After melspec_finish: refill res from what soxr still holds. Returns 0
 * when nothing is left. */
static int drain(melspec *m)
{
    switch (m->finishing) {
    case FIN_LAST_CHUNK:
        resample(m, m->chunk, m->chunk_n);
        m->chunk_n = 0;
        m->finishing = FIN_FLUSH;
        return 1;
    case FIN_FLUSH:
        resample(m, NULL, 0);
        if (m->res_n == 0)
            m->finishing = FIN_DONE;
        return m->res_n > 0;
    default:
        return 0;
    }
}

/* The rate-converting part of melspec_feed: input into the chunk, a full
 * chunk through soxr, its output into the STFT. Staged, it stops after a
 * soxr call with the output held; input is still gathered meanwhile, and
 * a chunk that fills up before melspec_work pushes the held output first. */
static size_t feed_resampled(melspec *m, const float *in, size_t n, int *r)
{
    size_t used = 0;
    while (!*r) {
        const int have = m->res_pos < m->res_n;
        if (m->held && m->chunk_n == CHUNK) {
            m->held = 0; /* melspec_work came too late: taken here */
        } else if (have && !m->held) {
            m->res_pos += push_model(m, m->res + m->res_pos, m->res_n - m->res_pos, r);
        } else if (!have && m->chunk_n == CHUNK) {
            resample(m, m->chunk, CHUNK);
            m->chunk_n = 0;
            if (m->staged && m->finishing == FIN_NONE) {
                m->held = 1; /* even if soxr gave nothing: one melspec_work per chunk */
                break;
            }
        } else if (m->finishing != FIN_NONE) {
            if (!drain(m))
                break;
        } else if (used < n) {
            size_t take = CHUNK - m->chunk_n;
            if (take > n - used)
                take = n - used;
            memcpy(m->chunk + m->chunk_n, in + used, take * sizeof *in);
            m->chunk_n += take;
            used += take;
        } else {
            break;
        }
    }
    return used;
}

size_t melspec_feed(melspec *m, const float *in, size_t n, int *ready)
{
    int r = 0;
    size_t used = 0;
    if (!m) {
        if (ready)
            *ready = 0;
        return 0;
    }
    if (!in)
        n = 0;
    if (!m->soxr) {
        if (m->finishing == FIN_NONE)
            used = push_model(m, in, n, &r);
    } else {
        used = feed_resampled(m, in, n, &r);
    }
    if (ready)
        *ready = r;
    return used;
}

void melspec_set_staged(melspec *m, int on)
{
    if (!m)
        return;
    m->staged = on != 0;
    if (!on)
        m->held = 0; /* the next melspec_feed pushes it */
}

int melspec_held(const melspec *m)
{
    return m && m->held;
}

size_t melspec_chunk(const melspec *m)
{
    return m && m->soxr ? CHUNK : 0;
}

/* Model-rate samples push_model can take without closing a segment. */
static size_t room_in_segment(const melspec *m)
{
    return (size_t)(m->frames_per_seg - m->frames_in_seg) * (size_t)m->hop - (size_t)m->fill - 1;
}

/* The held output into the STFT, all of it: where the segment closes in it
 * depends on the stream, and the caller's schedule must not. Only with
 * segments shorter than one chunk's output (not the shipped models) would
 * it close a second one: that part stays held for the next call. */
int melspec_work(melspec *m)
{
    int closed = 0, again = 0;
    if (!m || !m->held)
        return 0;
    m->held = 0;
    m->res_pos += push_model(m, m->res + m->res_pos, m->res_n - m->res_pos, &closed);
    if (closed && m->res_pos < m->res_n) {
        size_t k = room_in_segment(m), left = m->res_n - m->res_pos;
        m->res_pos += push_model(m, m->res + m->res_pos, k < left ? k : left, &again);
        m->held = m->res_pos < m->res_n;
    }
    return closed;
}

void melspec_finish(melspec *m)
{
    if (m && m->finishing == FIN_NONE) {
        m->finishing = m->soxr ? FIN_LAST_CHUNK : FIN_DONE;
        m->held = 0; /* the feed calls that collect the end push it */
    }
}

const float *melspec_frame(const melspec *m)
{
    return m->frame;
}

long melspec_frame_index(const melspec *m)
{
    return m->index;
}

int melspec_n_mels(const melspec *m)
{
    return m->n_mels;
}
