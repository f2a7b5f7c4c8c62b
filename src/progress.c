#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct progress {
    FILE *f;
    size_t total, done, failed;
    double audio_s, start, last_draw;
    int shown;
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

progress *progress_create(FILE *f, size_t total)
{
    if (!isatty(fileno(f)))
        return NULL;
    progress *p = calloc(1, sizeof *p);
    if (p) {
        p->f = f;
        p->total = total;
        p->start = now();
        p->last_draw = -1;
    }
    return p;
}

void progress_clear(progress *p)
{
    if (p && p->shown) {
        fputs("\r\033[K", p->f); /* carriage return, erase to the end of the line */
        fflush(p->f);
        p->shown = 0;
    }
}

void progress_destroy(progress *p)
{
    if (!p)
        return;
    progress_clear(p);
    double el = now() - p->start;
    long a = (long)(p->audio_s + 0.5);
    fprintf(p->f, "valar: %zu files, %ld:%02ld:%02ld of audio in %.1f s (%.0fx real time)", p->done,
            a / 3600, a / 60 % 60, a % 60, el, el > 0 ? p->audio_s / el : 0);
    fputc('\n', p->f);
    free(p);
}

void progress_add(progress *p, int failed, double audio_s)
{
    if (!p)
        return;
    p->done++;
    p->failed += failed != 0;
    p->audio_s += audio_s;
}

static int columns(FILE *f)
{
    struct winsize ws;
    return ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

static void draw(progress *p, double t)
{
    char info[160], eta[32] = "";
    double el = t - p->start, rate = el > 0 ? (double)p->done / el : 0;
    if (rate > 0 && p->done < p->total) {
        long s = (long)((double)(p->total - p->done) / rate + 0.5);
        snprintf(eta, sizeof eta, "  ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    int n = snprintf(info, sizeof info, "  %zu/%zu files  %.1f files/s  %.0fx real time%s", p->done,
                     p->total, rate, el > 0 ? p->audio_s / el : 0, eta);
    if (p->failed && n < (int)sizeof info)
        snprintf(info + n, sizeof info - (size_t)n, "  %zu failed", p->failed);
    int cols = columns(p->f);
    if ((int)strlen(info) >= cols) /* a wrapped line could not be redrawn in place */
        info[cols > 1 ? cols - 1 : 0] = '\0';
    /* A bar of fixed width (the text beside it changes length). */
    int width = cols - 62 > 30 ? 30 : cols - 62;
    if (width + 3 + (int)strlen(info) > cols)
        width = cols - 3 - (int)strlen(info);
    fputc('\r', p->f);
    if (width >= 10) {
        int fill = p->total ? (int)((double)width * (double)p->done / (double)p->total) : width;
        fputc('[', p->f);
        for (int i = 0; i < width; i++)
            fputc(i < fill ? '#' : '.', p->f);
        fputc(']', p->f);
    }
    fputs(info, p->f);
    fputs("\033[K", p->f);
    fflush(p->f);
    p->shown = 1;
    p->last_draw = t;
}

void progress_tick(progress *p)
{
    if (!p)
        return;
    double t = now();
    if (p->last_draw < 0 || t - p->last_draw >= 0.1)
        draw(p, t);
}
