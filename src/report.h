/* report: valar analyze's output formats, one file's results at a time.
 *
 *   CSV    per segment: [file,]time_s,arousal,valence (file column when
 *          several files are reported); summary: one row per file.
 *   JSON   {"model": ..., "files": [<file object>, ...]}
 *   JSONL  one <file object> per line, nothing else (JSON Lines).
 * A file object: "file", "size" and "mtime" (omitted for standard input),
 * "duration_s", then per segment "frames": [{"time_s", "arousal",
 * "valence"}, ...] or the summary's keys (see summary.h; null when the file
 * is shorter than one segment).
 *
 * Each file's record is built in memory and then written in one piece; in
 * JSON Lines that is one write(2) of a whole line straight to the file
 * descriptor, so a reader, or a run killed at any moment, sees only whole
 * lines (except, at most, the last one of a run killed in mid-write, which
 * resume.h drops). */
#ifndef VALAR_REPORT_H
#define VALAR_REPORT_H

#include <stddef.h>
#include <stdio.h>
#include "analyzer.h"

enum { REPORT_CSV, REPORT_JSON, REPORT_JSONL };

typedef struct {
    const char *path;
    long long size;    /* bytes, or -1: no "size"/"mtime" keys */
    const char *mtime; /* ISO 8601, see filelist.h */
    double duration_s;
    const analyzer_result *r;
    size_t n;
} report_item;

typedef struct report report;

/* Output to f. summary: one row/object per file; file_column: CSV per
 * segment with a leading file column; model: the weight file named in JSON
 * (kept, not copied). The CSV header or JSON opening is written with the
 * first record or by report_finish. 0, or VALAR_ERR_NOMEM (*out NULL). */
int report_create(FILE *f, int format, int summary, int file_column, const char *model,
                  report **out);
/* 0, or VALAR_ERR_IO on a write error (errno says which), VALAR_ERR_NOMEM
 * (nothing written); after a write error part of the record may be out. */
int report_write(report *rp, const report_item *it);
/* Completes the output (an empty one if nothing was written: a header, or
 * a JSON document without files) and flushes. 0 or VALAR_ERR_IO (errno). */
int report_finish(report *rp);
void report_destroy(report *rp);

#endif
