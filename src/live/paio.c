#include "paio.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <portaudio.h>
#ifdef VALAR_HAVE_ALSA
#include <alsa/asoundlib.h>

/* ALSA prints a page of "cannot find card" lines while PortAudio probes
 * devices on a machine without sound cards; our own messages suffice. */
static void alsa_quiet(const char *file, int line, const char *fn, int err, const char *fmt, ...)
{
    (void)file;
    (void)line;
    (void)fn;
    (void)err;
    (void)fmt;
}
#endif

#include "rtcheck.h"

struct paio {
    live_io io; /* first: the session's view (paio_io) */
    PaStream *stream;
    int channels;
    double rate;
    char name[256];
    live *L;
    int running;
};

/* PortAudio's audio thread: the input into the live engine, nothing else. */
static int callback(const void *input, void *output, unsigned long frames,
                    const PaStreamCallbackTimeInfo *time, PaStreamCallbackFlags flags, void *arg)
{
    (void)output;
    (void)time;
    (void)flags;
    paio *p = arg;
    rtcheck_enter();
    live_period_begin(p->L);
    /* Non-interleaved: input is an array of per-channel buffers. */
    live_capture(p->L, (const float *const *)input, input ? p->channels : 0, frames);
    live_period_end(p->L);
    rtcheck_leave();
    return paContinue;
}

static int verbose;

void paio_init(int v)
{
    verbose = v;
}

static int init(char *msg, size_t msglen)
{
#ifdef VALAR_HAVE_ALSA
    if (!verbose)
        snd_lib_error_set_handler(alsa_quiet);
#endif
    PaError e = Pa_Initialize();
    if (e != paNoError) {
        return valar_fail(msg, msglen, VALAR_ERR_PORTAUDIO, "PortAudio: %s", Pa_GetErrorText(e));
    }
    return 0;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

int paio_list_devices(FILE *f, char *msg, size_t msglen)
{
    int err = init(msg, msglen);
    if (err)
        return err;
    int n = Pa_GetDeviceCount(), shown = 0;
    PaDeviceIndex def = Pa_GetDefaultInputDevice();
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
        if (!d || d->maxInputChannels < 1)
            continue;
        const PaHostApiInfo *h = Pa_GetHostApiInfo(d->hostApi);
        fprintf(f, "%3d%s %s  [%s, %d in, %.0f Hz]\n", i, i == def ? "*" : " ", d->name,
                h ? h->name : "?", d->maxInputChannels, d->defaultSampleRate);
        shown++;
    }
    if (!shown)
        fprintf(f, "no PortAudio input devices\n");
    else
        fprintf(f, "(* = default input)\n");
    Pa_Terminate();
    return 0;
}

static PaDeviceIndex find_device(const char *spec, char *msg, size_t msglen)
{
    if (!spec) {
        PaDeviceIndex d = Pa_GetDefaultInputDevice();
        if (d == paNoDevice)
            snprintf(msg, msglen, "PortAudio: no default input device (see --list-devices)");
        return d;
    }
    char *end;
    long idx = strtol(spec, &end, 10);
    int n = Pa_GetDeviceCount();
    if (*spec && !*end) {
        const PaDeviceInfo *d = idx >= 0 && idx < n ? Pa_GetDeviceInfo((PaDeviceIndex)idx) : NULL;
        if (d && d->maxInputChannels > 0)
            return (PaDeviceIndex)idx;
        snprintf(msg, msglen, "PortAudio: no input device %ld (see --list-devices)", idx);
        return paNoDevice;
    }
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
        if (d && d->maxInputChannels > 0 && contains_ci(d->name, spec))
            return i;
    }
    snprintf(msg, msglen, "PortAudio: no input device matching '%s' (see --list-devices)", spec);
    return paNoDevice;
}

/* The session's view (live.h), defined below. */
static int io_start(live_io *io, live *L, char *msg, size_t msglen);
static void io_stop(live_io *io);
static int io_poll(live_io *io, char *msg, size_t msglen);
static double io_rate(live_io *io);

int paio_open(const paio_config *c, paio **out, char *msg, size_t msglen)
{
    *out = NULL;
    int err = init(msg, msglen);
    if (err)
        return err;
    paio *p = calloc(1, sizeof *p);
    if (!p) {
        Pa_Terminate();
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "out of memory");
    }
    p->io = (live_io){io_start, io_stop, io_poll, io_rate};
    PaDeviceIndex dev = find_device(c->device, msg, msglen);
    if (dev == paNoDevice) {
        free(p);
        Pa_Terminate();
        return VALAR_ERR_DEVICE;
    }
    const PaDeviceInfo *d = Pa_GetDeviceInfo(dev);
    p->channels = d->maxInputChannels < 2 ? d->maxInputChannels : 2;
    p->rate = c->rate > 0 ? c->rate : d->defaultSampleRate;
    snprintf(p->name, sizeof p->name, "%s", d->name);
    PaStreamParameters in = {0};
    in.device = dev;
    in.channelCount = p->channels;
    in.sampleFormat = paFloat32 | paNonInterleaved;
    in.suggestedLatency = d->defaultLowInputLatency;
    PaError e =
        Pa_OpenStream(&p->stream, &in, NULL, p->rate,
                      c->period ? c->period : paFramesPerBufferUnspecified, paNoFlag, callback, p);
    if (e != paNoError) {
        snprintf(msg, msglen, "PortAudio: cannot open '%s' at %.0f Hz, %d channel(s): %s", p->name,
                 p->rate, p->channels, Pa_GetErrorText(e));
        free(p);
        Pa_Terminate();
        return VALAR_ERR_STREAM;
    }
    const PaStreamInfo *si = Pa_GetStreamInfo(p->stream);
    if (si && si->sampleRate > 0)
        p->rate = si->sampleRate;
    *out = p;
    return 0;
}

void paio_close(paio *p)
{
    if (!p)
        return;
    io_stop(&p->io);
    Pa_CloseStream(p->stream);
    free(p);
    Pa_Terminate();
}

double paio_rate(const paio *p)
{
    return p->rate;
}

const char *paio_device_name(const paio *p)
{
    return p->name;
}

int paio_channels(const paio *p)
{
    return p->channels;
}

static int io_start(live_io *io, live *L, char *msg, size_t msglen)
{
    paio *p = (paio *)io;
    p->L = L;
    PaError e = Pa_StartStream(p->stream);
    if (e != paNoError) {
        return valar_fail(msg, msglen, VALAR_ERR_STREAM, "PortAudio: cannot start '%s': %s",
                          p->name, Pa_GetErrorText(e));
    }
    p->running = 1;
    return 0;
}

static void io_stop(live_io *io)
{
    paio *p = (paio *)io;
    if (!p->running)
        return;
    Pa_StopStream(p->stream);
    p->running = 0;
}

static int io_poll(live_io *io, char *msg, size_t msglen)
{
    paio *p = (paio *)io;
    if (p->running && Pa_IsStreamActive(p->stream) != 1) {
        return valar_fail(msg, msglen, VALAR_ERR_GONE, "PortAudio stream from '%s' stopped",
                          p->name);
    }
    return 0;
}

static double io_rate(live_io *io)
{
    return paio_rate((paio *)io);
}

live_io *paio_io(paio *p)
{
    return &p->io;
}
