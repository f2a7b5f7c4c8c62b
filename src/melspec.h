/* melspec: log mel-band energies per 500 ms segment, streaming.
 *
 * Pipeline: input (any rate, mono float) -> resample to the model rate with
 * libsoxr -> STFT (FFTW3 r2c, periodic Hann window of n_fft) -> power
 * spectrum -> Slaney mel filterbank (librosa's htk=False, norm='slaney') ->
 * per-segment mean of the mel power frames -> natural log with a floor:
 *     frame[m] = ln(max(mean_j mel[j][m], log_floor)).
 *
 * Alignment is causal so the live path and the file path agree: STFT frame j
 * covers model-rate samples [(j+1)*hop - n_fft, (j+1)*hop) (zeros before the
 * stream starts); segment k is the mean of frames k*F .. k*F+F-1 where
 * F = segment_samples / hop, i.e. the frames that end inside
 * [k*0.5 s, (k+1)*0.5 s). Segment k is emitted as soon as its last sample
 * (after resampling) has arrived.
 *
 * Output is bit-identical whatever block sizes the input is fed in: the
 * resampler is always driven with fixed-size internal chunks. All memory is
 * allocated in melspec_create; melspec_feed never allocates. */
#ifndef VALAR_MELSPEC_H
#define VALAR_MELSPEC_H

#include <stddef.h>
#include "weights.h"

typedef struct {
    int sample_rate; /* model rate, Hz */
    int n_fft;       /* FFT size = window length, samples */
    int hop;         /* STFT hop, samples; must divide segment_ms * sample_rate / 1000 */
    int n_mels;      /* mel bands */
    float fmin;      /* lowest mel edge, Hz */
    float fmax;      /* highest mel edge, Hz (<= sample_rate / 2) */
    int segment_ms;  /* segment length, ms (500) */
    float log_floor; /* floor applied before ln() */
} melspec_config;

/* valar's defaults: 22050 Hz, n_fft 1024, hop 441 (20 ms, 25 frames per
 * segment), 64 mels from 0 to 11025 Hz, 500 ms, floor 1e-10. */
void melspec_config_default(melspec_config *c);
/* 0 if the numbers make sense, else VALAR_ERR_CONFIG and a message (msg
 * may be NULL). */
int melspec_config_check(const melspec_config *c, char *msg, size_t msglen);
/* Read the feature config from a weight file's metadata (keys sample_rate,
 * n_fft, hop_length, n_mels, fmin, fmax, segment_ms, log_floor) with the
 * typed getters of weights.h. 0, or VALAR_ERR_ARG, VALAR_ERR_MISSING or
 * VALAR_ERR_META (a message naming the key); *c is unchanged on failure.
 * Does not check the values: melspec_config_check does. */
int melspec_config_read(melspec_config *c, const weights *w, char *msg, size_t msglen);
/* Store the feature config in a weights object's metadata (floats as the
 * shortest decimal that reads back the same). 0, or VALAR_ERR_ARG,
 * VALAR_ERR_NOMEM (w may then hold some of the keys). */
int melspec_config_write(const melspec_config *c, weights *w);
/* Samples per segment at the model rate. */
int melspec_segment_samples(const melspec_config *c);

typedef struct melspec melspec;

/* input_rate: rate of the samples that will be fed (resampled when it differs
 * from c->sample_rate). 0, or VALAR_ERR_CONFIG (c fails melspec_config_check),
 * VALAR_ERR_RATE (input_rate outside 1 kHz..1 MHz), VALAR_ERR_RESAMPLE,
 * VALAR_ERR_NOMEM; *out is NULL on failure. Not real-time safe (FFTW and
 * libsoxr plan and allocate); any thread. */
int melspec_create(const melspec_config *c, double input_rate, melspec **out);
void melspec_destroy(melspec *m);
/* Back to the start of a stream (zeros before it, empty resampler). Not
 * real-time safe when resampling: libsoxr frees and reallocates its state. */
void melspec_reset(melspec *m);

/* Feed mono samples at the input rate (the caller's thread: an audio
 * callback, an LV2 run() or a worker; real-time safe). Consumes input until a segment
 * completes or the input is used up, and returns the number of samples
 * consumed; *ready is set to 1 when a new segment is available from
 * melspec_frame (call again with the rest of the input). */
size_t melspec_feed(melspec *m, const float *in, size_t n, int *ready);
/* End of stream: push what the resampler holds through. Afterwards call
 * melspec_feed(m, NULL, 0, &ready) until ready stays 0 to collect the
 * segments that completed; a final partial segment is dropped. */
void melspec_finish(melspec *m);
/* The n_mels log energies of the last completed segment. */
const float *melspec_frame(const melspec *m);
/* Deferred segments, to spread a segment's work over several calls (the
 * LV2 plugin): with on, melspec_feed only closes a segment (ready = 1,
 * melspec_frame_index advances) and melspec_frame_compute then applies the
 * mel filterbank and the log (the same numbers), after which melspec_frame
 * holds them. A segment left uncomputed is computed when the next one
 * closes. Any time (a pending segment is computed first); reset keeps the
 * setting. Real-time safe; the feeding thread. */
void melspec_set_deferred(melspec *m, int on);
void melspec_frame_compute(melspec *m);
/* Staged resampling, so that the resampler and the STFT need not run in
 * the same call (the LV2 plugin, where each is a good share of the work of
 * a short period): with on, a melspec_feed that gives the resampler a
 * chunk returns right after it (with ready = 0), its output held
 * (melspec_held, also when soxr gave none, so that every chunk makes one
 * melspec_work) until melspec_work takes it into the STFT: the frames it
 * completes, and the segment if one closes (returns 1, as ready; the
 * output is taken whole, so that where a segment ends inside it changes
 * nothing for the caller). Input fed meanwhile is gathered; should the
 * next chunk fill up first, that feed takes the held output into the STFT
 * itself. Results are the same numbers either way. No effect without
 * resampling (melspec_chunk = 0): the input is then at the model rate and
 * goes straight in. Off (the default) lets the next feed take what is
 * held. Real-time safe; the feeding thread; reset keeps the setting. */
void melspec_set_staged(melspec *m, int on);
int melspec_held(const melspec *m);
int melspec_work(melspec *m);
/* Input samples per resampler call, fixed per instance (0: no resampling,
 * the input is at the model rate). */
size_t melspec_chunk(const melspec *m);
/* Index of that segment (0 for the first), i.e. it starts at index * 0.5 s. */
long melspec_frame_index(const melspec *m);
int melspec_n_mels(const melspec *m);

#endif
