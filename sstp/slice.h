/* slice.h — a borrowed read cursor and a fixed, sticky-error writer.
 *
 * Every codec in sstp/ parses with struct sstp_slice (never owns the bytes)
 * and writes with struct sstp_wbuf (a caller's fixed buffer; once a write
 * does not fit, err is set and every later write is a no-op), so no codec
 * allocates or can write past a buffer. Big-endian ("network order")
 * helpers, since every SSTP and PROXY v2 field is big-endian. */
#ifndef SSTP_LB_SSTP_SLICE_H
#define SSTP_LB_SSTP_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sstp_slice {
    const uint8_t *p;
    size_t len;
};

static inline struct sstp_slice sstp_slice_make(const void *p, size_t len)
{
    struct sstp_slice s = { (const uint8_t *)p, len };
    return s;
}

/* sstp_get_* consume from the front of s; false (s unchanged) if too short. */
static inline bool sstp_get_u8(struct sstp_slice *s, uint8_t *out)
{
    if (s->len < 1)
        return false;
    *out = s->p[0];
    s->p++;
    s->len--;
    return true;
}

static inline bool sstp_get_u16be(struct sstp_slice *s, uint16_t *out)
{
    if (s->len < 2)
        return false;
    *out = (uint16_t)((s->p[0] << 8) | s->p[1]);
    s->p += 2;
    s->len -= 2;
    return true;
}

static inline bool sstp_get_u32be(struct sstp_slice *s, uint32_t *out)
{
    if (s->len < 4)
        return false;
    *out = ((uint32_t)s->p[0] << 24) | ((uint32_t)s->p[1] << 16) |
           ((uint32_t)s->p[2] << 8) | s->p[3];
    s->p += 4;
    s->len -= 4;
    return true;
}

/* sstp_get_bytes sets *out to a view of the next n bytes and skips them. */
static inline bool sstp_get_bytes(struct sstp_slice *s, struct sstp_slice *out, size_t n)
{
    if (s->len < n)
        return false;
    out->p = s->p;
    out->len = n;
    s->p += n;
    s->len -= n;
    return true;
}

static inline bool sstp_skip(struct sstp_slice *s, size_t n)
{
    struct sstp_slice dummy;
    return sstp_get_bytes(s, &dummy, n);
}

/* Reads without consuming, for fields at fixed offsets. Caller checks len. */
static inline uint16_t sstp_load_u16be(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t sstp_load_u32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void sstp_store_u16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void sstp_store_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

struct sstp_wbuf {
    uint8_t *p;   /* caller's storage */
    size_t len;   /* bytes written */
    size_t cap;   /* size of p */
    bool err;     /* sticky: a write did not fit */
};

static inline void sstp_wbuf_init(struct sstp_wbuf *w, void *p, size_t cap)
{
    w->p = (uint8_t *)p;
    w->len = 0;
    w->cap = cap;
    w->err = false;
}

/* sstp_wbuf_fits is true if n more bytes fit; otherwise it sets err. Encoders
 * that must fail whole ask it before writing anything. */
static inline bool sstp_wbuf_fits(struct sstp_wbuf *w, size_t n)
{
    if (w->err || w->cap - w->len < n) {
        w->err = true;
        return false;
    }
    return true;
}

/* sstp_put_space reserves n bytes and returns where to write them, or NULL
 * (and sets err) when they do not fit. */
static inline uint8_t *sstp_put_space(struct sstp_wbuf *w, size_t n)
{
    if (!sstp_wbuf_fits(w, n))
        return NULL;
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}

static inline void sstp_put_bytes(struct sstp_wbuf *w, const void *src, size_t n)
{
    uint8_t *at = sstp_put_space(w, n);
    if (at && n)
        memcpy(at, src, n);
}

static inline void sstp_put_u8(struct sstp_wbuf *w, uint8_t v)
{
    uint8_t *at = sstp_put_space(w, 1);
    if (at)
        *at = v;
}

static inline void sstp_put_u16be(struct sstp_wbuf *w, uint16_t v)
{
    uint8_t *at = sstp_put_space(w, 2);
    if (at)
        sstp_store_u16be(at, v);
}

static inline void sstp_put_u32be(struct sstp_wbuf *w, uint32_t v)
{
    uint8_t *at = sstp_put_space(w, 4);
    if (at)
        sstp_store_u32be(at, v);
}

static inline void sstp_put_zeros(struct sstp_wbuf *w, size_t n)
{
    uint8_t *at = sstp_put_space(w, n);
    if (at && n)
        memset(at, 0, n);
}

#endif
