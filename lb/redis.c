/* redis.c — asynchronous, bounded, self-healing Redis client (see redis.h). */
#include "lb/redis.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

enum conn_phase { PH_IDLE, PH_SENTINEL, PH_CONNECTING, PH_AUTH, PH_UP };

struct sub {
    char *channel;
    rds_reply_fn cb;
    void *ud;
    struct sub *next;
};

/* One TCP connection to Redis (or, briefly, to a sentinel). */
struct conn {
    struct rds *r;
    bool is_sub;                 /* pub/sub connection */
    enum conn_phase phase;
    redisAsyncContext *ac;
    ev_timer timer;              /* connect timeout, then reconnect backoff */
    double backoff;
    size_t sentinel_idx;
    char host[256];              /* the master to connect to */
    int port;
    bool have_master;            /* a sentinel named the master: use it once */
    bool auth_fail_logged;       /* once per outage, not once per retry */
    bool was_up;
};

struct rds {
    struct ev_loop *loop;
    struct rds_opts o;
    rds_state_fn on_state;
    void *ud;
    struct conn main, sub;
    struct sub *subs;
    size_t in_flight;
    struct rds_stats st;
    bool closing;
};

struct pending {
    struct rds *r;
    rds_reply_fn cb;
    void *ud;
};

static void conn_start(struct conn *c);

void rds_opts_default(struct rds_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->port = 6379;
    snprintf(o->prefix, sizeof o->prefix, "sstp:");
    o->max_pending = 1024;
    o->connect_timeout = 2.0;
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

int rds_parse_url(struct rds_opts *o, const char *url)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            snprintf(o->user, sizeof o->user, "%.*s", (int)(colon - p), p);
            snprintf(o->password, sizeof o->password, "%.*s", (int)(at - colon - 1), colon + 1);
        } else {
            snprintf(o->password, sizeof o->password, "%.*s", (int)(at - p), p);
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hostport_len = slash ? (size_t)(slash - p) : strlen(p);
    char hp[sizeof o->host];
    if (hostport_len == 0 || hostport_len >= sizeof hp)
        return -1;
    memcpy(hp, p, hostport_len);
    hp[hostport_len] = '\0';
    char *port = NULL;
    if (hp[0] == '[') {
        char *close = strchr(hp, ']');
        if (!close)
            return -1;
        *close = '\0';
        if (close[1] == ':')
            port = close + 2;
        snprintf(o->host, sizeof o->host, "%s", hp + 1);
    } else {
        port = strrchr(hp, ':');
        if (port)
            *port++ = '\0';
        snprintf(o->host, sizeof o->host, "%s", hp);
    }
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
        if (*end || v < 0 || v > 1000)
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
    if (c->is_sub)
        return;
    struct rds *r = c->r;
    log_info(up ? "redis_up" : "redis_down", "host=%s port=%d", c->host, c->port);
    if (r->on_state)
        r->on_state(up, r->ud);
}

static void schedule_reconnect(struct conn *c)
{
    struct rds *r = c->r;
    if (r->closing)
        return;
    c->phase = PH_IDLE;
    double jitter = 0.8 + 0.4 * ((double)rand() / RAND_MAX);
    ev_timer_stop(r->loop, &c->timer);
    ev_timer_set(&c->timer, c->backoff * jitter, 0);
    ev_timer_start(r->loop, &c->timer);
    c->backoff = c->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : c->backoff * 2;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    (void)status;
    if (!c)
        return; /* we dropped it ourselves (fail_conn, conn_stop) */
    c->ac = NULL; /* hiredis frees it after this callback */
    c->r->st.disconnects++;
    set_up(c, false);
    schedule_reconnect(c);
}

static void on_connect(const redisAsyncContext *ac, int status);

static void fail_conn(struct conn *c, const char *why)
{
    log_debug("redis_connect_fail", "host=%s port=%d err=\"%s\"", c->host, c->port, why);
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        /* hiredis 0.14 cannot unset the disconnect callback: it sees NULL data */
        ac->data = NULL;
        redisAsyncFree(ac); /* pending callbacks run with NULL replies */
    }
    set_up(c, false);
    schedule_reconnect(c);
}

static void resubscribe(struct conn *c);

static void on_ready_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = privdata;
    redisReply *rep = reply;
    (void)ac;
    if (!c || c->phase != PH_AUTH)
        return;
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        log_at(c->auth_fail_logged ? LOG_DEBUG : LOG_ERROR, "redis_auth_fail", "host=%s err=\"%s\"",
               c->host, rep && rep->str ? rep->str : "no reply");
        c->auth_fail_logged = true;
        fail_conn(c, "auth/select failed");
        return;
    }
    /* the last of AUTH/SELECT/PING answered: usable */
    c->phase = PH_UP;
    c->backoff = BACKOFF_MIN;
    c->auth_fail_logged = false;
    c->r->st.connects++;
    ev_timer_stop(c->r->loop, &c->timer);
    set_up(c, true);
    if (c->is_sub)
        resubscribe(c);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (!c)
        return;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees a context whose connect failed */
        set_up(c, false);
        schedule_reconnect(c);
        return;
    }
    struct rds *r = c->r;
    c->phase = PH_AUTH;
    if (r->o.password[0]) {
        if (r->o.user[0])
            redisAsyncCommand(c->ac, on_ready_reply, NULL, "AUTH %s %s", r->o.user, r->o.password);
        else
            redisAsyncCommand(c->ac, on_ready_reply, NULL, "AUTH %s", r->o.password);
    }
    if (r->o.db && !c->is_sub)
        redisAsyncCommand(c->ac, on_ready_reply, NULL, "SELECT %d", r->o.db);
    /* only the last reply flips the phase; errors in the earlier ones are
     * seen by redisAsyncCommand's NULL privdata path and ignored, then
     * PING fails on an unauthenticated connection */
    redisAsyncCommand(c->ac, on_ready_reply, c, "PING");
}

static void connect_to(struct conn *c, const char *host, int port)
{
    struct rds *r = c->r;
    char ip[INET6_ADDRSTRLEN];
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    /* names are resolved here, at (re)connect time only, never per command */
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
        fail_conn(c, "cannot resolve host");
        return;
    }
    if (res->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, ip, sizeof ip);
    freeaddrinfo(res);
    c->ac = redisAsyncConnect(ip, port);
    if (!c->ac || c->ac->err) {
        if (c->ac)
            redisAsyncFree(c->ac);
        c->ac = NULL;
        fail_conn(c, "connect failed");
        return;
    }
    c->ac->data = c;
    c->phase = PH_CONNECTING;
    redisLibevAttach(r->loop, c->ac);
    redisAsyncSetConnectCallback(c->ac, on_connect);
    redisAsyncSetDisconnectCallback(c->ac, on_disconnect);
    ev_timer_stop(r->loop, &c->timer);
    ev_timer_set(&c->timer, r->o.connect_timeout, 0);
    ev_timer_start(r->loop, &c->timer);
}

/* Sentinel: ask each configured sentinel in turn for the master address. */
static void on_sentinel_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = privdata;
    redisReply *rep = reply;
    (void)ac;
    if (!c || c->phase != PH_SENTINEL)
        return;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_STRING) {
        snprintf(c->host, sizeof c->host, "%s", rep->element[0]->str);
        c->port = atoi(rep->element[1]->str);
        c->have_master = true;
        /* drop the sentinel connection from inside its callback: defer to
         * the timer, which connects to the master */
        c->phase = PH_IDLE;
        ev_timer_stop(c->r->loop, &c->timer);
        ev_timer_set(&c->timer, 0, 0);
        ev_timer_start(c->r->loop, &c->timer);
        redisAsyncDisconnect(ac);
        return;
    }
    c->sentinel_idx = (c->sentinel_idx + 1) % c->r->o.n_sentinels;
    redisAsyncDisconnect(ac);
}

static void on_sentinel_connect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (!c)
        return;
    if (status != REDIS_OK) {
        c->ac = NULL;
        c->sentinel_idx = (c->sentinel_idx + 1) % c->r->o.n_sentinels;
        schedule_reconnect(c);
        return;
    }
    redisAsyncCommand(c->ac, on_sentinel_reply, c, "SENTINEL get-master-addr-by-name %s",
                      c->r->o.sentinel_master);
}

static void on_sentinel_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    (void)status;
    if (!c)
        return;
    c->ac = NULL;
    if (c->phase == PH_SENTINEL)
        schedule_reconnect(c);
}

static void ask_sentinel(struct conn *c)
{
    struct rds *r = c->r;
    char ip[INET6_ADDRSTRLEN];
    const struct net_addr *s = &r->o.sentinels[c->sentinel_idx];
    net_addr_ip((const struct sockaddr *)&s->ss, ip, sizeof ip);
    c->ac = redisAsyncConnect(ip, (int)net_port((const struct sockaddr *)&s->ss));
    if (!c->ac || c->ac->err) {
        if (c->ac)
            redisAsyncFree(c->ac);
        c->ac = NULL;
        c->sentinel_idx = (c->sentinel_idx + 1) % r->o.n_sentinels;
        schedule_reconnect(c);
        return;
    }
    c->ac->data = c;
    c->phase = PH_SENTINEL;
    redisLibevAttach(r->loop, c->ac);
    redisAsyncSetConnectCallback(c->ac, on_sentinel_connect);
    redisAsyncSetDisconnectCallback(c->ac, on_sentinel_disconnect);
    ev_timer_stop(r->loop, &c->timer);
    ev_timer_set(&c->timer, r->o.connect_timeout, 0);
    ev_timer_start(r->loop, &c->timer);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    if (c->phase == PH_CONNECTING || c->phase == PH_AUTH || c->phase == PH_SENTINEL) {
        fail_conn(c, "timeout");
        return;
    }
    if (c->phase != PH_IDLE)
        return;
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
    if (r->closing || c->ac)
        return;
    if (r->o.n_sentinels) {
        if (!c->have_master) {
            ask_sentinel(c);
            return;
        }
        c->have_master = false; /* the next reconnect asks again: failover */
    } else {
        snprintf(c->host, sizeof c->host, "%s", r->o.host);
        c->port = r->o.port;
    }
    connect_to(c, c->host, c->port);
}

static void conn_init(struct rds *r, struct conn *c, bool is_sub)
{
    memset(c, 0, sizeof *c);
    c->r = r;
    c->is_sub = is_sub;
    c->backoff = BACKOFF_MIN;
    ev_timer_init(&c->timer, timer_cb, 0, 0);
    c->timer.data = c;
}

static void conn_stop(struct conn *c)
{
    ev_timer_stop(c->r->loop, &c->timer);
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
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
        r->o.max_pending = 1024;
    if (r->o.connect_timeout <= 0)
        r->o.connect_timeout = 2.0;
    r->on_state = on_state;
    r->ud = ud;
    conn_init(r, &r->main, false);
    conn_init(r, &r->sub, true);
    conn_start(&r->main);
    return r;
}

void rds_free(struct rds *r)
{
    if (!r)
        return;
    r->closing = true;
    conn_stop(&r->main);
    conn_stop(&r->sub);
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
    redisReply *rep = reply;
    (void)ac;
    p->r->in_flight--;
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        p->r->st.errors++;
    else
        p->r->st.replies++;
    if (p->cb)
        p->cb(rep, p->ud);
    free(p);
}

int rds_cmd(struct rds *r, rds_reply_fn cb, void *ud, int argc, const char **argv,
            const size_t *argvlen)
{
    if (!r || r->main.phase != PH_UP || !r->main.ac) {
        if (r)
            r->st.dropped_down++;
        return -1;
    }
    if (r->in_flight >= r->o.max_pending) {
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
    if (redisAsyncCommandArgv(r->main.ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        r->st.errors++;
        return -1;
    }
    r->in_flight++;
    r->st.sent++;
    return 0;
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

struct rds_sync *rds_sync_connect(const struct rds_opts *o, double timeout_s, char *err, size_t err_len)
{
    char host[256];
    int port = o->port;
    snprintf(host, sizeof host, "%s", o->host);
    for (size_t i = 0; i < o->n_sentinels; i++) {
        char ip[INET6_ADDRSTRLEN];
        const struct sockaddr *sa = (const struct sockaddr *)&o->sentinels[i].ss;
        redisContext *s = sync_connect_to(net_addr_ip(sa, ip, sizeof ip), (int)net_port(sa), timeout_s);
        redisReply *r = s && !s->err
                            ? redisCommand(s, "SENTINEL get-master-addr-by-name %s", o->sentinel_master)
                            : NULL;
        bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
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
    redisReply *r = NULL;
    if (o->password[0])
        r = o->user[0] ? redisCommand(c, "AUTH %s %s", o->user, o->password)
                       : redisCommand(c, "AUTH %s", o->password);
    if (r && r->type == REDIS_REPLY_ERROR) {
        snprintf(err, err_len, "redis AUTH: %s", r->str);
        freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    if (r)
        freeReplyObject(r);
    if (o->db) {
        r = redisCommand(c, "SELECT %d", o->db);
        if (r)
            freeReplyObject(r);
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
