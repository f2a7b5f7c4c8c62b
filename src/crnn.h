/* crnn: inference for the CRNN of Malik et al. 2017.
 *
 * Input: per-segment log mel energies x[t][m], normalised inside with the
 * file's input.mean/input.std. Network (names are the tensors of the weight
 * file, all F32, row-major):
 *
 *   input.mean [M], input.std [M]           xn = (x - mean) / std
 *   conv.weight [C,3,3], conv.bias [C]      y[t][c][m] = bias[c] + sum_{i,j}
 *       w[c][i][j] * xn[t+i-o][m+j-1], zero outside; o = 1 offline ('same'
 *       over time), o = 2 streaming (causal: t-2, t-1, t). Always 'same' over mel.
 *   bn.gamma, bn.beta, bn.mean, bn.var [C]  batch norm (eps = meta bn_eps),
 *       folded into the conv at load; then ReLU.
 *   then per branch b ("arousal" and "valence", or one "joint" branch when
 *   meta branches = "joint"):
 *   b.dense.weight [D, C*M], b.dense.bias [D]   linear; input index c*M + m
 *   b.gru.weight_ih [3H, D], b.gru.weight_hh [3H, H], b.gru.bias [3H]
 *       gate rows in order z, r, n:
 *       z = sigmoid(Wz x + Uz h + bz), r = sigmoid(Wr x + Ur h + br),
 *       n = tanh(Wn x + Un (r * h) + bn), h' = z * h + (1 - z) * n, h0 = 0.
 *   b.gru_bw.* (offline only): the same, run from the last frame to the
 *       first; the branch output is [h_fw, h_bw] (G = 2H), else G = H.
 *   b.maxout.weight [P, K, G], b.maxout.bias [P, K]
 *       out[p] = max_k (W[p][k] . g + b[p][k]), clipped to [-1, 1];
 *       P = 1 for separate branches, 2 (arousal, valence) for "joint".
 *
 * Output per frame: {arousal, valence}.
 * Dimensions M, C, D, H, K come from the tensor shapes; metadata keys format
 * ("valar-crnn"), version ("1"), kind ("offline" | "streaming"), branches
 * ("separate" | "joint"), bn_eps are required. The list of tensors and
 * their shapes is data, shared with the trainer: crnn_layout.h. */
#ifndef VALAR_CRNN_H
#define VALAR_CRNN_H

#include <stddef.h>
#include "weights.h"

typedef enum { CRNN_OFFLINE = 0, CRNN_STREAMING = 1 } crnn_kind;

typedef struct crnn crnn;

/* Build a network from loaded weights (copies what it needs; w may be
 * destroyed afterwards). Validates metadata, every tensor's presence and
 * shape and consistency of dimensions, including metadata n_mels (when
 * present) against M. 0, or VALAR_ERR_ARG, VALAR_ERR_NOMEM, or the model's
 * VALAR_ERR_MISSING, _VERSION, _META or _SHAPE, with a message naming the
 * key or tensor (not the file: the caller knows it); *out is NULL on
 * failure. Not real-time safe; any thread. */
int crnn_create(const weights *w, crnn **out, char *msg, size_t msglen);
void crnn_destroy(crnn *net);

crnn_kind crnn_get_kind(const crnn *net);
int crnn_n_mels(const crnn *net);
/* Number of trainable parameters (for reports). */
long crnn_n_params(const crnn *net);

/* Whole sequence: in is T x M raw log-mel, out is T x 2 (arousal, valence).
 * Offline models run the conv with 'same' time padding and bidirectional
 * GRUs; streaming models run causally from a zero state (equal to
 * crnn_reset followed by T crnn_step calls). Allocates scratch for T frames;
 * not for real-time use (any thread; several at once on one net). Does not
 * touch the streaming state. 0, or VALAR_ERR_ARG (T < 1, NULL),
 * VALAR_ERR_NOMEM; out is unspecified on failure. */
int crnn_run_sequence(crnn *net, const float *in, int T, float *out);

/* Streaming: forget the past (state back to zeros); a sliced step in
 * flight is dropped. */
void crnn_reset(crnn *net);
/* Streaming: one new frame (M raw log-mel values) in, out[0] = arousal,
 * out[1] = valence. O(1) work, no allocation: real-time safe (the audio
 * thread in the LV2 plugin, the worker in valar listen). 0, or VALAR_ERR_KIND
 * on an offline model, VALAR_ERR_ARG (also while a sliced step is in
 * flight); the state is unchanged on failure. */
int crnn_step(crnn *net, const float *in, float out[2]);

/* Streaming, one step in slices, so that an audio thread can spread it over
 * several callbacks (the LV2 plugin): crnn_step_begin takes the frame (in
 * may change afterwards), then each crnn_step_slice does the next slice and
 * returns 1 after the last, with out written: bit for bit crnn_step's
 * result and state. A slice reads at most about CRNN_SLICE_BYTES of weights
 * and activations (the conv, a range of the dense layer's inputs, the GRUs
 * and maxouts; one part that is bigger on its own is one slice). Real-time
 * safe, like crnn_step. begin: 0, VALAR_ERR_KIND, or VALAR_ERR_ARG (also
 * with a step already in flight); slice: 0 (more to do), 1 (done), or
 * VALAR_ERR_ARG (no step in flight). */
#define CRNN_SLICE_BYTES (128 * 1024)
int crnn_step_begin(crnn *net, const float *in);
int crnn_step_slice(crnn *net, float out[2]);
/* crnn_step_slice calls per step (1 for small models). */
int crnn_slices(const crnn *net);
/* Plan slices of at most about `bytes` instead (tests use small ones).
 * Returns the new crnn_slices, or VALAR_ERR_ARG (bytes < 1, a step in
 * flight). Not for the audio thread (not that it allocates: it need not
 * run there). */
int crnn_set_slice_bytes(crnn *net, size_t bytes);

#endif
