#include "offline.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiofile.h"
#include "crnn.h"
#include "melspec.h"

#define BLOCK 4096 /* frames read from the file at a time */

typedef struct {
    analyzer_result *r;
    size_t n, cap;
    int oom;
} results;

static void results_add(void *user, const analyzer_result *r)
{
    results *rs = user;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 256;
        analyzer_result *p = realloc(rs->r, cap * sizeof *p);
        if (!p) {
            rs->oom = 1;
            return;
        }
        rs->r = p;
        rs->cap = cap;
    }
    rs->r[rs->n++] = *r;
}

static int run_streaming(audiofile *af, const weights *w, float *buf, results *rs, char *msg,
                         size_t msglen)
{
    analyzer *a;
    int err = analyzer_create(w, audiofile_rate(af), &a, msg, msglen);
    if (err)
        return err;
    long got;
    while ((got = audiofile_read_mono(af, buf, BLOCK)) > 0)
        analyzer_push(a, buf, (size_t)got, results_add, rs);
    analyzer_finish(a, results_add, rs);
    analyzer_destroy(a);
    return 0;
}

/* Collect all segments' log-mel frames of the file (T x M, malloc'd). */
static int all_frames(audiofile *af, const melspec_config *cfg, float *buf, float **out, int *T,
                      char *msg, size_t msglen)
{
    melspec *m;
    int err = melspec_create(cfg, audiofile_rate(af), &m);
    if (err) {
        snprintf(msg, msglen, "features at input rate %g Hz: %s", audiofile_rate(af),
                 valar_strerror(err));
        return err;
    }
    const size_t M = (size_t)cfg->n_mels;
    float *frames = NULL;
    size_t n = 0, cap = 0;
    int done = 0, nomem = 0;
    while (!done && !nomem) {
        long got = audiofile_read_mono(af, buf, BLOCK);
        if (got == 0) {
            melspec_finish(m);
            done = 1;
        }
        size_t pos = 0;
        int ready;
        do {
            pos += melspec_feed(m, buf + pos, (size_t)got - pos, &ready);
            if (!ready)
                break;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                float *p = realloc(frames, cap * M * sizeof *p);
                if (!p) {
                    nomem = 1;
                    break;
                }
                frames = p;
            }
            memcpy(frames + n * M, melspec_frame(m), M * sizeof *frames);
            n++;
        } while (1);
    }
    melspec_destroy(m);
    if (nomem) {
        free(frames);
        snprintf(msg, msglen, "out of memory");
        return VALAR_ERR_NOMEM;
    }
    *out = frames;
    *T = (int)n;
    return 0;
}

static int run_offline(audiofile *af, const weights *w, float *buf, results *rs, char *msg,
                       size_t msglen)
{
    melspec_config cfg;
    int err = melspec_config_read(&cfg, w, msg, msglen);
    if (err)
        return err;
    crnn *net;
    err = crnn_create(w, &net, msg, msglen);
    if (err)
        return err;
    float *frames = NULL;
    int T = 0, sv = 0;
    err = offline_seq_len(w, &sv, msg, msglen);
    if (!err)
        err = all_frames(af, &cfg, buf, &frames, &T, msg, msglen);
    int win = sv > 0 && sv < T ? sv : T;
    float *out = T > 0 ? malloc(sizeof(float) * 2 * (size_t)T) : NULL;
    if (!err && T > 0 && !out)
        err = VALAR_ERR_NOMEM;
    /* Non-overlapping windows of the length the model was trained on. */
    for (int t = 0; !err && t < T; t += win) {
        int len = T - t < win ? T - t : win;
        err = crnn_run_sequence(net, frames + (size_t)t * cfg.n_mels, len, out + 2 * (size_t)t);
        if (err)
            snprintf(msg, msglen, "%s", valar_strerror(err));
    }
    for (int t = 0; !err && t < T; t++) {
        analyzer_result r = {(double)t * cfg.segment_ms / 1000.0, out[2 * t], out[2 * t + 1]};
        results_add(rs, &r);
    }
    free(out);
    free(frames);
    crnn_destroy(net);
    return err;
}

int offline_seq_len(const weights *w, int *seq_len, char *msg, size_t msglen)
{
    *seq_len = 0;
    if (!weights_meta(w, "seq_len"))
        return 0;
    return weights_meta_int(w, "seq_len", 0, INT_MAX, seq_len, msg, msglen);
}

int offline_features(const char *path, const melspec_config *cfg, float **frames, int *T, char *msg,
                     size_t msglen)
{
    *frames = NULL;
    *T = 0;
    audiofile *af;
    int err = audiofile_open(path, &af, msg, msglen);
    if (err)
        return err;
    char inner[256] = "";
    float *buf = malloc(sizeof(float) * BLOCK);
    err = buf ? all_frames(af, cfg, buf, frames, T, inner, sizeof inner) : VALAR_ERR_NOMEM;
    if (!err && audiofile_damage(af)) { /* training wants every file whole */
        snprintf(inner, sizeof inner, "%s", audiofile_damage(af));
        free(*frames);
        *frames = NULL;
        *T = 0;
        err = VALAR_ERR_DECODE;
    }
    if (err)
        snprintf(msg, msglen, "%s: %s", path, *inner ? inner : "out of memory");
    free(buf);
    audiofile_close(af);
    return err;
}

int offline_analyze_file(const char *path, const weights *w, analyzer_result **res, size_t *n,
                         double *duration_s, char *msg, size_t msglen)
{
    *res = NULL;
    *n = 0;
    if (duration_s)
        *duration_s = 0;
    if (msglen)
        msg[0] = '\0';
    audiofile *af;
    int err = audiofile_open(path, &af, msg, msglen);
    if (err)
        return err;
    float *buf = malloc(sizeof(float) * BLOCK);
    results rs = {0};
    char inner[512] = "";
    const char *kind = weights_meta(w, "kind");
    if (!buf)
        err = VALAR_ERR_NOMEM;
    else if (kind && strcmp(kind, "streaming") == 0)
        err = run_streaming(af, w, buf, &rs, inner, sizeof inner);
    else
        err = run_offline(af, w, buf, &rs, inner, sizeof inner);
    if (!err && rs.oom)
        err = VALAR_ERR_NOMEM;
    /* Damaged audio: what was decoded is analysed, unless nothing was. */
    const char *damage = err ? NULL : audiofile_damage(af);
    if (damage && audiofile_position(af) == 0) {
        snprintf(inner, sizeof inner, "%s", damage);
        err = VALAR_ERR_DECODE;
    }
    if (err) {
        snprintf(msg, msglen, "%s: %s", path, *inner ? inner : "out of memory");
        free(rs.r);
    } else {
        if (damage)
            snprintf(msg, msglen, "%s: %s; analysed up to there", path, damage);
        *res = rs.r;
        *n = rs.n;
        if (duration_s)
            *duration_s = (double)audiofile_position(af) / audiofile_rate(af);
    }
    free(buf);
    audiofile_close(af);
    return err;
}
