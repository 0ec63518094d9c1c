/* metrics.c — shared-memory counter blocks and the Prometheus text writer
 * (see metrics.h).
 *
 * Block layout (each block starts on a cache line, so writers in different
 * processes never share one):
 *   uint64_t values[n_values]      every family's values, fam[f].first on
 *   uint64_t used[n_fam]           run-time families: label slots claimed
 *   char     labels[n_labels][METRICS_LABEL_MAX]
 * A writer fills a label slot, then publishes it by storing used+1 with
 * release order; a reader loads `used` with acquire order and reads only
 * the slots below it, so it never sees a half-written label. */
#include "core/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CACHE_LINE 64

static uint8_t *block_at(const struct metrics *m, size_t b)
{
    return m->map + b * m->block_len;
}

uint64_t *metrics_values(const struct metrics *m, size_t b)
{
    return (uint64_t *)block_at(m, b);
}

static uint64_t *used_of(const struct metrics *m, size_t b)
{
    return (uint64_t *)block_at(m, b) + m->n_values;
}

static char *label_at(const struct metrics *m, size_t b, size_t slot)
{
    uint8_t *labels = block_at(m, b) + (m->n_values + m->n_fam) * sizeof(uint64_t);
    return (char *)labels + slot * METRICS_LABEL_MAX;
}

static bool is_runtime(const struct metrics_family *f)
{
    return f->label && !f->values;
}

void metrics_family_absent(const struct metrics *m, size_t b, size_t f)
{
    const struct metrics_family *fam = &m->fam[f];
    uint64_t *v = metrics_values(m, b);
    if (fam->type != METRICS_GAUGE)
        return;
    size_t n = fam->label ? fam->n_values : 1;
    for (size_t i = 0; i < n; i++)
        metrics_set(v, fam, i, METRICS_ABSENT);
}

void metrics_block_reset_gauges(const struct metrics *m, size_t b)
{
    for (size_t f = 0; f < m->n_fam; f++)
        metrics_family_absent(m, b, f);
}

void metrics_gauges_zero(const struct metrics *m, size_t b)
{
    uint64_t *v = metrics_values(m, b);
    for (size_t f = 0; f < m->n_fam; f++) {
        const struct metrics_family *fam = &m->fam[f];
        if (fam->type != METRICS_GAUGE || is_runtime(fam))
            continue;
        size_t n = fam->label ? fam->n_values : 1;
        for (size_t i = 0; i < n; i++)
            metrics_set(v, fam, i, 0);
    }
}

int metrics_init(struct metrics *m, struct metrics_family *fam, size_t n_fam, size_t n_blocks)
{
    memset(m, 0, sizeof *m);
    if (n_blocks == 0) {
        errno = EINVAL;
        return -1;
    }
    for (size_t f = 0; f < n_fam; f++) {
        if (fam[f].label && fam[f].n_values == 0) {
            errno = EINVAL;
            return -1;
        }
        fam[f].first = m->n_values;
        m->n_values += fam[f].label ? fam[f].n_values : 1;
        if (is_runtime(&fam[f])) {
            fam[f].first_label = m->n_labels;
            m->n_labels += fam[f].n_values;
        }
    }
    m->fam = fam;
    m->n_fam = n_fam;
    m->n_blocks = n_blocks;
    size_t len = (m->n_values + n_fam) * sizeof(uint64_t) + m->n_labels * METRICS_LABEL_MAX;
    m->block_len = (len + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    m->map_len = m->block_len * n_blocks;
    void *p = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        m->map = NULL;
        return -1;
    }
    m->map = p; /* anonymous mappings start zeroed */
    for (size_t b = 0; b < n_blocks; b++)
        metrics_block_reset_gauges(m, b);
    return 0;
}

void metrics_cleanup(struct metrics *m)
{
    if (m->map)
        munmap(m->map, m->map_len);
    m->map = NULL;
}

size_t metrics_slot(const struct metrics *m, size_t b, size_t f, const char *label)
{
    const struct metrics_family *fam = &m->fam[f];
    char cut[METRICS_LABEL_MAX];
    if (!fam->label)
        return 0;
    if (fam->values) {
        for (size_t i = 0; i < fam->n_values; i++)
            if (strcmp(fam->values[i], label) == 0)
                return i;
        return fam->n_values - 1;
    }
    snprintf(cut, sizeof cut, "%s", label);
    uint64_t *used = &used_of(m, b)[f];
    size_t n = (size_t)__atomic_load_n(used, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < n; i++)
        if (strcmp(label_at(m, b, fam->first_label + i), cut) == 0)
            return i;
    size_t last = fam->n_values - 1;
    if (n < last) {
        memcpy(label_at(m, b, fam->first_label + n), cut, sizeof cut);
        __atomic_store_n(used, (uint64_t)n + 1, __ATOMIC_RELEASE);
        return n;
    }
    if (n == last) {
        snprintf(label_at(m, b, fam->first_label + last), METRICS_LABEL_MAX, "%s", METRICS_OTHER);
        __atomic_store_n(used, (uint64_t)last + 1, __ATOMIC_RELEASE);
    }
    return last;
}

/* Folds one block's value into an aggregate; `have` says whether acc holds
 * a value yet. */
static void fold(const struct metrics_family *fam, uint64_t v, uint64_t *acc, bool *have)
{
    if (v == METRICS_ABSENT && fam->type == METRICS_GAUGE)
        return;
    if (!*have) {
        *acc = v;
        *have = true;
    } else if (fam->agg == METRICS_MIN) {
        if (v < *acc)
            *acc = v;
    } else if (fam->agg == METRICS_MAX) {
        if (v > *acc)
            *acc = v;
    } else {
        *acc += v;
    }
}

uint64_t metrics_sum(const struct metrics *m, size_t f, size_t i)
{
    const struct metrics_family *fam = &m->fam[f];
    uint64_t acc = 0;
    bool have = false;
    for (size_t b = 0; b < m->n_blocks; b++)
        fold(fam, metrics_get(metrics_values(m, b), fam, i), &acc, &have);
    return have ? acc : METRICS_ABSENT;
}

/* Index of `label` among block b's claimed slots of family f, or -1. */
static long find_label(const struct metrics *m, size_t b, size_t f, const char *label)
{
    const struct metrics_family *fam = &m->fam[f];
    size_t n = (size_t)__atomic_load_n(&used_of(m, b)[f], __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < n && i < fam->n_values; i++)
        if (strncmp(label_at(m, b, fam->first_label + i), label, METRICS_LABEL_MAX) == 0)
            return (long)i;
    return -1;
}

uint64_t metrics_sum_label(const struct metrics *m, size_t f, const char *label)
{
    const struct metrics_family *fam = &m->fam[f];
    if (!is_runtime(fam)) {
        size_t i = metrics_slot(m, 0, f, label);
        return metrics_sum(m, f, i);
    }
    uint64_t acc = 0;
    bool have = false;
    for (size_t b = 0; b < m->n_blocks; b++) {
        long i = find_label(m, b, f, label);
        if (i >= 0)
            fold(fam, metrics_get(metrics_values(m, b), fam, (size_t)i), &acc, &have);
    }
    return have ? acc : METRICS_ABSENT;
}

/* Prometheus label values escape backslash, double quote and newline. */
static int put_label_value(FILE *out, const char *s)
{
    for (; *s; s++) {
        int r;
        if (*s == '\\' || *s == '"')
            r = fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            r = fputs("\\n", out);
        else
            r = fputc(*s, out);
        if (r < 0)
            return -1;
    }
    return 0;
}

static int put_sample(FILE *out, const struct metrics_family *fam, const char *label, uint64_t v)
{
    if (v == METRICS_ABSENT)
        return 0;
    if (fputs(fam->name, out) < 0)
        return -1;
    if (label) {
        if (fprintf(out, "{%s=\"", fam->label) < 0 || put_label_value(out, label) == -1 ||
            fputs("\"}", out) < 0)
            return -1;
    }
    return fprintf(out, " %llu\n", (unsigned long long)v) < 0 ? -1 : 0;
}

static int render_runtime(const struct metrics *m, size_t f, FILE *out)
{
    const struct metrics_family *fam = &m->fam[f];
    /* Emit each distinct label once, in the order blocks first claimed them. */
    for (size_t b = 0; b < m->n_blocks; b++) {
        size_t n = (size_t)__atomic_load_n(&used_of(m, b)[f], __ATOMIC_ACQUIRE);
        for (size_t i = 0; i < n && i < fam->n_values; i++) {
            const char *label = label_at(m, b, fam->first_label + i);
            bool seen = false;
            for (size_t pb = 0; pb <= b && !seen; pb++) {
                long at = find_label(m, pb, f, label);
                seen = at >= 0 && (pb < b || (size_t)at < i);
            }
            if (!seen && put_sample(out, fam, label, metrics_sum_label(m, f, label)) == -1)
                return -1;
        }
    }
    return 0;
}

int metrics_render(const struct metrics *m, void *stream)
{
    FILE *out = stream;
    for (size_t f = 0; f < m->n_fam; f++) {
        const struct metrics_family *fam = &m->fam[f];
        if (fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                    fam->type == METRICS_COUNTER ? "counter" : "gauge") < 0)
            return -1;
        if (!fam->label) {
            if (put_sample(out, fam, NULL, metrics_sum(m, f, 0)) == -1)
                return -1;
        } else if (fam->values) {
            for (size_t i = 0; i < fam->n_values; i++)
                if (put_sample(out, fam, fam->values[i], metrics_sum(m, f, i)) == -1)
                    return -1;
        } else if (render_runtime(m, f, out) == -1) {
            return -1;
        }
    }
    return ferror(out) ? -1 : 0;
}
