/* passthrough.c — SNI passthrough (see passthrough.h). */
#include "proxy/passthrough.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/conn.h"
#include "proxy/pphdr.h"
#include "proxy/sni.h"
#include "proxy/stats.h"
#include "proxy/worker.h"
#include "sstp/tls_hello.h"

#define PASS_REPEEK_S 0.02 /* a ClientHello cut in pieces: look again this often */
#define PASS_ROUNDS 16     /* read/write rounds per event before yielding */

const struct px_pass *px_pass_find(const struct px_pass_list *l, const char *sni)
{
    if (!sni)
        return NULL;
    for (int wildcard = 0; wildcard < 2; wildcard++)
        for (size_t i = 0; i < l->n; i++)
            if ((l->items[i].name[0] == '*') == wildcard && px_host_match(l->items[i].name, sni))
                return &l->items[i];
    return NULL;
}

static void count(struct px_conn *c, enum px_metric f, size_t i)
{
    metrics_add(c->w->mv, &c->w->m->fam[f], i, 1);
}

void px_pass_connect(struct px_conn *c, const struct net_addr *addr, const char *target)
{
    struct px_worker *w = c->w;
    px_conn_set_state(c, PXC_PASS);
    int fd = net_connect(addr);
    if (fd == -1) {
        log_info("pass_fail", "sid=%s client=%s sni=%s target=%s err=%s", c->sid, c->client,
                 c->sni[0] ? c->sni : "-", target, strerror(errno));
        px_conn_close(c, 'S', SSTP_OK);
        return;
    }
    c->be.fd = fd;
    c->be.want = 0;
    c->hs->step = PXB_CONNECTING;
    px_conn_arm_timer(c, w->cfg->connect_timeout);
}

/* A listed name: the PROXY v2 header, if asked for, waits in c2b in front
 * of everything the client sends. */
static void start(struct px_conn *c, const struct px_pass *e, const char *sni)
{
    struct px_worker *w = c->w;
    log_sanitize(c->sni, sizeof c->sni, sni, strlen(sni));
    if (e->pp2) {
        struct sstp_wbuf wb;
        if (buf_take(&w->pool, &c->c2b) == -1) {
            px_conn_close(c, 'R', SSTP_E_NOSPACE);
            return;
        }
        sstp_wbuf_init(&wb, buf_wptr(&c->c2b), buf_room(&c->c2b));
        if (px_pp_build_plain(&wb, (const struct sockaddr *)&c->hs->client,
                              (const struct sockaddr *)&c->hs->local, sni) != SSTP_OK) {
            px_conn_close(c, 'I', SSTP_E_NOSPACE);
            return;
        }
        c->c2b.tail += wb.len;
    }
    char target[NET_ADDR_STR_MAX];
    net_addr_str((const struct sockaddr *)&e->addr.ss, target, sizeof target);
    log_info("passthrough", "sid=%s client=%s sni=%s target=%s proxy_header=%s", c->sid,
             c->client, c->sni, target, e->pp2 ? "v2" : "none");
    px_pass_connect(c, &e->addr, target);
}

void px_pass_peek(struct px_conn *c)
{
    struct px_worker *w = c->w;
    uint8_t hello[SSTP_HELLO_PEEK_MAX];
    ssize_t n = recv(c->cli.fd, hello, sizeof hello, MSG_PEEK);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        px_conn_close(c, 'C', SSTP_OK);
        return;
    }
    struct sstp_slice ext;
    enum sstp_rc rc = sstp_hello_sni(&ext, hello, (size_t)n);
    if (rc == SSTP_AGAIN) {
        /* the rest is on its way: stop watching (the peeked bytes keep the
         * socket readable) and look again shortly */
        c->hs->hello_partial = true;
        double left = c->t_start + w->cfg->handshake_timeout - ev_now(w->loop);
        px_conn_arm_timer(c, left < PASS_REPEEK_S ? (left > 0 ? left : 0) : PASS_REPEEK_S);
        return;
    }
    if (rc != SSTP_OK) {
        count(c, PXM_PROTO_ERRORS, px_stats_rc_index(w->m, rc));
        if (px_conn_log_ok(c))
            log_info("hello_reject", "sid=%s client=%s rc=%s", c->sid, c->client, sstp_rc_name(rc));
        px_conn_close(c, 'C', rc);
        return;
    }
    char sni[PX_SNI_MAX + 1];
    const struct px_pass *e = NULL;
    /* a name px_sni_parse refuses is left to OpenSSL's own checks */
    if (ext.len > 0 && px_sni_parse(ext.p, ext.len, sni, sizeof sni) == 1)
        e = px_pass_find(&w->cfg->passthrough, sni);
    if (e) {
        start(c, e, sni);
        return;
    }
    /* terminated here; the handshake deadline runs on from accept */
    px_conn_arm_timer(c, c->t_start + w->cfg->handshake_timeout - ev_now(w->loop));
    px_conn_start_tls(c);
}

void px_pass_peek_timer(struct px_conn *c)
{
    struct px_worker *w = c->w;
    if (ev_now(w->loop) - c->t_start < w->cfg->handshake_timeout) {
        px_pass_peek(c);
        return;
    }
    count(c, PXM_TIMEOUTS, PXT_HANDSHAKE);
    if (px_conn_log_ok(c))
        log_info("timeout", "sid=%s client=%s state=%s", c->sid, c->client,
                 px_conn_state_str(c->state));
    px_conn_close(c, 'C', SSTP_AGAIN);
}

/* ---- PXC_PASS: the bytes -------------------------------------------------------- */

/* One direction: read from `src` while b has room, write to `dst`, pass
 * EOF on once b drained (close_notify, then FIN). Either side may be TLS
 * (the web backend path: the client's). What a blocked read or write
 * waits for is kept in *rd_want / *wr_want (IO_WANT_*). Returns 1 if
 * anything moved, 0 if not, or -1 with the connection closed. */
static int pump(struct px_conn *c, struct io *src, struct io *dst, struct buf *b, bool *eof,
                bool *shut, uint64_t *moved, uint8_t *rd_want, uint8_t *wr_want, char src_who,
                char dst_who)
{
    struct px_worker *w = c->w;
    int moved_any = 0;
    for (;;) {
        bool progress = false;
        if (!*eof && !buf_full(b)) {
            if (buf_take(&w->pool, b) == -1) {
                px_conn_close(c, 'R', SSTP_E_NOSPACE);
                return -1;
            }
            buf_compact(b);
            ssize_t n = io_read(src, buf_wptr(b), buf_room(b));
            *rd_want = n == IO_AGAIN ? (uint8_t)src->want : 0;
            if (n > 0) {
                b->tail += (size_t)n;
                *moved += (uint64_t)n;
                c->t_last = ev_now(w->loop);
                progress = true;
            } else if (n == IO_EOF) {
                *eof = true;
                progress = true;
            } else if (n == IO_ERR) {
                px_conn_close(c, src_who, SSTP_OK);
                return -1;
            }
        }
        if (buf_len(b) > 0) {
            ssize_t n = io_write(dst, buf_rptr(b), buf_len(b));
            *wr_want = n == IO_AGAIN ? (uint8_t)dst->want : 0;
            if (n > 0) {
                buf_consume(b, (size_t)n);
                progress = true;
            } else if (n == IO_ERR) {
                px_conn_close(c, dst_who, SSTP_OK);
                return -1;
            }
        }
        if (buf_len(b) == 0)
            buf_release(&w->pool, b);
        if (*eof && buf_len(b) == 0 && !*shut) {
            px_conn_shut_write(dst);
            *shut = true;
        }
        if (!progress)
            return moved_any;
        /* back-pressure bounds each round; a side that keeps both sockets
         * busy yields after PASS_ROUNDS and is called again at once */
        if (++moved_any >= PASS_ROUNDS)
            return moved_any;
    }
}

static void connected(struct px_conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->be.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        err = errno;
    if (err) {
        log_info("pass_fail", "sid=%s client=%s sni=%s err=%s", c->sid, c->client,
                 c->sni[0] ? c->sni : "-", strerror(err));
        px_conn_close(c, 'S', SSTP_OK);
        return;
    }
    c->hs->step = PXB_SEND;
    px_conn_handshake_done(c);
    px_conn_arm_timer(c, c->w->cfg->idle_timeout);
}

void px_pass_run(struct px_conn *c, int cli_events, int be_events)
{
    (void)cli_events;
    if (c->hs->step == PXB_CONNECTING) {
        if (!(be_events & EV_WRITE))
            return;
        connected(c);
        if (c->state != PXC_PASS)
            return;
    }
    int up = pump(c, &c->cli, &c->be, &c->c2b, &c->cli_eof, &c->be_shut, &c->bytes_in,
                  &c->cli_rd_want, &c->be_wr_want, 'C', 'S');
    if (up == -1)
        return;
    int down = pump(c, &c->be, &c->cli, &c->b2c, &c->be_eof, &c->cli_shut, &c->bytes_out,
                    &c->be_rd_want, &c->cli_wr_want, 'S', 'C');
    if (down == -1)
        return;
    if (c->cli_shut && c->be_shut) {
        px_conn_close(c, '-', SSTP_OK);
        return;
    }
    /* a round cut short, or decrypted bytes already inside OpenSSL that no
     * socket event will announce: come back through the loop (SSL_pending,
     * not SSL_has_pending: half a record waits for the socket, not for us) */
    if (up >= PASS_ROUNDS || down >= PASS_ROUNDS ||
        (c->cli.ssl && !c->cli_eof && !buf_full(&c->c2b) && SSL_pending(c->cli.ssl) > 0))
        ev_feed_event(c->w->loop, &c->cw, EV_READ);
    px_pass_watch(c);
}

void px_pass_watch(struct px_conn *c)
{
    if (c->state != PXC_PASS)
        return;
    if (c->hs->step == PXB_CONNECTING) {
        px_conn_watch(c, &c->cw, c->cli.fd, 0);
        px_conn_watch(c, &c->bw, c->be.fd, EV_WRITE);
        return;
    }
    /* read a side while its buffer has room; write a side while bytes wait
     * for it; a TLS side blocked on the other readiness waits for that */
    bool cli_rd = !c->cli_eof && !buf_full(&c->c2b), be_rd = !c->be_eof && !buf_full(&c->b2c);
    bool cli_wr = buf_len(&c->b2c) > 0, be_wr = buf_len(&c->c2b) > 0;
    int cli = (cli_rd ? (c->cli_rd_want ? c->cli_rd_want : EV_READ) : 0) |
              (cli_wr ? (c->cli_wr_want ? c->cli_wr_want : EV_WRITE) : 0);
    int be = (be_rd ? (c->be_rd_want ? c->be_rd_want : EV_READ) : 0) |
             (be_wr ? (c->be_wr_want ? c->be_wr_want : EV_WRITE) : 0);
    px_conn_watch(c, &c->cw, c->cli.fd, cli);
    px_conn_watch(c, &c->bw, c->be.fd, be);
}

void px_pass_timer(struct px_conn *c)
{
    struct px_worker *w = c->w;
    if (c->hs->step == PXB_CONNECTING) {
        count(c, PXM_TIMEOUTS, PXT_BACKEND);
        log_info("pass_fail", "sid=%s client=%s sni=%s err=connect_timeout", c->sid, c->client,
                 c->sni[0] ? c->sni : "-");
        px_conn_close(c, 'S', SSTP_OK);
        return;
    }
    bool half = c->cli_eof || c->be_eof;
    double limit = half ? w->cfg->fin_timeout : w->cfg->idle_timeout;
    double idle = ev_now(w->loop) - c->t_last;
    if (idle < limit) {
        px_conn_arm_timer(c, limit - idle);
        return;
    }
    count(c, PXM_TIMEOUTS, half ? PXT_FIN : PXT_IDLE);
    px_conn_close(c, 'P', SSTP_OK);
}
