/* valar-train: trains the CRNN of Malik et al. 2017 on DEAM-style data and
 * writes weight files for valar; `valar-train eval` measures a weight file.
 * See README.md, section Training. */
#include "crnn.h"
#include "melspec.h"
#include "tdata.h"
#include "tnet.h"
#include "ttrain.h"
#include "weights.h"

#include <errno.h>
#include <getopt.h>
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
        "usage: valar-train train --data DIR --out FILE [options]\n"
        "       valar-train eval  --data DIR --model FILE [--split FILE] [--set NAME]\n"
        "\n"
        "data:\n"
        "  --data DIR          folder with arousal.csv, valence.csv and the audio\n"
        "  --audio DIR         audio folder (default: --data)\n"
        "  --arousal FILE      (default DIR/arousal.csv)\n"
        "  --valence FILE      (default DIR/valence.csv)\n"
        "  --split FILE        train/val/test song ids (default: all songs train)\n"
        "  --cache FILE        feature cache (default DIR/valar-features.cache)\n"
        "  --no-cache          do not read or write the cache\n"
        "  --n-mels N          mel bands (default 64; other features: melspec defaults)\n"
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
        "  --dropout X         dropout on conv and GRU input (default 0.75)\n"
        "  --dropout-conv X, --dropout-gru X\n"
        "  --l1 X, --l2 X      ElasticNet on conv weights (default 0.1, 0.001)\n"
        "  --act-l1 X, --act-l2 X  ElasticNet on conv activity (default 0.1, 0.001)\n"
        "  --filters N, --dense N, --gru N, --maxout-k N  (default 8, 8, 8, 4)\n"
        "  --seed N            (default 1)\n"
        "common:\n"
        "  --threads N         (default: all cores)\n"
        "  --set NAME          eval: train, val, test or all (default test, or all without a "
        "split)\n"
        "  --quiet             no progress output\n"
        "  --help              this text\n"
        "See README.md, section Training (data layout, split file, alignment, every flag).\n");
}

/* A number for flag --name in [lo, hi]; integer flags take integers only
 * (strtoll, so --seed keeps all its digits). Errors name the flag. */
static int parse_num(const char *name, const char *s, int integer, double lo, double hi,
                     double *out, long long *iout)
{
    char *end;
    errno = 0;
    long long iv = integer ? strtoll(s, &end, 10) : 0;
    double v = integer ? (double)iv : strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "valar-train: --%s: '%s' is not %s in [%.15g, %.15g]\n", name, s,
                integer ? "an integer" : "a number", lo, hi);
        return -1;
    }
    *out = v;
    *iout = iv;
    return 0;
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

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "train") && strcmp(argv[1], "eval"))) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    int is_train = !strcmp(argv[1], "train");
    ttrain_opts o;
    ttrain_defaults(&o);
    const char *data = NULL, *audio = NULL, *aro = NULL, *val = NULL, *split = NULL;
    const char *cache = NULL, *model = NULL, *set = NULL, *out = NULL, *last = NULL, *state = NULL;
    int no_cache = 0, quiet = 0, n_mels = 64;
    enum {
        O_DATA = 256,
        O_AUDIO,
        O_ARO,
        O_VAL,
        O_SPLIT,
        O_CACHE,
        O_NOCACHE,
        O_NMELS,
        O_KIND,
        O_JOINT,
        O_OUT,
        O_LAST,
        O_STATE,
        O_RESUME,
        O_SEQ,
        O_BATCH,
        O_EPOCHS,
        O_PAT,
        O_TLIM,
        O_LR,
        O_DROP,
        O_DROPC,
        O_DROPG,
        O_L1,
        O_L2,
        O_AL1,
        O_AL2,
        O_FILT,
        O_DENSE,
        O_GRU,
        O_K,
        O_SEED,
        O_THREADS,
        O_SET,
        O_QUIET,
        O_MODEL,
        O_HELP
    };
    static const struct option lo[] = {{"data", 1, 0, O_DATA},
                                       {"audio", 1, 0, O_AUDIO},
                                       {"arousal", 1, 0, O_ARO},
                                       {"valence", 1, 0, O_VAL},
                                       {"split", 1, 0, O_SPLIT},
                                       {"cache", 1, 0, O_CACHE},
                                       {"no-cache", 0, 0, O_NOCACHE},
                                       {"n-mels", 1, 0, O_NMELS},
                                       {"kind", 1, 0, O_KIND},
                                       {"joint", 0, 0, O_JOINT},
                                       {"out", 1, 0, O_OUT},
                                       {"last", 1, 0, O_LAST},
                                       {"state", 1, 0, O_STATE},
                                       {"resume", 0, 0, O_RESUME},
                                       {"seq-len", 1, 0, O_SEQ},
                                       {"batch", 1, 0, O_BATCH},
                                       {"epochs", 1, 0, O_EPOCHS},
                                       {"patience", 1, 0, O_PAT},
                                       {"time-limit", 1, 0, O_TLIM},
                                       {"lr", 1, 0, O_LR},
                                       {"dropout", 1, 0, O_DROP},
                                       {"dropout-conv", 1, 0, O_DROPC},
                                       {"dropout-gru", 1, 0, O_DROPG},
                                       {"l1", 1, 0, O_L1},
                                       {"l2", 1, 0, O_L2},
                                       {"act-l1", 1, 0, O_AL1},
                                       {"act-l2", 1, 0, O_AL2},
                                       {"filters", 1, 0, O_FILT},
                                       {"dense", 1, 0, O_DENSE},
                                       {"gru", 1, 0, O_GRU},
                                       {"maxout-k", 1, 0, O_K},
                                       {"seed", 1, 0, O_SEED},
                                       {"threads", 1, 0, O_THREADS},
                                       {"set", 1, 0, O_SET},
                                       {"quiet", 0, 0, O_QUIET},
                                       {"model", 1, 0, O_MODEL},
                                       {"help", 0, 0, O_HELP},
                                       {0, 0, 0, 0}};
    int c, li = 0;
    double v;
    long long iv;
    optind = 2;
    /* INT: integer flags; NUM: real ones. The flag's name comes from the
     * option table, so that the message names it whatever the spelling
     * (--batch 300, --batch=300, --bat 300) */
#define NUM(lo_, hi_)                                                                              \
    do {                                                                                           \
        if (parse_num(lo[li].name, optarg, 0, lo_, hi_, &v, &iv))                                  \
            return 2;                                                                              \
    } while (0)
#define INT(lo_, hi_)                                                                              \
    do {                                                                                           \
        if (parse_num(lo[li].name, optarg, 1, lo_, hi_, &v, &iv))                                  \
            return 2;                                                                              \
    } while (0)
    while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
        switch (c) {
        case O_DATA:
            data = optarg;
            break;
        case O_AUDIO:
            audio = optarg;
            break;
        case O_ARO:
            aro = optarg;
            break;
        case O_VAL:
            val = optarg;
            break;
        case O_SPLIT:
            split = optarg;
            break;
        case O_CACHE:
            cache = optarg;
            break;
        case O_NOCACHE:
            no_cache = 1;
            break;
        case O_NMELS:
            INT(1, 512);
            n_mels = (int)v;
            break;
        case O_KIND:
            if (!strcmp(optarg, "offline"))
                o.kind = 0;
            else if (!strcmp(optarg, "streaming"))
                o.kind = 1;
            else {
                fprintf(stderr, "valar-train: --kind must be offline or streaming\n");
                return 2;
            }
            break;
        case O_JOINT:
            o.joint = 1;
            break;
        case O_OUT:
            out = optarg;
            break;
        case O_LAST:
            last = optarg;
            break;
        case O_STATE:
            state = optarg;
            break;
        case O_RESUME:
            o.resume = 1;
            break;
        case O_SEQ:
            INT(1, 10000);
            o.seq_len = (int)v;
            break;
        case O_BATCH:
            INT(1, 256);
            o.batch = (int)v;
            break;
        case O_EPOCHS:
            INT(0, 1e6);
            o.epochs = (int)v;
            break;
        case O_PAT:
            INT(0, 1e6);
            o.patience = (int)v;
            break;
        case O_TLIM:
            NUM(0, 1e9);
            o.time_limit = v;
            break;
        case O_LR:
            NUM(1e-9, 10);
            o.lr = v;
            break;
        case O_DROP:
            NUM(0, 0.99);
            o.reg.drop_conv = o.reg.drop_gru = v;
            break;
        case O_DROPC:
            NUM(0, 0.99);
            o.reg.drop_conv = v;
            break;
        case O_DROPG:
            NUM(0, 0.99);
            o.reg.drop_gru = v;
            break;
        case O_L1:
            NUM(0, 100);
            o.reg.l1 = v;
            break;
        case O_L2:
            NUM(0, 100);
            o.reg.l2 = v;
            break;
        case O_AL1:
            NUM(0, 100);
            o.reg.act_l1 = v;
            break;
        case O_AL2:
            NUM(0, 100);
            o.reg.act_l2 = v;
            break;
        case O_FILT:
            INT(1, 64);
            o.C = (int)v;
            break;
        case O_DENSE:
            INT(1, 1024);
            o.D = (int)v;
            break;
        case O_GRU:
            INT(1, 64);
            o.H = (int)v;
            break;
        case O_K:
            INT(1, 64);
            o.K = (int)v;
            break;
        case O_SEED:
            INT(0, 1e18);
            o.seed = (uint64_t)iv;
            break;
        case O_THREADS:
            INT(1, 1024);
            o.threads = (int)v;
            break;
        case O_SET:
            set = optarg;
            break;
        case O_QUIET:
            quiet = 1;
            break;
        case O_MODEL:
            model = optarg;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
#undef NUM
#undef INT
    if (optind < argc) {
        fprintf(stderr, "valar-train: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!data && !(audio && aro && val)) {
        fprintf(stderr, "valar-train: --data DIR is required\n");
        return 2;
    }
    if (is_train && !out) {
        fprintf(stderr, "valar-train: train needs --out FILE\n");
        return 2;
    }
    if (!is_train && !model) {
        fprintf(stderr, "valar-train: eval needs --model FILE\n");
        return 2;
    }
    if (set && strcmp(set, "train") && strcmp(set, "val") && strcmp(set, "test") &&
        strcmp(set, "all")) {
        fprintf(stderr, "valar-train: --set must be train, val, test or all\n");
        return 2;
    }
    char p_aro[4096], p_val[4096], p_cache[4096], p_last[4096], p_state[4096];
    if (!aro)
        snprintf(p_aro, sizeof p_aro, "%s/arousal.csv", data), aro = p_aro;
    if (!val)
        snprintf(p_val, sizeof p_val, "%s/valence.csv", data), val = p_val;
    if (!audio)
        audio = data;
    if (!cache && !no_cache)
        snprintf(p_cache, sizeof p_cache, "%s/valar-features.cache", data ? data : audio),
            cache = p_cache;
    if (no_cache)
        cache = NULL;

    char msg[5000] = "";
    if (is_train) {
        if (!last) {
            const char *ext = strstr(out, ".safetensors");
            int stem = ext && ext[12] == 0 ? (int)(ext - out) : (int)strlen(out);
            snprintf(p_last, sizeof p_last, "%.*s.last.safetensors", stem, out);
            last = p_last;
        }
        if (!state)
            snprintf(p_state, sizeof p_state, "%s.state", out), state = p_state;
        if (check_writable(out, "the weights (--out)", msg, sizeof msg) ||
            check_writable(last, "the last-epoch weights (--last)", msg, sizeof msg) ||
            check_writable(state, "the resume state (--state)", msg, sizeof msg)) {
            fprintf(stderr, "valar-train: %s\n", msg);
            return 1;
        }
    }
    /* a cache that cannot be written only costs time: warn, and when there
     * is none to read either, do without (an existing cache in a read-only
     * folder is still used) */
    struct stat cst;
    if (cache && stat(cache, &cst) != 0 &&
        check_writable(cache, "the feature cache (--cache)", msg, sizeof msg)) {
        fprintf(stderr, "valar-train: warning: %s; features will not be cached\n", msg);
        cache = NULL;
    }
    melspec_config fc;
    melspec_config_default(&fc);
    fc.n_mels = n_mels;
    weights *mw = NULL;
    tnet *net = NULL;
    if (!is_train) {
        if (weights_load(model, &mw, msg, sizeof msg)) {
            fprintf(stderr, "valar-train: %s\n", msg);
            return 1;
        }
        /* crnn_create validates the file exactly as valar analyze does
         * (format, version, every shape); eval then runs the trainer's own
         * forward pass, which gives the same outputs (test train-parity) */
        crnn *check = NULL;
        int bad = crnn_create(mw, &check, msg, sizeof msg);
        crnn_destroy(check);
        if (bad || melspec_config_read(&fc, mw, msg, sizeof msg) ||
            tnet_from_weights(mw, &net, msg, sizeof msg)) {
            fprintf(stderr, "valar-train: %s: %s\n", model, msg);
            weights_destroy(mw);
            return 1;
        }
    }
    if (melspec_config_check(&fc, msg, sizeof msg)) {
        fprintf(stderr, "valar-train: feature config: %s\n", msg);
        weights_destroy(mw);
        tnet_destroy(net);
        return 1;
    }
    tdata_opts d = {audio, aro, val, split, cache, o.threads, !quiet && isatty(2)};
    int rc = 0;
    if (!is_train) {
        const char *sname = set ? set : split ? "test" : "all";
        tset ts;
        if (tdata_load(&d, sname, &fc, &ts, msg, sizeof msg)) {
            fprintf(stderr, "valar-train: %s\n", msg);
            rc = 1;
        } else if (ts.n == 0) {
            fprintf(stderr, "valar-train: set %s has no songs\n", sname);
            rc = 1;
        } else {
            const char *sl = weights_meta(mw, "seq_len");
            int seq = sl ? atoi(sl) : 0;
            tmetrics m;
            if (ttrain_eval(net, &ts, seq, o.threads, &m)) {
                fprintf(stderr, "valar-train: out of memory\n");
                rc = 1;
            } else {
                char title[4400];
                snprintf(title, sizeof title, "%s on set %s (%s%s)", model, sname,
                         net->d.kind ? "streaming, stepped over whole songs"
                                     : "offline, windows of seq_len ",
                         net->d.kind ? "" : (sl ? sl : "0 = whole song"));
                tmetrics_print(stdout, title, &m);
            }
            tset_free(&ts);
        }
        tnet_destroy(net);
        weights_destroy(mw);
        return rc;
    }

    if (o.seq_len != 10 && o.seq_len != 20 && o.seq_len != 30 && o.seq_len != 60)
        fprintf(stderr, "valar-train: note: --seq-len %d (the paper uses 10, 20, 30, 60)\n",
                o.seq_len);
    o.out = out;
    o.last = last;
    o.state = state;
    o.log = quiet ? NULL : stderr;
    char args[4096] = "";
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(args);
        snprintf(args + l, sizeof args - l, "%s%s", i > 1 ? " " : "", argv[i]);
    }
    o.args = args;
    /* provenance: absolute paths, which mean something away from the
     * folder the command ran in */
    static char r_data[PATH_MAX], r_audio[PATH_MAX], r_aro[PATH_MAX], r_val[PATH_MAX],
        r_split[PATH_MAX], on[6 * PATH_MAX];
    const char *a_audio = abs_path(audio, r_audio);
    snprintf(on, sizeof on, "%s (audio %s, annotations %s + %s%s%s)",
             data ? abs_path(data, r_data) : a_audio, a_audio, abs_path(aro, r_aro),
             abs_path(val, r_val), split ? ", split " : "", split ? abs_path(split, r_split) : "");
    o.trained_on = on;
    tset tr, va;
    if (tdata_load(&d, "train", &fc, &tr, msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        return 1;
    }
    if (tdata_load(&d, "val", &fc, &va, msg, sizeof msg)) {
        fprintf(stderr, "valar-train: %s\n", msg);
        tset_free(&tr);
        return 1;
    }
    if (tr.n == 0) {
        fprintf(stderr, "valar-train: no training songs (check --split and the CSVs)\n");
        rc = 1;
    } else {
        if (!quiet)
            fprintf(stderr, "valar-train: %d training songs, %d validation songs%s\n", tr.n, va.n,
                    va.n ? "" : " (validating on the training set)");
        if (ttrain_run(&o, &tr, &va, &fc, NULL, msg, sizeof msg)) {
            fprintf(stderr, "valar-train: %s\n", msg);
            rc = 1;
        } else if (!quiet)
            fprintf(stderr, "valar-train: best weights in %s, last in %s\n", out, last);
    }
    tset_free(&tr);
    tset_free(&va);
    return rc;
}
