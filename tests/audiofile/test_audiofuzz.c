/* Corrupt and truncated audio: every format valar reads (WAV, FLAC, Ogg
 * Vorbis, Opus, MP3), written here with libsndfile from a synthetic 3 s
 * signal, is emptied, truncated at many offsets, bit-flipped (Ogg pages
 * re-checksummed so that the damage reaches the codec and not only libogg's
 * CRC check), given absurd header fields, spliced, or replaced by garbage
 * behind a valid magic. Each case runs offline_analyze_file (offline and
 * streaming models in turn) in a child process, under ASan/UBSan in the
 * test build, with a time limit, and must:
 *   - not crash, trip a sanitizer or leak, and end within the limit;
 *   - succeed with results in [-1, 1], as many as the decoded duration has
 *     segments, or fail with a negative code and one line naming the file;
 *   - write nothing to stderr (no decoder chatter, e.g. libmpg123's notes).
 * A WAV cut after its header gives exactly the samples before the cut; any
 * file cut after half its length gives a good part of the audio before the
 * cut, FLAC and MP3 (whose headers declare the length) with a warning. An
 * intact file gives all of it without a word.
 * First, MP3s of six kinds decoded by audiofile (libmpg123 directly) must
 * equal libsndfile's decoding sample for sample; last, `valar analyze` runs
 * over a few damaged files at once: one line per failed or damaged file
 * naming it, the others analysed, status 1; a file shorter than one segment
 * is said to be so.
 *
 * usage: test_audiofuzz VALAR WORKDIR [SEED] */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audiofile.h"
#include "check.h"
#include "mix.h"
#include "modelpath.h"
#include "offline.h"
#include "testrng.h"
#include "weights.h"

/* libsndfile 1.2's ogg_vorbis_open returns on a failed vorbis_read_header
 * before it sets codec_close, so the vorbis_info that vorbis_info_init
 * allocated (5784 bytes) is never cleared: a leak per unreadable Vorbis
 * file, in the library, not in valar. LeakSanitizer is told to let that one
 * allocation site pass; any other leak still fails the case. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:vorbis_info_init\n";
}

/* Quiet about it: each case's stderr must stay empty. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}

#define SECONDS 3.0
#define LIMIT_S 60.0 /* per case; a 3 s file takes well under a second */

enum { WAV, FLAC, VORBIS, OPUS, MP3, NFMT };
static const char *const ext[NFMT] = {"wav", "flac", "ogg", "opus", "mp3"};
static const int sf_fmt[NFMT] = {
    SF_FORMAT_WAV | SF_FORMAT_PCM_16, SF_FORMAT_FLAC | SF_FORMAT_PCM_16,
    SF_FORMAT_OGG | SF_FORMAT_VORBIS, SF_FORMAT_OGG | SF_FORMAT_OPUS,
    SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III};

static const char *workdir;
static uint32_t rng = 0x12345678; /* test_rand's state, never 0 */
static weights *models[2];                                  /* offline, streaming */
static int ncases;

static size_t below(size_t n)
{
    return n ? (size_t)test_rand(&rng) % n : 0;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        rewind(f);
        b = malloc((size_t)len + 1);
        if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
            free(b);
            b = NULL;
        }
        *n = (size_t)len;
    }
    if (f)
        fclose(f);
    return b;
}

static void put(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* A chord whose loudness and noise change every 250 ms, channels differing;
 * cmd/arg: an sf_command (bitrate mode, ...) before writing, or 0. */
static void encode(const char *path, int format, int rate, int channels, int cmd, int arg)
{
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        fprintf(stderr, "%s: %s\n", path, sf_strerror(NULL));
        exit(1);
    }
    if (cmd)
        sf_command(sf, cmd, &arg, sizeof arg);
    if ((format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG)
        sf_set_string(sf, SF_STR_TITLE, "valar fuzz"); /* an ID3v2 tag up front */
    const long n = (long)(SECONDS * rate);
    float *x = malloc(sizeof(float) * (size_t)channels * (size_t)n);
    for (long i = 0; i < n; i++) {
        double t = (double)i / rate, q = (double)((int)(t * 4) % 5) / 4;
        double tone = sin(2 * M_PI * 220 * t) + sin(2 * M_PI * 277.2 * t) + sin(2 * M_PI * 329.6 * t);
        for (int c = 0; c < channels; c++)
            x[channels * i + c] = (float)((0.1 + 0.2 * q) * tone * (1 - 0.3 * c) +
                                          0.2 * (1 - q) * ((double)below(2001) / 1000 - 1));
    }
    if (sf_writef_float(sf, x, n) != n || sf_close(sf) != 0) {
        fprintf(stderr, "%s: cannot encode\n", path);
        exit(1);
    }
    free(x);
}

static void make_source(int fmt, const char *path)
{
    encode(path, sf_fmt[fmt], fmt == OPUS ? 48000 : 44100, 2, 0, 0);
}

/* --- MPEG: libmpg123 directly gives libsndfile's samples ------------------ */

/* The mono samples of path as libsndfile decodes it (n frames, malloc'd). */
static float *sndfile_mono(const char *path, long long *n)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        return NULL;
    size_t cap = 1 << 16;
    float *x = malloc(cap * sizeof *x), *in = malloc(4096 * sizeof *in * (size_t)info.channels);
    sf_count_t got;
    *n = 0;
    while ((got = sf_readf_float(sf, in, 4096)) > 0) {
        if ((size_t)(*n + got) > cap)
            x = realloc(x, (cap *= 2) * sizeof *x);
        mix_interleaved(in, (size_t)got, info.channels, x + *n);
        *n += got;
    }
    free(in);
    sf_close(sf);
    return x;
}

/* MP3s of several kinds (rates down to MPEG-2.5, mono/stereo, CBR/VBR/ABR,
 * with and without an ID3 tag or a LAME tag, libsndfile's and lame's
 * encoders): audiofile must give exactly libsndfile's samples, so that
 * results do not change, and no word of damage (a length libmpg123 guesses
 * without a LAME tag is not a declared one). */
static void mpeg_same_as_libsndfile(void)
{
    static const struct {
        int rate, ch, mode;
    } kinds[] = {{44100, 2, SF_BITRATE_MODE_CONSTANT},
                 {48000, 2, SF_BITRATE_MODE_VARIABLE},
                 {22050, 1, SF_BITRATE_MODE_AVERAGE},
                 {8000, 1, SF_BITRATE_MODE_VARIABLE}};
    const int nk = sizeof kinds / sizeof *kinds;
    char path[4096], cmd[9000];
    static const char *const lame[] = {"-V 4", "-b 96 -t"}; /* LAME tag or none, no ID3 */
    for (int k = 0; k < nk + 2; k++) {
        snprintf(path, sizeof path, "%s/mpeg%d.mp3", workdir, k);
        if (k < nk) {
            encode(path, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, kinds[k].rate, kinds[k].ch,
                   SFC_SET_BITRATE_MODE, kinds[k].mode);
        } else {
            char wav[4200];
            snprintf(wav, sizeof wav, "%s/mpeg.wav", workdir);
            encode(wav, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 0, 0);
            snprintf(cmd, sizeof cmd, "lame --quiet %s '%s' '%s'", lame[k - nk], wav, path);
            if (system(cmd) != 0) {
                printf("lame not found: its MP3s are not compared\n");
                break;
            }
        }
        long long n_sf = 0, n_af = 0;
        float *ref = sndfile_mono(path, &n_sf);
        audiofile *af;
        char msg[512];
        CHECK(ref && audiofile_open(path, &af, msg, sizeof msg) == 0, "%s: cannot open", path);
        if (!ref)
            continue;
        float *x = malloc((size_t)(n_sf + 8192) * sizeof *x);
        long got;
        while ((got = audiofile_read_mono(af, x + n_af, n_sf + 8192 - n_af)) > 0)
            n_af += got;
        CHECK(n_af == n_sf && memcmp(x, ref, (size_t)n_sf * sizeof *x) == 0 &&
                  !audiofile_damage(af),
              "%s: %lld frames decoded, libsndfile %lld: not the same samples (%s)", path, n_af,
              n_sf, audiofile_damage(af) ? audiofile_damage(af) : "no damage said");
        printf("mpeg%d.mp3: %lld frames, the same samples as libsndfile\n", k, n_af);
        audiofile_close(af);
        free(x);
        free(ref);
    }
}

/* --- what one case must do ----------------------------------------------- */

typedef struct {
    int err, bad_values;
    size_t n;
    double duration;
    char msg[1024];
} outcome;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void first_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    buf[0] = 0;
    if (f) {
        size_t n = fread(buf, 1, len - 1, f);
        buf[n] = 0;
        fclose(f);
    }
}

/* offline_analyze_file on path in a child process (stderr to a file, the
 * outcome in shared memory), so that a crash, a sanitizer report, a leak or
 * a hang is one case's failure with its report. 0 when it ended normally. */
static int run_child(const char *path, const weights *w, outcome *o, const char *errpath)
{
    memset(o, 0, sizeof *o);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
            _exit(99);
        close(fd);
        analyzer_result *r;
        o->err = offline_analyze_file(path, w, &r, &o->n, &o->duration, o->msg, sizeof o->msg);
        for (size_t i = 0; !o->err && i < o->n; i++)
            if (!(fabsf(r[i].arousal) <= 1 && fabsf(r[i].valence) <= 1) ||
                fabs(r[i].time_s - 0.5 * (double)i) > 1e-9)
                o->bad_values++;
        free(r);
        exit(0); /* not _exit: LeakSanitizer checks at exit */
    }
    int status;
    double t0 = now();
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now() - t0 > LIMIT_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -2;
        }
        usleep(2000);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* What a case must give besides a clean outcome; all zero: nothing more. */
typedef struct {
    double exact_s; /* > 0: success with this much audio (within 1 ms) */
    double min_s;   /* > 0: success with at least this much audio */
    int warn;       /* 1: success with a message saying what is wrong, 0: none, -1: either */
    int fail;       /* 1: must fail */
} expect;

static void check_message(const char *path, const char *what, const char *msg, int err)
{
    size_t pl = strlen(path);
    CHECK(strncmp(msg, path, pl) == 0 && msg[pl] == ':' && msg[pl + 1] == ' ' && msg[pl + 2] &&
              !strchr(msg, '\n'),
          "%s (%s): %s without one line naming the file: '%s'", path, what,
          err ? "error" : "warning", msg);
}

/* Run one damaged file through offline_analyze_file. */
static void run_case(const char *what, int fmt, const unsigned char *b, size_t n, expect e)
{
    static outcome *o;
    if (!o)
        o = mmap(NULL, sizeof *o, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char path[4096], errpath[4200], err[2048];
    snprintf(path, sizeof path, "%s/case%04d.%s", workdir, ncases, ext[fmt]);
    snprintf(errpath, sizeof errpath, "%s.stderr", path);
    const int model = ncases++ % 2;
    put(path, b, n);
    int rc = run_child(path, models[model], o, errpath);
    first_line(errpath, err, sizeof err);
    const char *kind = model ? "streaming" : "offline";
    if (getenv("VALAR_FUZZ_VERBOSE"))
        printf("%s (%s): rc %d, err %d, %zu results, %.3f s, '%s'\n", path, what, rc, o->err, o->n,
               o->duration, o->msg);
    CHECK(rc != -2, "%s (%s, %s model): no result in %.0f s (hang?)", path, what, kind, LIMIT_S);
    CHECK(rc != -1, "%s (%s, %s model): crashed, sanitizer report or leak:\n%s", path, what, kind,
          err);
    if (rc)
        return;
    CHECK(!err[0], "%s (%s): wrote to stderr: %s", path, what, err);
    const int must_succeed = e.exact_s > 0 || e.min_s > 0 || e.warn > 0;
    if (o->err) {
        CHECK(o->err < 0, "%s (%s): positive error code %d", path, what, o->err);
        check_message(path, what, o->msg, 1);
        CHECK(!must_succeed, "%s (%s): the readable part is not analysed: %s", path, what, o->msg);
        return;
    }
    CHECK(!e.fail, "%s (%s): analysed (%.3f s) instead of an error", path, what, o->duration);
    if (o->msg[0])
        check_message(path, what, o->msg, 0);
    CHECK(o->bad_values == 0, "%s (%s): %d results out of [-1, 1] or off the 500 ms grid", path,
          what, o->bad_values);
    CHECK(fabs((double)o->n - 2 * o->duration) <= 1.01, "%s (%s): %zu results for %.3f s of audio",
          path, what, o->n, o->duration);
    CHECK(e.exact_s <= 0 || fabs(o->duration - e.exact_s) < 1e-3,
          "%s (%s): %.4f s analysed, the readable part is %.4f s", path, what, o->duration,
          e.exact_s);
    CHECK(o->duration >= e.min_s, "%s (%s): only %.3f s analysed, want at least %.3f s", path, what,
          o->duration, e.min_s);
    CHECK(e.warn < 0 || !!o->msg[0] == e.warn, "%s (%s): %s", path, what,
          o->msg[0] ? o->msg : "no word that the audio ends early");
}

/* --- damage ---------------------------------------------------------------- */

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static long find(const unsigned char *b, size_t n, const char *tag)
{
    size_t k = strlen(tag);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(b + i, tag, k) == 0)
            return (long)i;
    return -1;
}

/* Ogg's CRC-32 (polynomial 0x04c11db7, no reflection, no final xor). */
static uint32_t ogg_crc(const unsigned char *p, size_t n)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c ^= (uint32_t)p[i] << 24;
        for (int k = 0; k < 8; k++)
            c = c & 0x80000000u ? (c << 1) ^ 0x04c11db7u : c << 1;
    }
    return c;
}

/* Give every whole Ogg page its correct checksum again. */
static void ogg_fix_crcs(unsigned char *b, size_t n)
{
    for (size_t at = 0; at + 27 <= n;) {
        if (memcmp(b + at, "OggS", 4) != 0) {
            at++;
            continue;
        }
        size_t segs = b[at + 26], len = 27 + segs;
        for (size_t i = 0; i < segs && at + 27 + i < n; i++)
            len += b[at + 27 + i];
        if (at + len > n)
            return;
        memset(b + at + 22, 0, 4);
        put_le(b + at + 22, ogg_crc(b + at, len), 4);
        at += len;
    }
}

/* Offset of the last Ogg page's header, or -1. */
static long ogg_last_page(const unsigned char *b, size_t n)
{
    long last = -1;
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(b + i, "OggS", 4) == 0)
            last = (long)i;
    return last;
}

typedef struct {
    const char *what;
    long at;        /* offset of the field (-1: skip) */
    uint64_t value; /* written little-endian (big-endian when be) */
    int bytes, be;
} field;

static void put_field(unsigned char *b, const field *f)
{
    for (int i = 0; i < f->bytes; i++)
        b[f->at + (f->be ? f->bytes - 1 - i : i)] = (unsigned char)(f->value >> (8 * i));
}

/* Absurd values in the fields each format's parser trusts most. */
static int absurd_fields(int fmt, const unsigned char *b, size_t n, field *out)
{
    int k = 0;
    long fmt_at = find(b, n, "fmt "), data_at = find(b, n, "data");
    long vorbis = find(b, n, "\x01vorbis"), opus = find(b, n, "OpusHead"), last = ogg_last_page(b, n);
    long xing = find(b, n, "Xing") >= 0 ? find(b, n, "Xing") : find(b, n, "Info");
    long id3 = find(b, n, "ID3"), sync = -1;
    for (size_t i = id3 >= 0 ? 10 : 0; sync < 0 && i + 1 < n; i++)
        if (b[i] == 0xff && (b[i + 1] & 0xe0) == 0xe0)
            sync = (long)i;
#define F(w, a, v, nb, e) out[k++] = (field){w, (a), (uint64_t)(v), nb, e}
    switch (fmt) {
    case WAV:
        F("RIFF size huge", 4, 0xffffffff, 4, 0);
        F("fmt size huge", fmt_at + 4, 0xfffffff0, 4, 0);
        F("format tag 0xfffe without extension", fmt_at + 8, 0xfffe, 2, 0);
        F("format tag MPEG in WAV", fmt_at + 8, 0x55, 2, 0);
        F("format tag MS ADPCM", fmt_at + 8, 2, 2, 0);
        F("0 channels", fmt_at + 10, 0, 2, 0);
        F("65535 channels", fmt_at + 10, 0xffff, 2, 0);
        F("rate 0", fmt_at + 12, 0, 4, 0);
        F("rate 1 Hz", fmt_at + 12, 1, 4, 0);
        F("rate 4294967295 Hz", fmt_at + 12, 0xffffffff, 4, 0);
        F("block align 0", fmt_at + 20, 0, 2, 0);
        F("0 bits per sample", fmt_at + 22, 0, 2, 0);
        F("65535 bits per sample", fmt_at + 22, 0xffff, 2, 0);
        F("data size huge", data_at + 4, 0xffffffff, 4, 0);
        F("data size 0", data_at + 4, 0, 4, 0);
        F("data size odd", data_at + 4, 3, 4, 0);
        break;
    case FLAC: /* STREAMINFO: block header at 4, body at 8 */
        F("first metadata block type 127", 4, 0x7f, 1, 0);
        F("STREAMINFO length huge", 5, 0xffffff, 3, 1);
        F("STREAMINFO length 0", 5, 0, 3, 1);
        F("block sizes 0", 8, 0, 4, 1);
        F("block sizes 65535", 8, 0xffffffff, 4, 1);
        F("frame sizes absurd", 12, 0xffffffffffff, 6, 1);
        F("rate 0 (and the channel/bit fields)", 18, 0, 3, 1);
        F("rate 1048575 Hz", 18, 0xfffff0, 3, 1);
        F("total samples 2^36-1", 21, 0xfffffffffULL | 0xf000000000ULL, 5, 1);
        F("total samples 1", 21, (uint64_t)(b[21] & 0xf0) << 32 | 1, 5, 1);
        break;
    case VORBIS: /* identification header: channels at +11, rate +12, block sizes +28 */
        F("0 channels", vorbis + 11, 0, 1, 0);
        F("255 channels", vorbis + 11, 255, 1, 0);
        F("rate 0", vorbis + 12, 0, 4, 0);
        F("rate 4294967295 Hz", vorbis + 12, 0xffffffff, 4, 0);
        F("block size exponents 15/15", vorbis + 28, 0xff, 1, 0);
        F("block size exponents 0/0", vorbis + 28, 0, 1, 0);
        F("last granule position huge", last + 6, 0x7fffffffffffffffULL, 8, 0);
        F("last granule position 1", last + 6, 1, 8, 0);
        F("last granule position -1", last + 6, UINT64_MAX, 8, 0);
        break;
    case OPUS: /* OpusHead: channels +9, pre-skip +10, rate +12, gain +16, mapping +18 */
        F("0 channels", opus + 9, 0, 1, 0);
        F("255 channels", opus + 9, 255, 1, 0);
        F("pre-skip 65535", opus + 10, 0xffff, 2, 0);
        F("input rate 0", opus + 12, 0, 4, 0);
        F("gain +127 dB", opus + 16, 0x7fff, 2, 0);
        F("mapping family 255", opus + 18, 255, 1, 0);
        F("mapping family 1 without a table", opus + 18, 1, 1, 0);
        F("last granule position huge", last + 6, 0x7fffffffffffffffULL, 8, 0);
        F("last granule position 1 (< pre-skip)", last + 6, 1, 8, 0);
        break;
    case MP3:
        F("ID3v2 size 0x7f7f7f7f", id3 + 6, 0x7f7f7f7f, 4, 1);
        F("ID3v2 size 0", id3 + 6, 0, 4, 1);
        F("ID3v2 version 0xff", id3 + 3, 0xff, 1, 0);
        F("frame bitrate index 15", sync + 2, b[sync + 2] | 0xf0, 1, 0);
        F("frame rate index 3", sync + 2, b[sync + 2] | 0x0c, 1, 0);
        F("frame layer reserved", sync + 1, b[sync + 1] & 0xf9, 1, 0);
        F("Xing frame count huge", xing + 8, 0xffffffff, 4, 1);
        F("Xing frame count 1", xing + 8, 1, 4, 1);
        F("Xing byte count 0", xing + 12, 0, 4, 1);
        F("LAME delay/padding 4095/4095", xing + 141, 0xffffff, 3, 1);
        break;
    }
#undef F
    for (int i = 0; i < k; i++)
        if (out[i].at < 0 || (size_t)(out[i].at + out[i].bytes) > n)
            out[i].at = -1;
    return k;
}

/* Length of the headers: a cut before it may fail, a cut after it must
 * give the readable part (WAV: where the samples start). */
static size_t header_end(int fmt, const unsigned char *b, size_t n)
{
    long d = find(b, n, "data");
    return fmt == WAV && d >= 0 ? (size_t)d + 8 : 0;
}

static void fuzz_format(int fmt)
{
    char src[4096], what[256];
    snprintf(src, sizeof src, "%s/source.%s", workdir, ext[fmt]);
    make_source(fmt, src);
    size_t n;
    unsigned char *orig = slurp(src, &n);
    unsigned char *b = malloc(2 * n + 8192);
    if (!orig || !b) {
        fprintf(stderr, "%s: cannot read back\n", src);
        exit(1);
    }
    const int ogg = fmt == VORBIS || fmt == OPUS;
    const int before = failures;

    const expect any = {.warn = -1};
    run_case("intact", fmt, orig, n, (expect){.exact_s = SECONDS});
    run_case("empty", fmt, orig, 0, (expect){.fail = 1});

    /* Truncation: every offset in the first 64 bytes, then spread. A WAV cut
     * after its header is its readable part exactly (16-bit stereo); any
     * file cut after half its length gives a good part of what is before
     * the cut, and formats whose headers declare the length say that it
     * ends early. */
    const size_t hdr = header_end(fmt, orig, n);
    for (size_t cut = 1; cut < n; cut = cut < 64 ? cut + 1 : cut < 1024 ? cut * 2 : cut + n / 13) {
        expect e = any;
        if (hdr && cut >= hdr)
            e.exact_s = (double)((cut - hdr) / 4) / 44100;
        if (cut >= n / 2) {
            e.min_s = 0.4 * SECONDS * (double)cut / (double)n;
            e.warn = fmt == FLAC || fmt == MP3 ? 1 : -1;
        }
        snprintf(what, sizeof what, "cut at %zu of %zu bytes", cut, n);
        run_case(what, fmt, orig, cut, e);
    }
    snprintf(what, sizeof what, "last byte missing (%zu bytes)", n);
    run_case(what, fmt, orig, n - 1, any);

    /* Bit flips: in the headers, then anywhere (Ogg: pages re-checksummed
     * for half of them, so that the codec sees the damage). */
    static const int flips[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4, 4, 4, 16, 16, 16, 64, 64, 256};
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        memcpy(b, orig, n);
        size_t span = i < 10 ? (n < 256 ? n : 256) : n;
        for (int k = 0; k < flips[i]; k++)
            b[below(span)] ^= (unsigned char)(1u << below(8));
        int fixed = ogg && i % 2;
        if (fixed)
            ogg_fix_crcs(b, n);
        snprintf(what, sizeof what, "%d bit flips in the first %zu bytes%s", flips[i], span,
                 fixed ? ", pages re-checksummed" : "");
        run_case(what, fmt, b, n, any);
    }

    /* Absurd header fields. */
    field f[24];
    int nf = absurd_fields(fmt, orig, n, f);
    for (int i = 0; i < nf; i++) {
        CHECK(f[i].at >= 0, "%s: no place for '%s' found in the encoded file", src, f[i].what);
        if (f[i].at < 0)
            continue;
        memcpy(b, orig, n);
        put_field(b, &f[i]);
        if (ogg)
            ogg_fix_crcs(b, n);
        run_case(f[i].what, fmt, b, n, any);
    }

    /* Splices: a range deleted, a range repeated. */
    for (int i = 0; i < 6; i++) {
        size_t at = below(n), len = 1 + below(n / 4);
        if (at + len > n)
            len = n - at;
        if (i % 2 == 0) {
            memcpy(b, orig, at);
            memcpy(b + at, orig + at + len, n - at - len);
            snprintf(what, sizeof what, "%zu bytes deleted at %zu", len, at);
            run_case(what, fmt, b, n - len, any);
        } else {
            memcpy(b, orig, at + len);
            memcpy(b + at + len, orig + at, n - at);
            snprintf(what, sizeof what, "%zu bytes repeated at %zu", len, at);
            run_case(what, fmt, b, n + len, any);
        }
    }

    /* Garbage after the first 4 bytes (the magic), and garbage alone. */
    for (int i = 0; i < 3; i++) {
        size_t keep = i == 2 ? 0 : 4, len = i ? 65536 : 300;
        memcpy(b, orig, keep);
        for (size_t k = keep; k < len; k++)
            b[k] = (unsigned char)below(256);
        snprintf(what, sizeof what, "%zu random bytes%s", len, keep ? " after the magic" : "");
        run_case(what, fmt, b, len, any);
    }
    printf("%-5s %zu bytes: %s\n", ext[fmt], n, failures == before ? "ok" : "FAILED");
    free(b);
    free(orig);
}

/* --- valar analyze over damaged files -------------------------------------- */

/* Run argv with stdout and stderr to files; the exit status, or -1. */
static int run(char *const *argv, const char *out, const char *err)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

/* One run over an intact file, damaged ones and a short one: every file
 * that fails is one line naming it, a damaged one analysed up to the damage
 * is a warning naming it, the short one a note; the others are analysed. */
static void cli(const char *valar)
{
    char p[7][4096], out[4200], err[4200];
    static const char *const names[7] = {"ok.wav",    "cut.flac",   "flipped.mp3", "empty.wav",
                                         "junk.ogg",  "cut.mp3",    "short.wav"};
    for (int i = 0; i < 7; i++)
        snprintf(p[i], sizeof p[i], "%s/cli-%s", workdir, names[i]);
    encode(p[0], SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 0, 0);
    size_t n;
    char src[4096];
    snprintf(src, sizeof src, "%s/source.flac", workdir);
    unsigned char *b = slurp(src, &n);
    put(p[1], b, n * 3 / 5);
    free(b);
    snprintf(src, sizeof src, "%s/source.mp3", workdir);
    b = slurp(src, &n);
    put(p[5], b, n * 3 / 5);
    for (int k = 0; k < 64; k++) /* libmpg123's notes came from such a file */
        b[n / 3 + below(n / 3)] ^= (unsigned char)(1u << below(8));
    put(p[2], b, n);
    put(p[3], b, 0);
    for (size_t k = 4; k < 4096; k++)
        b[k] = (unsigned char)below(256);
    memcpy(b, "OggS", 4);
    put(p[4], b, 4096);
    free(b);
    encode(p[6], SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 0, 0);
    b = slurp(p[6], &n);
    put(p[6], b, 44 + 2 * 13230); /* 0.3 s */
    free(b);

    snprintf(out, sizeof out, "%s/cli.out", workdir);
    snprintf(err, sizeof err, "%s/cli.err", workdir);
    char *argv[] = {(char *)valar, "analyze", "-j", "2", p[0], p[1], p[2], p[3], p[4], p[5], p[6],
                    NULL};
    int status = run(argv, out, err);
    char e[8192], o[16384], want[4400];
    first_line(err, e, sizeof e);
    first_line(out, o, sizeof o);
    CHECK(status == 1, "valar analyze over damaged files: status %d, want 1\n%s", status, e);
    /* The bit flips may cost the MP3 a frame (a warning that it ends early)
     * or not, as the seed falls; it must not cost a libmpg123 note. */
    snprintf(want, sizeof want, "valar: warning: %s: the audio ends at ", p[2]);
    const int flip_warned = count_lines(e, want);
    for (int i = 0; i < 7; i++) {
        const int failing = i == 3 || i == 4, warned = i == 1 || i == 5 || (i == 2 && flip_warned);
        snprintf(want, sizeof want, "valar: %s%.4096s: ",
                 warned ? "warning: " : i == 6 ? "note: " : "", p[i]);
        CHECK(count_lines(e, want) == (failing || warned || i == 6),
              "%s: want %s line '%s...' in\n%s", names[i], failing || warned || i == 6 ? "one" : "no",
              want, e);
        snprintf(want, sizeof want, "\"%.4096s\",", p[i]);
        CHECK(!count_lines(o, want) == (failing || i == 6), "%s: %s rows in\n%s", names[i],
              failing || i == 6 ? "has" : "no", o);
    }
    CHECK(count_lines(e, "valar: 2 of 7 files failed") == 1, "no summary line in\n%s", e);
    int lines = count_lines(e, "");
    CHECK(lines == 6 + flip_warned + count_lines(e, "valar: note: ") - 1,
          "stderr has lines that are not valar's own:\n%s", e);
    printf("valar analyze: damaged files named on stderr, the others analysed\n");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s VALAR WORKDIR [SEED]\n", argv[0]);
        return 2;
    }
    workdir = argv[2];
    if (argc > 3) {
        rng = (uint32_t)strtoul(argv[3], NULL, 0);
        if (!rng)
            rng = 1;
    }
    if (mkdir(workdir, 0755) != 0 && errno != EEXIST) {
        perror(workdir);
        return 1;
    }
    const char *kinds[2] = {"offline", "streaming"};
    for (int k = 0; k < 2; k++) {
        char path[4096], msg[512];
        if (modelpath_default(kinds[k], path, sizeof path) < 0 ||
            weights_load(path, &models[k], msg, sizeof msg)) {
            fprintf(stderr, "no %s model (VALAR_MODEL_DIR)\n", kinds[k]);
            return 1;
        }
    }
    double t0 = now();
    mpeg_same_as_libsndfile();
    for (int fmt = 0; fmt < NFMT; fmt++)
        fuzz_format(fmt);
    printf("%d cases in %.1f s\n", ncases, now() - t0);
    cli(argv[1]);
    weights_destroy(models[0]);
    weights_destroy(models[1]);
    return failures ? 1 : 0;
}
