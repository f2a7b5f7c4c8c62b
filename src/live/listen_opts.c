#include "listen_opts.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "optparse.h"
#include "output.h"
#ifdef VALAR_HAVE_HTTP
#include "httpview.h"
#endif

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

/* Words after the options are ports to connect, but `--stdout json` or
 * `-o out.csv` would make a port of the word. */
static int take_ports(int argc, char **argv, listen_options *o)
{
    for (int i = optind; i < argc; i++) {
        const char *dot = strrchr(argv[i], '.');
        if (!strcmp(argv[i], "csv") || !strcmp(argv[i], "json") ||
            (dot && (!strcmp(dot, ".csv") || !strcmp(dot, ".json")))) {
            fprintf(stderr,
                    "valar listen: '%s' is taken as a port to connect; for text output use "
                    "--stdout=csv or --stdout=json (with '=') and redirect it to a file\n",
                    argv[i]);
            return -1;
        }
        if (o->n_connect == LISTEN_MAX_CONNECT) {
            fprintf(stderr, "valar listen: too many ports to connect (at most %d)\n",
                    LISTEN_MAX_CONNECT);
            return -1;
        }
        o->connect[o->n_connect++] = argv[i];
    }
    return 0;
}

/* OSC and web view options against what this build has. */
static int check_outputs(listen_options *o)
{
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
#ifdef VALAR_HAVE_HTTP
    char msg[256];
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
    return 0;
}

/* Options that only one backend has, and the MIDI settings together. */
static int check_backend(const listen_options *o)
{
    char msg[256];
    if (!*o->name) {
        fprintf(stderr, "valar listen: empty client name\n");
        return -1;
    }
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

int listen_parse(int argc, char **argv, listen_options *o)
{
    const opt_def defs[] = {
        {"backend", 'b', OPT_CHOICE, .dst = &o->backend, .lo = BACKEND_AUTO,
         .words = "auto|jack|portaudio", .what = "backend"},
        {"model", 'm', OPT_STRING, .dst = &o->model},
        {"wait", 'w', OPT_FLAG, .dst = &o->wait_signal},
        {"count", 'n', OPT_LONG, .dst = &o->count, .lo = 1, .hi = 1e9},
        {"name", 'N', OPT_STRING, .dst = &o->name},
        {"server", 'S', OPT_STRING, .dst = &o->server},
        {"connect", 'c', OPT_LIST, .dst = o->connect, .dst2 = &o->n_connect,
         .hi = LISTEN_MAX_CONNECT},
        {"midi-connect", 'M', OPT_LIST, .dst = o->midi_connect, .dst2 = &o->n_midi_connect,
         .hi = LISTEN_MAX_CONNECT},
        {"reconnect", 'r', OPT_FLAG, .dst = &o->reconnect},
        {"midi-channel", 0, OPT_INT, .dst = &o->cc.channel, .lo = 1, .hi = 16},
        {"cc-arousal", 0, OPT_INT, .dst = &o->cc.cc_arousal, .lo = 0, .hi = 119},
        {"cc-valence", 0, OPT_INT, .dst = &o->cc.cc_valence, .lo = 0, .hi = 119},
        {"midi-14bit", 0, OPT_FLAG, .dst = &o->cc.fine14},
        {"no-midi", 0, OPT_SET, .dst = &o->midi, .lo = 0},
        {"device", 'd', OPT_STRING, .dst = &o->device},
        {"rate", 0, OPT_LONG, .dst = &o->rate, .lo = 1000, .hi = 1000000},
        {"period", 0, OPT_LONG, .dst = &o->period, .lo = 1, .hi = 65536},
        {"list-devices", 'l', OPT_FLAG, .dst = &o->list_devices},
        {"osc-url", 'u', OPT_STRING, .dst = &o->osc_url},
        {"osc-host", 0, OPT_STRING, .dst = &o->osc_host},
        {"osc-port", 0, OPT_LONG, .dst = &o->osc_port, .lo = 1, .hi = 65535},
        {"osc-tcp", 0, OPT_FLAG, .dst = &o->osc_tcp},
        {"osc-prefix", 'p', OPT_STRING, .dst = &o->prefix},
        {"osc-range", 0, OPT_CHOICE, .dst = &o->range01, .words = "11,-1..1|01,0..1",
         .what = "--osc-range"},
        {"no-osc", 0, OPT_SET, .dst = &o->osc, .lo = 0},
        {"stdout", 'o', OPT_CHOICE, .dst = &o->format, .lo = OUTPUT_CSV, .words = "csv|json",
         .what = "--stdout format", .optional = 1},
        {"stats", 0, OPT_FLAG, .dst = &o->stats},
        {"http", 0, OPT_STRING, .dst = &o->http},
        {"quiet", 'q', OPT_FLAG, .dst = &o->quiet},
        {"verbose", 'v', OPT_COUNT, .dst = &o->verbose},
        {"help", 'h', OPT_HELP, .dst = NULL},
    };
    *o = (listen_options){.name = "valar", .midi = 1, .osc = 1, .prefix = "/valar"};
    midicc_config_default(&o->cc);
    static char me[] = "valar listen"; /* how getopt names us in its messages */
    argv[0] = me;
    optind = 1;
    int r = optparse(me, argc, argv, defs, sizeof defs / sizeof defs[0]);
    if (r > 0)
        usage(stdout);
    if (r)
        return r > 0 ? 1 : -1;
    if (take_ports(argc, argv, o) || check_outputs(o) || check_backend(o))
        return -1;
    return 0;
}

const char *listen_osc_url(const listen_options *o, char *buf, size_t len)
{
    if (!o->osc)
        return NULL;
    if (o->osc_url)
        return o->osc_url;
    snprintf(buf, len, "osc.%s://%s:%ld", o->osc_tcp ? "tcp" : "udp",
             o->osc_host ? o->osc_host : "127.0.0.1", o->osc_port ? o->osc_port : 9000);
    return buf;
}
