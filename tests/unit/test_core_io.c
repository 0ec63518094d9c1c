/* test_core_io.c — unit tests of core/io.c over socketpairs: plain and TLS
 * reads report `dry` exactly when the socket was left empty and nothing
 * waits inside OpenSSL (so the relay can skip the read that would only say
 * EAGAIN), EOF and EAGAIN clear it, and OpenSSL's read BIO keeps no pointer
 * to the io between calls. The TLS pair uses a throwaway P-256 key and a
 * self-signed certificate made in memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/io.h"

static void nonblocking_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(sv[i], F_SETFL, O_NONBLOCK), 0);
}

static void test_plain_dry(void **state)
{
    (void)state;
    int sv[2];
    nonblocking_pair(sv);
    struct io io = { .fd = sv[0] };
    uint8_t buf[64];
    /* less than asked for: the socket is empty now */
    assert_int_equal(write(sv[1], "hello", 5), 5);
    assert_int_equal(io_read(&io, buf, sizeof buf), 5);
    assert_true(io.dry);
    assert_int_equal(io_read(&io, buf, sizeof buf), IO_AGAIN);
    assert_false(io.dry);
    assert_int_equal(io.want, IO_WANT_READ);
    /* exactly as much as asked for: more may be there */
    uint8_t big[100];
    memset(big, 'x', sizeof big);
    assert_int_equal(write(sv[1], big, sizeof big), (ssize_t)sizeof big);
    assert_int_equal(io_read(&io, buf, sizeof buf), (ssize_t)sizeof buf);
    assert_false(io.dry);
    assert_int_equal(io_read(&io, buf, sizeof buf), (ssize_t)(sizeof big - sizeof buf));
    assert_true(io.dry);
    /* EOF */
    close(sv[1]);
    assert_int_equal(io_read(&io, buf, sizeof buf), IO_EOF);
    assert_false(io.dry);
    close(sv[0]);
}

/* A server context with a fresh P-256 key and a self-signed certificate. */
static SSL_CTX *server_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"io-test",
                                                -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, n), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

struct tls_pair {
    int sv[2];
    SSL_CTX *sctx, *cctx;
    struct io srv, cli;
};

static void tls_pair_open(struct tls_pair *p, int max_version)
{
    nonblocking_pair(p->sv);
    p->sctx = server_ctx();
    p->cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(p->cctx);
    SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);
    if (max_version)
        assert_int_equal(SSL_CTX_set_max_proto_version(p->cctx, max_version), 1);
    SSL_CTX_set_read_ahead(p->cctx, 1); /* as sstp-proxy reads its clients */
    SSL_CTX_set_mode(p->cctx, SSL_MODE_RELEASE_BUFFERS);
    p->srv = (struct io){ .fd = p->sv[0], .ssl = SSL_new(p->sctx) };
    p->cli = (struct io){ .fd = p->sv[1], .ssl = SSL_new(p->cctx) };
    assert_non_null(p->srv.ssl);
    assert_non_null(p->cli.ssl);
    assert_int_equal(SSL_set_fd(p->srv.ssl, p->sv[0]), 1);
    assert_int_equal(SSL_set_fd(p->cli.ssl, p->sv[1]), 1);
    SSL_set_accept_state(p->srv.ssl);
    SSL_set_connect_state(p->cli.ssl);
    int s = 0, c = 0;
    for (int i = 0; i < 100 && (s != 1 || c != 1); i++) {
        if (c != 1)
            c = io_connect(&p->cli);
        if (s != 1)
            s = io_accept(&p->srv);
        assert_true(c == 1 || c == IO_AGAIN);
        assert_true(s == 1 || s == IO_AGAIN);
    }
    assert_int_equal(s, 1);
    assert_int_equal(c, 1);
    /* TLS 1.3: the server's session ticket is still unread; drain it */
    uint8_t b[16];
    assert_int_equal(io_read(&p->cli, b, sizeof b), IO_AGAIN);
}

static void tls_pair_close(struct tls_pair *p)
{
    io_close(&p->srv);
    io_close(&p->cli);
    SSL_CTX_free(p->sctx);
    SSL_CTX_free(p->cctx);
}

static void tls_dry(int max_version)
{
    struct tls_pair p;
    tls_pair_open(&p, max_version);
    uint8_t buf[256];
    /* one record, read whole: the socket and OpenSSL are empty */
    assert_int_equal(io_write(&p.srv, "ping-1", 6), 6);
    assert_int_equal(io_read(&p.cli, buf, sizeof buf), 6);
    assert_true(p.cli.dry);
    assert_null(BIO_get_callback_arg(SSL_get_rbio(p.cli.ssl))); /* no pointer kept */
    assert_int_equal(io_read(&p.cli, buf, sizeof buf), IO_AGAIN);
    assert_false(p.cli.dry);
    /* two records read ahead at once: the first read leaves one inside */
    assert_int_equal(io_write(&p.srv, "rec-a", 5), 5);
    assert_int_equal(io_write(&p.srv, "rec-bb", 6), 6);
    assert_int_equal(io_read(&p.cli, buf, sizeof buf), 5);
    assert_false(p.cli.dry);
    assert_memory_equal(buf, "rec-a", 5);
    assert_int_equal(io_read(&p.cli, buf, sizeof buf), 6);
    assert_true(p.cli.dry);
    /* a record read in part: the rest is inside OpenSSL */
    assert_int_equal(io_write(&p.srv, "0123456789", 10), 10);
    assert_int_equal(io_read(&p.cli, buf, 4), 4);
    assert_false(p.cli.dry);
    assert_int_equal(io_read(&p.cli, buf, sizeof buf), 6);
    assert_true(p.cli.dry);
    /* close_notify: EOF, not dry */
    io_close(&p.srv);
    assert_int_equal(io_read(&p.cli, buf, sizeof buf), IO_EOF);
    assert_false(p.cli.dry);
    io_close(&p.cli);
    SSL_CTX_free(p.sctx);
    SSL_CTX_free(p.cctx);
}

static void test_tls13_dry(void **state)
{
    (void)state;
    tls_dry(0);
}

static void test_tls12_dry(void **state)
{
    (void)state;
    tls_dry(TLS1_2_VERSION);
}

/* With the kernel sending (ktls_tx), a KeyUpdate asking for ours ends the
 * read before anything is written under the old key; one that asks nothing
 * of us is read through. */
static void test_ktls_key_update_refused(void **state)
{
    (void)state;
    struct tls_pair p;
    tls_pair_open(&p, 0);
    uint8_t buf[64];
    p.srv.ktls_tx = true; /* what io_ktls_note sets once the kernel took the keys */
    assert_int_equal(SSL_key_update(p.cli.ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    assert_int_equal(io_write(&p.cli, "after-1", 7), 7);
    assert_int_equal(io_read(&p.srv, buf, sizeof buf), 7);
    assert_int_equal(p.srv.refused, IO_REF_NONE);
    assert_int_equal(SSL_key_update(p.cli.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    assert_int_equal(io_write(&p.cli, "after-2", 7), 7);
    assert_int_equal(io_read(&p.srv, buf, sizeof buf), IO_ERR);
    assert_int_equal(p.srv.refused, IO_REF_KEY_UPDATE);
    assert_int_equal(io_refusal_rc(p.srv.refused), SSTP_E_TLS_KEY_UPDATE);
    p.srv.ktls_tx = false;
    tls_pair_close(&p);
}

/* Each refusal of the kernel reader has its own return code. */
static void test_refusal_rcs(void **state)
{
    (void)state;
    assert_int_equal(io_refusal_rc(IO_REF_NONE), SSTP_OK);
    assert_int_equal(io_refusal_rc(IO_REF_KEY_UPDATE), SSTP_E_TLS_KEY_UPDATE);
    assert_int_equal(io_refusal_rc(IO_REF_HANDSHAKE), SSTP_E_TLS_RENEGOTIATION);
    assert_int_equal(io_refusal_rc(IO_REF_ALERT), SSTP_E_TLS_ALERT);
    assert_int_equal(io_refusal_rc(IO_REF_RECORD), SSTP_E_TLS_RECORD);
    assert_int_equal(io_refusal_rc(99), SSTP_OK);
}

static void test_tls_big_records(void **state)
{
    (void)state;
    struct tls_pair p;
    tls_pair_open(&p, 0);
    /* more than the socket pair holds in flight is not needed: 3 full records */
    static uint8_t out[3 * 16384], in[sizeof out];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (uint8_t)(i * 7);
    size_t sent = 0, got = 0;
    bool seen_not_dry = false;
    for (int guard = 0; guard < 10000 && got < sizeof out; guard++) {
        if (sent < sizeof out) {
            ssize_t n = io_write(&p.srv, out + sent, sizeof out - sent);
            assert_true(n > 0 || n == IO_AGAIN);
            if (n > 0)
                sent += (size_t)n;
        }
        ssize_t n = io_read(&p.cli, in + got, sizeof in - got);
        assert_true(n > 0 || n == IO_AGAIN);
        if (n > 0) {
            got += (size_t)n;
            if (!p.cli.dry)
                seen_not_dry = true;
        }
    }
    assert_int_equal(got, sizeof out);
    assert_memory_equal(in, out, sizeof out);
    assert_true(seen_not_dry); /* full reads of read-ahead data are never called dry */
    tls_pair_close(&p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a close_notify to a closed peer, as in the daemons */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_dry),
        cmocka_unit_test(test_tls13_dry),
        cmocka_unit_test(test_tls12_dry),
        cmocka_unit_test(test_tls_big_records),
        cmocka_unit_test(test_ktls_key_update_refused),
        cmocka_unit_test(test_refusal_rcs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
