#include "live.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mix.h"
#include "ringbuf.h"

#define RING_SECONDS 4   /* worker may stall this long before samples drop */
#define RING_MIN 65536   /* and at least 8 periods of JACK's largest buffer */
#define MIX_CHUNK 256    /* frames mixed on the stack per ringbuf_write */
#define DRAIN 4096       /* samples the worker takes per analyzer_push */
#define MIDI_SLOTS 64    /* results waiting for the next process cycle */
#define POLL_NS 5000000L /* worker sleep when the ring is empty: 5 ms */

struct live {
    double rate;
    live_config cfg;
    ringbuf *ring; /* mono audio: audio callback -> worker */
    ringbuf *midi; /* {arousal, valence} pairs: worker -> audio callback */
    analyzer *an;
    float *buf; /* DRAIN samples, worker only */
    pthread_t thread;
    int running;
    atomic_int stop;
    int started; /* worker: first non-zero sample seen (wait_signal) */

    atomic_uint_fast64_t dropped, midi_dropped, results;
    /* Audio-thread stats: written by that thread only, read after it stops. */
    struct timespec t0;
    atomic_uint_fast64_t periods, cb_ns, cb_max_ns;
    /* Worker stats. */
    uint64_t busy_ns, push_max_ns;
};

int live_create(const weights *w, double rate, const live_config *c, live **out, char *msg,
                size_t msglen)
{
    *out = NULL;
    live *L = calloc(1, sizeof *L);
    if (!L) {
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "out of memory");
    }
    L->rate = rate;
    L->cfg = *c;
    int err = analyzer_create(w, rate, &L->an, msg, msglen);
    if (err) {
        live_destroy(L);
        return err;
    }
    size_t cap = (size_t)(rate * RING_SECONDS);
    L->ring = ringbuf_create(cap > RING_MIN ? cap : RING_MIN);
    L->midi = ringbuf_create(2 * MIDI_SLOTS);
    L->buf = malloc(DRAIN * sizeof *L->buf);
    if (!L->ring || !L->midi || !L->buf) {
        live_destroy(L);
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "out of memory");
    }
    *out = L;
    return 0;
}

void live_destroy(live *L)
{
    if (!L)
        return;
    live_stop(L);
    analyzer_destroy(L->an);
    ringbuf_destroy(L->ring);
    ringbuf_destroy(L->midi);
    free(L->buf);
    free(L);
}

double live_rate(const live *L)
{
    return L->rate;
}

static uint64_t ns_between(const struct timespec *a, const struct timespec *b)
{
    return (uint64_t)((b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec));
}

/* Worker thread, for each result: MIDI queue first (the callback picks it up on
 * its next cycle), then the caller's outputs. */
static void on_result(void *user, const analyzer_result *r)
{
    live *L = user;
    uint64_t k = atomic_fetch_add_explicit(&L->results, 1, memory_order_relaxed);
    if (L->cfg.max_results && k >= L->cfg.max_results)
        return; /* --count reached: nothing more goes out, MIDI included */
    if (L->cfg.midi) {
        const float av[2] = {r->arousal, r->valence};
        /* Both floats or neither: the reader takes pairs. */
        if (ringbuf_write_space(L->midi) >= 2)
            ringbuf_write(L->midi, av, 2);
        else
            atomic_fetch_add_explicit(&L->midi_dropped, 1, memory_order_relaxed);
    }
    if (L->cfg.result_cb)
        L->cfg.result_cb(L->cfg.user, r);
}

/* Worker thread: n samples into the analyzer (results through on_result). */
static void push(live *L, const float *x, size_t n)
{
    if (!L->cfg.stats) {
        analyzer_push(L->an, x, n, on_result, L);
        return;
    }
    /* CPU time of this thread: the cost, not counting time the audio
     * thread or anyone else preempted us. */
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    int got = analyzer_push(L->an, x, n, on_result, L);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    uint64_t ns = ns_between(&a, &b);
    L->busy_ns += ns;
    if (got > 0 && ns > L->push_max_ns)
        L->push_max_ns = ns;
}

/* The worker thread: drains the ring buffer into the analyzer until
 * live_stop. */
static void *worker(void *arg)
{
    live *L = arg;
    const struct timespec poll = {0, POLL_NS};
    for (;;) {
        /* Read stop before draining: samples written before the audio side
         * stopped are all analysed. */
        int stopping = atomic_load_explicit(&L->stop, memory_order_acquire);
        size_t n = ringbuf_read(L->ring, L->buf, DRAIN);
        if (n == 0) {
            if (stopping)
                break;
            nanosleep(&poll, NULL);
            continue;
        }
        size_t from = 0;
        if (!L->started) {
            while (from < n && L->buf[from] == 0.0f)
                from++;
            if (from == n)
                continue; /* still leading silence: the stream has not begun */
            L->started = 1;
        }
        push(L, L->buf + from, n - from);
    }
    return NULL;
}

int live_start(live *L)
{
    if (L->running)
        return 0;
    atomic_store(&L->stop, 0);
    L->started = !L->cfg.wait_signal;
    if (pthread_create(&L->thread, NULL, worker, L) != 0)
        return VALAR_ERR_THREAD;
    L->running = 1;
    return 0;
}

void live_stop(live *L)
{
    if (!L->running)
        return;
    atomic_store_explicit(&L->stop, 1, memory_order_release);
    pthread_join(L->thread, NULL);
    L->running = 0;
}

void live_capture(live *L, const float *const *in, int nin, size_t n)
{
    float mix[MIX_CHUNK];
    size_t lost = 0;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < MIX_CHUNK ? n - done : MIX_CHUNK;
        const float *src = mix;
        if (nin == 1) {
            src = in[0] + done;
        } else if (nin == 0) {
            memset(mix, 0, k * sizeof *mix);
        } else {
            mix_planar(in, nin, done, k, mix);
        }
        lost += k - ringbuf_write(L->ring, src, k);
        done += k;
    }
    if (lost)
        atomic_fetch_add_explicit(&L->dropped, lost, memory_order_relaxed);
}

int live_midi_take(live *L, float av[2])
{
    if (ringbuf_read_space(L->midi) < 2)
        return 0;
    return ringbuf_read(L->midi, av, 2) == 2;
}

void live_period_begin(live *L)
{
    if (L->cfg.stats)
        clock_gettime(CLOCK_MONOTONIC, &L->t0);
}

void live_period_end(live *L)
{
    if (!L->cfg.stats)
        return;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t ns = ns_between(&L->t0, &t1);
    atomic_fetch_add_explicit(&L->periods, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&L->cb_ns, ns, memory_order_relaxed);
    if (ns > atomic_load_explicit(&L->cb_max_ns, memory_order_relaxed))
        atomic_store_explicit(&L->cb_max_ns, ns, memory_order_relaxed);
}

size_t live_midi_pending(live *L)
{
    return ringbuf_read_space(L->midi) / 2;
}

uint64_t live_dropped(live *L)
{
    return atomic_load_explicit(&L->dropped, memory_order_relaxed);
}

void live_get_stats(live *L, live_stats *s)
{
    memset(s, 0, sizeof *s);
    s->results = atomic_load(&L->results);
    s->dropped = atomic_load(&L->dropped);
    s->midi_dropped = atomic_load(&L->midi_dropped);
    s->periods = atomic_load(&L->periods);
    if (s->periods) {
        s->cb_mean_us = (double)atomic_load(&L->cb_ns) / 1e3 / (double)s->periods;
        s->cb_max_us = (double)atomic_load(&L->cb_max_ns) / 1e3;
    }
    if (s->results && L->cfg.stats) {
        s->hop_mean_us = (double)L->busy_ns / 1e3 / (double)s->results;
        s->push_max_us = (double)L->push_max_ns / 1e3;
    }
}
