#include "audiofile.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK 4096 /* frames decoded per sf_readf_float call */

struct audiofile {
    SNDFILE *sf;
    SF_INFO info;
    float *scratch; /* CHUNK * channels interleaved */
};

int audiofile_open(const char *path, audiofile **out, char *msg, size_t msglen)
{
    *out = NULL;
    audiofile *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(msg, msglen, "%s: out of memory", path);
        return AUDIOFILE_ERR_NOMEM;
    }
    /* "-": standard input, for pipes (e.g. ffmpeg ... -f wav - | valar analyze -). */
    int is_stdin = path[0] == '-' && !path[1];
    f->sf = is_stdin ? sf_open_fd(STDIN_FILENO, SFM_READ, &f->info, 0)
                     : sf_open(path, SFM_READ, &f->info);
    if (!f->sf) {
        snprintf(msg, msglen, "%s: cannot read audio: %s%s", is_stdin ? "standard input" : path,
                 sf_strerror(NULL), is_stdin ? " (from a pipe, use WAV or MP3)" : "");
        free(f);
        return AUDIOFILE_ERR_OPEN;
    }
    if (f->info.channels < 1 || f->info.samplerate < 1) {
        snprintf(msg, msglen, "%s: invalid audio format (%d channels, %d Hz)", path,
                 f->info.channels, f->info.samplerate);
        audiofile_close(f);
        return AUDIOFILE_ERR_FORMAT;
    }
    f->scratch = malloc(sizeof(float) * CHUNK * (size_t)f->info.channels);
    if (!f->scratch) {
        snprintf(msg, msglen, "%s: out of memory", path);
        audiofile_close(f);
        return AUDIOFILE_ERR_NOMEM;
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

long audiofile_read_mono(audiofile *f, float *out, size_t n)
{
    const int ch = f->info.channels;
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < CHUNK ? n - done : CHUNK;
        sf_count_t got = sf_readf_float(f->sf, f->scratch, (sf_count_t)want);
        if (got < 0)
            return AUDIOFILE_ERR_READ;
        if (got == 0) {
            if (sf_error(f->sf) != SF_ERR_NO_ERROR)
                return AUDIOFILE_ERR_READ;
            break;
        }
        for (sf_count_t i = 0; i < got; i++) {
            float s = 0.0f;
            for (int c = 0; c < ch; c++)
                s += f->scratch[(size_t)i * ch + c];
            out[done + (size_t)i] = s / (float)ch;
        }
        done += (size_t)got;
    }
    return (long)done;
}
