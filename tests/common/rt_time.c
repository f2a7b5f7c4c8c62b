/* Real-time section timer for benchmarks.
 *
 * Build as a shared object and LD_PRELOAD it into a process running valar's
 * real-time code (valar listen): it defines the hooks of src/rtcheck.h and
 * records how long every section between valar_rt_enter() and
 * valar_rt_leave() took, in wall-clock time (CLOCK_MONOTONIC: preemption
 * included, which is what the audio deadline sees) and in the thread's CPU
 * time (the work itself). Durations go into fixed histograms of 0.1 us bins
 * up to 20 ms (longer ones in the last bin, their maximum kept exactly):
 * no allocation and no lock on the real-time thread. Sections must not
 * overlap in time (one real-time thread, as valar listen has). At exit it
 * writes one line
 *     sections=<n> wall_us p50=.. p90=.. p99=.. p99.9=.. max=.. cpu_us p50=.. ...
 * to the file named by $RT_TIME_OUT (or stderr). Not for sanitizer builds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BIN_NS 100
#define NBINS 200000 /* 20 ms */

typedef struct {
    uint64_t bins[NBINS];
    uint64_t max_ns;
} histogram;

static histogram wall, cpu;
static uint64_t sections;
static struct timespec wall0, cpu0;

/* Touch every page of the histograms now: a bin first reached in a real-time
 * section would otherwise fault a page in there, and the process's anonymous
 * memory would grow by a page each time (the soak benchmark watches it). */
__attribute__((constructor)) static void prefault(void)
{
    volatile uint64_t *p[2] = {wall.bins, cpu.bins};
    for (int h = 0; h < 2; h++)
        for (size_t i = 0; i < NBINS; i += 512)
            p[h][i] = 0;
}

static uint64_t ns_since(clockid_t clock, const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000000000u + (uint64_t)(t.tv_nsec - t0->tv_nsec);
}

static void add(histogram *h, uint64_t ns)
{
    uint64_t b = ns / BIN_NS;
    h->bins[b < NBINS ? b : NBINS - 1]++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

/* Real-time thread. */
void valar_rt_enter(void)
{
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
    clock_gettime(CLOCK_MONOTONIC, &wall0);
}

/* Real-time thread. */
void valar_rt_leave(void)
{
    uint64_t w = ns_since(CLOCK_MONOTONIC, &wall0);
    add(&cpu, ns_since(CLOCK_THREAD_CPUTIME_ID, &cpu0));
    add(&wall, w);
    sections++;
}

/* The q-quantile in microseconds (upper edge of its bin). */
static double quantile(const histogram *h, uint64_t n, double q)
{
    uint64_t want = (uint64_t)(q * (double)n), seen = 0;
    for (uint64_t b = 0; b < NBINS; b++) {
        seen += h->bins[b];
        if (seen > want)
            return b == NBINS - 1 ? h->max_ns / 1000.0 : (double)(b + 1) * BIN_NS / 1000.0;
    }
    return h->max_ns / 1000.0;
}

static void print(FILE *f, const char *name, const histogram *h)
{
    fprintf(f, " %s_us p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f", name,
            quantile(h, sections, 0.5), quantile(h, sections, 0.9), quantile(h, sections, 0.99),
            quantile(h, sections, 0.999), h->max_ns / 1000.0);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("RT_TIME_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    FILE *o = f ? f : stderr;
    fprintf(o, "sections=%llu", (unsigned long long)sections);
    print(o, "wall", &wall);
    print(o, "cpu", &cpu);
    fputc('\n', o);
    if (f)
        fclose(f);
}
