/* admin.c — the admin HTTP listener (see admin.h). One request per
 * connection; the answer is built whole (open_memstream) and written
 * without blocking. */
#include "core/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
    case 503: return "Service Unavailable";
    default:  return "Internal Server Error";
    }
}

/* Builds the whole answer into c->out. */
static int respond(struct admin_conn *c, enum admin_method method, const char *path, int parse_rc)
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
        if (respond(c, method, path, rc) == -1) {
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

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct admin *a = w->data;
    for (int i = 0; i < ADMIN_CONNS_MAX; i++) {
        int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1)
            return; /* EAGAIN, or a transient error: the next readiness retries */
        struct admin_conn *c = a->n_conns < ADMIN_CONNS_MAX ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            a->n_refused++;
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
    if (a->fd != -1) {
        ev_io_stop(a->loop, &a->w);
        close(a->fd);
        a->fd = -1;
    }
}
