/* weights: safetensors F32 weight files (format in weights.h).
 *
 * Loading reads the whole file (models are tens of KB), parses the JSON header
 * with cJSON and validates every entry before anything is decoded, so a
 * malformed file yields one clear message and never an out-of-bounds read.
 * Tensors and metadata are kept sorted by name: lookups are binary searches
 * and saving writes them in that order. */
#include "weights.h"

#include "atomicfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Limits: far above any valar model (~50 KB, header ~2 KB), low enough that
 * a corrupt length or a hostile file cannot make us allocate gigabytes: the
 * parsed JSON tree takes ~20x the header's size (upstream allows 100 MB). */
#define MAX_FILE_SIZE ((uint64_t)256 << 20)
#define MAX_HEADER_LEN ((uint64_t)16 << 20)
/* Largest integer a JSON number (a double) holds exactly. */
#define MAX_JSON_INT ((double)((uint64_t)1 << 53))

typedef struct {
    char *name;
    int ndim;
    int64_t shape[WEIGHTS_MAX_DIMS];
    size_t count;
    float *data; /* never NULL, even for zero elements */
} tensor;

typedef struct {
    char *key;
    char *value;
} meta_kv;

struct weights {
    tensor *t;
    int nt, capt;
    meta_kv *m;
    int nm, capm;
};

/* ---- small helpers ---- */

/* A name from a file, fit for a one-line message: control bytes become '?'
 * and long names are cut (at a UTF-8 character boundary). */
#define SHOW_LEN 72
static const char *show(const char *s, char buf[SHOW_LEN + 4])
{
    size_t n = strlen(s), cut = n;
    if (n > SHOW_LEN) {
        cut = SHOW_LEN;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (cut < n) {
        memcpy(buf + cut, "...", 4);
    } else {
        buf[cut] = '\0';
    }
    return buf;
}

static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t p = 0;
    p += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && p < len; i++)
        p += (size_t)snprintf(buf + p, len - p, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (p < len)
        snprintf(buf + p, len - p, "]");
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Element count of a shape, saturated at `cap` so absurd shapes cannot
 * overflow (a zero dimension anywhere still gives 0). */
static uint64_t shape_count(int ndim, const int64_t *shape, uint64_t cap)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0)
            return 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        n = (n > cap / d) ? cap + 1 : n * d;
        if (n > cap)
            return cap + 1;
    }
    return n;
}

/* Explicit little-endian encoding: correct whatever the host byte order. */
static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static float get_lef32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void put_lef32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

/* Index of the first invalid UTF-8 byte, or len if the text is valid
 * (safetensors headers must be UTF-8). Rejects overlongs and surrogates. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

/* ---- the in-memory object ---- */

weights *weights_create(void)
{
    return calloc(1, sizeof(weights));
}

void weights_destroy(weights *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nt; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    for (int i = 0; i < w->nm; i++) {
        free(w->m[i].key);
        free(w->m[i].value);
    }
    free(w->t);
    free(w->m);
    free(w);
}

/* Binary search over an array of structs sorted by their first member, a
 * string: index of name, or -(insertion point) - 1. */
static int find_sorted(const void *arr, int n, size_t elem, const char *name)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(*(char *const *)((const char *)arr + (size_t)mid * elem), name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -lo - 1;
}

static int find_tensor(const weights *w, const char *name)
{
    return find_sorted(w->t, w->nt, sizeof *w->t, name);
}

static int find_meta(const weights *w, const char *key)
{
    return find_sorted(w->m, w->nm, sizeof *w->m, key);
}

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int n = *cap ? *cap : 8;
    while (n < need) {
        if (n > (1 << 28))
            return VALAR_ERR_NOMEM;
        n *= 2;
    }
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p)
        return VALAR_ERR_NOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

/* Make room for name (copied) at its sorted place in an array of *n structs
 * whose first member is their name, as find_sorted searches; the other
 * members are zeroed. The new index, or VALAR_ERR_NOMEM with the array
 * unchanged. name must not be in the array yet. */
static int insert_sorted(void **arr, int *n, int *cap, size_t elem, const char *name)
{
    int i = -find_sorted(*arr, *n, elem, name) - 1;
    char *copy = dupstr(name);
    if (!copy || grow(arr, cap, *n + 1, elem)) {
        free(copy);
        return VALAR_ERR_NOMEM;
    }
    char *at = (char *)*arr + (size_t)i * elem;
    memmove(at + elem, at, (size_t)(*n - i) * elem);
    memset(at, 0, elem);
    memcpy(at, &copy, sizeof copy);
    (*n)++;
    return i;
}

int weights_add(weights *w, const char *name, int ndim, const int64_t *shape, const float *data)
{
    if (!w || !name || !name[0] || strcmp(name, "__metadata__") == 0)
        return VALAR_ERR_ARG;
    if (ndim < 0 || ndim > WEIGHTS_MAX_DIMS || (ndim > 0 && !shape))
        return VALAR_ERR_SHAPE;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return VALAR_ERR_SHAPE;
    uint64_t count = shape_count(ndim, shape, MAX_FILE_SIZE / 4);
    if (count > MAX_FILE_SIZE / 4)
        return VALAR_ERR_SHAPE;
    if (count > 0 && !data)
        return VALAR_ERR_ARG;
    for (uint64_t i = 0; i < count; i++)
        if (!isfinite(data[i]))
            return VALAR_ERR_NONFINITE;

    float *copy = malloc((count ? count : 1) * sizeof(float));
    if (!copy)
        return VALAR_ERR_NOMEM;
    if (count)
        memcpy(copy, data, count * sizeof(float));

    int i = find_tensor(w, name);
    if (i >= 0)
        free(w->t[i].data);
    else if ((i = insert_sorted((void **)&w->t, &w->nt, &w->capt, sizeof *w->t, name)) < 0) {
        free(copy);
        return i;
    }
    tensor *t = &w->t[i];
    t->ndim = ndim;
    memset(t->shape, 0, sizeof t->shape);
    for (int k = 0; k < ndim; k++)
        t->shape[k] = shape[k];
    t->count = (size_t)count;
    t->data = copy;
    return VALAR_OK;
}

int weights_set_meta(weights *w, const char *key, const char *value)
{
    if (!w || !key || !value)
        return VALAR_ERR_ARG;
    char *v = dupstr(value);
    if (!v)
        return VALAR_ERR_NOMEM;
    int i = find_meta(w, key);
    if (i >= 0) {
        free(w->m[i].value);
        w->m[i].value = v;
        return VALAR_OK;
    }
    if ((i = insert_sorted((void **)&w->m, &w->nm, &w->capm, sizeof *w->m, key)) < 0) {
        free(v);
        return i;
    }
    w->m[i].value = v;
    return VALAR_OK;
}

const float *weights_get(const weights *w, const char *name, int *ndim, int64_t *shape)
{
    if (!w || !name)
        return NULL;
    int i = find_tensor(w, name);
    if (i < 0)
        return NULL;
    const tensor *t = &w->t[i];
    if (ndim)
        *ndim = t->ndim;
    if (shape)
        for (int k = 0; k < t->ndim; k++)
            shape[k] = t->shape[k];
    return t->data;
}

int weights_expect(const weights *w, const char *name, int ndim, const int64_t *shape,
                   const float **data, char *msg, size_t msglen)
{
    char sn[SHOW_LEN + 4];
    if (data)
        *data = NULL;
    if (!w || !name || ndim < 0 || ndim > WEIGHTS_MAX_DIMS || (ndim > 0 && !shape))
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "weights_expect: invalid argument");
    int i = find_tensor(w, name);
    if (i < 0)
        return valar_fail(msg, msglen, VALAR_ERR_MISSING, "tensor '%s' is missing", show(name, sn));
    const tensor *t = &w->t[i];
    int same = t->ndim == ndim;
    for (int k = 0; same && k < ndim; k++)
        same = t->shape[k] == shape[k];
    if (!same) {
        char have[256], want[256];
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return valar_fail(msg, msglen, VALAR_ERR_SHAPE, "tensor '%s' has shape %s, expected %s",
                          show(name, sn), have, want);
    }
    if (data)
        *data = t->data;
    return VALAR_OK;
}

const char *weights_meta(const weights *w, const char *key)
{
    if (!w || !key)
        return NULL;
    int i = find_meta(w, key);
    return i < 0 ? NULL : w->m[i].value;
}

/* The value of a metadata key, or VALAR_ERR_MISSING naming it. */
static int meta_value(const weights *w, const char *key, const char **v, char *msg, size_t msglen)
{
    *v = weights_meta(w, key);
    if (!*v)
        return valar_fail(msg, msglen, VALAR_ERR_MISSING, "metadata key '%s' is missing", key);
    return 0;
}

static int bad_value(const char *key, const char *v, const char *want, char *msg, size_t msglen)
{
    char sv[SHOW_LEN + 4];
    return valar_fail(msg, msglen, VALAR_ERR_META, "metadata key '%s' = '%s' is not %s", key,
                      show(v, sv), want);
}

/* key's value, the whole of it, as a decimal integer (strtol) or a finite
 * number (strtod) in lo..hi. */
static int meta_number(const weights *w, const char *key, int integer, double lo, double hi,
                       double *out, char *msg, size_t msglen)
{
    const char *v;
    int err = meta_value(w, key, &v, msg, msglen);
    if (err)
        return err;
    char *end, want[80];
    errno = 0;
    double x = integer ? (double)strtol(v, &end, 10) : strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || !(x >= lo && x <= hi)) {
        snprintf(want, sizeof want,
                 integer ? "an integer in %.0f..%.0f" : "a finite number in %g..%g", lo, hi);
        return bad_value(key, v, want, msg, msglen);
    }
    *out = x;
    return 0;
}

int weights_meta_int(const weights *w, const char *key, long lo, long hi, int *out, char *msg,
                     size_t msglen)
{
    double x;
    int err = meta_number(w, key, 1, lo > INT_MIN ? (double)lo : INT_MIN,
                          hi < INT_MAX ? (double)hi : INT_MAX, &x, msg, msglen);
    if (!err)
        *out = (int)x;
    return err;
}

int weights_meta_double(const weights *w, const char *key, double lo, double hi, double *out,
                        char *msg, size_t msglen)
{
    return meta_number(w, key, 0, lo, hi, out, msg, msglen);
}

int weights_meta_choice(const weights *w, const char *key, const char *const *names, int n,
                        int *out, char *msg, size_t msglen)
{
    const char *v;
    int err = meta_value(w, key, &v, msg, msglen);
    if (err)
        return err;
    char want[256] = "";
    for (int i = 0; i < n; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
        size_t k = strlen(want);
        snprintf(want + k, sizeof want - k, "%s\"%s\"",
                 i == 0      ? ""
                 : i + 1 < n ? ", "
                             : " or ",
                 names[i]);
    }
    return bad_value(key, v, want, msg, msglen);
}

int weights_count(const weights *w)
{
    return w ? w->nt : 0;
}

const char *weights_name(const weights *w, int i)
{
    return (w && i >= 0 && i < w->nt) ? w->t[i].name : NULL;
}

int weights_meta_count(const weights *w)
{
    return w ? w->nm : 0;
}

const char *weights_meta_key(const weights *w, int i)
{
    return (w && i >= 0 && i < w->nm) ? w->m[i].key : NULL;
}

/* ---- loading ---- */

/* One tensor entry of the header, validated but not yet decoded. */
typedef struct {
    const char *name; /* points into the cJSON tree */
    int ndim;
    int64_t shape[WEIGHTS_MAX_DIMS];
    uint64_t count;
    uint64_t begin, end;
} span;

static int cmp_span_name(const void *a, const void *b)
{
    return strcmp(((const span *)a)->name, ((const span *)b)->name);
}

static int cmp_span_offset(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_meta_key(const void *a, const void *b)
{
    return strcmp(((const meta_kv *)a)->key, ((const meta_kv *)b)->key);
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double d = item->valuedouble;
    if (!(d >= 0 && d <= MAX_JSON_INT) || d != floor(d))
        return 0;
    *out = (uint64_t)d;
    return 1;
}

/* The entry's dtype, shape and data_offsets, each once (unknown keys are
 * ignored, as the reference does). */
static int entry_keys(const cJSON *e, const cJSON *f[3], const char *path, const char *nm,
                      char *msg, size_t msglen)
{
    static const char *const keys[3] = {"dtype", "shape", "data_offsets"};
    f[0] = f[1] = f[2] = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        for (int k = 0; k < 3; k++) {
            if (c->string && strcmp(c->string, keys[k]) == 0) {
                if (f[k])
                    return valar_fail(msg, msglen, VALAR_ERR_HEADER,
                                      "%s: tensor '%s': key \"%s\" appears twice", path, nm,
                                      keys[k]);
                f[k] = c;
            }
        }
    }
    for (int k = 0; k < 3; k++)
        if (!f[k])
            return valar_fail(msg, msglen, VALAR_ERR_HEADER, "%s: tensor '%s': missing \"%s\"",
                              path, nm, keys[k]);
    return VALAR_OK;
}

static int entry_dtype(const cJSON *dt, const char *path, const char *nm, char *msg, size_t msglen)
{
    if (!cJSON_IsString(dt))
        return valar_fail(msg, msglen, VALAR_ERR_DTYPE, "%s: tensor '%s': dtype is not a string",
                          path, nm);
    if (strcmp(dt->valuestring, "F32") != 0) {
        char sd[SHOW_LEN + 4];
        return valar_fail(msg, msglen, VALAR_ERR_DTYPE,
                          "%s: tensor '%s': dtype %s is not supported (valar reads F32 only)", path,
                          nm, show(dt->valuestring, sd));
    }
    return VALAR_OK;
}

static int entry_shape(const cJSON *sh, span *s, const char *path, const char *nm, char *msg,
                       size_t msglen)
{
    if (!cJSON_IsArray(sh))
        return valar_fail(msg, msglen, VALAR_ERR_SHAPE, "%s: tensor '%s': shape is not a list",
                          path, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > WEIGHTS_MAX_DIMS)
        return valar_fail(msg, msglen, VALAR_ERR_SHAPE,
                          "%s: tensor '%s': shape has %d dimensions (at most %d)", path, nm, nd,
                          WEIGHTS_MAX_DIMS);
    s->ndim = 0;
    for (const cJSON *c = sh->child; c; c = c->next) {
        uint64_t v;
        if (!json_uint(c, &v))
            return valar_fail(msg, msglen, VALAR_ERR_SHAPE,
                              "%s: tensor '%s': shape[%d] is not a non-negative integer", path, nm,
                              s->ndim);
        s->shape[s->ndim++] = (int64_t)v;
    }
    s->count = shape_count(s->ndim, s->shape, MAX_FILE_SIZE);
    return VALAR_OK;
}

/* data_offsets: in the data, and exactly the bytes the shape needs. */
static int entry_offsets(const cJSON *o, span *s, uint64_t data_size, const char *path,
                         const char *nm, char *msg, size_t msglen)
{
    if (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != 2 || !json_uint(o->child, &s->begin) ||
        !json_uint(o->child->next, &s->end))
        return valar_fail(
            msg, msglen, VALAR_ERR_OFFSETS,
            "%s: tensor '%s': data_offsets is not a list of two non-negative integers", path, nm);
    unsigned long long b = s->begin, en = s->end;
    if (b > en)
        return valar_fail(msg, msglen, VALAR_ERR_OFFSETS,
                          "%s: tensor '%s': data_offsets [%llu, %llu] begin after end", path, nm, b,
                          en);
    if (en > data_size)
        return valar_fail(msg, msglen, VALAR_ERR_OFFSETS,
                          "%s: tensor '%s': data_offsets [%llu, %llu] exceed data size %llu", path,
                          nm, b, en, (unsigned long long)data_size);
    if (s->count > MAX_FILE_SIZE || en - b != 4 * s->count) {
        char sh[256], need[48];
        format_shape(sh, sizeof sh, s->ndim, s->shape);
        if (s->count > MAX_FILE_SIZE)
            snprintf(need, sizeof need, "more than %llu", (unsigned long long)MAX_FILE_SIZE);
        else
            snprintf(need, sizeof need, "%llu", (unsigned long long)(4 * s->count));
        return valar_fail(
            msg, msglen, VALAR_ERR_OFFSETS,
            "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but F32 shape %s "
            "needs %s",
            path, nm, b, en, en - b, sh, need);
    }
    return VALAR_OK;
}

/* One tensor entry of the header, validated (s->name set by the caller). */
static int parse_entry(const cJSON *e, span *s, uint64_t data_size, const char *path, char *msg,
                       size_t msglen)
{
    char sn[SHOW_LEN + 4];
    const char *nm = show(s->name, sn);
    if (!s->name[0])
        return valar_fail(msg, msglen, VALAR_ERR_HEADER, "%s: empty tensor name", path);
    if (!cJSON_IsObject(e))
        return valar_fail(msg, msglen, VALAR_ERR_HEADER, "%s: tensor '%s': entry is not an object",
                          path, nm);
    const cJSON *f[3];
    int err;
    if ((err = entry_keys(e, f, path, nm, msg, msglen)) ||
        (err = entry_dtype(f[0], path, nm, msg, msglen)) ||
        (err = entry_shape(f[1], s, path, nm, msg, msglen)))
        return err;
    return entry_offsets(f[2], s, data_size, path, nm, msg, msglen);
}

/* Safetensors requires the data section to be covered exactly: tensors
 * sorted by offset must tile [0, data_size) with no overlap, gap or tail. */
static int check_coverage(span *sp, int n, uint64_t data_size, const char *path, char *msg,
                          size_t msglen)
{
    char s1[SHOW_LEN + 4], s2[SHOW_LEN + 4];
    qsort(sp, (size_t)n, sizeof *sp, cmp_span_offset);
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        if (sp[i].begin < pos)
            return valar_fail(
                msg, msglen, VALAR_ERR_OFFSETS,
                "%s: tensors '%s' data_offsets [%llu, %llu] and '%s' [%llu, %llu] overlap", path,
                show(sp[i - 1].name, s1), (unsigned long long)sp[i - 1].begin,
                (unsigned long long)sp[i - 1].end, show(sp[i].name, s2),
                (unsigned long long)sp[i].begin, (unsigned long long)sp[i].end);
        if (sp[i].begin > pos)
            return valar_fail(msg, msglen, VALAR_ERR_OFFSETS,
                              "%s: data bytes [%llu, %llu) before tensor '%s' belong to no tensor "
                              "(data_offsets must cover the data exactly)",
                              path, (unsigned long long)pos, (unsigned long long)sp[i].begin,
                              show(sp[i].name, s1));
        pos = sp[i].end;
    }
    if (pos != data_size)
        return valar_fail(msg, msglen, VALAR_ERR_OFFSETS,
                          "%s: data bytes [%llu, %llu) after the last tensor belong to no tensor "
                          "(data_offsets must cover the data exactly)",
                          path, (unsigned long long)pos, (unsigned long long)data_size);
    return VALAR_OK;
}

static int parse_metadata(const cJSON *md, weights *w, const char *path, char *msg, size_t msglen)
{
    char sk[SHOW_LEN + 4];
    if (!cJSON_IsObject(md))
        return valar_fail(msg, msglen, VALAR_ERR_HEADER, "%s: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(md);
    if (n == 0)
        return VALAR_OK;
    w->m = calloc((size_t)n, sizeof(meta_kv));
    if (!w->m)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    w->capm = n;
    for (const cJSON *c = md->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return valar_fail(msg, msglen, VALAR_ERR_HEADER,
                              "%s: __metadata__ value of '%s' is not a string", path,
                              show(c->string, sk));
        meta_kv *kv = &w->m[w->nm];
        kv->key = dupstr(c->string);
        kv->value = dupstr(c->valuestring);
        w->nm++;
        if (!kv->key || !kv->value)
            return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    }
    qsort(w->m, (size_t)w->nm, sizeof(meta_kv), cmp_meta_key);
    for (int i = 1; i < w->nm; i++)
        if (strcmp(w->m[i - 1].key, w->m[i].key) == 0)
            return valar_fail(msg, msglen, VALAR_ERR_HEADER,
                              "%s: __metadata__ key '%s' appears twice", path,
                              show(w->m[i].key, sk));
    return VALAR_OK;
}

/* The root's __metadata__ (NULL if none) and number of tensor entries. */
static int find_metadata(const cJSON *root, const cJSON **md, int *n, const char *path, char *msg,
                         size_t msglen)
{
    *md = NULL;
    *n = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0)
            ++*n;
        else if (*md)
            return valar_fail(msg, msglen, VALAR_ERR_HEADER, "%s: __metadata__ appears twice",
                              path);
        else
            *md = c;
    }
    return VALAR_OK;
}

/* Every tensor entry into sp[0..n), validated, unique and tiling the data;
 * sorted by name. */
static int parse_spans(const cJSON *root, const cJSON *md, span *sp, int n, uint64_t data_size,
                       const char *path, char *msg, size_t msglen)
{
    char sn[SHOW_LEN + 4];
    int k = 0, err = 0;
    for (const cJSON *c = root->child; c && !err; c = c->next) {
        if (c == md)
            continue;
        sp[k].name = c->string;
        err = parse_entry(c, &sp[k++], data_size, path, msg, msglen);
    }
    if (err)
        return err;
    qsort(sp, (size_t)n, sizeof *sp, cmp_span_name);
    for (int i = 1; i < n; i++)
        if (strcmp(sp[i - 1].name, sp[i].name) == 0)
            return valar_fail(msg, msglen, VALAR_ERR_HEADER, "%s: tensor '%s' appears twice", path,
                              show(sp[i].name, sn));
    if ((err = check_coverage(sp, n, data_size, path, msg, msglen)))
        return err;
    qsort(sp, (size_t)n, sizeof *sp, cmp_span_name);
    return VALAR_OK;
}

/* One tensor's values from the file, into t (added to w by the caller). */
static int decode(tensor *t, const span *sp, const unsigned char *data, const char *path, char *msg,
                  size_t msglen)
{
    char sn[SHOW_LEN + 4];
    t->name = dupstr(sp->name);
    t->data = malloc((sp->count ? sp->count : 1) * sizeof(float));
    if (!t->name || !t->data)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    t->ndim = sp->ndim;
    memcpy(t->shape, sp->shape, sizeof t->shape);
    t->count = (size_t)sp->count;
    const unsigned char *p = data + sp->begin;
    for (size_t j = 0; j < t->count; j++) {
        float v = get_lef32(p + 4 * j);
        if (!isfinite(v))
            return valar_fail(msg, msglen, VALAR_ERR_NONFINITE, "%s: tensor '%s': %s at index %zu",
                              path, show(t->name, sn),
                              isnan(v) ? "NaN"
                              : v > 0  ? "+Inf"
                                       : "-Inf",
                              j);
        t->data[j] = v;
    }
    return VALAR_OK;
}

/* Validate the header, then decode the tensors into w. */
static int parse_root(const cJSON *root, const unsigned char *data, uint64_t data_size, weights *w,
                      const char *path, char *msg, size_t msglen)
{
    const cJSON *md;
    int n, err = find_metadata(root, &md, &n, path, msg, msglen);
    if (!err && md)
        err = parse_metadata(md, w, path, msg, msglen);
    if (err)
        return err;
    span *sp = calloc(n ? (size_t)n : 1, sizeof(span));
    if (!sp)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    err = parse_spans(root, md, sp, n, data_size, path, msg, msglen);
    if (!err && !(w->t = calloc(n ? (size_t)n : 1, sizeof(tensor))))
        err = valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    if (!err)
        w->capt = n ? n : 1;
    for (int i = 0; i < n && !err; i++, w->nt++)
        err = decode(&w->t[i], &sp[i], data, path, msg, msglen);
    free(sp);
    return err;
}

/* The header's length from the first 8 bytes, checked against the file. */
static int header_length(const unsigned char *buf, uint64_t size, uint64_t *hlen, const char *path,
                         char *msg, size_t msglen)
{
    if (size == 0)
        return valar_fail(msg, msglen, VALAR_ERR_TRUNCATED, "%s: empty file", path);
    if (size < 8)
        return valar_fail(msg, msglen, VALAR_ERR_TRUNCATED,
                          "%s: file is %llu bytes, too short for the 8-byte header length", path,
                          (unsigned long long)size);
    *hlen = get_le64(buf);
    if (*hlen > MAX_HEADER_LEN)
        return valar_fail(
            msg, msglen, VALAR_ERR_HEADER,
            "%s: header length %llu is absurd (limit %llu bytes): not a safetensors file?", path,
            (unsigned long long)*hlen, (unsigned long long)MAX_HEADER_LEN);
    if (*hlen > size - 8)
        return valar_fail(msg, msglen, VALAR_ERR_TRUNCATED,
                          "%s: header length %llu exceeds the %llu bytes after the length field",
                          path, (unsigned long long)*hlen, (unsigned long long)(size - 8));
    if (*hlen < 2)
        return valar_fail(msg, msglen, VALAR_ERR_HEADER, "%s: header length %llu is too short",
                          path, (unsigned long long)*hlen);
    size_t bad = utf8_invalid_at(buf + 8, (size_t)*hlen);
    if (bad < *hlen)
        return valar_fail(msg, msglen, VALAR_ERR_HEADER,
                          "%s: header is not valid UTF-8 (byte %zu of the header)", path, bad);
    return VALAR_OK;
}

/* The header text (NUL-terminated, hlen bytes) as a JSON object in *root. */
static int parse_json(const char *text, size_t hlen, cJSON **root, const char *path, char *msg,
                      size_t msglen)
{
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, hlen, &end, 0);
    if (!*root) {
        size_t at = (end && end >= text && end <= text + hlen) ? (size_t)(end - text) : 0;
        return valar_fail(msg, msglen, VALAR_ERR_HEADER,
                          "%s: header is not valid JSON (error near byte %zu of the header)", path,
                          at);
    }
    /* The reference pads the header with spaces; anything else after the
     * JSON value is garbage. */
    for (const char *p = end; p < text + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return valar_fail(msg, msglen, VALAR_ERR_HEADER,
                              "%s: header has data after the JSON object (byte %zu of the header)",
                              path, (size_t)(p - text));
    if (!cJSON_IsObject(*root))
        return valar_fail(msg, msglen, VALAR_ERR_HEADER, "%s: header is not a JSON object", path);
    return VALAR_OK;
}

/* Parse a whole file image. */
static int parse_file(const unsigned char *buf, uint64_t size, weights *w, const char *path,
                      char *msg, size_t msglen)
{
    uint64_t hlen = 0;
    int err = header_length(buf, size, &hlen, path, msg, msglen);
    if (err)
        return err;
    /* A NUL-terminated copy: cJSON is then safe even if it looks past the
     * length it was given. */
    char *text = malloc((size_t)hlen + 1);
    if (!text)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    memcpy(text, buf + 8, (size_t)hlen);
    text[hlen] = '\0';
    cJSON *root = NULL;
    err = parse_json(text, (size_t)hlen, &root, path, msg, msglen);
    if (!err)
        err = parse_root(root, buf + 8 + hlen, size - 8 - hlen, w, path, msg, msglen);
    cJSON_Delete(root);
    free(text);
    return err;
}

int weights_load(const char *path, weights **out, char *msg, size_t msglen)
{
    if (msg && msglen)
        msg[0] = '\0';
    if (!out)
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "weights_load: invalid argument");
    *out = NULL;
    if (!path)
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "weights_load: no file name");

    FILE *f = fopen(path, "rb");
    if (!f)
        return valar_fail(msg, msglen, VALAR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return valar_fail(msg, msglen, VALAR_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size > MAX_FILE_SIZE) {
        fclose(f);
        return valar_fail(msg, msglen, VALAR_ERR_TOOBIG,
                          "%s: file is %llu bytes, more than the %llu a weight file may have", path,
                          (unsigned long long)size, (unsigned long long)MAX_FILE_SIZE);
    }
    unsigned char *buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        fclose(f);
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int rerr = ferror(f);
    int e = errno;
    fclose(f);
    if (rerr || got != size) {
        free(buf);
        if (rerr)
            return valar_fail(msg, msglen, VALAR_ERR_IO, "%s: read error: %s", path, strerror(e));
        return valar_fail(msg, msglen, VALAR_ERR_IO, "%s: file shrank while being read", path);
    }

    weights *w = weights_create();
    int err = w ? parse_file(buf, size, w, path, msg, msglen)
                : valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    free(buf);
    if (err) {
        weights_destroy(w);
        return err;
    }
    *out = w;
    return VALAR_OK;
}

/* ---- saving ---- */

static char *build_header(const weights *w, uint64_t *data_size)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->nm) {
        cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
        ok = md != NULL;
        for (int i = 0; ok && i < w->nm; i++)
            ok = cJSON_AddStringToObject(md, w->m[i].key, w->m[i].value) != NULL;
    }
    uint64_t off = 0;
    for (int i = 0; ok && i < w->nt; i++) {
        const tensor *t = &w->t[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *sh = e ? cJSON_CreateArray() : NULL;
        cJSON *of = e ? cJSON_CreateArray() : NULL;
        ok = e && sh && of && cJSON_AddStringToObject(e, "dtype", "F32");
        if (sh && !(ok && cJSON_AddItemToObject(e, "shape", sh))) {
            cJSON_Delete(sh);
            ok = 0;
        }
        if (of && !(ok && cJSON_AddItemToObject(e, "data_offsets", of))) {
            cJSON_Delete(of);
            ok = 0;
        }
        for (int k = 0; ok && k < t->ndim; k++)
            ok = cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[k]));
        uint64_t next = off + 4 * (uint64_t)t->count;
        ok = ok && cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off)) &&
             cJSON_AddItemToArray(of, cJSON_CreateNumber((double)next));
        off = next;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    *data_size = off;
    return text;
}

static int write_file(FILE *f, const weights *w, const char *hdr, size_t hlen, size_t padded)
{
    unsigned char buf[4096];
    put_le64(buf, padded);
    if (fwrite(buf, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen)
        return -1;
    memset(buf, ' ', padded - hlen);
    if (fwrite(buf, 1, padded - hlen, f) != padded - hlen)
        return -1;
    for (int i = 0; i < w->nt; i++) {
        const tensor *t = &w->t[i];
        size_t j = 0;
        while (j < t->count) {
            size_t n = t->count - j < sizeof buf / 4 ? t->count - j : sizeof buf / 4;
            for (size_t k = 0; k < n; k++)
                put_lef32(buf + 4 * k, t->data[j + k]);
            if (fwrite(buf, 4, n, f) != n)
                return -1;
            j += n;
        }
    }
    return 0;
}

int weights_save(const weights *w, const char *path, char *msg, size_t msglen)
{
    if (msg && msglen)
        msg[0] = '\0';
    if (!w || !path || !path[0])
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "weights_save: invalid argument");

    uint64_t data_size = 0;
    char *hdr = build_header(w, &data_size);
    if (!hdr)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "%s: out of memory", path);
    size_t hlen = strlen(hdr);
    size_t padded = (hlen + 7) & ~(size_t)7;
    if (padded > MAX_HEADER_LEN || 8 + padded + data_size > MAX_FILE_SIZE) {
        free(hdr);
        return valar_fail(msg, msglen, VALAR_ERR_TOOBIG,
                          "%s: %llu bytes of weights exceed the %llu a weight file may have", path,
                          (unsigned long long)(8 + padded + data_size),
                          (unsigned long long)MAX_FILE_SIZE);
    }
    atomicfile af;
    int err = atomicfile_open(&af, path, NULL, msg, msglen);
    if (!err)
        err = atomicfile_commit(&af, write_file(af.f, w, hdr, hlen, padded) == 0, msg, msglen);
    free(hdr);
    return err;
}
