#include "ringbuf.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE 64

/* The indices count samples ever written/read and wrap only at SIZE_MAX + 1,
 * so write - read is the fill level even when it is exactly the capacity.
 * Each index lives on its own cache line so the producer and the consumer do
 * not invalidate each other's line on every store. */
struct ringbuf {
    alignas(CACHE_LINE) atomic_size_t write; /* stored by the producer only */
    alignas(CACHE_LINE) atomic_size_t read;  /* stored by the consumer only */
    alignas(CACHE_LINE) size_t capacity;     /* power of two */
    size_t mask;
    float *data;
};

static size_t round_pow2(size_t n)
{
    size_t c = 1;
    while (c < n) {
        if (c > SIZE_MAX / 2 / sizeof(float))
            return 0;
        c <<= 1;
    }
    return c;
}

ringbuf *ringbuf_create(size_t capacity)
{
    size_t cap = round_pow2(capacity ? capacity : 1);
    if (!cap)
        return NULL;
    ringbuf *rb = aligned_alloc(CACHE_LINE, sizeof *rb);
    if (!rb)
        return NULL;
    memset(rb, 0, sizeof *rb);
    rb->data = calloc(cap, sizeof *rb->data);
    if (!rb->data) {
        free(rb);
        return NULL;
    }
    rb->capacity = cap;
    rb->mask = cap - 1;
    atomic_init(&rb->write, 0);
    atomic_init(&rb->read, 0);
    return rb;
}

void ringbuf_destroy(ringbuf *rb)
{
    if (!rb)
        return;
    free(rb->data);
    free(rb);
}

size_t ringbuf_capacity(const ringbuf *rb)
{
    return rb->capacity;
}

/* Each side loads its own index relaxed (only it stores it) and the other
 * side's with acquire, pairing with that side's release store. */
size_t ringbuf_write_space(const ringbuf *rb)
{
    size_t w = atomic_load_explicit(&rb->write, memory_order_relaxed);
    size_t r = atomic_load_explicit(&rb->read, memory_order_acquire);
    return rb->capacity - (w - r);
}

size_t ringbuf_read_space(const ringbuf *rb)
{
    size_t w = atomic_load_explicit(&rb->write, memory_order_acquire);
    size_t r = atomic_load_explicit(&rb->read, memory_order_relaxed);
    return w - r;
}

size_t ringbuf_write(ringbuf *rb, const float *src, size_t n)
{
    size_t w = atomic_load_explicit(&rb->write, memory_order_relaxed);
    /* Acquire: the consumer has finished reading the slots it released. */
    size_t r = atomic_load_explicit(&rb->read, memory_order_acquire);
    size_t space = rb->capacity - (w - r);
    if (n > space)
        n = space;
    if (n == 0)
        return 0;
    size_t pos = w & rb->mask;
    size_t first = rb->capacity - pos < n ? rb->capacity - pos : n;
    memcpy(rb->data + pos, src, first * sizeof *src);
    if (n > first)
        memcpy(rb->data, src + first, (n - first) * sizeof *src);
    /* Release: the data above is visible before the new index is. */
    atomic_store_explicit(&rb->write, w + n, memory_order_release);
    return n;
}

size_t ringbuf_read(ringbuf *rb, float *dst, size_t n)
{
    size_t r = atomic_load_explicit(&rb->read, memory_order_relaxed);
    /* Acquire: pairs with the producer's release, so its data is visible. */
    size_t w = atomic_load_explicit(&rb->write, memory_order_acquire);
    size_t avail = w - r;
    if (n > avail)
        n = avail;
    if (n == 0)
        return 0;
    size_t pos = r & rb->mask;
    size_t first = rb->capacity - pos < n ? rb->capacity - pos : n;
    memcpy(dst, rb->data + pos, first * sizeof *dst);
    if (n > first)
        memcpy(dst + first, rb->data, (n - first) * sizeof *dst);
    /* Release: our reads of the slots finish before the producer reuses them. */
    atomic_store_explicit(&rb->read, r + n, memory_order_release);
    return n;
}
