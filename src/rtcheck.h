/* rtcheck: hooks around real-time code (audio callbacks, LV2 run()).
 *
 * Normal builds: valar_rt_enter/valar_rt_leave are undefined weak symbols
 * and these calls are a test and a branch. The allocation-counting test
 * library (tests/common/alloc_count.c, LD_PRELOADed) defines them and counts
 * every malloc/free made by the calling thread between the two calls. */
#ifndef VALAR_RTCHECK_H
#define VALAR_RTCHECK_H

void valar_rt_enter(void) __attribute__((weak));
void valar_rt_leave(void) __attribute__((weak));

static inline void rtcheck_enter(void)
{
    if (valar_rt_enter)
        valar_rt_enter();
}

static inline void rtcheck_leave(void)
{
    if (valar_rt_leave)
        valar_rt_leave();
}

#endif
