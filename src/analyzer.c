#include "analyzer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crnn.h"
#include "melspec.h"
#include "mix.h"

/* Frames mixed down per pass in analyzer_push_interleaved. */
#define MIX_FRAMES 1024

struct analyzer {
    double input_rate;
    int segment_ms;
    melspec *mel;
    crnn *net;
    float *mix; /* MIX_FRAMES mono samples */
    /* analyzer_spread: the step in flight and when its next slice is due */
    int spread;        /* input samples between slices; 0: whole steps */
    int staged;        /* resampler and STFT in different pushes (melspec_set_staged) */
    int held;          /* staged: a resampler call's output waits for work() */
    uint64_t work_due; /* its position */
    int unit_seen;     /* staged: a resampler call or work() has run ... */
    uint64_t unit_at;  /* ... the last one at this input position */
    int busy;          /* a step is in flight */
    int started;       /* its first slice (features, crnn_step_begin) has run */
    long seg_index;    /* its segment */
    uint64_t consumed; /* input samples taken since create or reset */
    uint64_t due;      /* input position of its next slice */
};

/* The parts, in a->mel, a->net and a->mix. */
static int build(analyzer *a, const weights *w, const melspec_config *cfg, char *msg, size_t msglen)
{
    int err = crnn_create(w, &a->net, msg, msglen);
    if (err)
        return err;
    if (crnn_get_kind(a->net) != CRNN_STREAMING)
        return valar_fail(msg, msglen, VALAR_ERR_KIND,
                          "the model is an offline (bidirectional) model; streaming analysis "
                          "needs a model with metadata kind=streaming (e.g. "
                          "valar-streaming.safetensors)");
    if ((err = melspec_create(cfg, a->input_rate, &a->mel)))
        return valar_fail(msg, msglen, err, "features at input rate %g Hz: %s", a->input_rate,
                          valar_strerror(err));
    if (!(a->mix = malloc(MIX_FRAMES * sizeof *a->mix)))
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "analyzer: out of memory");
    return 0;
}

int analyzer_create(const weights *w, double input_rate, analyzer **out, char *msg, size_t msglen)
{
    if (out)
        *out = NULL;
    if (!w || !out || !(input_rate > 0) || !isfinite(input_rate))
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "analyzer: invalid argument (input rate %g)",
                          input_rate);
    melspec_config cfg;
    int err = melspec_config_read(&cfg, w, msg, msglen);
    if (!err)
        err = melspec_config_check(&cfg, msg, msglen);
    if (err)
        return err;
    analyzer *a = calloc(1, sizeof *a);
    if (!a)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "analyzer: out of memory");
    a->input_rate = input_rate;
    a->segment_ms = cfg.segment_ms;
    if ((err = build(a, w, &cfg, msg, msglen))) {
        analyzer_destroy(a);
        return err;
    }
    *out = a;
    return 0;
}

void analyzer_destroy(analyzer *a)
{
    if (!a)
        return;
    melspec_destroy(a->mel);
    crnn_destroy(a->net);
    free(a->mix);
    free(a);
}

void analyzer_reset(analyzer *a)
{
    melspec_reset(a->mel);
    crnn_reset(a->net);
    a->busy = a->started = 0;
    a->held = a->unit_seen = 0;
    a->consumed = 0;
}

double analyzer_input_rate(const analyzer *a)
{
    return a->input_rate;
}

/* The pushing thread: the result of segment `index` to the callback. */
static int report(const analyzer *a, long index, const float out[2], analyzer_cb cb, void *user)
{
    if (cb) {
        analyzer_result r;
        r.time_s = (double)index * a->segment_ms / 1000.0;
        r.arousal = out[0];
        r.valence = out[1];
        cb(user, &r);
    }
    return 1;
}

/* The pushing thread: run the network on the segment melspec just
 * completed and report it. */
static int emit(analyzer *a, analyzer_cb cb, void *user)
{
    float out[2];
    melspec_frame_compute(a->mel); /* spread, in analyzer_finish */
    if (crnn_step(a->net, melspec_frame(a->mel), out) < 0)
        return 0; /* cannot happen: the kind was checked at create */
    return report(a, melspec_frame_index(a->mel), out, cb, user);
}

/* The pushing thread (the LV2 plugin's run()): the next slice of the step
 * in flight; 1 if it finished and reported it. */
static int slice(analyzer *a, analyzer_cb cb, void *user)
{
    float out[2];
    if (!a->started) {
        melspec_frame_compute(a->mel);
        crnn_step_begin(a->net, melspec_frame(a->mel));
        a->started = 1;
    }
    if (crnn_step_slice(a->net, out) != 1)
        return 0;
    a->busy = 0;
    return report(a, a->seg_index, out, cb, user);
}

/* The pushing thread: the rest of the step in flight at once. */
static int finish_step(analyzer *a, analyzer_cb cb, void *user)
{
    int count = 0;
    while (a->busy)
        count += slice(a, cb, user);
    return count;
}

/* The pushing thread: a segment completed; its step starts `spread`
 * samples from here. One still in flight is finished first: its features
 * are in melspec_frame, computed when this segment closed. */
static int start_step(analyzer *a, analyzer_cb cb, void *user)
{
    int count = 0;
    if (a->busy) {
        if (!a->started) {
            crnn_step_begin(a->net, melspec_frame(a->mel));
            a->started = 1;
        }
        count = finish_step(a, cb, user);
    }
    a->busy = 1;
    a->started = 0;
    a->seg_index = melspec_frame_index(a->mel);
    a->due = a->consumed + (uint64_t)a->spread;
    return count;
}

/* The pushing thread, staged: the output of the resampler call `spread`
 * samples back into the STFT (which may close a segment: its step starts). */
static int work(analyzer *a, analyzer_cb cb, void *user)
{
    int count = 0;
    a->unit_seen = 1;
    a->unit_at = a->consumed;
    if (melspec_work(a->mel))
        count = start_step(a, cb, user);
    a->held = melspec_held(a->mel); /* only with segments shorter than a chunk */
    a->work_due = a->consumed + (uint64_t)a->spread;
    return count;
}

/* Staged: a resampler call or work() ran in the last `spread` samples up
 * to the slice due now, so the slice waits (a push of up to `spread`
 * samples then carries at most one of the three). Both come at fixed
 * positions after the segment's end, so the delay stays fixed. */
static int crowded(const analyzer *a)
{
    return a->unit_seen && a->due - a->unit_at < (uint64_t)a->spread;
}

/* analyzer_push when spread: input is fed up to the point where the next
 * slice (or staged, the next work()) is due, so that they land at fixed
 * stream positions whatever the block sizes. */
static int push_spread(analyzer *a, const float *mono, size_t n, analyzer_cb cb, void *user)
{
    int count = 0;
    size_t pos = 0;
    for (;;) {
        if (a->held && a->consumed >= a->work_due) {
            count += work(a, cb, user);
            continue;
        }
        if (a->busy && a->consumed >= a->due) {
            const int wait = crowded(a);
            a->due += (uint64_t)a->spread;
            if (!wait)
                count += slice(a, cb, user);
            continue;
        }
        size_t lim = n - pos;
        if (a->busy && a->due - a->consumed < lim)
            lim = (size_t)(a->due - a->consumed);
        if (a->held && a->work_due - a->consumed < lim)
            lim = (size_t)(a->work_due - a->consumed);
        int ready = 0;
        size_t used = melspec_feed(a->mel, mono ? mono + pos : NULL, lim, &ready);
        pos += used;
        a->consumed += used;
        if (ready) {
            count += start_step(a, cb, user);
        } else if (a->staged && !a->held && melspec_held(a->mel)) {
            a->held = 1; /* a resampler call, here */
            a->work_due = a->consumed + (uint64_t)a->spread;
            a->unit_seen = 1;
            a->unit_at = a->consumed;
        } else if (used == 0) {
            break; /* input used up (or melspec took none: avoid spinning) */
        }
    }
    return count;
}

int analyzer_spread(analyzer *a, int frames)
{
    if (!a || frames < 0 || a->busy || a->held)
        return VALAR_ERR_ARG;
    a->spread = frames;
    /* With a spacing of a chunk or more, a resampler call would come
     * before the work() due after the previous one: staging gains nothing. */
    a->staged = frames > 0 && (size_t)frames < melspec_chunk(a->mel);
    melspec_set_deferred(a->mel, frames > 0);
    melspec_set_staged(a->mel, a->staged);
    return 0;
}

/* Staged: is there a resampler call (at multiples of `chunk` after the one
 * that completed the segment, at 0) or a work() (`spread` after each) in
 * (d - spread, d]? */
static int unit_near(long d, long spread, long chunk)
{
    return d / chunk * chunk > d - 2 * spread;
}

long analyzer_delay(const analyzer *a)
{
    if (!a || !a->spread)
        return 0;
    const long s = a->spread, n = crnn_slices(a->net);
    if (!a->staged)
        return n * s;
    /* the same schedule as push_spread: work() at s closes the segment,
     * then slices every s unless crowded */
    long d = s;
    for (long k = 0; k < n; k++) {
        d += s;
        while (unit_near(d, s, (long)melspec_chunk(a->mel)))
            d += s;
    }
    return d;
}

int analyzer_push(analyzer *a, const float *mono, size_t n, analyzer_cb cb, void *user)
{
    if (!a || (!mono && n))
        return VALAR_ERR_ARG;
    if (a->spread)
        return push_spread(a, mono, n, cb, user);
    int count = 0;
    size_t pos = 0;
    while (pos < n) {
        int ready = 0;
        size_t used = melspec_feed(a->mel, mono + pos, n - pos, &ready);
        pos += used;
        if (ready)
            count += emit(a, cb, user);
        else if (used == 0)
            break; /* melspec took nothing and produced nothing: avoid spinning */
    }
    return count;
}

int analyzer_push_interleaved(analyzer *a, const float *x, size_t frames, int channels,
                              analyzer_cb cb, void *user)
{
    if (!a || channels < 1 || (!x && frames))
        return VALAR_ERR_ARG;
    if (channels == 1)
        return analyzer_push(a, x, frames, cb, user);
    const size_t ch = (size_t)channels;
    int count = 0;
    for (size_t done = 0; done < frames;) {
        size_t n = frames - done < MIX_FRAMES ? frames - done : MIX_FRAMES;
        mix_interleaved(x + done * ch, n, channels, a->mix);
        count += analyzer_push(a, a->mix, n, cb, user);
        done += n;
    }
    return count;
}

int analyzer_finish(analyzer *a, analyzer_cb cb, void *user)
{
    if (!a)
        return VALAR_ERR_ARG;
    int count = 0, ready;
    while (a->held)
        count += work(a, cb, user);
    count += finish_step(a, cb, user);
    melspec_finish(a->mel);
    do {
        ready = 0;
        melspec_feed(a->mel, NULL, 0, &ready);
        if (ready)
            count += emit(a, cb, user);
    } while (ready);
    return count;
}
