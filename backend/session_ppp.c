/* session_ppp.c — the pppd side of an sstp-backend session: spawning pppd,
 * relaying PPP frames as RFC 1662 HDLC on its pty, the plugin's reports
 * (authentication keys, addresses), and hang-up and reaping.
 *
 * pppd is hung up with SIGTERM, then SIGKILL after kill_grace; the session
 * is freed only after ev_child has reaped it, so no zombie survives. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "backend/pppd-plugin/plugin-proto.h"
#include "backend/fleet.h"
#include "backend/pppd.h"
#include "backend/pppd_pool.h"
#include "backend/session_int.h"
#include "core/log.h"
#include "sstp/binding.h"
#include "sstp/packet.h"

#define PTY_READ_MAX 4096
/* The most one read of a pty master returns (N_TTY_BUF_SIZE - 1, Linux):
 * a read that got less emptied the line discipline. */
#define PTY_READ_FULL 4095
/* 4 full reads fill a TLS record with SSTP packets; bounded, as other
 * sessions wait on the same loop */
#define PTY_READS_PER_WAKEUP 4
/* Longest wait for pppd's first output before client frames go to its pty
 * anyway (a `silent` pppd waits for the peer); a busy host can take
 * seconds to start pppd, and frames written before it is ready are lost. */
#define PTY_HOLD_S 5.0

static void pty_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void pty_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void plugin_cb(struct ev_loop *loop, ev_io *w, int revents);
static void child_cb(struct ev_loop *loop, ev_child *w, int revents);
static void kill_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void pty_hold_cb(struct ev_loop *loop, ev_timer *w, int revents);

void be_session_ppp_init(struct be_session *s)
{
    ev_io_init(&s->pty_r, pty_read_cb, -1, EV_READ);
    ev_io_init(&s->pty_w, pty_write_cb, -1, EV_WRITE);
    ev_io_init(&s->plugin_r, plugin_cb, -1, EV_READ);
    ev_timer_init(&s->kill_timer, kill_cb, s->srv->cfg->kill_grace, 0);
    ev_timer_init(&s->pty_hold, pty_hold_cb, PTY_HOLD_S, 0);
    s->pty_r.data = s->pty_w.data = s->plugin_r.data = s->kill_timer.data = s->pty_hold.data = s;
}

int be_session_ppp_start(struct be_session *s)
{
    struct be_server *srv = s->srv;
    struct pppd_child child;
    char err[256], ip[64];
    struct pppd_spawn_args a = {
        .path = srv->cfg->pppd_path,
        .options_file = srv->cfg->pppd_options,
        .plugin = srv->cfg->plugin,
        .session_id = s->sid,
        .client_ip = net_addr_ip((struct sockaddr *)&s->client, ip, sizeof ip),
        .correlation_id = s->corr_id,
    };
    if (s->pid != 0)
        return 0;
    bool pooled = pppd_pool_take(&srv->pppd_pool, &a, &child) == 0;
    if (!pooled && pppd_spawn(&a, &child, err, sizeof err) == -1) {
        srv->stats.pppd_spawn_fail++;
        log_error("pppd_spawn_fail", "sid=%s err=\"%s\"", s->sid, err);
        be_session_set_term(s, TERM_RESOURCE, SSTP_OK);
        return -1;
    }
    if (!pooled)
        srv->stats.pppd_spawned++;
    s->pppd_pooled = pooled;
    s->pid = child.pid;
    s->pty_fd = child.pty_fd;
    s->plugin_fd = child.plugin_fd;
    memset(&s->dec, 0, sizeof s->dec);
    ev_io_set(&s->pty_r, s->pty_fd, EV_READ);
    ev_io_set(&s->pty_w, s->pty_fd, EV_WRITE);
    ev_io_set(&s->plugin_r, s->plugin_fd, EV_READ);
    s->pty_ready = false;
    s->pty_blocked = false;
    ev_timer_start(srv->loop, &s->pty_hold);
    ev_io_start(srv->loop, &s->plugin_r);
    ev_child_init(&s->child, child_cb, s->pid, 0);
    s->child.data = s;
    ev_child_start(srv->loop, &s->child);
    log_info("pppd_start", "sid=%s pid=%d pooled=%d", s->sid, (int)s->pid, pooled);
    be_session_ppp_update(s);
    return 0;
}

/* The session's set-up is over (link up, or pppd gone): a pool member it
 * took may be replaced now. */
static void pool_settled(struct be_session *s)
{
    if (s->pppd_pooled) {
        s->pppd_pooled = false;
        pppd_pool_settled(&s->srv->pppd_pool);
    }
}

static void close_pty(struct be_session *s)
{
    struct ev_loop *loop = s->srv->loop;
    ev_io_stop(loop, &s->pty_r);
    ev_io_stop(loop, &s->pty_w);
    ev_io_stop(loop, &s->plugin_r);
    ev_timer_stop(loop, &s->pty_hold);
    if (s->pty_fd != -1)
        close(s->pty_fd);
    if (s->plugin_fd != -1)
        close(s->plugin_fd);
    s->pty_fd = s->plugin_fd = -1;
    buf_drop(&s->srv->pool, &s->pout);
}

/* Lower link down: closing the master hangs up pppd's tty; SIGTERM makes
 * it leave at once; SIGKILL follows if it lingers. */
void be_session_ppp_hangup(struct be_session *s)
{
    close_pty(s);
    if (s->pid == 0 || s->sigterm_sent)
        return;
    s->sigterm_sent = true;
    kill(s->pid, SIGTERM);
    ev_timer_start(s->srv->loop, &s->kill_timer);
}

void be_session_kill_pppd(struct be_session *s)
{
    if (s->pid != 0)
        kill(s->pid, SIGKILL);
}

static void kill_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_session *s = w->data;
    if (s->pid == 0)
        return;
    s->srv->stats.pppd_killed++;
    log_warn("pppd_kill", "sid=%s pid=%d reason=ignored_sigterm", s->sid, (int)s->pid);
    kill(s->pid, SIGKILL);
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct be_session *s = w->data;
    int st = w->rstatus;
    ev_child_stop(loop, w);
    ev_timer_stop(loop, &s->kill_timer);
    log_info("pppd_exit", "sid=%s pid=%d status=%d signal=%d", s->sid, (int)s->pid,
             WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    s->pid = 0;
    close_pty(s);
    pool_settled(s);
    if (!s->user[0] && WIFEXITED(st) && WEXITSTATUS(st) == PPPD_EXIT_PEER_AUTH_FAILED)
        be_fleet_session_event(s->srv->fleet, &s->fleet, "auth_fail", "ppp_auth_failed");
    if (s->phase < BE_PH_CLOSED) {
        /* PPP is over: the call ends with CALL_DISCONNECT (MS-SSTP 6.7) */
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_PPPD_EXITED };
        struct sstp_srv_actions act;
        be_session_set_term(s, TERM_SERVER, SSTP_OK);
        be_session_step(s, &ev, &act);
    }
    be_session_maybe_free(s);
}

/* ---- frames: client -> pppd ---------------------------------------------- */

void be_session_send_frame_to_pppd(struct be_session *s, const uint8_t *frame, size_t len)
{
    size_t n;
    if (s->pty_fd == -1 || buf_take(&s->srv->pool, &s->pout) == -1)
        return; /* pppd is gone or memory is short: PPP retransmits */
    if (buf_room(&s->pout) < HDLC_ENCODED_MAX(len))
        buf_compact(&s->pout);
    enum sstp_rc rc = sstp_hdlc_encode(buf_wptr(&s->pout), buf_room(&s->pout), &n, frame, len);
    if (rc != SSTP_OK) {
        s->srv->stats.proto_err[rc]++;
        buf_release(&s->srv->pool, &s->pout);
        return;
    }
    s->pout.tail += n;
}

/* Writes the queued HDLC bytes to the pty. Returns true when all went (or
 * the pty is gone), false when the pty is full and pty_w must wait for it. */
static bool pty_write(struct be_session *s)
{
    while (buf_len(&s->pout) > 0 && s->pty_fd != -1) {
        size_t want = buf_len(&s->pout);
        ssize_t n = write(s->pty_fd, buf_rptr(&s->pout), want);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                close_pty(s); /* EIO: pppd closed the tty; ev_child will follow */
                break;
            }
            return false;
        }
        buf_consume(&s->pout, (size_t)n);
        if ((size_t)n < want)
            return false; /* the pty is full: a retry now would only say EAGAIN */
    }
    buf_release(&s->srv->pool, &s->pout);
    return true;
}

/* The frames a pass over the client's input decoded go to the pty in one
 * write, at once: pty_w (an epoll_ctl to add EPOLLOUT, a wake-up, another
 * to take it away) is armed only after a write that came up short. */
void be_session_ppp_flush(struct be_session *s)
{
    if (s->pty_fd == -1 || !s->pty_ready || s->pty_blocked || buf_len(&s->pout) == 0)
        return;
    s->pty_blocked = !pty_write(s);
}

static void pty_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_session *s = w->data;
    s->pty_blocked = !pty_write(s);
    be_session_update_client(s); /* room for more client input */
    be_session_ppp_update(s);
    be_session_maybe_free(s);
}

/* ---- frames: pppd -> client ---------------------------------------------- */

/* The client output must hold what one pty read can complete: a whole
 * frame (the decoder may carry up to a frame from earlier reads) plus a
 * control reply the state machine may add. */
static bool pty_read_blocked(const struct be_session *s)
{
    size_t room = s->cout.data ? BUF_SIZE - buf_len(&s->cout) : BUF_SIZE;
    return room < SSTP_PKT_MAX_LEN + PTY_READ_MAX + SSTP_SRV_SEND_MAX;
}

static void relay_pty_bytes(struct be_session *s, const uint8_t *p, size_t len)
{
    uint8_t *frame = s->pty_frame + SSTP_HDR_LEN;
    while (len > 0 && s->phase < BE_PH_FLUSH) {
        size_t frame_len = 0, used = 0;
        enum sstp_rc rc = sstp_hdlc_decode(&s->dec, frame, SSTP_HDLC_FRAME_BUF, &frame_len, &used, p, len);
        p += used;
        len -= used;
        if (rc == SSTP_AGAIN)
            break;
        if (rc != SSTP_OK) {
            s->srv->stats.hdlc_err[rc]++;
            log_debug("hdlc_drop", "sid=%s rc=%s", s->sid, sstp_rc_name(rc));
            continue;
        }
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_PPP_FROM_PPPD, .data = frame, .len = frame_len };
        struct sstp_srv_actions act;
        sstp_srv_step(&s->fsm, &ev, &act);
        if (act.frame == SSTP_SRV_FRAME_FORWARD) {
            struct sstp_wbuf hdr;
            sstp_wbuf_init(&hdr, s->pty_frame, SSTP_HDR_LEN);
            if (sstp_pkt_hdr_encode(&hdr, false, SSTP_HDR_LEN + frame_len) == SSTP_OK &&
                be_session_queue_client(s, s->pty_frame, SSTP_HDR_LEN + frame_len) == -1)
                return;
        }
        if (be_session_run_actions(s, &act) == -1)
            return;
    }
}

static void pty_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_session *s = w->data;
    uint8_t in[PTY_READ_MAX];
    /* A pty hands over at most its line discipline's buffer (4 KiB) per
     * read: read again while the client output has room, so one wake-up
     * and one flush carry several reads' packets (and they can share TLS
     * records, see client_write_len). */
    for (int i = 0; i < PTY_READS_PER_WAKEUP && s->pty_fd != -1 && !pty_read_blocked(s) &&
                    s->phase < BE_PH_FLUSH; i++) {
        ssize_t n = read(s->pty_fd, in, sizeof in);
        if (n > 0) {
            if (!s->pty_ready) { /* pppd has set its tty up: release held frames */
                s->pty_ready = true;
                ev_timer_stop(loop, &s->pty_hold);
            }
            relay_pty_bytes(s, in, (size_t)n);
            if (n < PTY_READ_FULL)
                break; /* drained: another read now would say EAGAIN */
        } else {
            if (n == 0 || (errno != EAGAIN && errno != EINTR))
                close_pty(s); /* EIO once pppd has closed the slave; the child watcher ends the call */
            break;
        }
    }
    be_session_update_client(s);
    be_session_ppp_update(s);
    be_session_maybe_free(s);
}

static void pty_hold_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_session *s = w->data;
    s->pty_ready = true;
    be_session_ppp_update(s);
}

/* Re-arms the pty watchers: read while the client side has room, write
 * only while a short write left HDLC bytes queued. Bytes queued since the
 * last write (frames held until pppd was ready) are written first. */
void be_session_ppp_update(struct be_session *s)
{
    if (s->pty_fd == -1)
        return;
    struct ev_loop *loop = s->srv->loop;
    if (buf_len(&s->pout) > 0 && s->pty_ready && !s->pty_blocked) {
        be_session_ppp_flush(s);
        if (s->pty_fd == -1)
            return;
        if (s->read_blocked)
            be_session_update_client(s); /* the room may let client input go on */
        if (s->pty_fd == -1)
            return;
    }
    bool want_read = !pty_read_blocked(s) && s->phase < BE_PH_FLUSH;
    bool want_write = buf_len(&s->pout) > 0 && s->pty_ready && s->pty_blocked;
    if (want_read != ev_is_active(&s->pty_r))
        (want_read ? ev_io_start : ev_io_stop)(loop, &s->pty_r);
    if (want_write != ev_is_active(&s->pty_w))
        (want_write ? ev_io_start : ev_io_stop)(loop, &s->pty_w);
}

/* ---- the plugin's reports ------------------------------------------------ */

static const char *auth_name(uint8_t auth)
{
    static const char *const names[] = { "none", "pap", "chap-md5", "mschapv2", "eap" };
    return auth < sizeof names / sizeof names[0] ? names[auth] : "?";
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

_Static_assert(BE_AUTH_NAME_MAX == SSTP_PLUGIN_USER_MAX, "the session keeps the whole name");

/* MS-SSTP 3.2.5.2.2: the HLAK follows the method the peer used, not whether
 * pppd happens to hold keys (a RADIUS server may send keys with PAP). No
 * key, no binding: a method that should yield keys and did not is refused,
 * never zeroed (a zero HLAK needs no secret). */
enum sstp_rc be_session_hlak_from_auth(uint8_t hlak[SSTP_HLAK_LEN], const struct sstp_plugin_msg *m)
{
    memset(hlak, 0, SSTP_HLAK_LEN);
    switch (m->auth) {
    case SSTP_PLUGIN_AUTH_MSCHAPV2:
        if (!m->keys_set || all_zero(m->recv_key, sizeof m->recv_key) ||
            all_zero(m->send_key, sizeof m->send_key))
            return SSTP_E_BIND_NO_KEYS;
        sstp_bind_hlak_mschapv2(hlak, m->recv_key, m->send_key);
        return SSTP_OK;
    case SSTP_PLUGIN_AUTH_EAP:
        /* pppd 2.4.9 keeps 16 bytes of each MPPE key: MSK[0..15] and
         * MSK[32..47], never the MSK[0..31] the binding needs */
        return m->keys_set ? SSTP_E_BIND_METHOD : SSTP_E_BIND_NO_KEYS;
    default:
        sstp_bind_hlak_none(hlak);
        return SSTP_OK;
    }
}

/* What a refused authentication tells the operator to fix. */
static const char *refusal_hint(enum sstp_rc rc)
{
    if (rc == SSTP_E_BIND_NO_KEYS)
        return "the authentication returned no MS-MPPE keys, so the crypto binding cannot be "
               "checked: with RADIUS send MS-MPPE-Send-Key and MS-MPPE-Recv-Key "
               "(FreeRADIUS: mschap use_mppe = yes)";
    if (rc == SSTP_E_BIND_METHOD)
        return "EAP cannot be bound with pppd 2.4.9 (it keeps 16 bytes of each MPPE key; "
               "the binding needs MSK[0..31]): require MS-CHAPv2 in pppd.options";
    return "";
}

static int send_ack(struct be_session *s, uint8_t type)
{
    struct sstp_plugin_msg ack = { .type = SSTP_PLUGIN_ACK, .acked = type };
    uint8_t out[SSTP_PLUGIN_MSG_MAX];
    int n = sstp_plugin_msg_encode(out, sizeof out, &ack);
    return n > 0 && send(s->plugin_fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n ? 0 : -1;
}

/* A second AUTH report: pppd re-authenticated (an LCP renegotiation) or
 * the plugin misbehaves. The binding covered the first authentication
 * only, so the call ends, whatever state it is in. */
static void on_second_auth(struct be_session *s, const struct sstp_plugin_msg *m)
{
    char name[BE_USER_MAX];
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_KEYS_REFUSED, .rc = SSTP_E_BIND_REAUTH };
    struct sstp_srv_actions act;
    log_sanitize(name, sizeof name, m->user, strnlen(m->user, sizeof m->user));
    s->srv->stats.auth_again++;
    log_warn("auth_again", "sid=%s client=%s user=%s new_user=%s method=%s reason=second_auth_report",
             s->sid, s->client_str, s->user[0] ? s->user : "-", name, auth_name(m->auth));
    if (be_session_step(s, &ev, &act) == -1 || !act.ppp_stop)
        be_session_ppp_hangup(s); /* already ending: still, no more PPP */
}

static void on_admitted(bool allow, void *arg)
{
    struct be_session *s = arg;
    s->admit = NULL;
    be_session_auth_decided(s, allow);
}

static void on_auth(struct be_session *s, const struct sstp_plugin_msg *m)
{
    uint8_t hlak[SSTP_HLAK_LEN];
    struct sstp_srv_actions act;
    if (s->auth_reported) {
        on_second_auth(s, m);
        return;
    }
    s->auth_reported = true;
    s->auth_name_len = strnlen(m->user, sizeof m->user);
    memcpy(s->auth_name, m->user, s->auth_name_len);
    s->auth_name[s->auth_name_len] = '\0';
    log_sanitize(s->user, sizeof s->user, m->user, s->auth_name_len);
    enum sstp_rc why = be_session_hlak_from_auth(hlak, m);
    if (why != SSTP_OK) {
        uint64_t suppressed;
        log_warn("auth_refused", "sid=%s client=%s user=%s method=%s keys=%d rc=%s", s->sid,
                 s->client_str, s->user, auth_name(m->auth), m->keys_set, sstp_rc_name(why));
        if (be_log_limit_allow(&s->srv->log_auth_refused, ev_now(s->srv->loop), &suppressed))
            log_error("auth_refused_hint", "rc=%s method=%s suppressed=%llu hint=\"%s\"",
                      sstp_rc_name(why), auth_name(m->auth), (unsigned long long)suppressed,
                      refusal_hint(why));
        struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_KEYS_REFUSED, .rc = why };
        be_session_step(s, &ev, &act);
        return;
    }
    log_info("auth_ok", "sid=%s client=%s user=%s method=%s keys=%d", s->sid, s->client_str,
             s->user, auth_name(m->auth), m->keys_set);
    /* the binding is checked now (CALL_CONNECTED already here) or when it
     * comes; pppd waits for its ACK until then (be_session_bound) */
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_KEYS, .hlak = hlak };
    sstp_srv_step(&s->fsm, &ev, &act);
    OPENSSL_cleanse(hlak, sizeof hlak);
    be_session_run_actions(s, &act);
}

void be_session_bound(struct be_session *s)
{
    /* the policy counts this session for its user only now, with the exact
     * name pppd authenticated (the sanitised one is for logs); pppd waits
     * for its ACK until the fleet decided (on_admitted) */
    s->admit = be_fleet_user_admit(s->srv->fleet, &s->fleet, s->auth_name, s->auth_name_len,
                                   on_admitted, s);
}

void be_session_auth_decided(struct be_session *s, bool allow)
{
    if (s->phase >= BE_PH_FLUSH)
        return;
    if (allow) {
        /* the gate: pppd goes on to its network phase only for a bound call */
        if (s->plugin_fd != -1 && s->auth_reported && !s->auth_acked &&
            sstp_srv_state(&s->fsm) == SSTP_SRV_CALL_CONNECTED) {
            s->auth_acked = true;
            send_ack(s, SSTP_PLUGIN_AUTH);
        }
        return;
    }
    log_info("auth_fail", "sid=%s client=%s user=%s reason=max_sessions_per_user", s->sid,
             s->client_str, s->user);
    be_fleet_session_event(s->srv->fleet, &s->fleet, "auth_fail", "max_sessions_per_user");
    struct sstp_srv_ev ev = { .type = SSTP_SRV_EV_LOCAL_DISCONNECT };
    struct sstp_srv_actions act;
    be_session_set_term(s, TERM_PROXY, SSTP_OK);
    be_session_step(s, &ev, &act);
    be_session_update_client(s);
    be_session_ppp_update(s);
}

static void on_ip_up(struct be_session *s, const struct sstp_plugin_msg *m)
{
    char local[INET_ADDRSTRLEN], remote[INET_ADDRSTRLEN];
    if (!s->auth_acked) {
        /* pppd cannot reach IPCP before its AUTH ACK: not our plugin */
        s->srv->stats.plugin_bad_msg++;
        log_warn("plugin_bad_msg", "sid=%s reason=ip_up_before_binding", s->sid);
        be_session_ppp_hangup(s);
        return;
    }
    inet_ntop(AF_INET, &m->ip_local, local, sizeof local);
    inet_ntop(AF_INET, &m->ip_remote, remote, sizeof remote);
    snprintf(s->ip_remote, sizeof s->ip_remote, "%s", remote);
    log_info("ppp_up", "sid=%s user=%s local=%s remote=%s", s->sid, s->user[0] ? s->user : "-",
             local, remote);
    be_fleet_session_update(s->srv->fleet, &s->fleet);
    send_ack(s, SSTP_PLUGIN_IP_UP);
    pool_settled(s);
}

/* IPV6CP negotiates interface identifiers only: the addresses both ends
 * put on their ppp interface are the link-local fe80::<identifier>. */
static void link_local(char *out, size_t out_len, const uint8_t id[8])
{
    struct in6_addr a = { .s6_addr = { 0xfe, 0x80 } };
    memcpy(a.s6_addr + 8, id, 8);
    inet_ntop(AF_INET6, &a, out, (socklen_t)out_len);
}

static void on_ipv6_up(struct be_session *s, const struct sstp_plugin_msg *m)
{
    char local[INET6_ADDRSTRLEN];
    link_local(local, sizeof local, m->ipv6_local);
    link_local(s->ip6_remote, sizeof s->ip6_remote, m->ipv6_remote);
    log_info("ppp6_up", "sid=%s user=%s local=%s remote=%s", s->sid, s->user[0] ? s->user : "-",
             local, s->ip6_remote);
    be_fleet_session_update(s->srv->fleet, &s->fleet);
    send_ack(s, SSTP_PLUGIN_IPV6_UP);
}

static void plugin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct be_session *s = w->data;
    uint8_t in[SSTP_PLUGIN_MSG_MAX];
    struct sstp_plugin_msg m;
    ssize_t n = recv(s->plugin_fd, in, sizeof in, MSG_DONTWAIT);
    if (n == -1 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ev_io_stop(s->srv->loop, &s->plugin_r); /* pppd is exiting */
        return;
    }
    if (sstp_plugin_msg_decode(&m, in, (size_t)n) == -1) {
        s->srv->stats.plugin_bad_msg++;
        log_warn("plugin_bad_msg", "sid=%s len=%zd", s->sid, n);
    } else if (m.type == SSTP_PLUGIN_AUTH) {
        on_auth(s, &m);
    } else if (m.type == SSTP_PLUGIN_IP_UP) {
        on_ip_up(s, &m);
    } else if (m.type == SSTP_PLUGIN_IPV6_UP && !s->auth_acked) {
        s->srv->stats.plugin_bad_msg++;
        log_warn("plugin_bad_msg", "sid=%s reason=ipv6_up_before_binding", s->sid);
        be_session_ppp_hangup(s);
    } else if (m.type == SSTP_PLUGIN_IPV6_UP) {
        on_ipv6_up(s, &m);
    } else {
        /* READY from a session's pppd, or a backend-only type: not our plugin */
        s->srv->stats.plugin_bad_msg++;
        log_warn("plugin_bad_msg", "sid=%s reason=unexpected_type type=%u", s->sid, m.type);
        be_session_ppp_hangup(s);
    }
    /* an AUTH report carries the raw MPPE keys */
    OPENSSL_cleanse(in, sizeof in);
    OPENSSL_cleanse(&m, sizeof m);
    be_session_update_client(s);
    be_session_ppp_update(s);
    be_session_maybe_free(s);
}
