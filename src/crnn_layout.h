/* crnn_layout: the network of crnn.h written once, as data.
 *
 * One table lists every tensor of a weight file: its name, whether each
 * branch has one, whether only offline models have it (the backward GRU),
 * whether training changes it, and its shape in terms of the model's
 * dimensions. crnn.c checks a file against it when it loads one; valar-train
 * (train/tnet.c) lays out its parameters, writes and reads its files by it.
 * So the inference code and the trainer cannot disagree about a name, a
 * shape or an order (as RNNoise's layer list is its model).
 *
 * Dimensions: M mel bands, C conv filters, D dense units, H GRU units, K
 * maxout pieces; P outputs per branch (1, or 2 for the joint branch), G the
 * GRU output width (H, or 2H offline where both directions are
 * concatenated). */
#ifndef VALAR_CRNN_LAYOUT_H
#define VALAR_CRNN_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "weights.h"

/* The tensors, in file order (global ones, then each branch's). */
enum {
    CRNN_INPUT_MEAN, /* [M] */
    CRNN_INPUT_STD,  /* [M] */
    CRNN_CONV_W,     /* [C, 3, 3] */
    CRNN_CONV_B,     /* [C] */
    CRNN_BN_GAMMA,   /* [C] */
    CRNN_BN_BETA,    /* [C] */
    CRNN_BN_MEAN,    /* [C] */
    CRNN_BN_VAR,     /* [C] */
    CRNN_DENSE_W,    /* <b>.dense.weight [D, C*M]; first of the per-branch ones */
    CRNN_DENSE_B,    /* [D] */
    CRNN_GRU_WIH,    /* <b>.gru.weight_ih [3H, D] */
    CRNN_GRU_WHH,    /* [3H, H] */
    CRNN_GRU_B,      /* [3H] */
    CRNN_GRU_BW_WIH, /* <b>.gru_bw.*: offline only */
    CRNN_GRU_BW_WHH,
    CRNN_GRU_BW_B,
    CRNN_MAXOUT_W, /* [P, K, G] */
    CRNN_MAXOUT_B, /* [P, K] */
    CRNN_N_TENSORS
};
#define CRNN_FIRST_BRANCH_TENSOR CRNN_DENSE_W
#define CRNN_MAX_BRANCHES 2

typedef struct {
    int streaming; /* 0: offline (bidirectional GRUs, 'same' conv), 1: causal */
    int joint;     /* 1: one "joint" branch with P = 2 outputs (CRNN_NB) */
    int M, C, D, H, K;
} crnn_dims;

/* Branches, outputs per branch, GRU directions, GRU output width. */
int crnn_dims_branches(const crnn_dims *d);
int crnn_dims_outputs(const crnn_dims *d);
int crnn_dims_dirs(const crnn_dims *d);
int crnn_dims_gru_out(const crnn_dims *d);
/* "arousal", "valence" or "joint". */
const char *crnn_branch_name(const crnn_dims *d, int branch);

/* One tensor of a model. */
typedef struct {
    int id;        /* CRNN_INPUT_MEAN .. */
    int branch;    /* 0 for the global tensors */
    int trainable; /* 0: input statistics and batch-norm running statistics */
    char name[48];
    int ndim;
    int64_t shape[3];
    size_t count; /* elements */
} crnn_tensor;

/* The i-th tensor a model with dimensions d has (i = 0, 1, ... while it
 * returns 1): the global ones, then per branch; the backward GRU only
 * offline. Trainable tensors come in the order of valar-train's
 * parameter vector. */
int crnn_layout_tensor(const crnn_dims *d, int i, crnn_tensor *t);

/* Trainable parameters (the elements of the trainable tensors). */
size_t crnn_layout_params(const crnn_dims *d);

/* The model a weight file describes: metadata format ("valar-crnn"),
 * version ("1"), kind, branches and bn_eps, and the dimensions from the
 * shapes of input.mean, conv.weight and the first branch's dense, GRU and
 * maxout weights. 0, or VALAR_ERR_MISSING, VALAR_ERR_VERSION, VALAR_ERR_META
 * or VALAR_ERR_SHAPE with a message naming the key or tensor; d and bn_eps
 * may be partly written on failure. */
int crnn_layout_read(const weights *w, crnn_dims *d, double *bn_eps, char *msg, size_t msglen);

/* Check every tensor of the layout against the file (presence and exact
 * shape; no backward GRU in a streaming file, no joint branch in a
 * separate one, metadata n_mels, when present, equal to M) and point
 * data[branch][id] at each one's values. 0, or VALAR_ERR_MISSING,
 * VALAR_ERR_SHAPE, VALAR_ERR_META with a message naming the tensor. */
int crnn_layout_check(const weights *w, const crnn_dims *d,
                      const float *data[CRNN_MAX_BRANCHES][CRNN_N_TENSORS], char *msg,
                      size_t msglen);

#endif
