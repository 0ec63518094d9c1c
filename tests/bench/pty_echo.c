/* pty_echo.c — a stand-in for pppd under sstp-backend that costs next to
 * nothing, for tests/bench/backend_datapath.sh. sstp-backend starts it as
 * it starts pppd (fd 0 = the pty slave, fd 3 = the plugin socket, see
 * backend/pppd-plugin/plugin-proto.h). It reports AUTH (PAP, no keys: the
 * HLAK is zeros, as sstp-bench's CALL_CONNECTED has it) and, once that is
 * acknowledged, IP_UP; meanwhile it writes back every byte it reads from
 * the pty, in chunks as large as the pty gives. Echoing the HDLC bytes is
 * valid HDLC, so each frame the backend encodes comes back to its decoder:
 * the benchmark measures both directions of the backend's data path and
 * nothing of PPP. On SIGTERM/SIGHUP or the pty closing it prints
 * "pty_echo bytes=N reads=R writes=W" to stderr and exits 0.
 *
 *   cc -O2 -I. -o pty_echo tests/bench/pty_echo.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/pppd-plugin/plugin-proto.h"

#define PTY_FD    0
#define PLUGIN_FD 3

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int plugin_send(const struct sstp_plugin_msg *m)
{
    uint8_t out[SSTP_PLUGIN_MSG_MAX];
    int n = sstp_plugin_msg_encode(out, sizeof out, m);
    return n > 0 && write(PLUGIN_FD, out, (size_t)n) == n ? 0 : -1;
}

/* Reads one message from the plugin socket: the type it acknowledges, 0 for
 * anything else, -1 when the socket is gone. */
static int plugin_read_ack(void)
{
    uint8_t in[SSTP_PLUGIN_MSG_MAX];
    struct sstp_plugin_msg m;
    ssize_t n = read(PLUGIN_FD, in, sizeof in);
    if (n <= 0)
        return n == -1 && errno == EINTR ? 0 : -1;
    if (sstp_plugin_msg_decode(&m, in, (size_t)n) != 0 || m.type != SSTP_PLUGIN_ACK)
        return 0;
    return m.acked;
}

int main(void)
{
    static uint8_t buf[1 << 16];
    struct sigaction sa = { .sa_handler = on_signal };
    unsigned long long bytes = 0, reads = 0, writes = 0;
    struct sstp_plugin_msg auth = { .type = SSTP_PLUGIN_AUTH, .auth = SSTP_PLUGIN_AUTH_PAP };
    struct sstp_plugin_msg ip_up = { .type = SSTP_PLUGIN_IP_UP,
                                     .ip_local = htonl(0x0a000001), .ip_remote = htonl(0x0a000002) };
    bool plugin_open = true;

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    snprintf(auth.user, sizeof auth.user, "bench");
    /* pppd speaks first on its tty (LCP); the backend holds its frames until
     * then. A lone HDLC flag says "tty ready" and carries no frame. */
    if (write(PTY_FD, "\x7e", 1) != 1) {
        perror("pty_echo: pty");
        return 1;
    }
    if (plugin_send(&auth) == -1) {
        perror("pty_echo: AUTH");
        return 1;
    }
    while (!stop) {
        struct pollfd p[2] = { { .fd = PTY_FD, .events = POLLIN },
                               { .fd = PLUGIN_FD, .events = POLLIN } };
        if (poll(p, plugin_open ? 2 : 1, -1) == -1) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (plugin_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            int acked = plugin_read_ack();
            if (acked == -1)
                plugin_open = false;
            else if (acked == SSTP_PLUGIN_AUTH && plugin_send(&ip_up) == -1)
                plugin_open = false;
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(PTY_FD, buf, sizeof buf);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        reads++;
        for (ssize_t off = 0; off < n && !stop;) {
            ssize_t w = write(PTY_FD, buf + off, (size_t)(n - off));
            if (w == -1 && errno == EINTR)
                continue;
            if (w <= 0)
                goto out;
            writes++;
            off += w;
            bytes += (unsigned long long)w;
        }
    }
out:
    fprintf(stderr, "pty_echo bytes=%llu reads=%llu writes=%llu\n", bytes, reads, writes);
    return 0;
}
