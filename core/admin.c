/* admin.c — the admin HTTP listener (see admin.h). One request per
 * connection; the answer is built whole (open_memstream) and written
 * without blocking. */
#include "core/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

#define LISTEN_BACKLOG 16
#define PATH_MAX_LEN 128

struct admin_conn {
    struct admin *a;
    struct admin_conn *prev, *next;
    int fd;
    ev_io w;
    ev_timer t;
    size_t in_len;
    char in[ADMIN_REQ_MAX];
    char *out;        /* the whole answer; NULL until the request is read */
    size_t out_len, out_off;
};

int admin_request_parse(const char *buf, size_t len, enum admin_method *method,
                        char *path, size_t path_len)
{
    /* the head ends at the first empty line */
    size_t end = 0;
    bool done = false;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if ((i >= 1 && buf[i - 1] == '\n') || (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')) {
            end = i + 1;
            done = true;
            break;
        }
    }
    if (!done)
        return len >= ADMIN_REQ_MAX ? -1 : 0;
    (void)end;

    /* request line: METHOD SP TARGET SP HTTP/1.x */
    const char *eol = memchr(buf, '\n', len);
    size_t line_len = (size_t)(eol - buf);
    if (line_len > 0 && buf[line_len - 1] == '\r')
        line_len--;
    const char *sp1 = memchr(buf, ' ', line_len);
    if (!sp1)
        return -1;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', line_len - (size_t)(target - buf));
    if (!sp2 || sp2 == target || *target != '/')
        return -1;
    const char *version = sp2 + 1;
    size_t version_len = line_len - (size_t)(version - buf);
    if (version_len != 8 || memcmp(version, "HTTP/1.", 7) != 0 || version[7] < '0' || version[7] > '9')
        return -1;
    size_t method_len = (size_t)(sp1 - buf);
    if (method_len == 3 && memcmp(buf, "GET", 3) == 0)
        *method = ADMIN_GET;
    else if (method_len == 4 && memcmp(buf, "HEAD", 4) == 0)
        *method = ADMIN_HEAD;
    else
        *method = ADMIN_OTHER;
    size_t target_len = (size_t)(sp2 - target);
    const char *q = memchr(target, '?', target_len);
    if (q)
        target_len = (size_t)(q - target);
    if (target_len >= path_len)
        target_len = path_len - 1; /* a cut path matches no route: 404 */
    for (size_t i = 0; i < target_len; i++)
        if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7F)
            return -1;
    memcpy(path, target, target_len);
    path[target_len] = '\0';
    return 1;
}

int admin_request_host(const char *buf, size_t len, char *out, size_t out_len)
{
    int found = 0;
    const char *p = memchr(buf, '\n', len); /* headers start after the request line */
    while (p && (size_t)(p + 1 - buf) < len) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', len - (size_t)(line - buf));
        if (!eol)
            break;
        size_t n = (size_t)(eol - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the blank line ends the head */
        if (n >= 5 && strncasecmp(line, "host:", 5) == 0) {
            const char *v = line + 5, *e = line + n;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (found || (size_t)(e - v) >= out_len)
                return -1;
            memcpy(out, v, (size_t)(e - v));
            out[e - v] = '\0';
            found = 1;
        }
        p = eol;
    }
    return found;
}

static bool port_ok(const char *s)
{
    if (!*s)
        return true;
    if (*s++ != ':' || !*s || strlen(s) > 5)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

bool admin_host_allowed(const char *host, const struct net_addr *listen)
{
    char name[ADMIN_HOST_MAX];
    const char *rest;
    bool bracket = host[0] == '[';
    if (bracket) {
        const char *close_br = strchr(host, ']');
        if (!close_br || (size_t)(close_br - host - 1) >= sizeof name)
            return false;
        memcpy(name, host + 1, (size_t)(close_br - host - 1));
        name[close_br - host - 1] = '\0';
        rest = close_br + 1;
    } else {
        size_t n = strcspn(host, ":");
        if (n >= sizeof name)
            return false;
        memcpy(name, host, n);
        name[n] = '\0';
        rest = host + n;
    }
    if (!port_ok(rest))
        return false;
    if (!bracket && (strcasecmp(name, "localhost") == 0 || strcasecmp(name, "localhost.") == 0))
        return true;
    const struct sockaddr *la = (const struct sockaddr *)&listen->ss;
    const struct sockaddr_in *l4 = (const struct sockaddr_in *)la;
    const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)la;
    struct in_addr a4;
    struct in6_addr a6;
    if (!bracket && inet_pton(AF_INET, name, &a4) == 1) {
        if (ntohl(a4.s_addr) >> 24 == 127)
            return true;
        if (la->sa_family == AF_INET)
            return l4->sin_addr.s_addr == htonl(INADDR_ANY) || l4->sin_addr.s_addr == a4.s_addr;
        return la->sa_family == AF_INET6 &&
               (IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr) ||
                (IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr) && memcmp(&l6->sin6_addr.s6_addr[12], &a4, 4) == 0));
    }
    if (bracket && inet_pton(AF_INET6, name, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        return la->sa_family == AF_INET6 &&
               (IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr) || memcmp(&l6->sin6_addr, &a6, sizeof a6) == 0);
    }
    return false; /* a name other than localhost: possibly rebound to us */
}

static void conn_free(struct admin_conn *c)
{
    struct admin *a = c->a;
    ev_io_stop(a->loop, &c->w);
    ev_timer_stop(a->loop, &c->t);
    close(c->fd);
    free(c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->n_conns--;
    free(c);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 421: return "Misdirected Request";
    case 503: return "Service Unavailable";
    default:  return "Internal Server Error";
    }
}

static void write_own_metrics(const struct admin *a, FILE *b)
{
    static const char *const reasons[ADMIN_REFUSED_COUNT] = { "too_many_connections", "host",
                                                              "accept_error" };
    fputs("# HELP sstp_admin_refused_total Admin listener connections and requests refused, by "
          "reason.\n# TYPE sstp_admin_refused_total counter\n", b);
    for (size_t i = 0; i < ADMIN_REFUSED_COUNT; i++)
        fprintf(b, "sstp_admin_refused_total{reason=\"%s\"} %llu\n", reasons[i], a->n_refused[i]);
}

/* Builds the whole answer into c->out. */
static int respond(struct admin_conn *c, enum admin_method method, const char *path, int parse_rc,
                   bool host_ok)
{
    struct admin *a = c->a;
    char *body = NULL;
    size_t body_len = 0;
    int status = 200;
    const char *ctype = "text/plain; charset=utf-8";
    FILE *b = open_memstream(&body, &body_len);
    if (!b)
        return -1;
    if (parse_rc < 0) {
        status = 400;
        fputs("bad request\n", b);
    } else if (!host_ok) {
        status = 421;
        fputs("use localhost or an IP address in Host\n", b);
        a->n_refused[ADMIN_REFUSED_HOST]++;
    } else if (method == ADMIN_OTHER) {
        status = 405;
        fputs("only GET and HEAD\n", b);
    } else if (strcmp(path, "/healthz") == 0) {
        fputs("ok\n", b);
    } else if (strcmp(path, "/readyz") == 0) {
        char why[128] = "not ready";
        if (a->hooks.ready && a->hooks.ready(a->hooks.ctx, why, sizeof why)) {
            fputs("ready\n", b);
        } else {
            status = 503;
            fprintf(b, "%s\n", why);
        }
    } else if (strcmp(path, "/metrics") == 0 && a->hooks.metrics) {
        ctype = "text/plain; version=0.0.4; charset=utf-8";
        if (a->hooks.metrics(a->hooks.ctx, b) == -1) {
            status = 500;
            rewind(b);
            fputs("metrics unavailable\n", b);
        } else {
            write_own_metrics(a, b);
        }
    } else {
        status = 404;
        fputs("not found\n", b);
    }
    if (fclose(b) != 0) {
        free(body);
        return -1;
    }
    FILE *o = open_memstream(&c->out, &c->out_len);
    if (!o) {
        free(body);
        return -1;
    }
    fprintf(o, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, status_text(status), ctype, body_len);
    if (method != ADMIN_HEAD)
        fwrite(body, 1, body_len, o);
    free(body);
    if (fclose(o) != 0)
        return -1;
    a->n_requests++;
    return 0;
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct admin_conn *c = w->data;
    if (!c->out) {
        ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (n == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            conn_free(c);
            return;
        }
        c->in_len += (size_t)n;
        enum admin_method method = ADMIN_OTHER;
        char path[PATH_MAX_LEN];
        int rc = admin_request_parse(c->in, c->in_len, &method, path, sizeof path);
        if (rc == 0)
            return;
        char host[ADMIN_HOST_MAX];
        int host_rc = rc == 1 ? admin_request_host(c->in, c->in_len, host, sizeof host) : 0;
        if (host_rc == -1)
            rc = -1;
        bool host_ok = host_rc != 1 || admin_host_allowed(host, &c->a->addr);
        if (respond(c, method, path, rc, host_ok) == -1) {
            conn_free(c);
            return;
        }
        ev_io_stop(loop, &c->w);
        ev_io_set(&c->w, c->fd, EV_WRITE);
        ev_io_start(loop, &c->w);
        return; /* write when the socket says so */
    }
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0)
            break;
        c->out_off += (size_t)n;
    }
    conn_free(c);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_free(w->data);
}

static void pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct admin *a = w->data;
    if (a->fd != -1)
        ev_io_start(loop, &a->w);
}

/* Out of descriptors: the pending connection stays in the backlog and the
 * listener stays readable, so retrying at once would spin. Stop accepting
 * for a moment instead (libev "accept()ing when you can't"). */
static void pause_accept(struct admin *a, int err)
{
    a->n_refused[ADMIN_REFUSED_ACCEPT_ERROR]++;
    ev_io_stop(a->loop, &a->w);
    ev_timer_set(&a->pause, ADMIN_ACCEPT_PAUSE_S, 0);
    ev_timer_start(a->loop, &a->pause);
    if (ev_now(a->loop) - a->last_error_log >= ADMIN_LOG_EVERY_S) {
        a->last_error_log = ev_now(a->loop);
        log_warn("admin_accept_error", "err=\"%s\" conns=%u msg=paused", strerror(err), a->n_conns);
    }
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct admin *a = w->data;
    for (int i = 0; i < ADMIN_CONNS_MAX; i++) {
        int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accept(a, errno);
            return; /* EAGAIN, or a transient error: the next readiness retries */
        }
        struct admin_conn *c = a->n_conns < ADMIN_CONNS_MAX ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            a->n_refused[ADMIN_REFUSED_CONNS]++;
            close(fd);
            continue;
        }
        c->a = a;
        c->fd = fd;
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->n_conns++;
        ev_io_init(&c->w, conn_cb, fd, EV_READ);
        c->w.data = c;
        ev_timer_init(&c->t, timeout_cb, ADMIN_TIMEOUT_S, 0);
        c->t.data = c;
        ev_io_start(loop, &c->w);
        ev_timer_start(loop, &c->t);
    }
}

int admin_start(struct admin *a, struct ev_loop *loop, const struct net_addr *addr,
                const struct admin_hooks *hooks)
{
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->hooks = *hooks;
    a->addr = *addr;
    a->last_error_log = -ADMIN_LOG_EVERY_S;
    ev_timer_init(&a->pause, pause_cb, ADMIN_ACCEPT_PAUSE_S, 0);
    a->pause.data = a;
    a->fd = net_listen(addr, LISTEN_BACKLOG, false);
    if (a->fd == -1)
        return -1;
    ev_io_init(&a->w, accept_cb, a->fd, EV_READ);
    a->w.data = a;
    ev_io_start(loop, &a->w);
    return 0;
}

void admin_stop(struct admin *a)
{
    while (a->conns)
        conn_free(a->conns);
    if (a->loop)
        ev_timer_stop(a->loop, &a->pause);
    if (a->fd != -1) {
        ev_io_stop(a->loop, &a->w);
        close(a->fd);
        a->fd = -1;
    }
}
