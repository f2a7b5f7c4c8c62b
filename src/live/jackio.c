#include "jackio.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jack/jack.h>
#include <jack/midiport.h>

#include "rtcheck.h"

#define N_IN 2

static atomic_int jack_msgs; /* see jack_err */

struct jackio {
    live_io io; /* first: the session's view (jackio_io) */
    jackio_config cfg;
    jack_client_t *client;
    jack_port_t *in[N_IN];
    jack_port_t *midi;
    live *L; /* set while inactive; read by the process callback */
    int active;

    atomic_int gone;      /* jack_on_info_shutdown fired */
    char reason[256];     /* its message, written before gone is set */
    atomic_int ports_new; /* a port appeared: retry --connect */
    atomic_uint rate;     /* latest sample rate / buffer size from JACK */
    atomic_uint bufsize;
    unsigned reported_bufsize;
    atomic_uint_fast64_t xruns, midi_lost;
};

/* --- real-time thread ---------------------------------------------------- */

/* JACK's process thread, once per period. */
static int process(jack_nframes_t n, void *arg)
{
    jackio *j = arg;
    rtcheck_enter();
    live *L = j->L;
    live_period_begin(L);
    /* Only connected inputs count, so a mono source on in_1 alone is not
     * halved by a silent in_2. */
    const float *in[N_IN];
    int nin = 0;
    for (int p = 0; p < N_IN; p++)
        if (jack_port_connected(j->in[p]) > 0)
            in[nin++] = jack_port_get_buffer(j->in[p], n);
    live_capture(L, in, nin, n);
    if (j->midi) {
        void *buf = jack_port_get_buffer(j->midi, n);
        jack_midi_clear_buffer(buf);
        float av[2];
        while (live_midi_take(L, av)) {
            unsigned char msg[4][3];
            int k = midicc_encode(&j->cfg.cc, av[0], av[1], msg);
            for (int i = 0; i < k; i++)
                if (jack_midi_event_write(buf, 0, msg[i], 3) != 0)
                    atomic_fetch_add_explicit(&j->midi_lost, 1, memory_order_relaxed);
        }
    }
    live_period_end(L);
    rtcheck_leave();
    return 0;
}

/* --- notification thread: flags only (these run like signal handlers) ---- */

/* JACK's notification thread, as the ones below: set flags that jackio_poll
 * reads on the main thread. */
static void on_shutdown(jack_status_t code, const char *reason, void *arg)
{
    (void)code;
    jackio *j = arg;
    size_t i = 0;
    for (; reason && reason[i] && i + 1 < sizeof j->reason; i++)
        j->reason[i] = reason[i];
    j->reason[i] = 0;
    atomic_store(&j->gone, 1);
}

static int on_bufsize(jack_nframes_t n, void *arg)
{
    /* live_capture works in fixed chunks, so any size is fine as it is. */
    atomic_store(&((jackio *)arg)->bufsize, n);
    return 0;
}

static int on_rate(jack_nframes_t rate, void *arg)
{
    atomic_store(&((jackio *)arg)->rate, rate);
    return 0;
}

static int on_xrun(void *arg)
{
    atomic_fetch_add(&((jackio *)arg)->xruns, 1);
    return 0;
}

static void on_port(jack_port_id_t id, int registered, void *arg)
{
    (void)id;
    if (registered)
        atomic_store(&((jackio *)arg)->ports_new, 1);
}

/* --- main thread --------------------------------------------------------- */

/* libjack's own messages are noise for a user (a burst of socket errors
 * when the server goes away, "cannot connect" while probing for one): we
 * say what happened ourselves. --verbose shows them, except while probing. */
static int jack_verbose;

/* Whichever thread libjack reports from (the main thread, or its own). */
static void jack_err(const char *m)
{
    if (jack_verbose && atomic_load(&jack_msgs))
        fprintf(stderr, "valar listen: JACK: %s\n", m);
}

static void jack_info(const char *m)
{
    if (jack_verbose > 1)
        fprintf(stderr, "valar listen: JACK: %s\n", m);
}

void jackio_init(int verbose)
{
    jack_verbose = verbose;
    jack_set_error_function(jack_err);
    jack_set_info_function(jack_info);
}

/* The session's view (live.h), defined below. */
static int io_start(live_io *io, live *L, char *msg, size_t msglen);
static void io_stop(live_io *io);
static int io_poll(live_io *io, char *msg, size_t msglen);
static double io_rate(live_io *io);

int jackio_open(const jackio_config *c, jackio **out, char *msg, size_t msglen)
{
    *out = NULL;
    jackio *j = calloc(1, sizeof *j);
    if (!j)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "out of memory");
    j->io = (live_io){io_start, io_stop, io_poll, io_rate};
    j->cfg = *c;
    jack_status_t st = 0;
    jack_options_t opt = JackNoStartServer | (c->server ? JackServerName : 0);
    atomic_store(&jack_msgs, 0);
    j->client = jack_client_open(c->name, opt, &st, c->server);
    if (!j->client) {
        const char *server = c->server ? c->server : getenv("JACK_DEFAULT_SERVER");
        server = server && *server ? server : "default";
        int none = (st & JackServerFailed) != 0;
        snprintf(msg, msglen, "%s (JACK server '%s', status 0x%x)",
                 none                     ? "no JACK server running"
                 : st & JackNameNotUnique ? "client name already taken"
                                          : "the JACK server refused the client",
                 server, (unsigned)st);
        free(j);
        return none ? VALAR_ERR_SERVER : VALAR_ERR_CLIENT;
    }
    atomic_store(&jack_msgs, 1);
    atomic_store(&j->rate, jack_get_sample_rate(j->client));
    atomic_store(&j->bufsize, jack_get_buffer_size(j->client));
    j->reported_bufsize = atomic_load(&j->bufsize);
    static const char *names[N_IN] = {"in_1", "in_2"};
    int err = 0;
    for (int p = 0; p < N_IN && !err; p++) {
        j->in[p] =
            jack_port_register(j->client, names[p], JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
        err = !j->in[p];
    }
    if (!err && c->midi) {
        j->midi =
            jack_port_register(j->client, "midi_out", JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
        err = !j->midi;
    }
    if (!err)
        err = jack_set_process_callback(j->client, process, j) ||
              jack_set_buffer_size_callback(j->client, on_bufsize, j) ||
              jack_set_sample_rate_callback(j->client, on_rate, j) ||
              jack_set_xrun_callback(j->client, on_xrun, j) ||
              jack_set_port_registration_callback(j->client, on_port, j);
    if (err) {
        snprintf(msg, msglen, "cannot register JACK ports and callbacks");
        jackio_close(j);
        return VALAR_ERR_CLIENT;
    }
    jack_on_info_shutdown(j->client, on_shutdown, j);
    *out = j;
    return 0;
}

void jackio_close(jackio *j)
{
    if (!j)
        return;
    io_stop(&j->io);
    if (j->client)
        jack_client_close(j->client);
    free(j);
}

double jackio_rate(jackio *j)
{
    return atomic_load(&j->rate);
}

uint32_t jackio_buffer_size(jackio *j)
{
    return atomic_load(&j->bufsize);
}

const char *jackio_client_name(jackio *j)
{
    return jack_get_client_name(j->client);
}

uint64_t jackio_midi_lost(jackio *j)
{
    return atomic_load(&j->midi_lost);
}

uint64_t jackio_xruns(jackio *j)
{
    return atomic_load(&j->xruns);
}

static int is_mine(jackio *j, const char *port)
{
    const char *me = jack_get_client_name(j->client);
    size_t n = strlen(me);
    return strncmp(port, me, n) == 0 && port[n] == ':';
}

/* Ports named by spec, of this type and direction: the port itself when
 * spec is a full port name ("client:port"; client names cannot contain
 * ':'), else every such port of the client called spec. Returns a
 * jack_free-able list or NULL. */
static const char **resolve(jackio *j, const char *spec, const char *type, unsigned long flags)
{
    const char **all = jack_get_ports(j->client, NULL, type, flags);
    const int port = strchr(spec, ':') != NULL;
    const size_t n = strlen(spec);
    size_t k = 0;
    for (size_t i = 0; all && all[i]; i++) {
        int match =
            port ? strcmp(all[i], spec) == 0 : strncmp(all[i], spec, n) == 0 && all[i][n] == ':';
        if (match && !is_mine(j, all[i]))
            all[k++] = all[i];
    }
    if (all)
        all[k] = NULL;
    if (all && !k) {
        jack_free(all);
        all = NULL;
    }
    return all;
}

static void say_connected(jackio *j, const char *from, const char *to)
{
    if (!j->cfg.quiet)
        fprintf(stderr, "valar listen: connected %s -> %s\n", from, to);
}

/* Make every --connect / --midi-connect connection that is possible now;
 * ones that already exist are left alone. With say_missing, also note each
 * source that is not there yet (once, at start: later ones are retried
 * quietly as ports appear). */
static void autoconnect(jackio *j, int say_missing)
{
    const int say = say_missing && !j->cfg.quiet;
    int idx = 0;
    for (int s = 0; s < j->cfg.n_connect; s++) {
        const char **src = resolve(j, j->cfg.connect[s], JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput);
        if (!src && say)
            fprintf(stderr,
                    "valar listen: note: no audio output port or client '%s' yet; "
                    "will connect when it appears\n",
                    j->cfg.connect[s]);
        for (size_t i = 0; src && src[i]; i++, idx++) {
            jack_port_t *dst = j->in[idx % N_IN];
            if (jack_port_connected_to(dst, src[i]))
                continue;
            if (jack_connect(j->client, src[i], jack_port_name(dst)) == 0)
                say_connected(j, src[i], jack_port_name(dst));
        }
        jack_free(src);
    }
    for (int s = 0; j->midi && s < j->cfg.n_midi_connect; s++) {
        const char **dst =
            resolve(j, j->cfg.midi_connect[s], JACK_DEFAULT_MIDI_TYPE, JackPortIsInput);
        if (!dst && say)
            fprintf(stderr,
                    "valar listen: note: no MIDI input port or client '%s' yet; "
                    "will connect when it appears\n",
                    j->cfg.midi_connect[s]);
        for (size_t i = 0; dst && dst[i]; i++) {
            if (jack_port_connected_to(j->midi, dst[i]))
                continue;
            if (jack_connect(j->client, jack_port_name(j->midi), dst[i]) == 0)
                say_connected(j, jack_port_name(j->midi), dst[i]);
        }
        jack_free(dst);
    }
}

static int io_start(live_io *io, live *L, char *msg, size_t msglen)
{
    jackio *j = (jackio *)io;
    if (j->active)
        return 0;
    j->L = L;
    if (jack_activate(j->client)) {
        return valar_fail(msg, msglen, VALAR_ERR_CLIENT, "cannot activate the JACK client");
    }
    j->active = 1;
    atomic_store(&j->ports_new, 0);
    autoconnect(j, 1);
    return 0;
}

static void io_stop(live_io *io)
{
    jackio *j = (jackio *)io;
    if (!j->active)
        return;
    /* After a shutdown the server is gone; deactivating would only fail. */
    if (!atomic_load(&j->gone))
        jack_deactivate(j->client);
    j->active = 0;
    j->L = NULL;
}

static int io_poll(live_io *io, char *msg, size_t msglen)
{
    jackio *j = (jackio *)io;
    if (atomic_load(&j->gone))
        return valar_fail(msg, msglen, VALAR_ERR_GONE, "the JACK server shut down (%s)",
                          j->reason[0] ? j->reason : "no reason given");
    if (j->L && atomic_load(&j->rate) != (unsigned)live_rate(j->L))
        return LIVE_RATE_CHANGED;
    unsigned bs = atomic_load(&j->bufsize);
    if (bs != j->reported_bufsize) {
        j->reported_bufsize = bs;
        if (!j->cfg.quiet)
            fprintf(stderr, "valar listen: JACK buffer size now %u frames\n", bs);
    }
    if (j->active && atomic_exchange(&j->ports_new, 0))
        autoconnect(j, 0);
    return 0;
}

static double io_rate(live_io *io)
{
    return jackio_rate((jackio *)io);
}

live_io *jackio_io(jackio *j)
{
    return &j->io;
}
