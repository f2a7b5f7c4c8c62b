/* listen: `valar listen`, the live client: the session around a backend.
 *
 * Threads: the audio callback (JACK or PortAudio) mixes to mono into a ring
 * buffer and writes MIDI; the worker (live.c) runs the analyzer; the output
 * thread (output.c) sends OSC, writes stdout and publishes to the web view
 * (httpview.c, whose HTTP threads serve the viewers); this main thread only
 * waits for signals and polls the backend for shutdown, rate changes and
 * ports to autoconnect. Options are parsed in listen_opts.c; the backends
 * are jackio.c and paio.c. */
#include "listen.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "live.h"
#include "listen_opts.h"
#include "model.h"
#include "modelpath.h"
#include "output.h"
#include "weights.h"
#ifdef VALAR_HAVE_JACK
#include "jackio.h"
#endif
#ifdef VALAR_HAVE_HTTP
#include "httpview.h"
#endif
#ifdef VALAR_HAVE_PORTAUDIO
#include "paio.h"
#endif

enum { EXIT_USAGE = 2, EXIT_LOST = 3 };

#define POLL_MS 50

/* Load the model and check, before any audio is touched, that the live
 * path can use it; errors name the file. */
static weights *load_model(const listen_options *o, char *path, size_t pathlen)
{
    if (o->model) {
        snprintf(path, pathlen, "%s", o->model);
    } else if (modelpath_default("streaming", path, pathlen) < 0) {
        char where[2 * 4096 + 64];
        modelpath_searched(where, sizeof where);
        fprintf(stderr,
                "valar listen: no default streaming model (valar-streaming or "
                "placeholder-streaming.safetensors) in %s; use --model or set VALAR_MODEL_DIR\n",
                where);
        return NULL;
    }
    char msg[1024];
    weights *w;
    if (model_load(path, 1, &w, msg, sizeof msg)) {
        fprintf(stderr, "valar listen: %s\n", msg);
        return NULL;
    }
    if (!o->quiet && model_is_placeholder(w))
        fprintf(stderr,
                "valar listen: note: %s is a placeholder model (random weights, not trained)\n",
                path);
    return w;
}

/* What ended a session (END_RUNNING: nothing yet). */
enum { END_RUNNING, END_SIGNAL, END_FINISHED, END_LOST, END_ERROR };

typedef struct {
    const listen_options *o;
    const weights *w;
    output *out;
    sigset_t sigs;
    int got_signal;
    live *L; /* the engine running now, if any */
    uint64_t results, dropped, xruns, midi_lost;
    live_stats last;
    int have_stats;
    uint64_t drops_said; /* warn_drops */
    time_t drops_said_at;
    char osc_url[600]; /* the output thread keeps a pointer to it */
} app;

/* One opened backend: how the session drives it, whether it sends MIDI. */
typedef struct {
    live_io *io;
    int midi;
} backend;

/* Wait up to ms for SIGINT/SIGTERM; 1 if one came. */
static int wait_signal(app *a, int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    int s = sigtimedwait(&a->sigs, NULL, &t);
    if (s > 0) {
        a->got_signal = s;
        return 1;
    }
    return 0;
}

/* Stop the backend, then the engine (which analyses what is still queued),
 * and add up its figures: several engines per run with --reconnect or rate
 * changes. */
static void stop_engine(app *a, const backend *b)
{
    b->io->stop(b->io);
    if (!a->L)
        return;
    live_stop(a->L);
    live_stats s;
    live_get_stats(a->L, &s);
    a->results += s.results;
    a->dropped += s.dropped;
    a->last = s;
    a->have_stats = 1;
    live_destroy(a->L);
    a->L = NULL;
}

/* A new engine in a->L at the backend's rate, fed by it. 0, or -1 having
 * said why. */
static int start_engine(app *a, const backend *b)
{
    const double rate = b->io->rate(b->io);
    live_config lc = {0};
    lc.midi = b->midi;
    lc.wait_signal = a->o->wait_signal;
    lc.stats = a->o->stats;
    /* --count spans engines (reconnects, rate changes). */
    if (a->o->count > 0)
        lc.max_results =
            (uint64_t)a->o->count > a->results ? (uint64_t)a->o->count - a->results : 1;
    lc.result_cb = output_push;
    lc.user = a->out;
    char msg[512];
    int err = live_create(a->w, rate, &lc, &a->L, msg, sizeof msg);
    if (!err && (err = live_start(a->L)) != 0)
        snprintf(msg, sizeof msg, "%s", valar_strerror(err));
    if (err) {
        fprintf(stderr, "valar listen: at %.0f Hz: %s\n", rate, msg);
        live_destroy(a->L);
        a->L = NULL;
        return -1;
    }
    if (b->io->start(b->io, a->L, msg, sizeof msg)) {
        fprintf(stderr, "valar listen: %s\n", msg);
        stop_engine(a, b);
        return -1;
    }
    return 0;
}

/* At most once a second, when more samples were dropped (all engines). */
static void warn_drops(app *a)
{
    uint64_t d = a->dropped + live_dropped(a->L);
    time_t now = time(NULL);
    if (d != a->drops_said && now != a->drops_said_at) {
        if (!a->o->quiet)
            fprintf(stderr,
                    "valar listen: warning: %llu samples dropped so far (the analysis fell "
                    "behind)\n",
                    (unsigned long long)d);
        a->drops_said = d;
        a->drops_said_at = now;
    }
}

/* The backend's news: END_RUNNING, or why the session ends (said). */
static int poll_backend(app *a, const backend *b)
{
    char msg[512];
    int r = b->io->poll(b->io, msg, sizeof msg);
    if (r == VALAR_ERR_GONE) {
        fprintf(stderr, "valar listen: %s%s\n", msg,
                a->o->reconnect ? "; waiting for it to come back" : "");
        return END_LOST;
    }
    if (r == LIVE_RATE_CHANGED) {
        /* Rebuild the engine at the new rate: a new stream. */
        stop_engine(a, b);
        if (!a->o->quiet)
            fprintf(stderr, "valar listen: sample rate now %.0f Hz; restarting the stream\n",
                    b->io->rate(b->io));
        if (start_engine(a, b))
            return END_ERROR;
    }
    return END_RUNNING;
}

/* The main thread's part of a session, for either backend. */
static int run_session(app *a, const backend *b)
{
    for (;;) {
        if (wait_signal(a, POLL_MS))
            return END_SIGNAL;
        if (output_finished(a->out))
            return END_FINISHED;
        int end = poll_backend(a, b);
        if (end != END_RUNNING)
            return end;
        warn_drops(a);
    }
}

#ifdef VALAR_HAVE_JACK
/* What a new JACK session says: the client, MIDI, and what to connect. */
static void say_jack_session(const listen_options *o, jackio *j, int sessions)
{
    if (o->quiet)
        return;
    const char *me = jackio_client_name(j);
    fprintf(stderr, "valar listen: %sJACK client '%s' at %.0f Hz, %u frames per period\n",
            sessions ? "reconnected: " : "", me, jackio_rate(j), (unsigned)jackio_buffer_size(j));
    if (o->midi)
        fprintf(stderr,
                "valar listen: MIDI out %s:midi_out, channel %d, CC %d arousal, CC %d "
                "valence%s\n",
                me, o->cc.channel, o->cc.cc_arousal, o->cc.cc_valence,
                o->cc.fine14 ? " (14-bit, LSB on CC+32)" : "");
    if (!o->n_connect && !sessions)
        fprintf(stderr,
                "valar listen: no --connect: connect a source to %s:in_1 (and in_2), "
                "e.g. jack_connect PLAYER:out_1 %s:in_1; until then it hears silence\n",
                me, me);
}

/* One JACK session on an open client: END_*. */
static int jack_session(app *a, jackio *j, int sessions)
{
    const backend b = {jackio_io(j), a->o->midi};
    if (start_engine(a, &b))
        return END_ERROR;
    say_jack_session(a->o, j, sessions);
    int end = run_session(a, &b);
    if (end == END_SIGNAL || end == END_FINISHED) {
        /* Let the callback send MIDI for results already made. */
        for (int i = 0; i < 20 && live_midi_pending(a->L); i++) {
            struct timespec t = {0, 10000000L};
            nanosleep(&t, NULL);
        }
    }
    stop_engine(a, &b);
    a->xruns += jackio_xruns(j);
    a->midi_lost += jackio_midi_lost(j);
    return end;
}

/* JACK sessions until one ends for good; with --reconnect a lost or
 * missing server is waited for. *fallback (--backend auto) is set when
 * there is no server at all. */
static int run_jack(app *a, int *fallback)
{
    const listen_options *o = a->o;
    const jackio_config jc = {o->name,      o->server,       o->midi,
                              o->cc,        o->quiet,        o->connect,
                              o->n_connect, o->midi_connect, o->n_midi_connect};
    char msg[512];
    int sessions = 0, waiting_said = 0;
    for (;;) {
        jackio *j;
        int err = jackio_open(&jc, &j, msg, sizeof msg);
        if (err == VALAR_ERR_SERVER && sessions == 0 && !o->reconnect && fallback) {
            *fallback = 1; /* --backend auto: try PortAudio */
            return END_ERROR;
        }
        /* With --reconnect any failure is retried: a server that is just
         * starting or stopping can refuse a client for a moment. */
        if (err && o->reconnect && (err == VALAR_ERR_SERVER || sessions > 0)) {
            if (!waiting_said && !o->quiet)
                fprintf(stderr, "valar listen: waiting for a JACK server...\n");
            waiting_said = 1;
            if (wait_signal(a, 500))
                return END_SIGNAL;
            continue;
        }
        if (err) {
            fprintf(stderr, "valar listen: %s\n", msg);
            return sessions ? END_LOST : END_ERROR;
        }
        int end = jack_session(a, j, sessions++);
        jackio_close(j);
        if (end != END_LOST || !o->reconnect)
            return end;
        waiting_said = 1; /* poll_backend said we wait */
    }
}
#endif

#ifdef VALAR_HAVE_PORTAUDIO
static int run_portaudio(app *a)
{
    paio_config pc = {a->o->device, (double)a->o->rate, (unsigned long)a->o->period};
    char msg[512];
    paio *p;
    if (paio_open(&pc, &p, msg, sizeof msg)) {
        fprintf(stderr, "valar listen: %s\n", msg);
        return END_ERROR;
    }
    const backend b = {paio_io(p), 0};
    if (start_engine(a, &b)) {
        paio_close(p);
        return END_ERROR;
    }
    if (!a->o->quiet)
        fprintf(stderr, "valar listen: PortAudio input '%s', %d channel(s) at %.0f Hz\n",
                paio_device_name(p), paio_channels(p), paio_rate(p));
    int end = run_session(a, &b);
    stop_engine(a, &b);
    paio_close(p);
    return end;
}
#endif

/* JACK, PortAudio or JACK falling back to PortAudio; *jack: whether JACK
 * is what ran. END_*. */
static int run_backend(app *a, int *jack)
{
    const listen_options *o = a->o;
    int backend = o->backend, end = END_ERROR;
#ifdef VALAR_HAVE_JACK
    if (backend != BACKEND_PORTAUDIO) {
        int fallback = 0;
        end = run_jack(a, backend == BACKEND_AUTO ? &fallback : NULL);
        if (fallback) {
#ifdef VALAR_HAVE_PORTAUDIO
            if (!o->quiet)
                fprintf(stderr, "valar listen: no JACK server running; using PortAudio\n");
            backend = BACKEND_PORTAUDIO;
#else
            fprintf(stderr, "valar listen: no JACK server running (and no PortAudio in this "
                            "build; --reconnect waits for a server)\n");
#endif
        }
    }
#endif
#ifdef VALAR_HAVE_PORTAUDIO
    if (backend == BACKEND_PORTAUDIO)
        end = run_portaudio(a);
#endif
    *jack = backend != BACKEND_PORTAUDIO;
    return end;
}

#ifdef VALAR_HAVE_HTTP
/* Start the web view for --http (before the output thread that feeds it).
 * 0 (*web NULL without --http), or the exit status, having said why. */
static int web_open(const listen_options *o, const weights *w, const char *path, httpview **web)
{
    *web = NULL;
    if (!o->http)
        return 0;
    const char *base = strrchr(path, '/');
    httpview_config hc = {0};
    hc.listen = o->http;
    hc.model = base ? base + 1 : path;
    hc.description = weights_meta(w, "description");
    hc.placeholder = model_is_placeholder(w);
    hc.verbose = o->verbose;
    char msg[512];
    int err = httpview_create(&hc, web, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "valar listen: %s\n", msg);
        return err == VALAR_ERR_ADDR ? EXIT_USAGE : 1;
    }
    /* Said even with --quiet: the page is visible to others. */
    if (httpview_public(*web))
        fprintf(stderr,
                "valar listen: warning: the web view listens on %s: anyone who can reach this "
                "machine there can watch\n",
                httpview_bound(*web));
    if (!o->quiet)
        fprintf(stderr, "valar listen: web view at %s (overlay: %s?overlay=1; JSON: %snow)\n",
                httpview_url(*web), httpview_url(*web), httpview_url(*web));
    return 0;
}

/* After the output thread has stopped: stop serving, with a summary. */
static void web_close(httpview *web, int quiet)
{
    if (!web)
        return;
    httpview_stats st;
    httpview_get_stats(web, &st);
    httpview_destroy(web);
    if (!quiet)
        fprintf(stderr,
                "valar listen: web view: %llu viewers (%d at most at once), %llu results "
                "skipped for slow viewers, %llu viewers refused (too many)\n",
                (unsigned long long)st.viewers, st.viewers_peak, (unsigned long long)st.dropped,
                (unsigned long long)st.refused);
}
#endif

/* The outputs: the web view (with --http) and the output thread feeding
 * OSC, stdout and it. 0, or the exit status having said why. */
static int open_outputs(app *a, const char *path, void **web)
{
    const listen_options *o = a->o;
    char msg[512];
    output_config oc = {0};
    oc.osc_url = listen_osc_url(o, a->osc_url, sizeof a->osc_url);
    oc.prefix = o->prefix;
    oc.range01 = o->range01;
    oc.format = o->format;
    oc.count = o->count;
    oc.quiet = o->quiet;
    *web = NULL;
    int err;
#ifdef VALAR_HAVE_HTTP
    err = web_open(o, a->w, path, (httpview **)web);
    if (err)
        return err;
    oc.sink = *web ? httpview_publish : NULL;
    oc.sink_user = *web;
#else
    (void)path;
#endif
    if ((err = output_create(&oc, &a->out, msg, sizeof msg))) {
        fprintf(stderr, "valar listen: %s\n", msg);
#ifdef VALAR_HAVE_HTTP
        web_close(*web, 1);
#endif
        return err == VALAR_ERR_OSC ? EXIT_USAGE : 1;
    }
    if (!o->quiet && oc.osc_url)
        fprintf(stderr, "valar listen: OSC to %s, addresses %s/{arousal,valence,frame}%s\n",
                oc.osc_url, strcmp(o->prefix, "/") == 0 ? "" : o->prefix,
                o->range01 ? ", values 0..1" : "");
    return 0;
}

/* Stop the outputs (what is queued is sent) and say how the run went. */
static int close_outputs(app *a, void *web, int end, int jack)
{
    const listen_options *o = a->o;
    output_stop(a->out);
    const int write_error = output_write_error(a->out);
    const uint64_t out_dropped = output_dropped(a->out), osc_errors = output_osc_errors(a->out);
    output_destroy(a->out);
    if (!o->quiet && end != END_ERROR) {
        const char *why = end == END_SIGNAL     ? strsignal(a->got_signal)
                          : end == END_FINISHED ? "done"
                          : jack                ? "JACK server gone"
                                                : "audio device stopped";
        fprintf(stderr, "valar listen: stopped (%s): %llu results, %llu samples dropped", why,
                (unsigned long long)a->results, (unsigned long long)a->dropped);
        if (jack)
            fprintf(stderr, ", %llu xruns, %llu MIDI events lost", (unsigned long long)a->xruns,
                    (unsigned long long)a->midi_lost);
        /* Only when they happened: a slow receiver or a dead OSC target. */
        if (out_dropped)
            fprintf(stderr, ", %llu results not sent (output queue full)",
                    (unsigned long long)out_dropped);
        if (osc_errors)
            fprintf(stderr, ", %llu results not sent over OSC", (unsigned long long)osc_errors);
        fprintf(stderr, "\n");
    }
#ifdef VALAR_HAVE_HTTP
    web_close(web, o->quiet || end == END_ERROR);
#else
    (void)web;
#endif
    if (o->stats && a->have_stats) {
        /* To stderr like the other notes, but not silenced by --quiet. */
        fprintf(stderr,
                "valar listen: stats: callback %.2f us mean, %.2f us max per period (%llu "
                "periods); worker %.1f us per 500 ms hop, %.1f us max push; %llu samples "
                "dropped\n",
                a->last.cb_mean_us, a->last.cb_max_us, (unsigned long long)a->last.periods,
                a->last.hop_mean_us, a->last.push_max_us, (unsigned long long)a->dropped);
    }
    return write_error;
}

/* Backends this build lacks, and --list-devices. -1 to go on, else the
 * exit status. */
static int check_build(listen_options *o)
{
#ifdef VALAR_HAVE_JACK
    jackio_init(o->verbose);
#else
    if (o->backend == BACKEND_JACK || o->n_connect || o->reconnect) {
        fprintf(stderr, "valar listen: built without JACK\n");
        return 1;
    }
    o->backend = BACKEND_PORTAUDIO;
#endif
#ifdef VALAR_HAVE_PORTAUDIO
    paio_init(o->verbose);
    if (o->list_devices) {
        char msg[256];
        if (paio_list_devices(stdout, msg, sizeof msg)) {
            fprintf(stderr, "valar listen: %s\n", msg);
            return 1;
        }
        return 0;
    }
#else
    if (o->backend == BACKEND_PORTAUDIO || o->list_devices || o->device) {
        fprintf(stderr, "valar listen: built without PortAudio\n");
        return 1;
    }
#endif
    return -1;
}

int listen_main(int argc, char **argv)
{
    listen_options o;
    int status = listen_parse(argc, argv, &o);
    if (status)
        return status > 0
                   ? 0
                   : (fprintf(stderr, "(valar listen --help shows all options)\n"), EXIT_USAGE);
    if ((status = check_build(&o)) >= 0)
        return status;
    char path[4096];
    weights *w = load_model(&o, path, sizeof path);
    if (!w)
        return 1;
    /* Every thread started from here on (ours, JACK's, PortAudio's)
     * inherits this mask, so SIGINT/SIGTERM only ever reach sigtimedwait in
     * this thread. A closed stdout pipe shows up as EPIPE instead of
     * killing us. */
    app a = {0};
    a.o = &o;
    a.w = w;
    sigemptyset(&a.sigs);
    sigaddset(&a.sigs, SIGINT);
    sigaddset(&a.sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &a.sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    void *web;
    if ((status = open_outputs(&a, path, &web))) {
        weights_destroy(w);
        return status;
    }
    int jack, end = run_backend(&a, &jack);
    int write_error = close_outputs(&a, web, end, jack);
    weights_destroy(w);
    switch (end) {
    case END_SIGNAL:
        return 0;
    case END_FINISHED:
        return write_error ? 1 : 0;
    case END_LOST:
        return EXIT_LOST;
    default:
        return 1;
    }
}
