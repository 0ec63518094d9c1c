/* log.h — one line per event to stderr, as key=value text or JSON lines.
 *
 * The process has one log configuration (level, format, program name), set
 * once at start-up; it is the only process-wide state of core/. Messages
 * below the level are not formatted at all. Client-supplied strings go
 * through log_sanitize() first so a log line can never be split or forged. */
#ifndef SSTP_LB_CORE_LOG_H
#define SSTP_LB_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };

#define LOG_LINE_MAX 2048 /* longer lines are truncated, never split */

void log_setup(const char *prog, enum log_level level, enum log_format format);
enum log_level log_get_level(void);

/* log_emit writes one line. `event` is a short token ("close", "tls_fail");
 * `fmt` formats the rest as space-separated key=value pairs. In JSON mode
 * the pairs are converted to JSON members (values stay strings unless they
 * are plain numbers). */
void log_emit(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vemit(enum log_level level, const char *event, const char *fmt, va_list ap);

#define log_at(lvl, ev, ...) \
    do { if ((lvl) <= log_get_level()) log_emit((lvl), (ev), __VA_ARGS__); } while (0)
#define log_error(ev, ...) log_at(LOG_ERROR, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_at(LOG_WARN, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_at(LOG_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_at(LOG_DEBUG, ev, __VA_ARGS__)

/* A line a client can repeat at will (a refusal, an accept failure) is
 * written at most `burst` times per window of `interval_s` seconds; the
 * others are counted, and the count is handed back when the next window
 * opens, so the owner can say how many were left out. Times are the event
 * loop's (ev_now); one limiter per kind of line. */
struct log_limit {
    double interval_s;
    unsigned burst;
    double window_start;   /* of the current window */
    unsigned lines;        /* written in it */
    uint64_t suppressed;   /* left out since the last window opened */
};

void log_limit_init(struct log_limit *l, double interval_s, unsigned burst);
/* log_limit_roll opens a new window if the current one is over and returns
 * how many lines were left out before it (0 while the window lasts). */
uint64_t log_limit_roll(struct log_limit *l, double now);
/* log_limit_allow: true if one more line may be written at now. Rolls the
 * window first; *suppressed (may be NULL) gets what log_limit_roll
 * returned. A refused line is counted. */
bool log_limit_allow(struct log_limit *l, double now, uint64_t *suppressed);

/* log_sanitize copies at most out_len-1 bytes of in[0..in_len) into out,
 * replacing bytes outside printable ASCII, spaces, '"', '\\' and '=' with
 * '.', so the result is one token of a key=value line. Returns out. */
char *log_sanitize(char *out, size_t out_len, const char *in, size_t in_len);

/* log_openssl_errors drains OpenSSL's error queue into one string. */
const char *log_openssl_errors(char *out, size_t out_len);

#endif
