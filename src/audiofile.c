#include "audiofile.h"

#include <errno.h>
#include <fcntl.h>
#include <mpg123.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mix.h"

#define CHUNK 4096 /* frames decoded per call into the decoder */

struct audiofile {
    SNDFILE *sf;        /* libsndfile, or */
    mpg123_handle *mh;  /* libmpg123 for MPEG audio */
    int fd;             /* the file mh reads and we close, or -1 */
    int rate, channels;
    long long frames;   /* declared, -1 if unknown */
    float *scratch;     /* CHUNK * channels interleaved */
    FILE *spool;        /* standard input copied from a pipe, or NULL */
    long long pos;      /* frames read so far */
    int ended;
    char damage[300];   /* why the audio ended early, or "" */
};

/* --- what a file is ------------------------------------------------------ */

static int sndfile_magic(const unsigned char *b)
{
    static const char *const magic[] = {"RIFF", "RIFX", "RF64", "FORM", "fLaC",
                                        "OggS", ".snd", "caff", "riff", NULL};
    for (int i = 0; magic[i]; i++)
        if (memcmp(b, magic[i], 4) == 0)
            return 1;
    return 0;
}

/* An MPEG audio frame header: 11 sync bits, a layer, a bitrate index that
 * is not 15 and a sample rate index that is not 3. */
static int mpeg_frame(const unsigned char *b)
{
    return b[0] == 0xff && (b[1] & 0xe0) == 0xe0 && (b[1] & 0x06) != 0 && (b[2] & 0xf0) != 0xf0 &&
           (b[2] & 0x0c) != 0x0c;
}

int audiofile_kind(int fd)
{
    unsigned char b[12] = {0};
    if (pread(fd, b, sizeof b, 0) < 4)
        return AUDIOFILE_KIND_UNKNOWN;
    if (sndfile_magic(b))
        return AUDIOFILE_KIND_SNDFILE;
    if (memcmp(b, "ID3", 3) == 0) {
        /* What follows the tag (syncsafe size, plus a footer if flagged):
         * libsndfile reads e.g. FLAC behind an ID3 tag. */
        off_t end = 10 + ((off_t)(b[6] & 0x7f) << 21 | (b[7] & 0x7f) << 14 | (b[8] & 0x7f) << 7 |
                          (b[9] & 0x7f)) + (b[5] & 0x10 ? 10 : 0);
        unsigned char a[4];
        return pread(fd, a, 4, end) == 4 && sndfile_magic(a) ? AUDIOFILE_KIND_SNDFILE
                                                             : AUDIOFILE_KIND_MPEG;
    }
    return mpeg_frame(b) ? AUDIOFILE_KIND_MPEG : AUDIOFILE_KIND_UNKNOWN;
}

/* libsndfile takes an unrecognised file named .mp1/.mp2/.mp3 for MPEG. */
static int mpeg_name(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    return dot && (!slash || slash < dot) &&
           (!strcasecmp(dot, ".mp1") || !strcasecmp(dot, ".mp2") || !strcasecmp(dot, ".mp3"));
}

/* --- opening -------------------------------------------------------------- */

/* If standard input cannot seek (a pipe), copy it to f->spool. On failure
 * the caller's audiofile_close removes the partial copy. */
static int spool_stdin(audiofile *f, char *msg, size_t msglen)
{
    if (lseek(STDIN_FILENO, 0, SEEK_CUR) >= 0)
        return 0;
    f->spool = tmpfile();
    if (!f->spool) {
        snprintf(msg, msglen, "standard input: cannot create a temporary file: %s",
                 strerror(errno));
        return VALAR_ERR_DECODE;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || fwrite(buf, 1, (size_t)n, f->spool) != (size_t)n) {
            snprintf(msg, msglen, "standard input: %s: %s",
                     n < 0 ? "read error" : "cannot write the temporary copy", strerror(errno));
            return VALAR_ERR_DECODE;
        }
    }
    if (fflush(f->spool) || lseek(fileno(f->spool), 0, SEEK_SET) < 0) {
        snprintf(msg, msglen, "standard input: cannot write the temporary copy: %s",
                 strerror(errno));
        return VALAR_ERR_DECODE;
    }
    return 0;
}

static void mpeg_init_once(void)
{
    mpg123_init(); /* a no-op since libmpg123 1.27, required before */
}

/* Decode fd with libmpg123, with libsndfile's settings (float output at
 * the stream's own rate, gapless, no Frankenstein streams) and quiet. */
static int open_mpeg(audiofile *f, int fd, const char *name, char *msg, size_t msglen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, mpeg_init_once);
    int err;
    if (!(f->mh = mpg123_new(NULL, &err))) {
        snprintf(msg, msglen, "%s: cannot start the MPEG decoder: %s", name,
                 mpg123_plain_strerror(err));
        return VALAR_ERR_NOMEM;
    }
    mpg123_param(f->mh, MPG123_REMOVE_FLAGS, MPG123_AUTO_RESAMPLE, 0);
    mpg123_param(f->mh, MPG123_ADD_FLAGS, MPG123_FORCE_FLOAT | MPG123_GAPLESS | MPG123_QUIET, 0);
#if MPG123_API_VERSION >= 45
    mpg123_param(f->mh, MPG123_ADD_FLAGS, MPG123_NO_FRANKENSTEIN, 0);
#endif
    long rate;
    int enc;
    if (mpg123_open_fd(f->mh, fd) != MPG123_OK ||
        mpg123_getformat(f->mh, &rate, &f->channels, &enc) != MPG123_OK) {
        snprintf(msg, msglen, "%s: cannot read audio: no MPEG audio stream found", name);
        return VALAR_ERR_AUDIO;
    }
    f->rate = rate > 0 && rate <= 1000000 ? (int)rate : 0;
    /* A LAME Info tag (its encoder delay is known) declares the exact
     * length; without one libmpg123 guesses it from the file size, and a
     * guess is no declared length. (As libsndfile: scan only when it cannot
     * even guess.) */
    long delay = -1;
    mpg123_getstate(f->mh, MPG123_ENC_DELAY, &delay, NULL);
    off_t len = mpg123_length(f->mh);
    if (len <= 0 && mpg123_scan(f->mh) == MPG123_OK)
        len = mpg123_length(f->mh);
    f->frames = len > 0 && delay >= 0 ? (long long)len : -1;
    mpg123_format(f->mh, rate, f->channels, MPG123_ENC_FLOAT_32);
    return 0;
}

static int open_sndfile(audiofile *f, const char *path, int fd, const char *name, char *msg,
                        size_t msglen)
{
    SF_INFO info = {0};
    f->sf = fd >= 0 ? sf_open_fd(fd, SFM_READ, &info, 0) : sf_open(path, SFM_READ, &info);
    if (!f->sf) {
        snprintf(msg, msglen, "%s: cannot read audio: %s", name, sf_strerror(NULL));
        return VALAR_ERR_AUDIO;
    }
    f->rate = info.samplerate;
    f->channels = info.channels;
    /* libsndfile reports SF_COUNT_MAX for streams of unknown length. */
    f->frames = info.frames >= 0 && info.frames < SF_COUNT_MAX ? (long long)info.frames : -1;
    return 0;
}

/* Open path (or standard input) with the decoder its first bytes call for. */
static int open_decoder(audiofile *f, const char *path, char *msg, size_t msglen)
{
    const int is_stdin = path[0] == '-' && !path[1];
    const char *name = is_stdin ? "standard input" : path;
    int fd;
    if (is_stdin) {
        /* libsndfile reads few formats from a pipe, and its MP3 pipe path
         * over-reads (ASan, libsndfile 1.2), so a pipe is first copied to an
         * unnamed temporary file that it can seek in. */
        int err = spool_stdin(f, msg, msglen);
        if (err)
            return err;
        fd = f->spool ? fileno(f->spool) : STDIN_FILENO;
    } else if ((fd = f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(msg, msglen, "%s: cannot read audio: %s", path, strerror(errno));
        return VALAR_ERR_AUDIO;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(msg, msglen, "%s: is a directory, not an audio file", path);
        return VALAR_ERR_AUDIO;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
        snprintf(msg, msglen, "%s: cannot read audio: the file is empty", name);
        return VALAR_ERR_AUDIO;
    }
    int kind = audiofile_kind(fd);
    if (kind == AUDIOFILE_KIND_MPEG || (kind == AUDIOFILE_KIND_UNKNOWN && mpeg_name(path)))
        return open_mpeg(f, fd, name, msg, msglen);
    if (!is_stdin) { /* libsndfile opens it by name (some formats go by extension) */
        close(f->fd);
        f->fd = -1;
    }
    return open_sndfile(f, path, is_stdin ? fd : -1, name, msg, msglen);
}

int audiofile_open(const char *path, audiofile **out, char *msg, size_t msglen)
{
    *out = NULL;
    audiofile *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(msg, msglen, "%s: out of memory", path);
        return VALAR_ERR_NOMEM;
    }
    f->fd = -1;
    const char *name = path[0] == '-' && !path[1] ? "standard input" : path;
    int err = open_decoder(f, path, msg, msglen);
    if (!err && (f->channels < 1 || f->rate < 1)) {
        snprintf(msg, msglen, "%s: invalid audio format (%d channels, %d Hz)", name, f->channels,
                 f->rate);
        err = VALAR_ERR_FORMAT;
    }
    if (!err && !(f->scratch = malloc(sizeof(float) * CHUNK * (size_t)f->channels))) {
        snprintf(msg, msglen, "%s: out of memory", name);
        err = VALAR_ERR_NOMEM;
    }
    if (err) {
        audiofile_close(f);
        return err;
    }
    *out = f;
    return 0;
}

void audiofile_close(audiofile *f)
{
    if (!f)
        return;
    if (f->sf)
        sf_close(f->sf);
    if (f->mh) {
        mpg123_close(f->mh);
        mpg123_delete(f->mh);
    }
    if (f->fd >= 0)
        close(f->fd);
    if (f->spool)
        fclose(f->spool); /* tmpfile: removed on close */
    free(f->scratch);
    free(f);
}

/* --- reading -------------------------------------------------------------- */

double audiofile_rate(const audiofile *f)
{
    return f->rate;
}

int audiofile_channels(const audiofile *f)
{
    return f->channels;
}

long long audiofile_frames(const audiofile *f)
{
    return f->frames;
}

long long audiofile_position(const audiofile *f)
{
    return f->pos;
}

const char *audiofile_damage(const audiofile *f)
{
    return f->damage[0] ? f->damage : NULL;
}

static void failed(audiofile *f, long long at, const char *why)
{
    if (strncmp(why, "Error : ", 8) == 0) /* libsndfile's "Error : ... sync." */
        why += 8;
    int len = (int)strcspn(why, "\n");
    if (len > 0 && why[len - 1] == '.')
        len--;
    snprintf(f->damage, sizeof f->damage, "decoding failed at %.2f s (%.*s)",
             (double)at / f->rate, len, why);
}

/* Up to want frames into f->scratch; 0 at the end or on an error. */
static long decode(audiofile *f, size_t want, long long at)
{
    if (f->sf) {
        sf_count_t got = sf_readf_float(f->sf, f->scratch, (sf_count_t)want);
        if (got <= 0 && sf_error(f->sf) != SF_ERR_NO_ERROR)
            failed(f, at, sf_strerror(f->sf));
        return got > 0 ? (long)got : 0;
    }
    const size_t frame = sizeof(float) * (size_t)f->channels;
    size_t bytes = 0;
    int r = mpg123_read(f->mh, (unsigned char *)f->scratch, want * frame, &bytes);
    if (r == MPG123_NEW_FORMAT)
        failed(f, at, "the stream changes its format");
    else if (r != MPG123_OK && r != MPG123_DONE)
        failed(f, at, mpg123_plain_strerror(mpg123_errcode(f->mh)));
    return r == MPG123_OK || r == MPG123_DONE ? (long)(bytes / frame) : 0;
}

/* At the end: shorter than declared by more than 10 ms? */
static void check_length(audiofile *f, long long decoded)
{
    if (!f->damage[0] && f->frames > 0 && decoded < f->frames - f->rate / 100)
        snprintf(f->damage, sizeof f->damage,
                 "the audio ends at %.2f s, the header says %.2f s (truncated?)",
                 (double)decoded / f->rate, (double)f->frames / f->rate);
}

long audiofile_read_mono(audiofile *f, float *out, size_t n)
{
    size_t done = 0;
    while (done < n && !f->ended) {
        size_t want = n - done < CHUNK ? n - done : CHUNK;
        long got = decode(f, want, f->pos + (long long)done);
        if (got == 0) {
            f->ended = 1;
            check_length(f, f->pos + (long long)done);
            break;
        }
        mix_interleaved(f->scratch, (size_t)got, f->channels, out + done);
        done += (size_t)got;
    }
    f->pos += (long long)done;
    return (long)done;
}
