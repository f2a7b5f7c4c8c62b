#include "filelist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audiofile.h"

/* Extensions of formats libsndfile (1.2) decodes, and of common audio it
 * does not: those are counted so that the user learns they were left out. */
static const char *const audio_ext[] = {
    "wav",  "wave", "bwf",  "rf64", "w64", "flac", "ogg", "oga", "opus",  "mp3", "mp2", "mp1",
    "aif",  "aiff", "aifc", "au",   "snd", "caf",  "voc", "sf",  "ircam", "paf", "svx", "8svx",
    "nist", "sph",  "pvf",  "xi",   "htk", "sds",  "avr", "sd2", "wve",   NULL};
static const char *const other_ext[] = {"m4a", "m4b", "mp4", "aac", "alac", "wma", "ape", "wv",
                                        "mpc", "dsf", "dff", "mka", "webm", "tta", "ac3", NULL};

struct filelist {
    int recursive;
    filelist_msg_fn fn;
    void *user;
    filelist_entry *e;
    size_t n, cap;
    size_t errors, unsupported;
    char other_seen[sizeof other_ext / sizeof *other_ext]; /* which other_ext were met */
    /* Directories entered (device, inode): an open-addressing hash set. */
    struct dirkey {
        dev_t dev;
        ino_t ino;
        int used;
    } * dirs;
    size_t ndirs, dircap;
};

static void say(filelist *fl, int error, const char *fmt, ...)
{
    char msg[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fl->errors += error != 0;
    if (fl->fn)
        fl->fn(fl->user, error, msg);
}

filelist *filelist_create(int recursive, filelist_msg_fn fn, void *user)
{
    filelist *fl = calloc(1, sizeof *fl);
    if (fl) {
        fl->recursive = recursive;
        fl->fn = fn;
        fl->user = user;
    }
    return fl;
}

void filelist_destroy(filelist *fl)
{
    if (!fl)
        return;
    for (size_t i = 0; i < fl->n; i++)
        free((char *)fl->e[i].path);
    free(fl->e);
    free(fl->dirs);
    free(fl);
}

size_t filelist_count(const filelist *fl)
{
    return fl->n;
}

const filelist_entry *filelist_get(const filelist *fl, size_t i)
{
    return &fl->e[i];
}

size_t filelist_errors(const filelist *fl)
{
    return fl->errors;
}

size_t filelist_unsupported(const filelist *fl, char *exts, size_t len)
{
    size_t used = 0;
    if (len)
        exts[0] = '\0';
    for (size_t i = 0; other_ext[i]; i++)
        if (fl->other_seen[i] && used < len)
            used +=
                (size_t)snprintf(exts + used, len - used, "%s.%s", used ? " " : "", other_ext[i]);
    return fl->unsupported;
}

void filelist_format_time(long long sec, long nsec, char *buf, size_t len)
{
    time_t t = (time_t)sec;
    struct tm tm;
    char day[32];
    if (!gmtime_r(&t, &tm) || !strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(day, sizeof day, "@%lld", sec);
    snprintf(buf, len, "%s.%09ldZ", day, nsec);
}

/* Append path (copied) with what stat says about it (st may be NULL). */
static int push(filelist *fl, const char *path, const struct stat *st)
{
    if (fl->n == fl->cap) {
        size_t cap = fl->cap ? 2 * fl->cap : 256;
        filelist_entry *p = realloc(fl->e, cap * sizeof *p);
        if (!p)
            return VALAR_ERR_NOMEM;
        fl->e = p;
        fl->cap = cap;
    }
    filelist_entry *e = &fl->e[fl->n];
    if (!(e->path = strdup(path)))
        return VALAR_ERR_NOMEM;
    e->size = st ? (long long)st->st_size : -1;
    e->mtime[0] = '\0';
    if (st)
        filelist_format_time((long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, e->mtime,
                             sizeof e->mtime);
    fl->n++;
    return 0;
}

/* Insert (dev, ino); 1 if it was new, 0 if already there, -1 out of memory. */
static int dir_insert(filelist *fl, dev_t dev, ino_t ino)
{
    if (2 * (fl->ndirs + 1) > fl->dircap) {
        size_t cap = fl->dircap ? 2 * fl->dircap : 64;
        struct dirkey *d = calloc(cap, sizeof *d), *old = fl->dirs;
        if (!d)
            return -1;
        size_t oldcap = fl->dircap;
        fl->dirs = d;
        fl->dircap = cap;
        fl->ndirs = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].used)
                dir_insert(fl, old[i].dev, old[i].ino);
        free(old);
    }
    uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15u) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4fu);
    for (size_t i = (size_t)(h ^ (h >> 29)) & (fl->dircap - 1);; i = (i + 1) & (fl->dircap - 1)) {
        struct dirkey *k = &fl->dirs[i];
        if (!k->used) {
            *k = (struct dirkey){dev, ino, 1};
            fl->ndirs++;
            return 1;
        }
        if (k->dev == dev && k->ino == ino)
            return 0;
    }
}

static int in_list(const char *ext, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcasecmp(ext, list[i]) == 0)
            return i;
    return -1;
}

/* Audio by its first bytes (what audiofile_open tells formats by). */
static int audio_magic(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int kind = audiofile_kind(fd);
    close(fd);
    return kind != AUDIOFILE_KIND_UNKNOWN;
}

/* A regular file met in a walk: listed if it is audio we can read. */
static int walk_file(filelist *fl, const char *path, const char *name, const struct stat *st)
{
    const char *dot = strrchr(name, '.');
    if (dot && in_list(dot + 1, audio_ext) >= 0)
        return push(fl, path, st);
    int other = dot ? in_list(dot + 1, other_ext) : -1;
    if (other >= 0) {
        fl->unsupported++;
        fl->other_seen[other] = 1;
        return 0;
    }
    return audio_magic(path) ? push(fl, path, st) : 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static int walk(filelist *fl, const char *dir, const struct stat *dst);

/* One directory entry: recurse, list, or report. */
static int walk_entry(filelist *fl, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    size_t len = dl + strlen(name) + 2;
    char *path = malloc(len);
    if (!path)
        return VALAR_ERR_NOMEM;
    snprintf(path, len, "%s%s%s", dir, slash ? "" : "/", name);
    struct stat st;
    int err = 0;
    if (stat(path, &st) != 0) {
        int e = errno;
        struct stat lst;
        if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            say(fl, 0, "%s: broken symbolic link, skipped", path);
        else
            say(fl, 1, "%s: %s", path, strerror(e));
    } else if (S_ISDIR(st.st_mode)) {
        err = walk(fl, path, &st);
    } else if (S_ISREG(st.st_mode)) {
        err = walk_file(fl, path, name, &st);
    }
    free(path);
    return err;
}

static int walk(filelist *fl, const char *dir, const struct stat *dst)
{
    int fresh = dir_insert(fl, dst->st_dev, dst->st_ino);
    if (fresh < 0)
        return VALAR_ERR_NOMEM;
    if (!fresh) {
        say(fl, 0, "%s: directory already walked (a symbolic link loop?), skipped", dir);
        return 0;
    }
    struct dirent **names;
    int n = scandir(dir, &names, not_hidden, by_name);
    if (n < 0) {
        say(fl, 1, "%s: cannot read directory: %s", dir, strerror(errno));
        return 0;
    }
    int err = 0;
    for (int i = 0; i < n; i++) {
        if (!err)
            err = walk_entry(fl, dir, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return err;
}

int filelist_add(filelist *fl, const char *path)
{
    if (path[0] == '-' && !path[1])
        return push(fl, path, NULL); /* standard input */
    struct stat st;
    int ok = stat(path, &st) == 0;
    if (ok && fl->recursive && S_ISDIR(st.st_mode))
        return walk(fl, path, &st);
    return push(fl, path, ok ? &st : NULL);
}

int filelist_read(filelist *fl, FILE *f, int sep)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int err = 0;
    errno = 0;
    while (!err && (len = getdelim(&line, &cap, sep, f)) > 0) {
        if (line[len - 1] == sep)
            line[--len] = '\0';
        if (len > 0)
            err = filelist_add(fl, line);
    }
    if (!err && ferror(f))
        err = VALAR_ERR_IO;
    free(line);
    return err;
}
