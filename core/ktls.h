/* ktls.h — kernel TLS (Linux tls.ko) as sstp-lb uses it, through
 * OpenSSL 3's SSL_OP_ENABLE_KTLS.
 *
 * OpenSSL hands the record keys to the kernel at the end of the handshake
 * when the kernel takes the cipher. OpenSSL 3.0 does it for sending with
 * TLS 1.2 and 1.3, for receiving with TLS 1.2 only. With both ways in the
 * kernel the relay needs no OpenSSL at all: core/io.c frees the SSL
 * (io_ktls_release) and reads records with recvmsg, seeing each record's
 * type, so alerts and handshake records still end the session cleanly.
 *
 * Two things the kernel (6.1) cannot do, checked by core/io.c:
 *   - a TLS 1.3 KeyUpdate asking for our update: OpenSSL 3.0 would send
 *     its KeyUpdate and go on under the old key in the kernel (the peer
 *     sees bad_record_mac), so the session is closed instead;
 *   - renegotiation (a handshake record after the handshake): refused,
 *     as OpenSSL refuses it (SSL_OP_NO_RENEGOTIATION). */
#ifndef SSTP_LB_CORE_KTLS_H
#define SSTP_LB_CORE_KTLS_H

#include <openssl/ssl.h>
#include <stdbool.h>

/* tls.ktls: off; auto = where the kernel has it (else user space, one log
 * line); on = the daemon refuses to start without it. */
enum ktls_mode { KTLS_OFF = 0, KTLS_AUTO = 1, KTLS_ON = 2 };

/* Names in enum order, NULL-terminated (config choices). */
extern const char *const ktls_mode_names[];

/* ktls_kernel_ready says whether the kernel has the "tls" TCP upper layer
 * (asking for it on a fresh socket loads tls.ko where we may). */
bool ktls_kernel_ready(void);

/* ktls_ctx_enable lets SSLs made from ctx hand their keys to the kernel. */
void ktls_ctx_enable(SSL_CTX *ctx);

/* The TLS record types (RFC 8446 5.1) the relay tells apart. */
#define KTLS_REC_ALERT 21
#define KTLS_REC_HANDSHAKE 22
#define KTLS_REC_DATA 23

#endif
