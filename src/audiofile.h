/* audiofile: decode any file libsndfile reads (WAV, FLAC, OGG, MP3, ...)
 * as mono float blocks at the file's own rate.
 *
 * MPEG audio (MP1/2/3) is decoded with libmpg123 directly, set up exactly
 * as libsndfile sets it up (the same samples), plus MPG123_QUIET: libsndfile
 * gives no way to pass that flag, and without it libmpg123 prints notes
 * ("Note: Illegal Audio-MPEG-Header ...", "Warning: Xing stream size off")
 * to the process's stderr on damaged streams. Everything else goes through
 * libsndfile, whose decoders report through return codes only.
 *
 * Damaged audio: decoding ends at the first error (or where a truncated
 * stream stops); the samples before it are delivered and audiofile_damage
 * says what happened. */
#ifndef VALAR_AUDIOFILE_H
#define VALAR_AUDIOFILE_H

#include <stddef.h>

#include "valar_error.h"

/* What a file's first bytes say it is. */
enum {
    AUDIOFILE_KIND_UNKNOWN = 0,
    AUDIOFILE_KIND_SNDFILE, /* a container libsndfile reads: RIFF, FORM, fLaC, OggS, ... */
    AUDIOFILE_KIND_MPEG,    /* an ID3v2 tag (not before another container) or an MPEG frame */
};

typedef struct audiofile audiofile;

/* path "-" reads standard input (any format; a pipe is first copied to a
 * temporary file). 0, or VALAR_ERR_AUDIO (cannot open, a directory, an
 * empty file, not a format libsndfile or libmpg123 reads), VALAR_ERR_DECODE
 * (standard input could not be copied), VALAR_ERR_FORMAT (zero channels
 * or rate), VALAR_ERR_NOMEM, with a message naming the file; *out is NULL
 * on failure. */
int audiofile_open(const char *path, audiofile **out, char *msg, size_t msglen);
void audiofile_close(audiofile *f);
double audiofile_rate(const audiofile *f);
int audiofile_channels(const audiofile *f);
/* Frames in the file as its headers declare them, or -1 if unknown. */
long long audiofile_frames(const audiofile *f);
/* Frames read so far (the decoded length once the end is reached). */
long long audiofile_position(const audiofile *f);
/* Read up to n frames mixed down to mono (mean of channels). Returns the
 * frames read, fewer than n only at the end of the audio, then 0; never
 * fails: a decoding error ends the audio (audiofile_damage says where). */
long audiofile_read_mono(audiofile *f, float *out, size_t n);
/* Once audiofile_read_mono returned 0: NULL if the audio ended cleanly
 * where the headers say it does, else what stopped it, with the time, e.g.
 * "decoding failed at 2.69 s (flac decoder lost sync)" or "the audio ends
 * at 2.74 s, the header says 3.00 s (truncated?)". */
const char *audiofile_damage(const audiofile *f);

/* The kind of the file open on fd, from its first bytes (read with pread
 * from offset 0; the file position does not move). */
int audiofile_kind(int fd);

#endif
