#!/usr/bin/env python3
"""proxy_reload.py — sstp-proxy's process life: SIGHUP with a new
certificate while sessions relay (none dropped, new ones see the new
certificate and its hash, a ticket from before the reload no longer resumes:
the replaced certificate is vouched for no more, the client gets a full
handshake with the new one), a broken reload that keeps the running configuration, a worker
killed and restarted by the master, and SIGTERM draining. Run by
tests/integration/proxy_reload.sh.
"""
import os
import re
import signal
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
HEAD = ("SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Length: 18446744073709551615\r\n\r\n" % URI).encode()


class Pinger:
    """Keeps one session echoing data packets until stopped; records
    failures."""

    def __init__(self, c):
        self.c = c
        self.n = 0
        self.error = None
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            while not self.stop_ev.is_set():
                pl = b"\xff\x03" + os.urandom(64) + self.n.to_bytes(4, "big")
                self.c.send(sc.data(pl))
                got = self.c.recv(timeout=5)
                if getattr(got, "payload", None) != pl:
                    self.error = "echo %d: %r" % (self.n, got)
                    return
                self.n += 1
                time.sleep(0.01)
        except OSError as e:
            self.error = repr(e)

    def finish(self):
        self.stop_ev.set()
        self.t.join(10)
        return self.error


def tls_ctx(env):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(env.cert("ca.crt"))
    return ctx


def head_over(ctx, env, session=None):
    raw = socket.create_connection(("127.0.0.1", env.port), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    s.sendall(HEAD)
    s.settimeout(5)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        check(chunk, "closed before the 200")
        buf += chunk
    check(buf.startswith(b"HTTP/1.1 200"), "no 200: %r" % buf[:40])
    return s


def t_sighup_new_cert_under_load(env):
    be = env.backend()
    sections = env.sections(["be1 %s" % be.addr], workers=2)
    p = env.proxy(sections, workers=2)
    old_hash = pu.cert_der_sha256(env.cert("server.crt"))
    new_hash = pu.cert_der_sha256(env.cert("server2.crt"))
    pingers = [Pinger(env.session()) for _ in range(6)]
    ctx = tls_ctx(env)
    s = head_over(ctx, env)                                # a ticket for the old certificate
    ticket = s.session
    s.close()
    time.sleep(0.3)
    sections["tls"]["cert"] = ["%s %s" % (env.cert("server2.crt"), env.cert("server2.key"))]
    p.write_conf(pe.render(sections))
    n_before = [x.n for x in pingers]
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=\d .*default_cert_sha256=%s" % new_hash.hex(), count=2)
    c = env.session()
    check(pu.sha256(c.cert_der) == new_hash, "a new session was not shown the new certificate")
    check(pu.tlv1(be.records[-1]["pp"], pu.T_CERT_SHA256) == new_hash, "new session: 0xE8 is not the new hash")
    c.close()
    # the old ticket does not resume: the replaced certificate (its key may
    # have leaked) is vouched for no more; a full handshake shows the new one
    s = head_over(ctx, env, session=ticket)
    check(not s.session_reused, "a ticket of the replaced certificate resumed")
    check(pu.sha256(s.getpeercert(True)) == new_hash, "the full handshake did not show the new certificate")
    rec = be.wait_records(len(be.records))[-1]
    check(pu.tlv1(rec["pp"], pu.T_CERT_SHA256) == new_hash, "pre-reload ticket: 0xE8 must be the new hash")
    s.close()
    time.sleep(0.5)
    for x, before in zip(pingers, n_before):
        check(x.error is None, "an established session broke at the reload: %s" % x.error)
        check(x.n > before + 5, "an established session stopped relaying (%d -> %d)" % (before, x.n))
    for x in pingers:
        check(x.finish() is None, "pinger: %s" % x.error)
        check(pu.sha256(x.c.cert_der) == old_hash, "an old session's certificate changed?")
        x.c.close()
    p.wait_log(r"ev=close .*state=RELAY term=-- ", count=9, timeout=5)  # 6 pingers, 3 short sessions
    check(not [ln for ln in p.lines("close") if "term=--" not in ln and "state=RELAY" in ln],
          "a session ended badly: %r" % p.lines("close"))


def t_bad_reload(env):
    be = env.backend()
    sections = env.sections(["be1 %s" % be.addr])
    p = env.proxy(sections)
    good = open(p.conf_path).read()
    p.write_conf(good + "\n[tls]\ncert = /nonexistent.crt\n")
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reload_fail .*nonexistent")
    p.write_conf(good)
    c = env.session()
    check(pu.sha256(c.cert_der) == pu.cert_der_sha256(env.cert("server.crt")), "the running certificate changed")
    c.close()
    p.write_conf(good + "\n[backends]\nbogus_option = 1\n")
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reload_fail .*unknown option", count=1)
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_reloads_total", {"result": "failed"}) == 2, "failed reload counter")
    env.session().close()


def t_worker_restart(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr], workers=2), workers=2)
    pids = re.findall(r"ev=worker_start worker=(\d) pid=(\d+)", p.text())
    check(len(pids) == 2, "worker pids: %r" % pids)
    victim = int(pids[0][1])
    os.kill(victim, signal.SIGKILL)                       # a child of the proxy this test started
    p.wait_log(r"ev=worker_exit worker=%s pid=%d signal=9" % (pids[0][0], victim))
    p.wait_log(r"ev=worker_restart worker=%s" % pids[0][0])
    p.wait_log(r"ev=worker_ready", count=3, timeout=10)
    for _ in range(4):
        env.session().close()
    time.sleep(1.2)
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_worker_restarts_total") == 1, "restart counter")
    check(pu.metric(text, "sstp_proxy_workers") == 2, "workers gauge")


def t_sigterm_drain(env):
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr])
    s["session"]["drain_timeout"] = "1.5s"
    p = env.proxy(s)
    c = env.session()
    p.signal(signal.SIGTERM)
    p.wait_log(r"ev=drain worker=0 conns=1 sessions=1")
    try:
        socket.create_connection(("127.0.0.1", env.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    check(refused, "new connections must be refused while draining")
    c.send(sc.data(b"\xff\x03still"))
    check(getattr(c.recv(), "payload", None) == b"\xff\x03still", "a draining session stopped relaying")
    t0 = time.monotonic()
    check(c.read_closed(4), "the session was not closed at the drain deadline")
    check(time.monotonic() - t0 < 2.5, "drain deadline too late")
    check(p.proc.wait(timeout=10) == 0, "exit status %r" % p.proc.returncode)
    p.wait_log(r"ev=close .*term=KD")


CASES = [
    ("sighup_new_cert_under_load", t_sighup_new_cert_under_load),
    ("bad_reload", t_bad_reload),
    ("worker_restart", t_worker_restart),
    ("sigterm_drain", t_sigterm_drain),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
