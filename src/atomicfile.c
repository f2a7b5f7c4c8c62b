#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(atomicfile *a, const char *path, int err, int e, char *msg, size_t msglen)
{
    return valar_fail(msg, msglen, err, "%s: cannot write%s%s: %s", path, a->what ? " " : "",
                      a->what ? a->what : "", e ? strerror(e) : "write error");
}

int atomicfile_open(atomicfile *a, const char *path, const char *what, char *msg, size_t msglen)
{
    static atomic_uint serial; /* distinct names for several files at once */
    a->f = NULL;
    a->path = path;
    a->what = what;
    size_t len = strlen(path) + 48;
    if (!(a->tmp = malloc(len)))
        return fail(a, path, VALAR_ERR_NOMEM, ENOMEM, msg, msglen);
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        snprintf(a->tmp, len, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&serial, 1));
        fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666); /* umask applies */
        if (fd < 0 && errno != EEXIST)
            break;
    }
    int e = errno;
    struct stat st;
    if (fd >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
        fchmod(fd, st.st_mode & 07777); /* keep the replaced file's mode; not fatal */
    if (fd >= 0 && !(a->f = fdopen(fd, "wb"))) {
        e = errno;
        close(fd);
        unlink(a->tmp);
    }
    if (!a->f) {
        free(a->tmp);
        a->tmp = NULL;
        return fail(a, path, VALAR_ERR_IO, e, msg, msglen);
    }
    return 0;
}

/* Make the rename durable; failure here is not an error for the caller. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    int fd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int atomicfile_commit(atomicfile *a, int ok, char *msg, size_t msglen)
{
    int e = ok ? 0 : errno;
    if (ok && (ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) {
        ok = 0;
        e = errno;
    }
    if (fclose(a->f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(a->tmp, a->path) != 0) {
        ok = 0;
        e = errno;
    }
    if (ok)
        sync_dir(a->path);
    else
        unlink(a->tmp);
    free(a->tmp);
    a->tmp = NULL;
    a->f = NULL;
    return ok ? 0 : fail(a, a->path, VALAR_ERR_IO, e, msg, msglen);
}
