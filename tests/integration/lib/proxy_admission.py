#!/usr/bin/env python3
"""proxy_admission.py — sstp-proxy's admission and its refusal lines
(issue 10, items 6 and 7): per-connection refusal lines are rate-limited
with a "suppressed" summary; a worker at max_conns leaves its listeners'
SO_REUSEPORT groups, so new connections go to a worker with room instead
of waiting in a full worker's backlog.
Run by tests/integration/proxy_admission.sh.
"""
import os
import re
import resource
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

URI = sc.SSTP_URI


def t_refusal_lines_rate_limited(env):
    """300 connections that are not TLS: each is counted, but the log gets
    at most the burst per second plus one summary line with the rest."""
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr])
    s["proxy"]["log_level"] = "info"
    p = env.proxy(s)
    n = 300
    t0 = time.monotonic()
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", env.port), timeout=5)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")            # plain text on the TLS port
        c.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = p.admin_get(env.admin, "/metrics")[1]
        if pu.metric(text, "sstp_proxy_tls_failures_total") == n:
            break
        time.sleep(0.1)
    check(pu.metric(text, "sstp_proxy_tls_failures_total") == n, "every refusal is counted")
    elapsed = time.monotonic() - t0
    p.wait_log(r"ev=log_suppressed worker=0 lines=\d+", timeout=3)
    fails = len(p.lines("tls_fail"))
    closes = len([ln for ln in p.lines("close") if "term=CT" in ln])
    suppressed = sum(int(m) for m in re.findall(r"ev=log_suppressed worker=0 lines=(\d+)", p.text()))
    limit = 32 * (int(elapsed) + 2)
    check(fails <= limit, "%d tls_fail lines in %.1fs: not rate-limited (limit %d)" % (fails, elapsed, limit))
    check(fails == closes, "a logged refusal has its close line: %d vs %d" % (fails, closes))
    check(fails + suppressed == n, "logged %d + suppressed %d != %d refusals" % (fails, suppressed, n))
    # a session is logged whatever the refusals did
    c = env.session()
    c.close()
    p.wait_log(r"ev=start .*backend=be1")


def probe_once(env, timeout=2.0):
    """A HEAD probe on a fresh connection; a refused connect (every worker
    full for an instant) is retried for up to 1 s. Returns the status, or
    None when the connection was taken but never answered."""
    deadline = time.monotonic() + 1.0
    while True:
        try:
            c = env.client(timeout=timeout)
            break
        except ConnectionRefusedError:
            check(time.monotonic() < deadline, "connections refused for 1 s")
            time.sleep(0.02)
        except (socket.timeout, TimeoutError):
            return None                       # accepted by the kernel, TLS never answered
    try:
        c.send(("HEAD %s HTTP/1.1\r\nHost: probe\r\n\r\n" % URI).encode())
        status, _ = c.read_http_response(timeout)
        return status
    finally:
        c.close()


def t_full_worker_leaves_reuseport_group(env):
    """Two workers of one connection each: one holds a client that sends
    nothing. Without leaving the group, about half of the new connections
    would queue on that worker's backlog unanswered."""
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr], workers=2)
    s["proxy"]["max_conns"] = "1"
    s["listen"].update({"handshake_timeout": "30s", "request_timeout": "30s"})
    p = env.proxy(s, workers=2)
    held = env.client()                              # TLS done, no request: holds its worker
    p.wait_log(r"ev=paused worker=\d conns=1 max_conns=1")
    statuses = [probe_once(env) for _ in range(20)]
    # answered at all is what counts (503: the probe itself fills its worker)
    check(None not in statuses, "probes left unanswered in a full worker's backlog: %r" % statuses)
    held.close()
    text = p.admin_get(env.admin, "/metrics")[1]
    check((pu.metric(text, "sstp_proxy_accept_pauses_total") or 0) >= 1, "pauses counter")
    # the full worker rejoins once it has room
    p.wait_log(r"ev=resumed worker=\d", timeout=5)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def t_worker_emfile(env):
    """A worker out of descriptors (its soft RLIMIT_NOFILE lowered to what it
    holds) leaves new connections in the backlog and pauses its listener
    instead of spinning: accept_error at most once a second, each failure
    counted; once descriptors are back the waiting clients are served."""
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr]))
    with open("/proc/%d/task/%d/children" % (p.proc.pid, p.proc.pid)) as f:
        kids = [int(x) for x in f.read().split()]
    check(len(kids) == 1, "want one worker, got %r" % kids)
    wpid = kids[0]
    n_open = len(os.listdir("/proc/%d/fd" % wpid))
    soft, hard = resource.prlimit(wpid, resource.RLIMIT_NOFILE)
    resource.prlimit(wpid, resource.RLIMIT_NOFILE, (n_open, hard))   # the soft limit only
    waiting = []
    try:
        for _ in range(4):                       # in the backlog: accept4 fails with EMFILE
            waiting.append(socket.create_connection(("127.0.0.1", env.port), timeout=5))
        p.wait_log(r"ev=accept_error .*Too many open files", timeout=3)
        cpu0 = cpu_seconds(wpid)
        time.sleep(1.5)
        spent = cpu_seconds(wpid) - cpu0
        check(spent < 0.3, "the worker spun on EMFILE: %.2fs of CPU in 1.5s" % spent)
        n_lines = len(p.lines("accept_error"))
        check(1 <= n_lines <= 3, "accept errors not rate-limited: %d lines in about 2 s" % n_lines)
    finally:
        resource.prlimit(wpid, resource.RLIMIT_NOFILE, (soft, hard))
    try:                                         # behind the waiting four in the backlog
        check(probe_once(env) == 200, "no answer once descriptors were back")
    finally:
        for c in waiting:
            c.close()
    text = p.admin_get(env.admin, "/metrics")[1]
    check((pu.metric(text, "sstp_proxy_refused_total", {"reason": "accept_error"}) or 0) >= 1,
          "refused{accept_error} counter")


class from_source:
    """Clients made inside connect from `ip` (another loopback address)."""

    def __init__(self, ip):
        self.ip = ip

    def __enter__(self):
        self.orig = sc.socket.create_connection
        ip, orig = self.ip, self.orig
        sc.socket.create_connection = lambda addr, timeout=None, **kw: orig(
            addr, timeout=timeout, source_address=(ip, 0))
        return self

    def __exit__(self, *exc):
        sc.socket.create_connection = self.orig


def flood(env, ip, n, hold):
    """n TCP connections from ip that never start TLS; kept open if hold."""
    socks = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", env.port), timeout=5, source_address=(ip, 0))
        if hold:
            socks.append(c)
        else:
            c.close()
    return socks


def wait_metric(p, env, name, labels, want, timeout=10):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = pu.metric(p.admin_get(env.admin, "/metrics")[1], name, labels)
        if got == want:
            return got
        time.sleep(0.1)
    raise pu.Failure("%s%r = %r, want %r" % (name, labels, got, want))


def t_source_cannot_starve_another(env):
    """127.0.0.2 holds 2,000 handshakes open; 127.0.0.3's session goes
    through, and /metrics shows the refusals by reason."""
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr])
    s["proxy"]["log_level"] = "info"
    s["listen"].update({"handshake_timeout": "60s", "backlog": "4096"})
    s["limits"] = {"per_source_conns": "50"}
    s["proxy"]["max_conns"] = "1000"      # without per-source limits the flood would fill the worker
    p = env.proxy(s)
    held = flood(env, "127.0.0.2", 2000, hold=True)
    wait_metric(p, env, "sstp_proxy_refused_total", {"reason": "source_conns"}, 1950)
    with from_source("127.0.0.3"):
        c = env.session()
    c.send(sc.data(b"\xff\x03other"))
    check(getattr(c.recv(), "payload", None) == b"\xff\x03other", "the other source's session does not relay")
    c.close()
    rec = be.wait_records(1)[0]
    check(rec["pp"]["src"][0] == "127.0.0.3", "the session's source: %r" % (rec["pp"]["src"],))
    text = p.admin_get(env.admin, "/metrics")[1]
    check(pu.metric(text, "sstp_proxy_handshakes") is not None, "handshakes gauge")
    for h in held:
        h.close()
    check(len(p.lines("refuse")) <= 32 * 30, "refusal lines are rate-limited")


def t_limits_on_proxy_header_source(env):
    """Behind a trusted load balancer every connection comes from its
    address: the per-source limit applies to the client the PROXY header
    names, IPv6 by /64."""
    be = env.backend()
    port = pu.free_port()
    s = env.sections(["be1 %s" % be.addr],
                     listen={"bind": ["127.0.0.1:%d proxy" % port], "proxy_allow": "127.0.0.1/32"})
    s["limits"] = {"per_source_conns": "2"}
    p = env.proxy(s)

    def attempt(pre):
        try:
            c = env.client(port=port, pre=pre, timeout=3)
        except (OSError, ssl.SSLError):
            return None                       # refused before TLS
        return c

    v1 = lambda src: sc.proxy_v1(src, "198.51.100.10", 40000, 443)      # noqa: E731
    v2 = lambda src: sc.proxy_v2(src, "2001:db8::1", 40000, 443)         # noqa: E731
    held = [attempt(v1("203.0.113.7")), attempt(v1("203.0.113.7"))]
    check(all(held), "the first two of a source must pass")
    check(attempt(v1("203.0.113.7")) is None, "a third from the same client address passed")
    other = attempt(v1("203.0.113.8"))
    check(other is not None, "another client behind the same balancer was refused")
    held += [other, attempt(v2("2001:db8:1:2::a")), attempt(v2("2001:db8:1:2::b"))]
    check(all(held), "two of one /64 must pass")
    check(attempt(v2("2001:db8:1:2:ffff::c")) is None, "a third address of the same /64 passed")
    nxt = attempt(v2("2001:db8:1:3::1"))
    check(nxt is not None, "the next /64 is another source")
    held.append(nxt)
    text = p.admin_get(env.admin, "/metrics")[1]
    check(pu.metric(text, "sstp_proxy_refused_total", {"reason": "source_conns"}) == 2, "refusals by reason")
    check(any("client=203.0.113.7:40000 reason=source_conns" in ln for ln in p.lines("refuse")),
          "the refusal names the real client: %r" % p.lines("refuse"))
    for c in held:
        c.close()


def t_source_rate(env):
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr])
    s["proxy"]["log_level"] = "info"
    s["limits"] = {"per_source_rate": "5", "per_source_burst": "10", "per_source_conns": "0"}
    p = env.proxy(s)
    t0 = time.monotonic()
    flood(env, "127.0.0.2", 200, hold=False)
    allowed = 10 + 5 * (time.monotonic() - t0 + 1)
    time.sleep(0.5)
    refused = pu.metric(p.admin_get(env.admin, "/metrics")[1], "sstp_proxy_refused_total",
                        {"reason": "source_rate"})
    check(refused is not None and refused >= 200 - allowed, "source_rate refusals: %r" % refused)
    with from_source("127.0.0.3"):
        env.session().close()


def t_handshake_cap(env):
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr])
    s["listen"].update({"handshake_timeout": "60s"})
    s["limits"] = {"max_handshakes": "20", "per_source_conns": "0"}
    p = env.proxy(s)
    held = flood(env, "127.0.0.2", 100, hold=True)
    wait_metric(p, env, "sstp_proxy_refused_total", {"reason": "handshakes"}, 80)
    time.sleep(1.1)
    check(pu.metric(p.admin_get(env.admin, "/metrics")[1], "sstp_proxy_handshakes") == 20, "in flight")
    for h in held:
        h.close()
    deadline = time.monotonic() + 5
    while pu.metric(p.admin_get(env.admin, "/metrics")[1], "sstp_proxy_handshakes") != 0:
        check(time.monotonic() < deadline, "handshakes not given back")
        time.sleep(0.2)
    env.session().close()


def busy_sessions(env, p, n_sessions):
    """n_sessions bursts at once; returns (buffer bytes peak, memory waits)."""
    clients = [env.session() for _ in range(n_sessions)]
    errors = []

    def run(c):
        try:
            pe.echo_burst(c, n=250, size=4000, chunk=65536, timeout=40)
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for c in clients:
        c.close()
    check(not errors, "bursts failed: %r" % errors[:3])
    time.sleep(1.2)
    text = p.admin_get(env.admin, "/metrics")[1]
    return (pu.metric(text, "sstp_proxy_buffer_bytes_peak") or 0,
            pu.metric(text, "sstp_proxy_relay_memory_waits_total") or 0)


def t_relay_memory_budget(env):
    """8 sessions pushing 1 MB each way at once: with a 64 KiB budget (one
    relay block, so a second busy session must wait whatever the timing)
    everything still arrives intact and in order (back-pressure, no drop),
    reads waited for memory, and the worker's peak stays bounded (the run
    without a budget is printed for comparison: it depends on how fast the
    clients go)."""
    n = 8
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr])
    s["limits"] = {"relay_memory": "0"}
    p = env.proxy(s)
    free_peak, free_waits = busy_sessions(env, p, n)
    check(free_waits == 0, "no budget, no waits")
    p.stop()
    s = env.sections(["be1 %s" % be.addr])
    budget = 64 * 1024
    s["limits"] = {"relay_memory": str(budget // 1024)}
    p = env.proxy(s)
    peak, waits = busy_sessions(env, p, n)
    print("relay memory peak: %d bytes without a budget, %d with %d (waits %d)" % (free_peak, peak, budget, waits))
    check(waits > 0, "the budget never made a read wait")
    # a session holding one buffer may take its second (twice the budget at
    # most), and each may add one staging block towards its client (wstage.c)
    check(peak <= 2 * budget + n * 65536, "peak %d over the budget %d" % (peak, budget))



CASES = [
    ("refusal_lines_rate_limited", t_refusal_lines_rate_limited),
    ("full_worker_leaves_reuseport_group", t_full_worker_leaves_reuseport_group),
    ("worker_emfile", t_worker_emfile),
    ("source_cannot_starve_another", t_source_cannot_starve_another),
    ("limits_on_proxy_header_source", t_limits_on_proxy_header_source),
    ("source_rate", t_source_rate),
    ("handshake_cap", t_handshake_cap),
    ("relay_memory_budget", t_relay_memory_budget),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
