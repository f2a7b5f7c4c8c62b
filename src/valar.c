/* valar: command-line front end. A thin shell over the library:
 *   valar analyze [options] FILE...   per-500 ms arousal/valence of files
 *   valar info MODEL                  what a weight file holds
 *   valar listen [options]            live analysis (src/live/) */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "batch.h"
#include "config.h"
#include "crnn.h"
#include "filelist.h"
#include "model.h"
#include "modelpath.h"
#include "optparse.h"
#include "plot.h"
#include "progress.h"
#include "report.h"
#include "resume.h"
#include "weights.h"
#ifdef VALAR_HAVE_LISTEN
#include "live/listen.h"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: valar analyze [options] FILE|DIR...\n"
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
               "  -f, --format FMT     csv (default), json, or jsonl (JSON Lines: one object\n"
               "                       per file, written as soon as the file is done)\n"
               "  -o, --output FILE    write to FILE instead of stdout (csv, json: atomically;\n"
               "                       jsonl: line by line, every line whole)\n"
               "      --summary        one row per file instead of per segment: duration,\n"
               "                       mean and sd of arousal and valence, dominant quadrant\n"
               "                       and its mood word, share of time in each quadrant\n"
               "  -j, --jobs N         files analysed at once (default: all cores)\n"
               "      --unordered      write files as they finish, not in input order\n"
               "  -r, --recursive      walk directories for audio files (by extension or\n"
               "                       content; links followed, each directory once)\n"
               "      --files-from F   also analyse the paths listed in F, one per line\n"
               "                       (F '-': standard input)\n"
               "  -0, --null           paths in F (and --list) separated by NUL, not newline\n"
               "      --resume OUT     append JSON Lines to OUT, skipping the files already\n"
               "                       in it (same path, size and modification time)\n"
               "      --list           print the files that would be analysed, then exit\n"
               "      --deam DIR       also write DIR/arousal.csv and DIR/valence.csv in the\n"
               "                       MediaEval/DEAM wide format (song_id = file name\n"
               "                       without extension, columns sample_15000ms, ...)\n"
               "      --plot FILE.svg  also draw the results (curves over time and the path\n"
               "                       in the valence-arousal plane, one panel per file)\n"
               "  -q, --quiet          no notes and no progress bar on stderr\n"
               "CSV columns: time_s,arousal,valence (time_s = start of the 500 ms segment);\n"
               "with several files, -r or --files-from a leading 'file' column is added.\n"
               "Quadrants: 1 happy (valence >= 0, arousal >= 0), 2 tense (v < 0, a >= 0),\n"
               "3 sad (v < 0, a < 0), 4 calm (v >= 0, a < 0).\n"
               "Exit status: 0 every file analysed, 1 a file failed (each is named on\n"
               "stderr; the others are complete) or an error, 2 usage.\n"
               "Training is a separate program: valar-train --help.\n");
}

/* -o, --deam and --plot files are written whole or not at all
 * (atomicfile.h). NULL having said why. */
static FILE *atomic_open(atomicfile *a, const char *path)
{
    char msg[4200];
    if (atomicfile_open(a, path, NULL, msg, sizeof msg)) {
        fprintf(stderr, "valar: %s\n", msg);
        return NULL;
    }
    return a->f;
}

/* ok: everything was written, keep the file. 0, or -1 (said why when ok). */
static int atomic_close(atomicfile *a, int ok)
{
    char msg[4200];
    int err = atomicfile_commit(a, ok, msg, sizeof msg);
    if (err && ok)
        fprintf(stderr, "valar: %s\n", msg);
    return ok && !err ? 0 : -1;
}

typedef struct {
    const char *path;
    analyzer_result *r;
    size_t n;
} analysis;

/* DEAM wide format: one row per song, one column per 500 ms from 15 s on. */
static int write_deam(const char *dir, const analysis *a, int nfiles, int which)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.csv", dir, which ? "valence" : "arousal");
    atomicfile af;
    FILE *f = atomic_open(&af, path);
    if (!f)
        return -1;
    size_t cols = 0;
    for (int i = 0; i < nfiles; i++)
        cols = a[i].n > cols ? a[i].n : cols;
    fprintf(f, "song_id");
    for (size_t k = 30; k < cols; k++)
        fprintf(f, ",sample_%zums", k * 500);
    fputc('\n', f);
    for (int i = 0; i < nfiles; i++) {
        const char *base = strrchr(a[i].path, '/');
        base = base ? base + 1 : a[i].path;
        const char *dot = strrchr(base, '.');
        fprintf(f, "%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
        for (size_t k = 30; k < cols; k++) {
            if (k < a[i].n)
                fprintf(f, ",%.6f", which ? a[i].r[k].valence : a[i].r[k].arousal);
            else
                fputc(',', f); /* blank cells after a shorter song's end, as in DEAM */
        }
        fputc('\n', f);
    }
    return atomic_close(&af, 1);
}

/* model_load, saying what is wrong or that it is a placeholder. */
static weights *load_model(const char *path, int need_streaming, int quiet)
{
    char msg[1024];
    weights *w;
    if (model_load(path, need_streaming, &w, msg, sizeof msg)) {
        fprintf(stderr, "valar: %s\n", msg);
        return NULL;
    }
    if (!quiet && model_is_placeholder(w))
        fprintf(stderr, "valar: note: %s is a placeholder model (random weights, not trained)\n",
                path);
    return w;
}

static int writable_dir(const char *dir)
{
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
}

typedef struct {
    const char *model, *output, *deam, *files_from, *resume, *plot;
    int streaming, fmt, quiet, jobs, unordered, summary, recursive, sep, list;
} analyze_opts;

/* Cores this process may run on: the default for -j. */
static int all_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Options of valar analyze; -1 to go on, else the exit status. */
static int parse_analyze(int argc, char **argv, analyze_opts *o)
{
    const opt_def opts[] = {
        {"model", 'm', OPT_STRING, .dst = &o->model},
        {"streaming", 's', OPT_FLAG, .dst = &o->streaming},
        {"format", 'f', OPT_CHOICE, .dst = &o->fmt, .lo = REPORT_CSV, .words = "csv|json|jsonl",
         .what = "format"},
        {"output", 'o', OPT_STRING, .dst = &o->output},
        {"deam", 0, OPT_STRING, .dst = &o->deam},
        {"quiet", 'q', OPT_FLAG, .dst = &o->quiet},
        {"jobs", 'j', OPT_INT, .dst = &o->jobs, .lo = 1, .hi = 1024},
        {"unordered", 0, OPT_FLAG, .dst = &o->unordered},
        {"summary", 0, OPT_FLAG, .dst = &o->summary},
        {"recursive", 'r', OPT_FLAG, .dst = &o->recursive},
        {"files-from", 0, OPT_STRING, .dst = &o->files_from},
        {"null", '0', OPT_SET, .dst = &o->sep, .lo = '\0'},
        {"resume", 0, OPT_STRING, .dst = &o->resume},
        {"list", 0, OPT_FLAG, .dst = &o->list},
        {"plot", 0, OPT_STRING, .dst = &o->plot},
        {"help", 'h', OPT_HELP, .dst = NULL},
    };
    *o = (analyze_opts){.fmt = -1, .jobs = all_cores(), .sep = '\n'};
    int r = optparse("valar", argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (r == 1 || r == -2)
        usage(r > 0 ? stdout : stderr);
    if (r)
        return r > 0 ? 0 : 2;
    if (o->resume && (o->output || (o->fmt >= 0 && o->fmt != REPORT_JSONL))) {
        fprintf(stderr, "valar: --resume %s writes JSON Lines to that file: no -o or -f %s\n",
                o->resume, o->output ? "" : "csv/json");
        return 2;
    }
    if (o->fmt < 0)
        o->fmt = o->resume ? REPORT_JSONL : REPORT_CSV;
    if (argc - optind < 1 && !o->files_from) {
        fprintf(stderr, "valar analyze: no input file\n");
        usage(stderr);
        return 2;
    }
    for (int i = optind; o->files_from && i < argc; i++)
        if (strcmp(o->files_from, "-") == 0 && strcmp(argv[i], "-") == 0) {
            fprintf(stderr, "valar: '-' cannot be both --files-from and an audio input\n");
            return 2;
        }
    return -1;
}

/* 0 if the folder of file can be written to, else -1 having said so. */
static int check_parent(const char *flag, const char *file)
{
    char dir[4096];
    const char *slash = strrchr(file, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - file) + 1 : 1, slash ? file : ".");
    if (writable_dir(dir))
        return 0;
    fprintf(stderr, "valar: %s %s: %s is not a writable directory\n", flag, file, dir);
    return -1;
}

/* Fail before any analysis (and before -o replaces a file) if an output
 * cannot be written. */
static int check_outputs(const analyze_opts *o)
{
    if (o->deam && !writable_dir(o->deam)) {
        fprintf(stderr, "valar: --deam %s: not a writable directory\n", o->deam);
        return -1;
    }
    const char *out = o->output ? o->output : o->resume;
    if (out && check_parent(o->output ? "-o" : "--resume", out))
        return -1;
    if (o->plot && check_parent("--plot", o->plot))
        return -1;
    return 0;
}

/* The model named by -m, or the default one of its kind. */
static weights *open_model(const analyze_opts *o, char *found, size_t len)
{
    const char *model = o->model;
    if (!model) {
        const char *kind = o->streaming ? "streaming" : "offline";
        if (modelpath_default(kind, found, len) < 0) {
            char where[2 * 4096 + 64];
            modelpath_searched(where, sizeof where);
            fprintf(stderr,
                    "valar: no default %s model (valar-%s or placeholder-%s.safetensors) in "
                    "%s; use --model or set VALAR_MODEL_DIR\n",
                    kind, kind, kind, where);
            return NULL;
        }
        model = found;
    } else {
        snprintf(found, len, "%s", model);
    }
    return load_model(model, o->streaming, o->quiet);
}

static void walk_message(void *user, int error, const char *msg)
{
    const analyze_opts *o = user;
    if (error || !o->quiet)
        fprintf(stderr, "valar: %s%s\n", error ? "" : "note: ", msg);
}

/* Every input: arguments, then --files-from. NULL after a message. */
static filelist *collect_files(const analyze_opts *o, char **paths, int npaths)
{
    filelist *fl = filelist_create(o->recursive, walk_message, (void *)o);
    int err = !fl;
    for (int i = 0; !err && i < npaths; i++)
        err = filelist_add(fl, paths[i]);
    if (!err && o->files_from) {
        int dash = strcmp(o->files_from, "-") == 0;
        FILE *f = dash ? stdin : fopen(o->files_from, "r");
        err = !f || filelist_read(fl, f, o->sep);
        if (err)
            fprintf(stderr, "valar: --files-from %s: %s\n", dash ? "standard input" : o->files_from,
                    strerror(errno));
        if (f && !dash)
            fclose(f);
    } else if (err) {
        fprintf(stderr, "valar: out of memory\n");
    }
    char exts[256];
    size_t unsup = fl ? filelist_unsupported(fl, exts, sizeof exts) : 0;
    if (!err && unsup && !o->quiet)
        fprintf(stderr,
                "valar: note: %zu file%s skipped in formats libsndfile cannot read (%s); "
                "convert them, e.g. ffmpeg -i IN -c:a flac OUT.flac\n",
                unsup, unsup == 1 ? "" : "s", exts);
    if (err) {
        filelist_destroy(fl);
        return NULL;
    }
    return fl;
}

/* The entries still to analyse: with --resume, those not in its file. */
static const filelist_entry **pending(const analyze_opts *o, const filelist *fl, size_t *n)
{
    size_t total = filelist_count(fl);
    const filelist_entry **todo = malloc((total ? total : 1) * sizeof *todo);
    resume *r = NULL;
    char msg[4400];
    if (!todo || (o->resume && resume_open(o->resume, o->summary, &r, msg, sizeof msg))) {
        fprintf(stderr, "valar: %s\n", todo ? msg : "out of memory");
        free(todo);
        return NULL;
    }
    *n = 0;
    for (size_t i = 0; i < total; i++) {
        const filelist_entry *e = filelist_get(fl, i);
        if (!r || !resume_done(r, e->path, e->size, e->mtime))
            todo[(*n)++] = e;
    }
    if (r && !o->quiet) {
        if (resume_dropped(r))
            fprintf(stderr, "valar: note: %s: dropped an incomplete last line (%lld bytes)\n",
                    o->resume, resume_dropped(r));
        fprintf(stderr, "valar: note: %s: %zu of %zu files already done, %zu to go\n", o->resume,
                total - *n, total, *n);
    }
    resume_destroy(r);
    return todo;
}

/* SIGINT/SIGTERM: the first asks to stop after the files in flight, a
 * second one ends the process at once (every line written is whole). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    if (stop_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_signal = sig;
}

static void catch_stop_signals(int on)
{
    struct sigaction sa = {0};
    sa.sa_handler = on ? on_stop_signal : SIG_DFL;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* State of one run, shared by the batch callbacks (caller's thread). */
typedef struct {
    const analyze_opts *o;
    const filelist_entry **todo;
    report *rp;
    progress *pg;
    const char *out_name;
    analysis *keep; /* every file's results if needs_all_results, else NULL */
    size_t ok, failed;
    int told_stop, out_tty;
} run_state;

/* Main thread (batch_run's caller): one file done; report it. */
static int on_file(void *user, const batch_item *it)
{
    run_state *st = user;
    const filelist_entry *e = st->todo[it->index];
    progress_add(st->pg, it->err, it->duration_s);
    if (it->err) {
        progress_clear(st->pg);
        fprintf(stderr, "valar: %s\n", it->msg);
        st->failed++;
        return 0;
    }
    st->ok++;
    if (it->msg[0]) { /* damaged: analysed up to the damage */
        progress_clear(st->pg);
        fprintf(stderr, "valar: warning: %s\n", it->msg);
    }
    if (it->n == 0 && !st->o->quiet) {
        progress_clear(st->pg);
        fprintf(stderr, "valar: note: %s: %.2f s of audio, shorter than one 500 ms segment: no "
                        "result\n", e->path, it->duration_s);
    }
    report_item ri = {e->path, e->size, e->mtime, it->duration_s, it->r, it->n};
    if (st->out_tty)
        progress_clear(st->pg); /* rows go to the terminal the bar is on */
    if (report_write(st->rp, &ri)) {
        progress_clear(st->pg);
        fprintf(stderr, "valar: %s: cannot write: %s\n", st->out_name, strerror(errno));
        return -1;
    }
    if (st->keep && it->n) {
        analysis *a = &st->keep[it->index];
        if (!(a->r = malloc(it->n * sizeof *a->r)))
            return fprintf(stderr, "valar: out of memory\n"), -1;
        memcpy(a->r, it->r, it->n * sizeof *a->r);
        a->n = it->n;
    }
    if (st->keep)
        st->keep[it->index].path = e->path;
    progress_tick(st->pg);
    return 0;
}

/* Main thread, about ten times a second: the bar, and a word on a signal. */
static void on_tick(void *user)
{
    run_state *st = user;
    if (stop_signal && !st->told_stop) {
        progress_clear(st->pg);
        fprintf(stderr, "valar: %s: finishing the files in flight (again to stop at once)\n",
                strsignal(stop_signal));
        st->told_stop = 1;
    }
    progress_tick(st->pg);
}

/* Outputs written at the end from every file's results (--deam, --plot),
 * which are then kept in memory. */
static int needs_all_results(const analyze_opts *o)
{
    return o->deam != NULL || o->plot != NULL;
}

/* --plot: one SVG page for all files, written atomically. */
static int write_plot(const char *path, const analysis *a, size_t n, const char *model,
                      const weights *w)
{
    atomicfile af;
    FILE *f = atomic_open(&af, path);
    if (!f)
        return -1;
    const char *base = strrchr(model, '/');
    plot_begin(f, (int)n, base ? base + 1 : model, model_is_placeholder(w));
    for (size_t i = 0; i < n; i++)
        plot_file(f, (int)i, a[i].path, a[i].r, a[i].n);
    plot_end(f);
    return atomic_close(&af, 1);
}

/* Those outputs, from the files kept in input order (failed ones left out). */
static int write_from_all(const analyze_opts *o, analysis *a, size_t n, const char *model,
                          const weights *w)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i].path && k++ != i) { /* moved, not copied: the caller frees each r once */
            a[k - 1] = a[i];
            a[i] = (analysis){0};
        }
    if (o->deam && (write_deam(o->deam, a, (int)k, 0) || write_deam(o->deam, a, (int)k, 1)))
        return -1;
    if (o->plot && write_plot(o->plot, a, k, model, w))
        return -1;
    return 0;
}

/* The output stream: stdout, an atomic -o, the --resume file appended to,
 * or (jsonl) -o written line by line so that it can be read and resumed. */
static FILE *open_output(const analyze_opts *o, atomicfile *af)
{
    const char *path = o->resume ? o->resume : o->output;
    af->f = NULL;
    if (!path)
        return stdout;
    if (!o->resume && o->fmt != REPORT_JSONL)
        return atomic_open(af, path);
    FILE *f = fopen(path, o->resume ? "a" : "w");
    if (!f)
        fprintf(stderr, "valar: %s: cannot write: %s\n", path, strerror(errno));
    return f;
}

/* Report and batch around one run into f: 0 every file delivered, 1 stopped
 * by a signal, -1 an output error. */
static int analyze_into(run_state *st, const weights *w, const char *model, FILE *f,
                        const char *const *paths, size_t n, int file_column)
{
    const analyze_opts *o = st->o;
    int jobs = (size_t)o->jobs > n ? (int)(n ? n : 1) : o->jobs;
    batch *b = NULL;
    int err = report_create(f, o->fmt, o->summary, file_column, model, &st->rp);
    if (!err)
        err = batch_create(w, jobs, &b);
    if (err) {
        fprintf(stderr, "valar: %s\n", valar_strerror(err));
        report_destroy(st->rp);
        return -1;
    }
    st->pg = o->quiet ? NULL : progress_create(stderr, n);
    st->out_tty = f == stdout && isatty(STDOUT_FILENO);
    catch_stop_signals(1);
    int res = batch_run(b, paths, n, !o->unordered, &stop_signal, on_file, on_tick, st);
    catch_stop_signals(0);
    progress_destroy(st->pg);
    batch_destroy(b);
    /* Nothing at all on stdout when every file failed. */
    if (res >= 0 && (st->ok || !st->failed) && report_finish(st->rp)) {
        fprintf(stderr, "valar: %s: cannot write: %s\n", st->out_name, strerror(errno));
        res = -1;
    }
    report_destroy(st->rp);
    return res;
}

/* Analyse todo[0..n) into the output; 0, or 1 (a file failed or an error). */
static int run_files(const analyze_opts *o, const weights *w, const char *model,
                     const filelist_entry **todo, size_t n, int file_column)
{
    run_state st = {.o = o, .todo = todo};
    st.out_name = o->resume ? o->resume : o->output ? o->output : "standard output";
    const char **paths = malloc((n ? n : 1) * sizeof *paths);
    st.keep = needs_all_results(o) ? calloc(n ? n : 1, sizeof *st.keep) : NULL;
    if (!paths || (needs_all_results(o) && !st.keep)) {
        fprintf(stderr, "valar: out of memory\n");
        free(paths);
        free(st.keep);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        paths[i] = todo[i]->path;
    atomicfile af;
    FILE *f = open_output(o, &af);
    int res = f ? analyze_into(&st, w, model, f, paths, n, file_column) : -1;
    /* An atomic -o is kept when the run was whole and something was analysed. */
    int keep_out = res == 0 && (st.ok > 0 || st.failed == 0);
    if (af.f) {
        if (atomic_close(&af, keep_out) && keep_out)
            res = -1;
    } else if (f == stdout) {
        if (fflush(stdout) != 0 && keep_out)
            res = -1;
    } else if (f && fclose(f) != 0 && res >= 0) {
        fprintf(stderr, "valar: %s: cannot write: %s\n", st.out_name, strerror(errno));
        res = -1;
    }
    if (keep_out && st.keep && write_from_all(o, st.keep, n, model, w))
        res = -1;
    if (st.failed)
        fprintf(stderr, "valar: %zu of %zu files failed\n", st.failed, n);
    const char *again = o->resume ? o->resume : o->fmt == REPORT_JSONL ? o->output : NULL;
    if (res == 1)
        fprintf(stderr, "valar: stopped after %zu of %zu files%s%s\n", st.ok + st.failed, n,
                again ? "; to do the rest: --resume " : "", again ? again : "");
    for (size_t i = 0; st.keep && i < n; i++)
        free(st.keep[i].r);
    free(st.keep);
    free(paths);
    return res == 0 && st.failed == 0 ? 0 : 1;
}

static int cmd_analyze(int argc, char **argv)
{
    analyze_opts o;
    int status = parse_analyze(argc, argv, &o);
    if (status >= 0)
        return status;
    if (check_outputs(&o))
        return 1;
    char model[4096];
    weights *w = open_model(&o, model, sizeof model);
    filelist *fl = w ? collect_files(&o, argv + optind, argc - optind) : NULL;
    size_t n = 0;
    const filelist_entry **todo = fl ? pending(&o, fl, &n) : NULL;
    status = 1;
    if (todo && o.list) {
        for (size_t i = 0; i < n; i++)
            printf("%s%c", todo[i]->path, o.sep);
        status = fflush(stdout) == 0 ? 0 : 1;
    } else if (todo && !filelist_count(fl)) {
        fprintf(stderr, "valar: no audio files found\n");
    } else if (todo) {
        int file_column = filelist_count(fl) > 1 || o.recursive || o.files_from;
        status = run_files(&o, w, model, todo, n, file_column);
    }
    if (fl && filelist_errors(fl))
        status = 1;
    free(todo);
    filelist_destroy(fl);
    weights_destroy(w);
    if (stop_signal) { /* end as the signal would have, now that all is tidy */
        signal(stop_signal, SIG_DFL);
        raise(stop_signal);
    }
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
    weights *w = load_model(argv[1], 0, 1);
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
