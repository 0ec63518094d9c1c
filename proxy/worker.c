/* worker.c — a worker process: listeners, accept, admission limits,
 * backend generations (config, reload, Redis registry) and their health
 * checks, drain, and the deferred freeing of closed connections (see
 * worker.h). The connections themselves are in conn.c and relay.c, the
 * Redis side in fleet.c. */
#include "proxy/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"
#include "proxy/fleet.h"
#include "proxy/relay.h"
#include "proxy/worker_fleet.h"

#define ACCEPT_LOG_EVERY_S 1.0   /* one accept_error line per second per listener at most */
#define SPARE_BUFFERS 256        /* pool blocks kept for reuse (4 MiB) */
#define FD_RESERVE 64            /* descriptors kept for listeners, logs, admin */
#define TICK_S 1.0

/* ---- rate-limited refusal lines ------------------------------------------------ */

/* The first line of a new second writes how many lines the last window
 * left out (one "log_suppressed" line), before its own. */
static void log_suppressed_summary(struct px_worker *w, double window_start, uint64_t left_out)
{
    if (left_out)
        log_info("log_suppressed", "worker=%u lines=%llu window_s=%.0f", w->index,
                 (unsigned long long)left_out, ev_now(w->loop) - window_start);
}

bool px_worker_log_ok(struct px_worker *w)
{
    double window_start = w->log_limit.window_start;
    uint64_t left_out;
    bool ok = log_limit_allow(&w->log_limit, ev_now(w->loop), &left_out);
    log_suppressed_summary(w, window_start, left_out);
    return ok;
}

/* ---- listeners -------------------------------------------------------------- */

/* The worker's own pause (max_conns) of every open listener, and its end. */
static void listeners_hold(struct px_worker *w, bool hold)
{
    for (size_t i = 0; i < w->n_listeners; i++) {
        if (w->listeners[i].fd == -1)
            continue;
        if (hold)
            listener_hold(&w->listeners[i].l);
        else
            listener_release(&w->listeners[i].l);
    }
}

/* At max_conns a worker leaves its listeners' SO_REUSEPORT groups: a
 * listening socket that only stops being watched keeps getting its share
 * of new connections, which then wait in its backlog (or time out) while
 * other workers have room. shutdown(SHUT_RD) ends listening but keeps the
 * socket bound (Linux; HAProxy pauses listeners the same way), listen()
 * rejoins. What was already queued on it is reset, so a client retries
 * and lands on a worker with room. */
static void leave_groups(struct px_worker *w)
{
    if (!w->accept_paused) {
        w->accept_paused = true;
        listeners_hold(w, true);
    }
    if (w->unlistened)
        return;
    w->unlistened = true;
    for (size_t i = 0; i < w->n_listeners; i++)
        if (w->listeners[i].fd != -1 && shutdown(w->listeners[i].fd, SHUT_RD) == -1)
            log_warn("unlisten", "worker=%u listener=%s err=\"%s\"", w->index, w->listeners[i].text,
                     strerror(errno));
    metrics_add(w->mv, &w->m->fam[PXM_PAUSES], 0, 1);
    log_debug("paused", "worker=%u conns=%llu max_conns=%llu", w->index, (unsigned long long)w->n_conns,
             (unsigned long long)w->max_conns);
}

static void maybe_resume_accept(struct px_worker *w)
{
    if (!w->accept_paused || w->draining || w->n_conns >= w->max_conns)
        return;
    if (w->unlistened) {
        for (size_t i = 0; i < w->n_listeners; i++)
            if (w->listeners[i].fd != -1 && listen(w->listeners[i].fd, (int)w->cfg->backlog) == -1) {
                log_error("relisten", "worker=%u listener=%s err=\"%s\"", w->index,
                          w->listeners[i].text, strerror(errno));
                return; /* tried again at the next close */
            }
        w->unlistened = false;
        log_debug("resumed", "worker=%u conns=%llu", w->index, (unsigned long long)w->n_conns);
    }
    w->accept_paused = false;
    listeners_hold(w, false);
}

static void refuse(struct px_worker *w, enum px_refuse why)
{
    metrics_add(w->mv, &w->m->fam[PXM_REFUSED], why, 1);
}

/* A new connection on one of the listeners (core/listener): refused at
 * once, or handed to conn.c. */
static void accept_one(struct listener *ln, int fd, const struct sockaddr *sa, socklen_t len)
{
    struct px_listener *l = ln->data;
    struct px_worker *w = l->wk;
    if (w->cfg->max_handshakes > 0 && w->n_handshakes >= (uint64_t)w->cfg->max_handshakes) {
        /* before any work: a flood of handshakes cannot grow memory or CPU */
        refuse(w, PXR_HANDSHAKES);
        if (px_worker_log_ok(w)) {
            char addr[NET_ADDR_STR_MAX];
            log_info("refuse", "peer=%s listener=%s reason=handshakes in_flight=%llu",
                     net_addr_str(sa, addr, sizeof addr), l->text, (unsigned long long)w->n_handshakes);
        }
        close(fd);
        return;
    }
    /* non-blocking, close-on-exec and TCP_NODELAY (SSTP carries interactive
     * PPP traffic) from accept4 and the listening socket (net_listen) */
    bool proxy = l->proxy;
    if (proxy && !net_cidr_list_match(&w->cfg->proxy_allow, sa)) {
        if (w->cfg->proxy_untrusted == PX_UNTRUSTED_REJECT) {
            char addr[NET_ADDR_STR_MAX];
            refuse(w, PXR_UNTRUSTED_PROXY);
            if (px_worker_log_ok(w))
                log_info("refuse", "peer=%s listener=%s reason=untrusted_proxy_source",
                         net_addr_str(sa, addr, sizeof addr), l->text);
            close(fd);
            return;
        }
        proxy = false; /* a direct client: its bytes start with TLS */
    }
    px_conn_accept(w, fd, sa, len, l->has_local ? &l->local : NULL, proxy);
    if (w->n_conns >= w->max_conns) /* full: not one more connection queued here */
        leave_groups(w);
}

/* EMFILE and friends: the listener pauses itself and logs (rate-limited);
 * here only the counter. */
static void accept_error(struct listener *ln, int err)
{
    struct px_listener *l = ln->data;
    (void)err;
    refuse(l->wk, PXR_ACCEPT_ERROR);
}

static int open_listeners(struct px_worker *w)
{
    const struct px_bind_list *b = &w->cfg->binds;
    w->listeners = calloc(b->n, sizeof *w->listeners);
    if (!w->listeners)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        struct px_listener *l = &w->listeners[i];
        l->fd = net_listen(&b->items[i].addr, (int)w->cfg->backlog, true);
        w->n_listeners++;
        if (l->fd == -1) {
            log_error("listen_fail", "worker=%u addr=%s err=\"%s\"", w->index, b->items[i].text,
                      strerror(errno));
            return -1;
        }
        l->proxy = b->items[i].proxy;
        l->has_local = net_addr_specific(&b->items[i].addr);
        l->local = b->items[i].addr;
        l->wk = w;
        snprintf(l->text, sizeof l->text, "%s", b->items[i].text);
        listener_init(&l->l, w->loop, l->fd, l->text, accept_one, l);
        l->l.on_error = accept_error;
        log_limit_init(&l->l.log_limit, ACCEPT_LOG_EVERY_S, 1);
        listener_start(&l->l);
    }
    return 0;
}

static void close_listeners(struct px_worker *w)
{
    for (size_t i = 0; i < w->n_listeners; i++) {
        if (w->listeners[i].fd == -1)
            continue;
        listener_stop(&w->listeners[i].l);
        close(w->listeners[i].fd);
        w->listeners[i].fd = -1;
    }
}

/* ---- connections ------------------------------------------------------------ */

static void reaper_cb(struct ev_loop *loop, ev_check *chk, int revents)
{
    (void)revents;
    struct px_worker *w = chk->data;
    while (w->dead) {
        struct px_conn *c = w->dead;
        w->dead = c->next;
        px_conn_free(c);
    }
    ev_check_stop(loop, chk);
}

void px_worker_conn_closed(struct px_worker *w, struct px_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = w->dead; /* freed after the running callback */
    w->dead = c;
    ev_check_start(w->loop, &w->reaper);
    w->n_conns--;
    metrics_sub(w->mv, &w->m->fam[PXM_CONNECTIONS_ACTIVE], 0, 1);
    maybe_resume_accept(w);
    if (w->draining && w->n_conns == 0)
        ev_break(w->loop, EVBREAK_ALL);
}

bool px_worker_accepting(const struct px_worker *w)
{
    return !w->draining && w->n_conns < w->max_conns && lb_available(w->lb, ev_now(w->loop));
}

size_t px_worker_backend_slot(struct px_worker *w, struct lb_backend *be)
{
    if (be->user_slot == 0) {
        /* claimed in the same order in each family: one index for all five */
        size_t i = metrics_slot(w->m, w->index, PXM_BACKEND_UP, be->spec.name);
        metrics_slot(w->m, w->index, PXM_BACKEND_ACTIVE, be->spec.name);
        metrics_slot(w->m, w->index, PXM_BACKEND_SESSIONS, be->spec.name);
        metrics_slot(w->m, w->index, PXM_BACKEND_FAILURES, be->spec.name);
        metrics_slot(w->m, w->index, PXM_BACKEND_HEALTHY, be->spec.name);
        be->user_slot = i + 1;
    }
    return be->user_slot - 1;
}

/* The registry reader's counters: ignored entries by reason, held reads. */
static void publish_registry(struct px_worker *w)
{
    const struct lb_reg_stats *rs = px_fleet_registry_stats(w->fleet);
    const struct metrics_family *f = w->m->fam;
    for (size_t i = 1; i < LB_REG_RC_COUNT; i++) /* LB_REG_OK is not a reason */
        metrics_add(w->mv, &f[PXM_REGISTRY_IGNORED], i - 1, rs->ignored[i] - w->registry_pub.ignored[i]);
    metrics_add(w->mv, &f[PXM_REGISTRY_HELD], 0, rs->held - w->registry_pub.held);
    metrics_add(w->mv, &f[PXM_REGISTRY_REFRESHES], PXG_ERROR, rs->read_errors - w->registry_pub.read_errors);
    w->registry_pub = *rs;
}

/* Gauges that depend on time (a down mark expires) or on many events. */
static void publish(struct px_worker *w)
{
    ev_tstamp now = ev_now(w->loop);
    const struct metrics_family *f = w->m->fam;
    for (size_t i = 0; i < w->lb->n_be; i++) {
        struct lb_backend *be = w->lb->be[i];
        size_t s = px_worker_backend_slot(w, be);
        metrics_set(w->mv, &f[PXM_BACKEND_UP], s, lb_is_up(be, now) && !be->health_down ? 1 : 0);
        metrics_set(w->mv, &f[PXM_BACKEND_ACTIVE], s, be->n_active);
        if (w->health)
            metrics_set(w->mv, &f[PXM_BACKEND_HEALTHY], s, be->health_down ? 0 : 1);
    }
    metrics_set(w->mv, &f[PXM_BUFFERS], 0, w->pool.n_alloc);
    px_tls_tick(w->tls, ev_now(w->loop)); /* erases a rotated-out ticket key even when idle */
    metrics_set(w->mv, &f[PXM_HANDSHAKES], 0, w->n_handshakes);
    metrics_set(w->mv, &f[PXM_BUFFER_BYTES], 0, w->pool.bytes);
    metrics_set(w->mv, &f[PXM_BUFFER_BYTES_PEAK], 0, w->buf_peak);
    if (heap_tick(&w->heap, now))
        metrics_add(w->mv, &f[PXM_HEAP_TRIMS], 0, 1);
    metrics_set(w->mv, &f[PXM_HEAP_BYTES], 0, w->heap.in_use);
    metrics_set(w->mv, &f[PXM_HEAP_BYTES], 1, w->heap.free);
    metrics_set(w->mv, &f[PXM_WORKER_READY], 0, px_worker_accepting(w) ? 1 : 0);
    if (w->health) {
        const struct lb_health_stats *hs = lb_health_stats(w->health);
        metrics_add(w->mv, &f[PXM_HEALTH_CHECKS], PXK_OK, hs->ok - w->health_pub.ok);
        metrics_add(w->mv, &f[PXM_HEALTH_CHECKS], PXK_FAIL, hs->fail - w->health_pub.fail);
        metrics_add(w->mv, &f[PXM_HEALTH_CHECKS], PXK_STRETCHED, hs->stretched - w->health_pub.stretched);
        w->health_pub = *hs;
    }
    if (w->fleet) {
        px_worker_fleet_publish(w);
        publish_registry(w);
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct px_worker *w = t->data;
    /* a flood that stopped still gets its summary */
    double window_start = w->log_limit.window_start;
    log_suppressed_summary(w, window_start, log_limit_roll(&w->log_limit, ev_now(loop)));
    publish(w);
}

/* ---- backend generations ------------------------------------------------------ */

/* The backends of cfg's static servers and of the registry list last read,
 * over the current generation's objects (their state carries over). */
static struct lb *build_lb(struct px_worker *w, const struct px_config *cfg)
{
    static const struct lb_reg_list none = { NULL, 0 };
    const struct lb_reg_list *reg = w->fleet ? px_fleet_registry(w->fleet) : &none;
    struct lb_spec_list specs = { NULL, 0 };
    char shadowed[sizeof w->shadowed];
    /* a random start per worker: the workers of every proxy see the same
     * fleet counts, and ties starting at index 0 would all land on one */
    struct lb_params params = { .down_time = cfg->down_time, .tie_start = arc4random(),
                                .panic_threshold = (unsigned)cfg->panic_threshold };
    if (lb_reg_merge(&specs, &cfg->servers, reg, shadowed, sizeof shadowed) == -1)
        return NULL;
    struct lb *nlb = lb_new(lb_policy_by_index(cfg->policy), &params, &specs, w->lb);
    lb_spec_list_free(&specs);
    if (nlb && strcmp(shadowed, w->shadowed) != 0) {
        /* once per change of the set, not per refresh */
        if (shadowed[0])
            log_warn("registry_shadowed", "worker=%u names=%s msg=static_servers_win", w->index, shadowed);
        memcpy(w->shadowed, shadowed, sizeof shadowed);
    }
    if (nlb && w->fleet)
        lb_reg_apply(nlb, reg);
    return nlb;
}

/* Makes nlb current: health checks follow it, metrics show its backends.
 * Sessions keep the backend objects they hold. */
static void install_lb(struct px_worker *w, struct lb *nlb)
{
    if (w->health && lb_health_sync(w->health, nlb) == -1)
        log_error("health", "worker=%u err=out_of_memory msg=some_backends_unchecked", w->index);
    lb_free(w->lb);
    w->lb = nlb;
    metrics_family_absent(w->m, w->index, PXM_BACKEND_UP);
    metrics_family_absent(w->m, w->index, PXM_BACKEND_ACTIVE);
    metrics_family_absent(w->m, w->index, PXM_BACKEND_HEALTHY);
    publish(w);
}

void px_worker_registry(struct px_worker *w, const struct lb_reg_list *list, bool changed)
{
    if (changed) {
        struct lb *nlb = build_lb(w, w->cfg);
        if (!nlb) {
            log_error("registry_fail", "worker=%u err=cannot_build_backend_list msg=keeping_the_last",
                      w->index);
        } else {
            size_t was = w->lb->n_be;
            install_lb(w, nlb);
            log_info("registry", "worker=%u registered=%zu backends=%zu was=%zu", w->index, list->n,
                     nlb->n_be, was);
        }
    }
    lb_reg_apply(w->lb, list);
}

static SSL *health_ssl(void *ud, int fd, const struct lb_spec *spec)
{
    struct px_worker *w = ud;
    return px_tls_backend_ssl(w->tls, fd, spec); /* the proxy's own client context */
}

static void health_opts(const struct px_worker *w, const struct px_config *cfg, struct lb_health_opts *o)
{
    o->interval = cfg->health_interval;
    o->timeout = cfg->health_timeout;
    o->rise = (unsigned)cfg->health_rise;
    o->fall = (unsigned)cfg->health_fall;
    o->probe = (enum lb_probe)cfg->health_probe;
    o->id = w->index;
}

/* Starts, re-tunes or stops the active checks as cfg says. */
static void setup_health(struct px_worker *w, const struct px_config *cfg)
{
    struct lb_health_opts o;
    health_opts(w, cfg, &o);
    if (o.probe == LB_PROBE_NONE) {
        lb_health_free(w->health); /* clears the marks it set */
        w->health = NULL;
        metrics_family_absent(w->m, w->index, PXM_BACKEND_HEALTHY);
        return;
    }
    if (w->health) {
        lb_health_configure(w->health, &o);
        return;
    }
    memset(&w->health_pub, 0, sizeof w->health_pub);
    if (!(w->health = lb_health_new(w->loop, &o, health_ssl, w)))
        log_error("health", "worker=%u err=out_of_memory msg=no_active_checks", w->index);
}

/* ---- admission limits -------------------------------------------------------------- */

#define SOURCE_SLOTS 65536 /* sources tracked per worker: ~2 MiB of buckets and counters */

static int init_limits(struct px_worker *w, const struct px_config *cfg)
{
    if (ratelimit_init(&w->rate, SOURCE_SLOTS, (double)cfg->per_source_rate,
                       (double)cfg->per_source_burst) == -1 ||
        ratelimit_set_prefix(&w->rate, (unsigned)cfg->source_prefix4, (unsigned)cfg->source_prefix6) == -1 ||
        srclimit_init(&w->src, SOURCE_SLOTS, (uint32_t)cfg->per_source_conns,
                      (unsigned)cfg->source_prefix4, (unsigned)cfg->source_prefix6) == -1)
        return -1;
    return 0;
}

/* A reload: new rates and caps at once (counts held are kept). */
static void apply_limits(struct px_worker *w, const struct px_config *cfg)
{
    w->rate.rate = (double)cfg->per_source_rate;
    w->rate.burst = (double)cfg->per_source_burst;
    ratelimit_set_prefix(&w->rate, (unsigned)cfg->source_prefix4, (unsigned)cfg->source_prefix6);
    srclimit_set_max(&w->src, (uint32_t)cfg->per_source_conns);
    if (w->src.v4_prefix != (unsigned)cfg->source_prefix4 || w->src.v6_prefix != (unsigned)cfg->source_prefix6)
        log_warn("reload_partial", "worker=%u msg=limits.source_prefix_applies_to_per_source_conns_at_restart",
                 w->index);
}

/* ---- relay memory ------------------------------------------------------------------ */

static size_t memory_budget(const struct px_worker *w)
{
    return (size_t)w->cfg->relay_memory * 1024;
}

static bool memory_room(const struct px_worker *w)
{
    size_t budget = memory_budget(w);
    return budget == 0 || w->pool.bytes + BUF_BIG_SIZE <= budget;
}

void px_worker_buf_taken(struct px_worker *w)
{
    if (w->pool.bytes > w->buf_peak)
        w->buf_peak = w->pool.bytes;
}

bool px_worker_memory_ok(struct px_worker *w, struct px_conn *c)
{
    if (c->mem_wait)
        return false; /* in line: its turn comes from memory_check_cb */
    if (c->mem_granted) { /* its turn came: the memory is its own */
        c->mem_granted = false;
        return true;
    }
    if (memory_room(w) && !w->mem_head)
        return true;
    /* first come, first served: a newcomer does not pass the line */
    c->mem_wait = true;
    c->mem_prev = w->mem_tail;
    c->mem_next = NULL;
    if (w->mem_tail)
        w->mem_tail->mem_next = c;
    else
        w->mem_head = c;
    w->mem_tail = c;
    metrics_add(w->mv, &w->m->fam[PXM_MEMORY_WAITS], 0, 1);
    ev_check_start(w->loop, &w->memory_check);
    return false;
}

void px_worker_memory_leave(struct px_worker *w, struct px_conn *c)
{
    if (!c->mem_wait)
        return;
    if (c->mem_prev)
        c->mem_prev->mem_next = c->mem_next;
    else
        w->mem_head = c->mem_next;
    if (c->mem_next)
        c->mem_next->mem_prev = c->mem_prev;
    else
        w->mem_tail = c->mem_prev;
    c->mem_prev = c->mem_next = NULL;
    c->mem_wait = false;
}

/* After each loop iteration: while memory is free, the first in line runs
 * its relay again (outside any connection's callback). */
static void memory_check_cb(struct ev_loop *loop, ev_check *chk, int revents)
{
    (void)revents;
    struct px_worker *w = chk->data;
    size_t n = 0;
    for (struct px_conn *c = w->mem_head; c; c = c->mem_next)
        n++;
    /* each one in line now gets at most one turn per loop iteration (one
     * that needs more goes to the back): other events are not starved */
    while (n-- > 0 && w->mem_head && memory_room(w)) {
        struct px_conn *c = w->mem_head;
        px_worker_memory_leave(w, c);
        c->mem_granted = true; /* not sent to the back of the line by px_worker_memory_ok */
        px_relay_run(c, 0, 0);
        if (c->state != PXC_CLOSED)
            c->mem_granted = false; /* used, or not needed this time */
    }
    if (!w->mem_head)
        ev_check_stop(loop, chk);
}

/* ---- reload and drain ---------------------------------------------------------- */

static bool binds_equal(const struct px_bind_list *a, const struct px_bind_list *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].text, b->items[i].text) != 0 || a->items[i].proxy != b->items[i].proxy)
            return false;
    return true;
}

static void reload(struct px_worker *w)
{
    char err[512];
    struct px_config *nc = calloc(1, sizeof *nc);
    struct px_tls *nt = NULL;
    struct lb *nlb = NULL;
    if (!nc) {
        log_error("reload_fail", "worker=%u err=out_of_memory", w->index);
        return;
    }
    if (px_config_load(nc, w->cfg_path, err, sizeof err) == -1 ||
        !(nt = px_tls_new(nc, w->tls, 0, err, sizeof err))) {
        log_error("reload_fail", "worker=%u err=\"%s\"", w->index, err);
        goto fail;
    }
    nlb = build_lb(w, nc);
    if (!nlb) {
        log_error("reload_fail", "worker=%u err=backends", w->index);
        goto fail;
    }
    if (!binds_equal(&w->cfg->binds, &nc->binds))
        log_warn("reload_partial", "worker=%u msg=listen.bind_changes_need_a_restart", w->index);
    /* established connections keep their own references */
    px_tls_unref(w->tls);
    w->tls = nt;
    /* listeners keep the binds they were opened with; the Redis client
     * its [redis] options (the master warns about a change) */
    px_config_free(w->cfg);
    free(w->cfg);
    w->cfg = nc;
    apply_limits(w, nc);
    setup_health(w, nc);
    install_lb(w, nlb);
    char hex[2 * SSTP_SHA256_LEN + 1];
    log_info("reloaded", "worker=%u certs=%zu default_cert_sha256=%s backends=%zu", w->index,
             nt->n_certs, tls_hex(hex, nt->certs[0].hashes.sha256, SSTP_SHA256_LEN), nlb->n_be);
    return;
fail:
    px_tls_unref(nt);
    px_config_free(nc);
    free(nc);
}

static void drain_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct px_worker *w = t->data;
    log_info("drain_deadline", "worker=%u conns=%llu", w->index, (unsigned long long)w->n_conns);
    while (w->conns)
        px_conn_kill(w->conns);
}

static void drain(struct px_worker *w)
{
    if (w->draining) { /* a second signal: do not wait any longer */
        drain_deadline_cb(w->loop, &w->drain_timer, 0);
        return;
    }
    w->draining = true;
    close_listeners(w);
    metrics_set(w->mv, &w->m->fam[PXM_WORKER_READY], 0, 0);
    log_info("drain", "worker=%u conns=%llu sessions=%llu timeout_s=%g", w->index,
             (unsigned long long)w->n_conns, (unsigned long long)w->n_sessions, w->cfg->drain_timeout);
    if (w->n_conns == 0) {
        ev_break(w->loop, EVBREAK_ALL);
        return;
    }
    ev_timer_set(&w->drain_timer, w->cfg->drain_timeout, 0);
    ev_timer_start(w->loop, &w->drain_timer);
}

static void signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)loop;
    (void)revents;
    struct px_worker *w = s->data;
    if (s->signum == SIGHUP)
        reload(w);
    else
        drain(w);
}

/* ---- main --------------------------------------------------------------------- */

static uint64_t conn_limit(const struct px_config *cfg)
{
    struct rlimit rl;
    if (cfg->max_conns > 0)
        return (uint64_t)cfg->max_conns;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
        return 10000;
    /* a relayed session holds two descriptors */
    return rl.rlim_cur > 2 * FD_RESERVE ? (uint64_t)(rl.rlim_cur - FD_RESERVE) / 2 : 1;
}

static void worker_cleanup(struct px_worker *w)
{
    while (w->conns)
        px_conn_kill(w->conns);
    reaper_cb(w->loop, &w->reaper, 0);
    close_listeners(w);
    free(w->listeners);
    ev_check_stop(w->loop, &w->memory_check);
    ev_timer_stop(w->loop, &w->drain_timer);
    ev_timer_stop(w->loop, &w->tick);
    ev_signal_stop(w->loop, &w->sighup);
    ev_signal_stop(w->loop, &w->sigterm);
    ev_signal_stop(w->loop, &w->sigint);
    lb_health_free(w->health);
    px_fleet_free(w->fleet); /* the connections, and their look-ups, are gone */
    px_tls_unref(w->tls);
    lb_free(w->lb);
    BIO_meth_free(w->wstage_meth); /* every SSL that used it is gone */
    buf_pool_cleanup(&w->pool);
    ratelimit_cleanup(&w->rate);
    srclimit_cleanup(&w->src);
    if (w->cfg) {
        px_config_free(w->cfg);
        free(w->cfg);
    }
    metrics_block_reset_gauges(w->m, w->index);
}

int px_worker_main(struct ev_loop *loop, unsigned index, const char *cfg_path,
                   struct px_config *cfg, struct metrics *m, struct px_tls *tls)
{
    struct px_worker w;
    int rc = PX_EXIT_CONFIG;

    memset(&w, 0, sizeof w);
    w.loop = loop;
    w.index = index;
    w.cfg_path = cfg_path;
    w.cfg = cfg;
    w.m = m;
    w.mv = metrics_values(m, index);
    w.tls = tls;
    metrics_block_reset_gauges(m, index);
    metrics_gauges_zero(m, index);
    buf_pool_init(&w.pool, SPARE_BUFFERS);
    heap_init(&w.heap, 0);
    log_limit_init(&w.log_limit, 1.0, PX_LOG_BURST);
    ev_timer_init(&w.drain_timer, drain_deadline_cb, 1, 0);
    w.drain_timer.data = &w;
    ev_timer_init(&w.tick, tick_cb, TICK_S, TICK_S);
    w.tick.data = &w;
    ev_check_init(&w.reaper, reaper_cb);
    w.reaper.data = &w;
    ev_check_init(&w.memory_check, memory_check_cb);
    w.memory_check.data = &w;
    ev_signal_init(&w.sighup, signal_cb, SIGHUP);
    ev_signal_init(&w.sigterm, signal_cb, SIGTERM);
    ev_signal_init(&w.sigint, signal_cb, SIGINT);
    w.sighup.data = w.sigterm.data = w.sigint.data = &w;

    if (!(w.wstage_meth = px_wstage_method_new())) {
        log_error("start_fail", "worker=%u err=bio_method", index);
        goto out;
    }
    /* the static servers first; the registry adds its backends when Redis answers */
    w.lb = build_lb(&w, cfg);
    if (!w.lb) {
        log_error("backends", "worker=%u err=cannot_build_backend_list", index);
        goto out;
    }
    setup_health(&w, cfg);
    if (w.health)
        lb_health_sync(w.health, w.lb);
    if (rds_config_enabled(&cfg->redis) && !(w.fleet = px_worker_fleet_new(&w)))
        goto out;
    w.max_conns = conn_limit(cfg);
    if (init_limits(&w, cfg) == -1) {
        log_error("start_fail", "worker=%u err=out_of_memory msg=admission_tables", index);
        goto out;
    }
    if (open_listeners(&w) == -1)
        goto out;
    ev_signal_start(loop, &w.sighup);
    ev_signal_start(loop, &w.sigterm);
    ev_signal_start(loop, &w.sigint);
    sigset_t none; /* the master forked us with its signals blocked */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    ev_timer_start(loop, &w.tick);
    publish(&w);
    log_info("worker_ready", "worker=%u listeners=%zu max_conns=%llu", index, w.n_listeners,
             (unsigned long long)w.max_conns);
    ev_run(loop, 0);
    log_info("worker_exit", "worker=%u", index);
    rc = PX_EXIT_OK;
out:
    worker_cleanup(&w);
    return rc;
}
