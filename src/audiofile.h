/* audiofile: decode any file libsndfile reads (WAV, FLAC, OGG, MP3, ...)
 * as mono float blocks at the file's own rate. */
#ifndef VALAR_AUDIOFILE_H
#define VALAR_AUDIOFILE_H

#include <stddef.h>

#include "valar_error.h"

typedef struct audiofile audiofile;

/* path "-" reads standard input (any format; a pipe is first copied to a
 * temporary file). 0, or VALAR_ERR_AUDIO (cannot open, a directory, not a
 * format libsndfile reads), VALAR_ERR_DECODE (standard input could not be
 * copied), VALAR_ERR_FORMAT (zero channels or rate), VALAR_ERR_NOMEM, with
 * a message naming the file; *out is NULL on failure. */
int audiofile_open(const char *path, audiofile **out, char *msg, size_t msglen);
void audiofile_close(audiofile *f);
double audiofile_rate(const audiofile *f);
int audiofile_channels(const audiofile *f);
/* Frames in the file, or -1 if unknown. */
long long audiofile_frames(const audiofile *f);
/* Frames read so far (the decoded length once the end is reached). */
long long audiofile_position(const audiofile *f);
/* Read up to n frames mixed down to mono (mean of channels). Returns frames
 * read (0 at the end) or VALAR_ERR_DECODE. */
long audiofile_read_mono(audiofile *f, float *out, size_t n);

#endif
