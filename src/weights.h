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

#define WEIGHTS_MAX_DIMS 8

enum {
    WEIGHTS_OK = 0,
    WEIGHTS_ERR_NOMEM = -1,
    WEIGHTS_ERR_IO = -2,        /* open/read/write/rename failed */
    WEIGHTS_ERR_TRUNCATED = -3, /* file shorter than its header says */
    WEIGHTS_ERR_HEADER = -4,    /* header length absurd, or JSON invalid */
    WEIGHTS_ERR_OFFSETS = -5,   /* data_offsets out of range, overlapping, or size mismatch */
    WEIGHTS_ERR_DTYPE = -6,     /* dtype other than F32 */
    WEIGHTS_ERR_SHAPE = -7,     /* shape invalid, or not the shape a model needs */
    WEIGHTS_ERR_MISSING = -8,   /* a tensor or metadata key is missing */
    WEIGHTS_ERR_NONFINITE = -9, /* NaN or Inf in a tensor */
    WEIGHTS_ERR_VERSION = -10,  /* unknown format name or version */
    WEIGHTS_ERR_INVALID = -11,  /* bad argument or bad metadata value */
};

typedef struct weights weights;

const char *weights_strerror(int err);

/* Load a file. On failure returns a negative code, *out is NULL, and msg (if
 * not NULL) holds a one-line message naming the file and what is wrong. */
int weights_load(const char *path, weights **out, char *msg, size_t msglen);

/* An empty weights object to fill and save. NULL on allocation failure. */
weights *weights_create(void);
void weights_destroy(weights *w);

/* Copy a tensor in (replaces one of the same name). */
int weights_add(weights *w, const char *name, int ndim, const int64_t *shape, const float *data);
/* Set a metadata string (replaces the old value). */
int weights_set_meta(weights *w, const char *key, const char *value);

/* Write to path via a temporary file in the same directory and rename, so a
 * reader never sees a half-written file. Tensors are written sorted by name. */
int weights_save(const weights *w, const char *path, char *msg, size_t msglen);

/* Look up a tensor: returns its data (NULL if absent) and fills *ndim and
 * shape[] (up to WEIGHTS_MAX_DIMS) when they are not NULL. */
const float *weights_get(const weights *w, const char *name, int *ndim, int64_t *shape);
/* Look up a tensor that must have exactly this shape. Returns
 * WEIGHTS_ERR_MISSING or WEIGHTS_ERR_SHAPE (with a message naming the tensor
 * and both shapes) when it does not. */
int weights_expect(const weights *w, const char *name, int ndim, const int64_t *shape,
                   const float **data, char *msg, size_t msglen);
/* Metadata value, or NULL if absent. */
const char *weights_meta(const weights *w, const char *key);

/* Iteration (for tools): number of tensors / metadata keys and the i-th name. */
int weights_count(const weights *w);
const char *weights_name(const weights *w, int i);
int weights_meta_count(const weights *w);
const char *weights_meta_key(const weights *w, int i);

#endif
