/* valar-train: trains the CRNN of Malik et al. 2017 and writes weight files
 * for valar; `valar-train eval` measures a weight file against baselines;
 * `valar-train labels` makes song-level labels from mood tags. A thin shell
 * over the train/ modules. See docs/training.md. */
#include "melspec.h"
#include "model.h"
#include "optparse.h"
#include "offline.h"
#include "tdata.h"
#include "teval.h"
#include "tlabels.h"
#include "tmerge.h"
#include "tnet.h"
#include "ttrain.h"
#include "weights.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: valar-train train  --data DIR --out FILE [options]\n"
        "       valar-train eval   --data DIR --model FILE [--split FILE] [--set NAME]\n"
        "       valar-train labels --4q DIR [--out FILE]\n"
        "       valar-train merge  --out FILE MODEL MODEL...\n"
        "\n"
        "data:\n"
        "  --data DIR          folder with arousal.csv, valence.csv and the audio\n"
        "  --audio DIR         audio folder (default: --data)\n"
        "  --arousal FILE      (default DIR/arousal.csv)\n"
        "  --valence FILE      (default DIR/valence.csv)\n"
        "  --labels FILE       song-level labels song_id,arousal,valence[,quadrant]\n"
        "                      instead of the two CSVs (needs --audio or --data)\n"
        "  --warmup S          song-level labels: no target in a song's first S seconds\n"
        "                      (default 0)\n"
        "  --split FILE        train/val/test song ids (default: all songs train)\n"
        "  --cache FILE        feature cache (default DIR/valar-features.cache)\n"
        "  --no-cache          do not read or write the cache\n"
        "  --n-mels N          mel bands (default 64)\n"
        "  --n-fft N           FFT size (default 1024; other features: melspec defaults)\n"
        "train:\n"
        "  --kind offline|streaming   (default offline)\n"
        "  --joint             one joint branch for both outputs (CRNN_NB)\n"
        "  --out FILE          best-on-validation weights\n"
        "  --last FILE         last-epoch weights (default OUT minus .safetensors + "
        ".last.safetensors)\n"
        "  --state FILE        resume state (default OUT.state)\n"
        "  --resume            continue from --state\n"
        "  --seq-len N         frames per sequence / chunk: 10, 20, 30 or 60 (default 10)\n"
        "  --batch N           sequences per mini-batch (default 32)\n"
        "  --epochs N          (default 100)\n"
        "  --patience N        early stop after N epochs without improvement (0: off; default 10)\n"
        "  --time-limit S      stop after S seconds of training (default: none)\n"
        "  --lr X              Adam learning rate (default 0.001)\n"
        "  --lr-cosine         decay the rate to lr/100 along a cosine over --epochs\n"
        "  --ema X             validate and save a running average of the weights (decay X per\n"
        "                      step, e.g. 0.99; default 0: the weights themselves)\n"
        "  --aug-gain DB       augmentation: random gain in +-DB per sequence (default 0)\n"
        "  --aug-tilt DB       augmentation: random spectral tilt, +-DB/2 at the band edges\n"
        "  --aug-shift N       augmentation: frames moved by up to +-N mel bands (pitch)\n"
        "  --crop              augmentation: offline windows moved by up to +-seq-len/2\n"
        "  --carry-state       streaming: a lane's next song starts from the state the last\n"
        "                      left (as live input does when the music changes), not zero\n"
        "  --dropout X         dropout on conv and GRU input (default 0.75)\n"
        "  --dropout-conv X, --dropout-gru X\n"
        "  --l1 X, --l2 X      ElasticNet on conv weights (default 0.1, 0.001)\n"
        "  --act-l1 X, --act-l2 X  ElasticNet on conv activity (default 0.1, 0.001)\n"
        "  --filters N, --dense N, --gru N, --maxout-k N  (default 8, 8, 8, 4)\n"
        "  --seed N            (default 1)\n"
        "  --trained-on TEXT   the data, for the metadata (default: the data's paths)\n"
        "eval:\n"
        "  --model FILE        the weight file\n"
        "  --set NAME          train, val, test or all (default test, or all without a split)\n"
        "  --format text|json  (default text)\n"
        "  --no-baselines      without the training-mean and ridge baselines (which need\n"
        "                      a split with training songs)\n"
        "labels:\n"
        "  --4q DIR            the 4Q dataset: panda_dataset_taffc_annotations.csv (quadrants),\n"
        "                      panda_dataset_taffc_metadata.csv (tags), warriner-moods.csv\n"
        "  --quadrants FILE, --metadata FILE, --norms FILE   the three files one by one\n"
        "  --out FILE          (default: standard output)\n"
        "merge:\n"
        "  MODEL...            2 to 8 models of one kind and features, trained on the same\n"
        "                      set: one file whose outputs are their average (an ensemble)\n"
        "  --out FILE          the merged model\n"
        "common:\n"
        "  --threads N         (default: all cores)\n"
        "  --quiet             no progress output\n"
        "  --help              this text\n"
        "See valar-train(1) and docs/training.md (data layout, split file, alignment, every flag).\n");
}

/* ---- options ---- */

typedef struct {
    const char *data, *audio, *aro, *val, *labels, *split, *cache, *model, *set, *out, *last,
        *state, *format, *q4, *quadrants, *metadata, *norms, *trained_on;
    int no_cache, quiet, n_mels, n_fft, no_baselines;
    char **operands; /* merge: the models */
    int n_operands;
    double warmup;
    ttrain_opts t;
} opts;

/* Parses argv[2..] into o. 0, 1 after --help, or -1 (usage error, said). */
static int parse(int argc, char **argv, opts *o)
{
    ttrain_opts *t = &o->t;
    const opt_def defs[] = {
        {"data", 0, OPT_STRING, .dst = &o->data},
        {"audio", 0, OPT_STRING, .dst = &o->audio},
        {"arousal", 0, OPT_STRING, .dst = &o->aro},
        {"valence", 0, OPT_STRING, .dst = &o->val},
        {"labels", 0, OPT_STRING, .dst = &o->labels},
        {"warmup", 0, OPT_DOUBLE, .dst = &o->warmup, .lo = 0, .hi = 3600},
        {"split", 0, OPT_STRING, .dst = &o->split},
        {"cache", 0, OPT_STRING, .dst = &o->cache},
        {"no-cache", 0, OPT_FLAG, .dst = &o->no_cache},
        {"n-mels", 0, OPT_INT, .dst = &o->n_mels, .lo = 1, .hi = 512},
        {"n-fft", 0, OPT_INT, .dst = &o->n_fft, .lo = 2, .hi = 65536},
        {"kind", 0, OPT_CHOICE, .dst = &t->kind, .words = "offline|streaming", .what = "kind"},
        {"joint", 0, OPT_FLAG, .dst = &t->joint},
        {"out", 0, OPT_STRING, .dst = &o->out},
        {"last", 0, OPT_STRING, .dst = &o->last},
        {"state", 0, OPT_STRING, .dst = &o->state},
        {"resume", 0, OPT_FLAG, .dst = &t->resume},
        {"seq-len", 0, OPT_INT, .dst = &t->seq_len, .lo = 1, .hi = 10000},
        {"batch", 0, OPT_INT, .dst = &t->batch, .lo = 1, .hi = 256},
        {"epochs", 0, OPT_INT, .dst = &t->epochs, .lo = 0, .hi = 1e6},
        {"patience", 0, OPT_INT, .dst = &t->patience, .lo = 0, .hi = 1e6},
        {"time-limit", 0, OPT_DOUBLE, .dst = &t->time_limit, .lo = 0, .hi = 1e9},
        {"lr", 0, OPT_DOUBLE, .dst = &t->lr, .lo = 1e-9, .hi = 10},
        {"lr-cosine", 0, OPT_FLAG, .dst = &t->lr_cosine},
        {"ema", 0, OPT_DOUBLE, .dst = &t->ema, .lo = 0, .hi = 0.99999},
        {"aug-gain", 0, OPT_DOUBLE, .dst = &t->aug_gain_db, .lo = 0, .hi = 40},
        {"aug-tilt", 0, OPT_DOUBLE, .dst = &t->aug_tilt_db, .lo = 0, .hi = 40},
        {"aug-shift", 0, OPT_INT, .dst = &t->aug_shift, .lo = 0, .hi = 64},
        {"crop", 0, OPT_FLAG, .dst = &t->crop},
        {"carry-state", 0, OPT_FLAG, .dst = &t->carry_state},
        {"dropout", 0, OPT_DOUBLE, .dst = &t->reg.drop_conv, .dst2 = &t->reg.drop_gru, .lo = 0,
         .hi = 0.99},
        {"dropout-conv", 0, OPT_DOUBLE, .dst = &t->reg.drop_conv, .lo = 0, .hi = 0.99},
        {"dropout-gru", 0, OPT_DOUBLE, .dst = &t->reg.drop_gru, .lo = 0, .hi = 0.99},
        {"l1", 0, OPT_DOUBLE, .dst = &t->reg.l1, .lo = 0, .hi = 100},
        {"l2", 0, OPT_DOUBLE, .dst = &t->reg.l2, .lo = 0, .hi = 100},
        {"act-l1", 0, OPT_DOUBLE, .dst = &t->reg.act_l1, .lo = 0, .hi = 100},
        {"act-l2", 0, OPT_DOUBLE, .dst = &t->reg.act_l2, .lo = 0, .hi = 100},
        {"filters", 0, OPT_INT, .dst = &t->C, .lo = 1, .hi = 64},
        {"dense", 0, OPT_INT, .dst = &t->D, .lo = 1, .hi = 1024},
        {"gru", 0, OPT_INT, .dst = &t->H, .lo = 1, .hi = 64},
        {"maxout-k", 0, OPT_INT, .dst = &t->K, .lo = 1, .hi = 64},
        {"seed", 0, OPT_U64, .dst = &t->seed, .lo = 0, .hi = 1e18},
        {"trained-on", 0, OPT_STRING, .dst = &o->trained_on},
        {"threads", 0, OPT_INT, .dst = &t->threads, .lo = 1, .hi = 1024},
        {"set", 0, OPT_STRING, .dst = &o->set},
        {"quiet", 0, OPT_FLAG, .dst = &o->quiet},
        {"model", 0, OPT_STRING, .dst = &o->model},
        {"format", 0, OPT_STRING, .dst = &o->format},
        {"no-baselines", 0, OPT_FLAG, .dst = &o->no_baselines},
        {"4q", 0, OPT_STRING, .dst = &o->q4},
        {"quadrants", 0, OPT_STRING, .dst = &o->quadrants},
        {"metadata", 0, OPT_STRING, .dst = &o->metadata},
        {"norms", 0, OPT_STRING, .dst = &o->norms},
        {"help", 0, OPT_HELP, .dst = NULL},
    };
    optind = 2;
    int r = optparse("valar-train", argc, argv, defs, sizeof defs / sizeof defs[0]);
    if (r == 1 || r == -2)
        usage(r > 0 ? stdout : stderr);
    if (r)
        return r > 0 ? 1 : -1;
    o->operands = argv + optind;
    o->n_operands = argc - optind;
    if (optind < argc && strcmp(argv[1], "merge")) {
        fprintf(stderr, "valar-train: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- helpers ---- */

/* argv[1..] as typed, for the training_args metadata. */
static void command_line(int argc, char **argv, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, len - l, "%s%s", i > 1 ? " " : "", argv[i]);
    }
}

/* The folder of path (for checking that files can be created there). */
static void dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* Can the trainer create path (atomically: a temporary file in the same
 * folder, then rename)? 0, or -1 with a message naming the path. Checked
 * before any work, so that a typo does not cost a feature extraction and
 * an epoch. */
static int check_writable(const char *path, const char *what, char *msg, size_t msglen)
{
    char dir[4096];
    struct stat st;
    if (!*path) {
        snprintf(msg, msglen, "%s: empty file name", what);
        return -1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(msg, msglen, "%s: cannot write %s: is a directory", path, what);
        return -1;
    }
    dir_of(path, dir, sizeof dir);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
        int e = errno;
        snprintf(msg, msglen, "%s: cannot write %s: folder %s: %s", path, what, dir,
                 stat(dir, &st) == 0 && !S_ISDIR(st.st_mode) ? "not a folder" : strerror(e));
        return -1;
    }
    return 0;
}

/* An absolute path for the provenance metadata; as typed when it cannot
 * be resolved. */
static const char *abs_path(const char *p, char *buf)
{
    return p && realpath(p, buf) ? buf : p;
}

/* Fills the data paths' defaults and checks the data options; the data
 * options of o then describe d. 0 or -1 (said). */
static int data_setup(opts *o, tdata_opts *d, char (*buf)[4096])
{
    if (!o->data && !(o->audio && ((o->aro && o->val) || o->labels))) {
        fprintf(stderr, "valar-train: --data DIR is required\n");
        return -1;
    }
    if (o->labels && (o->aro || o->val)) {
        fprintf(stderr, "valar-train: --labels replaces --arousal and --valence: give one or "
                        "the other\n");
        return -1;
    }
    if (!o->labels && !o->aro)
        snprintf(buf[0], sizeof buf[0], "%s/arousal.csv", o->data), o->aro = buf[0];
    if (!o->labels && !o->val)
        snprintf(buf[1], sizeof buf[1], "%s/valence.csv", o->data), o->val = buf[1];
    if (!o->audio)
        o->audio = o->data;
    if (!o->cache && !o->no_cache)
        snprintf(buf[2], sizeof buf[2], "%s/valar-features.cache", o->data ? o->data : o->audio),
            o->cache = buf[2];
    if (o->no_cache)
        o->cache = NULL;
    /* a cache that cannot be written only costs time: warn, and when there
     * is none to read either, do without (an existing cache in a read-only
     * folder is still used) */
    struct stat cst;
    char msg[5000];
    if (o->cache && stat(o->cache, &cst) != 0 &&
        check_writable(o->cache, "the feature cache (--cache)", msg, sizeof msg)) {
        fprintf(stderr, "valar-train: warning: %s; features will not be cached\n", msg);
        o->cache = NULL;
    }
    *d = (tdata_opts){.audio_dir = o->audio,
                      .arousal_csv = o->aro,
                      .valence_csv = o->val,
                      .labels = o->labels,
                      .warmup_s = o->warmup,
                      .split = o->split,
                      .cache = o->cache,
                      .threads = o->t.threads,
                      .progress = !o->quiet && isatty(2)};
    return 0;
}

/* ---- valar-train labels ---- */

static int cmd_labels(opts *o)
{
    char q[4096], m[4096], n[4096], msg[5000];
    tlabels_opts l = {o->quadrants, o->metadata, o->norms, o->out};
    if (o->q4) {
        snprintf(q, sizeof q, "%s/panda_dataset_taffc_annotations.csv", o->q4);
        snprintf(m, sizeof m, "%s/panda_dataset_taffc_metadata.csv", o->q4);
        snprintf(n, sizeof n, "%s/warriner-moods.csv", o->q4);
        l.quadrants = l.quadrants ? l.quadrants : q;
        l.metadata = l.metadata ? l.metadata : m;
        l.norms = l.norms ? l.norms : n;
    }
    if (!l.quadrants || !l.metadata || !l.norms) {
        fprintf(stderr, "valar-train: labels needs --4q DIR (or --quadrants, --metadata and "
                        "--norms)\n");
        return 2;
    }
    if (l.out && check_writable(l.out, "the labels (--out)", msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        return 1;
    }
    int n_songs = tlabels_make(&l, msg, sizeof msg);
    if (n_songs < 0) {
        fprintf(stderr, "valar-train: %s\n", msg);
        return 1;
    }
    if (!o->quiet && l.out)
        fprintf(stderr, "valar-train: labels of %d songs in %s\n", n_songs, l.out);
    return 0;
}

/* valar-train merge: several models as one that outputs their average. */
static int cmd_merge(opts *o, int argc, char **argv)
{
    char msg[5000];
    weights *in[TMERGE_MAX] = {0}, *out = NULL;
    const char *names[TMERGE_MAX];
    int n = o->n_operands, rc = 1;
    if (!o->out || n < 2 || n > TMERGE_MAX) {
        fprintf(stderr, "valar-train: merge needs --out FILE and 2 to %d models\n", TMERGE_MAX);
        return 2;
    }
    if (check_writable(o->out, "the merged model (--out)", msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        names[i] = o->operands[i];
        if (weights_load(names[i], &in[i], msg, sizeof msg)) {
            fprintf(stderr, "valar-train: %s\n", msg);
            goto done;
        }
    }
    char args[4096];
    command_line(argc, argv, args, sizeof args);
    if (tmerge((const weights *const *)in, names, n, args, &out, msg, sizeof msg) ||
        weights_save(out, o->out, msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        goto done;
    }
    if (!o->quiet)
        fprintf(stderr, "valar-train: the average of %d models in %s\n", n, o->out);
    rc = 0;
done:
    for (int i = 0; i < n; i++)
        weights_destroy(in[i]);
    weights_destroy(out);
    return rc;
}

/* ---- valar-train eval ---- */

/* The model (validated exactly as valar analyze does: format, version,
 * every shape) as the trainer's network, and its feature config and
 * seq_len. 0 or -1 (said). */
static int load_model(const char *path, tnet **net, melspec_config *fc, int *seq_len)
{
    char msg[5000];
    weights *w = NULL;
    if (model_load(path, 0, &w, msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        return -1;
    }
    /* model_load checked the feature config and seq_len */
    melspec_config_read(fc, w, NULL, 0);
    offline_seq_len(w, seq_len, NULL, 0);
    int err = tnet_from_weights(w, net, msg, sizeof msg);
    if (err)
        fprintf(stderr, "valar-train: %s: %s\n", path, msg);
    weights_destroy(w);
    return err ? -1 : 0;
}

/* Metrics of the model and the baselines (sets[0] = the evaluated set,
 * [1] train, [2] val; with n_sets 1, no baselines). Returns the number of
 * rows in m, or -1. */
static int eval_rows(const tnet *net, int seq, const tset *sets, int n_sets, int threads,
                     tmetrics *m, double *lambda)
{
    if (teval_run(net, &sets[0], seq, threads, &m[0]))
        return -1;
    if (n_sets == 1)
        return 1;
    const tset *tr = &sets[1], *va = sets[2].n ? &sets[2] : &sets[1];
    float **pred = teval_alloc(&sets[0]);
    if (!pred)
        return -1;
    teval_mean_baseline(tr, &sets[0], pred);
    teval_metrics(&sets[0], pred, &m[1]);
    int err = teval_ridge_baseline(tr, va, &sets[0], pred, lambda);
    if (!err)
        teval_metrics(&sets[0], pred, &m[2]);
    teval_free(&sets[0], pred);
    return err ? -1 : 3;
}

static int cmd_eval(opts *o)
{
    char buf[3][4096], msg[5000];
    tdata_opts d;
    tnet *net = NULL;
    melspec_config fc;
    int seq = 0;
    const char *fmt = o->format ? o->format : "text";
    if (!o->model) {
        fprintf(stderr, "valar-train: eval needs --model FILE\n");
        return 2;
    }
    if (strcmp(fmt, "text") && strcmp(fmt, "json")) {
        fprintf(stderr, "valar-train: --format must be text or json\n");
        return 2;
    }
    if (data_setup(o, &d, buf))
        return 2;
    if (load_model(o->model, &net, &fc, &seq))
        return 1;
    const char *names[3] = {o->set ? o->set : o->split ? "test" : "all", "train", "val"};
    int n_sets = o->split && !o->no_baselines ? 3 : 1, rc = 1;
    tset sets[3];
    if (tdata_load(&d, names, n_sets, &fc, sets, msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        tnet_destroy(net);
        return 1;
    }
    tmetrics m[3];
    double lambda = 0;
    int rows = 0;
    if (sets[0].n == 0)
        fprintf(stderr, "valar-train: set %s has no songs\n", names[0]);
    else if (n_sets == 3 && sets[1].n == 0)
        fprintf(stderr, "valar-train: the split has no training songs for the baselines "
                        "(--no-baselines evaluates the model alone)\n");
    else if ((rows = eval_rows(net, seq, sets, n_sets, o->t.threads, m, &lambda)) < 0)
        fprintf(stderr, "valar-train: out of memory\n");
    else
        rc = 0;
    if (!rc) {
        const char *rn[3] = {o->model, "baseline: training mean", "baseline: ridge, log-mel stats"};
        if (!strcmp(fmt, "json"))
            rc = tmetrics_json(stdout, names[0], rn, m, rows) ? 1 : 0;
        else {
            char title[4400], how[64] = "streaming, stepped over whole songs";
            if (!net->d.kind)
                snprintf(how, sizeof how, "offline, windows of seq_len %d%s", seq,
                         seq ? "" : " = whole song");
            snprintf(title, sizeof title, "%s on set %s (%s)", o->model, names[0], how);
            tmetrics_print(stdout, title, &m[0]);
            rn[0] = "this model";
            printf("\n");
            tmetrics_table(stdout, rn, m, rows);
            if (rows == 3)
                printf("\nridge penalty %g, chosen on set %s\n", lambda,
                       sets[2].n ? "val" : "train");
        }
    }
    for (int s = 0; s < n_sets; s++)
        tset_free(&sets[s]);
    tnet_destroy(net);
    return rc;
}

/* ---- valar-train train ---- */

/* Output paths (--last, --state defaults) and their folders, checked
 * before any work. 0 or -1 (said). */
static int out_setup(opts *o, char *p_last, char *p_state, size_t len)
{
    char msg[5000];
    if (!o->out) {
        fprintf(stderr, "valar-train: train needs --out FILE\n");
        return 2;
    }
    if (!o->last) {
        const char *ext = strstr(o->out, ".safetensors");
        int stem = ext && ext[12] == 0 ? (int)(ext - o->out) : (int)strlen(o->out);
        snprintf(p_last, len, "%.*s.last.safetensors", stem, o->out);
        o->last = p_last;
    }
    if (!o->state)
        snprintf(p_state, len, "%s.state", o->out), o->state = p_state;
    if (check_writable(o->out, "the weights (--out)", msg, sizeof msg) ||
        check_writable(o->last, "the last-epoch weights (--last)", msg, sizeof msg) ||
        check_writable(o->state, "the resume state (--state)", msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        return 1;
    }
    return 0;
}

/* What the data was, as absolute paths (meaningful away from the folder
 * the command ran in), for the metadata. */
static void describe_data(const opts *o, char *on, size_t len)
{
    static char r_data[PATH_MAX], r_audio[PATH_MAX], r_a[PATH_MAX], r_v[PATH_MAX],
        r_split[PATH_MAX];
    const char *audio = abs_path(o->audio, r_audio);
    int n = snprintf(on, len, "%s (audio %s, ", o->data ? abs_path(o->data, r_data) : audio, audio);
    if (o->labels)
        n += snprintf(on + n, len - (size_t)n, "song-level labels %s", abs_path(o->labels, r_a));
    else
        n += snprintf(on + n, len - (size_t)n, "annotations %s + %s", abs_path(o->aro, r_a),
                      abs_path(o->val, r_v));
    snprintf(on + n, len - (size_t)n, "%s%s)", o->split ? ", split " : "",
             o->split ? abs_path(o->split, r_split) : "");
}

static int cmd_train(opts *o, int argc, char **argv)
{
    char buf[3][4096], p_last[4096], p_state[4096], msg[5000], args[4096] = "";
    static char on[6 * PATH_MAX];
    tdata_opts d;
    int rc = out_setup(o, p_last, p_state, sizeof p_last);
    if (rc)
        return rc;
    if (data_setup(o, &d, buf))
        return 2;
    melspec_config fc;
    melspec_config_default(&fc);
    fc.n_mels = o->n_mels;
    if (o->n_fft)
        fc.n_fft = o->n_fft;
    if (melspec_config_check(&fc, msg, sizeof msg)) {
        fprintf(stderr, "valar-train: feature config: %s\n", msg);
        return 1;
    }
    ttrain_opts *t = &o->t;
    if (t->seq_len != 10 && t->seq_len != 20 && t->seq_len != 30 && t->seq_len != 60)
        fprintf(stderr, "valar-train: note: --seq-len %d (the paper uses 10, 20, 30, 60)\n",
                t->seq_len);
    t->out = o->out;
    t->last = o->last;
    t->state = o->state;
    t->log = o->quiet ? NULL : stderr;
    command_line(argc, argv, args, sizeof args);
    t->args = args;
    describe_data(o, on, sizeof on);
    t->trained_on = o->trained_on ? o->trained_on : on;
    tset sets[2];
    static const char *const names[2] = {"train", "val"};
    if (tdata_load(&d, names, 2, &fc, sets, msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        return 1;
    }
    if (sets[0].n == 0) {
        fprintf(stderr, "valar-train: no training songs (check --split and the CSVs)\n");
        rc = 1;
    } else {
        if (!o->quiet)
            fprintf(stderr, "valar-train: %d training songs, %d validation songs%s\n", sets[0].n,
                    sets[1].n, sets[1].n ? "" : " (validating on the training set)");
        if (ttrain_run(t, &sets[0], &sets[1], &fc, NULL, msg, sizeof msg)) {
            fprintf(stderr, "valar-train: %s\n", msg);
            rc = 1;
        } else if (!o->quiet)
            fprintf(stderr, "valar-train: best weights in %s, last in %s\n", o->out, o->last);
    }
    tset_free(&sets[0]);
    tset_free(&sets[1]);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc >= 2 ? argv[1] : "";
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "train") && strcmp(cmd, "eval") && strcmp(cmd, "labels") &&
        strcmp(cmd, "merge")) {
        usage(stderr);
        return 2;
    }
    opts o = {.n_mels = 64};
    ttrain_defaults(&o.t);
    int p = parse(argc, argv, &o);
    if (p)
        return p > 0 ? 0 : 2;
    if (o.set && strcmp(o.set, "train") && strcmp(o.set, "val") && strcmp(o.set, "test") &&
        strcmp(o.set, "all")) {
        fprintf(stderr, "valar-train: --set must be train, val, test or all\n");
        return 2;
    }
    if (!strcmp(cmd, "labels"))
        return cmd_labels(&o);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(&o);
    if (!strcmp(cmd, "merge"))
        return cmd_merge(&o, argc, argv);
    return cmd_train(&o, argc, argv);
}
