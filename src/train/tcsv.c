#include "tcsv.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One row being collected: the cells' text back to back, NUL-separated. */
typedef struct {
    char *text;
    size_t len, cap;
    size_t *off; /* start of each cell in text */
    int n, ncap;
    int line, row_line; /* physical line being fed; line the row started on */
    int oom, stop;
    tcsv_row_fn fn;
    void *ctx;
    char *msg;
    size_t msglen;
} rowbuf;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static void on_field(void *s, size_t len, void *data)
{
    rowbuf *r = data;
    if (r->oom || r->stop)
        return;
    if (r->n == 0)
        r->row_line = r->line;
    const char *c = s ? s : "";
    if (!s)
        len = 0;
    while (len && isspace((unsigned char)*c))
        c++, len--;
    while (len && isspace((unsigned char)c[len - 1]))
        len--;
    size_t ncap = (size_t)r->ncap;
    if (grow((void **)&r->text, &r->cap, r->len + len + 1, 1) ||
        grow((void **)&r->off, &ncap, (size_t)r->n + 1, sizeof *r->off)) {
        r->oom = 1;
        return;
    }
    r->ncap = (int)ncap;
    r->off[r->n++] = r->len;
    memcpy(r->text + r->len, c, len);
    r->len += len;
    r->text[r->len++] = 0;
}

static void on_row(int c, void *data)
{
    (void)c;
    rowbuf *r = data;
    if (r->oom || r->stop || r->n == 0)
        return;
    char *stack[64], **cells = r->n <= 64 ? stack : malloc(sizeof(char *) * (size_t)r->n);
    if (!cells) {
        r->oom = 1;
        return;
    }
    for (int i = 0; i < r->n; i++)
        cells[i] = r->text + r->off[i];
    /* a row of one empty cell is a blank line (spaces only) */
    if (!(r->n == 1 && !cells[0][0]))
        r->stop = r->fn(r->ctx, cells, r->n, r->row_line, r->msg, r->msglen) != 0;
    if (cells != stack)
        free(cells);
    r->n = 0;
    r->len = 0;
}

int tcsv_each(const char *path, tcsv_row_fn fn, void *ctx, char *msg, size_t msglen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msglen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    struct csv_parser p;
    rowbuf r = {.fn = fn, .ctx = ctx, .msg = msg, .msglen = msglen};
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL)) {
        fclose(f);
        snprintf(msg, msglen, "%s: out of memory", path);
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    int bad = 0;
    /* fed a physical line at a time, so that the parser's position is a
     * line number (a quoted cell may span lines) */
    while (!r.stop && !r.oom && !bad && (got = getline(&line, &lcap, f)) > 0) {
        r.line++;
        bad = csv_parse(&p, line, (size_t)got, on_field, on_row, &r) != (size_t)got;
    }
    int rerr = ferror(f) ? errno : 0;
    if (!r.stop && !r.oom && !bad && !rerr)
        bad = csv_fini(&p, on_field, on_row, &r) != 0;
    int perr = csv_error(&p);
    csv_free(&p);
    free(line);
    free(r.text);
    free(r.off);
    fclose(f);
    if (r.stop)
        return -1;
    if (r.oom || rerr || bad) {
        if (r.oom || perr == CSV_ENOMEM)
            snprintf(msg, msglen, "%s: out of memory", path);
        else if (rerr)
            snprintf(msg, msglen, "%s: cannot read: %s", path, strerror(rerr));
        else
            snprintf(msg, msglen, "%s:%d: malformed CSV: %s", path, r.line,
                     perr == CSV_EPARSE ? "unterminated quote, or text after a closing quote"
                                        : csv_strerror(perr));
        return -1;
    }
    return 0;
}

int tcsv_number(const char *cell, double lo, double hi, const char *path, int line, int col,
                const char *name, double *out, char *msg, size_t msglen)
{
    char *end;
    errno = 0;
    double v = strtod(cell, &end);
    if (!*cell || *end || errno || !isfinite(v) || v < lo || v > hi) {
        snprintf(msg, msglen, "%s:%d: column %d (%s): '%s' is not a number in [%g, %g]", path,
                 line, col, name, cell, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}
