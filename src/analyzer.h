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

enum {
    ANALYZER_ERR_NOMEM = -30,
    ANALYZER_ERR_KIND = -31, /* the model is not a streaming model */
    ANALYZER_ERR_ARG = -32,
};

typedef struct {
    double time_s;  /* start of the segment in the input stream, seconds */
    float arousal;  /* -1 .. 1 */
    float valence;  /* -1 .. 1 */
} analyzer_result;

typedef void (*analyzer_cb)(void *user, const analyzer_result *r);

typedef struct analyzer analyzer;

const char *analyzer_strerror(int err);

/* Returns 0, or a negative code (ANALYZER_ERR_*, WEIGHTS_ERR_*, MELSPEC_ERR_*)
 * with a message. w may be destroyed afterwards. */
int analyzer_create(const weights *w, double input_rate, analyzer **out, char *msg,
                    size_t msglen);
void analyzer_destroy(analyzer *a);
/* Start a new stream: time back to 0, features and GRU state cleared.
 * Allocates when the input is resampled (see melspec_reset): not for run(). */
void analyzer_reset(analyzer *a);
double analyzer_input_rate(const analyzer *a);

/* Push n mono samples; cb (may be NULL) is called for each completed
 * segment, in order. Returns the number of results produced. */
int analyzer_push(analyzer *a, const float *mono, size_t n, analyzer_cb cb, void *user);
/* Same for interleaved frames of `channels` channels (mixed down by mean). */
int analyzer_push_interleaved(analyzer *a, const float *x, size_t frames, int channels,
                              analyzer_cb cb, void *user);
/* End of stream: flush the resampler and report the remaining complete
 * segments. */
int analyzer_finish(analyzer *a, analyzer_cb cb, void *user);

#endif
