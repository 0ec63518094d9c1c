/* health.c — active health checks (see health.h). One small state machine
 * per checked backend: IDLE -> CONNECTING -> [TLS] -> [SEND -> READ] ->
 * IDLE, every step non-blocking on the owner's loop, under one deadline
 * timer that restarts only when the check itself sends bytes (a backend
 * that trickles its answer cannot keep a check alive). Only the status line
 * of the answer is read.
 *
 * The loop is shared with the sessions: under a TLS handshake surge (or a
 * stopped process) one iteration can run longer than a check's timeout, and
 * a deadline then fires with the answer unread in the socket. So the set
 * measures its loop's stalls (the time between waking from poll and going
 * back to it, and how late the deadline itself fires): a deadline passed
 * while the loop stalled more than the slack is no verdict on the backend;
 * the check is counted "stretched" and given a fresh timeout, a bounded
 * number of times. With a responsive loop a silent backend fails on time. */
#include "lb/health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/io.h"
#include "core/log.h"
#include "core/net.h"
#include "sstp/http.h"
#include "sstp/proxyproto.h"
#include "sstp/slice.h"

#define PROBE_OUT_MAX 512   /* PROXY v2 LOCAL (16) + the HEAD request (~110) */
#define PROBE_IN_MAX 32     /* "HTTP/1.1 200 OK\r\n": the status line is all we read */
#define STATUS_LINE_MIN 12  /* "HTTP/1.1 200" */
#define WHY_MAX 64
#define STRETCH_MAX 3       /* fresh timeouts one check may get for loop stalls */
#define SLACK_MIN 0.05      /* s: loop stalls shorter than this never excuse a timeout */
#define SLACK_SHARE 0.25    /* ... nor shorter than this share of the timeout */

const char *const lb_probe_names[] = { "none", "tcp", "sstp", "http", NULL };

enum phase { P_IDLE = 0, P_CONNECTING, P_PP_CLEAR, P_TLS, P_SEND, P_READ };

struct probe {
    struct lb_health *h;
    struct probe *next;
    struct lb_backend *be;      /* referenced while checked */
    struct io io;
    ev_io w;
    ev_timer tick;              /* start of each check */
    ev_timer deadline;          /* the running check's timeout */
    ev_tstamp due;              /* when the deadline should fire (ev_now time) */
    double stall;               /* longest loop stall seen while this check ran */
    unsigned n_stretch;         /* fresh timeouts given for stalls */
    enum phase phase;
    enum lb_probe kind;         /* of the running check */
    uint8_t out[PROBE_OUT_MAX]; /* [PROXY v2 LOCAL][HEAD request] */
    size_t pp_len, out_len, out_off;
    char in[PROBE_IN_MAX];
    size_t in_len;
    unsigned n_ok, n_fail;      /* in a row */
    bool keep;                  /* lb_health_sync's mark */
};

struct lb_health {
    struct ev_loop *loop;
    struct lb_health_opts o;
    lb_health_ssl_fn mk_ssl;
    void *ud;
    struct probe *probes;
    size_t n_probes;
    struct lb_health_stats st;
    ev_prepare prep;            /* the loop goes to poll: end of a busy stretch */
    ev_check woke;              /* the loop came back from poll */
    ev_tstamp t_woke;           /* ev_time() at the last wake-up, 0 before one */
    bool synced;                /* the first set is known: later additions wait for a check */
};

/* ---- one check ------------------------------------------------------------ */

static void why_token(char *out, size_t out_len, const char *why)
{
    log_sanitize(out, out_len, why, strlen(why));
}

static void check_end(struct probe *p, bool ok, const char *why)
{
    struct lb_health *h = p->h;
    struct lb_backend *be = p->be;
    ev_io_stop(h->loop, &p->w);
    ev_timer_stop(h->loop, &p->deadline);
    io_close(&p->io);
    p->io.fd = -1;
    p->phase = P_IDLE;
    if (ok) {
        h->st.ok++;
        p->n_fail = 0;
        p->n_ok++;
        be->health_unproven = false;
        if (be->health_down && p->n_ok >= h->o.rise) {
            be->health_down = false;
            /* the checks vouch for it again: forget a passive mark too */
            be->down_until = 0;
            be->n_fails = 0;
            h->st.ups++;
            log_info("health_up", "worker=%u backend=%s checks=%u", h->o.id, be->spec.name, p->n_ok);
        }
        return;
    }
    char tok[WHY_MAX];
    h->st.fail++;
    p->n_ok = 0;
    p->n_fail++;
    why_token(tok, sizeof tok, why);
    log_debug("health_fail", "worker=%u backend=%s reason=%s fails=%u", h->o.id, be->spec.name, tok,
              p->n_fail);
    if (!be->health_down && p->n_fail >= h->o.fall) {
        be->health_down = true;
        h->st.downs++;
        log_warn("health_down", "worker=%u backend=%s reason=%s checks=%u", h->o.id, be->spec.name,
                 tok, p->n_fail);
    }
}

static void watch(struct probe *p, int events)
{
    ev_io_stop(p->h->loop, &p->w);
    ev_io_set(&p->w, p->io.fd, events);
    ev_io_start(p->h->loop, &p->w);
}

/* A whole timeout from now: at the start, and whenever the check sent
 * bytes (our progress; bytes the backend sends never restart it). */
static void arm_deadline(struct probe *p)
{
    struct lb_health *h = p->h;
    ev_timer_stop(h->loop, &p->deadline);
    ev_timer_set(&p->deadline, h->o.timeout, 0);
    ev_timer_start(h->loop, &p->deadline);
    p->due = ev_now(h->loop) + h->o.timeout;
}

/* The bytes the check's TLS layer has written so far. */
static unsigned long tls_written(const struct probe *p)
{
    return p->io.ssl ? BIO_number_written(SSL_get_wbio(p->io.ssl)) : 0;
}

/* The server line's probe kind, else the configured one. */
static enum lb_probe kind_of(const struct probe *p)
{
    switch (p->be->spec.probe) {
    case LB_SPEC_PROBE_SSTP: return LB_PROBE_SSTP;
    case LB_SPEC_PROBE_HTTP: return LB_PROBE_HTTP;
    case LB_SPEC_PROBE_TCP: return LB_PROBE_TCP;
    case LB_SPEC_PROBE_DEFAULT: break;
    }
    return p->h->o.probe;
}

/* The PROXY v2 LOCAL header (the proxy's own connection, PROXY v2 §2.2)
 * unless the server reads none, and for the sstp and http kinds the HEAD
 * probe of MS-SSTP's URI, Host the backend's name or IP. */
static int build_request(struct probe *p)
{
    struct sstp_wbuf w;
    struct sstp_pp_hdr local;
    char host[NET_ADDR_STR_MAX];
    const struct lb_spec *sp = &p->be->spec;
    memset(&local, 0, sizeof local);
    local.version = SSTP_PP_V2;
    local.command = SSTP_PP_CMD_LOCAL;
    sstp_wbuf_init(&w, p->out, sizeof p->out);
    if (sp->pp != LB_PP_NONE && sstp_pp2_build(&w, &local) != SSTP_OK)
        return -1;
    p->pp_len = w.len;
    p->out_len = w.len;
    p->out_off = 0;
    if (p->kind == LB_PROBE_TCP)
        return 0;
    const char *name = sp->sni[0] ? sp->sni : net_addr_ip((const struct sockaddr *)&sp->addr.ss, host, sizeof host);
    if (sstp_http_req_build(&w, SSTP_HTTP_M_HEAD, name, NULL, NULL) != SSTP_OK || w.err)
        return -1;
    p->out_len = w.len;
    p->out_off = 0;
    return 0;
}

/* "HTTP/1.x NNN": a status line's start, whatever the status */
static bool well_formed_status(const char *s, size_t n)
{
    return n >= STATUS_LINE_MIN && memcmp(s, "HTTP/1.", 7) == 0 && (s[7] == '0' || s[7] == '1') &&
           s[8] == ' ' && s[9] >= '1' && s[9] <= '5' && s[10] >= '0' && s[10] <= '9' &&
           s[11] >= '0' && s[11] <= '9';
}

/* 1: a whole status line is in, 0: more wanted; sets *ok */
static int status_seen(const struct probe *p, bool *ok, char *why, size_t why_len)
{
    if (p->in_len < STATUS_LINE_MIN && !memchr(p->in, '\n', p->in_len))
        return 0;
    if (p->kind == LB_PROBE_HTTP) {
        /* another SSTP server: any answer of its HTTP stack (accel-ppp's 501
         * to HEAD) says it is alive, but 503, which says it takes no calls */
        *ok = well_formed_status(p->in, p->in_len) && memcmp(p->in + 9, "503", 3) != 0;
    } else {
        /* 200, or 503 from a drained backend: its SSTP stack answers, so it
         * is alive; whether it takes sessions is the registry's business */
        *ok = p->in_len >= STATUS_LINE_MIN && (memcmp(p->in, "HTTP/1.1 200", STATUS_LINE_MIN) == 0 ||
                                               memcmp(p->in, "HTTP/1.1 503", STATUS_LINE_MIN) == 0);
    }
    if (!*ok) {
        size_t n = p->in_len < STATUS_LINE_MIN ? p->in_len : STATUS_LINE_MIN;
        char line[STATUS_LINE_MIN + 1];
        log_sanitize(line, sizeof line, p->in, n);
        snprintf(why, why_len, "answer:%s", line);
    }
    return 1;
}

static void step(struct probe *p)
{
    char why[WHY_MAX];
    switch (p->phase) {
    case P_CONNECTING: {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(p->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err) {
            check_end(p, false, strerror(err));
            return;
        }
        if (!p->io.ssl && p->kind == LB_PROBE_TCP) {
            check_end(p, true, NULL);
            return;
        }
        bool clear_pp = p->io.ssl && p->be->spec.pp == LB_PP_BEFORE && p->pp_len > 0;
        p->phase = clear_pp ? P_PP_CLEAR : p->io.ssl ? P_TLS : P_SEND;
        p->io.want = 0;
        break;
    }
    default:
        break;
    }
    if (p->phase == P_PP_CLEAR) {
        /* the header in front of the TLS handshake, as the server expects */
        while (p->out_off < p->pp_len) {
            ssize_t n = send(p->io.fd, p->out + p->out_off, p->pp_len - p->out_off, MSG_NOSIGNAL);
            if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
                watch(p, EV_WRITE);
                return;
            }
            if (n == -1) {
                check_end(p, false, strerror(errno));
                return;
            }
            p->out_off += (size_t)n;
            arm_deadline(p);
        }
        p->phase = P_TLS;
    }
    if (p->phase == P_TLS) {
        unsigned long sent = tls_written(p);
        int r = io_connect(&p->io);
        if (tls_written(p) != sent)
            arm_deadline(p);
        if (r == IO_AGAIN) {
            watch(p, p->io.want);
            return;
        }
        if (r != 1) {
            char ossl[WHY_MAX];
            snprintf(why, sizeof why, "tls:%s", log_openssl_errors(ossl, sizeof ossl));
            check_end(p, false, why);
            return;
        }
        p->io.want = 0;
        if (p->kind == LB_PROBE_TCP) {
            check_end(p, true, NULL);
            return;
        }
        p->phase = P_SEND;
    }
    if (p->phase == P_SEND) {
        while (p->out_off < p->out_len) {
            ssize_t n = io_write(&p->io, p->out + p->out_off, p->out_len - p->out_off);
            if (n == IO_AGAIN) {
                watch(p, p->io.want);
                return;
            }
            if (n < 0) {
                check_end(p, false, p->io.err ? strerror(p->io.err) : "write_failed");
                return;
            }
            p->out_off += (size_t)n;
            arm_deadline(p);
        }
        p->phase = P_READ;
        p->io.want = 0;
        p->in_len = 0;
    }
    /* P_READ */
    for (;;) {
        bool ok = false;
        ssize_t n = io_read(&p->io, p->in + p->in_len, sizeof p->in - p->in_len);
        if (n == IO_AGAIN) {
            watch(p, p->io.want ? p->io.want : EV_READ);
            return;
        }
        if (n <= 0) {
            if (status_seen(p, &ok, why, sizeof why) == 1)
                check_end(p, ok, why);
            else
                check_end(p, false, n == IO_EOF ? "closed_before_answer" : "read_failed");
            return;
        }
        p->in_len += (size_t)n;
        if (status_seen(p, &ok, why, sizeof why) == 1 || p->in_len == sizeof p->in) {
            check_end(p, ok, why);
            return;
        }
    }
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    step(w->data);
}

/* The loop stall that excuses a timeout: a fixed floor, or a share of the
 * timeout when that is longer. */
static double slack_of(const struct lb_health *h)
{
    double s = h->o.timeout * SLACK_SHARE;
    return s > SLACK_MIN ? s : SLACK_MIN;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct probe *p = t->data;
    struct lb_health *h = p->h;
    /* how late this deadline fires is a stall too (a stopped process
     * sleeps in poll, so no busy stretch shows it) */
    double late = ev_now(loop) - p->due;
    double stall = late > p->stall ? late : p->stall;
    if (stall > slack_of(h) && p->n_stretch < STRETCH_MAX) {
        /* the loop, not the backend, ran out the clock: no verdict; an
         * answer that waits in the socket is read right after this */
        p->n_stretch++;
        p->stall = 0;
        h->st.stretched++;
        log_debug("health_stretched", "worker=%u backend=%s stall_s=%.3f stretches=%u", h->o.id,
                  p->be->spec.name, stall, p->n_stretch);
        arm_deadline(p);
        return;
    }
    check_end(p, false, "timeout");
}

/* ---- the loop's stalls ------------------------------------------------------------- */

static void woke_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop;
    (void)revents;
    struct lb_health *h = w->data;
    h->t_woke = ev_time();
}

/* The loop is about to poll again: the stretch since it woke is how long
 * nothing was read; each running check remembers the longest. */
static void prep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    struct lb_health *h = w->data;
    if (h->t_woke == 0)
        return;
    double busy = ev_time() - h->t_woke;
    if (busy < SLACK_MIN)
        return;
    for (struct probe *p = h->probes; p; p = p->next)
        if (p->phase != P_IDLE && busy > p->stall)
            p->stall = busy;
}

static void check_start(struct probe *p)
{
    struct lb_health *h = p->h;
    const struct lb_spec *sp = &p->be->spec;
    if (p->phase != P_IDLE)
        return; /* the last one is still within its timeout */
    p->kind = kind_of(p);
    if (build_request(p) == -1) {
        check_end(p, false, "request_too_long");
        return;
    }
    int fd = net_connect(&sp->addr);
    if (fd == -1 && lb_errno_is_local(errno)) {
        /* our descriptors, memory or ports ran out: no verdict on the backend */
        h->st.skipped++;
        log_debug("health_skip", "worker=%u backend=%s reason=%s", h->o.id, sp->name, strerror(errno));
        return;
    }
    if (fd == -1) {
        check_end(p, false, strerror(errno));
        return;
    }
    p->io.fd = fd;
    p->io.ssl = NULL;
    p->io.want = 0;
    p->phase = P_CONNECTING;
    p->stall = 0;
    p->n_stretch = 0;
    arm_deadline(p);
    if (sp->tls && !(p->io.ssl = h->mk_ssl ? h->mk_ssl(h->ud, fd, sp) : NULL)) {
        check_end(p, false, "tls_setup");
        return;
    }
    watch(p, EV_WRITE);
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    check_start(t->data);
}

/* ---- the set ----------------------------------------------------------------- */

static struct probe *probe_new(struct lb_health *h, struct lb_backend *be)
{
    struct probe *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->h = h;
    p->be = be;
    lb_backend_ref(be);
    p->io.fd = -1;
    ev_io_init(&p->w, io_cb, 0, EV_WRITE);
    p->w.data = p;
    ev_init(&p->deadline, deadline_cb);
    p->deadline.data = p;
    /* spread the first checks over one interval (golden-ratio steps), so
     * the backends, and the workers of one proxy, are not checked at once */
    double frac = (double)h->n_probes * 0.6180339887 + (double)h->o.id * 0.3819660113;
    frac -= (double)(long)frac;
    ev_timer_init(&p->tick, tick_cb, h->o.interval * frac + 0.001, h->o.interval);
    p->tick.data = p;
    ev_timer_start(h->loop, &p->tick);
    p->next = h->probes;
    h->probes = p;
    h->n_probes++;
    return p;
}

static void probe_free(struct probe *p)
{
    struct lb_health *h = p->h;
    ev_timer_stop(h->loop, &p->tick);
    ev_timer_stop(h->loop, &p->deadline);
    ev_io_stop(h->loop, &p->w);
    io_close(&p->io);
    p->be->health_down = p->be->health_unproven = false; /* no longer checked: no verdict */
    lb_backend_unref(p->be);
    h->n_probes--;
    free(p);
}

struct lb_health *lb_health_new(struct ev_loop *loop, const struct lb_health_opts *o,
                                lb_health_ssl_fn mk_ssl, void *ud)
{
    struct lb_health *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->loop = loop;
    h->o = *o;
    h->mk_ssl = mk_ssl;
    h->ud = ud;
    /* the stall watchers never keep the loop running by themselves */
    ev_prepare_init(&h->prep, prep_cb);
    h->prep.data = h;
    ev_prepare_start(loop, &h->prep);
    ev_unref(loop);
    ev_check_init(&h->woke, woke_cb);
    h->woke.data = h;
    ev_check_start(loop, &h->woke);
    ev_unref(loop);
    return h;
}

void lb_health_configure(struct lb_health *h, const struct lb_health_opts *o)
{
    bool cadence = o->interval != h->o.interval;
    h->o = *o;
    if (!cadence)
        return;
    for (struct probe *p = h->probes; p; p = p->next) {
        p->tick.repeat = o->interval;
        ev_timer_again(h->loop, &p->tick);
    }
}

int lb_health_sync(struct lb_health *h, const struct lb *lb)
{
    int rc = 0;
    for (struct probe *p = h->probes; p; p = p->next)
        p->keep = false;
    for (size_t i = 0; i < lb->n_be; i++) {
        struct probe *p = h->probes;
        while (p && p->be != lb->be[i])
            p = p->next;
        if (!p) {
            if (!(p = probe_new(h, lb->be[i]))) {
                rc = -1;
                continue;
            }
            if (h->synced) /* new since start (registry, reload): not picked before a good check */
                lb->be[i]->health_unproven = true;
        }
        p->keep = true;
    }
    h->synced = true;
    for (struct probe **pp = &h->probes; *pp;) {
        struct probe *p = *pp;
        if (p->keep) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        probe_free(p);
    }
    return rc;
}

void lb_health_free(struct lb_health *h)
{
    if (!h)
        return;
    while (h->probes) {
        struct probe *p = h->probes;
        h->probes = p->next;
        probe_free(p);
    }
    ev_ref(h->loop);
    ev_prepare_stop(h->loop, &h->prep);
    ev_ref(h->loop);
    ev_check_stop(h->loop, &h->woke);
    free(h);
}

const struct lb_health_stats *lb_health_stats(const struct lb_health *h)
{
    return &h->st;
}
