#!/usr/bin/env python3
"""proxy_backends.py — sstp-proxy's backend choice and connection: a backend
that refuses, closes before answering or stays silent is marked down and the
session goes to the next one (one whose TCP connect never completes times
out as the backend's fault, one that took the connection but does not answer
as slow); when every backend is down, probes get 503 and
sessions a 503; retries are bounded; TLS to a backend verifies it and
presents our certificate (mTLS); the two policies spread sessions as they
promise. Run by tests/integration/proxy_backends.sh.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

URI = sc.SSTP_URI


def dead_addr():
    return "127.0.0.1:%d" % pu.free_port()   # nothing listens there


def probe(env):
    c = env.client()
    c.send(("HEAD %s HTTP/1.1\r\nHost: probe\r\n\r\n" % URI).encode())
    status, _ = c.read_http_response()
    c.close()
    return status


def t_dead_backend_skipped(env):
    be = env.backend()
    p = env.proxy(env.sections(["dead %s" % dead_addr(), "ok %s" % be.addr]))  # wrr: dead is first
    c = env.session()
    check(len(be.wait_records(1)) == 1, "the session did not reach the live backend")
    p.wait_log(r"(?m)ev=backend_fail sid=\w+ backend=dead attempt=1 cause=backend reason=Connection_refused$")
    p.wait_log(r"ev=backend_down backend=dead")
    p.wait_log(r"ev=start .*backend=ok")
    c.close()
    for _ in range(3):                                   # dead is skipped while down: no new failures
        env.session().close()
    check(len(p.lines("backend_fail")) == 1, "a down backend was tried again: %r" % p.lines("backend_fail"))
    time.sleep(1.2)
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_backend_up", {"backend": "dead"}) == 0, "dead must show down")
    check(pu.metric(text, "sstp_proxy_backend_up", {"backend": "ok"}) == 1, "ok must show up")
    check(pu.metric(text, "sstp_proxy_retries_total") == 1, "retries counter")
    check(pu.metric(text, "sstp_proxy_backend_failures_total", {"backend": "dead"}) == 1, "failures")


def t_all_down(env):
    s = env.sections(["d1 %s" % dead_addr(), "d2 %s" % dead_addr()])
    s["backends"]["panic_threshold"] = "0"        # down marks honoured (panic: proxy_judging)
    p = env.proxy(s)
    check(probe(env) == 200, "before any failure the backends count as up")
    c = env.client()
    status, _ = c.http_handshake()
    check(status == 503, "a session with every backend dead: %r, want 503" % status)
    check(c.read_closed(3), "503 must close")
    p.wait_log(r"ev=no_backend .*tried=2")
    p.wait_log(r"ev=close .*term=SC")
    check(probe(env) == 503, "HEAD probe with every backend down must be 503")
    c = env.client()
    check(c.http_handshake()[0] == 503, "second session: 503")
    p.wait_log(r"ev=close .*term=DC")                  # nothing left to try at all
    time.sleep(1.2)
    check(p.admin_get(env.admin, "/readyz")[0] == 503, "readyz with every backend down")
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_probes_total", {"status": "503"}) == 1, "probe 503 counter")
    check(pu.metric(text, "sstp_proxy_no_backend_total") == 2, "no_backend counter")


def t_backend_closes_first(env):
    bad = env.backend(mode="close")
    good = env.backend()
    p = env.proxy(env.sections(["bad %s" % bad.addr, "good %s" % good.addr]))
    c = env.session()
    check(len(bad.wait_records(1)) == 1 and len(good.wait_records(1)) == 1, "both backends must be tried")
    # the same PROXY header and head went to both
    b0, g0 = bad.records[0], good.records[0]
    check(b0["head"] == g0["head"] and pu.tlv1(b0["pp"], pu.T_UNIQUE_ID) == pu.tlv1(g0["pp"], pu.T_UNIQUE_ID),
          "the retry must resend the same request")
    p.wait_log(r"ev=backend_fail .*backend=bad .*reason=closed_before_answer")
    c.send(sc.data(b"\xff\x03abc"))
    check(getattr(c.recv(), "payload", None) == b"\xff\x03abc", "no echo after the retry")
    c.close()


def t_backend_timeout(env):
    silent = env.backend(mode="silent")
    good = env.backend()
    s = env.sections(["silent %s" % silent.addr, "good %s" % good.addr])
    s["backends"]["connect_timeout"] = "0.5s"
    p = env.proxy(s)
    t0 = time.monotonic()
    c = env.session()
    check(0.4 < time.monotonic() - t0 < 3, "the silent backend was not given up after ~0.5s")
    p.wait_log(r"ev=backend_fail .*backend=silent .*reason=timeout")
    c.close()
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_timeouts_total", {"phase": "backend"}) == 1, "backend timeout counter")


def t_connect_never_completes(env):
    """The request goes out right after connect(); a backend whose SYN is
    dropped (its accept queue full) gives EAGAIN there and must still count
    as a TCP connect timeout: cause=backend, not slow."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)                              # one queued connection fills it
    fill = []
    for _ in range(2):
        f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        f.setblocking(False)
        f.connect_ex(lsock.getsockname())
        fill.append(f)
    time.sleep(0.2)
    good = env.backend()
    addr = "127.0.0.1:%d" % lsock.getsockname()[1]
    s = env.sections(["full %s" % addr, "good %s" % good.addr])
    s["backends"]["connect_timeout"] = "0.5s"
    p = env.proxy(s)
    try:
        c = env.session()
        p.wait_log(r"ev=backend_fail .*backend=full attempt=1 cause=backend reason=timeout")
        check(len(good.wait_records(1)) == 1, "the session did not go on to the good backend")
        c.close()
    finally:
        for f in fill:
            f.close()
        lsock.close()


def t_retries_bounded(env):
    servers = ["d%d %s" % (i, dead_addr()) for i in range(5)]
    s = env.sections(servers)
    s["backends"]["retries"] = "2"
    p = env.proxy(s)
    c = env.client()
    check(c.http_handshake()[0] == 503, "want 503 once the retries are spent")
    p.wait_log(r"ev=no_backend .*tried=3")
    check(len(p.lines("backend_fail")) == 3, "1 + retries attempts: %r" % p.lines("backend_fail"))


def t_mtls_backend(env):
    be = env.backend(tls=True)
    tls_sections = {"ca": env.cert("ca.crt"), "cert": env.cert("proxy-client.crt"),
                    "key": env.cert("proxy-client.key")}
    s = env.sections(["be1 %s tls sni=backend" % be.addr])
    s["backends"].update(tls_sections)
    p = env.proxy(s)
    c = env.session()
    rec = be.wait_records(1)[0]
    check(rec["peer_cert"] is not None and
          pu.sha256(rec["peer_cert"]) == pu.cert_der_sha256(env.cert("proxy-client.crt")),
          "the backend did not get the proxy's client certificate")
    check(pu.tlv1(rec["pp"], pu.T_CERT_SHA256) == pu.cert_der_sha256(env.cert("server.crt")),
          "PROXY v2 inside TLS lacks the hash")
    c.send(sc.data(b"\xff\x03mtls"))
    check(getattr(c.recv(), "payload", None) == b"\xff\x03mtls", "no echo over mTLS")
    c.close()
    # a backend name that does not match its certificate is refused
    s = env.sections(["be1 %s tls sni=wrong.example" % be.addr])
    s["backends"].update(tls_sections)
    p2 = env.proxy(s)
    c = env.client()
    check(c.http_handshake()[0] == 503, "a backend with the wrong name must not be used")
    p2.wait_log(r"ev=backend_fail .*reason=tls:.*(hostname|certificate_verify_failed)")
    # without our client certificate the backend refuses us
    s = env.sections(["be1 %s tls" % be.addr])
    s["backends"]["ca"] = env.cert("ca.crt")
    p3 = env.proxy(s)
    c = env.client()
    check(c.http_handshake()[0] == 503, "a backend requiring mTLS must refuse a proxy without a certificate")
    p3.wait_log(r"ev=backend_fail .*backend=be1")
    del p


def t_policies(env):
    a, b = env.backend(), env.backend()
    # wrr 3:1
    s = env.sections(["a %s weight=3" % a.addr, "b %s weight=1" % b.addr])
    env.proxy(s)
    for _ in range(8):
        env.session().close()
    check((len(a.records), len(b.records)) == (6, 2), "wrr 3:1 gave %d:%d" % (len(a.records), len(b.records)))
    # leastconn: sessions held open spread evenly
    a2, b2 = env.backend(), env.backend()
    s = env.sections(["a %s" % a2.addr, "b %s" % b2.addr])
    s["backends"]["policy"] = "leastconn"
    env.proxy(s)
    held = [env.session() for _ in range(6)]
    check((len(a2.records), len(b2.records)) == (3, 3),
          "leastconn gave %d:%d" % (len(a2.records), len(b2.records)))
    for c in held:
        c.close()
    # maxconn: a full backend is skipped
    a3, b3 = env.backend(), env.backend()
    s = env.sections(["a %s maxconn=1" % a3.addr, "b %s weight=1" % b3.addr])
    env.proxy(s)
    held = [env.session() for _ in range(3)]
    check(len(a3.records) == 1 and len(b3.records) == 2, "maxconn=1 not honoured: %d:%d" %
          (len(a3.records), len(b3.records)))
    for c in held:
        c.close()


CASES = [
    ("dead_backend_skipped", t_dead_backend_skipped),
    ("all_down", t_all_down),
    ("backend_closes_first", t_backend_closes_first),
    ("backend_timeout", t_backend_timeout),
    ("connect_never_completes", t_connect_never_completes),
    ("retries_bounded", t_retries_bounded),
    ("mtls_backend", t_mtls_backend),
    ("policies", t_policies),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
