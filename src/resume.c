#include "resume.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef struct {
    char *path;
    long long size;
    char mtime[40];
} key;

struct resume {
    key *k;
    size_t n, cap, lines;
    long long dropped;
};

static int key_cmp(const void *pa, const void *pb)
{
    const key *a = pa, *b = pb;
    int c = strcmp(a->path, b->path);
    if (!c)
        c = (a->size > b->size) - (a->size < b->size);
    return c ? c : strcmp(a->mtime, b->mtime);
}

void resume_destroy(resume *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->k[i].path);
    free(r->k);
    free(r);
}

size_t resume_lines(const resume *r)
{
    return r->lines;
}

long long resume_dropped(const resume *r)
{
    return r->dropped;
}

int resume_done(const resume *r, const char *path, long long size, const char *mtime)
{
    key want = {(char *)path, size, ""};
    if (!r->n || size < 0 || strlen(mtime) >= sizeof want.mtime)
        return 0;
    strcpy(want.mtime, mtime);
    return bsearch(&want, r->k, r->n, sizeof *r->k, key_cmp) != NULL;
}

/* One line: a file object of the right kind. Its key is kept when it has a
 * size and mtime (standard input has neither and is never skipped). 0, or
 * VALAR_ERR_RESUME with what is wrong in msg, VALAR_ERR_NOMEM. */
static int take_line(resume *r, const char *line, int summary, char *msg, size_t msglen)
{
    cJSON *o = cJSON_Parse(line);
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    const cJSON *mtime = cJSON_GetObjectItemCaseSensitive(o, "mtime");
    int frames = cJSON_HasObjectItem(o, "frames"), segs = cJSON_HasObjectItem(o, "segments");
    int err = 0;
    if (!cJSON_IsObject(o) || !cJSON_IsString(file) || frames == segs) {
        err = valar_fail(msg, msglen, VALAR_ERR_RESUME, "not a line valar analyze -f jsonl writes");
    } else if (segs != summary) {
        err = valar_fail(msg, msglen, VALAR_ERR_RESUME,
                         "holds %s lines, this run writes %s (%s --summary)",
                         segs ? "summary" : "per-segment", summary ? "summaries" : "segments",
                         segs ? "add" : "drop");
    } else if (cJSON_IsNumber(size) && cJSON_IsString(mtime) &&
               strlen(mtime->valuestring) < sizeof r->k->mtime) {
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 256;
            key *p = realloc(r->k, cap * sizeof *p);
            if (!p) {
                cJSON_Delete(o);
                return VALAR_ERR_NOMEM;
            }
            r->k = p;
            r->cap = cap;
        }
        key *k = &r->k[r->n];
        if (!(k->path = strdup(file->valuestring))) {
            cJSON_Delete(o);
            return VALAR_ERR_NOMEM;
        }
        k->size = (long long)size->valuedouble;
        strcpy(k->mtime, mtime->valuestring);
        r->n++;
    }
    cJSON_Delete(o);
    return err;
}

/* Read every line; cut an incomplete last one off the file. */
static int read_lines(resume *r, FILE *f, int summary, const char *path, char *msg, size_t msglen)
{
    char *line = NULL, inner[200];
    size_t cap = 0;
    ssize_t len;
    long long whole = 0; /* bytes in whole lines */
    int err = 0;
    while (!err && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') {
            r->dropped = len;
            break;
        }
        r->lines++;
        whole += len;
        if (len == 1)
            continue; /* a blank line */
        err = take_line(r, line, summary, inner, sizeof inner);
        if (err == VALAR_ERR_RESUME)
            valar_fail(msg, msglen, err, "--resume %s: line %zu: %s", path, r->lines, inner);
        else if (err)
            valar_fail(msg, msglen, err, "--resume %s: out of memory", path);
    }
    free(line);
    if (!err && ferror(f))
        err = valar_fail(msg, msglen, VALAR_ERR_IO, "--resume %s: read error: %s", path,
                         strerror(errno));
    if (!err && r->dropped && ftruncate(fileno(f), (off_t)whole) != 0)
        err = valar_fail(msg, msglen, VALAR_ERR_IO,
                         "--resume %s: cannot drop the incomplete last line: %s", path,
                         strerror(errno));
    return err;
}

int resume_open(const char *path, int summary, resume **out, char *msg, size_t msglen)
{
    resume *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "--resume %s: out of memory", path);
    FILE *f = fopen(path, "r+");
    if (!f && errno != ENOENT) {
        resume_destroy(r);
        return valar_fail(msg, msglen, VALAR_ERR_IO, "--resume %s: %s", path, strerror(errno));
    }
    if (f) {
        int err = read_lines(r, f, summary, path, msg, msglen);
        fclose(f);
        if (err) {
            resume_destroy(r);
            return err;
        }
    }
    if (r->n)
        qsort(r->k, r->n, sizeof *r->k, key_cmp);
    *out = r;
    return 0;
}
