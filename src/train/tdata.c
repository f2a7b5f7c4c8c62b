#include "tdata.h"
#include "offline.h"
#include "tcsv.h"
#include "atomicfile.h"
#include "tpool.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small helpers ---- */

/* The whole file, NUL-terminated; NULL with a message naming the file. */
static char *read_text(const char *path, char *msg, size_t msglen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msglen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        char *nb = realloc(buf, (cap *= 2) + 1);
        if (!nb)
            free(buf);
        buf = nb;
    }
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf || e) {
        free(buf);
        snprintf(msg, msglen, "%s: cannot read: %s", path, e ? strerror(e) : "out of memory");
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* ---- CSV ---- */

/* A wide annotation CSV. */
typedef struct {
    int ncol, nrow;
    int *ms;        /* ncol: start of each column's segment, ms */
    char (*id)[64]; /* nrow */
    float *v;       /* nrow x ncol, NAN = blank */
} twide;

/* A split file's items. */
typedef struct {
    int n;
    struct tsplit_item {
        char set[8];
        char lo[64];
        long a, b; /* numeric range (a <= id <= b) when lo is empty */
        int line;
    } * items;
} tsplit;

static void wide_free(twide *c)
{
    free(c->ms);
    free(c->id);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* Row callback of wide_read. */
typedef struct {
    twide *c;
    const char *path;
    int rowcap;
} wide_ctx;

static int wide_header(twide *c, char **cells, int n, const char *path, int line, char *msg,
                       size_t msglen)
{
    while (n > 1 && !*cells[n - 1])
        n--; /* trailing empty header cells */
    c->ncol = n - 1;
    if (c->ncol < 1) {
        snprintf(msg, msglen, "%s:%d: header has no sample_<ms>ms columns", path, line);
        return -1;
    }
    if (!(c->ms = malloc(sizeof(int) * (size_t)c->ncol))) {
        snprintf(msg, msglen, "%s: out of memory", path);
        return -1;
    }
    for (int j = 0; j < c->ncol; j++) {
        int ms = -1, used = 0;
        if (sscanf(cells[j + 1], "sample_%dms%n", &ms, &used) != 1 || cells[j + 1][used] ||
            ms < 0 || ms % 500) {
            snprintf(msg, msglen,
                     "%s:%d: column %d header '%s' is not sample_<ms>ms with ms a multiple of 500",
                     path, line, j + 2, cells[j + 1]);
            return -1;
        }
        c->ms[j] = ms;
    }
    return 0;
}

static int wide_row(void *ctx, char **cells, int n, int line, char *msg, size_t msglen)
{
    wide_ctx *w = ctx;
    twide *c = w->c;
    const char *path = w->path;
    if (!c->ms)
        return wide_header(c, cells, n, path, line, msg, msglen);
    while (n > c->ncol + 1 && !*cells[n - 1])
        n--;
    if (n > c->ncol + 1) {
        snprintf(msg, msglen, "%s:%d: %d cells, but the header has %d", path, line, n,
                 c->ncol + 1);
        return -1;
    }
    if (!*cells[0] || strlen(cells[0]) >= 64) {
        snprintf(msg, msglen, "%s:%d: missing or too long song id", path, line);
        return -1;
    }
    for (int i = 0; i < c->nrow; i++)
        if (!strcmp(c->id[i], cells[0])) {
            snprintf(msg, msglen, "%s:%d: song id %s appears twice", path, line, cells[0]);
            return -1;
        }
    if (c->nrow == w->rowcap) {
        w->rowcap = w->rowcap ? w->rowcap * 2 : 256;
        void *ni = realloc(c->id, sizeof *c->id * (size_t)w->rowcap);
        if (ni)
            c->id = ni;
        void *nv = realloc(c->v, sizeof(float) * (size_t)w->rowcap * c->ncol);
        if (nv)
            c->v = nv;
        if (!ni || !nv) {
            snprintf(msg, msglen, "%s: out of memory", path);
            return -1;
        }
    }
    snprintf(c->id[c->nrow], 64, "%s", cells[0]);
    float *row = c->v + (size_t)c->nrow * c->ncol;
    for (int j = 0; j < c->ncol; j++) {
        row[j] = NAN;
        if (j + 1 >= n || !*cells[j + 1])
            continue;
        char *end;
        double v = strtod(cells[j + 1], &end);
        if (*end || !isfinite(v)) {
            snprintf(msg, msglen, "%s:%d: column %d: '%s' is not a number", path, line, j + 2,
                     cells[j + 1]);
            return -1;
        }
        row[j] = (float)v;
    }
    c->nrow++;
    return 0;
}

static int wide_read(const char *path, twide *c, char *msg, size_t msglen)
{
    memset(c, 0, sizeof *c);
    wide_ctx w = {c, path, 0};
    int err = tcsv_each(path, wide_row, &w, msg, msglen);
    if (!err && !c->ms) {
        snprintf(msg, msglen, "%s: empty file (no header)", path);
        err = -1;
    }
    if (err)
        wide_free(c);
    return err;
}

/* ---- split file ---- */

static void tsplit_free(tsplit *s)
{
    free(s->items);
    memset(s, 0, sizeof *s);
}

static int tsplit_read(const char *path, tsplit *s, char *msg, size_t msglen)
{
    memset(s, 0, sizeof *s);
    char *buf = read_text(path, msg, msglen);
    if (!buf)
        return -1;
    int cap = 0, lineno = 0, err = 0;
    char *save = NULL;
    for (char *p = buf; p && *p && !err; lineno++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        char *hash = strchr(p, '#');
        if (hash)
            *hash = 0;
        char *set = strtok_r(p, " \t\r,", &save);
        if (set && strcmp(set, "train") && strcmp(set, "val") && strcmp(set, "test")) {
            snprintf(msg, msglen, "%s:%d: set '%s' is not train, val or test", path, lineno + 1,
                     set);
            err = -1;
        }
        for (char *tok = set ? strtok_r(NULL, " \t\r,", &save) : NULL; tok && !err;
             tok = strtok_r(NULL, " \t\r,", &save)) {
            if (s->n == cap) {
                cap = cap ? cap * 2 : 64;
                void *ni = realloc(s->items, sizeof *s->items * (size_t)cap);
                if (!ni) {
                    err = -1;
                    snprintf(msg, msglen, "%s: out of memory", path);
                    break;
                }
                s->items = ni;
            }
            struct tsplit_item *it = &s->items[s->n];
            memset(it, 0, sizeof *it);
            snprintf(it->set, sizeof it->set, "%s", set);
            it->line = lineno + 1;
            long a, b;
            int used = 0;
            if (sscanf(tok, "%ld-%ld%n", &a, &b, &used) == 2 && !tok[used]) {
                if (b < a) {
                    snprintf(msg, msglen, "%s:%d: empty range %s", path, lineno + 1, tok);
                    err = -1;
                    break;
                }
                it->a = a;
                it->b = b;
            } else if (strlen(tok) < sizeof it->lo) {
                snprintf(it->lo, sizeof it->lo, "%s", tok);
            } else {
                snprintf(msg, msglen, "%s:%d: id too long", path, lineno + 1);
                err = -1;
                break;
            }
            s->n++;
        }
        p = nl ? nl + 1 : NULL;
    }
    free(buf);
    /* an id named in two sets would be trained and tested on */
    for (int i = 0; !err && i < s->n; i++)
        for (int j = i + 1; !err && j < s->n; j++) {
            const struct tsplit_item *x = &s->items[i], *y = &s->items[j];
            if (x->lo[0] && !strcmp(x->lo, y->lo) && strcmp(x->set, y->set)) {
                snprintf(msg, msglen, "%s: song %s is in two sets: %s (line %d) and %s (line %d)",
                         path, x->lo, x->set, x->line, y->set, y->line);
                err = -1;
            }
        }
    if (err)
        tsplit_free(s);
    return err;
}

/* Does split item it cover id? */
static int tsplit_covers(const struct tsplit_item *it, const char *id)
{
    char *end;
    long v = strtol(id, &end, 10);
    int numeric = *id && !*end;
    return it->lo[0] ? !strcmp(it->lo, id) : numeric && v >= it->a && v <= it->b;
}

/* Does the split file put id into set? */
static int tsplit_has(const tsplit *s, const char *set, const char *id)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].set, set) && tsplit_covers(&s->items[i], id))
            return 1;
    return 0;
}

/* Describes a split item for messages: "val (line 3, range 1-20)". */
static void tsplit_where(const struct tsplit_item *it, char *buf, size_t len)
{
    if (it->lo[0])
        snprintf(buf, len, "%s (line %d)", it->set, it->line);
    else
        snprintf(buf, len, "%s (line %d, range %ld-%ld)", it->set, it->line, it->a, it->b);
}

/* A song of the CSVs that the split puts into two sets (through a range:
 * ids named one by one are checked by tsplit_read) is an error: ranges
 * that overlap only on ids absent from the CSVs are fine. */
static int tsplit_check_song(const tsplit *s, const char *path, const char *id, char *msg,
                             size_t msglen)
{
    const struct tsplit_item *first = NULL;
    for (int i = 0; i < s->n; i++) {
        const struct tsplit_item *it = &s->items[i];
        if (!tsplit_covers(it, id))
            continue;
        if (!first) {
            first = it;
        } else if (strcmp(first->set, it->set)) {
            char a[96], b[96];
            tsplit_where(first, a, sizeof a);
            tsplit_where(it, b, sizeof b);
            snprintf(msg, msglen, "%s: song %s is in two sets: %s and %s", path, id, a, b);
            return -1;
        }
    }
    return 0;
}

/* ---- feature cache ---- */

#define CACHE_MAGIC "VALARFC1"

typedef struct {
    char name[256]; /* the audio file's name relative to the audio folder */
    int64_t size, mtime_s, mtime_ns;
    int32_t T, M;
    float *x;
} centry;

typedef struct {
    centry *e;
    int n, cap;
} cache;

static void cache_free(cache *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->e[i].x);
    free(c->e);
    memset(c, 0, sizeof *c);
}

static centry *cache_add(cache *c)
{
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 64;
        centry *ne = realloc(c->e, sizeof *ne * (size_t)nc);
        if (!ne)
            return NULL;
        c->e = ne;
        c->cap = nc;
    }
    centry *e = &c->e[c->n++];
    memset(e, 0, sizeof *e);
    return e;
}

/* The feature config as the cache stores it: 5 int32 then 3 float. */
enum { CONFIG_BYTES = 5 * 4 + 3 * 4 };

static void config_bytes(const melspec_config *fc, unsigned char out[CONFIG_BYTES])
{
    int32_t iv[5] = {fc->sample_rate, fc->n_fft, fc->hop, fc->n_mels, fc->segment_ms};
    float fv[3] = {fc->fmin, fc->fmax, fc->log_floor};
    memcpy(out, iv, sizeof iv);
    memcpy(out + sizeof iv, fv, sizeof fv);
}

/* Reads a cache written with the same feature config; anything else
 * (missing, other config, damaged) gives an empty cache. */
static void cache_read(const char *path, const melspec_config *fc, cache *c)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    char magic[8];
    unsigned char want[CONFIG_BYTES], have[CONFIG_BYTES];
    config_bytes(fc, want);
    uint32_t count = 0;
    int ok = fread(magic, 8, 1, f) == 1 && !memcmp(magic, CACHE_MAGIC, 8) &&
             fread(have, sizeof have, 1, f) == 1 && !memcmp(want, have, sizeof have) &&
             fread(&count, sizeof count, 1, f) == 1;
    for (uint32_t i = 0; ok && i < count; i++) {
        centry *e = cache_add(c);
        uint16_t nl;
        ok = e && fread(&nl, sizeof nl, 1, f) == 1 && nl < sizeof e->name &&
             fread(e->name, nl, 1, f) == 1 && fread(&e->size, 8, 1, f) == 1 &&
             fread(&e->mtime_s, 8, 1, f) == 1 && fread(&e->mtime_ns, 8, 1, f) == 1 &&
             fread(&e->T, 4, 1, f) == 1 && fread(&e->M, 4, 1, f) == 1 && e->T >= 0 &&
             e->T < 10000000 && e->M == fc->n_mels;
        if (ok) {
            e->name[nl] = 0;
            size_t cnt = (size_t)e->T * (size_t)e->M;
            e->x = malloc(sizeof(float) * (cnt ? cnt : 1));
            ok = e->x && fread(e->x, sizeof(float), cnt, f) == cnt;
        }
    }
    fclose(f);
    if (!ok)
        cache_free(c);
}

static int cache_write(const char *path, const melspec_config *fc, const cache *c, char *msg,
                       size_t msglen)
{
    atomicfile tf;
    if (atomicfile_open(&tf, path, "feature cache", msg, msglen))
        return -1;
    FILE *f = tf.f; /* write errors show in ferror, which atomicfile_commit checks */
    unsigned char cfg[CONFIG_BYTES];
    config_bytes(fc, cfg);
    fwrite(CACHE_MAGIC, 8, 1, f);
    fwrite(cfg, sizeof cfg, 1, f);
    uint32_t count = (uint32_t)c->n;
    fwrite(&count, sizeof count, 1, f);
    for (int i = 0; i < c->n; i++) {
        const centry *e = &c->e[i];
        uint16_t nl = (uint16_t)strlen(e->name);
        fwrite(&nl, sizeof nl, 1, f);
        fwrite(e->name, nl, 1, f);
        fwrite(&e->size, 8, 1, f);
        fwrite(&e->mtime_s, 8, 1, f);
        fwrite(&e->mtime_ns, 8, 1, f);
        fwrite(&e->T, 4, 1, f);
        fwrite(&e->M, 4, 1, f);
        fwrite(e->x, sizeof(float), (size_t)e->T * e->M, f);
    }
    return atomicfile_commit(&tf, 1, msg, msglen);
}

/* ---- feature extraction ---- */

typedef struct {
    const melspec_config *fc;
    char (*path)[4096]; /* per song */
    centry *ent;        /* the cache's entries (no longer moving) */
    const int *eidx;    /* per song: its entry */
    const int *jobs;    /* the songs to extract */
    char (*err)[512];   /* per job */
    int n, done, progress;
    pthread_mutex_t mu;
} xctx;

static void progress_bar(int done, int n)
{
    int w = 40, k = n ? done * w / n : w;
    fprintf(stderr, "\rfeatures [");
    for (int i = 0; i < w; i++)
        fputc(i < k ? '#' : ' ', stderr);
    fprintf(stderr, "] %d/%d", done, n);
    if (done == n)
        fputc('\n', stderr);
    fflush(stderr);
}

/* A pool thread (tpool.h): all complete segments of job j's song with the
 * library's offline_features, so training sees exactly the frames valar
 * analyze computes. */
static void job_extract(void *ctx, int j)
{
    xctx *x = ctx;
    int k = x->jobs[j];
    centry *e = &x->ent[x->eidx[k]];
    float *feat;
    int T;
    x->err[j][0] = 0;
    if (offline_features(x->path[k], x->fc, &feat, &T, x->err[j], sizeof x->err[j]) != 0) {
        if (!x->err[j][0])
            snprintf(x->err[j], sizeof x->err[j], "%s: feature extraction failed", x->path[k]);
    } else if (!feat && !(feat = malloc(sizeof(float)))) { /* T = 0: keep x valid */
        snprintf(x->err[j], sizeof x->err[j], "%s: out of memory", x->path[k]);
    } else {
        e->x = feat;
        e->T = T;
        e->M = x->fc->n_mels;
    }
    pthread_mutex_lock(&x->mu);
    x->done++;
    if (x->progress)
        progress_bar(x->done, x->n);
    pthread_mutex_unlock(&x->mu);
}

/* ---- loading a set ---- */

/* Finds <dir>/<id>.<ext>; returns the extension, or NULL. The extensions
 * (formats libsndfile reads) are tried in this order, which docs/training.md
 * (Data layout) lists: the first existing file wins. */
static const char *find_audio(const char *dir, const char *id, char *path, size_t len,
                              struct stat *st)
{
    static const char *ext[] = {"mp3", "wav",  "flac", "ogg",  "opus", "oga", "aiff", "aif", "aifc",
                                "au",  "snd",  "w64",  "caf",  "MP3",  "WAV", "FLAC", "OGG", "OPUS",
                                "OGA", "AIFF", "AIF",  "AIFC", "AU",   "SND", "W64",  "CAF"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        snprintf(path, len, "%s/%s.%s", dir, id, ext[i]);
        if (stat(path, st) == 0 && S_ISREG(st->st_mode))
            return ext[i];
    }
    return NULL;
}

static int col_of(const twide *c, int ms)
{
    for (int j = 0; j < c->ncol; j++)
        if (c->ms[j] == ms)
            return j;
    return -1;
}

static int row_of(const twide *c, const char *id)
{
    for (int i = 0; i < c->nrow; i++)
        if (!strcmp(c->id[i], id))
            return i;
    return -1;
}

/* ---- song-level labels ---- */

/* A labels file: song_id,arousal,valence[,quadrant]. */
typedef struct {
    int n, cap;
    struct tlabel {
        char id[64];
        float a, v;
        int quad; /* 1..4, 0: not given */
    } * l;
    const char *path;
} tlabels;

static int labels_row(void *ctx, char **cells, int n, int line, char *msg, size_t msglen)
{
    tlabels *L = ctx;
    if (line == 1 && n >= 3 && strcmp(cells[1], "arousal") == 0)
        return 0; /* header */
    if (n < 3 || n > 4) {
        snprintf(msg, msglen, "%s:%d: %d cells; want song_id,arousal,valence[,quadrant]",
                 L->path, line, n);
        return -1;
    }
    if (!*cells[0] || strlen(cells[0]) >= 64) {
        snprintf(msg, msglen, "%s:%d: missing or too long song id", L->path, line);
        return -1;
    }
    for (int i = 0; i < L->n; i++)
        if (!strcmp(L->l[i].id, cells[0])) {
            snprintf(msg, msglen, "%s:%d: song id %s appears twice", L->path, line, cells[0]);
            return -1;
        }
    double a, v;
    if (tcsv_number(cells[1], -1, 1, L->path, line, 2, "arousal", &a, msg, msglen) ||
        tcsv_number(cells[2], -1, 1, L->path, line, 3, "valence", &v, msg, msglen))
        return -1;
    int q = 0;
    if (n == 4) {
        const char *c = cells[3] + (cells[3][0] == 'Q' || cells[3][0] == 'q');
        if (c[0] < '1' || c[0] > '4' || c[1]) {
            snprintf(msg, msglen, "%s:%d: column 4 (quadrant): '%s' is not Q1, Q2, Q3 or Q4",
                     L->path, line, cells[3]);
            return -1;
        }
        q = c[0] - '0';
    }
    if (L->n == L->cap) {
        int nc = L->cap ? 2 * L->cap : 256;
        void *nl = realloc(L->l, sizeof *L->l * (size_t)nc);
        if (!nl) {
            snprintf(msg, msglen, "%s: out of memory", L->path);
            return -1;
        }
        L->l = nl;
        L->cap = nc;
    }
    struct tlabel *e = &L->l[L->n++];
    snprintf(e->id, sizeof e->id, "%s", cells[0]);
    e->a = (float)a;
    e->v = (float)v;
    e->quad = q;
    return 0;
}

/* ---- annotations: dynamic (two wide CSVs) or song-level (labels) ---- */

typedef struct {
    const tdata_opts *o;
    twide a, v;   /* dynamic */
    tlabels lab;  /* song-level */
    int is_static;
} tann;

static void ann_free(tann *an)
{
    wide_free(&an->a);
    wide_free(&an->v);
    free(an->lab.l);
    memset(an, 0, sizeof *an);
}

static int ann_read(const tdata_opts *o, tann *an, char *msg, size_t msglen)
{
    memset(an, 0, sizeof *an);
    an->o = o;
    if (o->labels) {
        an->is_static = 1;
        an->lab.path = o->labels;
        if (tcsv_each(o->labels, labels_row, &an->lab, msg, msglen))
            return -1;
        if (an->lab.n == 0) {
            snprintf(msg, msglen, "%s: no songs", o->labels);
            return -1;
        }
        return 0;
    }
    return wide_read(o->arousal_csv, &an->a, msg, msglen) ||
                   wide_read(o->valence_csv, &an->v, msg, msglen)
               ? -1
               : 0;
}

static int ann_count(const tann *an)
{
    return an->is_static ? an->lab.n : an->a.nrow;
}

static const char *ann_id(const tann *an, int i)
{
    return an->is_static ? an->lab.l[i].id : an->a.id[i];
}

static int ann_find(const tann *an, const char *id)
{
    for (int i = 0; i < ann_count(an); i++)
        if (!strcmp(ann_id(an, i), id))
            return i;
    return -1;
}

/* Targets of song i (annotation index) for the T frames of g. Song-level
 * labels hold for every frame from o->warmup_s on; the frames before are
 * the model's context only (a streaming model starts from a zero state). */
static void ann_fill(const tann *an, int i, int seg_ms, tsong *g)
{
    if (an->is_static) {
        const struct tlabel *l = &an->lab.l[i];
        int from = (int)ceil(an->o->warmup_s * 1000.0 / seg_ms - 1e-9);
        g->quad = l->quad;
        for (int t = from < 0 ? 0 : from; t < g->T; t++) {
            g->tgt[t * 2] = l->a;
            g->tgt[t * 2 + 1] = l->v;
            g->lab[t] = 1;
        }
        return;
    }
    const twide *ca = &an->a, *cv = &an->v;
    int rv = row_of(cv, ca->id[i]);
    for (int j = 0; j < ca->ncol; j++) {
        int ms = ca->ms[j], jv = col_of(cv, ms), t = ms / seg_ms;
        if (ms % seg_ms || jv < 0 || t >= g->T)
            continue;
        float a = ca->v[(size_t)i * ca->ncol + j], v = cv->v[(size_t)rv * cv->ncol + jv];
        if (isnan(a) || isnan(v))
            continue;
        g->tgt[t * 2] = a;
        g->tgt[t * 2 + 1] = v;
        g->lab[t] = 1;
    }
}

/* The annotation indices of the songs of one set, in file order. Songs
 * of a split set must be annotated (for both outputs); without a split,
 * "train" (and "all") is every song annotated for both. */
static int ann_select(const tann *an, const tsplit *sp, const char *set, int *rows, int *n,
                      char *msg, size_t msglen)
{
    const tdata_opts *o = an->o;
    *n = 0;
    for (int i = 0; i < ann_count(an); i++) {
        const char *id = ann_id(an, i);
        int want = !strcmp(set, "all") || (!o->split ? !strcmp(set, "train")
                                                      : tsplit_has(sp, set, id));
        if (!want)
            continue;
        if (!an->is_static && row_of(&an->v, id) < 0) {
            if (!o->split)
                continue;
            snprintf(msg, msglen, "%s: song %s (set %s) has no valence annotation",
                     o->valence_csv, id, set);
            return -1;
        }
        rows[(*n)++] = i;
    }
    /* ids named in the split without annotations are errors too */
    for (int k = 0; o->split && k < sp->n; k++)
        if (!strcmp(sp->items[k].set, set) && sp->items[k].lo[0] &&
            ann_find(an, sp->items[k].lo) < 0) {
            if (an->is_static)
                snprintf(msg, msglen, "%s:%d: song %s of set %s is not in %s", o->split,
                         sp->items[k].line, sp->items[k].lo, set, o->labels);
            else
                snprintf(msg, msglen, "%s: song %s of set %s has no arousal annotation in %s",
                         o->split, sp->items[k].lo, set, o->arousal_csv);
            return -1;
        }
    return 0;
}

/* ---- features for a list of songs ---- */

/* The cache entry of every song (ids are unique, so each entry serves one
 * song), recomputing missing or stale ones in parallel. eidx[k] receives
 * song k's entry in c. */
static int features(const tdata_opts *o, const melspec_config *fc, const char (*ids)[64], int n,
                    cache *c, int *eidx, char *msg, size_t msglen)
{
    char(*paths)[4096] = malloc(sizeof *paths * (size_t)(n + 1));
    char(*errs)[512] = calloc((size_t)n + 1, sizeof *errs);
    int *jobs = malloc(sizeof(int) * (size_t)(n + 1)), nj = 0, rc = -1;
    xctx x = {0};
    pthread_mutex_init(&x.mu, NULL);
    if (!paths || !errs || !jobs) {
        snprintf(msg, msglen, "out of memory");
        goto done;
    }
    for (int k = 0; k < n; k++) {
        struct stat st;
        const char *ext = find_audio(o->audio_dir, ids[k], paths[k], sizeof paths[k], &st);
        if (!ext) {
            snprintf(msg, msglen,
                     "%s: no audio file %s.mp3 (or .wav .flac .ogg .opus .oga .aiff .aif .aifc "
                     ".au .snd .w64 .caf, or upper case) for song %s",
                     o->audio_dir, ids[k], ids[k]);
            goto done;
        }
        char name[sizeof c->e->name];
        snprintf(name, sizeof name, "%s.%s", ids[k], ext);
        centry *e = NULL;
        for (int i = 0; i < c->n && !e; i++)
            if (!strcmp(c->e[i].name, name))
                e = &c->e[i];
        int stale = !e || e->size != (int64_t)st.st_size ||
                    e->mtime_s != (int64_t)st.st_mtim.tv_sec ||
                    e->mtime_ns != (int64_t)st.st_mtim.tv_nsec;
        if (!e && !(e = cache_add(c))) {
            snprintf(msg, msglen, "out of memory");
            goto done;
        }
        if (stale) {
            free(e->x);
            memset(e, 0, sizeof *e);
            snprintf(e->name, sizeof e->name, "%s", name);
            e->size = (int64_t)st.st_size;
            e->mtime_s = (int64_t)st.st_mtim.tv_sec;
            e->mtime_ns = (int64_t)st.st_mtim.tv_nsec;
            jobs[nj++] = k;
        }
        eidx[k] = (int)(e - c->e); /* an index: c->e may move while growing */
    }
    if (nj > 0) {
        x.fc = fc;
        x.path = paths;
        x.ent = c->e;
        x.eidx = eidx;
        x.jobs = jobs;
        x.err = errs;
        x.n = nj;
        x.progress = o->progress;
        tpool *pool = tpool_create(o->threads);
        if (pool)
            tpool_run(pool, nj, job_extract, &x);
        else
            snprintf(msg, msglen, "cannot start threads");
        tpool_destroy(pool);
        for (int j = 0; j < nj && !msg[0]; j++)
            if (errs[j][0])
                snprintf(msg, msglen, "%s", errs[j]);
        if (msg[0])
            goto done;
        if (o->cache && cache_write(o->cache, fc, c, msg, msglen)) {
            /* a read-only data folder must not stop training: warn only */
            fprintf(stderr, "valar-train: warning: %s\n", msg);
            msg[0] = 0;
        }
    }
    rc = 0;
done:
    pthread_mutex_destroy(&x.mu);
    free(paths);
    free(errs);
    free(jobs);
    return rc;
}

/* A song of annotation row `row`: a copy of its features (a song may be in
 * two of the sets asked for, e.g. "all" and "test") and its targets. */
static int build_song(const tann *an, int row, const centry *e, const melspec_config *fc,
                      tsong *g)
{
    snprintf(g->id, sizeof g->id, "%s", ann_id(an, row));
    g->T = e->T;
    g->M = e->M;
    size_t nx = (size_t)e->T * (size_t)e->M;
    g->x = malloc(sizeof(float) * (nx ? nx : 1));
    g->tgt = calloc(((size_t)g->T + 1) * 2, sizeof(float));
    g->lab = calloc((size_t)g->T + 1, 1);
    if (!g->x || !g->tgt || !g->lab)
        return -1;
    memcpy(g->x, e->x, sizeof(float) * nx);
    ann_fill(an, row, fc->segment_ms, g);
    return 0;
}

int tdata_load(const tdata_opts *o, const char *const *sets, int nsets, const melspec_config *fc,
               tset *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out * (size_t)nsets);
    msg[0] = 0;
    tann an;
    tsplit sp = {0};
    cache c = {0};
    int rc = -1, total = 0, *rows = NULL, *eidx = NULL, *first = NULL;
    char(*ids)[64] = NULL;
    if (ann_read(o, &an, msg, msglen))
        goto done;
    if (o->split && tsplit_read(o->split, &sp, msg, msglen))
        goto done;
    for (int i = 0; o->split && i < ann_count(&an); i++)
        if (tsplit_check_song(&sp, o->split, ann_id(&an, i), msg, msglen))
            goto done;
    /* the songs of every set, one after another */
    size_t cap = (size_t)ann_count(&an) * (size_t)nsets + 1;
    rows = malloc(sizeof(int) * cap);
    eidx = malloc(sizeof(int) * cap);
    ids = malloc(sizeof *ids * cap);
    first = malloc(sizeof(int) * (size_t)(nsets + 1));
    if (!rows || !eidx || !ids || !first) {
        snprintf(msg, msglen, "out of memory");
        goto done;
    }
    for (int s = 0; s < nsets; s++) {
        int n;
        first[s] = total;
        if (ann_select(&an, &sp, sets[s], rows + total, &n, msg, msglen))
            goto done;
        total += n;
    }
    first[nsets] = total;
    for (int k = 0; k < total; k++)
        snprintf(ids[k], sizeof ids[k], "%s", ann_id(&an, rows[k]));
    if (o->cache)
        cache_read(o->cache, fc, &c);
    if (features(o, fc, (const char(*)[64])ids, total, &c, eidx, msg, msglen))
        goto done;
    for (int s = 0; s < nsets; s++) {
        int n = first[s + 1] - first[s];
        if (!(out[s].songs = calloc((size_t)n + 1, sizeof(tsong)))) {
            snprintf(msg, msglen, "out of memory");
            goto done;
        }
        for (int k = first[s]; k < first[s + 1]; k++) {
            const centry *e = &c.e[eidx[k]];
            if (build_song(&an, rows[k], e, fc, &out[s].songs[out[s].n++])) {
                snprintf(msg, msglen, "out of memory");
                goto done;
            }
        }
    }
    rc = 0;
done:
    if (rc)
        for (int s = 0; s < nsets; s++)
            tset_free(&out[s]);
    ann_free(&an);
    tsplit_free(&sp);
    cache_free(&c);
    free(rows);
    free(eidx);
    free(ids);
    free(first);
    return rc;
}
