#include "valar_error.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const text[] = {
    [-VALAR_OK] = "success",
    [-VALAR_ERR_NOMEM] = "out of memory",
    [-VALAR_ERR_ARG] = "invalid argument",
    [-VALAR_ERR_IO] = "input/output error",
    [-VALAR_ERR_THREAD] = "cannot start a thread",
    [-VALAR_ERR_TOOBIG] = "file too large",
    [-VALAR_ERR_TRUNCATED] = "file truncated",
    [-VALAR_ERR_HEADER] = "invalid header",
    [-VALAR_ERR_OFFSETS] = "invalid tensor data offsets",
    [-VALAR_ERR_DTYPE] = "unsupported dtype (only F32)",
    [-VALAR_ERR_SHAPE] = "invalid or unexpected tensor shape",
    [-VALAR_ERR_MISSING] = "missing tensor or metadata",
    [-VALAR_ERR_NONFINITE] = "NaN or Inf in a tensor",
    [-VALAR_ERR_VERSION] = "unknown format or version",
    [-VALAR_ERR_META] = "invalid metadata or tensor value",
    [-VALAR_ERR_KIND] = "not a streaming model (this needs kind=streaming)",
    [-VALAR_ERR_CONFIG] = "inconsistent feature configuration",
    [-VALAR_ERR_RATE] = "input sample rate not usable",
    [-VALAR_ERR_RESAMPLE] = "resampler (libsoxr) refused the rates",
    [-VALAR_ERR_AUDIO] = "cannot read audio",
    [-VALAR_ERR_DECODE] = "audio decoding failed",
    [-VALAR_ERR_FORMAT] = "invalid audio format",
    [-VALAR_ERR_RESUME] = "not a resumable output of this kind",
    [-VALAR_ERR_SERVER] = "no JACK server",
    [-VALAR_ERR_CLIENT] = "JACK refused the client or a port",
    [-VALAR_ERR_PORTAUDIO] = "PortAudio could not start",
    [-VALAR_ERR_DEVICE] = "no such audio input device",
    [-VALAR_ERR_STREAM] = "the device refused the stream",
    [-VALAR_ERR_GONE] = "the audio server or device went away",
    [-VALAR_ERR_OSC] = "bad OSC destination",
    [-VALAR_ERR_ADDR] = "bad listening address",
    [-VALAR_ERR_BIND] = "cannot listen on that address",
    [-VALAR_ERR_HTTP] = "the web server could not start",
};

const char *valar_strerror(int err)
{
    if (err > 0 || err < VALAR_ERR_LAST || !text[-err])
        return "unknown error";
    return text[-err];
}

int valar_fail(char *msg, size_t msglen, int err, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return err;
}
