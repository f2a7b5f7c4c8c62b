/* output: where results go, on a thread of its own.
 *
 * The worker hands each result to output_push (a short mutex-protected
 * queue, never the audio thread); the output thread sends it over OSC
 * (liblo allocates and may block on TCP) and writes it to stdout (a pipe may
 * block), so neither can stall the analysis. It then hands the result to
 * an optional sink (the web view: httpview_publish), on the same thread.
 *
 * OSC address space (prefix default "/valar"):
 *   <prefix>/arousal f    arousal
 *   <prefix>/valence f    valence
 *   <prefix>/frame fff    stream time of the segment start (s), arousal, valence
 * Values are -1..1, or 0..1 with range01 ((x + 1) / 2). */
#ifndef VALAR_OUTPUT_H
#define VALAR_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "analyzer.h"

enum { OUTPUT_NONE = 0, OUTPUT_CSV, OUTPUT_JSON };

typedef struct {
    const char *osc_url; /* NULL: no OSC; kept, not copied (messages name it) */
    const char *prefix;  /* "/valar" */
    int range01;
    int format; /* OUTPUT_NONE, OUTPUT_CSV, OUTPUT_JSON lines on stdout */
    long count; /* stop after this many results; 0 = never */
    int quiet;
    analyzer_cb sink; /* also called with each result sent (NULL: none) */
    void *sink_user;
} output_config;

typedef struct output output;

/* Starts the output thread (and writes the CSV header with OUTPUT_CSV). 0,
 * or VALAR_ERR_OSC (bad URL or prefix, or no liblo), VALAR_ERR_THREAD,
 * VALAR_ERR_NOMEM; msg says which, *out is NULL and nothing is written on
 * failure. Main thread. */
int output_create(const output_config *c, output **out, char *msg, size_t msglen);
/* Send what is queued, then end the thread (output_destroy does this too). */
void output_stop(output *o);
void output_destroy(output *o);

/* analyzer_cb-compatible: user is the output. Never blocks for long; when
 * the queue is full the oldest result is dropped and counted. */
void output_push(void *user, const analyzer_result *r);

/* 1 once count results were written, or stdout was closed (EPIPE): time to
 * stop. */
int output_finished(output *o);
/* Non-zero if writing stdout failed for another reason than a closed pipe. */
int output_write_error(output *o);
/* Results the output queue had no room for; OSC sends that failed. */
uint64_t output_dropped(output *o);
uint64_t output_osc_errors(output *o);

#endif
