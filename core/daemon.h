/* daemon.h — the command line the daemons share:
 *   -c, --config FILE   --check-config   --version   -h, --help */
#ifndef SSTP_LB_CORE_DAEMON_H
#define SSTP_LB_CORE_DAEMON_H

#include <stdbool.h>
#include <stdio.h>

struct daemon_cmdline {
    const char *config;  /* in: the default path; out: the one to read */
    bool check_only;     /* --check-config */
};

/* daemon_cmdline_parse reads argv. Returns -1 when the daemon should go on,
 * else the exit status to return at once: 0 after --version or --help
 * (printed by `usage` to stdout), 2 on a usage error (usage to stderr). */
int daemon_cmdline_parse(struct daemon_cmdline *out, int argc, char **argv, const char *prog,
                         void (*usage)(FILE *out));

#endif
