/* buf.h — fixed-size byte buffers from a per-worker free list.
 *
 * A connection takes a buffer when bytes arrive and gives it back when it
 * has drained, so an idle connection holds none (the pool keeps a bounded
 * number of spare blocks and frees the rest). Buffers never grow:
 * back-pressure stops the reader when one is full. Two block sizes: the
 * standard one, and a big one for bulk relaying, where each system call
 * (and each TCP segment over loopback) costs about as much as copying
 * 16 KiB, so moving 64 KiB per call is what keeps a relay cheap per byte. */
#ifndef SSTP_LB_CORE_BUF_H
#define SSTP_LB_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUF_SIZE 16384     /* one TLS record's worth of plaintext */
#define BUF_BIG_SIZE 65536 /* four records: one read or send moves this much when busy */

struct buf {
    uint8_t *data;  /* NULL: no storage held */
    size_t head;    /* first unread byte */
    size_t tail;    /* one past the last written byte */
    size_t cap;     /* bytes at data: BUF_SIZE or BUF_BIG_SIZE (0 without storage) */
};

struct buf_pool {
    void **spare;         /* free blocks of BUF_SIZE */
    size_t n_spare, max_spare;
    void **spare_big;     /* free blocks of BUF_BIG_SIZE, as many bytes at most */
    size_t n_spare_big, max_spare_big;
    uint64_t n_alloc;     /* blocks handed out right now (either size) */
    size_t bytes;         /* bytes of the blocks handed out right now (memory budgets) */
    uint64_t n_fail;      /* allocation failures */
};

/* buf_pool_init: keeps up to max_spare free standard blocks, and big ones
 * up to the same number of bytes. */
void buf_pool_init(struct buf_pool *p, size_t max_spare);
void buf_pool_cleanup(struct buf_pool *p);

/* buf_take gives b a standard block if it has none (a block it holds, of
 * either size, stays). Returns 0, or -1 if memory ran out. */
int buf_take(struct buf_pool *p, struct buf *b);
/* buf_take_big: the same with a big block. */
int buf_take_big(struct buf_pool *p, struct buf *b);
/* buf_release returns b's storage to the pool if b is empty. */
void buf_release(struct buf_pool *p, struct buf *b);
/* buf_drop returns b's storage whatever it holds (connection closing). */
void buf_drop(struct buf_pool *p, struct buf *b);

static inline size_t buf_len(const struct buf *b) { return b->tail - b->head; }
static inline size_t buf_room(const struct buf *b) { return b->data ? b->cap - b->tail : 0; }
static inline uint8_t *buf_rptr(const struct buf *b) { return b->data + b->head; }
static inline uint8_t *buf_wptr(const struct buf *b) { return b->data + b->tail; }
/* buf_full: b holds storage and no byte more fits, even after compacting. */
static inline bool buf_full(const struct buf *b) { return b->data && buf_len(b) >= b->cap; }
/* buf_consume marks n bytes read; an emptied buffer restarts at 0. */
void buf_consume(struct buf *b, size_t n);
/* buf_compact moves unread bytes to the front to make room at the tail. */
void buf_compact(struct buf *b);

#endif
