#include "tools/sstp-bench/hist.h"

static size_t hist_index(uint64_t us)
{
    if (us < HIST_LIN_US)
        return (size_t)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us);
    if (e >= HIST_TOP_EXP)
        return HIST_N - 1;
    unsigned sub = (unsigned)(us >> (e - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1u);
    return HIST_LIN_US + (e - HIST_LIN_EXP) * (1u << HIST_SUB_BITS) + sub;
}

/* the middle of bucket i */
static uint64_t hist_value(size_t i)
{
    if (i < HIST_LIN_US)
        return i;
    size_t k = i - HIST_LIN_US;
    unsigned e = HIST_LIN_EXP + (unsigned)(k >> HIST_SUB_BITS);
    uint64_t sub = k & ((1u << HIST_SUB_BITS) - 1u);
    uint64_t step = 1ull << (e - HIST_SUB_BITS);
    return (((1ull << HIST_SUB_BITS) + sub) << (e - HIST_SUB_BITS)) + step / 2;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->n++;
}

void hist_merge(struct hist *to, const struct hist *from)
{
    for (size_t i = 0; i < HIST_N; i++)
        to->b[i] += from->b[i];
    to->n += from->n;
}

uint64_t hist_pct(const struct hist *h, double pct)
{
    if (h->n == 0)
        return 0;
    double want = pct / 100.0 * (double)h->n;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_N; i++) {
        seen += h->b[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return hist_value(HIST_N - 1);
}
