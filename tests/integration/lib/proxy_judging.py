#!/usr/bin/env python3
"""proxy_judging.py — sstp-proxy judges backends only by what they did
(issue 10, item 4): a client's LF-only request, a request the backend
refuses, a silent client never change a backend's state, and with one
backend nobody else is refused; a slow answer, or a TLS handshake slow
after the TCP connect, is retried, not death; the
proxy's own lack of descriptors is counted as such; when most backends are
marked down the proxy balances across them anyway (panic threshold).
Run by tests/integration/proxy_judging.sh.
"""
import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

URI = sc.SSTP_URI
POST = "SSTP_DUPLEX_POST %s HTTP/1.1" % URI
CL = "Content-Length: 18446744073709551615"


def metrics(p, env):
    time.sleep(1.1)                       # gauges are published once a second
    return p.admin_get(env.admin, "/metrics")[1]


def untouched(p, env, name):
    """No failure counted against backend `name`, and it shows up."""
    text = metrics(p, env)
    check(pu.metric(text, "sstp_proxy_backend_up", {"backend": name}) == 1, "%s must show up" % name)
    fails = pu.metric(text, "sstp_proxy_backend_failures_total", {"backend": name})
    check(not fails, "%s was blamed %r times" % (name, fails))
    check(not p.lines("backend_down"), "a backend was marked down: %r" % p.lines("backend_down"))
    return text


def good_session(env):
    c = env.client()
    status, _ = c.http_handshake()
    ok = status == 200 and getattr(c.sstp_connect(), "msg_type", None) == sc.CONNECT_ACK
    c.close()
    return ok


def t_lf_only_request(env):
    be = env.backend()                    # reads its head up to CRLF CRLF, as a strict backend does
    p = env.proxy(env.sections(["only %s" % be.addr]))
    c = env.client()
    c.send(("%s\nHost: 198.51.100.1\nSSTPCORRELATIONID: {}\n%s\nX-Nmap: 1\n\n" % (POST, CL)).encode())
    status, _ = c.read_http_response()
    check(status == 200, "the LF-only request (nmap sstp-discover) got %r, want 200" % status)
    c.close()
    head = be.wait_records(1)[0]["head"]
    check(head == ("%s\r\n%s\r\nHost: 198.51.100.1\r\nSSTPCORRELATIONID: {}\r\n\r\n" % (POST, CL)).encode(),
          "the backend did not get the canonical head: %r" % head)
    check(good_session(env), "the next client was refused")
    untouched(p, env, "only")


def t_refused_request(env):
    be = env.backend(refuse_host="refuse.example")
    p = env.proxy(env.sections(["only %s" % be.addr]))
    for _ in range(3):
        c = env.client()
        status, _ = c.http_handshake(host="refuse.example")
        check(status == 400, "the backend's 400 must reach the client, got %r" % status)
        c.close()
    p.wait_log(r"ev=backend_refused .*backend=only status=400")
    check(good_session(env), "a client after the refused requests was refused")
    text = untouched(p, env, "only")
    check(pu.metric(text, "sstp_proxy_backend_attempts_failed_total", {"cause": "request"}) == 3,
          "refused requests counted by cause")
    check(pu.metric(text, "sstp_proxy_retries_total") == 0, "a refused request is not retried")


def t_silent_clients(env):
    be = env.backend()
    s = env.sections(["only %s" % be.addr])
    s["listen"].update({"handshake_timeout": "0.5s", "request_timeout": "0.5s"})
    p = env.proxy(s)
    raw = socket.create_connection(("127.0.0.1", env.port))      # not even TLS
    tls = env.client()                                             # TLS, then nothing
    half = env.client()
    half.send(("%s\r\nHost: h\r\n" % POST).encode())              # half a head, then nothing
    time.sleep(1.2)
    check(good_session(env), "a client after the silent ones was refused")
    for s_ in (raw, tls, half):
        s_.close()
    text = untouched(p, env, "only")
    check(pu.metric(text, "sstp_proxy_timeouts_total", {"phase": "handshake"}) == 1, "handshake timeout")
    check(pu.metric(text, "sstp_proxy_timeouts_total", {"phase": "request"}) == 2, "request timeouts")
    check(len(be.records) == 1, "silent clients must not reach the backend: %d" % len(be.records))


def t_one_backend_no_collateral(env):
    """Bad clients of every kind run while good ones connect: with one
    backend, not one good client is refused."""
    be = env.backend(refuse_host="refuse.example")
    s = env.sections(["only %s" % be.addr])
    s["listen"].update({"handshake_timeout": "1s", "request_timeout": "1s"})
    p = env.proxy(s)
    stop = threading.Event()

    def bad(kind):
        while not stop.is_set():
            try:
                if kind == "lf":
                    c = env.client()
                    c.send(("%s\nHost: x\n%s\n\n" % (POST, CL)).encode())
                    c.read_http_response(3)
                elif kind == "refused":
                    c = env.client()
                    c.http_handshake(host="refuse.example", timeout=3)
                else:
                    c = socket.create_connection(("127.0.0.1", env.port))
                    c.sendall(b"\x16\x03\x01\x00\x05garbage")
                    time.sleep(0.05)
                c.close()
            except (OSError, AssertionError):
                pass

    threads = [threading.Thread(target=bad, args=(k,), daemon=True) for k in ("lf", "refused", "junk")]
    for t in threads:
        t.start()
    results = [good_session(env) for _ in range(20)]
    stop.set()
    for t in threads:
        t.join(5)
    check(all(results), "%d of 20 good clients refused" % results.count(False))
    untouched(p, env, "only")
    check(not p.lines("no_backend"), "503s: %r" % p.lines("no_backend")[:3])


def t_slow_answer_not_death(env):
    slow = env.backend(delay=1.0)
    s = env.sections(["slow %s" % slow.addr])
    s["backends"]["connect_timeout"] = "0.4s"
    s["backends"]["retries"] = "0"
    p = env.proxy(s)
    c = env.client()
    check(c.http_handshake()[0] == 503, "an answer later than connect_timeout: 503 for this client")
    c.close()
    p.wait_log(r"ev=backend_fail .*backend=slow .*cause=slow reason=timeout")
    slow.delay = 0
    check(good_session(env), "a slow backend must not be skipped for down_time afterwards")
    text = untouched(p, env, "slow")
    check(pu.metric(text, "sstp_proxy_backend_attempts_failed_total", {"cause": "slow"}) == 1, "slow counter")


class StalledTls:
    """A tls backend stand-in under a surge: it accepts TCP and reads the
    ClientHello, but its ServerHello is late (never, here)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.hellos = 0
        self.held = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(c)
            c.settimeout(5)
            try:
                if c.recv(5)[:1] == b"\x16":     # a TLS handshake record: the ClientHello
                    self.hellos += 1
            except OSError:
                pass

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def t_slow_tls_not_death(env):
    """Review item 6: TCP connected, TLS handshake late (a backend busy
    with handshakes under a surge): slow, not a connect failure; the
    backend is not marked down."""
    stall = StalledTls()
    try:
        s = env.sections(["stall %s tls sni=backend" % stall.addr])
        s["backends"].update({"connect_timeout": "0.4s", "retries": "0", "ca": env.cert("ca.crt"),
                              "cert": env.cert("proxy-client.crt"), "key": env.cert("proxy-client.key")})
        p = env.proxy(s)
        for _ in range(2):
            c = env.client()
            check(c.http_handshake()[0] == 503, "no ServerHello within connect_timeout: 503 for this client")
            c.close()
        p.wait_log(r"ev=backend_fail .*backend=stall .*cause=slow reason=timeout", count=2)
        check(stall.hellos == 2, "the stand-in saw %d ClientHellos, want 2 (TCP connected)" % stall.hellos)
        text = untouched(p, env, "stall")
        check(pu.metric(text, "sstp_proxy_backend_attempts_failed_total", {"cause": "slow"}) == 2, "slow counter")
    finally:
        stall.close()


def t_panic_threshold(env):
    """Both backends fail once (closed before answering) and are marked
    down; with the default panic threshold the next session is balanced
    over them anyway and succeeds; with panic_threshold = 0, 503."""
    for threshold, want in (("50", 200), ("0", 503)):
        a, b = env.backend(fail_first=1), env.backend(fail_first=1)
        s = env.sections(["a %s" % a.addr, "b %s" % b.addr])
        s["backends"]["panic_threshold"] = threshold
        p = env.proxy(s)
        c = env.client()
        check(c.http_handshake()[0] == 503, "both failing: 503")
        c.close()
        p.wait_log(r"ev=backend_down backend=b")
        c = env.client()
        status, _ = c.http_handshake()
        c.close()
        check(status == want, "threshold %s: got %r, want %r" % (threshold, status, want))
        text = metrics(p, env)
        panic = pu.metric(text, "sstp_proxy_panic_picks_total") or 0
        check((panic >= 1) == (want == 200), "panic picks %r at threshold %s" % (panic, threshold))
        if want == 503:
            check(pu.metric(text, "sstp_proxy_no_backend_reasons_total", {"reason": "no_backend_up"}) == 1,
                  "without panic: no_backend_up")


def worker_pid(p):
    m = None
    for ln in p.lines("worker_ready"):
        m = ln
    import re
    pid = re.search(r"sstp-proxy\[(\d+)\]", m).group(1)
    return int(pid)


def t_local_emfile(env):
    """The proxy's own descriptor shortage at the backend connect is
    counted as such (resource_errors{reason=emfile}) and blames nobody."""
    be = env.backend()
    p = env.proxy(env.sections(["only %s" % be.addr]))
    pid = worker_pid(p)
    held = [env.client() for _ in range(3)]          # TLS done, each holds one descriptor
    time.sleep(0.3)
    n_open = len(os.listdir("/proc/%d/fd" % pid))
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (n_open, hard))     # not one more
    status, _ = held[0].http_handshake()
    check(status == 503, "no descriptor for the backend: want 503, got %r" % status)
    text = metrics(p, env)
    check(pu.metric(text, "sstp_proxy_resource_errors_total", {"reason": "emfile"}) == 1, "emfile counter")
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    for c in held:
        c.close()
    check(good_session(env), "after EMFILE the backend must still be used")
    untouched(p, env, "only")


CASES = [
    ("lf_only_request", t_lf_only_request),
    ("refused_request", t_refused_request),
    ("silent_clients", t_silent_clients),
    ("one_backend_no_collateral", t_one_backend_no_collateral),
    ("slow_answer_not_death", t_slow_answer_not_death),
    ("slow_tls_not_death", t_slow_tls_not_death),
    ("panic_threshold", t_panic_threshold),
    ("local_emfile", t_local_emfile),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
