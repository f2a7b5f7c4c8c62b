/* See alloc_count.c. For tests that link the counter in directly. */
#ifndef VALAR_ALLOC_COUNT_H
#define VALAR_ALLOC_COUNT_H
void valar_rt_enter(void);
void valar_rt_leave(void);
long alloc_count_sections(void);
long alloc_count_allocations(void); /* allocations + frees inside sections */
#endif
