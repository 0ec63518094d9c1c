/* main.c — sstp-proxy: command line and configuration; the master process
 * (master.c) does the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/daemon.h"
#include "core/log.h"
#include "core/version.h"
#include "proxy/config.h"
#include "proxy/master.h"
#include "proxy/tls_ctx.h"


static void usage(FILE *out)
{
    fprintf(out,
            "usage: sstp-proxy [-c FILE] [--check-config] [--version] [--help]\n"
            "\n"
            "TLS front of sstp-lb: terminates the clients' TLS, checks the SSTP request,\n"
            "picks a backend and relays the session to it behind a PROXY v2 header that\n"
            "carries the hashes of the certificate the client was shown.\n"
            "\n"
            "  -c, --config FILE   configuration file (default /etc/sstp-lb/sstp-proxy.conf)\n"
            "      --check-config  read the configuration and load its certificates, print\n"
            "                      the first problem (file:line), exit 0 if it is valid;\n"
            "                      certificates within tls.expiry_warn_days are warned\n"
            "      --version       print the version\n"
            "  -h, --help          this text, then every configuration option\n"
            "\n"
            "Runs in the foreground as a master process and `workers` worker processes,\n"
            "and logs to stderr. SIGHUP: reload the configuration and certificates\n"
            "(established sessions are kept). SIGTERM/SIGINT: stop accepting, let\n"
            "sessions run for session.drain_timeout, then exit.\n"
            "\n"
            "Configuration options (INI). Each can also be set in the environment as\n"
            "SSTP_PROXY_<SECTION>_<NAME> (e.g. SSTP_PROXY_LISTEN_BIND), which replaces\n"
            "what the file says (a whole list, for a repeatable option):\n\n");
    cfg_print_help(px_config_table, px_config_table_len, out);
}

int main(int argc, char **argv)
{
    struct daemon_cmdline cl = { "/etc/sstp-lb/sstp-proxy.conf", false };
    int done = daemon_cmdline_parse(&cl, argc, argv, "sstp-proxy", usage);
    if (done != -1)
        return done;
    const char *path = cl.config;
    bool check_only = cl.check_only;

    char err[512];
    struct px_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "sstp-proxy: out of memory\n");
        return 1;
    }
    if (px_config_load(cfg, path, err, sizeof err) == -1) {
        fprintf(stderr, "sstp-proxy: %s\n", err);
        px_config_free(cfg);
        free(cfg);
        return 1;
    }
    if (check_only) {
        /* certificates, keys, chains, OCSP, CA, CRL and ticket key files too:
         * a reload would fail on them */
        struct px_tls *t = NULL;
        int rc = 0;
        log_setup("sstp-proxy", LOG_WARN, (enum log_format)cfg->log_format);
        if (!(t = px_tls_new(cfg, NULL, 0, err, sizeof err))) {
            fprintf(stderr, "sstp-proxy: %s: %s\n", path, err);
            rc = 1;
        } else {
            /* a certificate about to expire is a warning, not an invalid config */
            size_t expiring = px_tls_expiry(t, NULL, 0, time(NULL), cfg->expiry_warn_days);
            printf("%s: ok%s\n", path, expiring ? " (with certificate warnings)" : "");
        }
        px_tls_unref(t);
        px_config_free(cfg);
        free(cfg);
        return rc;
    }
    log_setup("sstp-proxy", (enum log_level)cfg->log_level, (enum log_format)cfg->log_format);
    log_info("boot", "version=%s config=%s", SSTP_LB_VERSION, path);
    return px_master_main(path, cfg);
}
