/* daemon.c — the daemons' shared command line (see daemon.h). */
#include "core/daemon.h"

#include <getopt.h>

#include "core/version.h"

int daemon_cmdline_parse(struct daemon_cmdline *out, int argc, char **argv, const char *prog,
                         void (*usage)(FILE *out))
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, 'C' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': out->config = optarg; break;
        case 'C': out->check_only = true; break;
        case 'V': printf("%s %s\n", prog, SSTP_LB_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}
