/* jplay: the test's JACK client for `valar listen`.
 *
 * Plays a sound file into output ports out_1..out_C (one per file channel)
 * and records what arrives on a MIDI input port, printing to stdout:
 *     ready                     client active, ports registered
 *     start <frame>             playback began (JACK frame time of sample 0)
 *     done <frame>              the last sample was played
 *     midi <frame> <b0> <b1> <b2>   one MIDI event (hex bytes) at its frame time
 *
 * Deterministic start: it outputs silence until every output port is
 * connected, then plays the file from sample 0 at the start of the next
 * period, so a listener that skips leading silence (valar listen --wait)
 * sees exactly the file's samples. After the end it plays silence until
 * SIGINT/SIGTERM, so the listener can complete its last segment.
 *
 * usage: jplay [-n NAME] [-m] [-l LOOPS] FILE
 *   -m   register a MIDI input port midi_in
 *   -l   play the file LOOPS times back to back (default 1)
 * The file's sample rate must equal the server's. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jack/jack.h>
#include <jack/midiport.h>
#include <sndfile.h>

#define MAX_CH 8
#define MAX_EVENTS 100000

typedef struct {
    jack_nframes_t frame;
    unsigned char b[3];
    int size;
} event;

static jack_client_t *client;
static jack_port_t *out[MAX_CH], *midi_in;
static int channels;
static float *audio; /* interleaved */
static long frames, total, pos;
static atomic_int state; /* 0 waiting, 1 playing, 2 done */
static atomic_uint start_frame, done_frame;
static event events[MAX_EVENTS];
static atomic_int n_events;
static atomic_int gone;
static volatile sig_atomic_t quit;

static int process(jack_nframes_t n, void *arg)
{
    (void)arg;
    float *buf[MAX_CH];
    for (int c = 0; c < channels; c++) {
        buf[c] = jack_port_get_buffer(out[c], n);
        memset(buf[c], 0, n * sizeof(float));
    }
    int st = atomic_load(&state);
    if (st == 0) {
        int all = 1;
        for (int c = 0; c < channels; c++)
            all &= jack_port_connected(out[c]) > 0;
        if (all) {
            atomic_store(&start_frame, jack_last_frame_time(client));
            atomic_store(&state, st = 1);
        }
    }
    if (st == 1) {
        jack_nframes_t i = 0;
        for (; i < n && pos < total; i++, pos++) {
            long f = pos % frames;
            for (int c = 0; c < channels; c++)
                buf[c][i] = audio[f * channels + c];
        }
        if (pos == total) {
            atomic_store(&done_frame, jack_last_frame_time(client) + i);
            atomic_store(&state, 2);
        }
    }
    if (midi_in) {
        void *mb = jack_port_get_buffer(midi_in, n);
        jack_nframes_t k = jack_midi_get_event_count(mb);
        for (jack_nframes_t e = 0; e < k; e++) {
            jack_midi_event_t ev;
            int i = atomic_load(&n_events);
            if (i == MAX_EVENTS || jack_midi_event_get(&ev, mb, e))
                break;
            events[i].frame = jack_last_frame_time(client) + ev.time;
            events[i].size = ev.size < 3 ? (int)ev.size : 3;
            memcpy(events[i].b, ev.buffer, (size_t)events[i].size);
            atomic_store(&n_events, i + 1);
        }
    }
    return 0;
}

static void on_shutdown(void *arg)
{
    (void)arg;
    atomic_store(&gone, 1);
}

static void print_events(int *printed)
{
    for (int n = atomic_load(&n_events); *printed < n; (*printed)++) {
        const event *e = &events[*printed];
        printf("midi %u", e->frame);
        for (int b = 0; b < e->size; b++)
            printf(" %02x", e->b[b]);
        printf("\n");
    }
}

static void on_signal(int s)
{
    (void)s;
    quit = 1;
}

int main(int argc, char **argv)
{
    const char *name = "jplay";
    int midi = 0, loops = 1, c;
    while ((c = getopt(argc, argv, "n:ml:")) != -1) {
        if (c == 'n')
            name = optarg;
        else if (c == 'm')
            midi = 1;
        else if (c == 'l')
            loops = atoi(optarg);
        else
            return 2;
    }
    if (optind != argc - 1 || loops < 1) {
        fprintf(stderr, "usage: jplay [-n NAME] [-m] [-l LOOPS] FILE\n");
        return 2;
    }
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(argv[optind], SFM_READ, &info);
    if (!sf || info.channels < 1 || info.channels > MAX_CH) {
        fprintf(stderr, "jplay: %s: cannot read\n", argv[optind]);
        return 1;
    }
    channels = info.channels;
    frames = (long)info.frames;
    total = frames * loops;
    audio = malloc(sizeof(float) * (size_t)frames * (size_t)channels);
    if (!audio || sf_readf_float(sf, audio, frames) != frames) {
        fprintf(stderr, "jplay: %s: short read\n", argv[optind]);
        return 1;
    }
    sf_close(sf);

    jack_status_t st;
    client = jack_client_open(name, JackNoStartServer | JackUseExactName, &st);
    if (!client) {
        fprintf(stderr, "jplay: cannot open JACK client (status 0x%x)\n", (unsigned)st);
        return 1;
    }
    if ((int)jack_get_sample_rate(client) != info.samplerate) {
        fprintf(stderr, "jplay: file rate %d != JACK rate %u\n", info.samplerate,
                (unsigned)jack_get_sample_rate(client));
        return 1;
    }
    for (int i = 0; i < channels; i++) {
        char pn[32];
        snprintf(pn, sizeof pn, "out_%d", i + 1);
        out[i] = jack_port_register(client, pn, JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
        if (!out[i])
            return 1;
    }
    if (midi && !(midi_in = jack_port_register(client, "midi_in", JACK_DEFAULT_MIDI_TYPE,
                                               JackPortIsInput, 0)))
        return 1;
    jack_set_process_callback(client, process, NULL);
    jack_on_shutdown(client, on_shutdown, NULL);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (jack_activate(client)) {
        fprintf(stderr, "jplay: cannot activate\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    int printed = 0, said = 0;
    while (!quit && !atomic_load(&gone)) {
        struct timespec t = {0, 5000000};
        nanosleep(&t, NULL);
        int s = atomic_load(&state);
        if (s >= 1 && said < 1) {
            printf("start %u\n", atomic_load(&start_frame));
            said = 1;
        }
        if (s == 2 && said < 2) {
            printf("done %u\n", atomic_load(&done_frame));
            said = 2;
        }
        print_events(&printed);
        fflush(stdout);
    }
    if (!atomic_load(&gone)) {
        jack_deactivate(client);
        jack_client_close(client);
    }
    print_events(&printed);
    free(audio);
    return 0;
}
