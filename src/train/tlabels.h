/* tlabels: song-level arousal/valence labels from mood tags and word norms
 * (how the 4Q dataset of Panda et al. 2018 defines its quadrants).
 *
 * A song's arousal is the mean over its tags of (A.Mean.Sum - 5) / 4 and
 * its valence the mean of (V.Mean.Sum - 5) / 4, Warriner, Kuperman &
 * Brysbaert's (2013) 1..9 norms mapped to -1..1.
 *
 * Inputs (CSV, read by tcsv):
 *   quadrants  Song,Quadrant          the songs, in order, and their label
 *   metadata   ...,Song,...,MoodsFoundStr,...  tags "w1; w2; ..." per song
 *   norms      Word,V.Mean.Sum,A.Mean.Sum,...
 * Output: song_id,arousal,valence,quadrant (the labels file of tdata.h),
 * one row per song of the quadrants file, written atomically. */
#ifndef VALAR_TLABELS_H
#define VALAR_TLABELS_H

#include <stddef.h>

typedef struct {
    const char *quadrants, *metadata, *norms;
    const char *out; /* NULL: standard output */
} tlabels_opts;

/* Returns the number of songs written, or -1 with a message naming the
 * file and line: a song of the quadrants file missing from the metadata
 * or the reverse, a quadrant that is not Q1..Q4, a song without tags, a
 * tag missing from the norms, a missing column, a malformed row or number,
 * a song id twice. Nothing is written on error. */
int tlabels_make(const tlabels_opts *o, char *msg, size_t msglen);

#endif
