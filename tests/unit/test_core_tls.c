/* test_core_tls.c — unit tests of certificate expiry (core/tls.c): notAfter
 * read as unix seconds, the warning window (inside, outside, off, already
 * expired), the subject kept to one printable line, and the PEM file form
 * used by --check-config. Certificates are made here with OpenSSL, signed
 * by their own key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tls.h"

#define DAY 86400

/* A self-signed certificate with subject CN cn valid until now + secs. */
static X509 *make_cert(const char *cn, time_t now, long secs)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(k);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), -1, 0, &now));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, secs, &now));
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    EVP_PKEY_free(k);
    return x;
}

static void test_not_after(void **state)
{
    (void)state;
    time_t now = 1800000000; /* 2027-01-15 */
    X509 *x = make_cert("vpn.example.test", now, 5 * DAY);
    int64_t na = 0;
    assert_int_equal(tls_not_after(x, &na), 0);
    assert_int_equal(na, (int64_t)now + 5 * DAY);
    X509_free(x);
}

static void test_warn_window(void **state)
{
    (void)state;
    time_t now = time(NULL);
    X509 *soon = make_cert("soon", now, 5 * DAY);
    X509 *far = make_cert("far", now, 400 * DAY);
    X509 *gone = make_cert("gone", now, -DAY);
    assert_true(tls_expiry_warn("soon.pem", soon, now, 21));
    assert_false(tls_expiry_warn("soon.pem", soon, now, 3));   /* outside a 3-day window */
    assert_false(tls_expiry_warn("soon.pem", soon, now, 0));   /* warnings off */
    assert_true(tls_expiry_warn("soon.pem", soon, now + 4 * DAY, 3)); /* the window reached */
    assert_false(tls_expiry_warn("far.pem", far, now, 21));
    assert_true(tls_expiry_warn("far.pem", far, now + 380 * DAY, 21));
    assert_true(tls_expiry_warn("gone.pem", gone, now, 21));   /* expired: an error line */
    X509_free(soon);
    X509_free(far);
    X509_free(gone);
}

static void test_subject_cn(void **state)
{
    (void)state;
    char out[64];
    X509 *x = make_cert("a \"quoted\"\nname", time(NULL), DAY);
    tls_subject_cn(x, out, sizeof out);
    assert_string_equal(out, "a__quoted__name"); /* one line, no quote to break key="value" */
    tls_subject_cn(x, out, 4);
    assert_string_equal(out, "a__");
    X509_free(x);
    X509 *none = X509_new();
    tls_subject_cn(none, out, sizeof out);
    assert_string_equal(out, "-");
    X509_free(none);
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_core_tls_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd != -1);
    FILE *f = fdopen(fd, "w");
    time_t now = time(NULL);
    X509 *x = make_cert("soon", now, 5 * DAY);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    assert_true(tls_file_expiry_warn(path, now, 21));
    assert_false(tls_file_expiry_warn(path, now, 2));
    unlink(path);
    assert_false(tls_file_expiry_warn(path, now, 21)); /* unreadable: loading reports it */
    X509_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_after),
        cmocka_unit_test(test_warn_window),
        cmocka_unit_test(test_subject_cn),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
