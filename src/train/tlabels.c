#include "tlabels.h"
#include "tcsv.h"
#include "atomicfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A table read from one CSV: the header's column of each wanted name,
 * then per row the cells of those columns (copied) and the row's line. */
typedef struct {
    const char *path;
    const char *const *want; /* column names, NULL-terminated */
    int nwant, col[8];
    int n, cap;
    char *(*cell)[8];
    int *line;
} table;

static void table_free(table *t)
{
    for (int i = 0; i < t->n; i++)
        for (int k = 0; k < t->nwant; k++)
            free(t->cell[i][k]);
    free(t->cell);
    free(t->line);
}

static int table_row(void *ctx, char **cells, int n, int line, char *msg, size_t msglen)
{
    table *t = ctx;
    if (t->col[0] < 0) { /* header */
        for (int k = 0; k < t->nwant; k++) {
            for (int j = 0; j < n && t->col[k] < 0; j++)
                if (!strcmp(cells[j], t->want[k]))
                    t->col[k] = j;
            if (t->col[k] < 0) {
                snprintf(msg, msglen, "%s:%d: no column '%s' in the header", t->path, line,
                         t->want[k]);
                return -1;
            }
        }
        return 0;
    }
    if (t->n == t->cap) {
        int nc = t->cap ? 2 * t->cap : 256;
        void *c = realloc(t->cell, sizeof *t->cell * (size_t)nc);
        if (c)
            t->cell = c;
        void *l = realloc(t->line, sizeof *t->line * (size_t)nc);
        if (l)
            t->line = l;
        if (!c || !l) {
            snprintf(msg, msglen, "%s: out of memory", t->path);
            return -1;
        }
        t->cap = nc;
    }
    for (int k = 0; k < t->nwant; k++) {
        if (t->col[k] >= n) {
            snprintf(msg, msglen, "%s:%d: %d cells; column '%s' is number %d", t->path, line, n,
                     t->want[k], t->col[k] + 1);
            return -1;
        }
        t->cell[t->n][k] = NULL;
    }
    t->line[t->n] = line;
    for (int k = 0; k < t->nwant; k++)
        if (!(t->cell[t->n][k] = strdup(cells[t->col[k]]))) {
            t->n++; /* freed by table_free */
            snprintf(msg, msglen, "%s: out of memory", t->path);
            return -1;
        }
    t->n++;
    return 0;
}

/* Reads path keeping the columns named in want; the first column named is
 * a key, which must be non-empty and unique. */
static int table_read(table *t, const char *path, const char *const *want, char *msg,
                      size_t msglen)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    t->want = want;
    while (want[t->nwant])
        t->col[t->nwant++] = -1;
    if (tcsv_each(path, table_row, t, msg, msglen))
        return -1;
    if (t->col[0] < 0) {
        snprintf(msg, msglen, "%s: empty file (no header)", path);
        return -1;
    }
    for (int i = 0; i < t->n; i++) {
        if (!t->cell[i][0][0]) {
            snprintf(msg, msglen, "%s:%d: empty %s", path, t->line[i], want[0]);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(t->cell[i][0], t->cell[j][0])) {
                snprintf(msg, msglen, "%s:%d: %s %s appears twice (first on line %d)", path,
                         t->line[i], want[0], t->cell[i][0], t->line[j]);
                return -1;
            }
    }
    return 0;
}

static int table_find(const table *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->cell[i][0], key))
            return i;
    return -1;
}

/* The song-level labels of the song in metadata row r: means over its tags. */
static int song_label(const table *meta, int r, const table *norms, const double (*va)[2],
                      double *a, double *v, char *msg, size_t msglen)
{
    char *tags = meta->cell[r][1], *save = NULL;
    int n = 0;
    *a = *v = 0;
    for (char *w = strtok_r(tags, ";", &save); w; w = strtok_r(NULL, ";", &save)) {
        while (*w == ' ')
            w++;
        size_t l = strlen(w);
        while (l && w[l - 1] == ' ')
            w[--l] = 0;
        if (!*w)
            continue;
        int k = table_find(norms, w);
        if (k < 0) {
            snprintf(msg, msglen, "%s:%d: song %s: tag '%s' is not in %s", meta->path,
                     meta->line[r], meta->cell[r][0], w, norms->path);
            return -1;
        }
        *v += (va[k][0] - 5) / 4;
        *a += (va[k][1] - 5) / 4;
        n++;
    }
    if (n == 0) {
        snprintf(msg, msglen, "%s:%d: song %s has no tags", meta->path, meta->line[r],
                 meta->cell[r][0]);
        return -1;
    }
    *a /= n;
    *v /= n;
    return 0;
}

static int write_labels(const tlabels_opts *o, const table *quad, const table *meta,
                        const table *norms, const double (*va)[2], char *msg, size_t msglen)
{
    atomicfile tf;
    FILE *f = stdout;
    if (o->out) {
        if (atomicfile_open(&tf, o->out, "labels", msg, msglen))
            return -1;
        f = tf.f;
    }
    int ok = fprintf(f, "song_id,arousal,valence,quadrant\n") > 0, err = 0;
    for (int i = 0; i < quad->n && !err; i++) {
        const char *id = quad->cell[i][0], *q = quad->cell[i][1];
        int r = table_find(meta, id);
        double a, v;
        if (r < 0) {
            snprintf(msg, msglen, "%s:%d: song %s is not in %s", quad->path, quad->line[i], id,
                     meta->path);
            err = -1;
        } else if (!(q[0] == 'Q' && q[1] >= '1' && q[1] <= '4' && !q[2])) {
            snprintf(msg, msglen, "%s:%d: quadrant '%s' is not Q1, Q2, Q3 or Q4", quad->path,
                     quad->line[i], q);
            err = -1;
        } else if (!(err = song_label(meta, r, norms, va, &a, &v, msg, msglen)))
            ok &= fprintf(f, "%s,%.6f,%.6f,%s\n", id, a, v, q) > 0;
    }
    if (!o->out)
        return err ? -1 : fflush(stdout) == 0 ? 0 : -1;
    if (err) {
        atomicfile_commit(&tf, 0, NULL, 0);
        return -1;
    }
    return atomicfile_commit(&tf, ok, msg, msglen);
}

int tlabels_make(const tlabels_opts *o, char *msg, size_t msglen)
{
    static const char *const w_quad[] = {"Song", "Quadrant", NULL};
    static const char *const w_meta[] = {"Song", "MoodsFoundStr", NULL};
    static const char *const w_norm[] = {"Word", "V.Mean.Sum", "A.Mean.Sum", NULL};
    table quad, meta, norms;
    double(*va)[2] = NULL;
    int rc = -1;
    memset(&meta, 0, sizeof meta);
    memset(&norms, 0, sizeof norms);
    if (table_read(&quad, o->quadrants, w_quad, msg, msglen) ||
        table_read(&meta, o->metadata, w_meta, msg, msglen) ||
        table_read(&norms, o->norms, w_norm, msg, msglen))
        goto done;
    if (!(va = malloc(sizeof *va * (size_t)(norms.n + 1)))) {
        snprintf(msg, msglen, "out of memory");
        goto done;
    }
    for (int k = 0; k < norms.n; k++)
        if (tcsv_number(norms.cell[k][1], 1, 9, o->norms, norms.line[k], norms.col[1] + 1,
                        "V.Mean.Sum", &va[k][0], msg, msglen) ||
            tcsv_number(norms.cell[k][2], 1, 9, o->norms, norms.line[k], norms.col[2] + 1,
                        "A.Mean.Sum", &va[k][1], msg, msglen))
            goto done;
    /* a tagged song the quadrants file does not know is a mismatch of the
     * two files, not a song to drop silently */
    for (int r = 0; r < meta.n; r++)
        if (table_find(&quad, meta.cell[r][0]) < 0) {
            snprintf(msg, msglen, "%s:%d: song %s is not in %s", o->metadata, meta.line[r],
                     meta.cell[r][0], o->quadrants);
            goto done;
        }
    if (write_labels(o, &quad, &meta, &norms, (const double(*)[2])va, msg, msglen) == 0)
        rc = quad.n;
done:
    table_free(&quad);
    table_free(&meta);
    table_free(&norms);
    free(va);
    return rc;
}
