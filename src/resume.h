/* resume: which files an earlier run already wrote to a JSON Lines output
 * (valar analyze --resume OUT.jsonl).
 *
 * A file counts as done when OUT has a line for the same path (as written),
 * size and modification time (filelist.h). A last line without its newline
 * (a run killed in mid-write) is cut off the file, so that appending the
 * rest leaves only whole lines. */
#ifndef VALAR_RESUME_H
#define VALAR_RESUME_H

#include <stddef.h>

#include "valar_error.h"

typedef struct resume resume;

/* Reads path (a missing file: nothing done yet). summary: whether this run
 * writes summaries; a file holding the other kind of line is refused, as is
 * a line that is not a valar file object. 0, or VALAR_ERR_RESUME (such a
 * line), VALAR_ERR_IO, VALAR_ERR_NOMEM, with a message naming the file (and
 * line); *out is NULL on failure (an incomplete last line may have been cut
 * off the file already). */
int resume_open(const char *path, int summary, resume **out, char *msg, size_t msglen);
void resume_destroy(resume *r);
/* Whole lines read, and bytes of an incomplete last line dropped. */
size_t resume_lines(const resume *r);
long long resume_dropped(const resume *r);
/* 1 if the file (path, size, mtime) is in it. */
int resume_done(const resume *r, const char *path, long long size, const char *mtime);

#endif
