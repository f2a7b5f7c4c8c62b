/* tdata: the trainer's data: audio and annotations.
 *
 * A folder of audio files <song_id>.<ext> (ext tried in the order .mp3 .wav
 * .flac .ogg .opus .oga .aiff .aif .aifc .au .snd .w64 .caf, then the same in
 * upper case; the first found is used) and two wide CSVs of dynamic
 * annotations, arousal.csv and valence.csv:
 *     song_id,sample_15000ms,sample_15500ms,...
 *     10,-0.12,-0.11,...,,,          (blank cells after a shorter song)
 * Column sample_<ms>ms is the annotation of the 500 ms audio segment
 * [ms, ms + 500) ms, i.e. melspec segment k = ms / 500 (DEAM: frame t covers
 * [15 + 0.5 t, 15.5 + 0.5 t) s). A frame is annotated when both CSVs have a
 * value for it.
 *
 * Or song-level (static) labels, one value per song (e.g. the 4Q dataset,
 * see tlabels.h): a CSV song_id,arousal,valence[,quadrant] (header
 * optional; values in [-1, 1]; quadrant Q1..Q4 or 1..4, Russell's: Q1 A+ V+,
 * Q2 A+ V-, Q3 A- V-, Q4 A- V+). Every frame from warmup_s seconds on gets
 * the song's label; the frames before are context only.
 *
 * Split file: lines "<set> <id or a-b range> ...", set = train, val or test;
 * '#' starts a comment. A song in two sets is an error (an id named in two
 * sets always; through a range, when the song is in the CSVs).
 *
 * Features (whole audio, one row per complete segment) are cached in one
 * binary file keyed by the audio file's name, size and mtime and by the
 * feature config; stale entries are recomputed, in parallel. */
#ifndef VALAR_TDATA_H
#define VALAR_TDATA_H

#include <stddef.h>
#include "melspec.h"
#include "ttrain.h"

typedef struct {
    const char *audio_dir;   /* folder of <id>.<ext> */
    const char *arousal_csv; /* wide CSV */
    const char *valence_csv;
    const char *labels; /* song-level labels instead of the two CSVs */
    double warmup_s;    /* song-level labels: first frame with a target */
    const char *split; /* NULL: every annotated song is in "train" */
    const char *cache; /* NULL: no cache */
    int threads;
    int progress; /* progress bar on stderr */
} tdata_opts;

/* Loads the songs of nsets sets into out[0..nsets) ("train", "val",
 * "test", or "all" = every annotated song; with no split file "train" is
 * "all" and "val"/"test" are empty), reading annotations, split and cache
 * once. Returns 0, or -1 with a message naming the file and the problem
 * (out then holds no songs). */
int tdata_load(const tdata_opts *o, const char *const *sets, int nsets, const melspec_config *fc,
               tset *out, char *msg, size_t msglen);

#endif
