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
 * tools; msg names the file on failure. */
int offline_features(const char *path, const melspec_config *cfg, float **frames, int *T, char *msg,
                     size_t msglen);

/* *res is malloc'd (free it); *n results, one per complete 500 ms segment.
 * duration_s (may be NULL): seconds of audio decoded. Safe to call from
 * several threads at once with the same weights. */
int offline_analyze_file(const char *path, const weights *w, analyzer_result **res, size_t *n,
                         double *duration_s, char *msg, size_t msglen);

#endif
