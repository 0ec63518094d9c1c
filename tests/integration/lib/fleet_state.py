#!/usr/bin/env python3
"""fleet_state.py — what the fleet writes to Redis, with the real daemons:
a real redis-server with a password on an ephemeral loopback port, the real
sstp-proxy, the real sstp-backend with a fake pppd (issue 11).

  proxy_registry  a proxy registers (proxy:<id> with a TTL, the proxies
                  index); counters land fleet-wide, per proxy and per
                  backend; the schema key is 2.1
  affinity_renew  a session that outlives the affinity TTL keeps its record;
                  after it ends the record expires
  redis_restart   Redis restarted empty: within one stats interval
                  `sstpctl sessions` lists every live session again with its
                  indexes, and the per-user limit holds again
  duplicate_id    two backends started with one id both log duplicate_id
  interim         live sessions with traffic through the real daemons: after
                  each stats interval every hash is fresh and indexed, and
                  the backend's and the fleet's byte totals equal the sum of
                  the sessions' bytes
Run by tests/integration/fleet_state.sh; a case name as an argument runs
only that case. Every wait is bounded; only processes started here are
signalled.
"""
import hashlib
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H                      # noqa: E402
import proxy_env as pe                   # noqa: E402
import proxy_fleet as pf                 # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

P = pf.P


def sstpctl_sessions(fl):
    r = subprocess.run([pf.SSTPCTL, "-r", fl.redis.url, "--json", "sessions"], capture_output=True,
                       text=True, timeout=10)
    check(r.returncode == 0, "sstpctl sessions: %s" % r.stderr.strip())
    return r.stdout


@pf.with_fleet
def t_proxy_registry(env, fl):
    be = fl.real("be-r")
    p = env.proxy(fl.sections([]))
    p.wait_log(r"ev=registry worker=0 registered=1 ", timeout=5)
    rc = fl.rc
    hlak = be.prepare("alice")
    c, r, corr = be.call(env)
    c.call_connected(hlak)
    check(be.b.wait_log("binding_ok", 5), "no binding_ok")
    check(rc.cmd("GET", P + "schema") == "2.1", "schema version %r" % rc.cmd("GET", P + "schema"))
    # the proxy's entry: written at once when Redis is up, then every flush
    pid = env.proxy_id if hasattr(env, "proxy_id") else None
    ids = pf.wait_for(lambda: rc.cmd("ZRANGE", P + "proxies", 0, -1), 7, "no proxy registered")
    pid = pid or ids[0]
    h = rc.hgetall(P + "proxy:" + pid)
    want = {"id", "addr", "version", "started", "heartbeat", "workers"}
    check(want <= set(h), "proxy hash lacks %r" % (want - set(h)))
    check(h["id"] == pid and pf.near_now_ms(h["heartbeat"], 7) and int(h["started"]) <= int(h["heartbeat"]),
          "proxy hash %r" % h)
    ttl = rc.cmd("PTTL", P + "proxy:" + pid)
    check(0 < ttl <= 15000, "proxy entry TTL %r ms" % ttl)
    # a proxy gone for longer than the TTL leaves the index at the next beat
    rc.cmd("ZADD", P + "proxies", int(time.time() * 1000) - 60000, "px-dead")
    pf.wait_for(lambda: rc.cmd("ZSCORE", P + "proxies", "px-dead") is None, 7, "a dead proxy stayed listed")
    # counters: fleet-wide, per proxy, per backend
    st = pf.wait_for(lambda: (lambda h: h if int(h.get("proxy_sessions", 0)) >= 1 else None)(
        rc.hgetall(P + "stats:proxy:" + pid)), 8, "no per-proxy counters")
    allst = rc.hgetall(P + "stats")
    check(int(allst["proxy_sessions"]) == int(st["proxy_sessions"]) == 1, "proxy_sessions %r %r" % (st, allst))
    bst = rc.hgetall(P + "stats:backend:be-r")
    check(int(bst.get("sessions_started", 0)) == 1 and int(bst.get("auth_ok", 0)) == 1,
          "per-backend counters %r" % bst)
    check(int(allst.get("sessions_started", 0)) == 1, "fleet sessions_started %r" % allst)
    c.send(sc.call_disconnect())
    c.recv_ctrl(3)
    c.close()
    # the ended session's bytes reach both the backend's and the fleet's totals
    sk = P + "session:" + r.start["env"]["SSTP_SESSION_ID"]
    pf.wait_for(lambda: rc.cmd("EXISTS", sk) == 0, 5, "the session hash outlived the session")
    bst = rc.hgetall(P + "stats:backend:be-r")
    allst = rc.hgetall(P + "stats")
    check(int(bst.get("sessions_ended", 0)) == 1 and int(bst["bytes_in"]) > 0 and
          bst["bytes_in"] == allst["bytes_in"] and bst["bytes_out"] == allst["bytes_out"],
          "byte totals %r vs %r" % (bst, allst))


@pf.with_fleet
def t_affinity_renew(env, fl):
    a = env.backend()
    s = fl.sections(["a %s" % a.addr], affinity={"mode": "client_ip", "ttl": "2s"})
    p = env.proxy(s)
    p.wait_log(r"ev=redis_up")
    key = P + "aff:ip:127.0.0.1"
    corr, c = pf.session(env, hold=True)
    check(fl.rc.cmd("GET", key) == "a", "affinity not recorded")
    t_end = time.time() + 5            # 2.5 TTLs
    while time.time() < t_end:
        check(fl.rc.cmd("GET", key) == "a", "the affinity record of a live session expired")
        time.sleep(0.2)
    c.close()
    t0 = time.time()
    pf.wait_for(lambda: fl.rc.cmd("GET", key) is None, 4, "the record outlived its session by > 2 TTLs")
    print("     affinity: held 5 s past a 2 s TTL; gone %.1f s after the session ended" % (time.time() - t0))


@pf.with_fleet
def t_redis_restart(env, fl):
    be = fl.real("be-x", policy="deny")   # stats_interval 1 s, max 1 session per user
    env.proxy(fl.sections(["be-x %s" % be.addr]))
    users = ["u%d" % i for i in range(5)]
    live, sids = [], []
    for u in users:
        hlak = be.prepare(u)
        c, r, corr = be.call(env)
        c.call_connected(hlak)
        live.append(c)
        sids.append(r.start["env"]["SSTP_SESSION_ID"])
    rc = fl.rc
    pf.wait_for(lambda: all(s in sstpctl_sessions(fl) for s in sids), 3, "sessions not listed before")
    fl.rc.close()
    fl.redis.kill()
    time.sleep(0.5)
    fl.redis.start()
    rc = fl.rc = fl.redis.client()
    t0 = time.time()

    def complete():
        out = sstpctl_sessions(fl)
        return (all(s in out for s in sids) and
                sorted(rc.cmd("SMEMBERS", P + "backend:be-x:sessions") or []) == sorted(sids) and
                all(rc.cmd("ZCARD", P + "user:" + hashlib.sha256(u.encode()).hexdigest()) == 1
                    for u in users) and rc.cmd("EXISTS", P + "backend:be-x") == 1)
    # one stats interval (1 s) plus the client's reconnect backoff
    pf.wait_for(complete, 2.5, "the fleet view was not back: %s" % sstpctl_sessions(fl))
    print("     redis restart: every session, index and the registry back %.2f s after the restart"
          % (time.time() - t0))
    # the per-user limit holds again: u0 already has a session
    # (the policy runs once the binding is verified)
    h2 = be.prepare("u0")
    c2, r2, _ = be.call(env)
    c2.call_connected(h2)
    m = c2.recv_ctrl(5)
    check(getattr(m, "msg_type", None) == sc.CALL_DISCONNECT, "u0's second session: want "
          "CALL_DISCONNECT, got %r" % (m,))
    check(be.b.wait_log("auth_fail", 3, reason="max_sessions_per_user"), "no auth_fail")
    c2.close()
    for c in live:
        check(c.recv_ctrl(0.1) is sc.TIMEOUT, "a live session was disturbed")
        c.close()


@pf.with_fleet
def t_duplicate_id(env, fl):
    one, two = fl.real("dup-1"), fl.real("dup-2")
    for r in (one, two):
        r.b.stop()
        r.cfg["backend"]["id"] = "dup"
        r.cfg["redis"]["heartbeat"] = "0.3s" if r is one else "0.2s"
        r.start()
    check(one.b.wait_log("duplicate_id", 5, id="dup"), "the first one never logged duplicate_id")
    check(two.b.wait_log("duplicate_id", 5, id="dup"), "the second one never logged duplicate_id")


@pf.with_fleet
def t_interim(env, fl):
    be = fl.real("be-i")                  # stats_interval 1 s
    admin = pu.free_port()
    be.b.stop()
    be.cfg["backend"]["admin"] = "127.0.0.1:%d" % admin
    be.start()                            # (its log still holds the first life's "ready")

    def healthy():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % admin, timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False
    pf.wait_for(healthy, 10, "the restarted backend never answered /healthz")
    env.proxy(fl.sections(["be-i %s" % be.addr]))
    rc = fl.rc
    clients, sids = [], []
    for i in range(12):
        hlak = be.prepare("user%d" % i)
        c, r, corr = be.call(env)
        c.call_connected(hlak)
        clients.append(c)
        sids.append(r.start["env"]["SSTP_SESSION_ID"])
    for rnd in range(3):
        for i, c in enumerate(clients):
            c.send(sc.data(b"\xff\x03" + b"x" * (10 * (i + 1) + rnd)))
        time.sleep(1.25)                  # one interval and a tick
        now_ms = time.time() * 1000
        sum_in = sum_out = 0
        for sid in sids:
            h = rc.hgetall(P + "session:" + sid)
            check(h and now_ms - int(h["updated"]) < 2000, "session %s stale or gone: %r" % (sid, h))
            check(rnd == 0 or int(h["bytes_in"]) > 0, "session %s: no bytes counted" % sid)
            sum_in += int(h["bytes_in"])
            sum_out += int(h["bytes_out"])
        check(sorted(rc.cmd("SMEMBERS", P + "backend:be-i:sessions")) == sorted(sids), "backend set")
        bst, allst = rc.hgetall(P + "stats:backend:be-i"), rc.hgetall(P + "stats")
        check(int(bst["bytes_in"]) == sum_in == int(allst["bytes_in"]) and
              int(bst["bytes_out"]) == sum_out == int(allst["bytes_out"]),
              "totals %r / %r vs sums in=%d out=%d" % (bst, allst, sum_in, sum_out))
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=5) as resp:
        text = resp.read().decode()
    refused = sum(pu.metric(text, "sstp_backend_redis_commands_total", {"result": x}) or 0
                  for x in ("refused_down", "refused_full"))
    upserts = pu.metric(text, "sstp_backend_fleet_upserts_total") or 0
    errors = pu.metric(text, "sstp_backend_fleet_write_errors_total")
    check(refused == 0 and errors == 0 and upserts >= 3 * len(sids),
          "backend metrics: refused=%r write_errors=%r upserts=%r" % (refused, errors, upserts))
    print("     interim: %d sessions fresh after each of 3 intervals; totals = sums (in=%d out=%d); "
          "upserts=%d refused=0" % (len(sids), sum_in, sum_out, upserts))
    for c in clients:
        c.close()


CASES = [
    ("proxy_registry", t_proxy_registry),
    ("affinity_renew", t_affinity_renew),
    ("redis_restart", t_redis_restart),
    ("duplicate_id", t_duplicate_id),
    ("interim", t_interim),
]

if __name__ == "__main__":
    try:
        sys.exit(pe.main(CASES, sys.argv[1:]))
    finally:
        H.kill_all_started()
