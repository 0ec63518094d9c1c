/* pppd.c — spawn pppd on a raw pty with the plugin's socket as fd 3. */
#include "backend/pppd.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "backend/pppd-plugin/plugin-proto.h"

extern char **environ;

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 || fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
        return -1;
    return 0;
}

int pppd_spawn(const struct pppd_spawn_args *a, struct pppd_child *out, char *err, size_t err_len)
{
    int master = -1, slave = -1, sp[2] = { -1, -1 };
    char slave_name[64], env_sid[128], env_client[128], env_corr[128];
    struct termios tio;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_init = false, attr_init = false;
    sigset_t none, defaults;
    const char *what = "openpty";

    if (openpty(&master, &slave, slave_name, NULL, NULL) == -1)
        goto fail;
    /* raw before anyone writes: no echo, no line editing, 8 bit clean */
    what = "tcsetattr";
    if (tcgetattr(slave, &tio) == -1)
        goto fail;
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL;
    if (tcsetattr(slave, TCSANOW, &tio) == -1)
        goto fail;
    what = "socketpair";
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
        goto fail;
    what = "fcntl";
    if (set_flags(master) == -1 || set_flags(sp[0]) == -1)
        goto fail;

    what = "posix_spawn setup";
    if ((errno = posix_spawn_file_actions_init(&fa)) != 0)
        goto fail;
    fa_init = true;
    /* fd 0 is the slave so it stays open for pppd's whole life (the master
     * reads EIO once pppd is gone); pppd itself opens it by name. */
    if ((errno = posix_spawn_file_actions_adddup2(&fa, slave, 0)) != 0 ||
        (errno = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) != 0 ||
        (errno = posix_spawn_file_actions_adddup2(&fa, sp[1], PPPD_PLUGIN_FD)) != 0 ||
        (errno = posix_spawn_file_actions_addclosefrom_np(&fa, PPPD_PLUGIN_FD + 1)) != 0)
        goto fail;
    if ((errno = posix_spawnattr_init(&attr)) != 0)
        goto fail;
    attr_init = true;
    /* libev may block signals and we ignore SIGPIPE: pppd must start clean */
    sigemptyset(&none);
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    if ((errno = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
        (errno = posix_spawnattr_setsigdefault(&attr, &defaults)) != 0 ||
        (errno = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                     POSIX_SPAWN_SETSID)) != 0)
        goto fail;

    char fd_arg[8];
    snprintf(fd_arg, sizeof fd_arg, "%d", PPPD_PLUGIN_FD);
    /* our plugin before the options file: loaded ahead of a radius.so the
     * file names, it gives radius.so its Acct-Session-Id (sstp-lb-plugin.c) */
    const char *common[] = {
        a->path, slave_name, "nodetach", "logfd", "2",
        "plugin", a->plugin, SSTP_PLUGIN_FD_OPTION, fd_arg,
        "file", a->options_file,
    };
    const char *argv[24] = { NULL }; /* the rest stay NULL: the terminator */
    const char *envp[5] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin" };
    size_t n = 0;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        argv[n++] = common[i];
    if (a->pooled) {
        /* no session yet: its values come in START (plugin-proto.h) */
        argv[n++] = SSTP_PLUGIN_POOL_OPTION;
    } else {
        /* pppd 2.4.9 builds its scripts' environment from scratch: `set` is
         * the way a variable reaches ip-up/ip-down (the values were checked
         * by the session: tokens and addresses, nothing a shell reads as
         * syntax). A pooled pppd gets them through the plugin's
         * script_setenv when START comes. */
        snprintf(env_sid, sizeof env_sid, "SSTP_SESSION_ID=%s", a->session_id);
        snprintf(env_client, sizeof env_client, "SSTP_CLIENT_ADDR=%s", a->client_ip);
        snprintf(env_corr, sizeof env_corr, "SSTP_CORRELATION_ID=%s",
                 a->correlation_id ? a->correlation_id : "");
        const char *per_session[] = {
            "remotenumber", a->client_ip,
            "set", env_sid, "set", env_client, "set", env_corr,
            "ipparam", a->session_id,
        };
        _Static_assert(sizeof common / sizeof common[0] + sizeof per_session / sizeof per_session[0] <
                           sizeof argv / sizeof argv[0],
                       "argv holds every argument and its NULL terminator");
        for (size_t i = 0; i < sizeof per_session / sizeof per_session[0]; i++)
            argv[n++] = per_session[i];
        envp[1] = env_sid;
        envp[2] = env_client;
        envp[3] = env_corr;
    }

    what = a->path;
    if ((errno = posix_spawn(&out->pid, a->path, &fa, &attr, (char *const *)argv,
                             (char *const *)envp)) != 0)
        goto fail;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(slave);
    close(sp[1]);
    out->pty_fd = master;
    out->plugin_fd = sp[0];
    return 0;

fail:
    snprintf(err, err_len, "%s: %s", what, strerror(errno));
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    int fds[] = { master, slave, sp[0], sp[1] };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] != -1)
            close(fds[i]);
    return -1;
}
