/* batch: analyse many files at once on worker threads (valar analyze -j N).
 *
 * Each of nthreads workers runs offline_analyze_file on the next file not
 * yet taken. The thread that calls batch_run receives every file's results
 * through a callback, in input order, or with `ordered` 0 as soon as each
 * file is done, and does all the output. At most a window of files (16 per
 * thread) is in flight or waiting for an earlier one, so memory stays
 * bounded when one file is much longer than the rest. A file's failure is
 * delivered like a result (with its message) and does not stop the others. */
#ifndef VALAR_BATCH_H
#define VALAR_BATCH_H

#include <signal.h>
#include <stddef.h>
#include "analyzer.h"
#include "weights.h"

typedef struct {
    size_t index; /* position in the list given to batch_run */
    const char *path;
    int err;                  /* 0, or offline_analyze_file's VALAR_ERR_* code */
    const char *msg;          /* a message naming the file: why it failed, or (err 0) why
                                 only part of it was analysed (damaged audio); else "" */
    const analyzer_result *r; /* n results, valid during the callback */
    size_t n;
    double duration_s; /* audio decoded, seconds */
} batch_item;

/* Caller's thread. Nonzero ends the run (e.g. the output cannot be written):
 * no file is started any more and those in flight are not delivered. */
typedef int (*batch_fn)(void *user, const batch_item *it);
/* Caller's thread, about ten times a second while it waits (progress). */
typedef void (*batch_tick_fn)(void *user);

typedef struct batch batch;

/* w must outlive the batch. Starts the threads. 0, or VALAR_ERR_NOMEM,
 * VALAR_ERR_THREAD (*out NULL, no thread left running). */
int batch_create(const weights *w, int nthreads, batch **out);
void batch_destroy(batch *b);
/* Analyse paths[0..n). Once *stop (a signal handler's flag; may be NULL) is
 * nonzero, no file is started; those in flight are finished and delivered
 * (in order), then batch_run returns 1. Returns 0 when every file was
 * delivered, -1 when fn ended the run. tick may be NULL. */
int batch_run(batch *b, const char *const *paths, size_t n, int ordered,
              const volatile sig_atomic_t *stop, batch_fn fn, batch_tick_fn tick, void *user);

#endif
