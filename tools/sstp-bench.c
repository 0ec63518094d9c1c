/* sstp-bench — SSTP load client, and the minimal SSTP echo target it measures.
 *
 * Client modes open TLS (or plain) connections and run what an SSTP client
 * runs: the HTTP request, CALL_CONNECT_REQUEST/ACK and CALL_CONNECTED with a
 * crypto binding over the certificate actually received and a zero HLAK (a
 * PAP-like client, MS-SSTP 3.2.5.2.2); then each mode measures one thing:
 * handshakes/s, bulk throughput, echo latency, or sessions held idle.
 * --serve is the reference target: TLS or plain (optionally behind a PROXY
 * header), answers the handshake, echoes data packets and ECHO_REQUEST. It
 * runs no PPP and trusts its peers: for benchmarks on a private host only.
 * One libev loop per process; -j N forks N processes and sums their results. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/io.h"
#include "core/log.h"
#include "core/net.h"
#include "core/tls.h"
#include "sstp/binding.h"
#include "sstp/ctrl.h"
#include "sstp/http.h"
#include "sstp/packet.h"
#include "sstp/proxyproto.h"

/* ---- defaults and limits --------------------------------------------------- */

#define DEF_DURATION_S     10.0
#define DEF_WARMUP_S       1.0   /* skip connection ramp and slow start */
#define DEF_TIMEOUT_S      10.0  /* per connection, connect to ACK */
#define DEF_HS_CONC        64    /* handshake mode: connections in flight */
#define DEF_RAMP_CONC      100   /* other modes: set-ups in flight; keeps SYNs under the backlog */
#define DEF_PAYLOAD        1400  /* Windows' default tunnel MTU (MS-SSTP 3.1.5.2) */
#define MIN_PAYLOAD        4     /* FF 03 + 2-byte PPP protocol */
#define MAX_PROCS          64
#define RUN_ROUNDS         8     /* read/write rounds per wake-up: fairness between connections */
#define IO_BATCH           4     /* reads or writes per round */
#define RETRY_DELAY_S      0.01  /* handshake mode: pause a slot after an error */
#define POOL_SPARE         64    /* spare 16 KiB buffers kept per process (idle RSS) */
#define HTTP_RESP_MAX      4096  /* client: longest 200 head accepted */
#define ACCEPT_BATCH       64
#define ACCEPT_PAUSE_S     0.1   /* EMFILE: stop accepting this long */
#define LISTEN_BACKLOG     4096
#define CORR_ID_LEN        38    /* "{8-4-4-4-12}" GUID, MS-DTYP 2.3.4.3 */

/* ---- latency histogram (mergeable across processes) ----------------------- */

#define HIST_LIN_EXP  10u                 /* exact 1 µs buckets below 1024 µs */
#define HIST_LIN_US   (1u << HIST_LIN_EXP)
#define HIST_SUB_BITS 6u                  /* 64 buckets per doubling: <= 1.6 % error */
#define HIST_TOP_EXP  40u                 /* >= 2^40 µs lands in the last bucket */
#define HIST_N        (HIST_LIN_US + (HIST_TOP_EXP - HIST_LIN_EXP) * (1u << HIST_SUB_BITS))

struct hist {
    uint64_t n;
    uint64_t b[HIST_N];
};

static size_t hist_index(uint64_t us)
{
    if (us < HIST_LIN_US)
        return (size_t)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us);
    if (e >= HIST_TOP_EXP)
        return HIST_N - 1;
    unsigned sub = (unsigned)(us >> (e - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1u);
    return HIST_LIN_US + (e - HIST_LIN_EXP) * (1u << HIST_SUB_BITS) + sub;
}

/* the middle of bucket i */
static uint64_t hist_value(size_t i)
{
    if (i < HIST_LIN_US)
        return i;
    size_t k = i - HIST_LIN_US;
    unsigned e = HIST_LIN_EXP + (unsigned)(k >> HIST_SUB_BITS);
    uint64_t sub = k & ((1u << HIST_SUB_BITS) - 1u);
    uint64_t step = 1ull << (e - HIST_SUB_BITS);
    return (((1ull << HIST_SUB_BITS) + sub) << (e - HIST_SUB_BITS)) + step / 2;
}

static void hist_add(struct hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->n++;
}

static void hist_merge(struct hist *to, const struct hist *from)
{
    for (size_t i = 0; i < HIST_N; i++)
        to->b[i] += from->b[i];
    to->n += from->n;
}

/* hist_pct: the value at percentile pct (0 < pct <= 100); 0 when empty. */
static uint64_t hist_pct(const struct hist *h, double pct)
{
    if (h->n == 0)
        return 0;
    double want = pct / 100.0 * (double)h->n;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_N; i++) {
        seen += h->b[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return hist_value(HIST_N - 1);
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- options --------------------------------------------------------------- */

enum bench_mode { M_HANDSHAKE, M_BULK, M_ECHO, M_IDLE, M_SERVE };
static const char *const mode_names[] = { "handshake", "bulk", "echo", "idle", "serve" };

struct opts {
    enum bench_mode mode;
    const char *target;      /* client: ip:port */
    const char *listen;      /* serve: ip:port */
    const char *sni, *host, *ca, *cert, *key;
    bool insecure, plain, proxy_v2, proxy_in, idle_ack;
    int tls_ver;             /* 0: negotiate; TLS1_2_VERSION or TLS1_3_VERSION: pinned */
    unsigned sessions, concurrency, procs, payload;
    double duration, warmup, timeout;
    double rate;             /* echo: requests per second over all sessions; 0: back to back */
    uint8_t hash_bits;       /* serve: Hash Protocol Bitmask advertised in the ACK */
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: sstp-bench --mode MODE --target IP:PORT [options]   (load client)\n"
        "       sstp-bench --serve IP:PORT [options]                (echo target)\n"
        "\n"
        "Client modes (each prints one 'bench key=value ...' line and one '# ...' line):\n"
        "  handshake  new connection each time: TCP + full TLS handshake (no resumption)\n"
        "             + HTTP request + CALL_CONNECT_REQUEST/ACK; handshakes/s and\n"
        "             connect-to-ACK latency p50/p90/p99\n"
        "  bulk       N sessions send data packets as fast as back-pressure allows and\n"
        "             read what the target echoes; Gbit/s each direction (SSTP bytes)\n"
        "  echo       N sessions ping-pong ECHO_REQUEST/ECHO_RESPONSE; RTT p50/p90/p99 in us\n"
        "             (back to back, or paced with --rate)\n"
        "  idle       open N sessions, print 'ready ...' when all are set up, hold them\n"
        "             for the duration; prints how many stayed up (for RSS per session)\n"
        "\n"
        "Client options:\n"
        "  -m, --mode MODE        handshake | bulk | echo | idle\n"
        "  -t, --target IP:PORT   the SSTP server (numeric address)\n"
        "  -n, --sessions N       bulk/echo/idle sessions (default 10 / 1 / 100)\n"
        "  -c, --concurrency N    handshake: connections in flight (default %d);\n"
        "                         others: set-ups in flight while opening (default %d)\n"
        "  -d, --duration S       measurement window, or idle hold (default %.0f)\n"
        "  -w, --warmup S         time before the window opens (default %.0f; idle 0)\n"
        "  -s, --size N           bulk: PPP frame bytes per data packet, %d..%d (default %d)\n"
        "  -j, --procs N          spread the sessions over N processes (default 1)\n"
        "      --rate R           echo: R requests per second over all sessions, spread\n"
        "                         evenly (a session still waiting skips its turn); the\n"
        "                         traffic users send, where wake-ups cost (default: none)\n"
        "      --timeout S        per connection, connect to ACK (default %.0f)\n"
        "      --sni NAME         TLS server name (also checked against the certificate)\n"
        "      --host NAME        HTTP Host (default: the SNI, else the target IP)\n"
        "      --tls 1.2|1.3      pin the TLS version (default: negotiate)\n"
        "      --ca FILE          verify the server against this CA (name: --sni, else the IP)\n"
        "      --insecure         do not verify the server certificate\n"
        "      --plain            no TLS (to a plain --serve target)\n"
        "      --proxy-v2         plain: send a PROXY v2 header first (with cert hash TLVs)\n"
        "      --cert FILE        plain: the certificate a TLS front would present; its\n"
        "                         hash goes into CALL_CONNECTED and the PROXY TLVs\n"
        "      --idle-state S     idle: 'connected' (default) or 'ack' (stop after the ACK)\n"
        "\n"
        "Target (--serve) options:\n"
        "      --serve IP:PORT    listen here\n"
        "      --cert FILE        TLS certificate chain (leaf first); with --plain: the\n"
        "                         certificate the front presents, trusted for the binding\n"
        "      --key FILE         TLS private key\n"
        "      --plain            plain TCP (behind a TLS-terminating proxy)\n"
        "      --proxy-in         plain: every connection starts with a PROXY v1/v2 header\n"
        "                         (its sstp-lb cert hash TLVs are trusted for the binding)\n"
        "      --hash-bits N      Hash Protocol Bitmask in the ACK: 1 SHA-1, 2 SHA-256, 3 both\n"
        "                         (default 3)\n"
        "  -j, --procs N          N worker processes on one port (SO_REUSEPORT)\n"
        "The target answers 200, CALL_CONNECT_ACK, checks CALL_CONNECTED (zero HLAK) when\n"
        "it knows the certificate hash, echoes data packets once connected and answers\n"
        "ECHO_REQUEST. SIGTERM/SIGINT: print one 'serve key=value ...' line and exit.\n",
        DEF_HS_CONC, DEF_RAMP_CONC, DEF_DURATION_S, DEF_WARMUP_S, MIN_PAYLOAD, SSTP_PPP_MAX_FRAME,
        DEF_PAYLOAD, DEF_TIMEOUT_S);
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= 0.0) || v > 86400.0)
        return -1;
    *out = v;
    return 0;
}

enum { O_SNI = 256, O_HOST, O_TLS, O_CA, O_INSECURE, O_PLAIN, O_PROXY_V2, O_CERT, O_KEY,
       O_SERVE, O_PROXY_IN, O_HASH_BITS, O_TIMEOUT, O_IDLE_STATE, O_RATE };

static int opts_parse(struct opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "mode", required_argument, NULL, 'm' },
        { "target", required_argument, NULL, 't' },
        { "sessions", required_argument, NULL, 'n' },
        { "concurrency", required_argument, NULL, 'c' },
        { "duration", required_argument, NULL, 'd' },
        { "warmup", required_argument, NULL, 'w' },
        { "size", required_argument, NULL, 's' },
        { "procs", required_argument, NULL, 'j' },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "sni", required_argument, NULL, O_SNI },
        { "host", required_argument, NULL, O_HOST },
        { "tls", required_argument, NULL, O_TLS },
        { "ca", required_argument, NULL, O_CA },
        { "insecure", no_argument, NULL, O_INSECURE },
        { "plain", no_argument, NULL, O_PLAIN },
        { "proxy-v2", no_argument, NULL, O_PROXY_V2 },
        { "cert", required_argument, NULL, O_CERT },
        { "key", required_argument, NULL, O_KEY },
        { "serve", required_argument, NULL, O_SERVE },
        { "proxy-in", no_argument, NULL, O_PROXY_IN },
        { "hash-bits", required_argument, NULL, O_HASH_BITS },
        { "idle-state", required_argument, NULL, O_IDLE_STATE },
        { "rate", required_argument, NULL, O_RATE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool have_mode = false, have_warmup = false;
    unsigned u;
    int opt;
    memset(o, 0, sizeof *o);
    o->duration = DEF_DURATION_S;
    o->timeout = DEF_TIMEOUT_S;
    o->payload = DEF_PAYLOAD;
    o->procs = 1;
    o->hash_bits = SSTP_HASH_BIT_SHA1 | SSTP_HASH_BIT_SHA256;
    while ((opt = getopt_long(argc, argv, "m:t:n:c:d:w:s:j:h", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (opt) {
        case 'm':
            have_mode = true;
            for (o->mode = M_HANDSHAKE; o->mode < M_SERVE; o->mode++)
                if (strcmp(optarg, mode_names[o->mode]) == 0)
                    break;
            if (o->mode == M_SERVE)
                bad = "--mode";
            break;
        case 't': o->target = optarg; break;
        case 'n': if (parse_uint(optarg, 1, 1000000, &o->sessions)) bad = "--sessions"; break;
        case 'c': if (parse_uint(optarg, 1, 1000000, &o->concurrency)) bad = "--concurrency"; break;
        case 'd': if (parse_secs(optarg, &o->duration)) bad = "--duration"; break;
        case 'w': if (parse_secs(optarg, &o->warmup)) bad = "--warmup"; have_warmup = true; break;
        case 's': if (parse_uint(optarg, MIN_PAYLOAD, SSTP_PPP_MAX_FRAME, &o->payload)) bad = "--size"; break;
        case 'j': if (parse_uint(optarg, 1, MAX_PROCS, &o->procs)) bad = "--procs"; break;
        case O_TIMEOUT: if (parse_secs(optarg, &o->timeout) || o->timeout <= 0) bad = "--timeout"; break;
        case O_SNI: o->sni = optarg; break;
        case O_HOST: o->host = optarg; break;
        case O_TLS:
            if (strcmp(optarg, "1.2") == 0)
                o->tls_ver = TLS1_2_VERSION;
            else if (strcmp(optarg, "1.3") == 0)
                o->tls_ver = TLS1_3_VERSION;
            else
                bad = "--tls";
            break;
        case O_CA: o->ca = optarg; break;
        case O_INSECURE: o->insecure = true; break;
        case O_PLAIN: o->plain = true; break;
        case O_PROXY_V2: o->proxy_v2 = true; break;
        case O_CERT: o->cert = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_SERVE: o->listen = optarg; break;
        case O_PROXY_IN: o->proxy_in = true; break;
        case O_HASH_BITS:
            if (parse_uint(optarg, 1, 3, &u))
                bad = "--hash-bits";
            o->hash_bits = (uint8_t)u;
            break;
        case O_IDLE_STATE:
            if (strcmp(optarg, "ack") == 0)
                o->idle_ack = true;
            else if (strcmp(optarg, "connected") != 0)
                bad = "--idle-state";
            break;
        case O_RATE:
            if (parse_secs(optarg, &o->rate) || o->rate < 1.0)
                bad = "--rate";
            break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
        if (bad) {
            fprintf(stderr, "sstp-bench: bad value for %s: %s\n", bad, optarg);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sstp-bench: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    const char *why = NULL;
    if (o->listen) {
        o->mode = M_SERVE;
        if (have_mode || o->target)
            why = "--serve takes no --mode or --target";
        else if (!o->plain && (!o->cert || !o->key))
            why = "--serve needs --cert and --key, or --plain";
        else if (o->proxy_in && !o->plain)
            why = "--proxy-in needs --plain";
    } else {
        if (!have_mode || !o->target)
            why = "a client needs --mode and --target";
        else if (!o->plain && !o->ca && !o->insecure)
            why = "TLS needs --ca FILE or --insecure";
        else if (o->proxy_v2 && !o->plain)
            why = "--proxy-v2 needs --plain";
        else if (o->rate > 0 && o->mode != M_ECHO)
            why = "--rate is for --mode echo";
        if (!o->sessions)
            o->sessions = o->mode == M_ECHO ? 1 : o->mode == M_BULK ? 10 : 100;
        if (!o->concurrency)
            o->concurrency = o->mode == M_HANDSHAKE ? DEF_HS_CONC : DEF_RAMP_CONC;
        if (!have_warmup)
            o->warmup = o->mode == M_IDLE ? 0.0 : DEF_WARMUP_S;
        if (o->procs > (o->mode == M_HANDSHAKE ? o->concurrency : o->sessions))
            why = "more processes than connections";
    }
    if (why) {
        fprintf(stderr, "sstp-bench: %s (see --help)\n", why);
        return -1;
    }
    return 0;
}

/* share of `total` that process i of n takes */
static unsigned share_of(unsigned total, unsigned i, unsigned n)
{
    return total / n + (i < total % n ? 1u : 0u);
}

/* ---- results, and passing them from worker processes to the parent --------- */

#define CL_ERR_LIST(X) \
    X(CONNECT, "connect") X(TLS, "tls") X(HTTP, "http") X(SSTP, "sstp") \
    X(TIMEOUT, "timeout") X(CLOSED, "closed") X(RESOURCE, "resource")

enum cl_err {
#define X(n, s) CL_E_##n,
    CL_ERR_LIST(X)
#undef X
    CL_E_COUNT
};

static const char *const cl_err_names[] = {
#define X(n, s) s,
    CL_ERR_LIST(X)
#undef X
};

struct cl_result {
    uint64_t done;            /* handshakes, or echo round trips, inside the window */
    uint64_t up, failed;      /* sessions set up / failed to set up */
    uint64_t still_up;        /* idle: up at the end of the hold */
    uint64_t tx_bytes, rx_bytes, rx_pkts;
    uint64_t pace_skips;      /* echo --rate: turns skipped, the session still waiting */
    uint64_t err[CL_E_COUNT]; /* over the whole run */
    double window_s;
    char tls_version[16];
    char cipher[64];
    struct hist lat;          /* microseconds */
};

#define SRV_STAT_LIST(X) \
    X(accepted) X(accept_err) X(tls_fail) X(proxy_err) X(http_ok) X(http_err) X(acked) \
    X(connected) X(binding_fail) X(binding_unchecked) X(sstp_err) X(timeouts) \
    X(echo_replies) X(data_pkts) X(dropped) X(bytes_in) X(bytes_out)

struct srv_stats {
#define X(n) uint64_t n;
    SRV_STAT_LIST(X)
#undef X
};

/* Worker -> parent messages on a pipe: MSG_READY (idle set-up finished,
 * followed by nothing), then MSG_RESULT followed by the result struct. */
#define MSG_READY  'R'
#define MSG_RESULT 'D'

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- shared helpers ---------------------------------------------------------- */

/* Hashes of the leaf certificate in a PEM file (a TLS front's certificate). */
static int cert_file_hashes(const char *file, struct tls_cert_hashes *out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    int rc = -1;
    if (ctx && SSL_CTX_use_certificate_chain_file(ctx, file) == 1)
        rc = tls_ctx_cert_hashes(ctx, out);
    SSL_CTX_free(ctx);
    return rc;
}

/* Gives b room for `need` more bytes and a writer over it; NULL if memory ran out. */
static struct sstp_wbuf *out_begin(struct buf_pool *pool, struct buf *b, struct sstp_wbuf *w)
{
    if (buf_take(pool, b) == -1)
        return NULL;
    buf_compact(b);
    sstp_wbuf_init(w, buf_wptr(b), buf_room(b));
    return w;
}

static void watch(struct ev_loop *loop, ev_io *w, int events)
{
    if (ev_is_active(w) && (w->events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(loop, w);
    ev_io_set(w, w->fd, events);
    if (events)
        ev_io_start(loop, w);
}

/* Connections that used up their budget with work left run again once per
 * loop iteration, from an ev_prepare, i.e. after every other ready
 * connection had its turn (ev_feed_event from inside a callback would run
 * them at once, LIFO, and one bulk connection would starve the rest). An
 * active ev_idle keeps the loop from sleeping in poll meanwhile. */
struct again_link {
    struct again_link *next;
    ev_io *w;
    bool queued;
};

struct again_q {
    ev_prepare prep;
    ev_idle idle;
    struct again_link *head;
};

static void again_prep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct again_q *q = w->data;
    struct again_link *l = q->head;
    q->head = NULL;
    ev_idle_stop(loop, &q->idle);
    while (l) {
        struct again_link *next = l->next;
        l->queued = false;
        ev_feed_event(loop, l->w, EV_READ | EV_WRITE);
        l = next;
    }
}

static void again_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

static void again_init(struct ev_loop *loop, struct again_q *q)
{
    q->head = NULL;
    ev_prepare_init(&q->prep, again_prep_cb);
    q->prep.data = q;
    ev_prepare_start(loop, &q->prep);
    ev_idle_init(&q->idle, again_idle_cb);
}

static void again_stop(struct ev_loop *loop, struct again_q *q)
{
    ev_prepare_stop(loop, &q->prep);
    ev_idle_stop(loop, &q->idle);
}

static void again_push(struct ev_loop *loop, struct again_q *q, struct again_link *l, ev_io *w)
{
    if (l->queued)
        return;
    l->queued = true;
    l->w = w;
    l->next = q->head;
    q->head = l;
    ev_idle_start(loop, &q->idle);
}

static void again_remove(struct again_q *q, struct again_link *l)
{
    if (!l->queued)
        return;
    for (struct again_link **pp = &q->head; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    l->queued = false;
}

/* ============================================================================
 * Client
 * ========================================================================== */

enum cl_phase {
    CP_FREE = 0,   /* slot unused */
    CP_WAIT,       /* handshake mode: pausing after an error */
    CP_CONNECT,    /* TCP connect in progress */
    CP_TLS,        /* TLS handshake */
    CP_HTTP,       /* request sent, waiting for 200 */
    CP_ACK,        /* CALL_CONNECT_REQUEST sent, waiting for the ACK */
    CP_UP,         /* set up: ACK received (and CALL_CONNECTED sent) */
};

enum cl_stage { ST_RAMP, ST_WARMUP, ST_WINDOW, ST_HOLD, ST_DONE };

struct cl_worker;

struct cl_conn {
    ev_io w;                 /* first: the callback casts back */
    ev_timer timer;          /* set-up deadline, or the retry pause */
    struct io io;
    struct cl_worker *wk;
    enum cl_phase phase;
    bool bulk_again;         /* the last bulk write got IO_AGAIN: retry it first */
    bool echo_wait;
    uint64_t t0_us;          /* connect start, or echo request sent */
    size_t bulk_off;         /* position in wk->blk */
    struct buf in, out;      /* pool buffers, held only while not empty */
    struct again_link again;
};

struct cl_worker {
    struct ev_loop *loop;
    const struct opts *o;
    SSL_CTX *ctx;            /* NULL: plain */
    struct net_addr addr;
    const char *host;        /* HTTP Host */
    struct buf_pool pool;
    struct again_q again;
    struct cl_conn *conns;
    size_t n_conns;          /* slots: sessions, or concurrency in handshake mode */
    size_t n_started, n_inflight, n_up;
    bool ramping;
    enum cl_stage stage;
    bool measuring;
    ev_tstamp t_window;
    ev_timer stage_timer;
    ev_timer pace_timer;     /* echo --rate: one request per tick */
    size_t pace_next;        /* the session whose turn it is */
    uint8_t *blk;            /* bulk: whole data packets back to back */
    size_t blk_len, pkt_len;
    bool have_front_cert;    /* plain: hashes of --cert */
    struct tls_cert_hashes front;
    int notify_fd;           /* pipe to the parent, -1 when alone */
    struct cl_result res;
};

static void cl_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void cl_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void cl_start(struct cl_conn *c);
static void ramp_more(struct cl_worker *wk);

static void cl_close(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    ev_io_stop(wk->loop, &c->w);
    ev_timer_stop(wk->loop, &c->timer);
    again_remove(&wk->again, &c->again);
    io_close(&c->io);
    buf_drop(&wk->pool, &c->in);
    buf_drop(&wk->pool, &c->out);
    c->phase = CP_FREE;
    c->bulk_again = c->echo_wait = false;
    c->bulk_off = 0;
}

static void cl_wait(struct cl_conn *c, double delay)
{
    c->phase = CP_WAIT;
    ev_timer_set(&c->timer, delay, 0.);
    ev_timer_start(c->wk->loop, &c->timer);
}

static void notify_ready(struct cl_worker *wk)
{
    if (wk->notify_fd != -1) {
        char m = MSG_READY;
        if (write_all(wk->notify_fd, &m, 1) == -1)
            wk->notify_fd = -1;
        return;
    }
    printf("ready mode=%s up=%llu failed=%llu\n", mode_names[wk->o->mode],
           (unsigned long long)wk->n_up, (unsigned long long)wk->res.failed);
    fflush(stdout);
}

static void stage_set(struct cl_worker *wk, enum cl_stage st, double after)
{
    wk->stage = st;
    ev_timer_stop(wk->loop, &wk->stage_timer);
    ev_timer_set(&wk->stage_timer, after, 0.);
    ev_timer_start(wk->loop, &wk->stage_timer);
}

/* Every session of a non-handshake run is up or failed: start the clock. */
static void check_all_set(struct cl_worker *wk)
{
    if (wk->stage != ST_RAMP || wk->n_started < wk->n_conns || wk->n_inflight > 0)
        return;
    wk->res.up = wk->n_up;
    if (wk->o->mode == M_IDLE) {
        notify_ready(wk);
        stage_set(wk, ST_HOLD, wk->o->duration);
    } else {
        stage_set(wk, ST_WARMUP, wk->o->warmup);
        if (wk->o->rate > 0 && wk->n_conns > 0) {
            /* this process's share of the rate, as of the sessions */
            double share = wk->o->rate * (double)wk->n_conns / wk->o->sessions;
            ev_timer_set(&wk->pace_timer, 1.0 / share, 1.0 / share);
            ev_timer_start(wk->loop, &wk->pace_timer);
        }
    }
}

static void stage_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct cl_worker *wk = t->data;
    switch (wk->stage) {
    case ST_WARMUP:
        /* the window starts clean: only errors count over the whole run */
        wk->res.done = wk->res.tx_bytes = wk->res.rx_bytes = wk->res.rx_pkts = 0;
        wk->res.pace_skips = 0;
        memset(&wk->res.lat, 0, sizeof wk->res.lat);
        wk->measuring = true;
        wk->t_window = ev_time();
        stage_set(wk, ST_WINDOW, wk->o->duration);
        break;
    case ST_WINDOW:
        wk->res.window_s = ev_time() - wk->t_window;
        wk->measuring = false;
        wk->stage = ST_DONE;
        ev_break(loop, EVBREAK_ALL);
        break;
    case ST_HOLD:
        wk->res.still_up = wk->n_up;
        wk->res.window_s = wk->o->duration;
        wk->stage = ST_DONE;
        ev_break(loop, EVBREAK_ALL);
        break;
    default:
        break;
    }
}

/* Ends a connection on an error. In handshake mode the slot starts over
 * after a pause; otherwise the session is lost for the run. */
static void cl_fail(struct cl_conn *c, enum cl_err e)
{
    struct cl_worker *wk = c->wk;
    bool was_up = c->phase == CP_UP;
    if (wk->stage != ST_DONE)
        wk->res.err[e]++;
    cl_close(c);
    if (wk->o->mode == M_HANDSHAKE) {
        if (wk->stage != ST_DONE)
            cl_wait(c, RETRY_DELAY_S);
        return;
    }
    if (was_up) {
        wk->n_up--;
    } else {
        wk->n_inflight--;
        wk->res.failed++;
        ramp_more(wk);
        check_all_set(wk);
    }
}

static void ramp_more(struct cl_worker *wk)
{
    if (wk->ramping)
        return; /* called again from a failing start below: the loop continues */
    wk->ramping = true;
    while (wk->n_started < wk->n_conns && wk->n_inflight < wk->o->concurrency &&
           wk->stage == ST_RAMP) {
        struct cl_conn *c = &wk->conns[wk->n_started++];
        wk->n_inflight++;
        cl_start(c);
    }
    wk->ramping = false;
}

static void cl_mark_up(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    c->phase = CP_UP;
    ev_timer_stop(wk->loop, &c->timer);
    wk->n_up++;
    wk->n_inflight--;
    ramp_more(wk);
    check_all_set(wk);
}

static int cl_queue_http(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    struct sstp_wbuf w;
    uint8_t r[16];
    char corr[CORR_ID_LEN + 1];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r);
    snprintf(corr, sizeof corr, "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
    if (!out_begin(&wk->pool, &c->out, &w) ||
        sstp_http_req_build(&w, SSTP_HTTP_M_DUPLEX_POST, wk->host, corr, NULL) != SSTP_OK)
        return -1;
    c->out.tail += w.len;
    c->phase = CP_HTTP;
    return 0;
}

/* TCP is up: PROXY header (plain), then TLS or the HTTP request. */
static int cl_connected(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    if (wk->o->proxy_v2) {
        struct sstp_pp_hdr h;
        struct sstp_wbuf w;
        socklen_t sl = sizeof h.src, dl = sizeof h.dst;
        memset(&h, 0, sizeof h);
        h.version = SSTP_PP_V2;
        h.command = SSTP_PP_CMD_PROXY;
        if (getsockname(c->io.fd, (struct sockaddr *)&h.src, &sl) == -1 ||
            getpeername(c->io.fd, (struct sockaddr *)&h.dst, &dl) == -1)
            return -1;
        h.family = h.src.ss_family == AF_INET6 ? SSTP_PP_FAM_TCP6 : SSTP_PP_FAM_TCP4;
        if (wk->have_front_cert) {
            /* what sstp-proxy tells its backends (proxyproto.h) */
            h.present = SSTP_PP_HAS_CERT_SHA256 | SSTP_PP_HAS_CERT_SHA1;
            h.cert_sha256 = wk->front.sha256;
            h.cert_sha1 = wk->front.sha1;
        }
        if (!out_begin(&wk->pool, &c->out, &w) || sstp_pp2_build(&w, &h) != SSTP_OK)
            return -1;
        c->out.tail += w.len;
    }
    if (!wk->ctx)
        return cl_queue_http(c);
    SSL *ssl = SSL_new(wk->ctx);
    if (!ssl)
        return -1;
    c->io.ssl = ssl;
    if (SSL_set_fd(ssl, c->io.fd) != 1 ||
        (wk->o->sni && SSL_set_tlsext_host_name(ssl, wk->o->sni) != 1))
        return -1;
    SSL_set_connect_state(ssl);
    c->phase = CP_TLS;
    return 0;
}

static void cl_start(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    c->t0_us = mono_us();
    c->io = (struct io){ .fd = net_connect(&wk->addr) };
    if (c->io.fd == -1) {
        cl_fail(c, errno == EMFILE || errno == ENFILE ? CL_E_RESOURCE : CL_E_CONNECT);
        return;
    }
    c->phase = CP_CONNECT;
    ev_io_set(&c->w, c->io.fd, EV_WRITE);
    ev_io_start(wk->loop, &c->w);
    ev_timer_set(&c->timer, wk->o->timeout, 0.);
    ev_timer_start(wk->loop, &c->timer);
}

static void cl_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct cl_conn *c = t->data;
    if (c->phase == CP_WAIT)
        cl_start(c);
    else
        cl_fail(c, CL_E_TIMEOUT);
}

/* The hash of the certificate this connection received (what a real
 * client puts in its crypto binding, MS-SSTP 3.2.5.2.1). */
static int cl_cert_hash(struct cl_conn *c, enum sstp_bind_hash hash, uint8_t out[SSTP_HASH_MAX_LEN])
{
    struct cl_worker *wk = c->wk;
    memset(out, 0, SSTP_HASH_MAX_LEN);
    if (!c->io.ssl) {
        if (wk->have_front_cert)
            memcpy(out, hash == SSTP_BIND_HASH_SHA256 ? wk->front.sha256 : wk->front.sha1,
                   sstp_bind_hash_len(hash));
        return 0;
    }
    X509 *x = SSL_get0_peer_certificate(c->io.ssl);
    unsigned char *der = NULL;
    int len = x ? i2d_X509(x, &der) : -1;
    if (len <= 0)
        return -1;
    enum sstp_rc rc = hash == SSTP_BIND_HASH_SHA256 ? sstp_bind_cert_sha256(out, der, (size_t)len)
                                                    : sstp_bind_cert_sha1(out, der, (size_t)len);
    OPENSSL_free(der);
    return rc == SSTP_OK ? 0 : -1;
}

static int cl_queue_echo(struct cl_conn *c)
{
    struct sstp_wbuf w;
    if (!out_begin(&c->wk->pool, &c->out, &w) || sstp_ctrl_encode_echo_request(&w) != SSTP_OK)
        return -1;
    c->out.tail += w.len;
    c->echo_wait = true;
    c->t0_us = mono_us();
    return 0;
}

/* echo --rate: the next session in turn sends one request, unless it still
 * waits for its last answer (its turn is skipped, counted). */
static void pace_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct cl_worker *wk = t->data;
    struct cl_conn *c = &wk->conns[wk->pace_next];
    wk->pace_next = (wk->pace_next + 1) % wk->n_conns;
    if (c->phase != CP_UP || wk->stage == ST_DONE)
        return;
    if (c->echo_wait) {
        if (wk->measuring)
            wk->res.pace_skips++;
        return;
    }
    if (cl_queue_echo(c) == -1) {
        cl_fail(c, CL_E_RESOURCE);
        return;
    }
    cl_io_cb(loop, &c->w, EV_WRITE); /* write it now, not at the next wake-up */
}

/* CALL_CONNECT_ACK arrived. Returns 0, or -1 when the connection is gone
 * (closed, or restarted in handshake mode): the caller must not touch it. */
static int cl_got_ack(struct cl_conn *c, const struct sstp_ctrl *m)
{
    struct cl_worker *wk = c->wk;
    const struct opts *o = wk->o;
    if (o->mode == M_HANDSHAKE) {
        if (wk->measuring) {
            hist_add(&wk->res.lat, mono_us() - c->t0_us);
            wk->res.done++;
        }
        cl_close(c);
        if (wk->stage != ST_DONE)
            cl_start(c);
        return -1;
    }
    struct sstp_binding_req req;
    if (sstp_attr_binding_req(&req, sstp_ctrl_find(m, SSTP_ATTRIB_CRYPTO_BINDING_REQ)) != SSTP_OK) {
        cl_fail(c, CL_E_SSTP);
        return -1;
    }
    if (o->mode == M_IDLE && o->idle_ack) {
        cl_mark_up(c);
        return 0;
    }
    /* MS-SSTP 2.2.10: SHA-256 when offered */
    enum sstp_bind_hash hash = (req.hash_bitmask & SSTP_HASH_BIT_SHA256) ? SSTP_BIND_HASH_SHA256
                                                                          : SSTP_BIND_HASH_SHA1;
    uint8_t cert_hash[SSTP_HASH_MAX_LEN], hlak[SSTP_HLAK_LEN], msg[SSTP_CONNECTED_LEN];
    struct sstp_wbuf w;
    sstp_bind_hlak_none(hlak);
    if (cl_cert_hash(c, hash, cert_hash) == -1 ||
        sstp_bind_connected_build(msg, hash, req.nonce.p, cert_hash, hlak) != SSTP_OK) {
        cl_fail(c, CL_E_SSTP);
        return -1;
    }
    if (!out_begin(&wk->pool, &c->out, &w)) {
        cl_fail(c, CL_E_RESOURCE);
        return -1;
    }
    sstp_put_bytes(&w, msg, sizeof msg);
    c->out.tail += w.len;
    if (w.err || (o->mode == M_ECHO && !o->rate && cl_queue_echo(c) == -1)) {
        cl_fail(c, CL_E_RESOURCE);
        return -1;
    }
    cl_mark_up(c);
    return 0;
}

static int cl_ctrl(struct cl_conn *c, const struct sstp_pkt *pkt)
{
    struct cl_worker *wk = c->wk;
    struct sstp_ctrl m;
    struct sstp_wbuf w;
    if (sstp_ctrl_decode(&m, pkt->raw, pkt->len) != SSTP_OK) {
        cl_fail(c, CL_E_SSTP);
        return -1;
    }
    switch (m.type) {
    case SSTP_MSG_CALL_CONNECT_ACK:
        if (c->phase != CP_ACK || sstp_ctrl_check(&m) != SSTP_OK) {
            cl_fail(c, CL_E_SSTP);
            return -1;
        }
        return cl_got_ack(c, &m);
    case SSTP_MSG_ECHO_RESPONSE:
        if (c->echo_wait && c->phase == CP_UP) {
            if (wk->measuring) {
                hist_add(&wk->res.lat, mono_us() - c->t0_us);
                wk->res.done++;
            }
            c->echo_wait = false;
            if (!wk->o->rate && wk->stage != ST_DONE && cl_queue_echo(c) == -1) {
                cl_fail(c, CL_E_RESOURCE);
                return -1;
            }
        }
        return 0;
    case SSTP_MSG_ECHO_REQUEST:
        if (!out_begin(&wk->pool, &c->out, &w) || sstp_ctrl_encode_echo_response(&w) != SSTP_OK) {
            cl_fail(c, CL_E_RESOURCE);
            return -1;
        }
        c->out.tail += w.len;
        return 0;
    case SSTP_MSG_CALL_DISCONNECT_ACK:
        return 0;
    default: /* NAK, ABORT, DISCONNECT, anything unexpected */
        cl_fail(c, CL_E_SSTP);
        return -1;
    }
}

/* Consumes what `in` holds. 0, or -1 when the connection is gone. */
static int cl_parse(struct cl_conn *c)
{
    struct cl_worker *wk = c->wk;
    struct buf *in = &c->in;
    if (c->phase == CP_HTTP) {
        const uint8_t *p = buf_rptr(in);
        size_t n = buf_len(in), head;
        const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
        if (end) {
            head = (size_t)(end - p) + 4;
        } else if ((end = memmem(p, n, "\n\n", 2)) != NULL) {
            head = (size_t)(end - p) + 2;
        } else {
            if (n > HTTP_RESP_MAX) {
                cl_fail(c, CL_E_HTTP);
                return -1;
            }
            return 0;
        }
        /* sstpc's check (MS-SSTP 3.2.4.1): HTTP/1.1 and status 200 */
        static const char ok[] = "HTTP/1.1 200";
        if (head < sizeof ok || memcmp(p, ok, sizeof ok - 1) != 0 ||
            (p[sizeof ok - 1] != ' ' && p[sizeof ok - 1] != '\r' && p[sizeof ok - 1] != '\n')) {
            cl_fail(c, CL_E_HTTP);
            return -1;
        }
        buf_consume(in, head);
        struct sstp_wbuf w;
        if (!out_begin(&wk->pool, &c->out, &w) ||
            sstp_ctrl_encode_connect_request(&w, SSTP_ENCAP_PROTO_PPP) != SSTP_OK) {
            cl_fail(c, CL_E_RESOURCE);
            return -1;
        }
        c->out.tail += w.len;
        c->phase = CP_ACK;
    }
    while (buf_len(in)) {
        struct sstp_pkt pkt;
        size_t used;
        enum sstp_rc rc = sstp_pkt_decode(&pkt, &used, buf_rptr(in), buf_len(in));
        if (rc == SSTP_AGAIN)
            break;
        if (rc != SSTP_OK) {
            cl_fail(c, CL_E_SSTP);
            return -1;
        }
        if (pkt.is_ctrl) {
            if (cl_ctrl(c, &pkt) == -1)
                return -1;
        } else if (wk->measuring) {
            wk->res.rx_pkts++;
        }
        buf_consume(in, used);
    }
    return 0;
}

/* Writes what is queued, and in bulk mode the endless packet stream.
 * Returns 1 on progress, 0 when blocked or idle (*ev gets the readiness to
 * wait for), -1 when the connection is gone. */
static int cl_write(struct cl_conn *c, int *ev)
{
    struct cl_worker *wk = c->wk;
    bool bulk = wk->blk && c->phase == CP_UP && wk->stage != ST_DONE;
    int progress = 0;
    for (int i = 0; i < IO_BATCH; i++) {
        /* A write that got IO_AGAIN is retried with the same bytes first
         * (OpenSSL requires it); control messages go between packets. */
        bool from_bulk = c->bulk_again ||
                         (bulk && (c->bulk_off % wk->pkt_len != 0 || buf_len(&c->out) == 0));
        const uint8_t *p;
        size_t n;
        if (from_bulk) {
            p = wk->blk + c->bulk_off;
            n = wk->blk_len - c->bulk_off;
        } else if (buf_len(&c->out)) {
            p = buf_rptr(&c->out);
            n = buf_len(&c->out);
        } else {
            buf_release(&wk->pool, &c->out);
            return progress;
        }
        ssize_t w = io_write(&c->io, p, n);
        if (w == IO_AGAIN) {
            c->bulk_again = from_bulk;
            *ev |= c->io.want;
            return progress;
        }
        if (w < 0) {
            cl_fail(c, CL_E_CLOSED);
            return -1;
        }
        c->bulk_again = false;
        progress = 1;
        if (from_bulk) {
            c->bulk_off += (size_t)w;
            if (c->bulk_off == wk->blk_len)
                c->bulk_off = 0;
            if (wk->measuring)
                wk->res.tx_bytes += (uint64_t)w;
        } else {
            buf_consume(&c->out, (size_t)w);
        }
    }
    return progress;
}

/* Reads and parses. Same returns as cl_write. */
static int cl_read(struct cl_conn *c, int *ev)
{
    struct cl_worker *wk = c->wk;
    int progress = 0;
    for (int i = 0; i < IO_BATCH; i++) {
        if (buf_take(&wk->pool, &c->in) == -1) {
            cl_fail(c, CL_E_RESOURCE);
            return -1;
        }
        if (buf_room(&c->in) == 0)
            buf_compact(&c->in);
        if (buf_room(&c->in) == 0) { /* an HTTP head of 16 KiB */
            cl_fail(c, CL_E_HTTP);
            return -1;
        }
        ssize_t r = io_read(&c->io, buf_wptr(&c->in), buf_room(&c->in));
        if (r == IO_AGAIN) {
            *ev |= c->io.want;
            break;
        }
        if (r <= 0) {
            cl_fail(c, r == IO_EOF ? CL_E_CLOSED : (c->io.ssl ? CL_E_TLS : CL_E_CLOSED));
            return -1;
        }
        c->in.tail += (size_t)r;
        if (wk->measuring)
            wk->res.rx_bytes += (uint64_t)r;
        progress = 1;
        if (cl_parse(c) == -1)
            return -1;
    }
    buf_release(&wk->pool, &c->in);
    return progress;
}

static void cl_tls_done(struct cl_conn *c)
{
    struct cl_result *res = &c->wk->res;
    if (!res->tls_version[0]) {
        snprintf(res->tls_version, sizeof res->tls_version, "%s", SSL_get_version(c->io.ssl));
        snprintf(res->cipher, sizeof res->cipher, "%s", SSL_get_cipher_name(c->io.ssl));
    }
}

static void cl_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cl_conn *c = (struct cl_conn *)w;
    if (c->phase == CP_CONNECT) {
        int err = 0;
        socklen_t len = sizeof err;
        if (!(revents & EV_WRITE))
            return;
        if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
            cl_fail(c, CL_E_CONNECT);
            return;
        }
        if (cl_connected(c) == -1) {
            cl_fail(c, CL_E_RESOURCE);
            return;
        }
    }
    if (c->phase == CP_TLS) {
        int r = io_connect(&c->io);
        if (r == IO_AGAIN) {
            watch(loop, w, c->io.want);
            return;
        }
        if (r != 1) {
            cl_fail(c, CL_E_TLS);
            return;
        }
        cl_tls_done(c);
        if (cl_queue_http(c) == -1) {
            cl_fail(c, CL_E_RESOURCE);
            return;
        }
    }
    int ev = 0;
    for (int round = 0; round < RUN_ROUNDS; round++) {
        ev = 0;
        int wr = cl_write(c, &ev);
        if (wr < 0)
            return;
        int rd = cl_read(c, &ev);
        if (rd < 0)
            return;
        if (!wr && !rd) {
            watch(loop, w, ev | EV_READ);
            return;
        }
    }
    /* still busy: let other connections run, then come back */
    watch(loop, w, ev | EV_READ);
    again_push(loop, &c->wk->again, &c->again, w);
}

static SSL_CTX *cl_ctx_new(const struct opts *o)
{
    char err[512];
    SSL_CTX *ctx;
    if (o->ca) {
        ctx = tls_client_ctx_new(o->ca, NULL, NULL, err, sizeof err);
        if (!ctx) {
            fprintf(stderr, "sstp-bench: %s\n", err);
            return NULL;
        }
        X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
        char ip[NET_ADDR_STR_MAX];
        struct net_addr a;
        int ok = 1;
        if (o->sni) {
            ok = X509_VERIFY_PARAM_set1_host(vp, o->sni, 0);
        } else if (net_addr_parse(&a, o->target) == 0) {
            net_addr_ip((struct sockaddr *)&a.ss, ip, sizeof ip);
            ok = X509_VERIFY_PARAM_set1_ip_asc(vp, ip);
        }
        if (ok != 1) {
            fprintf(stderr, "sstp-bench: cannot set the name to verify\n");
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
            return NULL;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (o->tls_ver) {
        SSL_CTX_set_min_proto_version(ctx, o->tls_ver);
        SSL_CTX_set_max_proto_version(ctx, o->tls_ver);
    }
    /* every handshake full: no tickets, no session cache */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

/* Runs one client process's share. res is filled; returns 0 or -1. */
static int cl_worker_run(const struct opts *o, SSL_CTX *ctx, unsigned idx, int notify_fd,
                         struct cl_result *res)
{
    struct cl_worker *wk = calloc(1, sizeof *wk);
    int rc = -1;
    if (!wk)
        return -1;
    wk->o = o;
    wk->ctx = ctx;
    wk->notify_fd = notify_fd;
    wk->loop = ev_default_loop(EVFLAG_AUTO);
    buf_pool_init(&wk->pool, POOL_SPARE);
    again_init(wk->loop, &wk->again);
    char ipbuf[NET_ADDR_STR_MAX];
    if (net_addr_parse(&wk->addr, o->target) == -1) {
        fprintf(stderr, "sstp-bench: bad target %s\n", o->target);
        goto out;
    }
    wk->host = o->host ? o->host : o->sni ? o->sni
                                          : net_addr_ip((struct sockaddr *)&wk->addr.ss, ipbuf, sizeof ipbuf);
    if (o->plain && o->cert) {
        if (cert_file_hashes(o->cert, &wk->front) == -1) {
            fprintf(stderr, "sstp-bench: cannot read certificate %s\n", o->cert);
            goto out;
        }
        wk->have_front_cert = true;
    }
    unsigned total = o->mode == M_HANDSHAKE ? o->concurrency : o->sessions;
    wk->n_conns = share_of(total, idx, o->procs);
    wk->conns = calloc(wk->n_conns, sizeof *wk->conns);
    if (!wk->conns)
        goto out;
    for (size_t i = 0; i < wk->n_conns; i++) {
        struct cl_conn *c = &wk->conns[i];
        c->wk = wk;
        c->io.fd = -1;
        ev_init(&c->w, cl_io_cb);
        ev_init(&c->timer, cl_timer_cb);
        c->timer.data = c;
    }
    if (o->mode == M_BULK) {
        wk->pkt_len = SSTP_HDR_LEN + o->payload;
        size_t n_pkts = BUF_SIZE / wk->pkt_len ? BUF_SIZE / wk->pkt_len : 1;
        wk->blk_len = n_pkts * wk->pkt_len;
        wk->blk = malloc(wk->blk_len);
        if (!wk->blk)
            goto out;
        for (size_t k = 0; k < n_pkts; k++) {
            struct sstp_wbuf w;
            uint8_t frame[SSTP_PPP_MAX_FRAME];
            /* an IPv4 frame as PPP carries it (FF 03 00 21), then filler */
            frame[0] = 0xFF, frame[1] = 0x03, frame[2] = 0x00, frame[3] = 0x21;
            for (size_t b = 4; b < o->payload; b++)
                frame[b] = (uint8_t)(b + k);
            sstp_wbuf_init(&w, wk->blk + k * wk->pkt_len, wk->pkt_len);
            if (sstp_pkt_data_encode(&w, frame, o->payload) != SSTP_OK)
                goto out;
        }
    }
    ev_init(&wk->stage_timer, stage_cb);
    wk->stage_timer.data = wk;
    ev_init(&wk->pace_timer, pace_cb);
    wk->pace_timer.data = wk;
    if (o->mode == M_HANDSHAKE) {
        for (size_t i = 0; i < wk->n_conns; i++)
            cl_start(&wk->conns[i]);
        stage_set(wk, ST_WARMUP, o->warmup);
    } else {
        wk->stage = ST_RAMP;
        ramp_more(wk);
        check_all_set(wk);
    }
    ev_run(wk->loop, 0);
    rc = 0;
out:
    if (wk->conns)
        for (size_t i = 0; i < wk->n_conns; i++)
            cl_close(&wk->conns[i]);
    ev_timer_stop(wk->loop, &wk->stage_timer);
    ev_timer_stop(wk->loop, &wk->pace_timer);
    again_stop(wk->loop, &wk->again);
    *res = wk->res;
    free(wk->conns);
    free(wk->blk);
    buf_pool_cleanup(&wk->pool);
    ev_loop_destroy(wk->loop);
    free(wk);
    return rc;
}

static void us_str(char *out, size_t len, uint64_t us)
{
    if (us >= 10000)
        snprintf(out, len, "%.1f ms", (double)us / 1000.0);
    else
        snprintf(out, len, "%llu us", (unsigned long long)us);
}

static void cl_print(const struct opts *o, const struct cl_result *r, double rate_done,
                     double rate_tx, double rate_rx, double rate_rxp, double window)
{
    uint64_t errors = 0;
    char errs[512];
    size_t off = 0;
    for (int e = 0; e < CL_E_COUNT; e++) {
        errors += r->err[e];
        off += (size_t)snprintf(errs + off, sizeof errs - off, " err_%s=%llu", cl_err_names[e],
                                (unsigned long long)r->err[e]);
    }
    const char *tls = o->plain ? "plain" : r->tls_version[0] ? r->tls_version : "-";
    const char *cipher = o->plain ? "-" : r->cipher[0] ? r->cipher : "-";
    printf("bench mode=%s target=%s tls=%s cipher=%s procs=%u ", mode_names[o->mode], o->target,
           tls, cipher, o->procs);
    uint64_t p50 = hist_pct(&r->lat, 50), p90 = hist_pct(&r->lat, 90), p99 = hist_pct(&r->lat, 99);
    char a[32], b[32];
    switch (o->mode) {
    case M_HANDSHAKE:
        printf("conns=%u window_s=%.2f handshakes=%llu hs_per_s=%.1f lat_p50_us=%llu "
               "lat_p90_us=%llu lat_p99_us=%llu errors=%llu%s\n",
               o->concurrency, window, (unsigned long long)r->done, rate_done,
               (unsigned long long)p50, (unsigned long long)p90, (unsigned long long)p99,
               (unsigned long long)errors, errs);
        us_str(a, sizeof a, p50);
        us_str(b, sizeof b, p99);
        printf("# handshake: %.0f handshakes/s (connect to ACK p50 %s, p99 %s), %llu errors, "
               "%u in flight over %u process(es), %.1f s\n",
               rate_done, a, b, (unsigned long long)errors, o->concurrency, o->procs, window);
        break;
    case M_BULK:
        printf("sessions=%u up=%llu payload=%u window_s=%.2f tx_bytes=%llu rx_bytes=%llu "
               "tx_gbps=%.3f rx_gbps=%.3f tx_pps=%.0f rx_pps=%.0f errors=%llu%s\n",
               o->sessions, (unsigned long long)r->up, o->payload, window,
               (unsigned long long)r->tx_bytes, (unsigned long long)r->rx_bytes,
               rate_tx * 8 / 1e9, rate_rx * 8 / 1e9, rate_tx / (double)(SSTP_HDR_LEN + o->payload),
               rate_rxp, (unsigned long long)errors, errs);
        printf("# bulk: %.3f Gbit/s sent, %.3f Gbit/s echoed back (%u-byte frames, %llu of %u "
               "sessions), %llu errors, %.1f s\n",
               rate_tx * 8 / 1e9, rate_rx * 8 / 1e9, o->payload, (unsigned long long)r->up,
               o->sessions, (unsigned long long)errors, window);
        break;
    case M_ECHO:
        printf("sessions=%u up=%llu window_s=%.2f echoes=%llu echo_per_s=%.0f rate=%.0f "
               "pace_skips=%llu echo_p50_us=%llu echo_p90_us=%llu echo_p99_us=%llu errors=%llu%s\n",
               o->sessions, (unsigned long long)r->up, window, (unsigned long long)r->done,
               rate_done, o->rate, (unsigned long long)r->pace_skips, (unsigned long long)p50,
               (unsigned long long)p90, (unsigned long long)p99, (unsigned long long)errors, errs);
        printf("# echo: RTT p50 %llu us, p90 %llu us, p99 %llu us over %llu round trips "
               "(%llu of %u sessions), %llu errors\n",
               (unsigned long long)p50, (unsigned long long)p90, (unsigned long long)p99,
               (unsigned long long)r->done, (unsigned long long)r->up, o->sessions,
               (unsigned long long)errors);
        break;
    case M_IDLE:
        printf("sessions=%u state=%s up=%llu failed=%llu held_s=%.2f still_up=%llu errors=%llu%s\n",
               o->sessions, o->idle_ack ? "ack" : "connected", (unsigned long long)r->up,
               (unsigned long long)r->failed, o->duration, (unsigned long long)r->still_up,
               (unsigned long long)errors, errs);
        printf("# idle: %llu of %u sessions up (%s), %llu still up after %.1f s, %llu errors\n",
               (unsigned long long)r->up, o->sessions, o->idle_ack ? "past the ACK" : "connected",
               (unsigned long long)r->still_up, o->duration, (unsigned long long)errors);
        break;
    default:
        break;
    }
    fflush(stdout);
}

static void cl_accumulate(struct cl_result *sum, const struct cl_result *r, double *rate_done,
                          double *rate_tx, double *rate_rx, double *rate_rxp, double *window)
{
    sum->done += r->done;
    sum->up += r->up;
    sum->failed += r->failed;
    sum->still_up += r->still_up;
    sum->tx_bytes += r->tx_bytes;
    sum->rx_bytes += r->rx_bytes;
    sum->rx_pkts += r->rx_pkts;
    sum->pace_skips += r->pace_skips;
    for (int e = 0; e < CL_E_COUNT; e++)
        sum->err[e] += r->err[e];
    if (!sum->tls_version[0]) {
        memcpy(sum->tls_version, r->tls_version, sizeof sum->tls_version);
        memcpy(sum->cipher, r->cipher, sizeof sum->cipher);
    }
    hist_merge(&sum->lat, &r->lat);
    /* each process timed its own window: rates add up */
    if (r->window_s > 0) {
        *rate_done += (double)r->done / r->window_s;
        *rate_tx += (double)r->tx_bytes / r->window_s;
        *rate_rx += (double)r->rx_bytes / r->window_s;
        *rate_rxp += (double)r->rx_pkts / r->window_s;
    }
    if (r->window_s > *window)
        *window = r->window_s;
}

static int client_main(const struct opts *o)
{
    SSL_CTX *ctx = NULL;
    if (!o->plain && !(ctx = cl_ctx_new(o)))
        return 1;
    struct cl_result *sum = calloc(1, sizeof *sum), *one = calloc(1, sizeof *one);
    double rate_done = 0, rate_tx = 0, rate_rx = 0, rate_rxp = 0, window = 0;
    int rc = 1;
    pid_t pids[MAX_PROCS];
    int fds[MAX_PROCS];
    unsigned n = 0;
    if (!sum || !one)
        goto out;
    if (o->procs == 1) {
        if (cl_worker_run(o, ctx, 0, -1, one) == 0) {
            cl_accumulate(sum, one, &rate_done, &rate_tx, &rate_rx, &rate_rxp, &window);
            rc = 0;
        }
        goto print;
    }
    for (; n < o->procs; n++) {
        int p[2];
        if (pipe(p) == -1)
            break;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == -1) {
            close(p[0]);
            close(p[1]);
            break;
        }
        if (pid == 0) {
            close(p[0]);
            for (unsigned k = 0; k < n; k++)
                close(fds[k]);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            char m = MSG_RESULT;
            int wrc = cl_worker_run(o, ctx, n, p[1], one);
            if (wrc == 0 && (write_all(p[1], &m, 1) == -1 || write_all(p[1], one, sizeof *one) == -1))
                wrc = -1;
            close(p[1]);
            free(one);
            free(sum);
            SSL_CTX_free(ctx);
            _exit(wrc == 0 ? 0 : 1);
        }
        close(p[1]);
        pids[n] = pid;
        fds[n] = p[0];
    }
    rc = n == o->procs ? 0 : 1;
    if (o->mode == M_IDLE && rc == 0) {
        uint64_t ready = 0;
        for (unsigned k = 0; k < n; k++) {
            char m = 0;
            if (read_all(fds[k], &m, 1) == 0 && m == MSG_READY)
                ready++;
        }
        if (ready == n) {
            printf("ready mode=idle procs=%u\n", n);
            fflush(stdout);
        } else {
            rc = 1;
        }
    }
    for (unsigned k = 0; k < n; k++) {
        char m = 0;
        if (read_all(fds[k], &m, 1) == 0 && m == MSG_RESULT && read_all(fds[k], one, sizeof *one) == 0)
            cl_accumulate(sum, one, &rate_done, &rate_tx, &rate_rx, &rate_rxp, &window);
        else
            rc = 1;
        close(fds[k]);
    }
    for (unsigned k = 0; k < n; k++) {
        int st;
        while (waitpid(pids[k], &st, 0) == -1 && errno == EINTR)
            ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = 1;
    }
    if (rc != 0)
        fprintf(stderr, "sstp-bench: a worker process failed; results are partial\n");
print:
    cl_print(o, sum, rate_done, rate_tx, rate_rx, rate_rxp, window);
out:
    free(sum);
    free(one);
    SSL_CTX_free(ctx);
    return rc;
}

/* ============================================================================
 * Target (--serve)
 * ========================================================================== */

enum sp_phase {
    SP_PROXY = 0,  /* waiting for the PROXY header */
    SP_TLS,        /* TLS handshake */
    SP_HTTP,       /* request head */
    SP_REQ,        /* 200 sent, waiting for CALL_CONNECT_REQUEST */
    SP_CONN_WAIT,  /* ACK sent, waiting for CALL_CONNECTED */
    SP_UP,         /* connected: data packets are echoed */
};

struct srv_worker;

/* What only the set-up needs; freed once the call is connected, so an idle
 * session holds just struct srv_conn and its SSL. */
struct srv_setup {
    ev_timer deadline;                 /* MS-SSTP 3.3.2: negotiation timer */
    struct sstp_http_req *http;        /* only during SP_HTTP */
    uint8_t nonce[SSTP_NONCE_LEN];
    bool have_tlv256, have_tlv1;       /* cert hashes from the PROXY header */
    uint8_t tlv256[SSTP_SHA256_LEN];
    uint8_t tlv1[SSTP_SHA1_LEN];
};

struct srv_conn {
    ev_io w;                           /* first: the callback casts back */
    struct io io;
    struct srv_worker *wk;
    struct srv_conn *prev, *next;
    struct srv_setup *setup;
    struct buf in, out;                /* pool buffers, held only while not empty */
    size_t span;                       /* data packets at the front of `in` being echoed */
    struct again_link again;
    enum sp_phase phase;
    int want;                          /* EV_READ or EV_WRITE */
    bool closing;                      /* close once `out` is flushed */
};

struct srv_worker {
    struct ev_loop *loop;
    const struct opts *o;
    SSL_CTX *ctx;                      /* NULL: plain */
    int lfd;
    ev_io lw;
    ev_timer pause;                    /* accept paused after EMFILE */
    ev_signal sigterm, sigint;
    struct buf_pool pool;
    struct again_q again;
    bool have_trust;                   /* hashes of the certificate the client saw */
    struct tls_cert_hashes trust;
    struct srv_conn *conns;
    struct srv_stats st;
};

static void srv_close(struct srv_conn *c)
{
    struct srv_worker *wk = c->wk;
    ev_io_stop(wk->loop, &c->w);
    again_remove(&wk->again, &c->again);
    if (c->setup) {
        ev_timer_stop(wk->loop, &c->setup->deadline);
        free(c->setup->http);
        free(c->setup);
    }
    io_close(&c->io);
    buf_drop(&wk->pool, &c->in);
    buf_drop(&wk->pool, &c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        wk->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static struct sstp_wbuf *srv_out(struct srv_conn *c, struct sstp_wbuf *w)
{
    return out_begin(&c->wk->pool, &c->out, w);
}

static void srv_commit(struct srv_conn *c, const struct sstp_wbuf *w)
{
    c->out.tail += w->len;
}

/* Queues CALL_ABORT and closes after flushing it (MS-SSTP 3.3.5.2.x). */
static int srv_send_abort(struct srv_conn *c, uint8_t attrib, uint32_t status)
{
    struct sstp_status_info si = { .attrib_id = attrib, .status = status };
    struct sstp_wbuf w;
    if (srv_out(c, &w) && sstp_ctrl_encode_abort(&w, &si) == SSTP_OK)
        srv_commit(c, &w);
    c->closing = true;
    return 1;
}

/* A protocol error: counted, then CALL_ABORT with AttribID STATUS_INFO. */
static int srv_abort(struct srv_conn *c, uint32_t status)
{
    c->wk->st.sstp_err++;
    return srv_send_abort(c, SSTP_ATTRIB_STATUS_INFO, status);
}

static int srv_connected(struct srv_conn *c, const struct sstp_pkt *pkt)
{
    struct srv_worker *wk = c->wk;
    struct srv_setup *s = c->setup;
    const uint8_t (*h256)[32] = NULL, (*h1)[20] = NULL;
    if (s->have_tlv256 || s->have_tlv1) {
        h256 = s->have_tlv256 ? &s->tlv256 : NULL;
        h1 = s->have_tlv1 ? &s->tlv1 : NULL;
    } else if (wk->have_trust) {
        h256 = &wk->trust.sha256;
        h1 = &wk->trust.sha1;
    }
    if (!h256 && !h1) {
        wk->st.binding_unchecked++;
    } else {
        uint8_t hlak[SSTP_HLAK_LEN];
        struct sstp_bind_trust trust = { h256, h256 ? 1u : 0u, h1, h1 ? 1u : 0u };
        sstp_bind_hlak_none(hlak);
        enum sstp_rc rc = sstp_bind_verify(pkt->raw, pkt->len, wk->o->hash_bits, s->nonce, &trust, hlak);
        if (rc != SSTP_OK) {
            /* MS-SSTP 3.3.5.2.3: ABORT about the Crypto Binding attribute */
            wk->st.binding_fail++;
            return srv_send_abort(c, SSTP_ATTRIB_CRYPTO_BINDING, SSTP_STATUS_VALUE_NOT_SUPPORTED);
        }
    }
    wk->st.connected++;
    c->phase = SP_UP;
    ev_timer_stop(wk->loop, &s->deadline);
    free(s->http);
    free(s);
    c->setup = NULL;
    return 1;
}

/* One control packet. 1, or -1 when the connection was closed. */
static int srv_ctrl(struct srv_conn *c, const struct sstp_pkt *pkt)
{
    struct srv_worker *wk = c->wk;
    struct sstp_ctrl m;
    struct sstp_wbuf w;
    if (sstp_ctrl_decode(&m, pkt->raw, pkt->len) != SSTP_OK)
        return srv_abort(c, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    switch (m.type) {
    case SSTP_MSG_CALL_CONNECT_REQUEST:
        if (c->phase != SP_REQ || sstp_ctrl_check(&m) != SSTP_OK)
            return srv_abort(c, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
        if (RAND_bytes(c->setup->nonce, SSTP_NONCE_LEN) != 1 || !srv_out(c, &w) ||
            sstp_ctrl_encode_connect_ack(&w, wk->o->hash_bits, c->setup->nonce) != SSTP_OK) {
            srv_close(c);
            return -1;
        }
        srv_commit(c, &w);
        wk->st.acked++;
        c->phase = SP_CONN_WAIT;
        return 1;
    case SSTP_MSG_CALL_CONNECTED:
        if (c->phase != SP_CONN_WAIT)
            return srv_abort(c, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
        return srv_connected(c, pkt);
    case SSTP_MSG_ECHO_REQUEST:
        /* lenient like the backend: answered from the ACK on */
        if (c->phase < SP_CONN_WAIT)
            return srv_abort(c, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED);
        if (!srv_out(c, &w) || sstp_ctrl_encode_echo_response(&w) != SSTP_OK) {
            srv_close(c);
            return -1;
        }
        srv_commit(c, &w);
        wk->st.echo_replies++;
        return 1;
    case SSTP_MSG_ECHO_RESPONSE:
        return 1;
    case SSTP_MSG_CALL_DISCONNECT:
        if (srv_out(c, &w) && sstp_ctrl_encode_disconnect_ack(&w) == SSTP_OK)
            srv_commit(c, &w);
        c->closing = true;
        return 1;
    case SSTP_MSG_CALL_ABORT:
    case SSTP_MSG_CALL_DISCONNECT_ACK:
        srv_close(c);
        return -1;
    default:
        return srv_abort(c, SSTP_STATUS_INVALID_FRAME_RECEIVED);
    }
}

/* Consumes the front of `in`: 1 on progress, 0 when more bytes are needed,
 * -1 when the connection was closed. */
static int srv_parse(struct srv_conn *c)
{
    struct srv_worker *wk = c->wk;
    struct buf *in = &c->in;
    struct sstp_wbuf w;
    size_t used = 0;
    enum sstp_rc rc;
    switch (c->phase) {
    case SP_PROXY: {
        struct sstp_pp_hdr h;
        rc = sstp_pp_parse(&h, &used, buf_rptr(in), buf_len(in));
        if (rc == SSTP_AGAIN)
            return 0;
        if (rc != SSTP_OK) {
            wk->st.proxy_err++;
            srv_close(c);
            return -1;
        }
        /* sstp-proxy's TLVs: the certificate this client saw (a bench target
         * trusts its PROXY peer; a real backend checks who sent them) */
        if (h.present & SSTP_PP_HAS_CERT_SHA256) {
            memcpy(c->setup->tlv256, h.cert_sha256, SSTP_SHA256_LEN);
            c->setup->have_tlv256 = true;
        }
        if (h.present & SSTP_PP_HAS_CERT_SHA1) {
            memcpy(c->setup->tlv1, h.cert_sha1, SSTP_SHA1_LEN);
            c->setup->have_tlv1 = true;
        }
        buf_consume(in, used);
        c->phase = SP_HTTP;
        return 1;
    }
    case SP_HTTP: {
        struct srv_setup *s = c->setup;
        if (!s->http) {
            s->http = malloc(sizeof *s->http);
            if (!s->http) {
                srv_close(c);
                return -1;
            }
            sstp_http_req_init(s->http, 0);
        }
        rc = sstp_http_req_feed(s->http, buf_rptr(in), buf_len(in), &used);
        buf_consume(in, used);
        if (rc == SSTP_AGAIN)
            return 0;
        time_t now = (time_t)ev_now(wk->loop);
        if (!srv_out(c, &w)) {
            srv_close(c);
            return -1;
        }
        if (rc == SSTP_OK && !sstp_http_req_is_probe(s->http)) {
            rc = sstp_http_resp_ok_build(&w, now);
            wk->st.http_ok++;
            c->phase = SP_REQ;
        } else {
            if (rc == SSTP_OK) {
                rc = sstp_http_resp_probe_build(&w, true, now);
            } else {
                wk->st.http_err++;
                rc = sstp_http_resp_error_build(&w, sstp_http_status_for(rc), now);
            }
            c->closing = true;
        }
        if (rc == SSTP_OK)
            srv_commit(c, &w);
        free(s->http);
        s->http = NULL;
        return 1;
    }
    default:
        break;
    }
    struct sstp_pkt pkt;
    rc = sstp_pkt_decode(&pkt, &used, buf_rptr(in), buf_len(in));
    if (rc == SSTP_AGAIN)
        return 0;
    if (rc != SSTP_OK) { /* MS-SSTP 3.1.5.1: cannot delineate, close silently */
        wk->st.sstp_err++;
        srv_close(c);
        return -1;
    }
    if (pkt.is_ctrl) {
        if (srv_ctrl(c, &pkt) == -1)
            return -1;
        buf_consume(in, used);
        return 1;
    }
    if (c->phase != SP_UP) { /* MS-SSTP 3.3.7: no data before CALL_CONNECTED */
        wk->st.dropped++;
        buf_consume(in, used);
        return 1;
    }
    /* echo every whole data packet up to the next control packet in one write */
    size_t span = used;
    uint64_t n_pkts = 1;
    while (span < buf_len(in)) {
        rc = sstp_pkt_decode(&pkt, &used, buf_rptr(in) + span, buf_len(in) - span);
        if (rc != SSTP_OK || pkt.is_ctrl)
            break;
        span += used;
        n_pkts++;
    }
    wk->st.data_pkts += n_pkts;
    c->span = span;
    return 1;
}

/* One step: flush, handshake, parse or read. 1 on progress, 0 when blocked
 * (c->want says on what), -1 when the connection was closed. */
static int srv_step(struct srv_conn *c)
{
    struct srv_worker *wk = c->wk;
    ssize_t n;
    if (buf_len(&c->out)) {
        n = io_write(&c->io, buf_rptr(&c->out), buf_len(&c->out));
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            buf_release(&wk->pool, &c->out);
            wk->st.bytes_out += (uint64_t)n;
            return 1;
        }
        goto io_fail;
    }
    if (c->span) {
        n = io_write(&c->io, buf_rptr(&c->in), c->span);
        if (n > 0) {
            buf_consume(&c->in, (size_t)n);
            c->span -= (size_t)n;
            wk->st.bytes_out += (uint64_t)n;
            return 1;
        }
        goto io_fail;
    }
    if (c->closing) {
        srv_close(c);
        return -1;
    }
    if (c->phase == SP_TLS) {
        int r = io_accept(&c->io);
        if (r == 1) {
            c->phase = SP_HTTP;
            return 1;
        }
        if (r == IO_AGAIN) {
            c->want = c->io.want;
            return 0;
        }
        wk->st.tls_fail++;
        srv_close(c);
        return -1;
    }
    if (buf_len(&c->in)) {
        int r = srv_parse(c);
        if (r != 0)
            return r;
    }
    if (buf_take(&wk->pool, &c->in) == -1) {
        srv_close(c);
        return -1;
    }
    if (buf_room(&c->in) == 0)
        buf_compact(&c->in);
    if (buf_room(&c->in) == 0) { /* cannot happen: heads and packets are smaller */
        wk->st.sstp_err++;
        srv_close(c);
        return -1;
    }
    n = io_read(&c->io, buf_wptr(&c->in), buf_room(&c->in));
    if (n > 0) {
        c->in.tail += (size_t)n;
        wk->st.bytes_in += (uint64_t)n;
        return 1;
    }
    if (n == IO_AGAIN)
        buf_release(&wk->pool, &c->in);
io_fail:
    if (n == IO_AGAIN) {
        c->want = c->io.want;
        return 0;
    }
    srv_close(c);
    return -1;
}

static void srv_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct srv_conn *c = (struct srv_conn *)w;
    for (int i = 0; i < RUN_ROUNDS * IO_BATCH; i++) {
        int r = srv_step(c);
        if (r < 0)
            return;
        if (r == 0) {
            watch(loop, w, c->want);
            return;
        }
    }
    /* still busy: let other connections run, then come back */
    watch(loop, w, EV_READ);
    again_push(loop, &c->wk->again, &c->again, w);
}

static void srv_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct srv_conn *c = t->data;
    c->wk->st.timeouts++;
    srv_close(c);
}

static void srv_pause_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct srv_worker *wk = t->data;
    ev_io_start(loop, &wk->lw);
}

static void srv_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct srv_worker *wk = w->data;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(wk->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                wk->st.accept_err++;
                ev_io_stop(loop, &wk->lw);
                ev_timer_set(&wk->pause, ACCEPT_PAUSE_S, 0.);
                ev_timer_start(loop, &wk->pause);
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct srv_conn *c = calloc(1, sizeof *c);
        struct srv_setup *s = calloc(1, sizeof *s);
        SSL *ssl = wk->ctx ? SSL_new(wk->ctx) : NULL;
        if (!c || !s || (wk->ctx && (!ssl || SSL_set_fd(ssl, fd) != 1))) {
            wk->st.accept_err++;
            SSL_free(ssl);
            free(s);
            free(c);
            close(fd);
            continue;
        }
        wk->st.accepted++;
        if (ssl)
            SSL_set_accept_state(ssl);
        c->io = (struct io){ .fd = fd, .ssl = ssl };
        c->wk = wk;
        c->setup = s;
        c->phase = wk->o->proxy_in ? SP_PROXY : ssl ? SP_TLS : SP_HTTP;
        c->want = EV_READ;
        c->next = wk->conns;
        if (wk->conns)
            wk->conns->prev = c;
        wk->conns = c;
        ev_timer_init(&s->deadline, srv_deadline_cb, SSTP_NEGOTIATION_TIMEOUT_S, 0.);
        s->deadline.data = c;
        ev_timer_start(loop, &s->deadline);
        ev_io_init(&c->w, srv_io_cb, fd, EV_READ);
        ev_io_start(loop, &c->w);
    }
}

static void srv_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void srv_print(const struct opts *o, const struct srv_stats *st, unsigned workers)
{
    printf("serve listen=%s tls=%s proxy_in=%s workers=%u", o->listen, o->plain ? "no" : "yes",
           o->proxy_in ? "yes" : "no", workers);
#define X(n) printf(" " #n "=%llu", (unsigned long long)st->n);
    SRV_STAT_LIST(X)
#undef X
    printf("\n");
    fflush(stdout);
}

/* Runs one target process on listening socket lfd until SIGTERM/SIGINT. */
static int srv_worker_run(const struct opts *o, SSL_CTX *ctx, int lfd, struct srv_stats *out)
{
    struct srv_worker *wk = calloc(1, sizeof *wk);
    if (!wk)
        return -1;
    wk->o = o;
    wk->ctx = ctx;
    wk->lfd = lfd;
    wk->loop = ev_default_loop(EVFLAG_AUTO);
    buf_pool_init(&wk->pool, POOL_SPARE);
    again_init(wk->loop, &wk->again);
    if (ctx) {
        wk->have_trust = tls_ctx_cert_hashes(ctx, &wk->trust) == 0;
    } else if (o->cert) {
        wk->have_trust = cert_file_hashes(o->cert, &wk->trust) == 0;
        if (!wk->have_trust)
            log_warn("cert_unreadable", "file=%s msg=binding_not_checked", o->cert);
    }
    ev_io_init(&wk->lw, srv_accept_cb, lfd, EV_READ);
    wk->lw.data = wk;
    ev_io_start(wk->loop, &wk->lw);
    ev_init(&wk->pause, srv_pause_cb);
    wk->pause.data = wk;
    ev_signal_init(&wk->sigterm, srv_signal_cb, SIGTERM);
    ev_signal_start(wk->loop, &wk->sigterm);
    ev_signal_init(&wk->sigint, srv_signal_cb, SIGINT);
    ev_signal_start(wk->loop, &wk->sigint);
    ev_run(wk->loop, 0);
    while (wk->conns)
        srv_close(wk->conns);
    ev_io_stop(wk->loop, &wk->lw);
    ev_timer_stop(wk->loop, &wk->pause);
    ev_signal_stop(wk->loop, &wk->sigterm);
    ev_signal_stop(wk->loop, &wk->sigint);
    again_stop(wk->loop, &wk->again);
    *out = wk->st;
    buf_pool_cleanup(&wk->pool);
    ev_loop_destroy(wk->loop);
    free(wk);
    return 0;
}

static void srv_stats_add(struct srv_stats *to, const struct srv_stats *from)
{
#define X(n) to->n += from->n;
    SRV_STAT_LIST(X)
#undef X
}

static int serve_main(const struct opts *o)
{
    struct net_addr a;
    SSL_CTX *ctx = NULL;
    int lfds[MAX_PROCS], fds[MAX_PROCS];
    pid_t pids[MAX_PROCS];
    unsigned n = 0, n_listen = 0;
    int rc = 1;
    struct srv_stats sum, one;
    memset(&sum, 0, sizeof sum);
    if (net_addr_parse(&a, o->listen) == -1) {
        fprintf(stderr, "sstp-bench: bad listen address %s\n", o->listen);
        return 1;
    }
    if (!o->plain) {
        char err[512];
        struct tls_server_opts to = { .cert_file = o->cert, .key_file = o->key };
        if (!(ctx = tls_server_ctx_new(&to, err, sizeof err))) {
            fprintf(stderr, "sstp-bench: %s\n", err);
            return 1;
        }
    }
    /* one socket per worker: the kernel spreads connections (SO_REUSEPORT) */
    for (; n_listen < o->procs; n_listen++) {
        lfds[n_listen] = net_listen(&a, LISTEN_BACKLOG, o->procs > 1);
        if (lfds[n_listen] == -1) {
            fprintf(stderr, "sstp-bench: listen %s: %s\n", o->listen, strerror(errno));
            goto out;
        }
    }
    log_info("ready", "listen=%s tls=%s proxy_in=%s workers=%u", o->listen, o->plain ? "no" : "yes",
             o->proxy_in ? "yes" : "no", o->procs);
    if (o->procs == 1) {
        rc = srv_worker_run(o, ctx, lfds[0], &sum) == 0 ? 0 : 1;
        srv_print(o, &sum, 1);
        goto out;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (; n < o->procs; n++) {
        int p[2];
        if (pipe(p) == -1)
            break;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == -1) {
            close(p[0]);
            close(p[1]);
            break;
        }
        if (pid == 0) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            close(p[0]);
            for (unsigned k = 0; k < n; k++)
                close(fds[k]);
            for (unsigned k = 0; k < n_listen; k++)
                if (k != n)
                    close(lfds[k]);
            char m = MSG_RESULT;
            memset(&one, 0, sizeof one);
            int wrc = srv_worker_run(o, ctx, lfds[n], &one);
            close(lfds[n]);
            if (wrc == 0 && (write_all(p[1], &m, 1) == -1 || write_all(p[1], &one, sizeof one) == -1))
                wrc = -1;
            close(p[1]);
            SSL_CTX_free(ctx);
            _exit(wrc == 0 ? 0 : 1);
        }
        close(p[1]);
        pids[n] = pid;
        fds[n] = p[0];
    }
    if (n == o->procs) {
        int sig = 0;
        sigwait(&set, &sig); /* SIGTERM/SIGINT, or SIGCHLD: a worker died */
        rc = sig == SIGCHLD ? 1 : 0;
    }
    for (unsigned k = 0; k < n; k++)
        kill(pids[k], SIGTERM);
    for (unsigned k = 0; k < n; k++) {
        char m = 0;
        if (read_all(fds[k], &m, 1) == 0 && m == MSG_RESULT && read_all(fds[k], &one, sizeof one) == 0)
            srv_stats_add(&sum, &one);
        else
            rc = 1;
        close(fds[k]);
        int st;
        while (waitpid(pids[k], &st, 0) == -1 && errno == EINTR)
            ;
    }
    srv_print(o, &sum, n);
out:
    for (unsigned k = 0; k < n_listen; k++)
        close(lfds[k]);
    SSL_CTX_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (opts_parse(&o, argc, argv) == -1) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* TLS writes go through write(2) */
    log_setup("sstp-bench", LOG_INFO, LOG_TEXT);
    return o.mode == M_SERVE ? serve_main(&o) : client_main(&o);
}
