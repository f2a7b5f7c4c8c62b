/* modelpath: where the default weight files are. */
#ifndef VALAR_MODELPATH_H
#define VALAR_MODELPATH_H

#include <stddef.h>

/* Find the default model of a kind ("offline" or "streaming"): only in
 * $VALAR_MODEL_DIR when it is set; otherwise in the source tree's models/
 * (only for programs of the build tree) and the installed data dir, where a
 * trained valar-<kind>.safetensors in either wins over a
 * placeholder-<kind>.safetensors in either.
 * Returns 1 if the file found is a placeholder, 0 if trained, -1 if none. */
int modelpath_default(const char *kind, char *path, size_t len);
/* Where modelpath_default looks, for messages. */
void modelpath_searched(char *buf, size_t len);

#endif
