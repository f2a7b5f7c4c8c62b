/* model: open a weight file and check that valar can run it.
 *
 * The one way every program loads a model (valar analyze and info, valar
 * listen, the LV2 plugin, valar-train eval), so that a bad file is refused
 * the same way everywhere, once, naming it, before any audio is read: the
 * file must load (weights.h), describe a network crnn_create accepts, a
 * feature configuration melspec accepts and, if present, a valid seq_len. */
#ifndef VALAR_MODEL_H
#define VALAR_MODEL_H

#include <stddef.h>

#include "weights.h"

/* need_streaming: also refuse an offline model (VALAR_ERR_KIND). 0 and *out,
 * or what weights_load, melspec_config_read/check, crnn_create and
 * offline_seq_len return, with a message "PATH: what is wrong"; *out is
 * NULL on failure. Not real-time safe (reads the file, allocates). */
int model_load(const char *path, int need_streaming, weights **out, char *msg, size_t msglen);

/* 1 if the metadata says placeholder = true (the shipped random models). */
int model_is_placeholder(const weights *w);

#endif
