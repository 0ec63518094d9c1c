#!/usr/bin/env python3
"""redis_outage.py — a Redis that hangs instead of closing (issue 11), seen
by both daemons: a real redis-server (password, loopback, ephemeral port),
the real sstp-backend (fake pppd) registered in it and a real sstp-proxy
relaying to it, both with redis.reply_timeout = 1s.

  hang   live sessions through the proxy; redis-server SIGSTOPped: both
         daemons log redis_down reason=timeout within the deadline (+ slack),
         /readyz answers 503 "redis down" (200 on a second proxy with
         redis.ready_needs_redis = no), /metrics show the link down and the
         timeout counted; SIGCONT: both log redis_up, /readyz 200 again, and
         every session is still there and answers an echo
  auth   the backend with a wrong password: it never logs redis_up, logs
         one redis_fail reason=auth at error level, /readyz says why, and
         /metrics count reason="auth"

Run by tests/integration/redis_outage.sh; a case name as an argument runs
only that case. Every wait is bounded; only processes started here are
signalled (by pid).
"""
import os
import signal
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H                      # noqa: E402
import proxy_env as pe                   # noqa: E402
import proxy_fleet as pf                 # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

REPLY_TIMEOUT = 1.0
# a hung server with traffic is dropped after REPLY_TIMEOUT; an idle one
# after its watchdog PING (at most 0.5 s idle) + REPLY_TIMEOUT; slack for a
# loaded 2-core machine running ASan builds
NOTICE_BOUND = REPLY_TIMEOUT + 0.5 + 1.0
SESSIONS = 3


class AdminBackend(pf.RealBackend):
    """RealBackend with an admin listener and the short reply deadline."""

    def start(self):
        if not hasattr(self, "admin"):
            self.admin = pu.free_port()
        self.cfg.setdefault("admin", {})["address"] = "127.0.0.1:%d" % self.admin
        self.cfg.setdefault("redis", {})["reply_timeout"] = "%gs" % REPLY_TIMEOUT
        self.cfg["redis"]["ready_needs_redis"] = "yes"  # the default is no: readiness checked here
        super().start()


def get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(port, name, labels=None):
    return pu.metric(get(port, "/metrics")[1], name, labels)


def logged_after(lines, t0):
    """Seconds from t0 to the first of lines logged at or after t0 (None if none)."""
    for ln in lines:
        t = pf.ts_of(ln)
        if t >= t0 - 0.05:
            return t - t0
    return None


@pf.with_fleet
def t_hang(env, fl):
    be = AdminBackend(fl, "be-hang")
    fl.reals.append(be)
    # a proxy left at the default, readiness without Redis (started first:
    # env.port and env.admin then name the main proxy `p`, whose operator
    # chose ready_needs_redis = yes)
    p_opt = env.proxy(fl.sections(["be %s" % be.addr], redis={"reply_timeout": "%gs" % REPLY_TIMEOUT}))
    opt_admin = env.admin
    s = fl.sections(["be %s" % be.addr], redis={"reply_timeout": "%gs" % REPLY_TIMEOUT,
                                                "ready_needs_redis": "yes"})
    p = env.proxy(s)
    p.wait_log(r"ev=redis_up")
    p_opt.wait_log(r"ev=redis_up")
    check(be.b.wait_log("redis_up", 5), "the backend never logged redis_up")

    held = []
    for _ in range(SESSIONS):
        hlak = be.prepare()
        c, _, corr = be.call(env)
        c.call_connected(hlak)
        held.append((c, corr))
    pf.wait_for(lambda: len(be.b.entries("binding_ok")) >= SESSIONS, 5, "sessions not all bound")
    check(get(be.admin, "/readyz")[0] == 200, "backend /readyz before the outage")
    check(p.admin_get(env.admin, "/readyz")[0] == 200, "proxy /readyz before the outage")

    t0 = time.time()
    fl.redis.proc.send_signal(signal.SIGSTOP)
    try:
        p.wait_log(r"ev=redis_down .*reason=timeout", timeout=NOTICE_BOUND + 2)
        pf.wait_for(lambda: be.b.entries("redis_down"), NOTICE_BOUND + 2, "backend: no redis_down")
        t_px = logged_after(p.lines("redis_down"), t0)
        be_lines = [ln for ln in be.b.text().splitlines() if " ev=redis_down " in ln]
        t_be = logged_after(be_lines, t0)
        check(t_px is not None and t_px <= NOTICE_BOUND, "proxy noticed after %r s" % t_px)
        check(t_be is not None and t_be <= NOTICE_BOUND, "backend noticed after %r s" % t_be)
        check("reason=timeout" in be_lines[0], "backend redis_down reason: %r" % be_lines[0])

        st, body = get(be.admin, "/readyz")
        check(st == 503 and "redis down" in body, "backend /readyz while hung: %r %r" % (st, body))
        st, body = p.admin_get(env.admin, "/readyz")
        check(st == 503 and "redis down" in body, "proxy /readyz while hung: %r %r" % (st, body))
        p_opt.wait_log(r"ev=redis_down", timeout=NOTICE_BOUND)
        st, body = p_opt.admin_get(opt_admin, "/readyz")
        check(st == 200, "default ready_needs_redis = no: /readyz while hung: %r %r" % (st, body))
        check(metric(be.admin, "sstp_backend_redis_up") == 0, "sstp_backend_redis_up while hung")
        check((metric(be.admin, "sstp_backend_redis_errors_total", {"reason": "timeout"}) or 0) >= 1,
              "backend: timeout not counted")
        check(pu.metric(pf.metrics(p, env), "sstp_proxy_redis_connected") == 0,
              "sstp_proxy_redis_connected while hung")
        pf.wait_for(lambda: (pu.metric(pf.metrics(p, env), "sstp_proxy_redis_errors_total",
                                       {"reason": "timeout"}) or 0) >= 1, 3, "proxy: timeout not counted")
        time.sleep(1.5)                                  # a reconnect that hangs too
    finally:
        fl.redis.proc.send_signal(signal.SIGCONT)
    t_cont = time.time()
    p.wait_log(r"ev=redis_up", count=2, timeout=10)
    pf.wait_for(lambda: len(be.b.entries("redis_up")) >= 2, 10, "backend: no redis_up after SIGCONT")
    back = time.time() - t_cont
    check(get(be.admin, "/readyz")[0] == 200, "backend /readyz after the outage")
    check(p.admin_get(env.admin, "/readyz")[0] == 200, "proxy /readyz after the outage")
    check(metric(be.admin, "sstp_backend_redis_up") == 1, "sstp_backend_redis_up after")

    # no session was dropped: all still counted, none closed, each answers
    check(metric(be.admin, "sstp_backend_sessions") == SESSIONS, "backend sessions after the outage")
    check(not p.lines("close"), "the proxy closed sessions: %r" % p.lines("close")[:2])
    for c, corr in held:
        c.send(sc.echo_request())
        r = c.recv_ctrl(5)
        check(getattr(r, "msg_type", None) == sc.ECHO_RESPONSE, "session %s: echo got %r" % (corr, r))
    for c, _ in held:
        c.close()
    print("     hang: noticed by proxy %.2fs, backend %.2fs after SIGSTOP (deadline %gs); "
          "both up %.2fs after SIGCONT; %d sessions kept" % (t_px, t_be, REPLY_TIMEOUT, back, SESSIONS))


class WrongPasswordBackend(AdminBackend):
    def start(self):
        self.cfg["redis"]["url"] = self.cfg["redis"]["url"].replace("@", "x@", 1)
        super().start()


@pf.with_fleet
def t_auth(env, fl):
    be = WrongPasswordBackend(fl, "be-auth")
    fl.reals.append(be)
    check("x@" in be.cfg["redis"]["url"], "the password was not made wrong")
    pf.wait_for(lambda: (metric(be.admin, "sstp_backend_redis_errors_total", {"reason": "auth"}) or 0) >= 4,
                5, "backend: auth failures not counted (or not retried)")
    check(not be.b.entries("redis_up"), "up with a wrong password")
    fails = [ln for ln in be.b.text().splitlines() if " ev=redis_fail " in ln and "reason=auth" in ln]
    errors = [ln for ln in fails if " error " in ln]
    check(len(errors) == 1, "want one error line for the outage, got %r" % errors)
    st, body = get(be.admin, "/readyz")
    check(st == 503 and "redis down (auth)" in body, "backend /readyz: %r %r" % (st, body))
    check(fl.rc.cmd("EXISTS", pf.P + "backend:be-auth") == 0, "registered with a wrong password")
    print("     auth: %d attempts refused, one error line" % len(fails))


CASES = [
    ("hang", t_hang),
    ("auth", t_auth),
]

if __name__ == "__main__":
    try:
        sys.exit(pe.main(CASES, sys.argv[1:]))
    finally:
        H.kill_all_started()
