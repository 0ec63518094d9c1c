#!/usr/bin/env python3
"""registry_trust.py — the Redis backend registry as a trust boundary
(issue 11), against a real redis-server, real sstp-proxy and sstp-backend
(fake pppd) on loopback:

  ignored        entries pointing at 127.0.0.1 (no registry_allow), the
                 metadata address, 0.0.0.0, an IPv4-mapped loopback, outside
                 the allowlist, with an id of 32+ bytes, an id that is not
                 its key's, an unreadable capacity: none gets a connection,
                 each is counted by reason, one log line per change; an
                 entry inside an explicit allowlist entry is used
  mtls           a real sstp-backend registered as kind mtls, certificate
                 naming its id: sessions work end to end; the same listener
                 registered under another id is refused (certificate name),
                 and registry_mtls_only ignores kind proxy entries
  capacity       a backend at its registered capacity gets no session; one
                 that refuses (full in fact, not in the registry) is not
                 marked down, only skipped until its next heartbeat
  capacity_tls   the same refusal by an mTLS backend (closed before TLS)
  first_check    a backend that registers after start is not tried before
                 its first good health check
  grace          FLUSHALL: no 503 within redis.registry_grace, the last list
                 in use (counted, logged); after it the empty list is taken
Run by tests/integration/registry_trust.sh; a case name as an argument runs
only that case. Every wait is bounded; only processes started here are
signalled.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H                      # noqa: E402
import proxy_env as pe                   # noqa: E402
import proxy_fleet as pf                 # noqa: E402
import proxy_util as pu                  # noqa: E402
from proxy_util import check             # noqa: E402

P = pf.P


def ignored(p, env, reason):
    return pu.metric(pf.metrics(p, env), "sstp_proxy_registry_ignored_total", {"reason": reason}) or 0


def raw_register(rc, key_id, fields, ttl=120):
    """An arbitrary registry entry: `fields` as written, under backend:<key_id>."""
    hb = int(time.time() * 1000)
    args = []
    for k, v in fields.items():
        args += [k, v]
    rc.cmd("HSET", P + "backend:" + key_id, *args)
    rc.cmd("EXPIRE", P + "backend:" + key_id, ttl)
    rc.cmd("ZADD", P + "backends", hb, key_id)


def entry(bid, addr, kind="proxy", capacity=1000, sessions=0):
    hb = int(time.time() * 1000)
    return {"id": bid, "addr": addr, "kind": kind, "group": "", "weight": 1, "capacity": capacity,
            "sessions": sessions, "state": "up", "version": "test", "started": hb, "heartbeat": hb}


def no_attempts(p, bid):
    return [ln for ln in p.text().splitlines()
            if re.search(r" ev=(backend_pick|backend_fail|start) .*backend=%s " % re.escape(bid), ln + " ")]


# ---- cases ----------------------------------------------------------------------

def untouched(r):
    """No connection reached real backend r (a session or a refusal logs)."""
    return not r.b.entries("close") and not r.b.entries("refuse")


def moved(fl, r, host):
    """Restarts real backend r on host (another loopback address)."""
    r.b.stop()
    r.port = pu.free_port(host)
    r.addr = "%s:%d" % (host, r.port)
    r.cfg["listen"]["proxy"] = r.addr
    r.b = H.Backend(r.work, None, r.cfg)
    r.b.start()
    return r


def redis_opts(fl, **kw):
    s = fl.sections([])
    s["redis"].update(kw)
    return s


@pf.with_fleet
def t_ignored(env, fl):
    trap = fl.real("trap", redis=False)     # on 127.0.0.1: must never be reached
    # 1. no allowlist: loopback and friends are refused whatever else
    s = redis_opts(fl)
    del s["redis"]["registry_allow"]
    p = env.proxy(s)
    p.wait_log(r"ev=redis_up")
    rc = fl.rc
    bad = {
        "loop": entry("loop", trap.addr),
        "mapped": entry("mapped", "[::ffff:127.0.0.1]:%d" % trap.port),
        "meta": entry("meta", "169.254.169.254:80"),
        "zero": entry("zero", "0.0.0.0:%d" % trap.port),
        "v6loop": entry("v6loop", "[::1]:%d" % trap.port),
        "a" * 32: entry("a" * 32, "192.0.2.10:4433"),
        "evil": entry("good", "192.0.2.11:4433"),    # claims another id
        "nocap": dict(entry("nocap", "192.0.2.12:4433"), capacity="lots"),
        "tlsonly": entry("tlsonly", "192.0.2.13:4433", kind="tls"),
        "public": entry("public", "192.0.2.14:4433"),  # no allowlist: private ranges only
        "nat64": entry("nat64", "[64:ff9b::7f00:1]:%d" % trap.port),  # 127.0.0.1 inside
    }
    rc.cmd("MULTI")                         # all at once: one read sees them all
    for key_id, fields in bad.items():
        raw_register(rc, key_id, fields)
    rc.cmd("EXEC")
    want = {"addr_forbidden": 6, "bad_id": 1, "id_mismatch": 1, "bad_number": 1, "bad_kind": 1,
            "addr_not_allowed": 1}
    pf.wait_for(lambda: all(ignored(p, env, r) >= n for r, n in want.items()), 5,
                "ignored entries not counted by reason")
    for _ in range(3):
        check(pf.status_of(env) == 503, "a bad entry was used: want 503 with no good backend")
    check(untouched(trap), "the loopback backend got a connection")
    check(not no_attempts(p, "loop") and not no_attempts(p, "good"), "a refused entry was tried")
    time.sleep(1.0)                           # three more reads: still one log line
    lines = p.lines("registry_ignored")
    check(len(lines) == 1, "want one registry_ignored line per change, got %d" % len(lines))
    for token in ("loop:addr_forbidden", "meta:addr_forbidden", "evil:id_mismatch",
                  "nocap:bad_number", "tlsonly:bad_kind", "v6loop:addr_forbidden",
                  "public:addr_not_allowed", "nat64:addr_forbidden"):
        check(token in lines[0], "%s missing from %r" % (token, lines[0]))
    counts = {r: ignored(p, env, r) for r in want}
    p.stop()

    # 2. an allowlist: loopback only through an entry inside 127/8 that
    # holds it; an address outside the list is not allowed
    for key_id in list(bad):
        rc.cmd("DEL", P + "backend:" + key_id)
        rc.cmd("ZREM", P + "backends", key_id)
    ok = moved(fl, fl.real("allowed", redis=False), "127.0.0.2")
    raw_register(rc, "allowed", entry("allowed", ok.addr))
    raw_register(rc, "loop", entry("loop", trap.addr))
    raw_register(rc, "outside", entry("outside", "192.0.2.20:4433"))
    p2 = env.proxy(redis_opts(fl, registry_allow="127.0.0.2/32 10.0.0.0/8"))
    p2.wait_log(r"ev=registry worker=0 registered=1 backends=1 ", timeout=5)
    for _ in range(3):
        check(pf.landed(p2, pf.session(env)) == "allowed", "the allowed entry was not used")
    pf.wait_for(lambda: ignored(p2, env, "addr_forbidden") >= 1 and ignored(p2, env, "addr_not_allowed") >= 1,
                3, "forbidden / not allowed entries not counted")
    check(untouched(trap), "the loopback backend outside the allowlist got a connection")
    print("     ignored: %r; allowlisted 127.0.0.2 used, 127.0.0.1 and 192.0.2.20 refused" % counts)


def mtls_backend(fl, bid, cert, redis=True, max_sessions=None):
    """A real sstp-backend with only an mTLS listener: it registers kind mtls."""
    env = fl.env
    r = fl.real(bid, redis=redis)
    r.b.stop()
    r.cfg["listen"] = {"mtls": r.addr, "proxy_allow": "127.0.0.1/32"}
    if max_sessions:
        r.cfg["limits"]["max_sessions"] = max_sessions
    r.cfg["tls"] = {"cert": env.cert(cert + ".crt"), "key": env.cert(cert + ".key"),
                    "proxy_ca": env.cert("ca.crt")}
    r.b = H.Backend(r.work, None, r.cfg)
    r.b.start()
    return r


@pf.with_fleet
def t_mtls(env, fl):
    subprocess.run([os.path.join(pu.ROOT, "scripts", "mkcerts.sh"), env.certs, "mt-good"], check=True,
                   stdout=subprocess.DEVNULL)
    be = mtls_backend(fl, "mt-good", "mt-good")
    s = redis_opts(fl, registry_mtls_only="yes")
    s["backends"].update({"ca": env.cert("ca.crt"), "cert": env.cert("proxy-client.crt"),
                          "key": env.cert("proxy-client.key")})
    p = env.proxy(s)
    p.wait_log(r"ev=registry worker=0 registered=1 backends=1 ", timeout=5)
    check(fl.rc.hgetall(P + "backend:mt-good").get("kind") == "mtls", "the backend did not register as mtls")
    hlak = be.prepare()
    c, r, corr = be.call(env)
    check(pf.landed(p, corr) == "mt-good", "the session did not go to the mtls backend")
    c.call_connected(hlak)
    check(be.b.wait_log("binding_ok", 5), "no binding_ok through mTLS")
    c.close()
    # the same listener under another id: its certificate does not name it
    raw_register(fl.rc, "mt-other", entry("mt-other", be.addr, kind="mtls"))
    raw_register(fl.rc, "plain", entry("plain", be.addr, kind="proxy"))
    p.wait_log(r"ev=registry worker=0 registered=2 backends=2 ", timeout=5)
    pf.wait_for(lambda: ignored(p, env, "not_mtls") >= 1, 3, "a kind proxy entry was not ignored")
    for _ in range(4):                        # wrr: mt-other's turn comes, fails, mt-good takes it
        check(pf.landed(p, pf.session(env)) == "mt-good", "a session did not go to mt-good")
    fails = [ln for ln in p.lines("backend_fail") if "backend=mt-other" in ln]
    check(fails and "tls:" in fails[0], "no TLS failure for the wrong name: %r" % fails)
    check(not [ln for ln in p.lines("start") if "backend=mt-other" in ln],
          "a session went to a backend whose certificate does not name its id")
    check(not no_attempts(p, "plain"), "the kind proxy entry was tried")
    print("     mtls: end to end through mt-good; mt-other refused (%s)" % fails[0].split("reason=")[-1][:70])


@pf.with_fleet
def t_capacity(env, fl):
    full = fl.real("full", redis=False)
    room = fl.real("room", redis=False)
    s = fl.sections([], backends={"policy": "leastsessions", "retries": "2"})
    p = env.proxy(s)
    raw_register(fl.rc, "full", entry("full", full.addr, capacity=3, sessions=3))
    raw_register(fl.rc, "room", entry("room", room.addr, capacity=100, sessions=50))
    p.wait_log(r"ev=registry worker=0 registered=2 backends=2 ", timeout=5)
    for _ in range(4):
        check(pf.landed(p, pf.session(env)) == "room", "a session went to the full backend")
    check(not no_attempts(p, "full"), "the full backend was tried")
    # full in fact: the registry says 0 of 100, the backend says no (max_sessions 1, one held)
    liar = fl.real("liar", redis=False)
    liar.b.stop()
    liar.cfg["limits"]["max_sessions"] = "1"
    liar.b = H.Backend(liar.work, None, liar.cfg)
    liar.b.start()
    fl.rc.cmd("DEL", P + "backend:full")
    fl.rc.cmd("ZREM", P + "backends", "full")
    raw_register(fl.rc, "liar", entry("liar", liar.addr, capacity=100, sessions=0))
    p.wait_log(r"ev=registry worker=0 registered=2 backends=2 ", count=2, timeout=5)
    held = []
    for _ in range(6):
        corr, c = pf.session(env, hold=True)
        held.append(c)
        if pf.landed(p, corr) == "liar":
            break
    check(any("backend=liar" in ln for ln in p.lines("start")), "liar never got its one session")
    for _ in range(4):                        # it refuses now; the proxy retries elsewhere
        check(pf.landed(p, pf.session(env)) == "room", "a session did not go to room")
    # a full backend reads the request head and answers 503 (review item 1:
    # a close at accept would also hit the proxies' health probes)
    refused = [ln for ln in p.lines("backend_fail") if "backend=liar" in ln]
    check(refused and all("cause=busy reason=answer:503" in ln for ln in refused),
          "want liar's refusals answered 503 (busy): %r" % refused)
    check(not [ln for ln in p.lines("backend_down") if "backend=liar" in ln],
          "a backend that refused for being full was marked down")
    check(pu.metric(pf.metrics(p, env), "sstp_proxy_backend_up", {"backend": "liar"}) == 1,
          "backend_up of liar is not 1")
    for c in held:
        c.close()
    print("     capacity: full backend never tried; the refusing one answers 503, not marked down")


@pf.with_fleet
def t_first_check(env, fl):
    a = fl.real("a", redis=False)
    s = fl.sections([], health={"probe": "sstp", "interval": "3s", "rise": "1"},
                    backends={"policy": "leastconn"})
    raw_register(fl.rc, "a", entry("a", a.addr))
    p = env.proxy(s)
    p.wait_log(r"ev=registry worker=0 registered=1 backends=1 ", timeout=5)
    # the first set may be used at once; give "a" one good check anyway
    pf.wait_for(lambda: a.b.find("close", term="--"), 5, "a never answered a health check")
    dead_port = pu.free_port()              # nothing listens there
    raw_register(fl.rc, "new", entry("new", "127.0.0.1:%d" % dead_port))
    t_add = time.time()
    p.wait_log(r"ev=registry worker=0 registered=2 backends=2 ", timeout=5)
    n = 0
    while time.time() - t_add < 1.5:        # well before its first check (3 s interval)
        check(pf.landed(p, pf.session(env)) == "a", "a session went elsewhere")
        n += 1
    check(not no_attempts(p, "new"), "the new backend was tried before a health check: %r" % no_attempts(p, "new"))
    print("     first_check: %d sessions in the 1.5 s after a backend registered, none tried it" % n)


@pf.with_fleet
def t_grace(env, fl):
    a = fl.real("ga", redis=False)
    b = fl.real("gb", redis=False)
    s = redis_opts(fl, registry_grace="3s")
    raw_register(fl.rc, "ga", entry("ga", a.addr))
    raw_register(fl.rc, "gb", entry("gb", b.addr))
    p = env.proxy(s)
    p.wait_log(r"ev=registry worker=0 registered=2 backends=2 ", timeout=5)
    check(pf.status_of(env) == 200, "no session before the flush")
    t0 = time.time()
    fl.rc.cmd("FLUSHALL")
    codes = []
    while time.time() - t0 < 2.4:           # inside the grace: every session served
        codes.append(pf.status_of(env))
        time.sleep(0.05)
    check(codes and all(c == 200 for c in codes), "503 within the grace: %r" % codes)
    p.wait_log(r"ev=registry_hold ", timeout=1)
    check((pu.metric(pf.metrics(p, env), "sstp_proxy_registry_held_total") or 0) >= 3,
          "held reads not counted")
    # after it, the empty list is the truth
    p.wait_log(r"ev=registry_hold_end ", timeout=3)
    pf.wait_for(lambda: pf.status_of(env) == 503, 2, "the empty registry was never taken")
    took = time.time() - t0
    check(took >= 3.0, "the empty registry was taken after %.2fs, before the 3 s grace" % took)
    print("     grace: %d sessions in 2.4 s after FLUSHALL all served; empty list taken after %.2fs"
          % (len(codes), took))


@pf.with_fleet
def t_capacity_tls(env, fl):
    """A full mTLS backend answers 503 after the handshake (review item 1:
    never a close, which a health probe would take for death): busy, not
    down."""
    subprocess.run([os.path.join(pu.ROOT, "scripts", "mkcerts.sh"), env.certs, "tls-liar", "tls-room"],
                   check=True, stdout=subprocess.DEVNULL)
    liar = mtls_backend(fl, "tls-liar", "tls-liar", redis=False, max_sessions="1")
    room = mtls_backend(fl, "tls-room", "tls-room", redis=False)
    s = redis_opts(fl, registry_mtls_only="yes")
    s["backends"].update({"ca": env.cert("ca.crt"), "cert": env.cert("proxy-client.crt"),
                          "key": env.cert("proxy-client.key"), "policy": "leastsessions"})
    p = env.proxy(s)
    raw_register(fl.rc, "tls-liar", entry("tls-liar", liar.addr, kind="mtls", capacity=100, sessions=0))
    raw_register(fl.rc, "tls-room", entry("tls-room", room.addr, kind="mtls", capacity=100, sessions=50))
    p.wait_log(r"ev=registry worker=0 registered=2 backends=2 ", timeout=5)
    corr, held = pf.session(env, hold=True)
    check(pf.landed(p, corr) == "tls-liar", "the first session did not go to the emptier backend")
    for _ in range(3):
        check(pf.landed(p, pf.session(env)) == "tls-room", "a session did not go to tls-room")
    refused = [ln for ln in p.lines("backend_fail") if "backend=tls-liar" in ln]
    check(refused and all("cause=busy reason=answer:503" in ln for ln in refused),
          "want tls-liar's refusals answered 503 (busy): %r" % refused)
    check(not [ln for ln in p.lines("backend_down") if "backend=tls-liar" in ln],
          "a full mTLS backend was marked down")
    held.close()


CASES = [
    ("ignored", t_ignored),
    ("mtls", t_mtls),
    ("capacity", t_capacity),
    ("capacity_tls", t_capacity_tls),
    ("first_check", t_first_check),
    ("grace", t_grace),
]

if __name__ == "__main__":
    try:
        sys.exit(pe.main(CASES, sys.argv[1:]))
    finally:
        H.kill_all_started()
