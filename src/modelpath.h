/* modelpath: where the default weight files are. */
#ifndef VALAR_MODELPATH_H
#define VALAR_MODELPATH_H

#include <stddef.h>

/* Find the default model of a kind ("offline" or "streaming"). Looks in
 * $VALAR_MODEL_DIR, then the source tree's models/ (when running from a
 * build tree), then the installed data dir; in each, a trained
 * valar-<kind>.safetensors wins over placeholder-<kind>.safetensors.
 * Returns 1 if the file found is a placeholder, 0 if trained, -1 if none. */
int modelpath_default(const char *kind, char *path, size_t len);

#endif
