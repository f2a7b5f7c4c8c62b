#include "tfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tfile_open(tfile *t, const char *path, const char *what, char *msg, size_t msglen)
{
    size_t len = strlen(path) + 32;
    t->path = path;
    t->what = what;
    t->f = NULL;
    t->tmp = malloc(len);
    if (!t->tmp) {
        snprintf(msg, msglen, "%s: out of memory", path);
        return -1;
    }
    snprintf(t->tmp, len, "%s.tmp%ld", path, (long)getpid());
    t->f = fopen(t->tmp, "wb");
    if (!t->f) {
        snprintf(msg, msglen, "%s: cannot write %s: %s", t->tmp, what, strerror(errno));
        free(t->tmp);
        t->tmp = NULL;
        return -1;
    }
    return 0;
}

int tfile_commit(tfile *t, int ok, char *msg, size_t msglen)
{
    int e = ok ? 0 : errno; /* a failed fwrite leaves its reason in errno */
    if (ok && (ferror(t->f) || fflush(t->f) != 0 || fsync(fileno(t->f)) != 0)) {
        ok = 0;
        e = errno;
    }
    if (fclose(t->f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(t->tmp, t->path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        remove(t->tmp);
        snprintf(msg, msglen, "%s: cannot write %s: %s", t->path, t->what,
                 e ? strerror(e) : "write error");
    }
    free(t->tmp);
    t->tmp = NULL;
    t->f = NULL;
    return ok ? 0 : -1;
}
