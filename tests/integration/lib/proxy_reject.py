#!/usr/bin/env python3
"""proxy_reject.py — every way sstp-proxy turns a connection away, each with
its exact answer (HTTP status, or a close), log line and counter: malformed
and non-SSTP requests, the silent mode, slow clients (handshake and request
timers), PROXY headers from an untrusted source or malformed, and TLS 1.0 /
1.1. Run by tests/integration/proxy_reject.sh.
"""
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

URI = sc.SSTP_URI
CL = "Content-Length: 18446744073709551615"

# (name, head, status, rc): the status the proxy answers and the rc it logs
HTTP_CASES = [
    ("uri", "SSTP_DUPLEX_POST /other/ HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n" % CL, 404, "E_HTTP_URI"),
    ("method", "GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % URI, 405, "E_HTTP_METHOD"),
    ("no_content_length", "SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: h\r\n\r\n" % URI, 411,
     "E_HTTP_NO_CONTENT_LENGTH"),
    ("content_length", "SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n" % URI, 400,
     "E_HTTP_CONTENT_LENGTH"),
    ("chunked", "SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: h\r\n%s\r\nTransfer-Encoding: chunked\r\n\r\n"
     % (URI, CL), 400, "E_HTTP_CONTENT_LENGTH"),
    ("version", "SSTP_DUPLEX_POST %s HTTP/1.0\r\nHost: h\r\n%s\r\n\r\n" % (URI, CL), 505, "E_HTTP_VERSION"),
    ("malformed", "SSTP_DUPLEX_POST %s\r\n\r\n" % URI, 400, "E_HTTP_MALFORMED"),
    ("bare_cr", "SSTP_DUPLEX_POST %s HTTP/1.1\rHost: h\r\n\r\n" % URI, 400, "E_HTTP_MALFORMED"),
    ("no_host", "SSTP_DUPLEX_POST %s HTTP/1.1\r\n%s\r\n\r\n" % (URI, CL), 400, "E_HTTP_NO_HOST"),
    ("dup_host", "SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: a\r\nHost: b\r\n%s\r\n\r\n" % (URI, CL), 400,
     "E_HTTP_DUP_HEADER"),
    ("long_field", "SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n" % (URI, "h" * 300, CL), 400,
     "E_HTTP_FIELD_TOO_LONG"),
    ("head_too_long", "SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: h\r\n%s\r\nX-Pad: %s\r\n\r\n"
     % (URI, CL, "p" * 5000), 400, "E_HTTP_HEAD_TOO_LONG"),
]


def t_http_rejects(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr]))
    for name, head, status, rc in HTTP_CASES:
        c = env.client()
        c.send(head.encode())
        got, hdrs = c.read_http_response()
        check(got == status, "%s: status %r, want %d" % (name, got, status))
        check(hdrs.get("connection") == "close" and hdrs.get("content-length") == "0",
              "%s: headers %r" % (name, hdrs))
        if status == 405:
            check("SSTP_DUPLEX_POST" in hdrs.get("allow", ""), "405 without Allow")
        check(c.read_closed(3), "%s: the connection stays open" % name)
        c.close()
        p.wait_log(r"ev=http_reject .*rc=%s status=%d" % (rc, status))
        p.wait_log(r"ev=close .*term=CR rc=%s" % rc)
    check(len(be.records) == 0, "a rejected request reached a backend")
    _, text = p.admin_get(env.admin, "/metrics")
    counts = {}
    for _, _, _, rc in HTTP_CASES:
        counts[rc] = counts.get(rc, 0) + 1
    for rc, n in counts.items():
        got = pu.metric(text, "sstp_proxy_rejects_total", {"rc": rc})
        check(got == n, "rejects_total{rc=%s} = %r, want %d" % (rc, got, n))


def t_silent_mode(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr], listen={"http_errors": "silent"}))
    c = env.client()
    c.http_request(uri="/nope/")
    check(c.read_closed(3) and c.rbuf == b"", "silent mode answered %r" % c.rbuf)
    p.wait_log(r"ev=close .*term=CR rc=E_HTTP_URI")


def t_slow_clients(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr],
                               listen={"handshake_timeout": "1s", "request_timeout": "1s"}))
    # no TLS at all
    raw = socket.create_connection(("127.0.0.1", env.port), timeout=5)
    t0 = time.monotonic()
    raw.settimeout(4)
    check(raw.recv(10) == b"", "expected a close")
    dt = time.monotonic() - t0
    check(0.8 < dt < 2.5, "handshake timer fired after %.2fs, want ~1s" % dt)
    raw.close()
    # slowloris: TLS, then the head one byte every 0.2 s — the timer is not reset by trickling
    c = env.client()
    head = ("SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n" % (URI, CL)).encode()
    t0 = time.monotonic()
    closed = False
    for i in range(len(head) - 1):
        try:
            c.send(head[i:i + 1])
        except OSError:
            closed = True
            break
        if c.read_closed(0.2):
            closed = True
            break
    dt = time.monotonic() - t0
    check(closed and dt < 2.5, "slowloris not cut at ~1s (%.2fs, closed=%r)" % (dt, closed))
    p.wait_log(r"ev=timeout .*state=HTTP_HEAD")
    p.wait_log(r"ev=close .*term=CR rc=AGAIN")
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_timeouts_total", {"phase": "handshake"}) == 1, "handshake timeouts")
    check(pu.metric(text, "sstp_proxy_timeouts_total", {"phase": "request"}) == 1, "request timeouts")
    check(len(be.records) == 0, "a slow client reached a backend")


def t_untrusted_proxy_source(env):
    be = env.backend()
    port = pu.free_port()
    p = env.proxy(env.sections(["be1 %s" % be.addr],
                               listen={"bind": ["127.0.0.1:%d proxy" % port], "proxy_allow": "10.0.0.0/8"}))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.10 51234 443\r\n")
    raw.settimeout(3)
    try:
        check(raw.recv(10) == b"", "an untrusted source must be closed")
    except ConnectionResetError:
        pass
    raw.close()
    p.wait_log(r"ev=refuse peer=127.0.0.1:\d+ .*reason=untrusted_proxy_source")
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_refused_total", {"reason": "untrusted_proxy_source"}) == 1, "counter")
    # proxy_untrusted = direct: the same source is a plain client, its PROXY header is not honoured
    port2 = pu.free_port()
    env.proxy(env.sections(["be1 %s" % be.addr],
                           listen={"bind": ["127.0.0.1:%d proxy" % port2], "proxy_allow": "10.0.0.0/8",
                                   "proxy_untrusted": "direct"}))
    c = env.session(port=port2)
    pp = be.wait_records(1)[0]["pp"]
    check(pp["src"] == c.sock.getsockname()[:2], "direct client address %r" % (pp["src"],))
    c.close()


def t_bad_proxy_header(env):
    be = env.backend()
    port = pu.free_port()
    p = env.proxy(env.sections(["be1 %s" % be.addr],
                               listen={"bind": ["127.0.0.1:%d proxy" % port], "proxy_allow": "127.0.0.1/32"}))
    cases = [
        (b"PROXY TCP4 203.0.113.7 198.51.100.10 51234\r\n", "E_PP_V1_LINE"),
        (b"PROXY TCP4 203.0.113.07 198.51.100.10 51234 443\r\n", "E_PP_V1_ADDR"),
        (pu.PP2_SIG + b"\x31\x11\x00\x0c" + b"\0" * 12, "E_PP_V2_VERSION"),
        (pu.PP2_SIG + b"\x21\x11\x00\x04" + b"\0" * 4, "E_PP_V2_LEN"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "E_PP_SIGNATURE"),   # TLS with no header
    ]
    for data, rc in cases:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        raw.sendall(data)
        raw.settimeout(3)
        try:
            check(raw.recv(10) == b"", "%s: expected a close" % rc)
        except ConnectionResetError:
            pass
        raw.close()
        p.wait_log(r"ev=proxy_reject .*rc=%s" % rc)
        p.wait_log(r"ev=close .*term=CX rc=%s" % rc)
    _, text = p.admin_get(env.admin, "/metrics")
    for _, rc in cases:
        check(pu.metric(text, "sstp_proxy_rejects_total", {"rc": rc}) == 1, "rejects_total{rc=%s}" % rc)
    check(len(be.records) == 0, "a bad PROXY header reached a backend")


def t_old_tls_refused(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr]))
    for flag in ("-tls1", "-tls1_1"):
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % env.port, flag,
                            "-cipher", "DEFAULT:@SECLEVEL=0", "-servername", "localhost"],
                           input=b"", capture_output=True, timeout=10)
        out = (r.stdout + r.stderr).decode()
        check(r.returncode != 0 and "Cipher is (NONE)" in out and "alert protocol version" in out,
              "%s: not refused with a protocol_version alert:\n%s" % (flag, out[-800:]))
    # the server saw both ClientHellos and refused them itself
    p.wait_log(r"ev=tls_fail .*(unsupported_protocol|wrong_version)", count=2)
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        try:
            sc.SstpClient("127.0.0.1", env.port, cafile=env.cert("ca.crt"), max_version=version)
            check(False, "%s accepted" % version)
        except (ssl.SSLError, OSError):
            pass
    p.wait_log(r"ev=tls_fail", count=4)
    c = env.session(max_version=ssl.TLSVersion.TLSv1_2)   # the floor itself works
    check(c.sock.version() == "TLSv1.2", "TLS 1.2 version %r" % c.sock.version())
    c.close()
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_tls_failures_total") == 4, "TLS failure counter")


CASES = [
    ("http_rejects", t_http_rejects),
    ("silent_mode", t_silent_mode),
    ("slow_clients", t_slow_clients),
    ("untrusted_proxy_source", t_untrusted_proxy_source),
    ("bad_proxy_header", t_bad_proxy_header),
    ("old_tls_refused", t_old_tls_refused),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
