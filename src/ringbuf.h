/* ringbuf: lock-free single-producer/single-consumer float ring buffer.
 *
 * One thread (the audio callback) writes, one thread (the worker) reads.
 * No locks, no allocation after ringbuf_create, no syscalls: safe to call
 * ringbuf_write from a real-time thread. Capacity is rounded up to a power
 * of two so that indices wrap with a mask. */
#ifndef VALAR_RINGBUF_H
#define VALAR_RINGBUF_H

#include <stddef.h>

typedef struct ringbuf ringbuf;

/* Capacity in samples (rounded up to a power of two). NULL on failure. */
ringbuf *ringbuf_create(size_t capacity);
void ringbuf_destroy(ringbuf *rb);

size_t ringbuf_capacity(const ringbuf *rb);
/* Samples that can be written now (producer side). */
size_t ringbuf_write_space(const ringbuf *rb);
/* Samples that can be read now (consumer side). */
size_t ringbuf_read_space(const ringbuf *rb);

/* Write up to n samples; returns the number written (less than n when full:
 * the caller counts the rest as an overrun, it never blocks). Producer only. */
size_t ringbuf_write(ringbuf *rb, const float *src, size_t n);
/* Read up to n samples; returns the number read. Consumer only. */
size_t ringbuf_read(ringbuf *rb, float *dst, size_t n);

#endif
