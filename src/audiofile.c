#include "audiofile.h"

#include <errno.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mix.h"

#define CHUNK 4096 /* frames decoded per sf_readf_float call */

struct audiofile {
    SNDFILE *sf;
    SF_INFO info;
    float *scratch; /* CHUNK * channels interleaved */
    FILE *spool;    /* standard input copied from a pipe, or NULL */
    long long pos;  /* frames read so far */
};

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

int audiofile_open(const char *path, audiofile **out, char *msg, size_t msglen)
{
    *out = NULL;
    audiofile *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(msg, msglen, "%s: out of memory", path);
        return VALAR_ERR_NOMEM;
    }
    /* "-": standard input. libsndfile reads few formats from a pipe, and
     * its MP3 pipe path over-reads (ASan, libsndfile 1.2), so a pipe is
     * first copied to an unnamed temporary file that it can seek in. */
    const int is_stdin = path[0] == '-' && !path[1];
    const char *name = is_stdin ? "standard input" : path;
    if (is_stdin) {
        int err = spool_stdin(f, msg, msglen);
        if (err) {
            audiofile_close(f);
            return err;
        }
        f->sf = sf_open_fd(f->spool ? fileno(f->spool) : STDIN_FILENO, SFM_READ, &f->info, 0);
    } else {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(msg, msglen, "%s: is a directory, not an audio file", path);
            free(f);
            return VALAR_ERR_AUDIO;
        }
        f->sf = sf_open(path, SFM_READ, &f->info);
    }
    if (!f->sf) {
        snprintf(msg, msglen, "%s: cannot read audio: %s", name, sf_strerror(NULL));
        audiofile_close(f);
        return VALAR_ERR_AUDIO;
    }
    if (f->info.channels < 1 || f->info.samplerate < 1) {
        snprintf(msg, msglen, "%s: invalid audio format (%d channels, %d Hz)", name,
                 f->info.channels, f->info.samplerate);
        audiofile_close(f);
        return VALAR_ERR_FORMAT;
    }
    f->scratch = malloc(sizeof(float) * CHUNK * (size_t)f->info.channels);
    if (!f->scratch) {
        snprintf(msg, msglen, "%s: out of memory", name);
        audiofile_close(f);
        return VALAR_ERR_NOMEM;
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
    if (f->spool)
        fclose(f->spool); /* tmpfile: removed on close */
    free(f->scratch);
    free(f);
}

double audiofile_rate(const audiofile *f)
{
    return f->info.samplerate;
}

int audiofile_channels(const audiofile *f)
{
    return f->info.channels;
}

long long audiofile_frames(const audiofile *f)
{
    /* libsndfile reports SF_COUNT_MAX for streams of unknown length. */
    return f->info.frames >= 0 && f->info.frames < SF_COUNT_MAX ? (long long)f->info.frames : -1;
}

long long audiofile_position(const audiofile *f)
{
    return f->pos;
}

long audiofile_read_mono(audiofile *f, float *out, size_t n)
{
    const int ch = f->info.channels;
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < CHUNK ? n - done : CHUNK;
        sf_count_t got = sf_readf_float(f->sf, f->scratch, (sf_count_t)want);
        if (got < 0)
            return VALAR_ERR_DECODE;
        if (got == 0) {
            if (sf_error(f->sf) != SF_ERR_NO_ERROR)
                return VALAR_ERR_DECODE;
            break;
        }
        mix_interleaved(f->scratch, (size_t)got, ch, out + done);
        done += (size_t)got;
    }
    f->pos += (long long)done;
    return (long)done;
}
