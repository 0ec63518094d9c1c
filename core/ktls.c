/* ktls.c — kernel TLS availability and OpenSSL context set-up (ktls.h). */
#include "core/ktls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

const char *const ktls_mode_names[] = { "off", "auto", "on", NULL };

bool ktls_kernel_ready(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1)
        return false;
    /* The kernel looks the name up (and may load tls.ko) before it checks
     * the socket: ENOENT means no such layer, anything else (ENOTCONN on
     * this unconnected socket) means it is there. */
    int r = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls" - 1);
    int e = errno;
    close(fd);
    return r == 0 || e != ENOENT;
}

void ktls_ctx_enable(SSL_CTX *ctx)
{
    SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
}
