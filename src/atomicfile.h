/* atomicfile: files written whole or not at all.
 *
 * The data goes to a temporary file beside the target (PATH.tmp-PID-N,
 * created exclusively, so concurrent writers never share one), which is
 * flushed, synced and renamed over the target only when every write
 * succeeded; the folder is synced after the rename. A file replaced keeps
 * its mode; a new one gets what a plain create would (0666 less the umask).
 * Used for every file valar and valar-train write whole: -o, --deam and
 * --plot outputs, weight files, the trainer's resume state, feature cache
 * and labels. */
#ifndef VALAR_ATOMICFILE_H
#define VALAR_ATOMICFILE_H

#include <stddef.h>
#include <stdio.h>

#include "valar_error.h"

typedef struct {
    FILE *f;          /* write here */
    char *tmp;        /* the temporary file's name */
    const char *path; /* the target (kept, not copied) */
    const char *what; /* names the file in messages ("resume state"), or NULL */
} atomicfile;

/* Create the temporary file. 0, or VALAR_ERR_IO or VALAR_ERR_NOMEM with a
 * message "PATH: cannot write[ WHAT]: reason"; on failure nothing is left
 * behind and a->f is NULL. */
int atomicfile_open(atomicfile *a, const char *path, const char *what, char *msg, size_t msglen);
/* ok: the caller's writes all succeeded (a failed fwrite leaves its reason in
 * errno; write errors also show in ferror, which is checked here). Closes
 * the temporary file and renames it to the path, or removes it. 0, or
 * VALAR_ERR_IO with a message as above (also when ok is 0: then msg may be
 * NULL); the path is untouched on failure. */
int atomicfile_commit(atomicfile *a, int ok, char *msg, size_t msglen);

#endif
