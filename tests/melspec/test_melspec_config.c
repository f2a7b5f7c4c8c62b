/* Feature config: write/read round trip through weights metadata (in memory
 * and through a file), clear messages naming a missing or bad key, and
 * melspec_config_check rejecting nonsense. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "melspec.h"
#include "weights.h"

static int failed;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL: " __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                                 \
            failed = 1;                                                                            \
        }                                                                                          \
    } while (0)

static int same_config(const melspec_config *a, const melspec_config *b)
{
    return a->sample_rate == b->sample_rate && a->n_fft == b->n_fft && a->hop == b->hop &&
           a->n_mels == b->n_mels && a->segment_ms == b->segment_ms &&
           memcmp(&a->fmin, &b->fmin, sizeof a->fmin) == 0 &&
           memcmp(&a->fmax, &b->fmax, sizeof a->fmax) == 0 &&
           memcmp(&a->log_floor, &b->log_floor, sizeof a->log_floor) == 0;
}

static const char *keys[] = {"sample_rate", "n_fft", "hop_length", "n_mels",
                             "fmin",        "fmax",  "segment_ms", "log_floor"};
#define NKEYS (sizeof keys / sizeof keys[0])

static void round_trip(const melspec_config *c, const char *dir)
{
    weights *w = weights_create();
    EXPECT(w && melspec_config_write(c, w) == 0, "melspec_config_write");
    melspec_config r;
    char msg[256] = "";
    int err = melspec_config_read(&r, w, msg, sizeof msg);
    EXPECT(err == 0 && same_config(c, &r), "in-memory round trip (%d: %s)", err, msg);

    /* through a file, as a trained model carries it */
    char path[512];
    snprintf(path, sizeof path, "%s/cfg.safetensors", dir);
    const int64_t shape[1] = {2};
    const float data[2] = {1.0f, 2.0f};
    EXPECT(weights_add(w, "x", 1, shape, data) == 0, "weights_add");
    err = weights_save(w, path, msg, sizeof msg);
    EXPECT(err == 0, "weights_save: %s", msg);
    weights *l = NULL;
    err = weights_load(path, &l, msg, sizeof msg);
    EXPECT(err == 0, "weights_load: %s", msg);
    if (l) {
        err = melspec_config_read(&r, l, msg, sizeof msg);
        EXPECT(err == 0 && same_config(c, &r), "file round trip (%d: %s)", err, msg);
        weights_destroy(l);
    }
    unlink(path);
    weights_destroy(w);
}

/* All keys written, then `key` removed (value NULL) or replaced. */
static void bad_key(const char *key, const char *value, int want)
{
    melspec_config c;
    melspec_config_default(&c);
    weights *full = weights_create();
    melspec_config_write(&c, full);
    weights *w = weights_create();
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = weights_meta(full, keys[i]);
        if (strcmp(keys[i], key) == 0)
            v = value;
        if (v)
            weights_set_meta(w, keys[i], v);
    }
    char msg[256] = "";
    melspec_config r;
    int err = melspec_config_read(&r, w, msg, sizeof msg);
    printf("%s = %s%s%s: %d, \"%s\"\n", key, value ? "'" : "", value ? value : "(missing)",
           value ? "'" : "", err, msg);
    EXPECT(err == want, "%s: got %d, want %d", key, err, want);
    EXPECT(strstr(msg, key) != NULL, "message does not name '%s': %s", key, msg);
    weights_destroy(w);
    weights_destroy(full);
}

int main(void)
{
    char dir[] = "/tmp/test_melspec_config.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }

    melspec_config d;
    melspec_config_default(&d);
    char msg[256] = "";
    EXPECT(melspec_config_check(&d, msg, sizeof msg) == 0, "default rejected: %s", msg);
    EXPECT(melspec_segment_samples(&d) == 11025, "segment samples %d", melspec_segment_samples(&d));
    round_trip(&d, dir);
    melspec_config odd = {16000, 800, 200, 40, 31.4159265f, 7654.32101f, 250, 3.3e-9f};
    EXPECT(melspec_config_check(&odd, msg, sizeof msg) == 0, "odd config rejected: %s", msg);
    round_trip(&odd, dir);
    rmdir(dir);

    for (size_t i = 0; i < NKEYS; i++) {
        bad_key(keys[i], NULL, VALAR_ERR_MISSING);
        bad_key(keys[i], "abc", VALAR_ERR_META);
        bad_key(keys[i], "", VALAR_ERR_META);
        bad_key(keys[i], "12x", VALAR_ERR_META);
    }
    bad_key("n_fft", "99999999999", VALAR_ERR_META);
    bad_key("n_fft", "1024.5", VALAR_ERR_META);
    bad_key("fmax", "1e999", VALAR_ERR_META);
    bad_key("fmax", "nan", VALAR_ERR_META);

    /* nonsense the check must refuse */
    struct {
        const char *what;
        melspec_config c;
    } bad[] = {
        {"hop not dividing the segment", {22050, 1024, 440, 64, 0, 11025, 500, 1e-10f}},
        {"n_fft < hop", {22050, 400, 441, 64, 0, 11025, 500, 1e-10f}},
        {"fmax > sr/2", {22050, 1024, 441, 64, 0, 12000, 500, 1e-10f}},
        {"fmin == fmax", {22050, 1024, 441, 64, 5000, 5000, 500, 1e-10f}},
        {"fmin > fmax", {22050, 1024, 441, 64, 6000, 5000, 500, 1e-10f}},
        {"fmin < 0", {22050, 1024, 441, 64, -10, 11025, 500, 1e-10f}},
        {"fmax NaN", {22050, 1024, 441, 64, 0, NAN, 500, 1e-10f}},
        {"n_mels 0", {22050, 1024, 441, 0, 0, 11025, 500, 1e-10f}},
        {"bands without FFT bins", {22050, 1024, 441, 512, 0, 11025, 500, 1e-10f}},
        {"segment not whole samples", {22050, 1024, 441, 64, 0, 11025, 333, 1e-10f}},
        {"segment_ms 0", {22050, 1024, 441, 64, 0, 11025, 0, 1e-10f}},
        {"sample_rate 0", {0, 1024, 441, 64, 0, 0, 500, 1e-10f}},
        {"hop 0", {22050, 1024, 0, 64, 0, 11025, 500, 1e-10f}},
        {"log_floor 0", {22050, 1024, 441, 64, 0, 11025, 500, 0}},
        {"log_floor < 0", {22050, 1024, 441, 64, 0, 11025, 500, -1}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = 0;
        int err = melspec_config_check(&bad[i].c, msg, sizeof msg);
        printf("%s: %d, \"%s\"\n", bad[i].what, err, msg);
        EXPECT(err == VALAR_ERR_CONFIG && msg[0], "%s accepted", bad[i].what);
        melspec *m = NULL;
        EXPECT(melspec_create(&bad[i].c, 22050, &m) == VALAR_ERR_CONFIG && !m,
               "melspec_create accepted %s", bad[i].what);
    }
    /* still sensible: many bands, but each gets a bin */
    melspec_config many = d;
    many.n_mels = 128;
    EXPECT(melspec_config_check(&many, msg, sizeof msg) == 0, "128 mels rejected: %s", msg);
    EXPECT(melspec_config_check(&d, NULL, 0) == 0, "NULL msg");
    return failed;
}
