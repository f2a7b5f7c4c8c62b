/* live: the engine between an audio callback and the outputs of
 * `valar listen`.
 *
 *   audio callback --live_capture--> ringbuf --worker thread--> analyzer
 *        ^                                                         |
 *        +----live_midi_take---- MIDI queue (ringbuf) <------------+--> result_cb
 *
 * The audio side (live_capture, live_midi_take, live_period_*) runs in the
 * real-time thread: it only mixes to mono and copies into and out of
 * lock-free SPSC queues; a full queue is counted as dropped samples, never
 * waited on. The worker thread drains the ring buffer into the analyzer and
 * hands each 500 ms result to the MIDI queue and to result_cb (which may
 * block briefly: it runs on the worker, not in the audio thread). */
#ifndef VALAR_LIVE_H
#define VALAR_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "analyzer.h"
#include "weights.h"

typedef struct {
    int midi;             /* also queue results for live_midi_take */
    int wait_signal;      /* the stream (time 0) starts at the first non-zero sample */
    int stats;            /* time the audio callback and the worker */
    uint64_t max_results; /* publish at most this many results (0 = no limit) */
    analyzer_cb result_cb;
    void *user;
} live_config;

typedef struct {
    uint64_t results;      /* 500 ms results produced */
    uint64_t dropped;      /* samples lost because the ring buffer was full */
    uint64_t midi_dropped; /* results the MIDI queue had no room for */
    /* with stats: */
    uint64_t periods;  /* audio callbacks timed */
    double cb_mean_us; /* audio callback cost per period */
    double cb_max_us;
    double hop_mean_us; /* worker CPU time per 500 ms hop (all pushes / results) */
    double push_max_us; /* CPU time of the longest analyzer_push that produced a result */
} live_stats;

typedef struct live live;

/* rate: the audio callback's sample rate. Allocates everything (ring buffer
 * of a few seconds, analyzer, queues); w may be destroyed afterwards. 0, or
 * what analyzer_create returns, VALAR_ERR_NOMEM; msg says what, *out is
 * NULL on failure. Main thread. */
int live_create(const weights *w, double rate, const live_config *c, live **out, char *msg,
                size_t msglen);
void live_destroy(live *L);
double live_rate(const live *L);

/* Start the worker thread (before the audio callback starts calling in).
 * 0, or VALAR_ERR_THREAD (L is as before: not running). */
int live_start(live *L);
/* Stop and join the worker (after the audio callback has stopped). Samples
 * still queued are analysed first, so no complete segment is lost. */
void live_stop(live *L);

/* --- real-time side: no allocation, locks or system calls --- */

/* nin input channels of n frames each (nin = 0: silence), mixed down to mono
 * by their mean, as valar analyze mixes a file's channels. */
void live_capture(live *L, const float *const *in, int nin, size_t n);
/* The next result for MIDI out: 1 and av = {arousal, valence}, or 0. */
int live_midi_take(live *L, float av[2]);
/* Bracket one audio callback when stats are on (clock_gettime is vDSO). */
void live_period_begin(live *L);
void live_period_end(live *L);

/* Results queued for MIDI that the audio callback has not taken yet. */
size_t live_midi_pending(live *L);
/* Samples dropped so far (any thread). */
uint64_t live_dropped(live *L);
/* All figures; call after live_stop (the worker's own counters are plain). */
void live_get_stats(live *L, live_stats *s);

/* An audio input as valar listen's session drives it, from the main
 * thread: the first member of a backend's state (jackio_io, paio_io). */
enum { LIVE_RATE_CHANGED = 1 }; /* poll: rebuild the engine at rate() */
typedef struct live_io live_io;
struct live_io {
    /* Feed L from the audio callback from now on. 0, or a VALAR_ERR_* code
     * with msg saying why (then not running). */
    int (*start)(live_io *io, live *L, char *msg, size_t msglen);
    /* Afterwards the callback no longer runs. */
    void (*stop)(live_io *io);
    /* Every few tens of ms: 0; LIVE_RATE_CHANGED; or VALAR_ERR_GONE when the
     * server or device went away, msg saying so ("the JACK server shut down
     * (reason)"). May print notes (buffer size changes, connections). */
    int (*poll)(live_io *io, char *msg, size_t msglen);
    /* The sample rate the callback runs at. */
    double (*rate)(live_io *io);
};

#endif
