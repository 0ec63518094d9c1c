/* options.c — sstp-bench's command line. */
#include "tools/sstp-bench/bench.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/ctrl.h"

const char *const mode_names[] = { "handshake", "bulk", "echo", "idle", "serve" };

void usage(FILE *out)
{
    fprintf(out,
        "usage: sstp-bench --mode MODE --target IP:PORT [options]   (load client)\n"
        "       sstp-bench --serve IP:PORT [options]                (echo target)\n"
        "\n"
        "Client modes (each prints one 'bench key=value ...' line and one '# ...' line):\n"
        "  handshake  new connection each time: TCP + full TLS handshake (no resumption)\n"
        "             + HTTP request + CALL_CONNECT_REQUEST/ACK; handshakes/s and\n"
        "             connect-to-ACK latency p50/p90/p99\n"
        "  bulk       N sessions send data packets as fast as back-pressure allows and\n"
        "             read what the target echoes; Gbit/s each direction (SSTP bytes)\n"
        "  echo       N sessions ping-pong ECHO_REQUEST/ECHO_RESPONSE; RTT p50/p90/p99 in us\n"
        "             (back to back, or paced with --rate)\n"
        "  idle       open N sessions, print 'ready ...' when all are set up, hold them\n"
        "             for the duration; prints how many stayed up (for RSS per session)\n"
        "\n"
        "Client options:\n"
        "  -m, --mode MODE        handshake | bulk | echo | idle\n"
        "  -t, --target IP:PORT   the SSTP server (numeric address); a comma-separated\n"
        "                         list spreads the sessions over several (round robin),\n"
        "                         so no one address:port runs out of client ports\n"
        "  -n, --sessions N       bulk/echo/idle sessions (default 10 / 1 / 100)\n"
        "  -c, --concurrency N    handshake: connections in flight (default %d);\n"
        "                         others: set-ups in flight while opening (default %d)\n"
        "  -d, --duration S       measurement window, or idle hold (default %.0f)\n"
        "  -w, --warmup S         time before the window opens (default %.0f; idle 0)\n"
        "  -s, --size N           bulk: PPP frame bytes per data packet, %d..%d (default %d)\n"
        "  -j, --procs N          spread the sessions over N processes (default 1)\n"
        "      --rate R           echo: R requests per second over all sessions, spread\n"
        "                         evenly (a session still waiting skips its turn); the\n"
        "                         traffic users send, where wake-ups cost (default: none);\n"
        "                         idle: the keepalive ECHO_REQUESTs while holding\n"
        "      --timeout S        per connection, connect to ACK (default %.0f)\n"
        "      --sni NAME         TLS server name (also checked against the certificate)\n"
        "      --host NAME        HTTP Host (default: the SNI, else the target IP)\n"
        "      --tls 1.2|1.3      pin the TLS version (default: negotiate)\n"
        "      --ca FILE          verify the server against this CA (name: --sni, else the IP)\n"
        "      --insecure         do not verify the server certificate\n"
        "      --plain            no TLS (to a plain --serve target)\n"
        "      --proxy-v2         plain: send a PROXY v2 header first (with cert hash TLVs)\n"
        "      --cert FILE        plain: the certificate a TLS front would present; its\n"
        "                         hash goes into CALL_CONNECTED and the PROXY TLVs\n"
        "      --idle-state S     idle: 'connected' (default) or 'ack' (stop after the ACK)\n"
        "\n"
        "Target (--serve) options:\n"
        "      --serve IP:PORT    listen here\n"
        "      --cert FILE        TLS certificate chain (leaf first); with --plain: the\n"
        "                         certificate the front presents, trusted for the binding\n"
        "      --key FILE         TLS private key\n"
        "      --plain            plain TCP (behind a TLS-terminating proxy)\n"
        "      --proxy-in         every connection starts with a PROXY v1/v2 header (with TLS:\n"
        "                         before the handshake, as HAProxy sends it and sstp-proxy\n"
        "                         with proxy_header=before); its sstp-lb cert hash TLVs\n"
        "                         are trusted for the binding\n"
        "      --client-ca FILE   TLS: require a client certificate signed by FILE (mTLS)\n"
        "      --hash-bits N      Hash Protocol Bitmask in the ACK: 1 SHA-1, 2 SHA-256, 3 both\n"
        "                         (default 3)\n"
        "  -j, --procs N          N worker processes on one port (SO_REUSEPORT)\n"
        "The target runs the product's SSTP state machine (sstp/server_fsm.c) with PPP\n"
        "stubbed: 200, CALL_CONNECT_ACK, CALL_CONNECTED checked with a zero HLAK against\n"
        "the certificate hash (PROXY TLVs, else --cert; neither: every binding fails),\n"
        "data packets echoed once connected, ECHO and the MS-SSTP timers as sstp-backend.\n"
        "SIGTERM/SIGINT: print one 'serve key=value ...' line and exit.\n",
        DEF_HS_CONC, DEF_RAMP_CONC, DEF_DURATION_S, DEF_WARMUP_S, MIN_PAYLOAD, SSTP_PPP_MAX_FRAME,
        DEF_PAYLOAD, DEF_TIMEOUT_S);
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= 0.0) || v > 86400.0)
        return -1;
    *out = v;
    return 0;
}

enum { O_SNI = 256, O_HOST, O_TLS, O_CA, O_INSECURE, O_PLAIN, O_PROXY_V2, O_CERT, O_KEY,
       O_SERVE, O_PROXY_IN, O_HASH_BITS, O_TIMEOUT, O_IDLE_STATE, O_RATE,
       O_CLIENT_CA };

int opts_parse(struct opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "mode", required_argument, NULL, 'm' },
        { "target", required_argument, NULL, 't' },
        { "sessions", required_argument, NULL, 'n' },
        { "concurrency", required_argument, NULL, 'c' },
        { "duration", required_argument, NULL, 'd' },
        { "warmup", required_argument, NULL, 'w' },
        { "size", required_argument, NULL, 's' },
        { "procs", required_argument, NULL, 'j' },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "sni", required_argument, NULL, O_SNI },
        { "host", required_argument, NULL, O_HOST },
        { "tls", required_argument, NULL, O_TLS },
        { "ca", required_argument, NULL, O_CA },
        { "insecure", no_argument, NULL, O_INSECURE },
        { "plain", no_argument, NULL, O_PLAIN },
        { "proxy-v2", no_argument, NULL, O_PROXY_V2 },
        { "cert", required_argument, NULL, O_CERT },
        { "key", required_argument, NULL, O_KEY },
        { "serve", required_argument, NULL, O_SERVE },
        { "proxy-in", no_argument, NULL, O_PROXY_IN },
        { "client-ca", required_argument, NULL, O_CLIENT_CA },
        { "hash-bits", required_argument, NULL, O_HASH_BITS },
        { "idle-state", required_argument, NULL, O_IDLE_STATE },
        { "rate", required_argument, NULL, O_RATE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool have_mode = false, have_warmup = false;
    unsigned u;
    int opt;
    memset(o, 0, sizeof *o);
    o->duration = DEF_DURATION_S;
    o->timeout = DEF_TIMEOUT_S;
    o->payload = DEF_PAYLOAD;
    o->procs = 1;
    o->hash_bits = SSTP_HASH_BIT_SHA1 | SSTP_HASH_BIT_SHA256;
    while ((opt = getopt_long(argc, argv, "m:t:n:c:d:w:s:j:h", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (opt) {
        case 'm':
            have_mode = true;
            for (o->mode = M_HANDSHAKE; o->mode < M_SERVE; o->mode++)
                if (strcmp(optarg, mode_names[o->mode]) == 0)
                    break;
            if (o->mode == M_SERVE)
                bad = "--mode";
            break;
        case 't': o->target = optarg; break;
        case 'n': if (parse_uint(optarg, 1, 1000000, &o->sessions)) bad = "--sessions"; break;
        case 'c': if (parse_uint(optarg, 1, 1000000, &o->concurrency)) bad = "--concurrency"; break;
        case 'd': if (parse_secs(optarg, &o->duration)) bad = "--duration"; break;
        case 'w': if (parse_secs(optarg, &o->warmup)) bad = "--warmup"; have_warmup = true; break;
        case 's': if (parse_uint(optarg, MIN_PAYLOAD, SSTP_PPP_MAX_FRAME, &o->payload)) bad = "--size"; break;
        case 'j': if (parse_uint(optarg, 1, MAX_PROCS, &o->procs)) bad = "--procs"; break;
        case O_TIMEOUT: if (parse_secs(optarg, &o->timeout) || o->timeout <= 0) bad = "--timeout"; break;
        case O_SNI: o->sni = optarg; break;
        case O_HOST: o->host = optarg; break;
        case O_TLS:
            if (strcmp(optarg, "1.2") == 0)
                o->tls_ver = TLS1_2_VERSION;
            else if (strcmp(optarg, "1.3") == 0)
                o->tls_ver = TLS1_3_VERSION;
            else
                bad = "--tls";
            break;
        case O_CA: o->ca = optarg; break;
        case O_INSECURE: o->insecure = true; break;
        case O_PLAIN: o->plain = true; break;
        case O_PROXY_V2: o->proxy_v2 = true; break;
        case O_CERT: o->cert = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_SERVE: o->listen = optarg; break;
        case O_PROXY_IN: o->proxy_in = true; break;
        case O_CLIENT_CA: o->client_ca = optarg; break;
        case O_HASH_BITS:
            if (parse_uint(optarg, 1, 3, &u))
                bad = "--hash-bits";
            o->hash_bits = (uint8_t)u;
            break;
        case O_IDLE_STATE:
            if (strcmp(optarg, "ack") == 0)
                o->idle_ack = true;
            else if (strcmp(optarg, "connected") != 0)
                bad = "--idle-state";
            break;
        case O_RATE:
            if (parse_secs(optarg, &o->rate) || o->rate < 1.0)
                bad = "--rate";
            break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
        if (bad) {
            fprintf(stderr, "sstp-bench: bad value for %s: %s\n", bad, optarg);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sstp-bench: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    const char *why = NULL;
    if (o->listen) {
        o->mode = M_SERVE;
        if (have_mode || o->target)
            why = "--serve takes no --mode or --target";
        else if (!o->plain && (!o->cert || !o->key))
            why = "--serve needs --cert and --key, or --plain";
        else if (o->client_ca && o->plain)
            why = "--client-ca needs TLS (no --plain)";
    } else {
        if (!have_mode || !o->target)
            why = "a client needs --mode and --target";
        else if (!o->plain && !o->ca && !o->insecure)
            why = "TLS needs --ca FILE or --insecure";
        else if (o->proxy_v2 && !o->plain)
            why = "--proxy-v2 needs --plain";
        else if (o->rate > 0 && o->mode != M_ECHO && o->mode != M_IDLE)
            why = "--rate is for --mode echo or idle";
        if (!o->sessions)
            o->sessions = o->mode == M_ECHO ? 1 : o->mode == M_BULK ? 10 : 100;
        if (!o->concurrency)
            o->concurrency = o->mode == M_HANDSHAKE ? DEF_HS_CONC : DEF_RAMP_CONC;
        if (!have_warmup)
            o->warmup = o->mode == M_IDLE ? 0.0 : DEF_WARMUP_S;
        if (o->procs > (o->mode == M_HANDSHAKE ? o->concurrency : o->sessions))
            why = "more processes than connections";
    }
    if (why) {
        fprintf(stderr, "sstp-bench: %s (see --help)\n", why);
        return -1;
    }
    return 0;
}

