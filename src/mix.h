/* mix: the one mono mixdown (mean of the channels, summed in channel order).
 * Files, JACK and PortAudio input and the LV2 plugin all use it, so the same
 * audio gives bit-identical mono samples, and so identical results, on every
 * path. Header-only: it runs in audio callbacks and run(). */
#ifndef VALAR_MIX_H
#define VALAR_MIX_H

#include <stddef.h>

/* frames of interleaved x with ch channels -> out[frames] */
static inline void mix_interleaved(const float *x, size_t frames, int ch, float *out)
{
    for (size_t i = 0; i < frames; i++) {
        float s = 0.0f;
        for (int c = 0; c < ch; c++)
            s += x[i * (size_t)ch + c];
        out[i] = s / (float)ch;
    }
}

/* frames of ch separate channel buffers, each read from offset off -> out */
static inline void mix_planar(const float *const *in, int ch, size_t off, size_t frames, float *out)
{
    for (size_t i = 0; i < frames; i++) {
        float s = 0.0f;
        for (int c = 0; c < ch; c++)
            s += in[c][off + i];
        out[i] = s / (float)ch;
    }
}

#endif
