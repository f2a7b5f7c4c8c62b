#include "batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offline.h"

#define WINDOW_PER_THREAD 16
#define TICK_NS 100000000L /* caller wakes up at least every 100 ms */

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE };

typedef struct {
    int state;
    size_t index;
    int err;
    char msg[1024];
    analyzer_result *r;
    size_t n;
    double duration_s;
} slot;

struct batch {
    const weights *w;
    pthread_t *th;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t work; /* workers: a file may be started, or quit */
    pthread_cond_t done; /* caller: a file is done */
    slot *slots;
    size_t window, pending; /* slots not free */
    /* The run in progress. */
    const char *const *paths;
    size_t n, next, deliver; /* next to start; next to deliver (ordered) */
    int ordered, running, halt, quit;
};

/* Worker thread, b->mu held: a slot for the next file, or NULL if none may
 * start. In
 * order, file i goes to slot i % window, free once file i - window is out. */
static slot *claim(batch *b)
{
    if (!b->running || b->halt || b->next >= b->n)
        return NULL;
    slot *s = NULL;
    if (b->ordered) {
        s = &b->slots[b->next % b->window];
        if (s->state != SLOT_FREE)
            return NULL;
    } else {
        for (size_t i = 0; !s && i < b->window; i++)
            if (b->slots[i].state == SLOT_FREE)
                s = &b->slots[i];
        if (!s)
            return NULL;
    }
    s->state = SLOT_BUSY;
    s->index = b->next++;
    b->pending++;
    return s;
}

/* Worker thread: analyse files until batch_destroy. */
static void *worker(void *arg)
{
    batch *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        slot *s = NULL;
        while (!b->quit && !(s = claim(b)))
            pthread_cond_wait(&b->work, &b->mu);
        if (b->quit)
            break;
        const char *path = b->paths[s->index];
        pthread_mutex_unlock(&b->mu);
        s->msg[0] = '\0';
        s->err =
            offline_analyze_file(path, b->w, &s->r, &s->n, &s->duration_s, s->msg, sizeof s->msg);
        pthread_mutex_lock(&b->mu);
        s->state = SLOT_DONE;
        pthread_cond_signal(&b->done);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int batch_create(const weights *w, int nthreads, batch **out)
{
    *out = NULL;
    if (nthreads < 1)
        nthreads = 1;
    batch *b = calloc(1, sizeof *b);
    if (!b)
        return VALAR_ERR_NOMEM;
    b->w = w;
    b->window = (size_t)nthreads * WINDOW_PER_THREAD;
    b->slots = calloc(b->window, sizeof *b->slots);
    b->th = calloc((size_t)nthreads, sizeof *b->th);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->done, &ca);
    pthread_condattr_destroy(&ca);
    if (!b->slots || !b->th) {
        batch_destroy(b);
        return VALAR_ERR_NOMEM;
    }
    /* Workers block every signal: handlers run on the caller's thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = 0;
    for (; b->nthreads < nthreads && !err; b->nthreads += !err)
        err = pthread_create(&b->th[b->nthreads], NULL, worker, b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        batch_destroy(b);
        return VALAR_ERR_THREAD;
    }
    *out = b;
    return 0;
}

void batch_destroy(batch *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->nthreads; i++)
        pthread_join(b->th[i], NULL);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->done);
    pthread_mutex_destroy(&b->mu);
    free(b->th);
    free(b->slots);
    free(b);
}

/* With b->mu held: a finished slot that may be delivered now, or NULL. */
static slot *ready(batch *b)
{
    if (b->ordered) {
        slot *s = &b->slots[b->deliver % b->window];
        return s->state == SLOT_DONE && s->index == b->deliver ? s : NULL;
    }
    for (size_t i = 0; i < b->window; i++)
        if (b->slots[i].state == SLOT_DONE)
            return &b->slots[i];
    return NULL;
}

/* Caller's thread, b->mu held: hand one finished file to fn (unless the run
 * already failed) and free its slot. */
static void deliver(batch *b, slot *s, int *result, batch_fn fn, void *user)
{
    pthread_mutex_unlock(&b->mu);
    if (*result >= 0) {
        batch_item it = {s->index, b->paths[s->index], s->err, s->msg, s->r, s->n, s->duration_s};
        if (fn(user, &it))
            *result = -1;
    }
    free(s->r);
    s->r = NULL;
    pthread_mutex_lock(&b->mu);
    if (*result < 0)
        b->halt = 1;
    s->state = SLOT_FREE;
    b->pending--;
    b->deliver++;
    pthread_cond_broadcast(&b->work);
}

int batch_run(batch *b, const char *const *paths, size_t n, int ordered,
              const volatile sig_atomic_t *stop, batch_fn fn, batch_tick_fn tick, void *user)
{
    int result = 0;
    pthread_mutex_lock(&b->mu);
    b->paths = paths;
    b->n = n;
    b->next = b->deliver = 0;
    b->ordered = ordered;
    b->halt = 0;
    b->running = 1;
    pthread_cond_broadcast(&b->work);
    for (;;) {
        if (stop && *stop && !b->halt) {
            b->halt = 1; /* finish what is in flight, start nothing new */
            result = result ? result : 1;
        }
        slot *s = ready(b);
        if (s) {
            deliver(b, s, &result, fn, user);
        } else if (b->pending == 0 && (b->halt || b->next >= b->n)) {
            break;
        } else {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            t.tv_nsec += TICK_NS;
            if (t.tv_nsec >= 1000000000L) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&b->done, &b->mu, &t);
        }
        if (tick) {
            pthread_mutex_unlock(&b->mu);
            tick(user);
            pthread_mutex_lock(&b->mu);
        }
    }
    b->running = 0;
    pthread_mutex_unlock(&b->mu);
    return result;
}
