/* tcsv: the trainer's one CSV reader (annotation CSVs, song-level labels,
 * the 4Q metadata and word norms). Parsing, quoting included (RFC 4180:
 * "a, b" is one cell, "" inside quotes is a quote), is libcsv's, in strict
 * mode; this adds whole-row callbacks with the line each row starts on, so
 * that every message can name file and line. Cells are NUL-terminated and
 * trimmed of surrounding spaces; blank lines are skipped. */
#ifndef VALAR_TCSV_H
#define VALAR_TCSV_H

#include <stddef.h>

/* Called once per row. Returns 0 to go on, non-zero to stop (with a
 * message in msg, which tcsv_each returns as is). */
typedef int (*tcsv_row_fn)(void *ctx, char **cells, int n, int line, char *msg, size_t msglen);

/* Reads path and calls fn for each row, the header included. Returns 0, or
 * -1 with a message naming the file (and the line, for malformed CSV: an
 * unterminated quote, text after a closing quote). */
int tcsv_each(const char *path, tcsv_row_fn fn, void *ctx, char *msg, size_t msglen);

/* A cell as a finite number in [lo, hi]: 0, or -1 with the message
 * "PATH:LINE: column COL (NAME): 'CELL' is not a number in [lo, hi]". */
int tcsv_number(const char *cell, double lo, double hi, const char *path, int line, int col,
                const char *name, double *out, char *msg, size_t msglen);

#endif
