/* audiofile: decode any file libsndfile reads (WAV, FLAC, OGG, MP3, ...)
 * as mono float blocks at the file's own rate. */
#ifndef VALAR_AUDIOFILE_H
#define VALAR_AUDIOFILE_H

#include <stddef.h>

enum {
    AUDIOFILE_ERR_OPEN = -40, /* cannot open or not a format libsndfile reads */
    AUDIOFILE_ERR_READ = -41,
    AUDIOFILE_ERR_NOMEM = -42,
    AUDIOFILE_ERR_FORMAT = -43, /* zero channels, zero rate */
};

typedef struct audiofile audiofile;

/* path "-" reads standard input (any format; a pipe is first copied to a
 * temporary file). */
int audiofile_open(const char *path, audiofile **out, char *msg, size_t msglen);
void audiofile_close(audiofile *f);
double audiofile_rate(const audiofile *f);
int audiofile_channels(const audiofile *f);
/* Frames in the file, or -1 if unknown. */
long long audiofile_frames(const audiofile *f);
/* Frames read so far (the decoded length once the end is reached). */
long long audiofile_position(const audiofile *f);
/* Read up to n frames mixed down to mono (mean of channels). Returns frames
 * read (0 at the end) or a negative code. */
long audiofile_read_mono(audiofile *f, float *out, size_t n);

#endif
