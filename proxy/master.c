/* master.c — the supervising process (see master.h). It never touches a
 * client connection: it forks, watches, signals and reports. It holds the
 * last TLS generation that loaded without error, and a worker it forks
 * inherits it in memory: a restart never depends on the files on disk
 * (a renewal may be halfway). */
#include "proxy/master.h"

#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/log.h"
#include "core/metrics.h"
#include "proxy/stats.h"
#include "proxy/tls_ctx.h"
#include "proxy/worker.h"

#define RESTART_MIN_S 0.5   /* first restart delay of a worker that died */
#define RESTART_MAX_S 30.0  /* cap of the doubling delay of a crash loop */
#define STABLE_S 10.0       /* a worker that ran this long resets the backoff */
#define KEY_TICK_S 5.0      /* moves the master's ticket key ratchet (erasing old keys) */

struct px_master;

struct px_slot {
    struct px_master *m;
    unsigned index;
    pid_t pid;               /* 0: not running */
    ev_child child;
    ev_timer restart;
    ev_tstamp started;
    unsigned quick_deaths;   /* consecutive deaths within STABLE_S */
};

struct px_master {
    struct ev_loop *loop;
    pid_t self;
    const char *cfg_path;
    struct px_config *cfg;
    struct px_tls *tls;      /* last good generation: what a forked worker starts with */
    struct metrics_family fam[PXM_COUNT];
    struct metrics m;
    uint64_t *mv;            /* the master's own block */
    struct px_slot *slots;
    size_t n_slots;
    unsigned n_running;
    struct admin admin;
    bool admin_on;
    ev_signal sighup, sigterm, sigint;
    ev_timer kill_timer;
    ev_timer key_tick;
    ev_timer cert_check;   /* certificate expiry, every TLS_EXPIRY_CHECK_S */
    bool stopping;
    int exit_code;
};

static void spawn(struct px_slot *s);

static void set_workers_gauge(struct px_master *m)
{
    metrics_set(m->mv, &m->fam[PXM_WORKERS], 0, m->n_running);
}

static void signal_workers(struct px_master *m, int sig)
{
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
}

static void stop(struct px_master *m, int exit_code)
{
    if (exit_code)
        m->exit_code = exit_code;
    if (m->stopping) {
        signal_workers(m, SIGTERM); /* a second signal: workers stop waiting */
        return;
    }
    m->stopping = true;
    for (size_t i = 0; i < m->n_slots; i++)
        ev_timer_stop(m->loop, &m->slots[i].restart);
    log_info("stopping", "workers=%u", m->n_running);
    if (m->n_running == 0) {
        ev_break(m->loop, EVBREAK_ALL);
        return;
    }
    signal_workers(m, SIGTERM);
    ev_timer_set(&m->kill_timer, m->cfg->drain_timeout + PX_KILL_SLACK_S, 0);
    ev_timer_start(m->loop, &m->kill_timer);
}

static void kill_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct px_master *m = t->data;
    log_warn("kill_workers", "workers=%u", m->n_running);
    signal_workers(m, SIGKILL);
}

static void child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
    (void)revents;
    struct px_slot *s = c->data;
    struct px_master *m = s->m;
    int st = c->rstatus;
    ev_child_stop(loop, c);
    s->pid = 0;
    m->n_running--;
    set_workers_gauge(m);
    metrics_block_reset_gauges(&m->m, s->index); /* its connections are gone */
    if (WIFEXITED(st))
        log_at(m->stopping && WEXITSTATUS(st) == 0 ? LOG_INFO : LOG_ERROR, "worker_exit",
               "worker=%u pid=%d status=%d", s->index, (int)c->rpid, WEXITSTATUS(st));
    else
        log_error("worker_exit", "worker=%u pid=%d signal=%d", s->index, (int)c->rpid,
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (m->stopping) {
        if (m->n_running == 0)
            ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == PX_EXIT_CONFIG && m->n_running == 0) {
        /* nothing serves, and what failed there fails in every worker */
        log_error("worker_cannot_start", "worker=%u msg=stopping", s->index);
        stop(m, 1);
        return;
    }
    /* while others serve, a worker that cannot start is retried with backoff */
    s->quick_deaths = ev_now(loop) - s->started < STABLE_S ? s->quick_deaths + 1 : 0;
    double delay = RESTART_MIN_S;
    for (unsigned i = 1; i < s->quick_deaths && delay < RESTART_MAX_S; i++)
        delay *= 2;
    if (delay > RESTART_MAX_S)
        delay = RESTART_MAX_S;
    metrics_add(m->mv, &m->fam[PXM_WORKER_RESTARTS], 0, 1);
    log_warn("worker_restart", "worker=%u in_s=%g", s->index, delay);
    ev_timer_set(&s->restart, delay, 0);
    ev_timer_start(loop, &s->restart);
}

static void restart_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    spawn(t->data);
}

/* In the new worker: drop everything of the master's on the loop. Stopping
 * watchers makes no system call, so the parent's epoll set and signal
 * handling are untouched; ev_loop_fork() then gives the child its own. */
static void child_detach(struct px_master *m)
{
    if (m->admin_on)
        admin_stop(&m->admin);
    ev_signal_stop(m->loop, &m->sighup);
    ev_signal_stop(m->loop, &m->sigterm);
    ev_signal_stop(m->loop, &m->sigint);
    ev_timer_stop(m->loop, &m->kill_timer);
    ev_timer_stop(m->loop, &m->key_tick);
    ev_timer_stop(m->loop, &m->cert_check);
    for (size_t i = 0; i < m->n_slots; i++) {
        ev_child_stop(m->loop, &m->slots[i].child);
        ev_timer_stop(m->loop, &m->slots[i].restart);
    }
    ev_loop_fork(m->loop);
}

static void spawn(struct px_slot *s)
{
    struct px_master *m = s->m;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old); /* no signal between fork and the worker's handlers */
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the master */
        if (getppid() != m->self)
            exit(PX_EXIT_OK);
        child_detach(m);
        struct px_config *cfg = m->cfg;
        struct px_tls *tls = m->tls;
        m->cfg = NULL; /* the worker owns these copies now */
        m->tls = NULL;
        exit(px_worker_main(m->loop, s->index, m->cfg_path, cfg, &m->m, tls));
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid == -1) {
        log_error("fork_fail", "worker=%u err=\"%s\"", s->index, strerror(errno));
        ev_timer_set(&s->restart, RESTART_MAX_S, 0);
        ev_timer_start(m->loop, &s->restart);
        return;
    }
    s->pid = pid;
    s->started = ev_now(m->loop);
    ev_child_set(&s->child, pid, 0);
    ev_child_start(m->loop, &s->child);
    m->n_running++;
    set_workers_gauge(m);
    log_info("worker_start", "worker=%u pid=%d", s->index, (int)pid);
}

/* Options a reload cannot apply (the listeners and workers stay). */
static void warn_static_changes(const struct px_config *old, const struct px_config *nc)
{
    bool binds = old->binds.n != nc->binds.n;
    for (size_t i = 0; !binds && i < old->binds.n; i++)
        binds = strcmp(old->binds.items[i].text, nc->binds.items[i].text) != 0 ||
                old->binds.items[i].proxy != nc->binds.items[i].proxy;
    if (binds)
        log_warn("reload_partial", "option=listen.bind msg=needs_a_restart");
    if (old->workers != nc->workers)
        log_warn("reload_partial", "option=proxy.workers msg=needs_a_restart");
    if (strcmp(old->admin ? old->admin : "", nc->admin ? nc->admin : "") != 0)
        log_warn("reload_partial", "option=admin.address msg=needs_a_restart");
    /* each worker's Redis client and registry reader live as long as it */
    const char *redis_changed = rds_config_diff(&old->redis, &nc->redis);
    if (redis_changed)
        log_warn("reload_partial", "option=%s msg=needs_a_restart", redis_changed);
    if (old->registry_interval != nc->registry_interval)
        log_warn("reload_partial", "option=redis.registry_interval msg=needs_a_restart");
    if (old->ticket_rotate != nc->ticket_rotate)
        log_warn("reload_partial", "option=tls.ticket_rotate msg=random_keys_keep_their_period_until_a_restart");
    bool allow = old->registry_allow.n != nc->registry_allow.n ||
                 (old->registry_allow.n && memcmp(old->registry_allow.items, nc->registry_allow.items,
                                                  old->registry_allow.n * sizeof *old->registry_allow.items));
    if (allow || old->registry_mtls_only != nc->registry_mtls_only ||
        old->registry_grace != nc->registry_grace ||
        (old->backend_ca && old->backend_ca[0]) != (nc->backend_ca && nc->backend_ca[0]))
        log_warn("reload_partial", "option=redis.registry_* msg=needs_a_restart");
}

static void reload(struct px_master *m)
{
    char err[512];
    struct px_config *nc = calloc(1, sizeof *nc);
    struct px_tls *nt = NULL;
    if (!nc || px_config_load(nc, m->cfg_path, err, sizeof err) == -1 ||
        !(nt = px_tls_new(nc, m->tls, PX_TLS_LOG_WARNINGS, err, sizeof err))) {
        if (!nc)
            snprintf(err, sizeof err, "out of memory");
        metrics_add(m->mv, &m->fam[PXM_RELOADS], PXL_FAILED, 1);
        log_error("reload_fail", "err=\"%s\" msg=keeping_the_running_configuration", err);
        if (nc)
            px_config_free(nc);
        free(nc);
        return;
    }
    metrics_add(m->mv, &m->fam[PXM_TLS_POLICY], PXTP_OCSP_NOT_STAPLED, nt->n_ocsp_dropped);
    px_tls_expiry(nt, &m->m, m->n_slots, time(NULL), nc->expiry_warn_days);
    px_tls_unref(m->tls);
    m->tls = nt;
    warn_static_changes(m->cfg, nc);
    nc->workers = m->cfg->workers;
    px_config_free(m->cfg);
    free(m->cfg);
    m->cfg = nc; /* restarted workers start from it */
    metrics_add(m->mv, &m->fam[PXM_RELOADS], PXL_OK, 1);
    log_info("reload", "workers=%u", m->n_running);
    signal_workers(m, SIGHUP);
}

static void signal_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
    (void)loop;
    (void)revents;
    struct px_master *m = sig->data;
    if (sig->signum == SIGHUP) {
        if (!m->stopping)
            reload(m);
        return;
    }
    log_info("signal", "signum=%d action=stop", sig->signum);
    stop(m, 0);
}

/* ---- admin hooks ---------------------------------------------------------------- */

static int admin_metrics(void *ctx, void *out)
{
    struct px_master *m = ctx;
    return metrics_render(&m->m, out);
}

static bool admin_ready(void *ctx, char *why, size_t why_len)
{
    struct px_master *m = ctx;
    if (m->stopping) {
        snprintf(why, why_len, "stopping");
        return false;
    }
    uint64_t ready = metrics_sum(&m->m, PXM_WORKER_READY, 0);
    if (ready == 0 || ready == METRICS_ABSENT) {
        snprintf(why, why_len, "no worker ready (listening with a backend up)");
        return false;
    }
    /* each worker has its own Redis link: all of them must be up */
    if (rds_config_enabled(&m->cfg->redis) && m->cfg->redis.ready_needs_redis) {
        uint64_t up = metrics_sum(&m->m, PXM_REDIS_CONNECTED, 0);
        if (up == METRICS_ABSENT)
            up = 0;
        if (up < m->n_running) {
            snprintf(why, why_len, "redis down (%llu of %u workers connected)",
                     (unsigned long long)up, m->n_running);
            return false;
        }
    }
    return true;
}

/* ---- start ----------------------------------------------------------------------- */

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            log_warn("rlimit", "err=\"%s\"", strerror(errno));
    }
}

/* Fails early, with one clear line, on what every worker would fail on. */
static int preflight(struct px_master *m)
{
    char err[512];
    for (size_t i = 0; i < m->cfg->binds.n; i++) {
        const struct px_bind *b = &m->cfg->binds.items[i];
        int fd = net_listen(&b->addr, 1, true);
        if (fd == -1) {
            log_error("listen_fail", "addr=%s err=\"%s\"", b->text, strerror(errno));
            return -1;
        }
        close(fd); /* a listener here would take a share of the connections */
    }
    if (rds_config_enabled(&m->cfg->redis) && m->cfg->registry_allow.n == 0)
        log_warn("registry_allow_default", "allow=\"10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 "
                 "100.64.0.0/10 fc00::/7\" msg=\"redis.registry_allow is empty: registered "
                 "backends are limited to private ranges; set the backends' own networks\"");
    struct px_tls *t = px_tls_new(m->cfg, NULL, PX_TLS_LOG_WARNINGS, err, sizeof err);
    if (!t) {
        log_error("tls_config", "err=\"%s\"", err);
        return -1;
    }
    for (size_t i = 0; i < t->n_certs; i++) {
        char hex[2 * SSTP_SHA256_LEN + 1];
        log_info("cert", "file=%s sha256=%s key=%s default=%d names=%zu", t->certs[i].file,
                 tls_hex(hex, t->certs[i].hashes.sha256, SSTP_SHA256_LEN), t->certs[i].key_alg,
                 (int)t->certs[i].is_default, t->certs[i].n_names);
    }
    metrics_add(m->mv, &m->fam[PXM_TLS_POLICY], PXTP_OCSP_NOT_STAPLED, t->n_ocsp_dropped);
    px_tls_expiry(t, &m->m, m->n_slots, time(NULL), m->cfg->expiry_warn_days);
    m->tls = t; /* the generation every worker starts from */
    return 0;
}

static void key_tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct px_master *m = t->data;
    if (m->tls)
        px_tls_tick(m->tls, ev_now(loop));
}

static void cert_check_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct px_master *m = t->data;
    if (m->tls)
        px_tls_expiry(m->tls, &m->m, m->n_slots, time(NULL), m->cfg->expiry_warn_days);
}

int px_master_main(const char *cfg_path, struct px_config *cfg)
{
    struct px_master m;
    memset(&m, 0, sizeof m);
    m.cfg_path = cfg_path;
    m.cfg = cfg;
    m.self = getpid();
    m.admin.fd = -1;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    m.loop = ev_default_loop(EVFLAG_AUTO);
    if (!m.loop) {
        log_error("start_fail", "err=no_event_loop");
        goto out;
    }
    m.n_slots = (size_t)px_config_workers(cfg);
    px_stats_table(m.fam);
    if (metrics_init(&m.m, m.fam, PXM_COUNT, m.n_slots + 1) == -1) {
        log_error("start_fail", "err=\"metrics: %s\"", strerror(errno));
        goto out;
    }
    m.mv = metrics_values(&m.m, m.n_slots);
    metrics_gauges_zero(&m.m, m.n_slots);
    m.slots = calloc(m.n_slots, sizeof *m.slots);
    if (!m.slots || preflight(&m) == -1)
        goto out;
    if (cfg->admin && cfg->admin[0]) {
        struct net_addr a;
        struct admin_hooks hooks = { &m, admin_metrics, admin_ready };
        if (net_addr_parse(&a, cfg->admin) == -1 || admin_start(&m.admin, m.loop, &a, &hooks) == -1) {
            log_error("admin_fail", "addr=%s err=\"%s\"", cfg->admin, strerror(errno));
            goto out;
        }
        m.admin_on = true;
        log_info("admin", "addr=%s", cfg->admin);
    }
    ev_signal_init(&m.sighup, signal_cb, SIGHUP);
    ev_signal_init(&m.sigterm, signal_cb, SIGTERM);
    ev_signal_init(&m.sigint, signal_cb, SIGINT);
    m.sighup.data = m.sigterm.data = m.sigint.data = &m;
    ev_signal_start(m.loop, &m.sighup);
    ev_signal_start(m.loop, &m.sigterm);
    ev_signal_start(m.loop, &m.sigint);
    ev_timer_init(&m.kill_timer, kill_timer_cb, 1, 0);
    m.kill_timer.data = &m;
    ev_timer_init(&m.key_tick, key_tick_cb, KEY_TICK_S, KEY_TICK_S);
    m.key_tick.data = &m;
    ev_timer_start(m.loop, &m.key_tick);
    ev_timer_init(&m.cert_check, cert_check_cb, TLS_EXPIRY_CHECK_S, TLS_EXPIRY_CHECK_S);
    m.cert_check.data = &m;
    ev_timer_start(m.loop, &m.cert_check);
    for (size_t i = 0; i < m.n_slots; i++) {
        struct px_slot *s = &m.slots[i];
        s->m = &m;
        s->index = (unsigned)i;
        ev_child_init(&s->child, child_cb, 0, 0);
        s->child.data = s;
        ev_timer_init(&s->restart, restart_cb, 1, 0);
        s->restart.data = s;
    }
    log_info("master", "pid=%d workers=%zu", (int)m.self, m.n_slots);
    for (size_t i = 0; i < m.n_slots && !m.stopping; i++)
        spawn(&m.slots[i]);
    ev_run(m.loop, 0);
    log_info("exit", "status=%d", m.exit_code);
    goto done;
out:
    m.exit_code = 1;
done:
    if (m.admin_on)
        admin_stop(&m.admin);
    if (m.loop) {
        ev_signal_stop(m.loop, &m.sighup);
        ev_signal_stop(m.loop, &m.sigterm);
        ev_signal_stop(m.loop, &m.sigint);
        ev_timer_stop(m.loop, &m.kill_timer);
        ev_timer_stop(m.loop, &m.key_tick);
        ev_timer_stop(m.loop, &m.cert_check);
        for (size_t i = 0; m.slots && i < m.n_slots; i++)
            ev_timer_stop(m.loop, &m.slots[i].restart);
    }
    free(m.slots);
    metrics_cleanup(&m.m);
    px_tls_unref(m.tls);
    if (m.cfg) {
        px_config_free(m.cfg);
        free(m.cfg);
    }
    return m.exit_code;
}
