/* ttrain: mini-batch training, evaluation and checkpoints for tnet.
 *
 * A song is its whole audio as log-mel frames (segment k covers
 * [0.5 k, 0.5 k + 0.5) s) plus a target for the annotated frames.
 *
 * Offline kind: windows of seq_len frames over each song's annotated span
 * (stride seq_len, a last window moved back to end at the last annotated
 * frame), shuffled each epoch, 'same' zero padding at the window edges
 * exactly as offline analysis runs the model.
 *
 * Streaming kind: `batch` lanes each walk through whole songs in
 * consecutive chunks of seq_len frames from the first audio frame; the GRU
 * state and the last two input frames (the causal conv's history) carry
 * over from one chunk to the next (truncated BPTT), and reset when a lane
 * starts a new song. Frames before the first annotation feed the state but
 * have no loss. This matches crnn_step over a whole song. */
#ifndef VALAR_TTRAIN_H
#define VALAR_TTRAIN_H

#include <stdint.h>
#include <stdio.h>
#include "tnet.h"
#include "melspec.h"

typedef struct {
    char id[64];
    int T, M;
    float *x;           /* T x M raw log-mel */
    float *tgt;         /* T x 2 (arousal, valence) */
    unsigned char *lab; /* T: 1 where annotated */
    int quad;           /* the song's quadrant 1..4 when the data gives one, else 0 */
} tsong;

typedef struct {
    tsong *songs;
    int n;
} tset;

void tset_free(tset *s);

typedef struct {
    int kind, joint;
    int C, D, H, K;
    int seq_len, batch, epochs, patience, threads;
    uint64_t seed;
    double lr;
    int lr_cosine; /* cosine decay from lr to lr / 100 over epochs */
    double ema;    /* > 0: validate and save a running average of the weights, this decay per step */
    tnet_reg reg;
    /* augmentation of each training sequence (offline) or song (streaming) */
    double aug_gain_db; /* random gain, uniform in +-aug_gain_db */
    double aug_tilt_db; /* random spectral tilt, +-aug_tilt_db/2 at the band edges */
    int aug_shift;      /* random shift by up to +-aug_shift mel bands (pitch) */
    int crop;           /* offline: windows moved by up to +-seq_len/2 */
    int carry_state;    /* streaming: a lane's next song starts from the last one's state */
    double time_limit; /* seconds, 0 = none */
    const char *out;   /* best-on-validation weights */
    const char *last;  /* last-epoch weights (NULL: none) */
    const char *state; /* resume state (NULL: none) */
    int resume;
    const char *args;       /* command line, for the metadata */
    const char *trained_on; /* data description, for the metadata */
    FILE *log;              /* progress lines (NULL: quiet) */
} ttrain_opts;

void ttrain_defaults(ttrain_opts *o);

/* Metadata every file valar-train writes: "created" (UTC, now) and, when
 * args is not NULL, "training_args" (the command line). 0 or
 * VALAR_ERR_NOMEM / VALAR_ERR_ARG from weights_set_meta. */
int ttrain_provenance(weights *w, const char *args);

/* Train on train (validate on val when it has songs, else on train) and
 * write the checkpoints. *out_net (optional) receives the best network of
 * this run (after a resume without improvement: the resumed one).
 * Returns 0 or a negative error with a message. */
int ttrain_run(const ttrain_opts *o, const tset *train, const tset *val, const melspec_config *fc,
               tnet **out_net, char *msg, size_t msglen);

/* Predictions (T x 2, clipped) for a whole song as inference runs it:
 * offline in windows of seq_len (0: the whole song), streaming stepped from
 * a zero state. s must have cap >= seq_len (streaming: any cap > 0). */
void ttrain_predict(const tnet *n, tseq *s, const tsong *song, int seq_len, float *pred);

#endif
