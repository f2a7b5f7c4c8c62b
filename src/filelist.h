/* filelist: the files `valar analyze` will read, from paths on the command
 * line, from a list (--files-from) and from directory walks (-r).
 *
 * A path given by the user is taken as it is (analysis says what is wrong
 * with it). A walked directory contributes its audio files, recognised by
 * extension or, failing that, by their first bytes (RIFF/RF64/FORM/fLaC/
 * OggS/ID3/.snd/caff/an MPEG audio frame), in name order (bytewise), with
 * symbolic links followed, every directory entered once (so link loops end),
 * and hidden names (starting with '.') skipped. Files in formats libsndfile
 * cannot decode (.m4a, .wma, ...) are counted, not listed. Each entry carries
 * the size and modification time that --resume compares. */
#ifndef VALAR_FILELIST_H
#define VALAR_FILELIST_H

#include <stddef.h>
#include <stdio.h>

#include "valar_error.h"

typedef struct {
    const char *path;
    long long size; /* bytes; -1 for standard input or a path that cannot be stat'ed */
    char mtime[40]; /* modification time, ISO 8601 UTC to the nanosecond; "" if unknown */
} filelist_entry;

/* Problems met while walking: error = 1 for one that loses files (an
 * unreadable directory), 0 for a note (a broken link, a loop skipped). */
typedef void (*filelist_msg_fn)(void *user, int error, const char *msg);

typedef struct filelist filelist;

/* recursive: walk directories (-r); otherwise a directory is an entry like
 * any path. fn may be NULL. NULL when out of memory. */
filelist *filelist_create(int recursive, filelist_msg_fn fn, void *user);
void filelist_destroy(filelist *fl);
/* 0, or VALAR_ERR_NOMEM (the entries added before stay). Problems with the
 * path itself go to the message function, not here. */
int filelist_add(filelist *fl, const char *path);
/* Every path in f, separated by sep ('\n' or '\0'); empty ones skipped, a
 * '\r' before a '\n' kept (it may be part of the name). 0, or VALAR_ERR_IO
 * (a read error; errno says which), VALAR_ERR_NOMEM; the paths read before
 * the error stay. */
int filelist_read(filelist *fl, FILE *f, int sep);

size_t filelist_count(const filelist *fl);
const filelist_entry *filelist_get(const filelist *fl, size_t i);
/* Errors reported through fn so far. */
size_t filelist_errors(const filelist *fl);
/* Files skipped in walks for a format libsndfile cannot read; exts gets
 * their extensions, space-separated (truncated to len). */
size_t filelist_unsupported(const filelist *fl, char *exts, size_t len);

/* ISO 8601 UTC with nanoseconds, as in filelist_entry.mtime (buf >= 40). */
void filelist_format_time(long long sec, long nsec, char *buf, size_t len);

#endif
