/* proc.c — worker processes: how many connections each takes, and the
 * pipe that carries its result to the parent. */
#include "tools/sstp-bench/bench.h"

#include <errno.h>
#include <unistd.h>

unsigned share_of(unsigned total, unsigned i, unsigned n)
{
    return total / n + (i < total % n ? 1u : 0u);
}

int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

