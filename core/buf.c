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
}

void buf_pool_cleanup(struct buf_pool *p)
{
    for (size_t i = 0; i < p->n_spare; i++)
        free(p->spare[i]);
    free(p->spare);
    memset(p, 0, sizeof *p);
}

int buf_take(struct buf_pool *p, struct buf *b)
{
    if (b->data)
        return 0;
    void *block = p->n_spare ? p->spare[--p->n_spare] : malloc(BUF_SIZE);
    if (!block) {
        p->n_fail++;
        return -1;
    }
    b->data = block;
    b->head = b->tail = 0;
    p->n_alloc++;
    return 0;
}

void buf_drop(struct buf_pool *p, struct buf *b)
{
    if (!b->data)
        return;
    if (p->n_spare < p->max_spare)
        p->spare[p->n_spare++] = b->data;
    else
        free(b->data);
    b->data = NULL;
    b->head = b->tail = 0;
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
