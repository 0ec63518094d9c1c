/* heap.h — a gauge of the process heap (glibc malloc), and giving freed
 * memory back to the kernel.
 *
 * glibc keeps what a process frees: after thousands of sessions leave, the
 * freed chunks sit in its free lists and the RSS stays where it peaked. A
 * daemon calls heap_tick from a periodic timer: it samples mallinfo2
 * (bytes in use, bytes free inside the heap) and, when the bytes in use
 * fell by at least `trim_drop` from their highest since the last trim (many
 * sessions closed) and stopped falling fast (the wave of closes is over),
 * calls malloc_trim(0), which returns the free pages to the kernel. Both
 * calls walk every free chunk of every arena (mallinfo2 0.1 ms of CPU at
 * 5,000 sessions, a trim releasing 75 MB 10 ms; up to ten times more wall
 * time on a loaded host), blocking the loop, so each is spaced by its own
 * measured CPU cost: at most HEAP_MAX_SHARE of the time
 * goes to sampling, HEAP_TRIM_MAX_SHARE to trims (rare: after a drop). */
#ifndef SSTP_LB_CORE_HEAP_H
#define SSTP_LB_CORE_HEAP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* at most these shares of the time spent sampling, and trimming */
#define HEAP_MAX_SHARE 0.002
#define HEAP_TRIM_MAX_SHARE 0.01
/* a sample at least this often, whatever it costs */
#define HEAP_SAMPLE_MAX_GAP_S 10.0
/* no trim sooner than this after the last one, whatever it cost */
#define HEAP_TRIM_MIN_GAP_S 5.0
/* the default trim_drop: what some 500 idle TLS sessions hold */
#define HEAP_TRIM_DROP_DEFAULT (8u << 20)

struct heap_gauge {
    size_t in_use;          /* last sample: bytes allocated (heap and mmap'ed chunks) */
    size_t free;            /* last sample: free bytes inside the heap (trimmed pages included) */
    size_t peak_since_trim; /* most bytes in use seen since the last trim */
    size_t trim_drop;       /* a fall of in_use from its peak that calls for a trim */
    uint64_t trims;         /* malloc_trim calls made */
    double sample_cost;     /* CPU seconds the last mallinfo2 took */
    double next_sample;     /* clock time before which heap_tick does not sample */
    double next_trim;       /* ... nor trim */
};

/* heap_init: trim_drop 0 = HEAP_TRIM_DROP_DEFAULT. */
void heap_init(struct heap_gauge *h, size_t trim_drop);

/* heap_tick samples (when due; `now` in seconds, any monotonic clock) and
 * trims if the heap shrank enough. Returns true when it trimmed. */
bool heap_tick(struct heap_gauge *h, double now);

/* heap_sample reads mallinfo2 into h now (no spacing). */
void heap_sample(struct heap_gauge *h);

/* heap_watch: a gauge ticked by its own timer every `every` seconds, for a
 * daemon without a periodic timer of its own (sstp-backend). */
struct heap_watch {
    struct heap_gauge g;
    ev_timer t;
};
void heap_watch_start(struct heap_watch *w, struct ev_loop *loop, double every);
void heap_watch_stop(struct heap_watch *w, struct ev_loop *loop);

#endif
