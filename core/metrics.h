/* metrics.h — counters and gauges with one optional label, kept in shared
 * memory blocks and written out in the Prometheus text format.
 *
 * A daemon declares a table of families once. metrics_init() lays out one
 * block per writer in a MAP_SHARED|MAP_ANONYMOUS mapping made before fork():
 * each worker process writes only its own block (relaxed atomics, no locks),
 * and whoever renders (the master's admin listener) aggregates the blocks
 * per family: sum, min or max. A family's label values are either a fixed
 * list (reject reasons, directions) or claimed at run time by the writer
 * into a bounded number of slots (backend names, TLS ciphers); a full
 * family counts the rest under "other". Nothing allocates after init. */
#ifndef SSTP_LB_CORE_METRICS_H
#define SSTP_LB_CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_LABEL_MAX 48            /* bytes of a run-time label value, with NUL */
#define METRICS_ABSENT    UINT64_MAX    /* a gauge with no value in this block */
#define METRICS_OTHER     "other"       /* label of the last slot of a full family */

enum metrics_type { METRICS_COUNTER = 0, METRICS_GAUGE = 1 };
enum metrics_agg { METRICS_SUM = 0, METRICS_MIN = 1, METRICS_MAX = 2 };

struct metrics_family {
    const char *name;          /* e.g. "sstp_proxy_connections_total" */
    const char *help;
    enum metrics_type type;
    enum metrics_agg agg;      /* across blocks; absent gauges are skipped */
    const char *label;         /* label name; NULL: one unlabelled value */
    const char *const *values; /* fixed label values, or NULL: claimed at run time */
    size_t n_values;           /* fixed: number of values; run time: slots */
    /* set by metrics_init */
    size_t first;              /* index of the family's first value in a block */
    size_t first_label;        /* run-time labels: index of its first label slot */
};

struct metrics {
    struct metrics_family *fam; /* borrowed; metrics_init fills first/first_label */
    size_t n_fam;
    size_t n_blocks;
    size_t n_values;            /* uint64 values per block */
    size_t n_labels;            /* run-time label slots per block */
    size_t block_len;           /* bytes per block */
    uint8_t *map;
    size_t map_len;
};

/* metrics_init lays out n_blocks blocks for the families (the table must
 * outlive m) in one shared anonymous mapping, zeroed, with every gauge
 * absent. Returns 0, or -1 (bad table: a labelled family without values or
 * slots, or mmap failed; errno set). */
int metrics_init(struct metrics *m, struct metrics_family *fam, size_t n_fam, size_t n_blocks);
void metrics_cleanup(struct metrics *m);

/* metrics_values returns block b's value array, indexed by
 * fam[f].first + value index. */
uint64_t *metrics_values(const struct metrics *m, size_t b);

/* metrics_slot returns the value index of `label` in run-time family f of
 * block b, claiming a free slot the first time; when the family is full,
 * the last slot, labelled METRICS_OTHER. Only block b's writer may call it.
 * Labels longer than METRICS_LABEL_MAX-1 bytes are cut. A fixed family
 * returns the index of the matching value, or n_values-1 if none matches. */
size_t metrics_slot(const struct metrics *m, size_t b, size_t f, const char *label);

/* Writers: family f, value index i (0 for unlabelled families). */
static inline void metrics_add(uint64_t *v, const struct metrics_family *f, size_t i, uint64_t n)
{
    __atomic_fetch_add(&v[f->first + i], n, __ATOMIC_RELAXED);
}
static inline void metrics_sub(uint64_t *v, const struct metrics_family *f, size_t i, uint64_t n)
{
    __atomic_fetch_sub(&v[f->first + i], n, __ATOMIC_RELAXED);
}
static inline void metrics_set(uint64_t *v, const struct metrics_family *f, size_t i, uint64_t n)
{
    __atomic_store_n(&v[f->first + i], n, __ATOMIC_RELAXED);
}
static inline uint64_t metrics_get(const uint64_t *v, const struct metrics_family *f, size_t i)
{
    return __atomic_load_n(&v[f->first + i], __ATOMIC_RELAXED);
}

/* metrics_block_reset_gauges marks every gauge of block b absent (its
 * writer died or is starting); counters keep counting across restarts. */
void metrics_block_reset_gauges(const struct metrics *m, size_t b);
/* metrics_gauges_zero sets block b's gauges of fixed families to 0
 * (a writer starting up); run-time-labelled gauges stay absent until set. */
void metrics_gauges_zero(const struct metrics *m, size_t b);
/* metrics_family_absent marks every value of gauge family f in block b
 * absent (e.g. before re-publishing the backend list after a reload). */
void metrics_family_absent(const struct metrics *m, size_t b, size_t f);

/* metrics_sum aggregates family f, value index i of every block as the
 * family says. Returns METRICS_ABSENT if no block holds a value. For
 * run-time families i is read in each block by label, so pass the label:
 * metrics_sum_label. */
uint64_t metrics_sum(const struct metrics *m, size_t f, size_t i);
uint64_t metrics_sum_label(const struct metrics *m, size_t f, const char *label);

/* metrics_render appends every family in the Prometheus text exposition
 * format (version 0.0.4) to out (a FILE *). Returns 0, or -1 on a write
 * error. */
int metrics_render(const struct metrics *m, void *out);

#endif
