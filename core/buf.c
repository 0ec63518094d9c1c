/* buf.c — per-worker pool of fixed-size buffers (see buf.h). */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

void buf_pool_init(struct buf_pool *p, size_t max_spare)
{
    memset(p, 0, sizeof *p);
    p->max_spare = max_spare;
    p->spare = calloc(max_spare ? max_spare : 1, sizeof *p->spare);
    if (!p->spare)
        p->max_spare = 0;
    p->max_spare_big = max_spare * BUF_SIZE / BUF_BIG_SIZE;
    if (max_spare > 0 && p->max_spare_big == 0)
        p->max_spare_big = 1;
    p->spare_big = calloc(p->max_spare_big ? p->max_spare_big : 1, sizeof *p->spare_big);
    if (!p->spare_big)
        p->max_spare_big = 0;
}

void buf_pool_cleanup(struct buf_pool *p)
{
    for (size_t i = 0; i < p->n_spare; i++)
        free(p->spare[i]);
    for (size_t i = 0; i < p->n_spare_big; i++)
        free(p->spare_big[i]);
    free(p->spare);
    free(p->spare_big);
    memset(p, 0, sizeof *p);
}

static int take(struct buf_pool *p, struct buf *b, size_t size)
{
    if (b->data)
        return 0;
    void *block;
    if (size == BUF_BIG_SIZE)
        block = p->n_spare_big ? p->spare_big[--p->n_spare_big] : malloc(size);
    else
        block = p->n_spare ? p->spare[--p->n_spare] : malloc(size);
    if (!block) {
        p->n_fail++;
        return -1;
    }
    b->data = block;
    b->head = b->tail = 0;
    b->cap = size;
    p->n_alloc++;
    p->bytes += size;
    return 0;
}

int buf_take(struct buf_pool *p, struct buf *b)
{
    return take(p, b, BUF_SIZE);
}

int buf_take_big(struct buf_pool *p, struct buf *b)
{
    return take(p, b, BUF_BIG_SIZE);
}

void buf_drop(struct buf_pool *p, struct buf *b)
{
    if (!b->data)
        return;
    if (b->cap == BUF_BIG_SIZE && p->n_spare_big < p->max_spare_big)
        p->spare_big[p->n_spare_big++] = b->data;
    else if (b->cap == BUF_SIZE && p->n_spare < p->max_spare)
        p->spare[p->n_spare++] = b->data;
    else
        free(b->data);
    p->bytes -= b->cap;
    b->data = NULL;
    b->head = b->tail = b->cap = 0;
    p->n_alloc--;
}

void buf_release(struct buf_pool *p, struct buf *b)
{
    if (b->data && b->head == b->tail)
        buf_drop(p, b);
}

void buf_consume(struct buf *b, size_t n)
{
    b->head += n;
    if (b->head >= b->tail)
        b->head = b->tail = 0;
}

void buf_compact(struct buf *b)
{
    if (b->head == 0)
        return;
    memmove(b->data, b->data + b->head, b->tail - b->head);
    b->tail -= b->head;
    b->head = 0;
}
