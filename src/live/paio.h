/* paio: PortAudio input for `valar listen` when there is no JACK server.
 *
 * Opens an input stream of up to two channels (non-interleaved float) whose
 * callback hands the buffers to live_capture. No MIDI out here: that is
 * JACK's. */
#ifndef VALAR_PAIO_H
#define VALAR_PAIO_H

#include <stddef.h>
#include <stdio.h>

#include "live.h"

typedef struct {
    const char *device;   /* index, or part of the name (case-insensitive); NULL = default */
    double rate;          /* 0 = the device's default rate */
    unsigned long period; /* frames per callback; 0 = PortAudio's choice */
} paio_config;

typedef struct paio paio;

/* verbose: let ALSA print its device-probing messages. */
void paio_init(int verbose);

/* Print the input devices (index, name, host API, channels, default rate).
 * 0, or VALAR_ERR_PORTAUDIO with msg. */
int paio_list_devices(FILE *f, char *msg, size_t msglen);

/* 0, or VALAR_ERR_PORTAUDIO (it could not start), VALAR_ERR_DEVICE (no
 * input device matches), VALAR_ERR_STREAM (the device refused the rate or
 * channels), VALAR_ERR_NOMEM; msg says which, *out is NULL on failure. */
int paio_open(const paio_config *c, paio **out, char *msg, size_t msglen);
void paio_close(paio *p);
double paio_rate(const paio *p);
const char *paio_device_name(const paio *p);
int paio_channels(const paio *p);

/* The stream as the session drives it (live.h), from the main thread:
 *   start  start the stream into L (VALAR_ERR_STREAM: not running);
 *   stop   stop it: the callback no longer runs afterwards;
 *   poll   0 while the stream runs, VALAR_ERR_GONE (msg says why) when it
 *          has stopped by itself (a device unplugged);
 *   rate   paio_rate. */
live_io *paio_io(paio *p);

#endif
