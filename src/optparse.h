/* optparse: a program's options as a table, parsed with getopt_long.
 *
 * Each row names an option, where its value goes and what values it takes;
 * numbers are checked against their range and choices against their words,
 * and a bad value is reported as "PROG: --flag: 'value' is not an integer
 * in [1, 16]" (the flag as typed: -j or --jobs). valar analyze, valar
 * listen and valar-train all parse this way. */
#ifndef VALAR_OPTPARSE_H
#define VALAR_OPTPARSE_H

#include <stdint.h>

typedef enum {
    OPT_STRING, /* const char *: the argument */
    OPT_FLAG,   /* int: 1 */
    OPT_SET,    /* int: (int)lo (--no-midi sets 0, -0 sets '\0') */
    OPT_COUNT,  /* int: one more each time (-v -v) */
    OPT_INT,    /* int: an integer in [lo, hi] */
    OPT_LONG,   /* long: an integer in [lo, hi] */
    OPT_U64,    /* uint64_t: an integer in [lo, hi] */
    OPT_DOUBLE, /* double: a number in [lo, hi]; also into dst2 when not NULL */
    OPT_CHOICE, /* int: lo + the index of the argument in words */
    OPT_LIST,   /* const char *[hi], with the count in (int *)dst2: appended */
    OPT_HELP,   /* optparse returns 1 (the caller prints the help) */
} opt_type;

typedef struct {
    const char *name; /* long name, without "--" */
    int key;          /* short option letter, or 0 */
    opt_type type;
    void *dst, *dst2;
    double lo, hi;
    /* OPT_CHOICE: "csv|json|jsonl"; a word may have synonyms: "01,0..1".
     * The first word is taken when the argument is optional and absent. */
    const char *words;
    const char *what; /* OPT_CHOICE: what is chosen ("format"), for messages */
    int optional;     /* the argument is optional (--stdout[=FMT]) */
} opt_def;

/* Parse argv[optind..] (set optind first: 1, or 2 after a subcommand). 0
 * with optind at the first operand; 1 at --help; -1 after a bad value, said
 * on stderr as "PROG: ..."; -2 after an option getopt refused (unknown, or
 * without its argument: getopt said which). */
int optparse(const char *prog, int argc, char **argv, const opt_def *defs, int n);

#endif
