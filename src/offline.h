/* offline: whole-file analysis behind `valar analyze`.
 *
 * Offline (bidirectional) models: all segments' features first, then
 * crnn_run_sequence over windows of the model's seq_len frames (metadata
 * seq_len; 0 or absent = the whole file at once). Streaming models: the file
 * is pushed through an analyzer exactly as the live client does, so the
 * results equal `valar listen` on the same audio. */
#ifndef VALAR_OFFLINE_H
#define VALAR_OFFLINE_H

#include <stddef.h>
#include "analyzer.h"
#include "melspec.h"
#include "weights.h"

/* Log-mel features of every complete segment of an audio file (T x n_mels,
 * *frames malloc'd), the same frames the model sees. Used by valar-train and
 * tools (any thread). 0, or what audiofile_open and melspec_create return,
 * or VALAR_ERR_DECODE (damaged audio: training wants every file whole),
 * VALAR_ERR_NOMEM, with a message naming the file; *frames is NULL and *T
 * 0 on failure. */
int offline_features(const char *path, const melspec_config *cfg, float **frames, int *T, char *msg,
                     size_t msglen);

/* The analysis window of an offline model: metadata seq_len (frames), 0
 * when absent (the whole file at once). 0, or VALAR_ERR_META (not an
 * integer >= 0) with a message naming the key; *seq_len is 0 then. */
int offline_seq_len(const weights *w, int *seq_len, char *msg, size_t msglen);

/* *res is malloc'd (free it); *n results, one per complete 500 ms segment.
 * duration_s (may be NULL): seconds of audio decoded. Safe to call from
 * several threads at once with the same weights (batch.c's workers). 0, or
 * what audiofile_open, analyzer_create (streaming models),
 * melspec_config_read, crnn_create, offline_seq_len, crnn_run_sequence
 * (offline models) return, VALAR_ERR_DECODE (damaged audio of which
 * nothing could be decoded) or VALAR_ERR_NOMEM, with a message naming the
 * file; *res is NULL and *n 0 on failure.
 * Damaged audio (a decoding error, a stream cut short of the length its
 * header declares): the audio up to the damage is analysed and, on success,
 * msg names the file and says what happened (else msg is ""). */
int offline_analyze_file(const char *path, const weights *w, analyzer_result **res, size_t *n,
                         double *duration_s, char *msg, size_t msglen);

#endif
