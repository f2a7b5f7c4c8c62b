/* listen: `valar listen`, the live client.
 *
 * Threads: the audio callback (JACK or PortAudio) mixes to mono into a ring
 * buffer and writes MIDI; the worker (live.c) runs the analyzer; the output
 * thread (output.c) sends OSC, writes stdout and publishes to the web view
 * (httpview.c, whose HTTP threads serve the viewers); this main thread only
 * waits for signals and polls the backend for shutdown, rate changes and
 * ports to autoconnect. */
#include "listen.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer.h"
#include "live.h"
#include "midicc.h"
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
enum { BACKEND_AUTO, BACKEND_JACK, BACKEND_PORTAUDIO };

#define MAX_CONNECT 64
#define POLL_MS 50

typedef struct {
    const char *model;
    int backend;
    int wait_signal;
    long count;
    int quiet, stats, verbose;
    /* JACK */
    const char *name, *server;
    const char *connect[MAX_CONNECT];
    int n_connect;
    const char *midi_connect[MAX_CONNECT];
    int n_midi_connect;
    int reconnect, midi;
    midicc_config cc;
    /* PortAudio */
    const char *device;
    double rate;
    long period;
    int list_devices;
    /* OSC and stdout */
    const char *osc_url, *osc_host, *osc_port, *prefix;
    int osc, osc_tcp, range01, format;
    const char *http; /* --http [ADDR:]PORT, or NULL */
} options;

static void usage(FILE *f)
{
    fprintf(
        f, "usage: valar listen [options] [PORT...]\n"
           "\n"
           "Live music emotion recognition: takes audio from JACK (or PortAudio), and every\n"
           "500 ms of audio sends arousal and valence (-1..1) over OSC, as JACK MIDI control\n"
           "changes and, with --stdout, as text. Runs until Ctrl-C (SIGINT) or SIGTERM.\n"
           "\n"
           "Input\n"
           "  -b, --backend B        jack, portaudio or auto (default): JACK when a JACK\n"
           "                         server runs, else PortAudio\n"
           "  -m, --model FILE       streaming weight file (default: the shipped streaming\n"
           "                         model, found like valar analyze --streaming)\n"
           "  -w, --wait             start the stream at the first non-zero sample: time 0 is\n"
           "                         there and the leading digital silence is skipped (then a\n"
           "                         file played through JACK gives exactly the rows of\n"
           "                         valar analyze --streaming FILE)\n"
           "  -n, --count N          exit after N results\n"
           "\n"
           "JACK (audio in on in_1, in_2; MIDI out on midi_out)\n"
           "  -N, --name NAME        client name (default valar)\n"
           "  -S, --server NAME      JACK server (default $JACK_DEFAULT_SERVER or 'default')\n"
           "  -c, --connect PORT     connect PORT to our inputs; PORT is a port name\n"
           "                         (player:out_1) or a client name (player) meaning all its\n"
           "                         audio outputs; the 1st port found goes to in_1, the 2nd to\n"
           "                         in_2, and so on alternating. Repeatable; arguments after\n"
           "                         the options are PORTs too. Retried when ports appear, so\n"
           "                         the player may start later\n"
           "  -M, --midi-connect PORT  connect midi_out to PORT (a MIDI input, or a client)\n"
           "  -r, --reconnect        when the JACK server goes away, wait for it to come back\n"
           "                         and carry on (a new stream: time restarts at 0)\n"
           "      --midi-channel N   MIDI channel 1..16 (default 1)\n"
           "      --cc-arousal N     controller for arousal (default 20)\n"
           "      --cc-valence N     controller for valence (default 21)\n"
           "      --midi-14bit       14-bit values: MSB on the controller, LSB on controller+32\n"
           "                         (controllers 0..31)\n"
           "      --no-midi          no MIDI output port\n"
           "  CC value = round((x + 1) / 2 * 127), 0..127 (14-bit: * 16383); sent at the start\n"
           "  of the first JACK period after the result is ready.\n"
           "  Inputs are mixed to mono by the mean of the connected ones.\n"
           "\n"
           "PortAudio\n"
           "  -d, --device DEV       input device: index or part of the name (default: the\n"
           "                         default input); up to 2 channels are mixed to mono\n"
           "      --rate HZ          sample rate (default: the device's)\n"
           "      --period FRAMES    frames per callback (default: PortAudio's choice)\n"
           "  -l, --list-devices     list input devices and exit\n"
           "\n"
           "OSC (liblo). Messages per result, values -1..1:\n"
           "    PREFIX/arousal f   PREFIX/valence f   PREFIX/frame fff (time_s, arousal, valence)\n"
           "  -u, --osc-url URL      destination (default osc.udp://127.0.0.1:9000);\n"
           "                         also osc.tcp://HOST:PORT, osc.unix:///PATH\n"
           "      --osc-host HOST    destination host (default 127.0.0.1)\n"
           "      --osc-port PORT    destination port (default 9000)\n"
           "      --osc-tcp          TCP instead of UDP\n"
           "  -p, --osc-prefix P     address prefix (default /valar)\n"
           "      --osc-range R      11 = -1..1 (default) or 01 = 0..1, i.e. (x + 1) / 2\n"
           "      --no-osc           no OSC output\n"
           "\n"
           "Web view (libmicrohttpd)\n"
           "      --http [ADDR:]PORT serve a live page (the valence-arousal plane with a 30 s\n"
           "                         trail, curves of the last 5 minutes) and JSON on\n"
           "                         127.0.0.1:PORT, or on ADDR (then anyone who can reach\n"
           "                         it can watch); PORT 0 picks a free one (printed).\n"
           "                         /?overlay=1 is transparent, for OBS browser sources;\n"
           "                         /now, /history?seconds=N: JSON; /events: Server-Sent Events\n"
           "\n"
           "Text\n"
           "  -o, --stdout[=FMT]     also print one line per result: csv (default; header\n"
           "                         time_s,arousal,valence like valar analyze) or json (one\n"
           "                         object per line)\n"
           "      --stats            at exit, print the audio callback's cost per period and\n"
           "                         the worker's cost per 500 ms hop\n"
           "  -q, --quiet            no notes on stderr\n"
           "  -v, --verbose          also show libjack's and ALSA's own messages (twice: more)\n"
           "  -h, --help             this text\n"
           "\n"
           "time_s is the start of the 500 ms segment in the stream (from when valar started\n"
           "listening, or from the first non-zero sample with --wait). Samples the worker\n"
           "could not take in time (ring buffer of 4 s full) are dropped, counted and reported.\n"
           "\n"
           "Exit status: 0 stopped by a signal, --count reached or stdout closed; 1 error\n"
           "(no server or device, bad model, ...); 2 usage; 3 the JACK server shut down or\n"
           "the audio device stopped (without --reconnect).\n");
}

static int parse_long(const char *s, long lo, long hi, const char *what, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "valar listen: %s must be a whole number in %ld..%ld, not '%s'\n", what, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

enum {
    O_MIDI_CHANNEL = 256,
    O_CC_AROUSAL,
    O_CC_VALENCE,
    O_MIDI_14BIT,
    O_NO_MIDI,
    O_RATE,
    O_PERIOD,
    O_OSC_HOST,
    O_OSC_PORT,
    O_OSC_TCP,
    O_OSC_RANGE,
    O_NO_OSC,
    O_STATS,
    O_HTTP,
};

static int add_port(const char **list, int *n, const char *p)
{
    if (*n == MAX_CONNECT) {
        fprintf(stderr, "valar listen: too many ports to connect (at most %d)\n", MAX_CONNECT);
        return -1;
    }
    list[(*n)++] = p;
    return 0;
}

/* 0 ok, 1 done (--help), -1 usage error. */
static int parse(int argc, char **argv, options *o)
{
    static const struct option opts[] = {{"backend", required_argument, 0, 'b'},
                                         {"model", required_argument, 0, 'm'},
                                         {"wait", no_argument, 0, 'w'},
                                         {"count", required_argument, 0, 'n'},
                                         {"name", required_argument, 0, 'N'},
                                         {"server", required_argument, 0, 'S'},
                                         {"connect", required_argument, 0, 'c'},
                                         {"midi-connect", required_argument, 0, 'M'},
                                         {"reconnect", no_argument, 0, 'r'},
                                         {"midi-channel", required_argument, 0, O_MIDI_CHANNEL},
                                         {"cc-arousal", required_argument, 0, O_CC_AROUSAL},
                                         {"cc-valence", required_argument, 0, O_CC_VALENCE},
                                         {"midi-14bit", no_argument, 0, O_MIDI_14BIT},
                                         {"no-midi", no_argument, 0, O_NO_MIDI},
                                         {"device", required_argument, 0, 'd'},
                                         {"rate", required_argument, 0, O_RATE},
                                         {"period", required_argument, 0, O_PERIOD},
                                         {"list-devices", no_argument, 0, 'l'},
                                         {"osc-url", required_argument, 0, 'u'},
                                         {"osc-host", required_argument, 0, O_OSC_HOST},
                                         {"osc-port", required_argument, 0, O_OSC_PORT},
                                         {"osc-tcp", no_argument, 0, O_OSC_TCP},
                                         {"osc-prefix", required_argument, 0, 'p'},
                                         {"osc-range", required_argument, 0, O_OSC_RANGE},
                                         {"no-osc", no_argument, 0, O_NO_OSC},
                                         {"stdout", optional_argument, 0, 'o'},
                                         {"stats", no_argument, 0, O_STATS},
                                         {"http", required_argument, 0, O_HTTP},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->name = "valar";
    o->midi = 1;
    o->osc = 1;
    o->prefix = "/valar";
    midicc_config_default(&o->cc);
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:m:wn:N:S:c:M:rd:lu:p:o::qvh", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (strcmp(optarg, "jack") == 0)
                o->backend = BACKEND_JACK;
            else if (strcmp(optarg, "portaudio") == 0)
                o->backend = BACKEND_PORTAUDIO;
            else if (strcmp(optarg, "auto") == 0)
                o->backend = BACKEND_AUTO;
            else {
                fprintf(stderr, "valar listen: unknown backend '%s' (jack, portaudio or auto)\n",
                        optarg);
                return -1;
            }
            break;
        case 'm':
            o->model = optarg;
            break;
        case 'w':
            o->wait_signal = 1;
            break;
        case 'n':
            if (parse_long(optarg, 1, 1000000000L, "--count", &o->count))
                return -1;
            break;
        case 'N':
            if (!*optarg) {
                fprintf(stderr, "valar listen: empty client name\n");
                return -1;
            }
            o->name = optarg;
            break;
        case 'S':
            o->server = optarg;
            break;
        case 'c':
            if (add_port(o->connect, &o->n_connect, optarg))
                return -1;
            break;
        case 'M':
            if (add_port(o->midi_connect, &o->n_midi_connect, optarg))
                return -1;
            break;
        case 'r':
            o->reconnect = 1;
            break;
        case O_MIDI_CHANNEL:
            if (parse_long(optarg, 1, 16, "--midi-channel", &v))
                return -1;
            o->cc.channel = (int)v;
            break;
        case O_CC_AROUSAL:
        case O_CC_VALENCE:
            if (parse_long(optarg, 0, 119, c == O_CC_AROUSAL ? "--cc-arousal" : "--cc-valence", &v))
                return -1;
            *(c == O_CC_AROUSAL ? &o->cc.cc_arousal : &o->cc.cc_valence) = (int)v;
            break;
        case O_MIDI_14BIT:
            o->cc.fine14 = 1;
            break;
        case O_NO_MIDI:
            o->midi = 0;
            break;
        case 'd':
            o->device = optarg;
            break;
        case O_RATE:
            if (parse_long(optarg, 1000, 1000000, "--rate", &v))
                return -1;
            o->rate = (double)v;
            break;
        case O_PERIOD:
            if (parse_long(optarg, 1, 65536, "--period", &o->period))
                return -1;
            break;
        case 'l':
            o->list_devices = 1;
            break;
        case 'u':
            o->osc_url = optarg;
            break;
        case O_OSC_HOST:
            o->osc_host = optarg;
            break;
        case O_OSC_PORT:
            if (parse_long(optarg, 1, 65535, "--osc-port", &v))
                return -1;
            o->osc_port = optarg;
            break;
        case O_OSC_TCP:
            o->osc_tcp = 1;
            break;
        case 'p':
            o->prefix = optarg;
            break;
        case O_OSC_RANGE:
            if (strcmp(optarg, "01") == 0 || strcmp(optarg, "0..1") == 0)
                o->range01 = 1;
            else if (strcmp(optarg, "11") == 0 || strcmp(optarg, "-1..1") == 0)
                o->range01 = 0;
            else {
                fprintf(stderr, "valar listen: --osc-range is 11 (-1..1) or 01 (0..1), not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case O_NO_OSC:
            o->osc = 0;
            break;
        case 'o':
            if (!optarg || strcmp(optarg, "csv") == 0)
                o->format = OUTPUT_CSV;
            else if (strcmp(optarg, "json") == 0)
                o->format = OUTPUT_JSON;
            else {
                fprintf(stderr, "valar listen: unknown --stdout format '%s' (csv or json)\n",
                        optarg);
                return -1;
            }
            break;
        case O_STATS:
            o->stats = 1;
            break;
        case O_HTTP:
            o->http = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'v':
            o->verbose++;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            return -1;
        }
    }
    for (int i = optind; i < argc; i++) {
        /* `--stdout json` or `-o out.csv` would make a port of the word. */
        const char *dot = strrchr(argv[i], '.');
        if (!strcmp(argv[i], "csv") || !strcmp(argv[i], "json") ||
            (dot && (!strcmp(dot, ".csv") || !strcmp(dot, ".json")))) {
            fprintf(stderr,
                    "valar listen: '%s' is taken as a port to connect; for text output use "
                    "--stdout=csv or --stdout=json (with '=') and redirect it to a file\n",
                    argv[i]);
            return -1;
        }
        if (add_port(o->connect, &o->n_connect, argv[i]))
            return -1;
    }
#ifndef VALAR_HAVE_OSC
    /* Without liblo there is no OSC: off by default, an error if asked for. */
    if (o->osc_url || o->osc_host || o->osc_port || o->osc_tcp || o->range01 ||
        strcmp(o->prefix, "/valar") != 0) {
        fprintf(stderr, "valar listen: OSC output not available: valar was built without liblo\n");
        return -1;
    }
    o->osc = 0;
#endif
    if (o->osc_url && (o->osc_host || o->osc_port || o->osc_tcp)) {
        fprintf(stderr, "valar listen: give either --osc-url or --osc-host/--osc-port/--osc-tcp\n");
        return -1;
    }
    char msg[256];
#ifdef VALAR_HAVE_HTTP
    if (o->http && httpview_check_listen(o->http, msg, sizeof msg)) {
        fprintf(stderr, "valar listen: %s\n", msg);
        return -1;
    }
#else
    if (o->http) {
        fprintf(stderr, "valar listen: --http: valar was built without libmicrohttpd\n");
        return -1;
    }
#endif
    if (midicc_config_check(&o->cc, msg, sizeof msg)) {
        fprintf(stderr, "valar listen: %s\n", msg);
        return -1;
    }
    if (o->backend == BACKEND_PORTAUDIO && (o->n_connect || o->n_midi_connect || o->reconnect)) {
        fprintf(stderr, "valar listen: --connect, --midi-connect and --reconnect are JACK "
                        "options (PortAudio: use --device)\n");
        return -1;
    }
    if (o->backend == BACKEND_JACK && (o->device || o->rate > 0 || o->period)) {
        fprintf(stderr, "valar listen: --device, --rate and --period are PortAudio options "
                        "(JACK: the server sets rate and buffer size)\n");
        return -1;
    }
    return 0;
}

/* Load the model and check, before any audio is touched, that the live
 * path can use it; errors name the file. */
static weights *load_model(const options *o, char *path, size_t pathlen)
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
    const options *o;
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
} app;

/* An audio backend as the session code sees it. */
typedef struct backend_ops backend_ops;
struct backend_ops {
    void *io;
    /* Feed L from the audio callback; msg says why not. */
    int (*start)(void *io, live *L, char *msg, size_t msglen);
    /* Afterwards the callback no longer runs. */
    void (*stop)(void *io);
    /* Every POLL_MS: END_RUNNING, or why the session ends (having said so). */
    int (*poll)(app *a, const backend_ops *b);
};

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
static void stop_engine(app *a, const backend_ops *b)
{
    b->stop(b->io);
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

/* A new engine at rate in a->L, fed by b. 0, or -1 having said why. */
static int start_engine(app *a, const backend_ops *b, double rate, int midi)
{
    live_config lc = {0};
    lc.midi = midi;
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
    if (b->start(b->io, a->L, msg, sizeof msg)) {
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

/* The main thread's part of a session, for either backend. */
static int run_session(app *a, const backend_ops *b)
{
    for (;;) {
        if (wait_signal(a, POLL_MS))
            return END_SIGNAL;
        if (output_finished(a->out))
            return END_FINISHED;
        int end = b->poll(a, b);
        if (end != END_RUNNING)
            return end;
        warn_drops(a);
    }
}

#ifdef VALAR_HAVE_JACK
static int jack_start(void *io, live *L, char *msg, size_t msglen)
{
    return jackio_start(io, L, msg, msglen);
}

static void jack_stop(void *io)
{
    jackio_stop(io);
}

static int jack_poll(app *a, const backend_ops *b)
{
    jackio *j = b->io;
    char msg[512];
    int r = jackio_poll(j, msg, sizeof msg);
    if (r == VALAR_ERR_GONE) {
        fprintf(stderr, "valar listen: the JACK server shut down (%s)%s\n", msg,
                a->o->reconnect ? "; waiting for it to come back" : "");
        return END_LOST;
    }
    if (r == JACKIO_RATE) {
        /* Rebuild the engine at the new rate: a new stream. */
        stop_engine(a, b);
        if (!a->o->quiet)
            fprintf(stderr, "valar listen: sample rate now %.0f Hz; restarting the stream\n",
                    jackio_rate(j));
        if (start_engine(a, b, jackio_rate(j), a->o->midi))
            return END_ERROR;
    }
    return END_RUNNING;
}

static int run_jack(app *a, int *fallback)
{
    const options *o = a->o;
    jackio_config jc = {0};
    jc.name = o->name;
    jc.server = o->server;
    jc.midi = o->midi;
    jc.cc = o->cc;
    jc.quiet = o->quiet;
    jc.connect = o->connect;
    jc.n_connect = o->n_connect;
    jc.midi_connect = o->midi_connect;
    jc.n_midi_connect = o->n_midi_connect;
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
        waiting_said = 0;
        const backend_ops b = {j, jack_start, jack_stop, jack_poll};
        if (start_engine(a, &b, jackio_rate(j), o->midi)) {
            jackio_close(j);
            return END_ERROR;
        }
        if (!o->quiet) {
            fprintf(stderr, "valar listen: %sJACK client '%s' at %.0f Hz, %u frames per period\n",
                    sessions ? "reconnected: " : "", jackio_client_name(j), jackio_rate(j),
                    (unsigned)jackio_buffer_size(j));
            if (o->midi)
                fprintf(stderr,
                        "valar listen: MIDI out %s:midi_out, channel %d, CC %d arousal, CC %d "
                        "valence%s\n",
                        jackio_client_name(j), o->cc.channel, o->cc.cc_arousal, o->cc.cc_valence,
                        o->cc.fine14 ? " (14-bit, LSB on CC+32)" : "");
            if (!o->n_connect && !sessions)
                fprintf(stderr,
                        "valar listen: no --connect: connect a source to %s:in_1 (and in_2), "
                        "e.g. jack_connect PLAYER:out_1 %s:in_1; until then it hears silence\n",
                        jackio_client_name(j), jackio_client_name(j));
        }
        sessions++;
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
        jackio_close(j);
        if (end != END_LOST || !o->reconnect)
            return end;
        waiting_said = 1; /* jack_poll said we wait */
    }
}
#endif

#ifdef VALAR_HAVE_PORTAUDIO
static int pa_start(void *io, live *L, char *msg, size_t msglen)
{
    return paio_start(io, L, msg, msglen);
}

static void pa_stop(void *io)
{
    paio_stop(io);
}

static int pa_poll(app *a, const backend_ops *b)
{
    (void)a;
    char msg[512];
    if (paio_poll(b->io, msg, sizeof msg)) {
        fprintf(stderr, "valar listen: %s\n", msg);
        return END_LOST;
    }
    return END_RUNNING;
}

static int run_portaudio(app *a)
{
    paio_config pc = {a->o->device, a->o->rate, (unsigned long)a->o->period};
    char msg[512];
    paio *p;
    if (paio_open(&pc, &p, msg, sizeof msg)) {
        fprintf(stderr, "valar listen: %s\n", msg);
        return END_ERROR;
    }
    const backend_ops b = {p, pa_start, pa_stop, pa_poll};
    if (start_engine(a, &b, paio_rate(p), 0)) {
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

#ifdef VALAR_HAVE_HTTP
/* Start the web view for --http (before the output thread that feeds it).
 * 0 (*web NULL without --http), or the exit status, having said why. */
static int web_open(const options *o, const weights *w, const char *path, httpview **web)
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

int listen_main(int argc, char **argv)
{
    static char me[] = "valar listen"; /* how getopt names us in its messages */
    argv[0] = me;
    options o;
    int pr = parse(argc, argv, &o);
    if (pr > 0)
        return 0;
    if (pr < 0) {
        fprintf(stderr, "(valar listen --help shows all options)\n");
        return EXIT_USAGE;
    }
#ifdef VALAR_HAVE_JACK
    jackio_init(o.verbose);
#endif
#ifdef VALAR_HAVE_PORTAUDIO
    paio_init(o.verbose);
#endif
#ifndef VALAR_HAVE_JACK
    if (o.backend == BACKEND_JACK || o.n_connect || o.reconnect) {
        fprintf(stderr, "valar listen: built without JACK\n");
        return 1;
    }
    o.backend = BACKEND_PORTAUDIO;
#endif
#ifndef VALAR_HAVE_PORTAUDIO
    if (o.backend == BACKEND_PORTAUDIO || o.list_devices || o.device) {
        fprintf(stderr, "valar listen: built without PortAudio\n");
        return 1;
    }
#endif
#ifdef VALAR_HAVE_PORTAUDIO
    if (o.list_devices) {
        char msg[256];
        if (paio_list_devices(stdout, msg, sizeof msg)) {
            fprintf(stderr, "valar listen: %s\n", msg);
            return 1;
        }
        return 0;
    }
#endif

    char path[4096], url[600];
    weights *w = load_model(&o, path, sizeof path);
    if (!w)
        return 1;

    output_config oc = {0};
    if (o.osc) {
        if (!o.osc_url) {
            snprintf(url, sizeof url, "osc.%s://%s:%s", o.osc_tcp ? "tcp" : "udp",
                     o.osc_host ? o.osc_host : "127.0.0.1", o.osc_port ? o.osc_port : "9000");
            o.osc_url = url;
        }
        oc.osc_url = o.osc_url;
    }
    oc.prefix = o.prefix;
    oc.range01 = o.range01;
    oc.format = o.format;
    oc.count = o.count;
    oc.quiet = o.quiet;

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

#ifdef VALAR_HAVE_HTTP
    httpview *web;
    int web_err = web_open(&o, w, path, &web);
    if (web_err) {
        weights_destroy(w);
        return web_err;
    }
    oc.sink = web ? httpview_publish : NULL;
    oc.sink_user = web;
#endif
    char msg[512];
    int err = output_create(&oc, &a.out, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "valar listen: %s\n", msg);
#ifdef VALAR_HAVE_HTTP
        web_close(web, 1);
#endif
        weights_destroy(w);
        return err == VALAR_ERR_OSC ? EXIT_USAGE : 1;
    }
    if (!o.quiet && o.osc)
        fprintf(stderr, "valar listen: OSC to %s, addresses %s/{arousal,valence,frame}%s\n",
                o.osc_url, strcmp(o.prefix, "/") == 0 ? "" : o.prefix,
                o.range01 ? ", values 0..1" : "");

    int end = END_ERROR;
#ifdef VALAR_HAVE_JACK
    if (o.backend != BACKEND_PORTAUDIO) {
        int fallback = 0;
        end = run_jack(&a, o.backend == BACKEND_AUTO ? &fallback : NULL);
        if (fallback) {
#ifdef VALAR_HAVE_PORTAUDIO
            if (!o.quiet)
                fprintf(stderr, "valar listen: no JACK server running; using PortAudio\n");
            o.backend = BACKEND_PORTAUDIO;
#else
            fprintf(stderr, "valar listen: no JACK server running (and no PortAudio in this "
                            "build; --reconnect waits for a server)\n");
#endif
        }
    }
#endif
#ifdef VALAR_HAVE_PORTAUDIO
    if (o.backend == BACKEND_PORTAUDIO)
        end = run_portaudio(&a);
#endif
    const int jack = o.backend != BACKEND_PORTAUDIO; /* what ran, after any fallback */

    output_stop(a.out); /* sends what is queued */
    const int write_error = output_write_error(a.out);
    const uint64_t out_dropped = output_dropped(a.out), osc_errors = output_osc_errors(a.out);
    output_destroy(a.out);
    if (!o.quiet && end != END_ERROR) {
        const char *why = end == END_SIGNAL     ? strsignal(a.got_signal)
                          : end == END_FINISHED ? "done"
                          : jack                ? "JACK server gone"
                                                : "audio device stopped";
        fprintf(stderr, "valar listen: stopped (%s): %llu results, %llu samples dropped", why,
                (unsigned long long)a.results, (unsigned long long)a.dropped);
        if (jack)
            fprintf(stderr, ", %llu xruns, %llu MIDI events lost", (unsigned long long)a.xruns,
                    (unsigned long long)a.midi_lost);
        /* Only when they happened: a slow receiver or a dead OSC target. */
        if (out_dropped)
            fprintf(stderr, ", %llu results not sent (output queue full)",
                    (unsigned long long)out_dropped);
        if (osc_errors)
            fprintf(stderr, ", %llu results not sent over OSC", (unsigned long long)osc_errors);
        fprintf(stderr, "\n");
    }
#ifdef VALAR_HAVE_HTTP
    web_close(web, o.quiet || end == END_ERROR);
#endif
    if (o.stats && a.have_stats) {
        /* To stderr like the other notes, but not silenced by --quiet. */
        fprintf(stderr,
                "valar listen: stats: callback %.2f us mean, %.2f us max per period (%llu "
                "periods); worker %.1f us per 500 ms hop, %.1f us max push; %llu samples "
                "dropped\n",
                a.last.cb_mean_us, a.last.cb_max_us, (unsigned long long)a.last.periods,
                a.last.hop_mean_us, a.last.push_max_us, (unsigned long long)a.dropped);
    }
    weights_destroy(w);
    if (end == END_FINISHED && write_error)
        return 1;
    switch (end) {
    case END_SIGNAL:
    case END_FINISHED:
        return 0;
    case END_LOST:
        return EXIT_LOST;
    default:
        return 1;
    }
}
