/* main.c — sstp-backend: command line, configuration, and the event loop.
 * Everything else lives where tests reach it (server.c, session*.c). */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/config.h"
#include "backend/server.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/tls.h"
#include "core/version.h"


static void usage(FILE *out)
{
    fprintf(out,
            "usage: sstp-backend [-c FILE] [--check-config] [--version] [--help]\n"
            "\n"
            "SSTP server that hosts one pppd per session, reached directly over TLS\n"
            "or through sstp-proxy (PROXY protocol, plain TCP or mTLS).\n"
            "\n"
            "  -c, --config FILE   configuration file (default /etc/sstp-lb/sstp-backend.conf)\n"
            "      --check-config  read and check the configuration, print the first\n"
            "                      problem as file:line, exit 0 if it is valid\n"
            "      --version       print the version\n"
            "  -h, --help          this text, then every configuration option\n"
            "\n"
            "Runs in the foreground and logs to stderr. SIGTERM/SIGINT: every session gets\n"
            "CALL_DISCONNECT, pppd is stopped, then exit. SIGHUP: log the counters.\n"
            "\n"
            "Configuration options (INI):\n\n");
    cfg_print_help(be_config_table, be_config_table_len, out);
}

/* Options read under an old name: one warning each, once logging is set up. */
static void warn_deprecated(const struct be_config *cfg)
{
    if (cfg->admin_old_name_used)
        log_warn("config_deprecated", "option=backend.admin use=admin.address%s",
                 cfg->admin_old_name && cfg->admin_old_name[0] ? " msg=\"both set: admin.address wins\"" : "");
}

int main(int argc, char **argv)
{
    struct daemon_cmdline cl = { "/etc/sstp-lb/sstp-backend.conf", false };
    int done = daemon_cmdline_parse(&cl, argc, argv, "sstp-backend", usage);
    if (done != -1)
        return done;
    const char *path = cl.config;
    bool check_only = cl.check_only;

    struct be_config cfg;
    char err[512];
    memset(&cfg, 0, sizeof cfg);
    if (be_config_load(&cfg, path, err, sizeof err) == -1) {
        fprintf(stderr, "sstp-backend: %s\n", err);
        be_config_free(&cfg);
        return 1;
    }
    if (check_only) {
        /* a certificate about to expire is a warning, not an invalid config */
        log_setup("sstp-backend", LOG_WARN, (enum log_format)cfg.log_format);
        warn_deprecated(&cfg);
        bool expiring = cfg.cert && cfg.cert[0] &&
                        tls_file_expiry_warn(cfg.cert, time(NULL), cfg.expiry_warn_days);
        printf("%s: ok%s\n", path, expiring ? " (with certificate warnings)" : "");
        be_config_free(&cfg);
        return 0;
    }
    log_setup("sstp-backend", (enum log_level)cfg.log_level, (enum log_format)cfg.log_format);
    warn_deprecated(&cfg);
    if (access(cfg.pppd_path, X_OK) == -1)
        log_error("pppd_missing", "path=%s msg=sessions_will_fail", cfg.pppd_path);
    if (access("/dev/ppp", R_OK | W_OK) == -1)
        log_warn("no_kernel_ppp", "msg=\"/dev/ppp is missing or not accessible: this kernel has no "
                 "PPP support (or the ppp_generic module is not loaded), so pppd will fail and "
                 "every session will end right after CALL_CONNECT_ACK\"");

    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    struct be_server srv;
    int rc = 1;
    if (be_server_start(&srv, loop, &cfg) == 0) {
        log_info("ready", "id=%s version=%s", cfg.id, SSTP_LB_VERSION);
        ev_run(loop, 0);
        be_server_log_stats(&srv);
        rc = 0;
    }
    be_server_cleanup(&srv);
    be_config_free(&cfg);
    ev_loop_destroy(loop);
    log_info("exit", "status=%d", rc);
    return rc;
}
