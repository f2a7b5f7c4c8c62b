/* listen_opts: the command line of `valar listen` (options in optparse.h's
 * table form, the help text, and the checks across options). */
#ifndef VALAR_LISTEN_OPTS_H
#define VALAR_LISTEN_OPTS_H

#include "midicc.h"

enum { BACKEND_AUTO, BACKEND_JACK, BACKEND_PORTAUDIO };

#define LISTEN_MAX_CONNECT 64

typedef struct {
    const char *model;
    int backend;
    int wait_signal;
    long count;
    int quiet, stats, verbose;
    /* JACK */
    const char *name, *server;
    const char *connect[LISTEN_MAX_CONNECT];
    int n_connect;
    const char *midi_connect[LISTEN_MAX_CONNECT];
    int n_midi_connect;
    int reconnect, midi;
    midicc_config cc;
    /* PortAudio */
    const char *device;
    long rate;
    long period;
    int list_devices;
    /* OSC and stdout */
    const char *osc_url, *osc_host;
    long osc_port;
    const char *prefix;
    int osc, osc_tcp, range01, format;
    const char *http; /* --http [ADDR:]PORT, or NULL */
} listen_options;

/* argv[0] is "listen". 0 to go on; 1 after --help (printed); -1 after a
 * usage error (said on stderr, naming the option). */
int listen_parse(int argc, char **argv, listen_options *o);

/* The OSC destination URL the options ask for (--osc-url, or made of
 * --osc-host/--osc-port/--osc-tcp) into buf; NULL without OSC. */
const char *listen_osc_url(const listen_options *o, char *buf, size_t len);

#endif
