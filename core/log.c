/* log.c — key=value / JSON line logger on stderr (see log.h). */
#include "core/log.h"

#include <openssl/err.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    const char *prog;
    enum log_level level;
    enum log_format format;
} log_cfg = { "sstp-lb", LOG_INFO, LOG_TEXT };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_setup(const char *prog, enum log_level level, enum log_format format)
{
    log_cfg.prog = prog;
    log_cfg.level = level;
    log_cfg.format = format;
}

enum log_level log_get_level(void)
{
    return log_cfg.level;
}

static size_t append(char *buf, size_t at, size_t cap, const char *s, size_t n)
{
    if (at >= cap)
        return at;
    if (n > cap - at)
        n = cap - at;
    memcpy(buf + at, s, n);
    return at + n;
}

static bool is_number(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return false;
    for (size_t i = (s[0] == '-'); i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > (size_t)(s[0] == '-');
}

/* Converts "k1=v1 k2=v2" into ,"k1":"v1","k2":v2 (numbers unquoted). Values
 * contain no spaces (callers sanitize); a token without '=' becomes "msg". */
static size_t kv_to_json(char *out, size_t at, size_t cap, const char *kv)
{
    const char *p = kv;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        size_t tok_len = (size_t)(p - tok);
        const char *eq = memchr(tok, '=', tok_len);
        const char *key = eq ? tok : "msg";
        size_t key_len = eq ? (size_t)(eq - tok) : 3;
        const char *val = eq ? eq + 1 : tok;
        size_t val_len = eq ? tok_len - key_len - 1 : tok_len;
        at = append(out, at, cap, ",\"", 2);
        at = append(out, at, cap, key, key_len);
        at = append(out, at, cap, "\":", 2);
        bool num = is_number(val, val_len);
        if (!num)
            at = append(out, at, cap, "\"", 1);
        for (size_t i = 0; i < val_len; i++) {
            if (val[i] == '"' || val[i] == '\\')
                at = append(out, at, cap, "\\", 1);
            at = append(out, at, cap, &val[i], 1);
        }
        if (!num)
            at = append(out, at, cap, "\"", 1);
    }
    return at;
}

void log_vemit(enum log_level level, const char *event, const char *fmt, va_list ap)
{
    char kv[LOG_LINE_MAX], line[LOG_LINE_MAX * 2], ts[40];
    struct timeval tv;
    struct tm tm;
    int n;

    vsnprintf(kv, sizeof kv, fmt, ap);
    for (char *c = kv; *c; c++) /* one event, one line */
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = (int)strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - (size_t)n, ".%03dZ", (int)(tv.tv_usec / 1000));

    size_t at;
    if (log_cfg.format == LOG_JSON) {
        n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"prog\":\"%s\",\"pid\":%d,\"level\":\"%s\",\"ev\":\"%s\"",
                     ts, log_cfg.prog, (int)getpid(), level_names[level], event);
        at = kv_to_json(line, (size_t)n, sizeof line - 2, kv);
        line[at++] = '}';
    } else {
        n = snprintf(line, sizeof line, "%s %s[%d] %s ev=%s %s", ts, log_cfg.prog,
                     (int)getpid(), level_names[level], event, kv);
        at = (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
    }
    line[at++] = '\n';
    /* one write per line keeps lines whole when several processes share stderr */
    if (write(STDERR_FILENO, line, at) == -1)
        return;
}

void log_emit(enum log_level level, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, event, fmt, ap);
    va_end(ap);
}

void log_limit_init(struct log_limit *l, double interval_s, unsigned burst)
{
    memset(l, 0, sizeof *l);
    l->interval_s = interval_s;
    l->burst = burst;
}

uint64_t log_limit_roll(struct log_limit *l, double now)
{
    if (now - l->window_start < l->interval_s)
        return 0;
    uint64_t left_out = l->suppressed;
    l->window_start = now;
    l->lines = 0;
    l->suppressed = 0;
    return left_out;
}

bool log_limit_allow(struct log_limit *l, double now, uint64_t *suppressed)
{
    uint64_t left_out = log_limit_roll(l, now);
    if (suppressed)
        *suppressed = left_out;
    if (l->lines < l->burst) {
        l->lines++;
        return true;
    }
    l->suppressed++;
    return false;
}

char *log_sanitize(char *out, size_t out_len, const char *in, size_t in_len)
{
    size_t i = 0;
    if (out_len == 0)
        return out;
    for (; i < in_len && i + 1 < out_len && in[i]; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = (c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=') ? (char)c : '.';
    }
    out[i] = '\0';
    if (i == 0 && out_len > 1) {
        out[0] = '-';
        out[1] = '\0';
    }
    return out;
}

const char *log_openssl_errors(char *out, size_t out_len)
{
    unsigned long e;
    size_t at = 0;
    out[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        int n = snprintf(out + at, out_len - at, "%s%s", at ? "|" : "", one);
        if (n < 0 || (size_t)n >= out_len - at)
            continue; /* keep draining the queue */
        at += (size_t)n;
    }
    for (char *c = out; *c; c++)
        if (*c == ' ')
            *c = '_';
    return out[0] ? out : "-";
}
