/* heap.c — heap gauge and trimming (see heap.h). */
#include "core/heap.h"

#include <malloc.h>
#include <time.h>

#include "core/log.h"

/* the CPU time of this thread: a call's cost without the time the
 * scheduler gave others meanwhile (on a loaded host, wall time made one
 * sample look slow and put the next off by a minute) */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void heap_init(struct heap_gauge *h, size_t trim_drop)
{
    *h = (struct heap_gauge){.trim_drop = trim_drop ? trim_drop : HEAP_TRIM_DROP_DEFAULT};
}

void heap_sample(struct heap_gauge *h)
{
    double t0 = cpu_now();
    struct mallinfo2 mi = mallinfo2();
    h->sample_cost = cpu_now() - t0;
    h->in_use = mi.uordblks + mi.hblkhd;
    h->free = mi.fordblks;
    if (h->in_use > h->peak_since_trim)
        h->peak_since_trim = h->in_use;
}

bool heap_tick(struct heap_gauge *h, double now)
{
    if (now < h->next_sample)
        return false;
    size_t before = h->in_use;
    heap_sample(h);
    double wait = h->sample_cost / HEAP_MAX_SHARE;
    h->next_sample = now + (wait < HEAP_SAMPLE_MAX_GAP_S ? wait : HEAP_SAMPLE_MAX_GAP_S);
    size_t drop = h->peak_since_trim - h->in_use;
    /* while sessions are still leaving in numbers, wait for the wave to
     * end: a trim in its middle would leave the rest, below trim_drop, kept */
    bool settled = h->in_use + h->trim_drop / 8 >= before;
    if (now < h->next_trim || drop < h->trim_drop || !settled)
        return false;
    double t0 = cpu_now();
    int gave = malloc_trim(0);
    double trim_cost = cpu_now() - t0;
    h->trims++;
    log_info("heap_trim", "in_use_kib=%zu peak_kib=%zu free_kib=%zu released=%d trim_cpu_ms=%.2f mallinfo_cpu_ms=%.2f",
             h->in_use >> 10, h->peak_since_trim >> 10, h->free >> 10, gave, trim_cost * 1e3,
             h->sample_cost * 1e3);
    double gap = trim_cost / HEAP_TRIM_MAX_SHARE;
    h->next_trim = now + (gap > HEAP_TRIM_MIN_GAP_S ? gap : HEAP_TRIM_MIN_GAP_S);
    h->peak_since_trim = h->in_use;
    return true;
}

static void watch_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct heap_watch *w = t->data;
    heap_tick(&w->g, ev_now(loop));
}

void heap_watch_start(struct heap_watch *w, struct ev_loop *loop, double every)
{
    heap_init(&w->g, 0);
    heap_sample(&w->g);
    ev_timer_init(&w->t, watch_cb, every, every);
    w->t.data = w;
    ev_timer_start(loop, &w->t);
}

void heap_watch_stop(struct heap_watch *w, struct ev_loop *loop)
{
    ev_timer_stop(loop, &w->t);
}
