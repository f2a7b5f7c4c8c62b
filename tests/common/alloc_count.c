/* Allocation counter for real-time-safety tests.
 *
 * Build as a shared object and LD_PRELOAD it into any process (valar listen,
 * lv2apply, jalv): it interposes the allocator, and defines the hooks of
 * src/rtcheck.h so that code between valar_rt_enter() and valar_rt_leave()
 * on a thread is "real-time". At exit it writes
 *     sections=<n> allocations=<n> frees=<n>
 * to the file named by $ALLOC_COUNT_OUT (or stderr), where sections counts
 * entered real-time sections and allocations/frees count calls made inside
 * them. Not for sanitizer builds (ASan owns malloc). */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static __thread int in_rt __attribute__((tls_model("initial-exec")));
static atomic_long sections, allocs, frees;

void valar_rt_enter(void)
{
    in_rt = 1;
    atomic_fetch_add(&sections, 1);
}

void valar_rt_leave(void)
{
    in_rt = 0;
}

static inline void count_alloc(void)
{
    if (in_rt)
        atomic_fetch_add(&allocs, 1);
}

void *malloc(size_t n)
{
    count_alloc();
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    count_alloc();
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    count_alloc();
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (in_rt && p)
        atomic_fetch_add(&frees, 1);
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    count_alloc();
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    count_alloc();
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    count_alloc();
    void *p = __libc_memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

long alloc_count_sections(void)
{
    return atomic_load(&sections);
}

long alloc_count_allocations(void)
{
    return atomic_load(&allocs) + atomic_load(&frees);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("ALLOC_COUNT_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    fprintf(f ? f : stderr, "sections=%ld allocations=%ld frees=%ld\n", atomic_load(&sections),
            atomic_load(&allocs), atomic_load(&frees));
    if (f)
        fclose(f);
}
