/* valar: command-line front end. A thin shell over the library:
 *   valar analyze [options] FILE...   per-500 ms arousal/valence of files
 *   valar info MODEL                  what a weight file holds
 *   valar listen [options]            live analysis (src/live/) */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crnn.h"
#include "melspec.h"
#include "modelpath.h"
#include "offline.h"
#include "plot.h"
#include "weights.h"
#ifdef VALAR_HAVE_LISTEN
#include "live/listen.h"
#endif

enum { FMT_CSV, FMT_JSON };

static void usage(FILE *f)
{
    fprintf(f, "usage: valar analyze [options] FILE...\n"
               "       valar info MODEL\n"
#ifdef VALAR_HAVE_LISTEN
               "       valar listen [options]      (valar listen --help)\n"
#endif
               "       valar --version\n"
               "\n"
               "analyze: arousal and valence (-1..1) of every 500 ms of each audio file\n"
               "(any format libsndfile reads: WAV, FLAC, OGG, MP3, ...; FILE '-' reads\n"
               "standard input).\n"
               "  -m, --model FILE     weight file (.safetensors); default: the shipped\n"
               "                       offline (bidirectional) model\n"
               "  -s, --streaming      use the shipped streaming (causal) model: the same\n"
               "                       results valar listen and the LV2 plugin give\n"
               "  -f, --format FMT     csv (default) or json\n"
               "  -o, --output FILE    write to FILE (atomically) instead of stdout\n"
               "      --deam DIR       also write DIR/arousal.csv and DIR/valence.csv in the\n"
               "                       MediaEval/DEAM wide format (song_id = file name\n"
               "                       without extension, columns sample_15000ms, ...)\n"
               "      --plot FILE.svg  also draw the results (curves over time and the path\n"
               "                       in the valence-arousal plane, one panel per file)\n"
               "  -q, --quiet          no notes on stderr\n"
               "CSV columns: time_s,arousal,valence (time_s = start of the 500 ms segment);\n"
               "with several files a leading 'file' column is added.\n"
               "Training is a separate program: valar-train --help.\n");
}

/* Output goes to a temp file beside the target, renamed into place at the
 * end, so a failed run never leaves a half-written file. */
typedef struct {
    FILE *f;
    char tmp[4096];
    const char *path;
} outfile;

static int out_open(outfile *o, const char *path)
{
    o->path = path;
    if (!path) {
        o->f = stdout;
        return 0;
    }
    snprintf(o->tmp, sizeof o->tmp, "%s.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd >= 0) {
        /* mkstemp makes the file 0600: give it the replaced file's mode, or
         * what a plain create would. Not fatal if it fails. */
        struct stat st;
        mode_t mode;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            mode = st.st_mode & 07777;
        } else {
            mode_t um = umask(0);
            umask(um);
            mode = 0666 & ~um;
        }
        fchmod(fd, mode);
    }
    if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
        fprintf(stderr, "valar: %s: cannot write: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp);
        }
        return -1;
    }
    return 0;
}

static int out_close(outfile *o, int ok)
{
    if (!o->path)
        return fflush(stdout) == 0 && ok ? 0 : -1;
    int err = ferror(o->f);
    if (fclose(o->f) != 0)
        err = 1;
    if (ok && !err && rename(o->tmp, o->path) == 0)
        return 0;
    if (ok)
        fprintf(stderr, "valar: %s: cannot write: %s\n", o->path, strerror(errno));
    unlink(o->tmp);
    return -1;
}

typedef struct {
    const char *path;
    analyzer_result *r;
    size_t n;
} analysis;

/* A CSV field in quotes (RFC 4180: a quote inside is doubled). */
static void csv_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_csv(FILE *f, const analysis *a, int nfiles)
{
    fprintf(f, nfiles > 1 ? "file,time_s,arousal,valence\n" : "time_s,arousal,valence\n");
    for (int i = 0; i < nfiles; i++)
        for (size_t k = 0; k < a[i].n; k++) {
            if (nfiles > 1) {
                csv_string(f, a[i].path);
                fputc(',', f);
            }
            fprintf(f, "%.1f,%.6f,%.6f\n", a[i].r[k].time_s, a[i].r[k].arousal, a[i].r[k].valence);
        }
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void write_json(FILE *f, const analysis *a, int nfiles, const char *model)
{
    fprintf(f, "{\"model\": ");
    json_string(f, model);
    fprintf(f, ", \"files\": [");
    for (int i = 0; i < nfiles; i++) {
        fprintf(f, "%s\n  {\"file\": ", i ? "," : "");
        json_string(f, a[i].path);
        fprintf(f, ", \"frames\": [");
        for (size_t k = 0; k < a[i].n; k++)
            fprintf(f, "%s\n    {\"time_s\": %.1f, \"arousal\": %.6f, \"valence\": %.6f}",
                    k ? "," : "", a[i].r[k].time_s, a[i].r[k].arousal, a[i].r[k].valence);
        fprintf(f, "\n  ]}");
    }
    fprintf(f, "\n]}\n");
}

/* DEAM wide format: one row per song, one column per 500 ms from 15 s on. */
static int write_deam(const char *dir, const analysis *a, int nfiles, int which)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.csv", dir, which ? "valence" : "arousal");
    outfile o;
    if (out_open(&o, path))
        return -1;
    size_t cols = 0;
    for (int i = 0; i < nfiles; i++)
        cols = a[i].n > cols ? a[i].n : cols;
    fprintf(o.f, "song_id");
    for (size_t k = 30; k < cols; k++)
        fprintf(o.f, ",sample_%zums", k * 500);
    fputc('\n', o.f);
    for (int i = 0; i < nfiles; i++) {
        const char *base = strrchr(a[i].path, '/');
        base = base ? base + 1 : a[i].path;
        const char *dot = strrchr(base, '.');
        fprintf(o.f, "%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
        for (size_t k = 30; k < cols; k++) {
            if (k < a[i].n)
                fprintf(o.f, ",%.6f", which ? a[i].r[k].valence : a[i].r[k].arousal);
            else
                fputc(',', o.f); /* blank cells after a shorter song's end, as in DEAM */
        }
        fputc('\n', o.f);
    }
    return out_close(&o, 1);
}

/* Load a model and check it is usable, so a bad file is reported once,
 * naming it, before any audio is read. */
static weights *load_model(const char *path, int quiet)
{
    char msg[512];
    weights *w;
    if (weights_load(path, &w, msg, sizeof msg)) {
        fprintf(stderr, "valar: %s\n", msg);
        return NULL;
    }
    melspec_config cfg;
    crnn *net = NULL;
    char inner[480];
    int err = melspec_config_read(&cfg, w, inner, sizeof inner);
    if (!err)
        err = melspec_config_check(&cfg, inner, sizeof inner);
    if (!err)
        err = crnn_create(w, &net, inner, sizeof inner);
    crnn_destroy(net);
    if (err) {
        fprintf(stderr, "valar: %s: %s\n", path, inner);
        weights_destroy(w);
        return NULL;
    }
    const char *ph = weights_meta(w, "placeholder");
    if (!quiet && ph && strcmp(ph, "true") == 0)
        fprintf(stderr, "valar: note: %s is a placeholder model (random weights, not trained)\n",
                path);
    return w;
}

static int writable_dir(const char *dir)
{
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
}

/* --plot FILE: its folder must be writable (checked before analysing). */
static int plot_check_writable(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    if (writable_dir(dir))
        return 0;
    fprintf(stderr, "valar: --plot %s: %s is not a writable directory\n", path, dir);
    return -1;
}

/* --plot: one SVG page for all files, written atomically. */
static int write_plot(const char *path, const analysis *a, int nfiles, const char *model,
                      const weights *w)
{
    outfile o;
    if (out_open(&o, path))
        return -1;
    const char *base = strrchr(model, '/'), *ph = weights_meta(w, "placeholder");
    plot_begin(o.f, nfiles, base ? base + 1 : model, ph && strcmp(ph, "true") == 0);
    for (int i = 0; i < nfiles; i++)
        plot_file(o.f, i, a[i].path, a[i].r, a[i].n);
    plot_end(o.f);
    return out_close(&o, 1);
}

static int cmd_analyze(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"streaming", no_argument, 0, 's'},
                                         {"format", required_argument, 0, 'f'},
                                         {"output", required_argument, 0, 'o'},
                                         {"deam", required_argument, 0, 'D'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"plot", required_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *output = NULL, *deam = NULL, *plot = NULL;
    int streaming = 0, fmt = FMT_CSV, quiet = 0, c;
    while ((c = getopt_long(argc, argv, "m:sf:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 's':
            streaming = 1;
            break;
        case 'o':
            output = optarg;
            break;
        case 'D':
            deam = optarg;
            break;
        case 'P':
            plot = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'f':
            if (strcmp(optarg, "csv") == 0)
                fmt = FMT_CSV;
            else if (strcmp(optarg, "json") == 0)
                fmt = FMT_JSON;
            else {
                fprintf(stderr, "valar: unknown format '%s' (csv or json)\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int nfiles = argc - optind;
    if (nfiles < 1) {
        fprintf(stderr, "valar analyze: no input file\n");
        usage(stderr);
        return 2;
    }
    /* Fail before any analysis (and before -o replaces a file) if an output
     * cannot be written. */
    if (deam && !writable_dir(deam)) {
        fprintf(stderr, "valar: --deam %s: not a writable directory\n", deam);
        return 1;
    }
    if (output) {
        char dir[4096];
        const char *slash = strrchr(output, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - output) + 1 : 1,
                 slash ? output : ".");
        if (!writable_dir(dir)) {
            fprintf(stderr, "valar: -o %s: %s is not a writable directory\n", output, dir);
            return 1;
        }
    }
    if (plot && plot_check_writable(plot))
        return 1;
    char found[4096];
    if (!model) {
        const char *kind = streaming ? "streaming" : "offline";
        if (modelpath_default(kind, found, sizeof found) < 0) {
            char where[2 * 4096 + 64];
            modelpath_searched(where, sizeof where);
            fprintf(stderr,
                    "valar: no default %s model (valar-%s or placeholder-%s.safetensors) in "
                    "%s; use --model or set VALAR_MODEL_DIR\n",
                    kind, kind, kind, where);
            return 1;
        }
        model = found;
    }
    weights *w = load_model(model, quiet);
    if (!w)
        return 1;
    const char *kind = weights_meta(w, "kind");
    if (streaming && (!kind || strcmp(kind, "streaming") != 0)) {
        fprintf(stderr, "valar: %s: --streaming needs a streaming model, this one is '%s'\n", model,
                kind ? kind : "?");
        weights_destroy(w);
        return 1;
    }

    analysis *a = calloc((size_t)nfiles, sizeof *a);
    int status = a ? 0 : 1;
    if (!a)
        fprintf(stderr, "valar: out of memory\n");
    for (int i = 0; !status && i < nfiles; i++) {
        char msg[1024];
        a[i].path = argv[optind + i];
        if (offline_analyze_file(a[i].path, w, &a[i].r, &a[i].n, msg, sizeof msg)) {
            fprintf(stderr, "valar: %s\n", msg);
            status = 1;
        } else if (a[i].n == 0 && !quiet) {
            fprintf(stderr, "valar: note: %s: shorter than 500 ms, no result\n", a[i].path);
        }
    }
    if (!status) {
        outfile o;
        status = out_open(&o, output) ? 1 : 0;
        if (!status) {
            if (fmt == FMT_JSON)
                write_json(o.f, a, nfiles, model);
            else
                write_csv(o.f, a, nfiles);
            status = out_close(&o, 1) ? 1 : 0;
        }
    }
    if (!status && deam)
        status = write_deam(deam, a, nfiles, 0) || write_deam(deam, a, nfiles, 1) ? 1 : 0;
    if (!status && plot)
        status = write_plot(plot, a, nfiles, model, w) ? 1 : 0;
    for (int i = 0; a && i < nfiles; i++)
        free(a[i].r);
    free(a);
    weights_destroy(w);
    return status;
}

static int cmd_info(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: valar info MODEL\nMetadata, tensors and parameter count of a weight "
               "file.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: valar info MODEL\n");
        return 2;
    }
    weights *w = load_model(argv[1], 1);
    if (!w)
        return 1;
    printf("%s\nmetadata:\n", argv[1]);
    for (int i = 0; i < weights_meta_count(w); i++) {
        const char *k = weights_meta_key(w, i);
        printf("  %s = %s\n", k, weights_meta(w, k));
    }
    printf("tensors:\n");
    for (int i = 0; i < weights_count(w); i++) {
        int nd;
        int64_t shape[WEIGHTS_MAX_DIMS];
        const char *name = weights_name(w, i);
        weights_get(w, name, &nd, shape);
        printf("  %-28s [", name);
        for (int d = 0; d < nd; d++)
            printf("%s%lld", d ? ", " : "", (long long)shape[d]);
        printf("]\n");
    }
    crnn *net;
    char msg[256];
    if (crnn_create(w, &net, msg, sizeof msg) == 0) {
        printf("parameters: %ld\n", crnn_n_params(net));
        crnn_destroy(net);
    }
    weights_destroy(w);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "analyze") == 0)
        return cmd_analyze(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
#ifdef VALAR_HAVE_LISTEN
    if (strcmp(cmd, "listen") == 0)
        return listen_main(argc - 1, argv + 1);
#endif
    if (strcmp(cmd, "--version") == 0) {
        printf("valar %s\n", VALAR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "valar: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
