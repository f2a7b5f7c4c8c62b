#include "optparse.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTS 96

/* The flag as the user typed it, for messages: "--jobs" or "-j". */
static void typed(const opt_def *d, char **argv, char *buf, size_t len)
{
    /* optarg is argv[optind - 1] when it was a word of its own, else part
     * of it ("--jobs=2", "-j2"). */
    const char *word = optarg && optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1];
    if (d->key && strncmp(word, "--", 2) != 0)
        snprintf(buf, len, "-%c", d->key);
    else
        snprintf(buf, len, "--%s", d->name);
}

static int number(const char *prog, const opt_def *d, const char *flag, const char *s)
{
    int integer = d->type != OPT_DOUBLE;
    char *end;
    errno = 0;
    long long iv = integer ? strtoll(s, &end, 10) : 0;
    double v = integer ? (double)iv : strtod(s, &end);
    if (!*s || *end || errno || !(v >= d->lo && v <= d->hi)) {
        fprintf(stderr, "%s: %s: '%s' is not %s in [%.15g, %.15g]\n", prog, flag, s,
                integer ? "an integer" : "a number", d->lo, d->hi);
        return -1;
    }
    if (d->type == OPT_INT)
        *(int *)d->dst = (int)iv;
    else if (d->type == OPT_LONG)
        *(long *)d->dst = (long)iv;
    else if (d->type == OPT_U64)
        *(uint64_t *)d->dst = (uint64_t)iv;
    else {
        *(double *)d->dst = v;
        if (d->dst2)
            *(double *)d->dst2 = v;
    }
    return 0;
}

/* The index of s among the |-separated words (each with ,-separated
 * synonyms), or -1; *n gets the number of words. */
static int word_index(const char *words, const char *s, int *n)
{
    int found = -1, k = 0;
    size_t len = strlen(s);
    for (const char *w = words; *w; k++) {
        size_t wl = strcspn(w, "|");
        for (const char *syn = w; syn < w + wl;) {
            size_t sl = strcspn(syn, ",|");
            if (found < 0 && sl == len && strncmp(syn, s, len) == 0)
                found = k;
            syn += sl + (syn[sl] == ',');
        }
        w += wl + (w[wl] == '|');
    }
    *n = k;
    return found;
}

static int choice(const char *prog, const opt_def *d, const char *s)
{
    int n, i = s ? word_index(d->words, s, &n) : 0;
    if (i >= 0) {
        *(int *)d->dst = (int)d->lo + i;
        return 0;
    }
    /* "unknown format 'xml' (csv, json or jsonl)", first synonyms only */
    char list[256] = "";
    const char *w = d->words;
    for (int k = 0; k < n; k++) {
        size_t at = strlen(list), wl = strcspn(w, "|"), first = strcspn(w, ",|");
        snprintf(list + at, sizeof list - at, "%s%.*s",
                 k == 0      ? ""
                 : k + 1 < n ? ", "
                             : " or ",
                 (int)first, w);
        w += wl + (w[wl] == '|');
    }
    fprintf(stderr, "%s: unknown %s '%s' (%s)\n", prog, d->what, s, list);
    return -1;
}

/* One option's argument into its place: 0, 1 (help) or -1. */
static int apply(const char *prog, const opt_def *d, char **argv)
{
    char flag[64] = "";
    if (d->type >= OPT_INT)
        typed(d, argv, flag, sizeof flag);
    switch (d->type) {
    case OPT_STRING:
        *(const char **)d->dst = optarg;
        return 0;
    case OPT_FLAG:
        *(int *)d->dst = 1;
        return 0;
    case OPT_SET:
        *(int *)d->dst = (int)d->lo;
        return 0;
    case OPT_COUNT:
        ++*(int *)d->dst;
        return 0;
    case OPT_CHOICE:
        return choice(prog, d, optarg);
    case OPT_LIST:
        if (*(int *)d->dst2 >= (int)d->hi) {
            fprintf(stderr, "%s: %s: at most %d\n", prog, flag, (int)d->hi);
            return -1;
        }
        ((const char **)d->dst)[(*(int *)d->dst2)++] = optarg;
        return 0;
    case OPT_HELP:
        return 1;
    default:
        return number(prog, d, flag, optarg);
    }
}

int optparse(const char *prog, int argc, char **argv, const opt_def *defs, int n)
{
    struct option lo[MAX_OPTS + 1];
    char shorts[3 * MAX_OPTS + 1], *sp = shorts;
    if (n > MAX_OPTS)
        abort(); /* a programming error */
    for (int i = 0; i < n; i++) {
        int has = defs[i].type == OPT_FLAG || defs[i].type == OPT_SET ||
                          defs[i].type == OPT_COUNT || defs[i].type == OPT_HELP
                      ? no_argument
                  : defs[i].optional ? optional_argument
                                     : required_argument;
        lo[i] = (struct option){defs[i].name, has, NULL, 256 + i};
        if (defs[i].key) {
            *sp++ = (char)defs[i].key;
            for (int k = 0; k < has; k++)
                *sp++ = ':';
        }
    }
    *sp = '\0';
    lo[n] = (struct option){0, 0, 0, 0};
    int c;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        int i = c >= 256 ? c - 256 : -1;
        for (int k = 0; i < 0 && c < 256 && k < n; k++)
            if (defs[k].key == c)
                i = k;
        if (i < 0 || i >= n)
            return -2; /* getopt said what is wrong */
        int r = apply(prog, &defs[i], argv);
        if (r)
            return r;
    }
    return 0;
}
