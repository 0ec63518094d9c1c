/* pppd_pool.c — pppd processes started before their sessions (pppd_pool.h). */
#include "backend/pppd_pool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/pppd-plugin/plugin-proto.h"
#include "core/log.h"

/* A replacement starts when the session that took a member has its link
 * up (pppd_pool_settled): until then that session negotiates LCP,
 * authenticates and runs ip-pre-up, and a pppd starting beside it (exec,
 * plugins, options) would slow it down. At the latest this long after the
 * take (a session that stalls). */
#define REFILL_AFTER_TAKE_S 3.0
/* Deaths in a row: the next spawn waits BACKOFF_MIN_S, doubled each time. */
#define BACKOFF_MIN_S 0.2
#define BACKOFF_MAX_S 30.0
/* A member starts (exec, plugins, options, tty, ppp unit) at this nice
 * value, so that on a busy host it takes CPU from no negotiating session;
 * its session gets it back at 0 when it takes it. Only as root (lowering
 * nice needs CAP_SYS_NICE; pppd runs as root anyway). */
#define MEMBER_NICE 10
/* pppd_pool_cleanup: time for SIGTERMed members to go before SIGKILL. */
#define CLEANUP_WAIT_S 1.0

static void plugin_cb(struct ev_loop *loop, ev_io *w, int revents);
static void child_cb(struct ev_loop *loop, ev_child *w, int revents);

static void schedule(struct pppd_pool *p, double after)
{
    if (p->stopping || p->size == 0)
        return;
    /* the earliest wish wins: a timer already due sooner stays */
    if (ev_is_active(&p->refill) && ev_timer_remaining(p->loop, &p->refill) <= after)
        return;
    ev_timer_stop(p->loop, &p->refill);
    ev_timer_set(&p->refill, after, 0);
    ev_timer_start(p->loop, &p->refill);
}

static double backoff(const struct pppd_pool *p)
{
    double d = BACKOFF_MIN_S;
    for (unsigned i = 1; i < p->deaths_in_row && d < BACKOFF_MAX_S; i++)
        d *= 2;
    return d < BACKOFF_MAX_S ? d : BACKOFF_MAX_S;
}

/* The member's watchers stop and its slot is free; its fds are closed
 * unless handed over (keep_fds). */
static void release(struct pppd_pool_member *m, bool keep_fds)
{
    struct ev_loop *loop = m->pool->loop;
    ev_io_stop(loop, &m->plugin_r);
    ev_child_stop(loop, &m->child);
    if (!keep_fds) {
        close(m->c.pty_fd);
        close(m->c.plugin_fd);
    }
    memset(&m->c, 0, sizeof m->c);
    m->ready = false;
}

/* A member died or never came: the stats and the backoff both count it. */
static void count_death(struct pppd_pool *p)
{
    p->stats.died++;
    p->deaths_in_row++;
}

/* A member that will not serve: dropped, counted, its pppd ended (the
 * closed socket alone ends a waiting plugin; SIGTERM covers the rest). */
static void drop(struct pppd_pool_member *m, const char *why)
{
    struct pppd_pool *p = m->pool;
    pid_t pid = m->c.pid;
    count_death(p);
    log_warn("pppd_pool_drop", "pid=%d reason=%s", (int)pid, why);
    release(m, false);
    kill(pid, SIGTERM); /* libev's SIGCHLD handler reaps it */
    schedule(p, backoff(p));
}

static int spawn_one(struct pppd_pool *p, struct pppd_pool_member *m)
{
    char err[256];
    if (pppd_spawn(&p->args, &m->c, err, sizeof err) == -1) {
        memset(&m->c, 0, sizeof m->c);
        count_death(p); /* a member that never came: counted with the dead */
        log_error("pppd_pool_spawn_fail", "err=\"%s\" retry_s=%.1f", err, backoff(p));
        return -1;
    }
    p->stats.started++;
    if (p->renice)
        setpriority(PRIO_PROCESS, (id_t)m->c.pid, MEMBER_NICE);
    m->ready = false;
    m->spawned_at = ev_now(p->loop);
    ev_io_set(&m->plugin_r, m->c.plugin_fd, EV_READ);
    ev_io_start(p->loop, &m->plugin_r);
    ev_child_set(&m->child, m->c.pid, 0);
    ev_child_start(p->loop, &m->child);
    log_debug("pppd_pool_spawn", "pid=%d", (int)m->c.pid);
    return 0;
}

static void refill_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pppd_pool *p = w->data;
    int live = 0;
    for (int i = 0; i < PPPD_POOL_MAX; i++)
        live += p->m[i].c.pid != 0;
    for (int i = 0; i < PPPD_POOL_MAX && live < p->size && !p->stopping; i++) {
        if (p->m[i].c.pid != 0)
            continue;
        if (spawn_one(p, &p->m[i]) == -1) {
            schedule(p, backoff(p));
            return;
        }
        live++;
    }
}

static void plugin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pppd_pool_member *m = w->data;
    uint8_t in[SSTP_PLUGIN_MSG_MAX];
    struct sstp_plugin_msg msg;
    ssize_t n = recv(m->c.plugin_fd, in, sizeof in, MSG_DONTWAIT);
    if (n == -1 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop(m, "plugin_closed"); /* pppd failed before READY (or while waiting) */
        return;
    }
    if (sstp_plugin_msg_decode(&msg, in, (size_t)n) == -1 || msg.type != SSTP_PLUGIN_READY ||
        m->ready) {
        drop(m, "unexpected_plugin_message");
        return;
    }
    m->ready = true;
    m->pool->deaths_in_row = 0;
    log_debug("pppd_pool_ready", "pid=%d after_ms=%.0f", (int)m->c.pid,
              (ev_now(m->pool->loop) - m->spawned_at) * 1000);
    /* nothing more is expected until START: an EOF still means death,
     * which the child watcher reports */
    ev_io_stop(m->pool->loop, &m->plugin_r);
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pppd_pool_member *m = w->data;
    struct pppd_pool *p = m->pool;
    int st = w->rstatus;
    if (!p->stopping)
        count_death(p);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1, sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    if (p->stopping)
        log_info("pppd_pool_exit", "pid=%d ready=%d status=%d signal=%d", (int)m->c.pid, m->ready, code, sig);
    else
        log_warn("pppd_pool_exit", "pid=%d ready=%d status=%d signal=%d", (int)m->c.pid, m->ready, code, sig);
    release(m, false);
    schedule(p, backoff(p));
}

void pppd_pool_start(struct pppd_pool *p, struct ev_loop *loop, int size, const char *path,
                     const char *options, const char *plugin)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->size = size < 0 ? 0 : size > PPPD_POOL_MAX ? PPPD_POOL_MAX : size;
    p->args.path = path;
    p->args.options_file = options;
    p->args.plugin = plugin;
    p->args.pooled = 1;
    p->renice = geteuid() == 0;
    ev_timer_init(&p->refill, refill_cb, 0, 0);
    p->refill.data = p;
    for (int i = 0; i < PPPD_POOL_MAX; i++) {
        struct pppd_pool_member *m = &p->m[i];
        m->pool = p;
        ev_io_init(&m->plugin_r, plugin_cb, -1, EV_READ);
        ev_child_init(&m->child, child_cb, 0, 0);
        m->plugin_r.data = m->child.data = m;
    }
    if (p->size > 0) {
        log_info("pppd_pool", "size=%d", p->size);
        refill_cb(loop, &p->refill, 0);
    }
}

int pppd_pool_ready(const struct pppd_pool *p)
{
    int n = 0;
    for (int i = 0; i < PPPD_POOL_MAX; i++)
        n += p->m[i].ready;
    return n;
}

int pppd_pool_take(struct pppd_pool *p, const struct pppd_spawn_args *a, struct pppd_child *out)
{
    const char *sid = a->session_id;
    struct sstp_plugin_msg start = { .type = SSTP_PLUGIN_START };
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];
    if (p->size == 0 || p->stopping)
        return -1;
    snprintf(start.sid, sizeof start.sid, "%s", sid);
    snprintf(start.client, sizeof start.client, "%s", a->client_ip);
    snprintf(start.corr, sizeof start.corr, "%s", a->correlation_id ? a->correlation_id : "");
    int len = sstp_plugin_msg_encode(buf, sizeof buf, &start);
    if (len < 0) {
        /* a value START cannot carry: this session gets its own pppd */
        p->stats.empty++;
        log_info("pppd_pool_skip", "sid=%s reason=value_not_startable", sid);
        return -1;
    }
    for (int i = 0; i < PPPD_POOL_MAX; i++) {
        struct pppd_pool_member *m = &p->m[i];
        if (!m->ready)
            continue;
        if (p->renice && setpriority(PRIO_PROCESS, (id_t)m->c.pid, 0) == -1) {
            drop(m, "renice_failed"); /* gone already; never serve a session at MEMBER_NICE */
            continue;
        }
        if (send(m->c.plugin_fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) != len) {
            drop(m, "start_send_failed"); /* it died waiting; its SIGCHLD is not in yet */
            continue;
        }
        *out = m->c;
        p->stats.taken++;
        log_info("pppd_pool_take", "sid=%s pid=%d waited_ms=%.0f", sid, (int)out->pid,
                 (ev_now(p->loop) - m->spawned_at) * 1000);
        release(m, true);
        schedule(p, REFILL_AFTER_TAKE_S);
        return 0;
    }
    p->stats.empty++;
    schedule(p, 0);
    return -1;
}

void pppd_pool_settled(struct pppd_pool *p)
{
    if (p->deaths_in_row == 0)
        schedule(p, 0);
}

void pppd_pool_stop(struct pppd_pool *p)
{
    if (p->stopping)
        return;
    p->stopping = true;
    ev_timer_stop(p->loop, &p->refill);
    for (int i = 0; i < PPPD_POOL_MAX; i++) {
        struct pppd_pool_member *m = &p->m[i];
        if (m->c.pid == 0)
            continue;
        /* closing the socket ends a waiting plugin; SIGTERM one still starting */
        ev_io_stop(p->loop, &m->plugin_r);
        close(m->c.plugin_fd);
        m->c.plugin_fd = -1;
        kill(m->c.pid, SIGTERM);
    }
}

void pppd_pool_cleanup(struct pppd_pool *p)
{
    struct timespec step = { 0, 20 * 1000 * 1000 };
    pppd_pool_stop(p);
    for (double waited = 0;; waited += 0.02) {
        int left = 0;
        for (int i = 0; i < PPPD_POOL_MAX; i++) {
            struct pppd_pool_member *m = &p->m[i];
            if (m->c.pid == 0)
                continue;
            pid_t r = waitpid(m->c.pid, NULL, WNOHANG);
            if (r == m->c.pid || (r == -1 && errno == ECHILD)) {
                release(m, false); /* plugin_fd is -1 and plugin_r stopped since pppd_pool_stop */
                continue;
            }
            if (waited >= CLEANUP_WAIT_S) {
                log_warn("pppd_pool_kill", "pid=%d reason=ignored_sigterm", (int)m->c.pid);
                kill(m->c.pid, SIGKILL);
                waitpid(m->c.pid, NULL, 0);
                release(m, false);
                continue;
            }
            left++;
        }
        if (left == 0)
            return;
        nanosleep(&step, NULL);
    }
}
