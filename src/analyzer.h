/* analyzer: the streaming engine shared by `valar listen`, the LV2 plugin
 * and `valar analyze --streaming`.
 *
 * Push mono (or interleaved) samples at any block size and any input rate;
 * every completed 500 ms segment of input runs one melspec frame and one
 * crnn_step and is reported through a callback. Needs a streaming model.
 * All memory is allocated in analyzer_create: analyzer_push never allocates,
 * locks or does I/O, so it may run in an LV2 run() if the step is cheap
 * enough, or on a worker thread. */
#ifndef VALAR_ANALYZER_H
#define VALAR_ANALYZER_H

#include <stddef.h>
#include "weights.h"

typedef struct {
    double time_s;  /* start of the segment in the input stream, seconds */
    float arousal;  /* -1 .. 1 */
    float valence;  /* -1 .. 1 */
} analyzer_result;

typedef void (*analyzer_cb)(void *user, const analyzer_result *r);

typedef struct analyzer analyzer;

/* w may be destroyed afterwards. 0, or VALAR_ERR_ARG (no weights, a rate
 * that is not a positive number), VALAR_ERR_KIND (an offline model),
 * VALAR_ERR_RATE or VALAR_ERR_RESAMPLE (input_rate), VALAR_ERR_NOMEM, or
 * what crnn_create and melspec_config_read/check return for a bad model;
 * msg says what is wrong (not naming the file: the caller knows it), *out
 * is NULL on failure. Not real-time safe; any thread. */
int analyzer_create(const weights *w, double input_rate, analyzer **out, char *msg,
                    size_t msglen);
void analyzer_destroy(analyzer *a);
/* Start a new stream: time back to 0, features and GRU state cleared.
 * Allocates when the input is resampled (see melspec_reset): not for run()
 * (the plugin's worker thread resets a spare). */
void analyzer_reset(analyzer *a);
double analyzer_input_rate(const analyzer *a);

/* Push n mono samples; cb (may be NULL) is called for each completed
 * segment, in order, on the caller's thread. Real-time safe: runs in the
 * LV2 plugin's run() (audio thread) and on valar listen's worker thread.
 * Returns the number of results produced, or VALAR_ERR_ARG (nothing done). */
int analyzer_push(analyzer *a, const float *mono, size_t n, analyzer_cb cb, void *user);
/* Same for interleaved frames of `channels` channels (mixed down by mean);
 * VALAR_ERR_ARG also for channels < 1. */
int analyzer_push_interleaved(analyzer *a, const float *x, size_t frames, int channels,
                              analyzer_cb cb, void *user);
/* End of stream: finish a spread step in flight, flush the resampler and
 * report the remaining complete segments. Returns their number, or
 * VALAR_ERR_ARG. */
int analyzer_finish(analyzer *a, analyzer_cb cb, void *user);

/* Spread each 500 ms step over the input that follows, so that no push of
 * up to `frames` samples does more than one piece of it (the LV2 plugin's
 * run(), where a whole step could take too much of a short period): the
 * segment's mel filterbank and log and the network's first slice
 * (crnn_step_begin, crnn_step_slice) come `frames` input samples after the
 * push that completed the segment, each further slice `frames` samples
 * later. When the input is resampled and frames is under the resampler's
 * chunk (melspec_chunk: 256), the feature work is staged too
 * (melspec_set_staged): a chunk's output goes into the STFT `frames`
 * samples after the resampler call, the segment completing there, and a
 * slice that would come within `frames` samples after either waits
 * `frames` more; with frames dividing the chunk, a push of up to `frames`
 * samples thus carries at most one of resampler call, STFT frames and
 * slice. The results are bit for bit those of whole steps, each reported
 * analyzer_delay() input samples later, in the push that reaches that
 * point (or in analyzer_finish). A segment that completes with a step
 * still in flight (not with the shipped models: that needs slices x frames
 * > 500 ms) first finishes that one at once. frames = 0, the default:
 * whole steps in the push that completes the segment (valar listen,
 * valar analyze). Set it before pushing (after create or reset; reset
 * keeps it). 0, or VALAR_ERR_ARG (frames < 0, a step or a chunk's output
 * in flight). Any thread; real-time safe. */
int analyzer_spread(analyzer *a, int frames);
/* The delay spreading adds to every result, in input samples (0 when not
 * spread): slices x frames, and staged one more `frames` for the STFT plus
 * the waits (the shipped model at 32: 160 when resampling, 128 at the
 * model's rate; a 32-wide one 384 and 288). The same for every segment. */
long analyzer_delay(const analyzer *a);

#endif
