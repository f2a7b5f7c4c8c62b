/* tmerge: several trained models of one shape as one network that outputs
 * their average (an ensemble in a single weight file, which valar runs like
 * any other model).
 *
 * Members side by side: their conv filters, dense units and GRU units are
 * concatenated and every weight between two members is zero, so each member
 * computes exactly what it computes alone. The sum of the members' maxout
 * outputs is itself a maxout over every combination of their pieces
 * (max_i a_i + max_j b_j = max_ij (a_i + b_j)), so the merged maxout has
 * K1*K2*... pieces, each the average of one piece per member. The merged
 * net's output is therefore the members' mean before the final clip to
 * -1..1 (the same as the mean of their outputs unless one of them clips).
 *
 * Members must agree on everything but their weights: kind, branches,
 * mel bands, batch-norm epsilon, input statistics and feature metadata. */
#ifndef VALAR_TMERGE_H
#define VALAR_TMERGE_H

#include "weights.h"

#define TMERGE_MAX 8           /* members */
#define TMERGE_MAX_PIECES 4096 /* maxout pieces of the merged net */

/* Merge n models (2..TMERGE_MAX) named names[i] (for messages) into *out;
 * args (may be NULL) is the command line, for the training_args metadata.
 * 0, or VALAR_ERR_ARG (n out of range), VALAR_ERR_META (members that
 * differ in kind, branches, bn_eps, feature metadata or input statistics,
 * or too many maxout pieces), a member's crnn_layout_read/_check error, or
 * VALAR_ERR_NOMEM; msg names the member and what differs. *out is NULL on
 * failure. The merged file's metadata is the first member's, with
 * description, metrics, created and training_args replaced and "members"
 * holding each member's training_args, metrics and created. */
int tmerge(const weights *const *in, const char *const *names, int n, const char *args,
           weights **out, char *msg, size_t msglen);

#endif
