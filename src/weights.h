/* weights: safetensors weight files.
 *
 * Format (https://github.com/huggingface/safetensors): 8-byte little-endian
 * header length N, then N bytes of JSON: {"name": {"dtype": "F32", "shape":
 * [..], "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "value"}},
 * then the tensor bytes (offsets relative to the end of the header).
 * valar reads and writes F32 only; tensors are little-endian, row-major.
 *
 * A weights object is either loaded from a file or built in memory with
 * weights_create + weights_add + weights_set_meta, and saved atomically
 * (temp file + rename). */
#ifndef VALAR_WEIGHTS_H
#define VALAR_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "valar_error.h"

#define WEIGHTS_MAX_DIMS 8

typedef struct weights weights;

/* Load a file. Returns 0, or VALAR_ERR_ARG (NULL argument), VALAR_ERR_IO
 * (cannot open or read; not a regular file), VALAR_ERR_TOOBIG, VALAR_ERR_NOMEM,
 * or a malformed file's VALAR_ERR_TRUNCATED, _HEADER, _OFFSETS, _DTYPE,
 * _SHAPE or _NONFINITE. On failure *out is NULL and msg (if not NULL) holds
 * one line naming the file and what is wrong. */
int weights_load(const char *path, weights **out, char *msg, size_t msglen);

/* An empty weights object to fill and save. NULL on allocation failure. */
weights *weights_create(void);
void weights_destroy(weights *w);

/* Copy a tensor in (replaces one of the same name). 0, or VALAR_ERR_ARG (no
 * name, "__metadata__", no data), VALAR_ERR_SHAPE (ndim outside
 * 0..WEIGHTS_MAX_DIMS, a negative or absurd dimension), VALAR_ERR_NONFINITE,
 * VALAR_ERR_NOMEM; on failure w is unchanged. */
int weights_add(weights *w, const char *name, int ndim, const int64_t *shape, const float *data);
/* Set a metadata string (replaces the old value). 0, or VALAR_ERR_ARG,
 * VALAR_ERR_NOMEM; on failure w is unchanged. */
int weights_set_meta(weights *w, const char *key, const char *value);

/* Write to path through a temporary file in the same directory, renamed
 * when complete (atomicfile.h), so a reader never sees a half-written file.
 * Tensors are written sorted by name. 0, or VALAR_ERR_ARG, VALAR_ERR_TOOBIG,
 * VALAR_ERR_NOMEM, VALAR_ERR_IO (with a message naming the path); on
 * failure path is as it was and no temporary file is left. */
int weights_save(const weights *w, const char *path, char *msg, size_t msglen);

/* Look up a tensor: returns its data (NULL if absent) and fills *ndim and
 * shape[] (up to WEIGHTS_MAX_DIMS) when they are not NULL. */
const float *weights_get(const weights *w, const char *name, int *ndim, int64_t *shape);
/* Look up a tensor that must have exactly this shape. 0 and *data, or
 * VALAR_ERR_MISSING or VALAR_ERR_SHAPE (with a message naming the tensor
 * and both shapes), VALAR_ERR_ARG; *data is NULL on failure. */
int weights_expect(const weights *w, const char *name, int ndim, const int64_t *shape,
                   const float **data, char *msg, size_t msglen);

/* Metadata value, or NULL if absent. */
const char *weights_meta(const weights *w, const char *key);
/* Typed metadata: the one way valar reads numbers and words from a weight
 * file. Each returns 0 and sets *out, or VALAR_ERR_MISSING (key absent) or
 * VALAR_ERR_META (malformed or out of range) with a message naming the key
 * and its value ("metadata key 'n_fft' = '12x' is not an integer in
 * 2..1048576"); *out is unchanged on failure. */
/* A decimal integer, the whole value, in lo..hi. */
int weights_meta_int(const weights *w, const char *key, long lo, long hi, int *out, char *msg,
                     size_t msglen);
/* A finite number (strtod syntax, the whole value) in lo..hi. */
int weights_meta_double(const weights *w, const char *key, double lo, double hi, double *out,
                        char *msg, size_t msglen);
/* One of the words names[0..n): *out is its index. */
int weights_meta_choice(const weights *w, const char *key, const char *const *names, int n,
                        int *out, char *msg, size_t msglen);

/* Iteration (for tools): number of tensors / metadata keys and the i-th name. */
int weights_count(const weights *w);
const char *weights_name(const weights *w, int i);
int weights_meta_count(const weights *w);
const char *weights_meta_key(const weights *w, int i);

#endif
