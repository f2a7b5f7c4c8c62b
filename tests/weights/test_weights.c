/* weights: round trip, lookups, weights_expect messages, typed metadata,
 * atomic save (atomicfile) and clean save failures, the error space.  usage: test_weights WORKDIR (created, emptied) */
#include "weights.h"

#include "atomicfile.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond);                       \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static char dir[2048];

static void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* Number of entries in a directory (without . and ..), -1 if unreadable. */
static int count_entries(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(dp);
    return n;
}

static void empty_dir(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        if (unlink(p) != 0) {
            chmod(p, 0755);
            empty_dir(p);
            rmdir(p);
        }
    }
    closedir(dp);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* Tensors of 0..4 dims, incl. a scalar and a zero-size one. */
static float big[3000];
static const float special[] = {0.0f, -0.0f, 1.0f, -1.5f, FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f};
static const struct {
    const char *name;
    int ndim;
    int64_t shape[4];
    const float *data;
} spec[] = {
    {"scalar", 0, {0}, special + 3},           {"vec", 1, {8}, special},
    {"mat", 2, {2, 3}, special + 1},           {"empty", 3, {2, 0, 4}, NULL},
    {"conv.weight", 4, {2, 3, 1, 2}, big + 7}, {"big", 1, {3000}, big},
};
#define NSPEC ((int)(sizeof spec / sizeof spec[0]))

static uint64_t count_of(int nd, const int64_t *s)
{
    uint64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= (uint64_t)s[i];
    return n;
}

static weights *make_model(float bias)
{
    weights *w = weights_create();
    CHECK(w != NULL);
    for (int i = 0; i < NSPEC; i++)
        CHECK(weights_add(w, spec[i].name, spec[i].ndim, spec[i].shape, spec[i].data) == 0);
    float b[2] = {bias, -bias};
    int64_t s2 = 2;
    CHECK(weights_add(w, "bias", 1, &s2, b) == 0);
    CHECK(weights_set_meta(w, "kind", "offline") == 0);
    CHECK(weights_set_meta(w, "note", "tab\tnewline\n\"quoted\" \xc3\xbcml\xc3\xa4ut") == 0);
    CHECK(weights_set_meta(w, "empty", "") == 0);
    return w;
}

static void check_model(const weights *w, float bias)
{
    CHECK(weights_count(w) == NSPEC + 1);
    for (int i = 1; i < weights_count(w); i++)
        CHECK(strcmp(weights_name(w, i - 1), weights_name(w, i)) < 0);
    CHECK(weights_name(w, -1) == NULL && weights_name(w, weights_count(w)) == NULL);
    for (int i = 0; i < NSPEC; i++) {
        int nd = -1;
        int64_t sh[WEIGHTS_MAX_DIMS];
        const float *d = weights_get(w, spec[i].name, &nd, sh);
        CHECK(d != NULL);
        CHECK(nd == spec[i].ndim);
        if (!d || nd != spec[i].ndim)
            continue;
        CHECK(memcmp(sh, spec[i].shape, (size_t)nd * sizeof(int64_t)) == 0);
        uint64_t n = count_of(nd, sh);
        if (n)
            CHECK(memcmp(d, spec[i].data, n * sizeof(float)) == 0); /* bit exact, -0.0 too */
    }
    const float *b = weights_get(w, "bias", NULL, NULL);
    CHECK(b && b[0] == bias && b[1] == -bias);
    CHECK(weights_meta_count(w) == 3);
    CHECK(weights_meta(w, "kind") && strcmp(weights_meta(w, "kind"), "offline") == 0);
    CHECK(weights_meta(w, "note") &&
          strcmp(weights_meta(w, "note"), "tab\tnewline\n\"quoted\" \xc3\xbcml\xc3\xa4ut") == 0);
    CHECK(weights_meta(w, "empty") && weights_meta(w, "empty")[0] == '\0');
    CHECK(weights_meta(w, "absent") == NULL);
    CHECK(weights_get(w, "absent", NULL, NULL) == NULL);
    CHECK(weights_meta_key(w, 0) && strcmp(weights_meta_key(w, 0), "empty") == 0);
    CHECK(weights_meta_key(w, 3) == NULL);
}

/* The bytes on disk follow the layout the reference implementation writes. */
static void check_layout(const char *path)
{
    size_t len = 0;
    unsigned char *b = read_all(path, &len);
    CHECK(b && len >= 8);
    if (!b || len < 8)
        return;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    CHECK(n % 8 == 0 && 8 + n <= len);
    if (n % 8 || 8 + n > len) {
        free(b);
        return;
    }
    CHECK(b[8] == '{');
    char *h = malloc(n + 1);
    memcpy(h, b + 8, n);
    h[n] = 0;
    size_t jl = strlen(h);
    while (jl > 0 && h[jl - 1] == ' ')
        jl--;
    CHECK(h[jl - 1] == '}' && n - jl < 8); /* space padding, less than 8 */
    cJSON *root = cJSON_Parse(h);
    CHECK(root != NULL);
    const char *prev = "";
    uint64_t off = 0;
    int nt = 0, saw_meta = 0;
    for (cJSON *c = root ? root->child : NULL; c; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) {
            saw_meta = 1;
            continue;
        }
        CHECK(strcmp(prev, c->string) < 0); /* sorted by name */
        prev = c->string;
        cJSON *o = cJSON_GetObjectItem(c, "data_offsets");
        CHECK(o && cJSON_GetArraySize(o) == 2);
        if (o && cJSON_GetArraySize(o) == 2) {
            CHECK((uint64_t)o->child->valuedouble == off); /* contiguous */
            off = (uint64_t)o->child->next->valuedouble;
        }
        nt++;
    }
    CHECK(saw_meta && nt == NSPEC + 1);
    CHECK(8 + n + off == len);
    /* "bias" = {1.0, -1.0} is the first tensor by name: IEEE little endian. */
    static const unsigned char one_le[8] = {0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf};
    CHECK(memcmp(b + 8 + n, one_le, 8) == 0);
    cJSON_Delete(root);
    free(h);
    free(b);
}

static void test_round_trip(void)
{
    char p[4096], msg[512];
    path_in(p, sizeof p, "model.safetensors");
    weights *w = make_model(1.0f);
    CHECK(weights_save(w, p, msg, sizeof msg) == 0);
    check_model(w, 1.0f);
    weights_destroy(w);
    check_layout(p);

    weights *r = NULL;
    int err = weights_load(p, &r, msg, sizeof msg);
    CHECK(err == 0 && r != NULL);
    if (err) {
        fprintf(stderr, "load: %s\n", msg);
        return;
    }
    check_model(r, 1.0f);

    /* Saving what was loaded gives the same bytes. */
    char p2[4096];
    path_in(p2, sizeof p2, "again.safetensors");
    CHECK(weights_save(r, p2, msg, sizeof msg) == 0);
    size_t l1 = 0, l2 = 0;
    unsigned char *b1 = read_all(p, &l1), *b2 = read_all(p2, &l2);
    CHECK(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
    unlink(p2);
    weights_destroy(r);

    /* No tensors, no metadata: still a valid file. */
    weights *e = weights_create();
    path_in(p2, sizeof p2, "nothing.safetensors");
    CHECK(weights_save(e, p2, msg, sizeof msg) == 0);
    weights_destroy(e);
    e = NULL;
    CHECK(weights_load(p2, &e, msg, sizeof msg) == 0 && e && weights_count(e) == 0 &&
          weights_meta_count(e) == 0);
    weights_destroy(e);
    unlink(p2);
}

static void test_add_and_meta(void)
{
    weights *w = weights_create();
    float v[3] = {1, 2, 3}, nanv[2] = {0, NAN}, infv[1] = {-INFINITY};
    int64_t s3 = 3, s2 = 2, s1 = 1, neg = -1;
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(weights_add(w, "a", 1, &s3, v) == 0);
    CHECK(weights_add(w, "a", 1, &s2, v + 1) == 0); /* replaces */
    CHECK(weights_count(w) == 1);
    int nd;
    int64_t sh[WEIGHTS_MAX_DIMS];
    const float *d = weights_get(w, "a", &nd, sh);
    CHECK(d && nd == 1 && sh[0] == 2 && d[0] == 2 && d[1] == 3);
    CHECK(weights_add(w, NULL, 1, &s3, v) == VALAR_ERR_ARG);
    CHECK(weights_add(w, "", 1, &s3, v) == VALAR_ERR_ARG);
    CHECK(weights_add(w, "__metadata__", 1, &s3, v) == VALAR_ERR_ARG);
    CHECK(weights_add(w, "b", 1, &s3, NULL) == VALAR_ERR_ARG);
    CHECK(weights_add(w, "b", 1, &neg, v) == VALAR_ERR_SHAPE);
    CHECK(weights_add(w, "b", 9, nine, v) == VALAR_ERR_SHAPE);
    CHECK(weights_add(w, "b", -1, NULL, v) == VALAR_ERR_SHAPE);
    CHECK(weights_add(w, "b", 1, &s2, nanv) == VALAR_ERR_NONFINITE);
    CHECK(weights_add(w, "b", 1, &s1, infv) == VALAR_ERR_NONFINITE);
    CHECK(weights_add(NULL, "b", 1, &s1, v) == VALAR_ERR_ARG);
    CHECK(weights_count(w) == 1);
    CHECK(weights_set_meta(w, "k", "1") == 0 && weights_set_meta(w, "k", "2") == 0);
    CHECK(weights_meta_count(w) == 1 && strcmp(weights_meta(w, "k"), "2") == 0);
    CHECK(weights_set_meta(w, NULL, "x") == VALAR_ERR_ARG);
    CHECK(weights_set_meta(w, "x", NULL) == VALAR_ERR_ARG);
    weights_destroy(w);
    weights_destroy(NULL);
}

static void test_expect(void)
{
    weights *w = make_model(2.0f);
    char msg[512];
    const float *d = NULL;
    int64_t ok[2] = {2, 3}, swapped[2] = {3, 2}, sc[1] = {1};
    CHECK(weights_expect(w, "mat", 2, ok, &d, msg, sizeof msg) == 0);
    CHECK(d == weights_get(w, "mat", NULL, NULL));
    CHECK(weights_expect(w, "scalar", 0, NULL, &d, msg, sizeof msg) == 0 && d && *d == -1.5f);

    CHECK(weights_expect(w, "mat", 2, swapped, &d, msg, sizeof msg) == VALAR_ERR_SHAPE);
    CHECK(d == NULL);
    CHECK(strstr(msg, "'mat'") && strstr(msg, "[2, 3]") && strstr(msg, "[3, 2]"));
    printf("expect shape: %s\n", msg);
    CHECK(weights_expect(w, "scalar", 1, sc, &d, msg, sizeof msg) == VALAR_ERR_SHAPE);
    CHECK(strstr(msg, "'scalar'") && strstr(msg, "[]") && strstr(msg, "[1]"));
    printf("expect shape: %s\n", msg);
    CHECK(weights_expect(w, "nope", 2, ok, &d, msg, sizeof msg) == VALAR_ERR_MISSING);
    CHECK(strstr(msg, "'nope'") != NULL);
    printf("expect missing: %s\n", msg);
    CHECK(weights_expect(w, "mat", 2, ok, NULL, NULL, 0) == 0);
    CHECK(weights_expect(w, "mat", 2, swapped, NULL, NULL, 0) == VALAR_ERR_SHAPE);
    weights_destroy(w);
}

/* Save over an existing file replaces it in one step: the directory holds
 * just the target afterwards, and failures leave the old file intact. */
static void test_atomic_save(void)
{
    char p[4096], msg[512];
    empty_dir(dir);
    path_in(p, sizeof p, "model.safetensors");
    weights *w1 = make_model(1.0f), *w2 = make_model(5.0f);
    CHECK(weights_save(w1, p, msg, sizeof msg) == 0);
    CHECK(chmod(p, 0640) == 0);
    CHECK(weights_save(w2, p, msg, sizeof msg) == 0);
    CHECK(count_entries(dir) == 1);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0640); /* mode kept */
    weights *r = NULL;
    CHECK(weights_load(p, &r, msg, sizeof msg) == 0);
    if (r)
        check_model(r, 5.0f);
    weights_destroy(r);

    /* The target is a directory: rename fails, the temp file goes away. */
    char d2[4096];
    path_in(d2, sizeof d2, "adir.safetensors");
    CHECK(mkdir(d2, 0755) == 0);
    int err = weights_save(w1, d2, msg, sizeof msg);
    printf("save onto a directory: %d %s\n", err, msg);
    CHECK(err == VALAR_ERR_IO && strstr(msg, d2) && !strchr(msg, '\n'));
    CHECK(count_entries(dir) == 2 && count_entries(d2) == 0);

    /* Nonexistent directory, and a "directory" that is a file. */
    char bad[8192];
    path_in(bad, sizeof bad, "no/such/dir/model.safetensors");
    err = weights_save(w1, bad, msg, sizeof msg);
    printf("save into a missing dir: %d %s\n", err, msg);
    CHECK(err == VALAR_ERR_IO && strstr(msg, bad));
    snprintf(bad, sizeof bad, "%s/sub.safetensors", p);
    err = weights_save(w1, bad, msg, sizeof msg);
    CHECK(err == VALAR_ERR_IO && strstr(msg, bad));
    CHECK(count_entries(dir) == 2);

    /* A read-only directory (permission bits do not bind root). */
    char ro[4096], rop[8192];
    path_in(ro, sizeof ro, "readonly");
    CHECK(mkdir(ro, 0755) == 0);
    snprintf(rop, sizeof rop, "%s/model.safetensors", ro);
    CHECK(weights_save(w1, rop, msg, sizeof msg) == 0);
    CHECK(chmod(ro, 0555) == 0);
    if (geteuid() != 0) {
        err = weights_save(w2, rop, msg, sizeof msg);
        printf("save into a read-only dir: %d %s\n", err, msg);
        CHECK(err == VALAR_ERR_IO && strstr(msg, rop));
        CHECK(count_entries(ro) == 1);
        r = NULL;
        CHECK(weights_load(rop, &r, msg, sizeof msg) == 0);
        if (r)
            check_model(r, 1.0f); /* the old file, intact */
        weights_destroy(r);
    } else {
        printf("running as root: read-only directory case skipped\n");
    }
    chmod(ro, 0755);
    /* /proc refuses to create files even for root. */
    err = weights_save(w1, "/proc/valar-test.safetensors", msg, sizeof msg);
    CHECK(err == VALAR_ERR_IO && strstr(msg, "/proc/valar-test.safetensors"));
    printf("save into /proc: %d %s\n", err, msg);

    CHECK(weights_save(NULL, p, msg, sizeof msg) == VALAR_ERR_ARG);
    CHECK(weights_save(w1, "", msg, sizeof msg) == VALAR_ERR_ARG);
    weights_destroy(w1);
    weights_destroy(w2);
}

static void test_load_args(void)
{
    char p[4096], msg[512];
    weights *w = (weights *)1;
    path_in(p, sizeof p, "model.safetensors");
    CHECK(weights_load(p, NULL, msg, sizeof msg) == VALAR_ERR_ARG);
    CHECK(weights_load(NULL, &w, msg, sizeof msg) == VALAR_ERR_ARG && w == NULL);
    CHECK(weights_load(p, &w, NULL, 0) == 0 && w != NULL); /* msg is optional */
    weights_destroy(w);
    path_in(p, sizeof p, "absent.safetensors");
    CHECK(weights_load(p, &w, NULL, 0) == VALAR_ERR_IO && w == NULL);
    CHECK(weights_load(p, &w, msg, 8) == VALAR_ERR_IO && strlen(msg) == 7); /* truncated */
}

/* The library's one error space: every code has its own text. */
static void test_strerror(void)
{
    const char *unknown = valar_strerror(1);
    CHECK(unknown && strcmp(unknown, valar_strerror(VALAR_ERR_LAST - 1)) == 0);
    for (int e = 0; e >= VALAR_ERR_LAST; e--) {
        const char *s = valar_strerror(e);
        CHECK(s && s[0] && strcmp(s, unknown) != 0);
        for (int f = e + 1; f <= 0; f++)
            CHECK(strcmp(s, valar_strerror(f)) != 0);
    }
    char msg[8] = "x";
    CHECK(valar_fail(msg, sizeof msg, VALAR_ERR_IO, "%s", "0123456789") == VALAR_ERR_IO &&
          strcmp(msg, "0123456") == 0);
    CHECK(valar_fail(NULL, 0, VALAR_ERR_ARG, "%d", 1) == VALAR_ERR_ARG);
}

/* The typed metadata getters: values, ranges, malformed values, missing keys;
 * *out untouched on failure; messages name the key and the value. */
static void test_meta_getters(void)
{
    weights *w = weights_create();
    static const char *const kv[][2] = {{"i", "42"},     {"neg", "-7"},  {"big", "99999999999"},
                                        {"frac", "4.5"}, {"junk", "12x"}, {"empty", ""},
                                        {"d", "1e-10"},  {"inf", "1e999"}, {"nan", "nan"},
                                        {"word", "joint"}};
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
        CHECK(weights_set_meta(w, kv[k][0], kv[k][1]) == 0);
    char msg[256];
    int i = -1;
    CHECK(weights_meta_int(w, "i", 0, 100, &i, msg, sizeof msg) == 0 && i == 42);
    CHECK(weights_meta_int(w, "neg", -10, 10, &i, msg, sizeof msg) == 0 && i == -7);
    i = 5;
    CHECK(weights_meta_int(w, "i", 0, 41, &i, msg, sizeof msg) == VALAR_ERR_META && i == 5 &&
          strstr(msg, "'i'") && strstr(msg, "42") && strstr(msg, "0..41"));
    static const char *const bad_ints[] = {"big", "frac", "junk", "empty", "d"};
    for (size_t k = 0; k < 5; k++)
        CHECK(weights_meta_int(w, bad_ints[k], -1000, 1000, &i, msg, sizeof msg) ==
                  VALAR_ERR_META &&
              i == 5 && strstr(msg, bad_ints[k]));
    CHECK(weights_meta_int(w, "none", 0, 1, &i, msg, sizeof msg) == VALAR_ERR_MISSING && i == 5 &&
          strstr(msg, "'none'"));
    double d = 0;
    CHECK(weights_meta_double(w, "d", 0, 1, &d, msg, sizeof msg) == 0 && d == 1e-10);
    CHECK(weights_meta_double(w, "frac", 0, 4, &d, msg, sizeof msg) == VALAR_ERR_META &&
          d == 1e-10);
    static const char *const bad_nums[] = {"inf", "nan", "junk", "empty"};
    for (size_t k = 0; k < 4; k++)
        CHECK(weights_meta_double(w, bad_nums[k], -DBL_MAX, DBL_MAX, &d, NULL, 0) ==
                  VALAR_ERR_META &&
              d == 1e-10);
    static const char *const branches[] = {"separate", "joint"};
    int c = -1;
    CHECK(weights_meta_choice(w, "word", branches, 2, &c, msg, sizeof msg) == 0 && c == 1);
    CHECK(weights_meta_choice(w, "i", branches, 2, &c, msg, sizeof msg) == VALAR_ERR_META &&
          c == 1 && strstr(msg, "\"separate\" or \"joint\""));
    CHECK(weights_meta_choice(w, "none", branches, 2, &c, NULL, 0) == VALAR_ERR_MISSING);
    weights_destroy(w);
}

/* atomicfile: a new file gets the umask's mode, a replaced one keeps its
 * own; a failed write leaves the old file and no temporary one. */
static void test_atomicfile(void)
{
    char p[4200], sub[4096], msg[4400];
    path_in(sub, sizeof sub, "atomic");
    CHECK(mkdir(sub, 0755) == 0);
    snprintf(p, sizeof p, "%s/out.txt", sub);
    mode_t old = umask(027);
    atomicfile a;
    CHECK(atomicfile_open(&a, p, "test output", msg, sizeof msg) == 0);
    fputs("one\n", a.f);
    CHECK(count_entries(sub) == 1 && access(p, F_OK) != 0); /* only the temporary file */
    CHECK(atomicfile_commit(&a, 1, msg, sizeof msg) == 0);
    umask(old);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0640 && st.st_size == 4);
    CHECK(chmod(p, 0604) == 0);
    CHECK(atomicfile_open(&a, p, NULL, msg, sizeof msg) == 0);
    fputs("two, longer\n", a.f);
    CHECK(atomicfile_commit(&a, 1, msg, sizeof msg) == 0);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0604 && st.st_size == 12);
    /* The caller says a write failed: the old file stays. */
    CHECK(atomicfile_open(&a, p, NULL, msg, sizeof msg) == 0);
    fputs("three", a.f);
    errno = ENOSPC;
    CHECK(atomicfile_commit(&a, 0, msg, sizeof msg) == VALAR_ERR_IO && strstr(msg, p) &&
          strstr(msg, strerror(ENOSPC)));
    CHECK(stat(p, &st) == 0 && st.st_size == 12 && count_entries(sub) == 1);
    /* No such folder: the message names the file and what it is. */
    snprintf(p, sizeof p, "%s/no/such/out.txt", sub);
    CHECK(atomicfile_open(&a, p, "resume state", msg, sizeof msg) == VALAR_ERR_IO && !a.f &&
          strstr(msg, p) && strstr(msg, "cannot write resume state"));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    empty_dir(dir);
    for (int i = 0; i < 3000; i++)
        big[i] = sinf((float)i * 0.37f) * (float)(i + 1);
    test_round_trip();
    test_add_and_meta();
    test_expect();
    test_atomic_save();
    test_load_args();
    test_strerror();
    test_meta_getters();
    test_atomicfile();
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
