/* sstp-lb-plugin.c — pppd 2.4.9 plugin: tells sstp-backend how the peer
 * authenticated (method, MPPE master keys as pppd holds them, name) and the
 * IPCP/IPV6CP addresses, over the inherited socket of `sstp-lb-fd <n>`
 * (plugin-proto.h), blocking for an ACK each time. Does not compute the
 * HLAK. Fails closed: any socket or ACK problem ends pppd, and so does a
 * second authentication on the link (the crypto binding covers only the
 * first). Never offers EAP: pppd 2.4.9 cannot give its full keys. With
 * pppd's radius.so, names the RADIUS accounting session after sstp-lb's
 * session id (see "RADIUS accounting" below). */

/* pppd's headers come first: pppd.h typedefs bool, stdbool.h (via
 * plugin-proto.h) later redefines it as a macro, never the other way round. */
#define _GNU_SOURCE 1           /* dlfcn.h: RTLD_DEFAULT, RTLD_NEXT, dladdr */
#define INET6 1                 /* ipv6cp.h/eui64.h need it; Debian's pppd has IPV6CP */
#include <pppd/pppd.h>
#include <pppd/fsm.h>
#include <pppd/lcp.h>
#include <pppd/ipcp.h>
#include <pppd/ipv6cp.h>
#include <pppd/ccp.h>
#include <pppd/chap-new.h>
#include <pppd/chap_ms.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/pppd-plugin/plugin-proto.h"

char pppd_version[] = VERSION;

/* The ACK for AUTH is the gate: the backend sends it only once the
 * client's CALL_CONNECTED verified the crypto binding with these keys and
 * the per-user policy allowed the session, so pppd's network phase (IPCP,
 * ip-up, accounting) waits for both. Clients send CALL_CONNECTED right after
 * authenticating; address reports are smaller matters. */
#define AUTH_ACK_TIMEOUT_MS   10000
#define ADDR_ACK_TIMEOUT_MS   5000

/* Plugin state: pppd runs one link per process and calls us from its single
 * thread, so these few statics are the whole of it. */
static int backend_fd = -1;      /* from sstp-lb-fd; -1 until given */
static int auth_reported;        /* AUTH acknowledged: the link's one authentication */
static int eap_checked;          /* refuse_eap() ran */
static int radius_checked;       /* name_radius_accounting() ran */
static int pooled;               /* `sstp-lb-pool`: wait for START at ESTABLISH */
static int started;              /* START applied (pool) */

static const char *auth_name(enum sstp_plugin_auth a)
{
    switch (a) {
    case SSTP_PLUGIN_AUTH_NONE:     return "none";
    case SSTP_PLUGIN_AUTH_PAP:      return "pap";
    case SSTP_PLUGIN_AUTH_CHAP_MD5: return "chap-md5";
    case SSTP_PLUGIN_AUTH_MSCHAPV2: return "mschap-v2";
    case SSTP_PLUGIN_AUTH_EAP:      return "eap";
    }
    return "?";
}

static const char *type_name(unsigned t)
{
    switch (t) {
    case SSTP_PLUGIN_AUTH:    return "AUTH";
    case SSTP_PLUGIN_IP_UP:   return "IP_UP";
    case SSTP_PLUGIN_IPV6_UP: return "IPV6_UP";
    case SSTP_PLUGIN_ACK:     return "ACK";
    case SSTP_PLUGIN_READY:   return "READY";
    case SSTP_PLUGIN_START:   return "START";
    }
    return "?";
}

/* `sstp-lb-fd <n>`: the backend's end of a SOCK_SEQPACKET socketpair,
 * dup2'ed to n before exec. Checked here so a wrong fd fails at start, and
 * made close-on-exec so pppd's scripts (ip-up, ...) never inherit it. */
static int set_backend_fd(char **argv)
{
    char *end;
    long v;
    int type;
    socklen_t tlen = sizeof(type);
    int flags;

    errno = 0;
    v = strtol(argv[0], &end, 10);
    if (errno || end == argv[0] || *end || v < 3 || v > INT_MAX) {
        option_error("%s: '%s' is not a file descriptor number >= 3",
                     SSTP_PLUGIN_FD_OPTION, argv[0]);
        return 0;
    }
    if (backend_fd != -1 && backend_fd != (int)v) {
        option_error("%s given twice", SSTP_PLUGIN_FD_OPTION);
        return 0;
    }
    if (getsockopt((int)v, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1) {
        if (errno == EBADF)
            option_error("%s %ld: the file descriptor is not open", SSTP_PLUGIN_FD_OPTION, v);
        else
            option_error("%s %ld: not a SOCK_SEQPACKET socket: %m", SSTP_PLUGIN_FD_OPTION, v);
        return 0;
    }
    if (type != SOCK_SEQPACKET) {
        option_error("%s %ld: not a SOCK_SEQPACKET socket", SSTP_PLUGIN_FD_OPTION, v);
        return 0;
    }
    flags = fcntl((int)v, F_GETFD);
    if (flags == -1 || fcntl((int)v, F_SETFD, flags | FD_CLOEXEC) == -1) {
        option_error("%s %ld: cannot set close-on-exec: %m", SSTP_PLUGIN_FD_OPTION, v);
        return 0;
    }
    backend_fd = (int)v;
    return 1;
}

static option_t plugin_options[] = {
    { SSTP_PLUGIN_FD_OPTION, o_special, (void *)set_backend_fd,
      "inherited SOCK_SEQPACKET socket to sstp-backend", OPT_PRIV },
    { SSTP_PLUGIN_POOL_OPTION, o_bool, &pooled,
      "pooled: wait for sstp-backend's START before LCP", OPT_PRIV | 1 },
    { NULL }
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send m to the backend as one message; any failure ends pppd through
 * fatal(). The encoded copy (it holds the keys for AUTH) is wiped. */
static void send_msg(const struct sstp_plugin_msg *m)
{
    uint8_t buf[SSTP_PLUGIN_MSG_MAX];
    const char *what = type_name(m->type);
    ssize_t n;
    int len;

    len = sstp_plugin_msg_encode(buf, sizeof(buf), m);
    if (len < 0)
        fatal("sstp-lb: cannot encode %s", what);
    do
        n = send(backend_fd, buf, (size_t)len, MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    explicit_bzero(buf, sizeof(buf));
    if (n != len)
        fatal("sstp-lb: sending %s to sstp-backend failed: %m", what);
}

/* Send m and block until the backend acknowledges m's type. Any failure
 * ends pppd through fatal(): we are inside a pppd callback and the link
 * must not go on without the backend. The encoded copy (it holds the keys
 * for AUTH) is wiped before returning. */
static void report(const struct sstp_plugin_msg *m, int timeout_ms)
{
    uint8_t buf[SSTP_PLUGIN_MSG_MAX + 1];    /* +1: an oversized reply shows */
    struct sstp_plugin_msg ack;
    const char *what = type_name(m->type);
    long long deadline;
    ssize_t n;

    if (backend_fd == -1)
        fatal("sstp-lb: cannot report %s: no %s option", what, SSTP_PLUGIN_FD_OPTION);
    send_msg(m);

    /* pppd's signal handlers interrupt poll(): keep one deadline. */
    deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd p = { .fd = backend_fd, .events = POLLIN };
        int rc;

        if (left <= 0)
            fatal("sstp-lb: no ACK for %s from sstp-backend within %d ms", what, timeout_ms);
        rc = poll(&p, 1, (int)left);
        if (rc == -1 && errno != EINTR)
            fatal("sstp-lb: waiting for the ACK for %s: poll: %m", what);
        if (rc <= 0)
            continue;
        n = recv(backend_fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == -1) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fatal("sstp-lb: waiting for the ACK for %s: recv: %m", what);
        }
        if (n == 0)
            fatal("sstp-lb: sstp-backend closed the socket before the ACK for %s", what);
        if (sstp_plugin_msg_decode(&ack, buf, (size_t)n) == -1 || ack.type != SSTP_PLUGIN_ACK)
            fatal("sstp-lb: malformed reply (%d bytes) to %s from sstp-backend", (int)n, what);
        if (ack.acked != m->type)
            fatal("sstp-lb: sstp-backend acknowledged %s while %s was pending",
                  type_name(ack.acked), what);
        dbglog("sstp-lb: %s acknowledged", what);
        return;
    }
}

/* Which method the peer authenticated itself with, from what pppd recorded
 * as having succeeded: auth_done[0] gets PAP_PEER, EAP_PEER or CHAP_PEER
 * plus the CHAP flavour bit (CHAP_MD5_PEER, CHAP_MS_PEER, CHAP_MS2_PEER) in
 * auth_peer_success(), and is reset when LCP comes up. That must agree with
 * what LCP negotiated for the peer (lcp_gotoptions[0]: the protocol we
 * asked for and the peer acked; for CHAP the digest is
 * CHAP_DIGEST(chap_mdtype), the one link_established() started), in pppd's
 * own precedence EAP > CHAP > PAP. Only the peer's direction counts: the
 * *_WITHPEER bits (us authenticating to the peer) are ignored.
 * Returns 0, or -1 if the two disagree or the method has no SSTP crypto
 * binding rule (MS-CHAPv1: MS-SSTP 3.2.5.2.2 does not cover it). */
static int peer_auth_method(enum sstp_plugin_auth *out, const char **why)
{
    const lcp_options *go = &lcp_gotoptions[0];
    int done = auth_done[0];
    enum sstp_plugin_auth negotiated;

    if (go->neg_eap) {
        negotiated = SSTP_PLUGIN_AUTH_EAP;
    } else if (go->neg_chap) {
        int digest = CHAP_DIGEST(go->chap_mdtype);

        if (digest == CHAP_MICROSOFT_V2) {
            negotiated = SSTP_PLUGIN_AUTH_MSCHAPV2;
        } else if (digest == CHAP_MD5) {
            negotiated = SSTP_PLUGIN_AUTH_CHAP_MD5;
        } else {
            *why = "MS-CHAP (v1) or an unknown CHAP digest was negotiated";
            return -1;
        }
    } else if (go->neg_upap) {
        negotiated = SSTP_PLUGIN_AUTH_PAP;
    } else {
        negotiated = SSTP_PLUGIN_AUTH_NONE;
    }

    if (done & EAP_PEER)
        *out = SSTP_PLUGIN_AUTH_EAP;
    else if ((done & (CHAP_PEER | CHAP_MS2_PEER)) == (CHAP_PEER | CHAP_MS2_PEER))
        *out = SSTP_PLUGIN_AUTH_MSCHAPV2;
    else if ((done & (CHAP_PEER | CHAP_MD5_PEER)) == (CHAP_PEER | CHAP_MD5_PEER))
        *out = SSTP_PLUGIN_AUTH_CHAP_MD5;
    else if (done & CHAP_PEER) {
        *why = "the peer authenticated with MS-CHAP (v1) or an unknown CHAP digest";
        return -1;
    } else if (done & PAP_PEER)
        *out = SSTP_PLUGIN_AUTH_PAP;
    else
        *out = SSTP_PLUGIN_AUTH_NONE;

    if (*out != negotiated) {
        *why = "the method that succeeded is not the one LCP negotiated";
        return -1;
    }
    return 0;
}

static int nonzero(const u_char *p, size_t n)
{
    u_char acc = 0;
    size_t i;

    for (i = 0; i < n; i++)
        acc |= p[i];
    return acc != 0;
}

/* Whether pppd holds MPPE keys. mppe_keys_set is not the whole story: the
 * radius plugin decrypts MS-MPPE-Send-Key/Recv-Key into mppe_send_key and
 * mppe_recv_key as they come, but sets mppe_keys_set only when an
 * MS-MPPE-Encryption-Policy is non-zero too (a natural "0" for SSTP, where
 * TLS already encrypts). pppd starts per session with both buffers zeroed,
 * so two non-zero keys were put there by this authentication. */
static int keys_usable(int *from_buffers)
{
    *from_buffers = 0;
    if (mppe_keys_set)
        return 1;
    if (nonzero(mppe_recv_key, sizeof(mppe_recv_key)) && nonzero(mppe_send_key, sizeof(mppe_send_key))) {
        *from_buffers = 1;
        return 1;
    }
    return 0;
}

/* Once reported, the keys stay in pppd only if MPPE may still use them. */
static void wipe_keys_unless_mppe(void)
{
    if (ccp_protent.enabled_flag && (ccp_wantoptions[0].mppe || ccp_allowoptions[0].mppe))
        return;
    explicit_bzero(mppe_send_key, sizeof(mppe_send_key));
    explicit_bzero(mppe_recv_key, sizeof(mppe_recv_key));
}

/* Report AUTH once per link, before CCP and IPCP start: CCP would zero the
 * MPPE keys if MPPE came up (ccp_up), and the backend needs them for the
 * client's CALL_CONNECTED. */
static void report_auth(const char *trigger)
{
    struct sstp_plugin_msg m;
    enum sstp_plugin_auth method = SSTP_PLUGIN_AUTH_NONE;
    const char *why = NULL;
    int from_buffers = 0, keys;

    if (auth_reported)
        return;
    if (peer_auth_method(&method, &why) == -1)
        fatal("sstp-lb: cannot tell the backend how the peer authenticated: %s "
              "(auth_done=0x%x)", why, auth_done[0]);

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_AUTH;
    m.auth = (uint8_t)method;
    /* As pppd holds them, server side: recv = K2, send = K3 for MS-CHAPv2. */
    m.keys_set = (uint8_t)keys_usable(&from_buffers);
    memcpy(m.recv_key, mppe_recv_key, SSTP_PLUGIN_KEY_LEN);
    memcpy(m.send_key, mppe_send_key, SSTP_PLUGIN_KEY_LEN);
    /* peer_authname is MAXNAMELEN (256) bytes, always NUL-terminated by
     * auth_peer_success(); copy bounded anyway. */
    strncpy(m.user, peer_authname, sizeof(m.user) - 1);

    /* Marked before the wait: whatever happens next, this link has had
     * its one authentication. */
    auth_reported = 1;
    keys = m.keys_set;
    report(&m, AUTH_ACK_TIMEOUT_MS);
    explicit_bzero(&m, sizeof(m));
    wipe_keys_unless_mppe();
    info("sstp-lb: reported auth=%s keys=%d%s user=%q (at %s); binding verified", auth_name(method),
         keys, from_buffers ? " (MPPE key buffers, mppe_keys_set=0)" : "", peer_authname,
         trigger);
}

/* pppd 2.4.9 derives EAP's MSK in eaptls_gen_mppe_keys() into a local
 * buffer and keeps 16 bytes of each half (mppe_recv_key = MSK[0..15],
 * mppe_send_key = MSK[32..47]); the SSTP HLAK is MSK[0..31] (MS-SSTP
 * 3.2.5.2.2), which no plugin can read. So EAP is never offered: LCP asks
 * the peer for the other methods of pppd.options, and a setup that allows
 * only EAP stops here with the reason instead of failing every binding. */
static void refuse_eap(void)
{
    lcp_options *wo = &lcp_wantoptions[0];

    if (eap_checked)
        return;
    eap_checked = 1;
    if (!wo->neg_eap)
        return;
    wo->neg_eap = 0;
    if (auth_required && !wo->neg_chap && !wo->neg_upap)
        fatal("sstp-lb: EAP is the only authentication pppd.options allows, and pppd %s cannot "
              "give the 32-byte MSK the SSTP crypto binding needs: require MS-CHAPv2 "
              "(require-mschap-v2)", VERSION);
    notice("sstp-lb: not offering EAP: pppd %s keeps 16 bytes of each MPPE key, the SSTP "
           "crypto binding needs MSK[0..31]", VERSION);
}

/* ---- RADIUS accounting ------------------------------------------------
 *
 * Operators join accounting records with `sstpctl sessions` on sstp-lb's
 * session id, which sstp-backend passes as pppd's `ipparam` (the same value
 * ip-up gets as $6 and SSTP_SESSION_ID). radius.so has no option for its
 * Acct-Session-Id: radius_acct_start() takes it from radiusclient's
 * rc_mksid(), and Debian's 2.4.9 build of that is broken (slprintf has no
 * %lX/%hX: "%lX<start second in hex>%hX", shared by two sessions of one
 * second). Two ways in, both used:
 *  - rc_mksid below: radius.so (linked BIND_NOW) calls rc_mksid through
 *    its PLT, and pppd dlopen()s plugins RTLD_GLOBAL, so when this plugin
 *    is loaded before radius.so (sstp-backend's command line names it
 *    before the options file) radius.so binds to this definition and
 *    Acct-Session-Id is the session id in Start, Interim and Stop;
 *  - `avpair Acct-Multi-Session-Id=<id>`, added before the first
 *    authentication (radius.so parses avpairs then and appends them to
 *    every request): the session id even when radius.so was loaded first
 *    (e.g. from /etc/ppp/options) and keeps its own Acct-Session-Id. */

#define RADIUS_SESSION_ID_MAX 32   /* radius.so's MAXSESSIONID: strncpy'd into 33 bytes */
#define SESSION_ID_MAX 64          /* ours are 16 hex digits, a proxy's token <= 39 */

/* The session id from `ipparam`, or NULL if it is not one: a token that
 * can go into an avpair string ("attr=value", ',' separates pairs) as is. */
static const char *session_id(void)
{
    size_t n;

    if (!ipparam)
        return NULL;
    n = strlen(ipparam);
    if (n == 0 || n > SESSION_ID_MAX || strspn(ipparam, SSTP_PLUGIN_SID_CHARS) != n)
        return NULL;
    return ipparam;
}

/* radiusclient's name for "a new accounting session id" (see above). An id
 * radius.so cannot hold whole falls back to radius.so's own, never cut. */
char *rc_mksid(void)
{
    static char fallback_msg_done;
    const char *sid = session_id();
    char *(*theirs)(void);

    if (sid && strlen(sid) <= RADIUS_SESSION_ID_MAX)
        return (char *)sid;
    theirs = (char *(*)(void))dlsym(RTLD_NEXT, "rc_mksid");
    if (!fallback_msg_done) {
        fallback_msg_done = 1;
        notice("sstp-lb: session id %q cannot be the RADIUS Acct-Session-Id (a token of at most "
               "%d characters): radius.so's own is used, Acct-Multi-Session-Id carries it",
               ipparam ? ipparam : "", RADIUS_SESSION_ID_MAX);
    }
    return theirs ? theirs() : (char *)"";
}

/* The object a symbol found in pppd's global scope belongs to is this
 * plugin: compared by load address (&rc_mksid itself would go through our
 * GOT and name whichever definition won). */
static int defined_here(void *sym)
{
    Dl_info theirs, ours;

    return sym && dladdr(sym, &theirs) && dladdr((void *)session_id, &ours) &&
           theirs.dli_fbase == ours.dli_fbase;
}

/* Once per link, before LCP (so before radius.so's first request). Without
 * radius.so nothing happens: `avpair` is its option, unknown to pppd. */
static void name_radius_accounting(void)
{
    char attr[sizeof("Acct-Multi-Session-Id=") + SESSION_ID_MAX];
    struct wordlist value = { NULL, attr };
    struct wordlist opt = { &value, "avpair" };
    const char *sid;

    if (radius_checked)
        return;
    radius_checked = 1;
    if (!dlsym(RTLD_DEFAULT, "radius_attributes_hook")) /* radius.so's public hook */
        return;
    sid = session_id();
    if (!sid) {
        notice("sstp-lb: ipparam %q is not an sstp-lb session id: RADIUS accounting will not "
               "carry it", ipparam ? ipparam : "");
        return;
    }
    slprintf(attr, sizeof(attr), "Acct-Multi-Session-Id=%s", sid);
    if (!options_from_list(&opt, 1))
        fatal("sstp-lb: radius.so refused `avpair %s`", attr);
    if (defined_here(dlsym(RTLD_DEFAULT, "rc_mksid")))
        info("sstp-lb: RADIUS accounting: Acct-Session-Id and Acct-Multi-Session-Id = %s", sid);
    else
        notice("sstp-lb: RADIUS accounting: radius.so was loaded before sstp-lb's plugin and "
               "names Acct-Session-Id itself; Acct-Multi-Session-Id = %s", sid);
}

/* ---- pool ---------------------------------------------------------------
 *
 * A pooled pppd was started before its session existed, so what the
 * command line carries per session arrives in START instead; it is applied
 * here as those options would have: ipparam (ip-up's $6, radius.so's
 * accounting id), remotenumber (radius.so's Calling-Station-Id) and the
 * SSTP_* variables of the scripts' environment (what `set` gives). */

static void apply_start(const struct sstp_plugin_msg *m)
{
    char *p = strdup(m->sid);

    if (!p)
        fatal("sstp-lb: out of memory applying START");
    ipparam = p;
    slprintf(remote_number, sizeof(remote_number), "%s", m->client);
    script_setenv("SSTP_SESSION_ID", (char *)m->sid, 0);
    script_setenv("SSTP_CLIENT_ADDR", (char *)m->client, 0);
    script_setenv("SSTP_CORRELATION_ID", (char *)m->corr, 0);
    started = 1;
    info("sstp-lb: pooled pppd serves session %s (client %s)", m->sid, m->client);
}

/* Tell the backend this pppd is ready and block until START. No deadline:
 * a pool member may wait long; the backend ends it by closing the socket
 * (or SIGTERM). Anything but one well-formed START ends pppd. */
static void wait_start(void)
{
    uint8_t buf[SSTP_PLUGIN_MSG_MAX + 1];
    struct sstp_plugin_msg m;
    ssize_t n;

    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_READY;
    send_msg(&m);
    /* pppd keeps its signals blocked outside its own wait: let SIGTERM and
     * SIGINT in during this one (its handler only sets got_sigterm) */
    sigset_t wait_mask;
    sigprocmask(SIG_SETMASK, NULL, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    for (;;) {
        struct pollfd p = { .fd = backend_fd, .events = POLLIN };
        /* a bounded wait too: got_sigterm is checked even if a signal
         * arrived just before ppoll */
        struct timespec tick = { 0, 200 * 1000 * 1000 };
        int rc = ppoll(&p, 1, &tick, &wait_mask);

        if (got_sigterm)
            fatal("sstp-lb: pooled pppd stopped before its session");
        if (rc == -1 && errno != EINTR)
            fatal("sstp-lb: waiting for START: poll: %m");
        if (rc <= 0)
            continue;
        n = recv(backend_fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == -1 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n == -1)
            fatal("sstp-lb: waiting for START: recv: %m");
        if (n == 0)
            fatal("sstp-lb: sstp-backend closed the socket before START");
        if (sstp_plugin_msg_decode(&m, buf, (size_t)n) == -1 || m.type != SSTP_PLUGIN_START)
            fatal("sstp-lb: malformed START (%d bytes) from sstp-backend", (int)n);
        apply_start(&m);
        return;
    }
}

static void on_auth_up(void *arg, int val)
{
    (void)arg;
    (void)val;
    report_auth("auth-up");
}

/* Phases, in the order pppd walks them for each link: start_link() enters
 * SERIALCONN and ESTABLISH before LCP sends anything (EAP is withdrawn and
 * radius.so's accounting named then; a pooled pppd first waits at
 * ESTABLISH for its session's START); link_established() enters
 * AUTHENTICATE (even with no authentication to do), which after a report
 * means a renegotiation and ends pppd; network_phase() fires auth_up and
 * then enters NETWORK, before CCP and IPCP open. Some pppd versions fire
 * auth_up only when the peer had to authenticate (2.4.8), so AUTH (method
 * none) goes at NETWORK if auth_up did not fire. NETWORK is entered again when the last network protocol
 * goes down (np_down(), also at teardown, after link_down): by then the
 * report was made, so nothing is sent twice. Without the option pppd stops
 * at the first phase change, before any negotiation. */
static void on_phase(void *arg, int p)
{
    (void)arg;
    if (backend_fd == -1 && p != PHASE_DEAD && p != PHASE_INITIALIZE)
        fatal("sstp-lb: plugin loaded without the %s option", SSTP_PLUGIN_FD_OPTION);
    if (pooled && !started && p == PHASE_ESTABLISH)
        wait_start(); /* tty and ppp unit set up, LCP not started */
    if ((p == PHASE_SERIALCONN || p == PHASE_ESTABLISH) && (!pooled || started)) {
        refuse_eap(); /* before LCP's first Configure-Request */
        name_radius_accounting();
    }
    else if (p == PHASE_AUTHENTICATE && auth_reported)
        /* LCP renegotiated (the peer sent a Configure-Request on the open
         * link) and pppd is about to authenticate again: a second identity
         * the binding never covered. pppd's own fatal() ends the link. */
        fatal("sstp-lb: authentication re-entered after the link's authentication was "
              "reported: refusing a second authentication on one SSTP call");
    else if (p == PHASE_NETWORK)
        report_auth("network phase");
}

static void on_ip_up(void *arg, int val)
{
    struct sstp_plugin_msg m;

    (void)arg;
    (void)val;
    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_IP_UP;
    m.ip_local = ipcp_gotoptions[0].ouraddr;    /* both in network order */
    m.ip_remote = ipcp_hisoptions[0].hisaddr;
    report(&m, ADDR_ACK_TIMEOUT_MS);
    info("sstp-lb: reported ip-up local=%I remote=%I", m.ip_local, m.ip_remote);
}

static void on_ipv6_up(void *arg, int val)
{
    struct sstp_plugin_msg m;

    (void)arg;
    (void)val;
    memset(&m, 0, sizeof(m));
    m.type = SSTP_PLUGIN_IPV6_UP;
    /* The identifiers ipv6cp_up() put on the interface. */
    memcpy(m.ipv6_local, ipv6cp_gotoptions[0].ourid.e8, 8);
    memcpy(m.ipv6_remote, ipv6cp_hisoptions[0].hisid.e8, 8);
    report(&m, ADDR_ACK_TIMEOUT_MS);
    info("sstp-lb: reported ipv6-up");
}

/* pppd's forked children (charshunt, script runners before exec) must not
 * hold the socket: the backend sees pppd's end close when pppd exits. */
static void on_fork(void *arg, int val)
{
    (void)arg;
    (void)val;
    if (backend_fd != -1) {
        close(backend_fd);
        backend_fd = -1;
    }
}

void plugin_init(void)
{
    add_options(plugin_options);
    add_notifier(&auth_up_notifier, on_auth_up, NULL);
    add_notifier(&phasechange, on_phase, NULL);
    add_notifier(&ip_up_notifier, on_ip_up, NULL);
    add_notifier(&ipv6_up_notifier, on_ipv6_up, NULL);
    add_notifier(&fork_notifier, on_fork, NULL);
}
