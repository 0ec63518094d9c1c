/* ssl_mem.c — heap bytes OpenSSL keeps per idle TLS connection, with the
 * contexts sstp-proxy builds (core/tls.c, plus what proxy/tls_ctx.c adds:
 * read-ahead, no session cache, tickets), and the sizes of the proxy's own
 * per-connection structs. Used by tests/bench/ssl_mem.sh.
 *
 * Every OpenSSL allocation goes through CRYPTO_set_mem_functions with a
 * small header naming the side that made it (the one whose SSL_* call is
 * running), so the two ends of a pair made in one process are counted
 * apart. N pairs over socketpairs: handshake, one small record each way,
 * everything read; then the measured side's live bytes are what an idle
 * relayed session keeps. "heap" adds glibc's chunk overhead (8 bytes and
 * rounding to 16) to what was asked for.
 *
 *   ssl_mem CERT KEY CA CLIENT_CERT CLIENT_KEY [N]
 * prints one line per case: case=... side=... bytes=... heap=... allocs=... */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/tls.h"
#include "proxy/conn.h"
#include "proxy/wstage.h"

enum { SIDE_OTHER = 0, SIDE_MEASURED = 1 };

struct hdr {
    size_t size;
    int side;
    int line;
    int gen;                   /* the run that made it (sites of one run only) */
    const char *file;
    struct hdr *prev, *next;   /* live allocations of the measured side (SSL_MEM_SITES) */
};

static struct hdr live_list = {.prev = &live_list, .next = &live_list};

static int cur_side = SIDE_OTHER;
static int cur_gen;
static long long live_bytes[2], live_heap[2], live_n[2];

static size_t chunk(size_t n) { return (n + 8 + 15) & ~(size_t)15; } /* glibc: 8-byte header, 16 alignment */

static void account(int side, size_t n, int sign)
{
    live_bytes[side] += sign * (long long)n;
    live_heap[side] += sign * (long long)chunk(n);
    live_n[side] += sign;
}

static void *m_malloc(size_t n, const char *file, int line)
{
    (void)file; (void)line;
    struct hdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    h->side = cur_side;
    h->file = file;
    h->line = line;
    h->gen = cur_gen;
    h->next = live_list.next;
    h->prev = &live_list;
    live_list.next->prev = h;
    live_list.next = h;
    account(h->side, n, 1);
    return h + 1;
}

static void m_free(void *p, const char *file, int line)
{
    (void)file; (void)line;
    if (!p)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    account(h->side, h->size, -1);
    h->prev->next = h->next;
    h->next->prev = h->prev;
    free(h);
}

static void *m_realloc(void *p, size_t n, const char *file, int line)
{
    if (!p)
        return m_malloc(n, file, line);
    if (n == 0) {
        m_free(p, file, line);
        return NULL;
    }
    struct hdr *h = (struct hdr *)p - 1;
    int side = h->side;
    size_t old = h->size;
    h->prev->next = h->next;
    h->next->prev = h->prev;
    struct hdr *nh = realloc(h, sizeof *nh + n);
    if (!nh) {
        h->prev->next = h;
        h->next->prev = h;
        return NULL;
    }
    nh->prev->next = nh;
    nh->next->prev = nh;
    account(side, old, -1);
    nh->size = n;
    account(side, n, 1);
    return nh + 1;
}

/* sites: the measured side's live bytes by allocating file:line, biggest first */
static void print_sites(const char *name)
{
    struct site { const char *file; int line; long long bytes, n; } st[512];
    int ns = 0;
    for (struct hdr *h = live_list.next; h != &live_list; h = h->next) {
        if (h->side != SIDE_MEASURED || h->gen != cur_gen)
            continue;
        int i;
        for (i = 0; i < ns; i++)
            if (st[i].line == h->line && st[i].file == h->file)
                break;
        if (i == ns) {
            if (ns == 512)
                continue;
            st[ns++] = (struct site){h->file, h->line, 0, 0};
        }
        st[i].bytes += (long long)h->size;
        st[i].n++;
    }
    for (int k = 0; k < ns && k < 12; k++) {
        int best = k;
        for (int i = k + 1; i < ns; i++)
            if (st[i].bytes > st[best].bytes)
                best = i;
        struct site t = st[k]; st[k] = st[best]; st[best] = t;
        printf("  site case=%s %s:%d bytes=%lld allocs=%lld\n", name, st[k].file ? st[k].file : "?",
               st[k].line, st[k].bytes, st[k].n);
    }
}

static void die(const char *what)
{
    fprintf(stderr, "ssl_mem: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

struct pair {
    SSL *s, *c;   /* server end, client end */
    int fd[2];
    struct px_wstage ws; /* relay: the server's staged write side, as the proxy's in RELAY */
};

/* relay: the server end as sstp-proxy's client side in RELAY: its handshake
 * app data set and cleared (ex_data), its write side the staging BIO */
static int relay;
static BIO_METHOD *wstage_meth;
static struct buf_pool pool;

/* which end of a pair is measured: its calls are tagged SIDE_MEASURED */
static int measure_server;

static int call(struct pair *p, SSL *ssl, int (*fn)(SSL *))
{
    cur_side = ((ssl == p->s) == (measure_server != 0)) ? SIDE_MEASURED : SIDE_OTHER;
    int r = fn(ssl);
    cur_side = SIDE_OTHER;
    return r;
}

static int do_hs(SSL *ssl) { return SSL_do_handshake(ssl); }

static int xfer_len;
static char xfer_buf[512];
static int do_write(SSL *ssl) { return SSL_write(ssl, xfer_buf, xfer_len); }
static int do_read(SSL *ssl)
{
    char b[512];
    int r, got = 0;
    while ((r = SSL_read(ssl, b, sizeof b)) > 0)
        got += r;
    return got;
}

static void pair_open(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx, int release)
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd) == -1)
        die("socketpair");
    for (int i = 0; i < 2; i++)
        fcntl(p->fd[i], F_SETFL, O_NONBLOCK);
    cur_side = measure_server ? SIDE_MEASURED : SIDE_OTHER;
    p->s = SSL_new(sctx);
    cur_side = measure_server ? SIDE_OTHER : SIDE_MEASURED;
    p->c = SSL_new(cctx);
    cur_side = SIDE_OTHER;
    if (!p->s || !p->c)
        die("SSL_new");
    if (!release) /* the "without" case: buffers stay allocated */
        SSL_clear_mode(measure_server ? p->s : p->c, SSL_MODE_RELEASE_BUFFERS);
    SSL_set_tlsext_host_name(p->c, "vpn.example.test"); /* as sstp-bench and sstpc send */
    SSL_set_fd(p->s, p->fd[0]);
    SSL_set_fd(p->c, p->fd[1]);
    SSL_set_accept_state(p->s);
    SSL_set_connect_state(p->c);
    int sd = 0, cd = 0;
    for (int i = 0; i < 100 && !(sd && cd); i++) {
        if (!cd && call(p, p->c, do_hs) == 1)
            cd = 1;
        if (!sd && call(p, p->s, do_hs) == 1)
            sd = 1;
    }
    if (!(sd && cd))
        die("handshake did not finish");
    if (relay) {
        static int hs_data;
        cur_side = SIDE_MEASURED;
        SSL_set_app_data(p->s, &hs_data);
        SSL_set_app_data(p->s, NULL);
        memset(&p->ws, 0, sizeof p->ws);
        if (px_wstage_attach(p->s, wstage_meth, &p->ws, &pool) == -1)
            die("px_wstage_attach");
        cur_side = SIDE_OTHER;
    }
    /* a small record each way (an SSTP echo), everything read: an idle relayed session */
    xfer_len = 100;
    memset(xfer_buf, 'x', sizeof xfer_buf);
    for (int round = 0; round < 2; round++) {
        if (call(p, p->c, do_write) != xfer_len || call(p, p->s, do_write) != xfer_len)
            die("SSL_write");
        if (relay && px_wstage_flush(&p->ws, p->fd[0]) != 0)
            die("px_wstage_flush");
        call(p, p->s, do_read); /* also takes the client's tickets ack / the server's tickets */
        call(p, p->c, do_read);
    }
}

static void pair_close(struct pair *p)
{
    cur_side = measure_server ? SIDE_MEASURED : SIDE_OTHER;
    SSL_free(p->s);
    cur_side = measure_server ? SIDE_OTHER : SIDE_MEASURED;
    SSL_free(p->c);
    cur_side = SIDE_OTHER;
    if (relay)
        px_wstage_cleanup(&p->ws);
    close(p->fd[0]);
    close(p->fd[1]);
}

static void run(const char *name, SSL_CTX *sctx, SSL_CTX *cctx, int server, int release, int n)
{
    measure_server = server;
    struct pair warm;
    pair_open(&warm, sctx, cctx, release); /* lazily built state of the contexts */
    pair_close(&warm);
    struct pair *ps = calloc((size_t)n, sizeof *ps);
    if (!ps)
        die("calloc");
    cur_gen++;
    long long b0 = live_bytes[SIDE_MEASURED], h0 = live_heap[SIDE_MEASURED], n0 = live_n[SIDE_MEASURED];
    for (int i = 0; i < n; i++)
        pair_open(&ps[i], sctx, cctx, release);
    printf("case=%s side=%s release_buffers=%s bytes=%lld heap=%lld allocs=%lld\n", name,
           server ? "server" : "client", release ? "yes" : "no", (live_bytes[SIDE_MEASURED] - b0) / n,
           (live_heap[SIDE_MEASURED] - h0) / n, (live_n[SIDE_MEASURED] - n0) / n);
    const char *sites = getenv("SSL_MEM_SITES");
    if (sites && *sites && release)
        print_sites(name);
    for (int i = 0; i < n; i++)
        pair_close(&ps[i]);
    free(ps);
    printf("  after_free case=%s left_bytes=%lld left_allocs=%lld (all %d freed; per connection)\n", name,
           (live_bytes[SIDE_MEASURED] - b0) / n, (live_n[SIDE_MEASURED] - n0) / n, n);
}

/* proxy/tls_ctx.c picks the certificate's context in a ClientHello callback
 * (SSL_set_SSL_CTX) whenever it is not the first one: done here always */
static SSL_CTX *sni_ctx;
static int hello_cb(SSL *s, int *al, void *arg)
{
    (void)al; (void)arg;
    return sni_ctx && SSL_set_SSL_CTX(s, sni_ctx) ? SSL_CLIENT_HELLO_SUCCESS : SSL_CLIENT_HELLO_ERROR;
}

static void proxy_front_settings(SSL_CTX *ctx)
{
    /* what proxy/tls_ctx.c setup_ctx adds (tickets on, the default) */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: ssl_mem CERT KEY CA CLIENT_CERT CLIENT_KEY [N]\n");
        return 2;
    }
    int n = argc > 6 ? atoi(argv[6]) : 200;
    if (n < 1)
        n = 1;
    if (!CRYPTO_set_mem_functions(m_malloc, m_realloc, m_free))
        die("CRYPTO_set_mem_functions (called too late?)");
    char err[512];
    struct tls_server_opts so = {.cert_file = argv[1], .key_file = argv[2]};
    SSL_CTX *front = tls_server_ctx_new(&so, err, sizeof err);
    /* the client a proxy faces: sstpc/sstp-bench, any verifying TLS client */
    SSL_CTX *cli = tls_client_ctx_new(argv[3], NULL, NULL, err, sizeof err);
    /* mTLS to the backend: the proxy's client context with its certificate,
     * against a backend that requires one (sstp-backend's mtls listener) */
    SSL_CTX *be_ctx = tls_client_ctx_new(argv[3], argv[4], argv[5], err, sizeof err);
    struct tls_server_opts bo = {.cert_file = argv[1], .key_file = argv[2], .client_ca = argv[3]};
    SSL_CTX *be_srv = tls_server_ctx_new(&bo, err, sizeof err);
    if (!front || !cli || !be_ctx || !be_srv)
        die(err);
    proxy_front_settings(front);
    SSL_CTX *front2 = tls_server_ctx_new(&so, err, sizeof err);
    if (!front2)
        die(err);
    proxy_front_settings(front2);
    SSL_CTX_set_read_ahead(be_ctx, 1); /* proxy/tls_ctx.c does the same */

    run("front", front, cli, 1, 1, n);
    run("front", front, cli, 1, 0, n);
    sni_ctx = front2;
    SSL_CTX_set_client_hello_cb(front, hello_cb, NULL);
    run("front_sni_switch", front, cli, 1, 1, n);
    SSL_CTX_set_client_hello_cb(front, NULL, NULL);
    buf_pool_init(&pool, 4);
    if (!(wstage_meth = px_wstage_method_new()))
        die("px_wstage_method_new");
    relay = 1;
    run("front_relay", front, cli, 1, 1, n);
    relay = 0;
    run("backend_mtls", be_srv, be_ctx, 0, 1, n);
    run("backend_mtls", be_srv, be_ctx, 0, 0, n);
    /* a backend that sends no session tickets (the proxy never resumes to a
     * backend); a client cannot refuse them in TLS 1.3 */
    SSL_CTX_set_num_tickets(be_srv, 0);
    run("backend_mtls_no_tickets_sent", be_srv, be_ctx, 0, 1, n);

    printf("struct px_conn=%zu px_hs=%zu (freed on entering RELAY) ev_io=%zu ev_timer=%zu\n",
           sizeof(struct px_conn), sizeof(struct px_hs), sizeof(ev_io), sizeof(ev_timer));
    printf("px_conn heap=%zu\n", (size_t)((sizeof(struct px_conn) + 8 + 15) & ~(size_t)15));
    SSL_CTX_free(front);
    SSL_CTX_free(front2);
    BIO_meth_free(wstage_meth);
    buf_pool_cleanup(&pool);
    SSL_CTX_free(cli);
    SSL_CTX_free(be_ctx);
    SSL_CTX_free(be_srv);
    return 0;
}
