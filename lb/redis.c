/* redis.c — asynchronous, bounded, self-healing Redis client (see redis.h).
 *
 * Trust: Redis is the operators' store, not a peer we defend against here;
 * still every reply is type-checked before use and a reply we do not
 * expect drops the connection rather than being guessed at. */

#include "lb/redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
/* hiredis' libev adapter is header-only; its static helpers trip our strict flags */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include <hiredis/adapters/libev.h>
#pragma GCC diagnostic pop

#include "core/log.h"

#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0
#define CONNECT_TIMEOUT_DEFAULT 2.0
/* An idle connection is PINGed after this long without a reply owed, so a
 * hung server is found within reply_timeout + PING_IDLE_MAX even when no
 * caller sends anything. Capped at half the reply timeout so the watchdog
 * always looks again before a deadline can pass. */
#define PING_IDLE_MAX 1.0
/* TCP keepalive: probe after KEEPALIVE_IDLE_S idle, every
 * KEEPALIVE_INTVL_S, give up after KEEPALIVE_CNT unanswered probes (a dead
 * host with nothing in flight is found in ~8 s instead of hours). */
#define KEEPALIVE_IDLE_S 5
#define KEEPALIVE_INTVL_S 1
#define KEEPALIVE_CNT 3
/* Each class may fill max_pending but for this share, kept for the other
 * class: a burst of stats writes cannot starve an admission lookup, and a
 * storm of lookups cannot starve the writes. A reservation rather than a
 * fair queue because nothing is queued here: a refused command is the
 * caller's to retry or skip. */
#define OTHER_CLASS_SHARE 8 /* 1/8 of max_pending */

static const char *const err_names[] = {
#define X(n, tok, s) tok,
    RDS_ERR_LIST(X)
#undef X
};

const char *rds_err_name(enum rds_err e)
{
    return (unsigned)e < RDS_ERR_COUNT ? err_names[e] : "";
}

enum conn_phase {
    PH_IDLE,      /* nothing open; the timer brings the next attempt */
    PH_RESOLVING, /* getaddrinfo_a running for the host name */
    PH_SENTINEL,  /* asking a sentinel for the master */
    PH_CONNECTING,
    PH_HANDSHAKE, /* AUTH / SELECT / ROLE / PING sent, answers checked in order */
    PH_UP,
};

/* The connections of one client: commands, pub/sub, and (with Sentinel)
 * a subscription to the sentinels' failover announcements. */
enum conn_kind { CONN_MAIN, CONN_SUB, CONN_WATCH };
static const char *const kind_names[] = { "main", "sub", "watch" };

struct sub {
    char *channel;
    rds_reply_fn cb;
    void *ud;
    struct sub *next;
};

/* A host name being resolved by glibc's resolver threads. The completion
 * runs in a helper thread: it only marks the request done and wakes the
 * loop (ev_async_send is thread-safe). If the connection gives up first
 * (timeout, rds_free), whichever of the two comes second frees it. */
struct resolve {
    pthread_mutex_t lock;
    bool done, abandoned;
    struct ev_loop *loop;
    ev_async *wake;
    struct gaicb req;
    struct addrinfo hints;
    char host[256];
};

/* One TCP connection to Redis (or, briefly, to a sentinel). */
struct conn {
    struct rds *r;
    enum conn_kind kind;
    enum conn_phase phase;
    redisAsyncContext *ac;
    ev_timer timer;              /* connect timeout, then reconnect backoff */
    ev_timer watchdog;           /* reply deadline and idle PING (main only) */
    ev_async resolved;           /* the resolver thread's wake-up */
    struct resolve *resolving;
    double backoff;
    size_t sentinel_idx;
    char host[256];              /* the master to connect to */
    int port;
    bool have_master;            /* a sentinel named the master: use it once */
    bool via_sentinel;           /* this connection's master came from a sentinel */
    enum rds_err reason;         /* why it is down (RDS_ERR_COUNT: not down) */
    char detail[128];            /* what the server or the system said, sanitised */
    bool was_up;
    size_t owed;                 /* replies owed on this connection */
    double progress_at;          /* last reply, or the send that made owed 1 */
    double idle_since;           /* when owed last fell to 0 */
};

struct rds {
    struct ev_loop *loop;
    struct rds_opts o;
    rds_state_fn on_state;
    void *ud;
    struct conn main, sub, watch;
    struct sub *subs;
    size_t in_flight[RDS_CLASS_COUNT];
    struct rds_stats st;
    unsigned logged;             /* bit per reason already logged in this outage (both conns) */
    bool closing;
};

struct pending {
    struct rds *r;
    rds_reply_fn cb;
    void *ud;
    enum rds_class cls;
};

static void conn_start(struct conn *c);
static void on_switch_master(redisAsyncContext *ac, void *reply, void *privdata);
static void fail_conn(struct conn *c, enum rds_err why, const char *detail);

void rds_opts_default(struct rds_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->port = 6379;
    snprintf(o->prefix, sizeof o->prefix, "sstp:");
    snprintf(o->sentinel_master, sizeof o->sentinel_master, "mymaster");
    o->max_pending = RDS_MAX_PENDING_DEFAULT;
    o->connect_timeout = CONNECT_TIMEOUT_DEFAULT;
    o->reply_timeout = RDS_REPLY_TIMEOUT_DEFAULT;
}

int rds_parse_sentinels(struct rds_opts *o, const char *list)
{
    char buf[512];
    if (strlen(list) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (o->n_sentinels == RDS_MAX_SENTINELS || net_addr_parse(&o->sentinels[o->n_sentinels], tok) == -1)
            return -1;
        o->n_sentinels++;
    }
    return 0;
}

/* copies in[0..len) into out[out_len] as a string; -1 if it does not fit */
static int copy_part(char *out, size_t out_len, const char *in, size_t len)
{
    if (len >= out_len)
        return -1;
    memcpy(out, in, len);
    out[len] = '\0';
    return 0;
}

int rds_parse_url(struct rds_opts *o, const char *url)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (copy_part(o->user, sizeof o->user, p, (size_t)(colon - p)) == -1 ||
                copy_part(o->password, sizeof o->password, colon + 1, (size_t)(at - colon - 1)) == -1)
                return -1;
        } else if (copy_part(o->password, sizeof o->password, p, (size_t)(at - p)) == -1) {
            return -1;
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hostport_len = slash ? (size_t)(slash - p) : strlen(p);
    char hp[sizeof o->host];
    if (hostport_len == 0 || copy_part(hp, sizeof hp, p, hostport_len) == -1)
        return -1;
    char *port = NULL;
    if (hp[0] == '[') {
        char *close = strchr(hp, ']');
        if (!close)
            return -1;
        *close = '\0';
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return -1;
        snprintf(o->host, sizeof o->host, "%s", hp + 1);
    } else {
        port = strrchr(hp, ':');
        if (port)
            *port++ = '\0';
        snprintf(o->host, sizeof o->host, "%s", hp);
    }
    if (!o->host[0])
        return -1;
    if (port) {
        char *end;
        long v = strtol(port, &end, 10);
        if (!*port || *end || v <= 0 || v > 65535)
            return -1;
        o->port = (int)v;
    }
    if (slash && slash[1]) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (*end || v < 0 || v > RDS_DB_MAX)
            return -1;
        o->db = (int)v;
    }
    return 0;
}

/* ---- connection lifecycle ----------------------------------------------- */

static void set_up(struct conn *c, bool up)
{
    if (c->was_up == up)
        return;
    c->was_up = up;
    if (c->kind != CONN_MAIN)
        return;
    struct rds *r = c->r;
    if (up)
        log_info("redis_up", "host=%s port=%d db=%d", c->host, c->port, r->o.db);
    else
        log_warn("redis_down", "host=%s port=%d reason=%s err=\"%s\"", c->host, c->port,
                 rds_err_name(c->reason), c->detail);
    if (r->on_state)
        r->on_state(up, r->ud);
}

static void schedule_reconnect(struct conn *c)
{
    struct rds *r = c->r;
    if (r->closing)
        return;
    c->phase = PH_IDLE;
    ev_timer_stop(r->loop, &c->watchdog);
    double jitter = 0.8 + 0.4 * ((double)rand() / RAND_MAX);
    ev_timer_stop(r->loop, &c->timer);
    ev_timer_set(&c->timer, c->backoff * jitter, 0);
    ev_timer_start(r->loop, &c->timer);
    c->backoff = c->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : c->backoff * 2;
}

/* Records why c is down, counts it, and logs it once per outage and reason
 * for both connections (an error the operator must fix, such as a wrong
 * password, at error level; the retries that follow, and the pub/sub
 * connection failing for the same reason, at debug). The drop of a main
 * connection that was up is told by the one redis_down line instead. */
static void note_failure(struct conn *c, enum rds_err why, const char *detail)
{
    struct rds *r = c->r;
    r->st.err[why]++;
    c->reason = why;
    log_sanitize(c->detail, sizeof c->detail, detail ? detail : "-", detail ? strlen(detail) : 1);
    if (c->kind == CONN_MAIN && c->was_up) {
        r->logged |= 1u << why; /* the redis_down line that follows says it */
        return;
    }
    bool operator_error = why == RDS_ERR_AUTH || why == RDS_ERR_SELECT || why == RDS_ERR_RESOLVE;
    enum log_level lvl = r->logged & (1u << why) ? LOG_DEBUG : operator_error ? LOG_ERROR : LOG_WARN;
    r->logged |= 1u << why;
    log_at(lvl, "redis_fail", "conn=%s host=%s port=%d reason=%s err=\"%s\"",
           kind_names[c->kind], c->host, c->port, rds_err_name(why), c->detail);
}

static void resolve_free(struct resolve *q)
{
    if (q->req.ar_result)
        freeaddrinfo(q->req.ar_result);
    pthread_mutex_lock(&q->lock); /* the helper thread may still be leaving it */
    pthread_mutex_unlock(&q->lock);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

/* The connection no longer wants the answer. A request glibc has not
 * started is cancelled; one under way frees itself when it completes. */
static void resolve_abandon(struct resolve *q)
{
    if (gai_cancel(&q->req) == EAI_CANCELED) {
        resolve_free(q);
        return;
    }
    pthread_mutex_lock(&q->lock);
    bool done = q->done;
    q->abandoned = true;
    pthread_mutex_unlock(&q->lock);
    if (done)
        resolve_free(q);
}

/* Drops whatever c has open (resolver, hiredis context); no callbacks of
 * ours run for the dropped context. */
static void conn_close(struct conn *c)
{
    if (c->resolving) {
        resolve_abandon(c->resolving);
        c->resolving = NULL;
    }
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        /* hiredis 0.14 cannot unset the disconnect callback: it sees NULL data */
        ac->data = NULL;
        redisAsyncFree(ac); /* pending callbacks run with NULL replies */
    }
    c->owed = 0;
    ev_timer_stop(c->r->loop, &c->watchdog);
}

static void fail_conn(struct conn *c, enum rds_err why, const char *detail)
{
    note_failure(c, why, detail);
    conn_close(c);
    set_up(c, false);
    schedule_reconnect(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (!c)
        return; /* we dropped it ourselves (conn_close) */
    c->ac = NULL; /* hiredis frees it after this callback */
    c->owed = 0;
    c->r->st.disconnects++;
    note_failure(c, RDS_ERR_CLOSED, status == REDIS_OK ? "closed" : ac->errstr);
    set_up(c, false);
    schedule_reconnect(c);
}

static void resubscribe(struct conn *c);
static void arm_watchdog(struct conn *c, double after);

/* The handshake is pipelined (AUTH, SELECT, ROLE, PING) but checked in
 * order: the first refusal drops the connection, so nothing of ours is
 * ever sent on a connection that did not pass every step (rds_cmd refuses
 * until PH_UP). */
static bool handshake_reply_ok(struct conn *c, const redisAsyncContext *ac, const redisReply *rep,
                               enum rds_err why)
{
    if (!c || c->ac != ac || c->phase != PH_HANDSHAKE)
        return false; /* a dropped connection's leftovers */
    if (rep && rep->type != REDIS_REPLY_ERROR)
        return true;
    fail_conn(c, why, rep && rep->str ? rep->str : "no reply");
    return false;
}

static void on_auth_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    handshake_reply_ok(privdata, ac, reply, RDS_ERR_AUTH);
}

static void on_select_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    handshake_reply_ok(privdata, ac, reply, RDS_ERR_SELECT);
}

/* Behind Sentinel the named server must say it is the master: a sentinel
 * that has not noticed a failover yet would otherwise send us to a replica. */
static void on_role_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = privdata;
    redisReply *rep = reply;
    if (!handshake_reply_ok(c, ac, rep, RDS_ERR_ROLE))
        return;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING || strcmp(rep->element[0]->str, "master") != 0)
        fail_conn(c, RDS_ERR_ROLE, rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
                                           rep->element[0]->type == REDIS_REPLY_STRING
                                       ? rep->element[0]->str
                                       : "unexpected ROLE reply");
}

static void on_ready_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = privdata;
    if (!handshake_reply_ok(c, ac, reply, RDS_ERR_AUTH))
        return;
    /* every step answered OK: usable */
    struct rds *r = c->r;
    c->phase = PH_UP;
    /* a server that keeps answering writes -READONLY (a replica named in
     * redis.url) is retried ever slower, not ten times a second */
    if (c->reason != RDS_ERR_READONLY)
        c->backoff = BACKOFF_MIN;
    if (c->kind == CONN_MAIN)
        r->logged = 0; /* the outage is over */
    c->reason = RDS_ERR_COUNT;
    c->owed = 0;
    c->idle_since = ev_now(r->loop);
    r->st.connects++;
    ev_timer_stop(r->loop, &c->timer);
    if (c->kind == CONN_MAIN)
        arm_watchdog(c, 0);
    set_up(c, true);
    if (c->kind == CONN_SUB)
        resubscribe(c);
}

static void send_auth(redisAsyncContext *ac, redisCallbackFn *cb, void *privdata, const char *user,
                      const char *password)
{
    if (user[0])
        redisAsyncCommand(ac, cb, privdata, "AUTH %s %s", user, password);
    else
        redisAsyncCommand(ac, cb, privdata, "AUTH %s", password);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (!c)
        return;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees a context whose connect failed */
        note_failure(c, RDS_ERR_CONNECT, ac->errstr);
        set_up(c, false);
        schedule_reconnect(c);
        return;
    }
    struct rds *r = c->r;
    c->phase = PH_HANDSHAKE;
    if (r->o.password[0])
        send_auth(c->ac, on_auth_reply, c, r->o.user, r->o.password);
    if (r->o.db && c->kind == CONN_MAIN) /* pub/sub channels are not per db */
        redisAsyncCommand(c->ac, on_select_reply, c, "SELECT %d", r->o.db);
    if (c->via_sentinel)
        redisAsyncCommand(c->ac, on_role_reply, c, "ROLE");
    redisAsyncCommand(c->ac, on_ready_reply, c, "PING");
}

/* Short keepalive and a user timeout: a host that vanished (power, network
 * partition) is noticed by the kernel in seconds, not after ~15 minutes of
 * retransmissions. A server that hangs while its kernel still answers is
 * the watchdog's job. */
static void tune_socket(const struct conn *c, int fd)
{
    int on = 1, idle = KEEPALIVE_IDLE_S, intvl = KEEPALIVE_INTVL_S, cnt = KEEPALIVE_CNT;
    unsigned user_ms = (unsigned)(c->r->o.reply_timeout * 1000);
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof user_ms) == -1)
        log_debug("redis_sockopt_fail", "errno=%d", errno);
}

static void arm_connect_timer(struct conn *c)
{
    struct rds *r = c->r;
    ev_timer_stop(r->loop, &c->timer);
    ev_timer_set(&c->timer, r->o.connect_timeout, 0);
    ev_timer_start(r->loop, &c->timer);
}

/* ip is an IP literal */
static void connect_ip(struct conn *c, const char *ip, int port)
{
    struct rds *r = c->r;
    c->ac = redisAsyncConnect(ip, port);
    if (!c->ac || c->ac->err) {
        const char *why = c->ac ? c->ac->errstr : "out of memory";
        char detail[128];
        snprintf(detail, sizeof detail, "%s", why);
        if (c->ac)
            redisAsyncFree(c->ac);
        c->ac = NULL;
        fail_conn(c, RDS_ERR_CONNECT, detail);
        return;
    }
    tune_socket(c, c->ac->c.fd);
    c->ac->data = c;
    c->phase = PH_CONNECTING;
    redisLibevAttach(r->loop, c->ac);
    redisAsyncSetConnectCallback(c->ac, on_connect);
    redisAsyncSetDisconnectCallback(c->ac, on_disconnect);
    if (ev_is_active(&c->timer) == 0)
        arm_connect_timer(c);
}

static bool is_ip_literal(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;
    return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

static void resolve_done(union sigval v)
{
    struct resolve *q = v.sival_ptr;
    pthread_mutex_lock(&q->lock);
    q->done = true;
    bool orphan = q->abandoned;
    if (!orphan)
        ev_async_send(q->loop, q->wake);
    pthread_mutex_unlock(&q->lock);
    if (orphan)
        resolve_free(q);
}

/* Back on the loop: the resolver answered (or an old wake-up arrived). */
static void on_resolved(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    struct resolve *q = c->resolving;
    if (!q || c->phase != PH_RESOLVING)
        return;
    pthread_mutex_lock(&q->lock);
    bool done = q->done;
    pthread_mutex_unlock(&q->lock);
    if (!done)
        return;
    c->resolving = NULL;
    int rc = gai_error(&q->req);
    char ip[INET6_ADDRSTRLEN] = "";
    const struct addrinfo *ai = rc == 0 ? q->req.ar_result : NULL;
    if (ai && ai->ai_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, ip, sizeof ip);
    else if (ai && ai->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, ip, sizeof ip);
    resolve_free(q);
    c->r->st.resolves++;
    if (!ip[0]) {
        fail_conn(c, RDS_ERR_RESOLVE, rc ? gai_strerror(rc) : "no address");
        return;
    }
    connect_ip(c, ip, c->port);
}

/* Connects to host:port. An IP literal connects at once; a name goes to
 * getaddrinfo_a, whose completion wakes the loop through c->resolved. The
 * connect timer bounds the resolution too. */
static void connect_to(struct conn *c, const char *host, int port)
{
    struct rds *r = c->r;
    if (is_ip_literal(host)) {
        connect_ip(c, host, port);
        return;
    }
    struct resolve *q = calloc(1, sizeof *q);
    if (!q) {
        fail_conn(c, RDS_ERR_RESOLVE, "out of memory");
        return;
    }
    pthread_mutex_init(&q->lock, NULL);
    q->loop = r->loop;
    q->wake = &c->resolved;
    snprintf(q->host, sizeof q->host, "%s", host);
    q->hints.ai_socktype = SOCK_STREAM;
    q->req.ar_name = q->host;
    q->req.ar_request = &q->hints;
    struct gaicb *list[1] = { &q->req };
    struct sigevent sev = { .sigev_notify = SIGEV_THREAD };
    sev.sigev_value.sival_ptr = q;
    sev.sigev_notify_function = resolve_done;
    c->phase = PH_RESOLVING;
    arm_connect_timer(c);
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
        pthread_mutex_destroy(&q->lock);
        free(q);
        fail_conn(c, RDS_ERR_RESOLVE, "getaddrinfo_a failed");
        return;
    }
    c->resolving = q;
}

/* ---- reply deadline and idle PING (main connection) --------------------- */

static void arm_watchdog(struct conn *c, double after)
{
    ev_timer_stop(c->r->loop, &c->watchdog);
    ev_timer_set(&c->watchdog, after, 0);
    ev_timer_start(c->r->loop, &c->watchdog);
}

static double ping_idle(const struct rds *r)
{
    double half = r->o.reply_timeout / 2;
    return half < PING_IDLE_MAX ? half : PING_IDLE_MAX;
}

static void on_ping_reply(redisAsyncContext *ac, void *reply, void *privdata);

static void send_ping(struct conn *c)
{
    if (redisAsyncCommand(c->ac, on_ping_reply, c, "PING") != REDIS_OK)
        return;
    if (c->owed++ == 0)
        c->progress_at = ev_now(c->r->loop);
    c->r->st.pings++;
}

/* The replies are owed in order, so "no reply for reply_timeout while one
 * is owed" is the deadline of the oldest one measured from the last sign of
 * life: a slow but progressing server is not dropped, a hung one is. */
static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct conn *c = w->data;
    struct rds *r = c->r;
    if (c->phase != PH_UP || !c->ac)
        return;
    double now = ev_now(loop);
    if (c->owed > 0) {
        double due = c->progress_at + r->o.reply_timeout;
        if (now < due) {
            arm_watchdog(c, due - now);
            return;
        }
        char detail[64];
        snprintf(detail, sizeof detail, "%zu replies owed for %.1fs", c->owed, now - c->progress_at);
        fail_conn(c, RDS_ERR_TIMEOUT, detail);
        /* the pub/sub connection goes to the same server: it is hung too */
        if (r->sub.ac)
            fail_conn(&r->sub, RDS_ERR_TIMEOUT, "main connection timed out");
        return;
    }
    double due = c->idle_since + ping_idle(r);
    if (now >= due) {
        send_ping(c);
        arm_watchdog(c, r->o.reply_timeout);
    } else {
        arm_watchdog(c, due - now);
    }
}

static void reply_seen(struct conn *c)
{
    double now = ev_now(c->r->loop);
    c->progress_at = now;
    if (c->owed && --c->owed == 0)
        c->idle_since = now;
}

static void on_ping_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = privdata;
    if (!reply || !c || c->ac != ac)
        return;
    reply_seen(c);
}

/* ---- Sentinel: ask each configured sentinel in turn for the master ------ */

static void next_sentinel(struct conn *c, const char *detail)
{
    struct rds *r = c->r;
    note_failure(c, RDS_ERR_SENTINEL, detail);
    c->sentinel_idx = (c->sentinel_idx + 1) % r->o.n_sentinels;
}

static void on_sentinel_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = privdata;
    redisReply *rep = reply;
    if (!c || c->ac != ac || c->phase != PH_SENTINEL || (rep && rep->type != REDIS_REPLY_ERROR))
        return;
    /* the GET-MASTER that follows is refused too and moves on */
    note_failure(c, RDS_ERR_AUTH, rep && rep->str ? rep->str : "sentinel AUTH: no reply");
}

static void on_sentinel_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = privdata;
    redisReply *rep = reply;
    if (!c || c->ac != ac || c->phase != PH_SENTINEL)
        return;
    long port = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_STRING &&
        rep->element[0]->len < sizeof c->host) {
        char *end;
        port = strtol(rep->element[1]->str, &end, 10);
        if (*end || port <= 0 || port > 65535)
            port = 0;
    }
    if (port) {
        snprintf(c->host, sizeof c->host, "%s", rep->element[0]->str);
        c->port = (int)port;
        c->have_master = true;
        /* connect to the master from the timer, not from inside this
         * sentinel connection's callback */
        c->phase = PH_IDLE;
        ev_timer_stop(c->r->loop, &c->timer);
        ev_timer_set(&c->timer, 0, 0);
        ev_timer_start(c->r->loop, &c->timer);
    } else {
        next_sentinel(c, rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "no master named");
    }
    redisAsyncDisconnect(ac);
}

/* A connection that waits (backoff) is woken to ask Sentinel now; one that
 * is open or opening is dropped so its reconnect asks. */
static void reask(struct conn *c, const char *detail)
{
    if (c->ac || c->resolving) {
        c->backoff = BACKOFF_MIN;
        fail_conn(c, RDS_ERR_FAILOVER, detail);
    } else if (c->phase == PH_IDLE && ev_is_active(&c->timer)) {
        c->have_master = false;
        ev_timer_stop(c->r->loop, &c->timer);
        ev_timer_set(&c->timer, 0, 0);
        ev_timer_start(c->r->loop, &c->timer);
    }
}

/* +switch-master "<name> <old ip> <old port> <new ip> <new port>": a
 * failover finished. The old master may go on taking writes until Sentinel
 * demotes it (seconds later), and those would be lost: leave it now. */
static void on_switch_master(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = privdata;
    redisReply *rep = reply;
    if (!c || c->ac != ac || !rep)
        return;
    struct rds *r = c->r;
    if (rep->type == REDIS_REPLY_ERROR) { /* NOAUTH: counted by on_sentinel_auth */
        next_sentinel(c, rep->str);
        conn_close(c);
        schedule_reconnect(c);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 || rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(rep->element[0]->str, "subscribe") == 0) { /* ["subscribe", channel, count] */
        c->phase = PH_UP;
        c->backoff = BACKOFF_MIN;
        ev_timer_stop(r->loop, &c->timer);
        return;
    }
    if (strcmp(rep->element[0]->str, "message") != 0 || rep->element[2]->type != REDIS_REPLY_STRING)
        return;
    const char *msg = rep->element[2]->str;
    size_t name_len = strlen(r->o.sentinel_master);
    if (strncmp(msg, r->o.sentinel_master, name_len) != 0 || msg[name_len] != ' ')
        return; /* another master the sentinels watch */
    char clean[160];
    log_info("redis_failover", "sentinel=%s:%d switch=\"%s\"", c->host, c->port,
             log_sanitize(clean, sizeof clean, msg, rep->element[2]->len));
    reask(&r->main, msg);
    reask(&r->sub, msg);
}

static void on_sentinel_connect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (!c)
        return;
    struct rds *r = c->r;
    if (status != REDIS_OK) {
        c->ac = NULL;
        next_sentinel(c, ac->errstr);
        schedule_reconnect(c);
        return;
    }
    if (r->o.sentinel_password[0])
        send_auth(c->ac, on_sentinel_auth, c, r->o.sentinel_user, r->o.sentinel_password);
    if (c->kind == CONN_WATCH) {
        redisAsyncCommand(c->ac, on_switch_master, c, "SUBSCRIBE +switch-master");
        return;
    }
    r->st.sentinel_queries++;
    redisAsyncCommand(c->ac, on_sentinel_reply, c, "SENTINEL get-master-addr-by-name %s",
                      r->o.sentinel_master);
}

static void on_sentinel_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    (void)status;
    if (!c)
        return;
    c->ac = NULL;
    if (c->kind == CONN_WATCH && c->phase == PH_UP) { /* lost: watch through the next one */
        next_sentinel(c, "watch connection lost");
        schedule_reconnect(c);
    } else if (c->phase == PH_SENTINEL) { /* closed before it answered */
        schedule_reconnect(c);
    }
}

static void ask_sentinel(struct conn *c)
{
    struct rds *r = c->r;
    char ip[INET6_ADDRSTRLEN];
    const struct net_addr *s = &r->o.sentinels[c->sentinel_idx];
    net_addr_ip((const struct sockaddr *)&s->ss, ip, sizeof ip);
    snprintf(c->host, sizeof c->host, "%s", ip);
    c->port = (int)net_port((const struct sockaddr *)&s->ss);
    c->ac = redisAsyncConnect(ip, c->port);
    if (!c->ac || c->ac->err) {
        if (c->ac)
            redisAsyncFree(c->ac);
        c->ac = NULL;
        next_sentinel(c, "connect failed");
        schedule_reconnect(c);
        return;
    }
    tune_socket(c, c->ac->c.fd);
    c->ac->data = c;
    c->phase = PH_SENTINEL;
    redisLibevAttach(r->loop, c->ac);
    redisAsyncSetConnectCallback(c->ac, on_sentinel_connect);
    redisAsyncSetDisconnectCallback(c->ac, on_sentinel_disconnect);
    arm_connect_timer(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    switch (c->phase) {
    case PH_RESOLVING:
        fail_conn(c, RDS_ERR_RESOLVE, "timeout");
        return;
    case PH_SENTINEL:
        next_sentinel(c, "timeout");
        conn_close(c);
        schedule_reconnect(c);
        return;
    case PH_CONNECTING:
        fail_conn(c, RDS_ERR_CONNECT, "timeout");
        return;
    case PH_HANDSHAKE:
        fail_conn(c, RDS_ERR_TIMEOUT, "handshake timeout");
        return;
    case PH_UP:
        return;
    case PH_IDLE:
        break;
    }
    if (c->ac) { /* a sentinel connection still closing: try again shortly */
        ev_timer_set(&c->timer, 0.01, 0);
        ev_timer_start(c->r->loop, &c->timer);
        return;
    }
    conn_start(c);
}

static void conn_start(struct conn *c)
{
    struct rds *r = c->r;
    if (r->closing || c->ac || c->resolving)
        return;
    if (c->kind == CONN_WATCH) {
        ask_sentinel(c);
        return;
    }
    c->via_sentinel = r->o.n_sentinels > 0;
    if (c->via_sentinel) {
        if (!c->have_master) {
            ask_sentinel(c);
            return;
        }
        c->have_master = false; /* every reconnect asks again: failover */
    } else {
        snprintf(c->host, sizeof c->host, "%s", r->o.host);
        c->port = r->o.port;
    }
    connect_to(c, c->host, c->port);
}

static void conn_init(struct rds *r, struct conn *c, enum conn_kind kind)
{
    memset(c, 0, sizeof *c);
    c->r = r;
    c->kind = kind;
    c->backoff = BACKOFF_MIN;
    c->reason = RDS_ERR_COUNT;
    ev_timer_init(&c->timer, timer_cb, 0, 0);
    c->timer.data = c;
    ev_timer_init(&c->watchdog, watchdog_cb, 0, 0);
    c->watchdog.data = c;
    ev_async_init(&c->resolved, on_resolved);
    c->resolved.data = c;
    ev_async_start(r->loop, &c->resolved);
}

static void conn_stop(struct conn *c)
{
    ev_timer_stop(c->r->loop, &c->timer);
    conn_close(c);
    ev_async_stop(c->r->loop, &c->resolved);
}

/* ---- public API ---------------------------------------------------------- */

struct rds *rds_new(struct ev_loop *loop, const struct rds_opts *o, rds_state_fn on_state, void *ud)
{
    struct rds *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    r->o = *o;
    if (!r->o.max_pending)
        r->o.max_pending = RDS_MAX_PENDING_DEFAULT;
    if (r->o.connect_timeout <= 0)
        r->o.connect_timeout = CONNECT_TIMEOUT_DEFAULT;
    if (r->o.reply_timeout <= 0)
        r->o.reply_timeout = RDS_REPLY_TIMEOUT_DEFAULT;
    r->on_state = on_state;
    r->ud = ud;
    conn_init(r, &r->main, CONN_MAIN);
    conn_init(r, &r->sub, CONN_SUB);
    conn_init(r, &r->watch, CONN_WATCH);
    conn_start(&r->main);
    if (r->o.n_sentinels)
        conn_start(&r->watch);
    return r;
}

void rds_free(struct rds *r)
{
    if (!r)
        return;
    r->closing = true;
    conn_stop(&r->main);
    conn_stop(&r->sub);
    conn_stop(&r->watch);
    for (struct sub *s = r->subs, *next; s; s = next) {
        next = s->next;
        free(s->channel);
        free(s);
    }
    free(r);
}

bool rds_is_up(const struct rds *r)
{
    return r && r->main.phase == PH_UP;
}

enum rds_err rds_down_reason(const struct rds *r)
{
    return rds_is_up(r) ? RDS_ERR_COUNT : r->main.reason;
}

const struct rds_stats *rds_stats(const struct rds *r)
{
    return &r->st;
}

const char *rds_prefix(const struct rds *r)
{
    return r->o.prefix;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct pending *p = privdata;
    struct rds *r = p->r;
    redisReply *rep = reply;
    r->in_flight[p->cls]--;
    r->st.in_flight--;
    if (rep)
        reply_seen(&r->main);
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        r->st.errors++;
    else
        r->st.replies++;
    if (p->cb)
        p->cb(rep, p->ud);
    free(p);
    /* a replica answered a write: the master moved (failover). Drop the
     * connection; the reconnect asks Sentinel where the master is now. */
    if (rep && rep->type == REDIS_REPLY_ERROR && rep->str && strncmp(rep->str, "READONLY", 8) == 0 &&
        r->main.ac == ac && r->main.phase == PH_UP)
        fail_conn(&r->main, RDS_ERR_READONLY, rep->str);
}

int rds_cmd_class(struct rds *r, enum rds_class cls, rds_reply_fn cb, void *ud, int argc,
                  const char **argv, const size_t *argvlen)
{
    if (!r || r->main.phase != PH_UP || !r->main.ac) {
        if (r)
            r->st.dropped_down++;
        return -1;
    }
    size_t max = r->o.max_pending;
    size_t own_max = max - max / OTHER_CLASS_SHARE;
    if ((unsigned)cls >= RDS_CLASS_COUNT || r->st.in_flight >= max || r->in_flight[cls] >= own_max) {
        r->st.dropped_full++;
        return -1;
    }
    struct pending *p = malloc(sizeof *p);
    if (!p) {
        r->st.dropped_full++;
        return -1;
    }
    p->r = r;
    p->cb = cb;
    p->ud = ud;
    p->cls = cls;
    if (redisAsyncCommandArgv(r->main.ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        r->st.errors++;
        return -1;
    }
    if (r->main.owed++ == 0)
        r->main.progress_at = ev_now(r->loop);
    r->in_flight[cls]++;
    r->st.in_flight++;
    r->st.sent++;
    return 0;
}

int rds_cmd(struct rds *r, rds_reply_fn cb, void *ud, int argc, const char **argv,
            const size_t *argvlen)
{
    return rds_cmd_class(r, cb ? RDS_ASK : RDS_WRITE, cb, ud, argc, argv, argvlen);
}

int rds_cmdv(struct rds *r, rds_reply_fn cb, void *ud, int argc, const char **argv)
{
    return rds_cmd(r, cb, ud, argc, argv, NULL);
}

static void on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct sub *s = privdata;
    redisReply *rep = reply;
    (void)ac;
    /* ["message", channel, payload]; subscribe confirmations are skipped */
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING || strcmp(rep->element[0]->str, "message") != 0)
        return;
    s->cb(rep, s->ud);
}

static void resubscribe(struct conn *c)
{
    for (struct sub *s = c->r->subs; s; s = s->next)
        redisAsyncCommand(c->ac, on_message, s, "SUBSCRIBE %s", s->channel);
}

int rds_subscribe(struct rds *r, const char *channel, rds_reply_fn cb, void *ud)
{
    struct sub *s = calloc(1, sizeof *s);
    if (!s || !(s->channel = strdup(channel))) {
        free(s);
        return -1;
    }
    s->cb = cb;
    s->ud = ud;
    s->next = r->subs;
    r->subs = s;
    if (r->sub.phase == PH_UP && r->sub.ac)
        redisAsyncCommand(r->sub.ac, on_message, s, "SUBSCRIBE %s", s->channel);
    else if (r->sub.phase == PH_IDLE && !ev_is_active(&r->sub.timer))
        conn_start(&r->sub);
    return 0;
}

/* ---- synchronous use (tools) -------------------------------------------- */

struct rds_sync {
    redisContext *c;
};

static redisContext *sync_connect_to(const char *host, int port, double timeout_s)
{
    struct timeval tv = { (time_t)timeout_s, (suseconds_t)((timeout_s - (time_t)timeout_s) * 1e6) };
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c && !c->err)
        redisSetTimeout(c, tv);
    return c;
}

/* runs one command and keeps only the verdict: 0, or -1 with the reason */
static int sync_check(redisContext *c, redisReply *r, const char *what, char *err, size_t err_len)
{
    int rc = 0;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, err_len, "redis %s: %s", what, r ? r->str : c->errstr);
        rc = -1;
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

struct rds_sync *rds_sync_connect(const struct rds_opts *o, double timeout_s, char *err, size_t err_len)
{
    char host[256];
    int port = o->port;
    snprintf(host, sizeof host, "%s", o->host);
    for (size_t i = 0; i < o->n_sentinels; i++) {
        char ip[INET6_ADDRSTRLEN];
        const struct sockaddr *sa = (const struct sockaddr *)&o->sentinels[i].ss;
        redisContext *s = sync_connect_to(net_addr_ip(sa, ip, sizeof ip), (int)net_port(sa), timeout_s);
        if (s && !s->err && o->sentinel_password[0])
            freeReplyObject(o->sentinel_user[0] ? redisCommand(s, "AUTH %s %s", o->sentinel_user,
                                                               o->sentinel_password)
                                                : redisCommand(s, "AUTH %s", o->sentinel_password));
        redisReply *r = s && !s->err
                            ? redisCommand(s, "SENTINEL get-master-addr-by-name %s", o->sentinel_master)
                            : NULL;
        bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                  r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING;
        if (ok) {
            snprintf(host, sizeof host, "%s", r->element[0]->str);
            port = atoi(r->element[1]->str);
        }
        if (r)
            freeReplyObject(r);
        if (s)
            redisFree(s);
        if (ok)
            break;
    }
    redisContext *c = sync_connect_to(host, port, timeout_s);
    if (!c || c->err) {
        snprintf(err, err_len, "redis %s:%d: %s", host, port, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    if ((o->password[0] &&
         sync_check(c, o->user[0] ? redisCommand(c, "AUTH %s %s", o->user, o->password)
                                  : redisCommand(c, "AUTH %s", o->password),
                    "AUTH", err, err_len) == -1) ||
        (o->db && sync_check(c, redisCommand(c, "SELECT %d", o->db), "SELECT", err, err_len) == -1)) {
        redisFree(c);
        return NULL;
    }
    struct rds_sync *out = calloc(1, sizeof *out);
    if (!out) {
        redisFree(c);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    out->c = c;
    return out;
}

struct redisReply *rds_sync_cmd(struct rds_sync *c, int argc, const char **argv)
{
    return redisCommandArgv(c->c, argc, argv, NULL);
}

int rds_sync_append(struct rds_sync *c, int argc, const char **argv)
{
    return redisAppendCommandArgv(c->c, argc, argv, NULL) == REDIS_OK ? 0 : -1;
}

struct redisReply *rds_sync_next(struct rds_sync *c)
{
    void *r = NULL;
    return redisGetReply(c->c, &r) == REDIS_OK ? r : NULL;
}

void rds_sync_reply_free(struct redisReply *r)
{
    if (r)
        freeReplyObject(r);
}

void rds_sync_close(struct rds_sync *c)
{
    if (!c)
        return;
    redisFree(c->c);
    free(c);
}
