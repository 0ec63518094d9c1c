/* pppd.h — start one pppd for a session on the slave of a fresh pty.
 *
 * No shell in between: pppd is posix_spawn()ed with its argument vector.
 * The pty slave is put in raw mode before pppd or anyone writes to it (else
 * the line discipline would echo our bytes back), and the session keeps only
 * the master, non-blocking and close-on-exec. pppd's plugin gets one end of
 * a SOCK_SEQPACKET socketpair as fd 3 (`sstp-lb-fd 3`). */
#ifndef SSTP_LB_BACKEND_PPPD_H
#define SSTP_LB_BACKEND_PPPD_H

#include <stddef.h>
#include <sys/types.h>

#define PPPD_PLUGIN_FD 3 /* the fd number the plugin's end gets in pppd */
#define PPPD_EXIT_PEER_AUTH_FAILED 11 /* pppd(8) EXIT STATUS: the peer failed to authenticate */

struct pppd_spawn_args {
    const char *path;          /* pppd binary */
    const char *options_file;  /* `file <options_file>` */
    const char *plugin;        /* our plugin .so */
    const char *session_id;    /* ipparam and SSTP_SESSION_ID */
    const char *client_ip;     /* remotenumber and SSTP_CLIENT_ADDR */
    const char *correlation_id; /* SSTP_CORRELATION_ID; may be empty */
    int pooled;                /* 1: no session yet (`sstp-lb-pool`), the three above unused */
};

struct pppd_child {
    pid_t pid;
    int pty_fd;     /* master side, non-blocking, close-on-exec */
    int plugin_fd;  /* our end of the plugin socketpair, non-blocking, close-on-exec */
};

/* pppd_spawn starts pppd. Returns 0 with *out filled, or -1 with a reason
 * in err (nothing left open). Does not wait for pppd. */
int pppd_spawn(const struct pppd_spawn_args *a, struct pppd_child *out, char *err, size_t err_len);

#endif
