/* plot: an SVG picture of `valar analyze` results (--plot FILE.svg).
 *
 * One page: a title with the model (and a warning when it is a
 * placeholder), then per file a panel with arousal and valence over time
 * and the trajectory in the valence-arousal plane (quadrants labelled with
 * mood words). Every result is one <circle class="pt"> in the plane with
 * data-t, data-a, data-v (time_s, arousal, valence as in the CSV) and a
 * <title> tooltip. Hand-written SVG 1.1; any browser opens it.
 *
 * Call plot_begin, plot_file for each file (index 0..nfiles-1), plot_end;
 * the caller writes to a temporary file and renames it (atomic). */
#ifndef VALAR_PLOT_H
#define VALAR_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "analyzer.h"

/* model: what to show as the model (e.g. its file name). */
void plot_begin(FILE *f, int nfiles, const char *model, int placeholder);
void plot_file(FILE *f, int index, const char *name, const analyzer_result *r, size_t n);
void plot_end(FILE *f);

#endif
