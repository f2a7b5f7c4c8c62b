/* jackio: the JACK side of `valar listen`.
 *
 * A client with audio inputs in_1, in_2 and a MIDI output midi_out. The
 * process callback mixes the connected inputs to mono into the live engine
 * and writes pending results as control changes (midicc) at the start of
 * the period. Everything else (autoconnect, reporting buffer-size changes,
 * xruns and server shutdown) happens on the caller's thread in jackio_poll. */
#ifndef VALAR_JACKIO_H
#define VALAR_JACKIO_H

#include <stddef.h>
#include <stdint.h>

#include "live.h"
#include "midicc.h"

typedef struct {
    const char *name;   /* client name */
    const char *server; /* NULL: $JACK_DEFAULT_SERVER or "default" */
    int midi;           /* register midi_out */
    midicc_config cc;
    int quiet;
    /* Sources for in_1/in_2: full port names, or client names meaning all
     * of that client's audio outputs. The i-th port found goes to
     * in_(i mod 2 + 1). Retried whenever ports appear. */
    const char *const *connect;
    int n_connect;
    /* MIDI inputs (or clients) to connect midi_out to. */
    const char *const *midi_connect;
    int n_midi_connect;
} jackio_config;

typedef struct jackio jackio;

/* Once, before anything else: route libjack's messages (also those of
 * PortAudio's JACK host API) through our handlers, which print errors only
 * with verbose >= 1 and info with verbose >= 2. */
void jackio_init(int verbose);

/* Open the client (never starts a server). 0, or VALAR_ERR_SERVER (no
 * server runs), VALAR_ERR_CLIENT (the server refused the client, its name or
 * a port), VALAR_ERR_NOMEM; msg says which, *out is NULL on failure. Main
 * thread. */
int jackio_open(const jackio_config *c, jackio **out, char *msg, size_t msglen);
void jackio_close(jackio *j);
double jackio_rate(jackio *j);
uint32_t jackio_buffer_size(jackio *j);
const char *jackio_client_name(jackio *j);

/* The client as the session drives it (live.h), from the main thread:
 *   start  activate with this engine and make the --connect connections
 *          (VALAR_ERR_CLIENT: still inactive);
 *   stop   deactivate: the callback no longer runs afterwards;
 *   poll   housekeeping: autoconnect ports that appeared, note buffer size
 *          changes; VALAR_ERR_GONE (the server shut down, and its reason)
 *          or LIVE_RATE_CHANGED;
 *   rate   jackio_rate. */
live_io *jackio_io(jackio *j);

/* MIDI events the port buffer had no room for, and xruns reported. */
uint64_t jackio_midi_lost(jackio *j);
uint64_t jackio_xruns(jackio *j);

#endif
