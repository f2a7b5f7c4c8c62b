/* check: the failure counter the C tests share. CHECK reports a failed
 * condition with its place and a printf-style message and carries on, so one
 * run lists every failure; main ends with `return failures ? 1 : 0`. */
#ifndef VALAR_TEST_CHECK_H
#define VALAR_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#endif
