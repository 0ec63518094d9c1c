/* bench.h — what the parts of sstp-bench share: options, limits, the
 * results a worker process sends its parent, and the event-loop helpers of
 * both modes. The files: options.c (command line), hist.c (latency
 * histogram), proc.c (worker processes and their pipes), loop.c (event-loop
 * helpers), client.c (the load client), server.c (--serve: the reference
 * target, driving sstp/server_fsm.c), main.c. */
#ifndef SSTP_LB_TOOLS_SSTP_BENCH_BENCH_H
#define SSTP_LB_TOOLS_SSTP_BENCH_BENCH_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/tls.h"
#include "sstp/slice.h"
#include "tools/sstp-bench/hist.h"

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
#define LISTEN_BACKLOG     4096
#define CORR_ID_LEN        38    /* "{8-4-4-4-12}" GUID, MS-DTYP 2.3.4.3 */

/* ---- options (options.c) ---------------------------------------------------- */

enum bench_mode { M_HANDSHAKE, M_BULK, M_ECHO, M_IDLE, M_SERVE };
extern const char *const mode_names[];

struct opts {
    enum bench_mode mode;
    const char *target;      /* client: ip:port */
    const char *listen;      /* serve: ip:port */
    const char *sni, *host, *ca, *cert, *key;
    const char *client_ca;   /* serve: require a client certificate signed by it */
    bool insecure, plain, proxy_v2, proxy_in, idle_ack;
    int tls_ver;             /* 0: negotiate; TLS1_2_VERSION or TLS1_3_VERSION: pinned */
    unsigned sessions, concurrency, procs, payload;
    double duration, warmup, timeout;
    double rate;             /* echo: requests per second over all sessions; 0: back to back */
    uint8_t hash_bits;       /* serve: Hash Protocol Bitmask advertised in the ACK */
};

void usage(FILE *out);
/* opts_parse fills o from argv. 0, or -1 with the reason printed. */
int opts_parse(struct opts *o, int argc, char **argv);

/* ---- results, and passing them from worker processes to the parent (proc.c) */

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
    X(connected) X(binding_fail) X(sstp_err) X(timeouts) X(data_pkts) X(dropped) \
    X(bytes_in) X(bytes_out)

struct srv_stats {
#define X(n) uint64_t n;
    SRV_STAT_LIST(X)
#undef X
};

/* Worker -> parent messages on a pipe: MSG_READY (idle set-up finished,
 * followed by nothing), then MSG_RESULT followed by the result struct. */
#define MSG_READY  'R'
#define MSG_RESULT 'D'

/* share of `total` that process i of n takes */
unsigned share_of(unsigned total, unsigned i, unsigned n);
/* write_all / read_all: all n bytes through a pipe (EINTR retried); 0 or -1. */
int write_all(int fd, const void *p, size_t n);
int read_all(int fd, void *p, size_t n);

/* Worker processes, each with the read end of its pipe to the parent. */
struct procs {
    pid_t pid[MAX_PROCS];
    int fd[MAX_PROCS];
    unsigned n;
};
/* A worker's body: i of n, writing to result_fd. 0 = success (exit 0). */
typedef int (*proc_main_fn)(unsigned i, int result_fd, void *arg);
/* procs_spawn forks n workers (n <= MAX_PROCS); each dies with its parent,
 * closes the pipes of the workers before it, runs run(i, fd, arg) and
 * exits. 0, or -1 when a pipe or fork failed: ps->n were started. */
int procs_spawn(struct procs *ps, unsigned n, proc_main_fn run, void *arg);
/* result_send / result_recv: MSG_RESULT, then the len bytes of res. 0 or -1. */
int result_send(int fd, const void *res, size_t len);
int result_recv(int fd, void *res, size_t len);
/* procs_reap closes the pipes and waits for every worker. 0 when all
 * exited 0, else -1. */
int procs_reap(struct procs *ps);

/* ---- event-loop helpers (loop.c) ---------------------------------------------- */

uint64_t mono_us(void);
/* Hashes of the leaf certificate in a PEM file (a TLS front's certificate). */
int cert_file_hashes(const char *file, struct tls_cert_hashes *out);
/* Gives b room for more bytes and a writer over it; NULL if memory ran out. */
struct sstp_wbuf *out_begin(struct buf_pool *pool, struct buf *b, struct sstp_wbuf *w);
/* watch makes w wait for exactly `events` (0: stopped). */
void watch(struct ev_loop *loop, ev_io *w, int events);

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

void again_init(struct ev_loop *loop, struct again_q *q);
void again_stop(struct ev_loop *loop, struct again_q *q);
/* again_push queues w to run again after the other ready connections. */
void again_push(struct ev_loop *loop, struct again_q *q, struct again_link *l, ev_io *w);
void again_remove(struct again_q *q, struct again_link *l);

/* ---- the modes ---------------------------------------------------------------- */

int client_main(const struct opts *o);
int serve_main(const struct opts *o);

#endif
