/* ringbuf: single-threaded edge cases, then a two-thread hammer test that
 * pushes a counting sequence through a small buffer with random chunk sizes
 * on both sides and checks every sample arrives once, in order.
 * Usage: test_ringbuf [samples] (default 20 million). */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ringbuf.h"

#include "check.h"
#include "testrng.h"

/* Floats hold integers exactly up to 2^24; the sequence wraps there, which
 * is far more than the capacity so a lost or repeated block still shows. */
#define SEQ_MOD (1u << 24)

static float seq(uint64_t i)
{
    return (float)(uint32_t)(i % SEQ_MOD);
}


static void test_capacity(void)
{
    static const size_t ask[][2] = {{1, 1},       {2, 2},       {3, 4}, {1000, 1024},
                                    {1024, 1024}, {1025, 2048}, {0, 1}};
    for (size_t i = 0; i < sizeof ask / sizeof ask[0]; i++) {
        ringbuf *rb = ringbuf_create(ask[i][0]);
        CHECK(rb != NULL, "create(%zu) failed", ask[i][0]);
        if (!rb)
            continue;
        CHECK(ringbuf_capacity(rb) == ask[i][1], "capacity(%zu) = %zu, want %zu", ask[i][0],
              ringbuf_capacity(rb), ask[i][1]);
        CHECK(ringbuf_write_space(rb) == ask[i][1], "empty write space %zu",
              ringbuf_write_space(rb));
        CHECK(ringbuf_read_space(rb) == 0, "empty read space %zu", ringbuf_read_space(rb));
        ringbuf_destroy(rb);
    }
    CHECK(ringbuf_create(SIZE_MAX) == NULL, "create(SIZE_MAX) should fail");
    ringbuf_destroy(NULL);
}

static void test_full_empty(void)
{
    ringbuf *rb = ringbuf_create(100); /* 128 */
    float in[300], out[300];
    for (int i = 0; i < 300; i++)
        in[i] = (float)i;

    CHECK(ringbuf_read(rb, out, 10) == 0, "read from empty returned non-zero");
    CHECK(ringbuf_write(rb, in, 300) == 128, "write into empty should stop at capacity");
    CHECK(ringbuf_write_space(rb) == 0, "full: write space %zu", ringbuf_write_space(rb));
    CHECK(ringbuf_read_space(rb) == 128, "full: read space %zu", ringbuf_read_space(rb));
    CHECK(ringbuf_write(rb, in, 1) == 0, "write into full returned non-zero");

    /* Read part, then write across the wrap point and check both pieces. */
    CHECK(ringbuf_read(rb, out, 100) == 100, "partial read");
    for (int i = 0; i < 100; i++)
        CHECK(out[i] == (float)i, "out[%d] = %g", i, out[i]);
    CHECK(ringbuf_write(rb, in + 128, 150) == 100, "write after partial read: short count");
    CHECK(ringbuf_read(rb, out, 300) == 128, "read all");
    for (int i = 0; i < 128; i++)
        CHECK(out[i] == (float)(100 + i), "wrapped out[%d] = %g", i, out[i]);
    CHECK(ringbuf_read(rb, out, 1) == 0, "read after drain returned non-zero");
    CHECK(ringbuf_write(rb, in, 0) == 0 && ringbuf_read(rb, out, 0) == 0, "zero-length calls");
    ringbuf_destroy(rb);
}

typedef struct {
    ringbuf *rb;
    uint64_t total;
    uint32_t seed;
    uint64_t stalls; /* short writes (producer) or empty reads (consumer) */
    uint64_t errors;
    uint64_t first_bad;
} side;

#define MAX_CHUNK 1500 /* larger than the capacity on purpose */

static void *producer(void *p)
{
    side *s = p;
    float buf[MAX_CHUNK];
    uint64_t i = 0;
    while (i < s->total) {
        size_t n = 1 + test_rand(&s->seed) % MAX_CHUNK;
        if (n > s->total - i)
            n = (size_t)(s->total - i);
        for (size_t k = 0; k < n; k++)
            buf[k] = seq(i + k);
        size_t done = 0;
        while (done < n) {
            size_t got = ringbuf_write(s->rb, buf + done, n - done);
            if (got < n - done) {
                s->stalls++;
                if (got == 0)
                    sched_yield();
            }
            done += got;
        }
        i += n;
    }
    return NULL;
}

static void *consumer(void *p)
{
    side *s = p;
    float buf[MAX_CHUNK];
    uint64_t i = 0;
    while (i < s->total) {
        size_t n = 1 + test_rand(&s->seed) % MAX_CHUNK;
        size_t got = ringbuf_read(s->rb, buf, n);
        if (got == 0) {
            s->stalls++;
            sched_yield();
            continue;
        }
        for (size_t k = 0; k < got; k++, i++) {
            if (buf[k] != seq(i)) {
                if (!s->errors)
                    s->first_bad = i;
                s->errors++;
            }
        }
    }
    return NULL;
}

static void test_hammer(uint64_t total)
{
    ringbuf *rb = ringbuf_create(1024);
    side prod = {rb, total, 0x9e3779b9u, 0, 0, 0};
    side cons = {rb, total, 0x7f4a7c15u, 0, 0, 0};
    pthread_t tp, tc;
    CHECK(pthread_create(&tc, NULL, consumer, &cons) == 0, "pthread_create");
    CHECK(pthread_create(&tp, NULL, producer, &prod) == 0, "pthread_create");
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    CHECK(cons.errors == 0, "%llu samples out of sequence, first at index %llu",
          (unsigned long long)cons.errors, (unsigned long long)cons.first_bad);
    float extra;
    CHECK(ringbuf_read(rb, &extra, 1) == 0, "samples left over after the sequence");
    /* The test only means something if both sides actually hit the edges. */
    CHECK(prod.stalls > 0, "producer never found the buffer full");
    CHECK(cons.stalls > 0, "consumer never found the buffer empty");
    printf("hammer: %llu samples, %llu short writes, %llu empty reads, %llu errors\n",
           (unsigned long long)total, (unsigned long long)prod.stalls,
           (unsigned long long)cons.stalls, (unsigned long long)cons.errors);
    ringbuf_destroy(rb);
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000u;
    test_capacity();
    test_full_empty();
    test_hammer(total);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
