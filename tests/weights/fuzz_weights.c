/* Corruption test: damage a valid weight file in many ways (bit flips, JSON
 * punctuation and digits in the header, truncation, length-field changes,
 * inserted and deleted bytes) and check that every load either succeeds with
 * readable tensors or fails cleanly: negative code, NULL object, one-line
 * message naming the file. Meant to run under ASan/UBSan, which turn any
 * out-of-bounds read into a failure.
 *
 * usage: fuzz_weights WORKDIR [ITERATIONS [SEED]] */
#include "weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/testrng.h"

static uint32_t rng_state = 0x9E3779B9u;

/* 64 random bits (header lengths of any size). */
static uint64_t rnd(void)
{
    uint64_t hi = test_rand(&rng_state);
    return hi << 32 | test_rand(&rng_state);
}

/* 0 .. n-1, deterministic for a given seed. */
static size_t below(size_t n)
{
    return n ? (size_t)(test_rand(&rng_state) % n) : 0;
}

static int write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void set_len(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* Mutate buf (length *n, capacity cap) once; hlen is the original header
 * length, so most edits land where the parser works hardest. */
static void mutate(unsigned char *b, size_t *n, size_t cap, size_t hlen)
{
    static const char punct[] = "{}[]\",:0123456789-+.eE \\ntfaluF32_";
    size_t len = *n;
    size_t hend = 8 + hlen < len ? 8 + hlen : len;
    switch (below(8)) {
    case 0: /* flip bits anywhere */
        for (int k = 1 + (int)below(3); k > 0 && len; k--)
            b[below(len)] ^= (unsigned char)(1u << below(8));
        break;
    case 1: /* JSON-ish byte in the header */
    case 2:
        for (int k = 1 + (int)below(2); k > 0 && hend > 8; k--)
            b[8 + below(hend - 8)] = (unsigned char)punct[below(sizeof punct - 1)];
        break;
    case 3: /* truncate */
        *n = below(len + 1);
        break;
    case 4: /* length field: near the truth, or random */
        if (below(2))
            set_len(b, hlen + below(33) - 16);
        else
            set_len(b, rnd() >> below(64));
        break;
    case 5: { /* delete a header range, keep the length consistent */
        if (hend <= 9)
            break;
        size_t at = 8 + below(hend - 8), k = 1 + below(8);
        if (at + k > hend)
            k = hend - at;
        memmove(b + at, b + at + k, len - at - k);
        *n = len - k;
        set_len(b, hlen - k);
        break;
    }
    case 6: { /* insert bytes into the header, keep the length consistent */
        size_t k = 1 + below(8);
        if (len + k > cap || hend <= 8)
            break;
        size_t at = 8 + below(hend - 8);
        memmove(b + at + k, b + at, len - at);
        for (size_t i = 0; i < k; i++)
            b[at + i] = (unsigned char)punct[below(sizeof punct - 1)];
        *n = len + k;
        set_len(b, hlen + k);
        break;
    }
    default: /* damage the data section: may create NaN/Inf */
        if (len > hend) {
            size_t at = hend + below(len - hend);
            b[at] = (unsigned char)(below(2) ? 0xff : rnd());
        }
        break;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s WORKDIR [ITERATIONS [SEED]]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    long iters = argc > 2 ? atol(argv[2]) : 4000;
    if (argc > 3)
        rng_state = (uint32_t)strtoull(argv[3], NULL, 0) * 2 + 1; /* never 0 */
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    char base[4096], path[4096], msg[512];
    snprintf(base, sizeof base, "%s/base.safetensors", dir);
    snprintf(path, sizeof path, "%s/fuzzed.safetensors", dir);

    /* A small model-like file with every kind of tensor. */
    weights *w = weights_create();
    float d[64];
    for (int i = 0; i < 64; i++)
        d[i] = (float)i * 0.25f - 4.0f;
    int64_t s4[4] = {2, 1, 3, 3}, s1[1] = {8}, s0[3] = {4, 0, 2}, s2[2] = {3, 5};
    int e = weights_add(w, "conv.weight", 4, s4, d) | weights_add(w, "conv.bias", 1, s1, d + 3) |
            weights_add(w, "empty", 3, s0, NULL) | weights_add(w, "gain", 0, NULL, d + 9) |
            weights_add(w, "gru.w", 2, s2, d + 20) | weights_set_meta(w, "kind", "offline") |
            weights_set_meta(w, "format", "valar");
    if (e || weights_save(w, base, msg, sizeof msg)) {
        fprintf(stderr, "FAIL: cannot build base file: %s\n", msg);
        return 1;
    }
    weights_destroy(w);

    FILE *f = fopen(base, "rb");
    unsigned char orig[8192];
    size_t olen = f ? fread(orig, 1, sizeof orig, f) : 0;
    if (f)
        fclose(f);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | orig[i];
    if (olen < 8 || hlen > olen) {
        fprintf(stderr, "FAIL: base file unreadable\n");
        return 1;
    }

    unsigned char buf[8192 + 256];
    long ok = 0, failures = 0, by_code[1 - VALAR_ERR_LAST] = {0};
    for (long it = 0; it < iters; it++) {
        size_t n = olen;
        memcpy(buf, orig, olen);
        for (int k = 1 + (int)below(3); k > 0; k--)
            mutate(buf, &n, sizeof buf, (size_t)hlen);
        if (write_file(path, buf, n) != 0) {
            fprintf(stderr, "FAIL: cannot write %s\n", path);
            return 1;
        }
        weights *r = (weights *)1;
        msg[0] = '\0';
        int err = weights_load(path, &r, msg, sizeof msg);
        if (err == 0) {
            /* Touch every value and name: ASan checks the bounds. */
            volatile float sum = 0;
            int good = r != NULL;
            for (int i = 0; good && i < weights_count(r); i++) {
                int nd = -1;
                int64_t sh[WEIGHTS_MAX_DIMS];
                const float *t = weights_get(r, weights_name(r, i), &nd, sh);
                good = t && nd >= 0 && nd <= WEIGHTS_MAX_DIMS;
                int64_t cnt = 1;
                for (int j = 0; good && j < nd; j++)
                    cnt *= sh[j];
                for (int64_t j = 0; good && j < cnt; j++)
                    sum += t[j];
            }
            for (int i = 0; good && i < weights_meta_count(r); i++)
                good = weights_meta(r, weights_meta_key(r, i)) != NULL;
            if (!good) {
                fprintf(stderr, "FAIL: iteration %ld: loaded but inconsistent\n", it);
                failures++;
            }
            weights_destroy(r);
            ok++;
        } else {
            int clean = err < 0 && err >= VALAR_ERR_LAST && r == NULL &&
                        strstr(msg, path) != NULL && strchr(msg, '\n') == NULL &&
                        strlen(msg) > strlen(path) + 2;
            if (!clean) {
                fprintf(stderr, "FAIL: iteration %ld: err %d, msg \"%s\"\n", it, err, msg);
                failures++;
                char keep[4200];
                snprintf(keep, sizeof keep, "%s/fail-%ld.safetensors", dir, it);
                write_file(keep, buf, n);
            }
            if (err < 0 && err >= VALAR_ERR_LAST)
                by_code[-err]++;
        }
    }
    printf("%ld iterations: %ld loaded, %ld rejected", iters, ok, iters - ok);
    int kinds = 0;
    for (int c = 1; c <= -VALAR_ERR_LAST; c++) {
        if (by_code[c]) {
            printf(", %s: %ld", valar_strerror(-c), by_code[c]);
            kinds++;
        }
    }
    printf("\n");
    /* The mutations must actually reach the deeper checks. */
    if (iters >= 1000 && kinds < 5) {
        fprintf(stderr, "FAIL: only %d kinds of error seen\n", kinds);
        failures++;
    }
    unlink(path);
    unlink(base);
    return failures ? 1 : 0;
}
