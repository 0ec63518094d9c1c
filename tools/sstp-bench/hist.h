/* hist.h — a latency histogram in microseconds: exact below 1 ms, then 64
 * buckets per doubling (at most 1.6 % error); mergeable across processes
 * (a plain struct, sent through a pipe). */
#ifndef SSTP_LB_TOOLS_SSTP_BENCH_HIST_H
#define SSTP_LB_TOOLS_SSTP_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_LIN_EXP  10u                 /* exact 1 µs buckets below 1024 µs */
#define HIST_LIN_US   (1u << HIST_LIN_EXP)
#define HIST_SUB_BITS 6u                  /* 64 buckets per doubling: <= 1.6 % error */
#define HIST_TOP_EXP  40u                 /* >= 2^40 µs lands in the last bucket */
#define HIST_N        (HIST_LIN_US + (HIST_TOP_EXP - HIST_LIN_EXP) * (1u << HIST_SUB_BITS))

struct hist {
    uint64_t n;
    uint64_t b[HIST_N];
};

void hist_add(struct hist *h, uint64_t us);
void hist_merge(struct hist *to, const struct hist *from);
/* hist_pct: the value at percentile pct (0 < pct <= 100); 0 when empty. */
uint64_t hist_pct(const struct hist *h, double pct);

#endif
