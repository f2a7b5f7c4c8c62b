#include "tpool.h"

#include <pthread.h>
#include <stdlib.h>

struct tpool {
    int n;         /* threads including the caller */
    pthread_t *th; /* n - 1 workers */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    long gen; /* bumped for each tpool_run */
    int quit;
    tpool_fn fn;
    void *ctx;
    int njobs, next, busy;
};

/* Claims and runs jobs until none are left; called with mu held. */
static void work(tpool *p)
{
    while (p->next < p->njobs) {
        int i = p->next++;
        tpool_fn fn = p->fn;
        void *ctx = p->ctx;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, i);
        pthread_mutex_lock(&p->mu);
        p->busy--;
    }
}

/* A pool thread: runs jobs of each tpool_run until tpool_destroy. */
static void *worker(void *arg)
{
    tpool *p = arg;
    long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->gen == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        work(p);
        if (p->busy == 0)
            pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

tpool *tpool_create(int nthreads)
{
    tpool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = nthreads < 1 ? 1 : nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->n > 1) {
        p->th = calloc((size_t)p->n - 1, sizeof *p->th);
        if (!p->th) {
            tpool_destroy(p);
            return NULL;
        }
        for (int i = 0; i < p->n - 1; i++) {
            if (pthread_create(&p->th[i], NULL, worker, p) != 0) {
                p->n = i + 1; /* join the ones that started */
                tpool_destroy(p);
                return NULL;
            }
        }
    }
    return p;
}

void tpool_destroy(tpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    if (p->th)
        for (int i = 0; i < p->n - 1; i++)
            pthread_join(p->th[i], NULL);
    free(p->th);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void tpool_run(tpool *p, int njobs, tpool_fn fn, void *ctx)
{
    if (!p || p->n <= 1 || njobs <= 1) {
        for (int i = 0; i < njobs; i++)
            fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->njobs = njobs;
    p->next = 0;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    work(p);
    while (p->busy > 0 || p->next < p->njobs)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
