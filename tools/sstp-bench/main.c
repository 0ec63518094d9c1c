/* sstp-bench — SSTP load client, and the minimal SSTP echo target it measures.
 *
 * Client modes open TLS (or plain) connections and run what an SSTP client
 * runs: the HTTP request, CALL_CONNECT_REQUEST/ACK and CALL_CONNECTED with a
 * crypto binding over the certificate actually received and a zero HLAK (a
 * PAP-like client, MS-SSTP 3.2.5.2.2); then each mode measures one thing:
 * handshakes/s, bulk throughput, echo latency, or sessions held idle.
 * --serve is the reference target: TLS or plain (optionally behind a PROXY
 * header), answers the handshake, echoes data packets and ECHO_REQUEST. It
 * runs no PPP and trusts its peers: for benchmarks on a private host only.
 * One libev loop per process; -j N forks N processes and sums their results. */
#include "tools/sstp-bench/bench.h"

#include <signal.h>

#include "core/log.h"

int main(int argc, char **argv)
{
    struct opts o;
    if (opts_parse(&o, argc, argv) == -1) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* TLS writes go through write(2) */
    log_setup("sstp-bench", LOG_INFO, LOG_TEXT);
    return o.mode == M_SERVE ? serve_main(&o) : client_main(&o);
}
