/* tfile: files written whole or not at all: the data goes to a temporary
 * file in the same folder, which is flushed, synced and renamed over the
 * target only when every write succeeded (the trainer's resume state and
 * feature cache; weight files have weights_save). */
#ifndef VALAR_TFILE_H
#define VALAR_TFILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f; /* write here */
    char *tmp;
    const char *path, *what;
} tfile;

/* what names the file in messages ("resume state"). Returns 0, or -1 with a
 * message naming the file and the reason. */
int tfile_open(tfile *t, const char *path, const char *what, char *msg, size_t msglen);
/* ok: the caller's writes all succeeded. Closes the temporary file and
 * renames it to the path, or removes it; 0 or -1 with a message. */
int tfile_commit(tfile *t, int ok, char *msg, size_t msglen);

#endif
