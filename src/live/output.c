#include "output.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VALAR_HAVE_OSC
#include <lo/lo.h>
#endif

#define QUEUE 256 /* 2 minutes of results: only a stuck receiver fills it */

struct output {
    output_config cfg;
    pthread_t thread;
    int thread_ok;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    analyzer_result q[QUEUE];
    size_t head, n; /* guarded by lock */
    int stop;       /* guarded by lock */

    atomic_int finished, write_error;
    atomic_uint_fast64_t written, dropped, osc_errors;
#ifdef VALAR_HAVE_OSC
    lo_address addr;
    int osc_failing;
#endif
    char path_a[256], path_v[256], path_f[256];
};

/* Output thread: one result as three OSC messages. */
static void send_osc(output *o, const analyzer_result *r)
{
#ifdef VALAR_HAVE_OSC
    if (!o->addr)
        return;
    float a = r->arousal, v = r->valence;
    if (o->cfg.range01) {
        a = (a + 1.0f) * 0.5f;
        v = (v + 1.0f) * 0.5f;
    }
    int bad = lo_send(o->addr, o->path_a, "f", a) < 0;
    bad |= lo_send(o->addr, o->path_v, "f", v) < 0;
    bad |= lo_send(o->addr, o->path_f, "fff", (float)r->time_s, a, v) < 0;
    if (bad)
        atomic_fetch_add(&o->osc_errors, 1);
    /* Say so when sending starts or stops failing, not on every result. */
    if (bad != o->osc_failing && !o->cfg.quiet) {
        if (bad)
            fprintf(stderr, "valar listen: OSC: cannot send to %s: %s (will keep trying)\n",
                    o->cfg.osc_url, lo_address_errstr(o->addr));
        else
            fprintf(stderr, "valar listen: OSC: sending to %s again\n", o->cfg.osc_url);
    }
    o->osc_failing = bad;
#else
    (void)o;
    (void)r;
#endif
}

/* Output thread: one line on stdout, flushed. */
static void write_stdout(output *o, const analyzer_result *r)
{
    int ok;
    errno = 0;
    if (o->cfg.format == OUTPUT_CSV)
        ok = printf("%.1f,%.6f,%.6f\n", r->time_s, r->arousal, r->valence) > 0;
    else
        ok = printf("{\"time_s\": %.1f, \"arousal\": %.6f, \"valence\": %.6f}\n", r->time_s,
                    r->arousal, r->valence) > 0;
    /* One line per result as it happens, for pipes. */
    if (!ok || fflush(stdout) != 0) {
        if (errno != EPIPE) {
            atomic_store(&o->write_error, errno ? errno : EIO);
            fprintf(stderr, "valar listen: cannot write to stdout: %s\n", strerror(errno));
        }
        atomic_store(&o->finished, 1);
    }
}

/* The output thread. */
static void *run(void *arg)
{
    output *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->n && !o->stop)
            pthread_cond_wait(&o->wake, &o->lock);
        if (!o->n)
            break; /* stop, and everything sent */
        analyzer_result r = o->q[o->head];
        o->head = (o->head + 1) % QUEUE;
        o->n--;
        pthread_mutex_unlock(&o->lock);
        if (!atomic_load(&o->finished)) {
            send_osc(o, &r);
            if (o->cfg.format != OUTPUT_NONE)
                write_stdout(o, &r);
            if (o->cfg.sink)
                o->cfg.sink(o->cfg.sink_user, &r);
            uint64_t w = atomic_fetch_add(&o->written, 1) + 1;
            if (o->cfg.count > 0 && w >= (uint64_t)o->cfg.count)
                atomic_store(&o->finished, 1);
        }
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

static int make_paths(output *o, char *msg, size_t msglen)
{
    const char *p = o->cfg.prefix ? o->cfg.prefix : "/valar";
    size_t n = strlen(p);
    while (n && p[n - 1] == '/')
        n--; /* "/valar/" and "/" work too */
    if ((n && p[0] != '/') || strpbrk(p, " #*,?[]{}") || n > 200) {
        snprintf(msg, msglen,
                 "bad OSC prefix '%s' (must start with '/', no spaces or # * , ? [ ] { })", p);
        return VALAR_ERR_OSC;
    }
    snprintf(o->path_a, sizeof o->path_a, "%.*s/arousal", (int)n, p);
    snprintf(o->path_v, sizeof o->path_v, "%.*s/valence", (int)n, p);
    snprintf(o->path_f, sizeof o->path_f, "%.*s/frame", (int)n, p);
    return 0;
}

int output_create(const output_config *c, output **out, char *msg, size_t msglen)
{
    *out = NULL;
    output *o = calloc(1, sizeof *o);
    if (!o)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "out of memory");
    o->cfg = *c;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->wake, NULL);
    int err = 0;
    if (c->osc_url) {
        err = make_paths(o, msg, msglen);
#ifdef VALAR_HAVE_OSC
        if (!err) {
            int proto_ok = strncmp(c->osc_url, "osc.udp://", 10) == 0 ||
                           strncmp(c->osc_url, "osc.tcp://", 10) == 0 ||
                           strncmp(c->osc_url, "osc.unix://", 11) == 0;
            o->addr = proto_ok ? lo_address_new_from_url(c->osc_url) : NULL;
            if (!o->addr) {
                snprintf(msg, msglen,
                         "bad OSC URL '%s' (expected osc.udp://HOST:PORT, osc.tcp://HOST:PORT "
                         "or osc.unix:///PATH)",
                         c->osc_url);
                err = VALAR_ERR_OSC;
            }
        }
#else
        if (!err) {
            snprintf(msg, msglen,
                     "OSC output not available: valar was built without liblo "
                     "(use --no-osc)");
            err = VALAR_ERR_OSC;
        }
#endif
    }
    if (!err && pthread_create(&o->thread, NULL, run, o) != 0) {
        err = valar_fail(msg, msglen, VALAR_ERR_THREAD, "cannot start the output thread");
    }
    if (err) {
        output_destroy(o);
        return err;
    }
    o->thread_ok = 1;
    if (c->format == OUTPUT_CSV) {
        printf("time_s,arousal,valence\n");
        fflush(stdout);
    }
    *out = o;
    return 0;
}

void output_stop(output *o)
{
    if (!o || !o->thread_ok)
        return;
    pthread_mutex_lock(&o->lock);
    o->stop = 1;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL);
    o->thread_ok = 0;
}

void output_destroy(output *o)
{
    if (!o)
        return;
    output_stop(o);
#ifdef VALAR_HAVE_OSC
    if (o->addr)
        lo_address_free(o->addr);
#endif
    pthread_cond_destroy(&o->wake);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

/* The live worker thread (result_cb): queue r for the output thread. */
void output_push(void *user, const analyzer_result *r)
{
    output *o = user;
    pthread_mutex_lock(&o->lock);
    if (o->n == QUEUE) {
        o->head = (o->head + 1) % QUEUE; /* drop the oldest: stale anyway */
        o->n--;
        atomic_fetch_add(&o->dropped, 1);
    }
    o->q[(o->head + o->n) % QUEUE] = *r;
    o->n++;
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->lock);
}

int output_finished(output *o)
{
    return atomic_load(&o->finished);
}

int output_write_error(output *o)
{
    return atomic_load(&o->write_error);
}

uint64_t output_dropped(output *o)
{
    return atomic_load(&o->dropped);
}

uint64_t output_osc_errors(output *o)
{
    return atomic_load(&o->osc_errors);
}
