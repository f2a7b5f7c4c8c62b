/* For benchmarks on a shared machine: the load they ran under. */
#ifndef VALAR_TEST_BENCH_LOAD_H
#define VALAR_TEST_BENCH_LOAD_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* "load average (1 min) at the WHEN: L on N CPUs" */
static inline void bench_print_load(const char *when)
{
    char buf[64] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, " ")] = 0;
    printf("load average (1 min) at the %s: %s on %ld CPUs\n", when, buf,
           (long)sysconf(_SC_NPROCESSORS_ONLN));
}

#endif
