/* valar_error: the one error space of the valar library and its programs.
 *
 * Every function that can fail returns 0 (VALAR_OK) or one of these
 * negative codes, whatever module it is in; valar_strerror names any of
 * them. Functions that take a message buffer (char *msg, size_t msglen)
 * also fill it, on failure, with one line saying what is wrong and, where
 * there is one, naming the file: that is what users see, the code is what
 * programs test. Each function's comment lists the codes it returns and
 * what state a failure leaves. */
#ifndef VALAR_ERROR_H
#define VALAR_ERROR_H

#include <stddef.h>

enum {
    VALAR_OK = 0,
    /* any module */
    VALAR_ERR_NOMEM = -1,  /* out of memory */
    VALAR_ERR_ARG = -2,    /* invalid argument or setting (a caller's mistake) */
    VALAR_ERR_IO = -3,     /* open, read, write, sync or rename failed */
    VALAR_ERR_THREAD = -4, /* a thread could not be started */
    VALAR_ERR_TOOBIG = -5, /* a file or its header is larger than valar accepts */
    /* weight files (weights.h, and the models crnn.h and melspec.h read) */
    VALAR_ERR_TRUNCATED = -6,  /* file shorter than its header says */
    VALAR_ERR_HEADER = -7,     /* header length absurd, or its JSON invalid */
    VALAR_ERR_OFFSETS = -8,    /* data_offsets out of range, overlapping, or gaps */
    VALAR_ERR_DTYPE = -9,      /* a dtype other than F32 */
    VALAR_ERR_SHAPE = -10,     /* shape invalid, or not the shape the model needs */
    VALAR_ERR_MISSING = -11,   /* a tensor or metadata key is missing */
    VALAR_ERR_NONFINITE = -12, /* NaN or Inf in a tensor */
    VALAR_ERR_VERSION = -13,   /* unknown format name or version */
    VALAR_ERR_META = -14,      /* a metadata or tensor value makes no sense */
    VALAR_ERR_KIND = -15,      /* an offline model where a streaming one is needed */
    /* features (melspec.h) */
    VALAR_ERR_CONFIG = -16,   /* inconsistent feature configuration */
    VALAR_ERR_RATE = -17,     /* input sample rate not usable */
    VALAR_ERR_RESAMPLE = -18, /* libsoxr refused the rates */
    /* audio files (audiofile.h) and valar analyze's own files */
    VALAR_ERR_AUDIO = -19,  /* cannot open, or not audio valar reads */
    VALAR_ERR_DECODE = -20, /* decoding failed */
    VALAR_ERR_FORMAT = -21, /* zero channels or a zero sample rate */
    VALAR_ERR_RESUME = -22, /* a --resume file holds other lines than this run writes */
    /* live audio and outputs (src/live) */
    VALAR_ERR_SERVER = -23,    /* no JACK server to connect to */
    VALAR_ERR_CLIENT = -24,    /* the JACK server refused the client or a port */
    VALAR_ERR_PORTAUDIO = -25, /* PortAudio could not start */
    VALAR_ERR_DEVICE = -26,    /* no such audio input device */
    VALAR_ERR_STREAM = -27,    /* the device refused the stream */
    VALAR_ERR_GONE = -28,      /* the JACK server or the audio device went away */
    VALAR_ERR_OSC = -29,       /* bad OSC destination or prefix, or no liblo */
    VALAR_ERR_ADDR = -30,      /* a listening address that is not [ADDR:]PORT */
    VALAR_ERR_BIND = -31,      /* cannot listen on that address */
    VALAR_ERR_HTTP = -32,      /* the web server could not start */
    VALAR_ERR_LAST = -32       /* the lowest code (tests walk them all) */
};

/* A short text for any code ("out of memory"); "unknown error" for values
 * that are none of them. Never NULL; static. */
const char *valar_strerror(int err);

/* The library's message helper: when msg is not NULL (and msglen > 0),
 * format one line into it; return err. So a failure is one statement:
 *     return valar_fail(msg, msglen, VALAR_ERR_SHAPE, "%s: ...", path); */
int valar_fail(char *msg, size_t msglen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
