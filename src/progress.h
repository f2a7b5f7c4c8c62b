/* progress: a one-line progress bar on a terminal (valar analyze):
 *   [##########..........]  120/240 files  3.9 files/s  95x real time  ETA 0:31  2 failed
 * Redrawn at most ten times a second; created only when the stream is a
 * terminal, so output to files and pipes stays clean. */
#ifndef VALAR_PROGRESS_H
#define VALAR_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

typedef struct progress progress;

/* NULL when f is not a terminal (or out of memory); every function accepts
 * NULL and then does nothing. */
progress *progress_create(FILE *f, size_t total);
/* Erases the bar and prints the totals:
 *   valar: 240 files, 12:00:03 of audio in 30.2 s (1430x real time) */
void progress_destroy(progress *p);
/* One more file done (failed or not) with audio_s seconds of audio. */
void progress_add(progress *p, int failed, double audio_s);
/* Redraw if 100 ms have passed since the last time. */
void progress_tick(progress *p);
/* Erase the bar before printing a message to the same terminal; the next
 * tick draws it again. */
void progress_clear(progress *p);

#endif
