/* tpool: a fixed set of worker threads that run fn(ctx, i) for i in
 * [0, njobs). Jobs write only their own outputs, so results do not depend on
 * which thread ran which job. */
#ifndef VALAR_TPOOL_H
#define VALAR_TPOOL_H

typedef struct tpool tpool;
typedef void (*tpool_fn)(void *ctx, int i);

/* nthreads <= 1: no threads, tpool_run runs the jobs in the caller. NULL on
 * failure. */
tpool *tpool_create(int nthreads);
void tpool_destroy(tpool *p);
/* Runs all jobs and returns when they are done (the caller works too). */
void tpool_run(tpool *p, int njobs, tpool_fn fn, void *ctx);

#endif
