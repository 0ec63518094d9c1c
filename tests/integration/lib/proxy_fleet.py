#!/usr/bin/env python3
"""proxy_fleet.py — sstp-proxy with Redis (issue 5): a real redis-server with a
password on an ephemeral loopback port, the real sstp-backend (fake pppd)
where sessions must complete, the Python test backends elsewhere, and
backends registered by hand where a case needs exact registry contents.

  registry        a backend that registers is used without a restart; once
                  its heartbeat stops it is gone within registry_ttl + interval
  health          a killed backend gets no new session more than 2 s later;
                  restarted, it is back after `rise` checks
  health_tls      checks over mTLS with the proxy's client context; a backend
                  whose certificate does not match its sni= fails them
  affinity        hit, miss, expiry of a short TTL, the fallback when the
                  recorded backend is dead; across two workers
  tenant_groups   ?tenantid= picks the group (static group= and registered);
                  no tenantid: the default group only; unknown group: 503
  chash           the same key lands on the same backend through two proxies
                  of two workers each; removing a backend moves only its keys
  leastsessions   the registry's fleet-wide session counts decide
  per_user        backend policy through the proxy: deny refuses the second
                  session of a user, replace disconnects the first
  schema          every key and field of README's "Redis schema" table after
                  real sessions, reject events, drain/undrain
  redis_outage    Redis slow (SIGSTOP) then killed and restarted while
                  sessions keep coming: none fails; registry and stats resume
Run by tests/integration/proxy_fleet.sh; a case name as an argument runs only
that case. Every wait is bounded; only processes started here are signalled.
"""
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H                      # noqa: E402
import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import redis_util as ru                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

URI = sc.SSTP_URI
P = "sstp:"                              # the default key prefix
LCP_CONF_REQ = bytes.fromhex("ff03c021010100080506deadbeef")
SSTPCTL = os.path.join(pu.ROOT, "build", "sstpctl")


# ---- helpers ----------------------------------------------------------------

TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ")


def ts_of(line):
    """Unix time of a log line (its UTC millisecond timestamp)."""
    m = TS.match(line)
    check(m is not None, "no timestamp on %r" % line)
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def pid_of(line):
    m = re.search(r" sstp-proxy\[(\d+)\] ", line)
    return int(m.group(1)) if m else None


def wait_for(pred, timeout, what, step=0.05):
    v = H.wait_until(pred, timeout, step)
    check(v, "%s (waited %gs)" % (what, timeout))
    return v


def cid():
    return "{%s}" % uuid.uuid4()


def session(env, port=None, tenant=None, pre=b"", corr=None, hold=False):
    """A client through HTTP 200 and CONNECT_ACK; returns its correlation id
    (and the client when hold)."""
    corr = corr or cid()
    c = env.client(port, pre=pre)
    try:
        uri = URI + ("?tenantid=%s" % tenant if tenant is not None else "")
        status, _ = c.http_handshake(corr_id=corr, uri=uri)
        check(status == 200, "HTTP status %r, want 200" % (status,))
        p = c.sstp_connect()
        check(getattr(p, "msg_type", None) == sc.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
    except BaseException:
        c.close()
        raise
    if hold:
        return corr, c
    c.close()
    return corr


def status_of(env, port=None, tenant=None):
    c = env.client(port)
    try:
        uri = URI + ("?tenantid=%s" % tenant if tenant is not None else "")
        return c.http_handshake(uri=uri)[0]
    finally:
        c.close()


def landed(p, corr, timeout=5.0):
    """The backend the proxy sent the session of correlation id corr to."""
    rx = re.compile(r" ev=start .*backend=(\S+) .*corr=%s " % re.escape(corr))

    def find():
        for ln in p.text().splitlines():
            m = rx.search(ln + " ")
            if m:
                return m.group(1)
        return None
    return wait_for(find, timeout, "no ev=start line for %s" % corr)


def metrics(p, env):
    _, text = p.admin_get(env.admin, "/metrics")
    return text


def register(rc, bid, addr, group="", weight=1, sessions=0, state="up", ttl=120, hb=None):
    """What sstp-backend's heartbeat writes (backend/fleet.c), by hand."""
    hb = hb or int(time.time() * 1000)
    key = P + "backend:" + bid
    rc.cmd("HSET", key, "id", bid, "addr", addr, "kind", "proxy", "group", group, "weight", weight,
           "capacity", 1000, "sessions", sessions, "state", state, "version", "test",
           "started", hb, "heartbeat", hb)
    rc.cmd("EXPIRE", key, ttl)
    rc.cmd("ZADD", P + "backends", hb, bid)


class Fleet:
    """One case's Redis and real backends (stopped by close())."""

    def __init__(self, env):
        self.env = env
        self.redis = ru.RedisServer(env.work)
        self.rc = self.redis.client()
        self.reals = []

    def sections(self, servers, workers=1, **over):
        s = self.env.sections(servers, workers=workers, **over)
        s.setdefault("redis", {})
        s["redis"].setdefault("url", self.redis.url)
        s["redis"].setdefault("registry_interval", "0.3s")
        # the backends here live on loopback, which a registry may only
        # name when allowed; departures are timed: no grace for a shrunk list
        s["redis"].setdefault("registry_allow", "127.0.0.0/8")
        s["redis"].setdefault("registry_grace", "0")
        if not servers:
            s["backends"].pop("server")
        return s

    def real(self, bid, redis=True, policy=None, port=None):
        r = RealBackend(self, bid, redis=redis, policy=policy, port=port)
        self.reals.append(r)
        return r

    def close(self):
        errors = []
        for r in self.reals:
            try:
                r.stop()
            except pu.Failure as e:
                errors.append(str(e))
        self.rc.close()
        self.redis.stop()
        if errors:
            raise pu.Failure("; ".join(errors))


class RealBackend:
    """sstp-backend on a proxy listener (fake pppd), registered in Redis
    under `bid` with a fast heartbeat (0.5 s, TTL 2 s)."""

    def __init__(self, fl, bid, redis=True, policy=None, port=None):
        env = fl.env
        self.bid = bid
        self.work = os.path.join(env.work, bid)
        os.makedirs(self.work, exist_ok=True)
        self.pd = H.FakePppdDir(self.work)
        self.port = port or pu.free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.cfg = {
            "backend": {"id": bid, "log_level": "debug"},
            "listen": {"proxy": self.addr, "proxy_allow": "127.0.0.1/32"},
            "tls": {"cert": env.cert("backend.crt"), "key": env.cert("backend.key")},
            "sstp": {"negotiation_timeout": "10s", "handshake_timeout": "5s"},
            "pppd": {"path": self.pd.wrapper, "options": self.pd.options,
                     "plugin": "/usr/lib/sstp-lb-test/not-loaded.so", "kill_grace": "1s"},
            "limits": {"per_source_rate": "0"},
        }
        if redis:
            self.cfg["redis"] = {"url": fl.redis.url, "heartbeat": "0.5s", "registry_ttl": "2s",
                                 "stats_interval": "1s"}
        if policy:
            self.cfg["policy"] = {"max_sessions_per_user": "1", "per_user_action": policy}
        self.b = None
        self.start()

    def start(self):
        self.b = H.Backend(self.work, None, self.cfg)
        self.b.start()

    def kill(self):
        """SIGKILL (its fake pppds too): no goodbye, the heartbeat just stops."""
        for pid in H.children_of(self.b.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.b.proc.kill()
        self.b.proc.wait(5)
        self.b.logf.close()

    def prepare(self, user="alice"):
        """The next fake pppd authenticates `user` with fresh MS-CHAPv2 keys
        and reports an address; returns the client's HLAK."""
        mk = os.urandom(16)
        s_send, s_recv = sc.mschapv2_keys(mk, is_server=True)
        c_send, c_recv = sc.mschapv2_keys(mk, is_server=False)
        self.pd.set(auth={"method": "mschapv2", "keys_set": 1, "recv_key": s_recv.hex(),
                          "send_key": s_send.hex(), "user": user},
                    ip_up={"local": "10.8.0.1", "remote": "10.8.0.11"},
                    write_on_start=[LCP_CONF_REQ.hex()])
        return sc.hlak_client_mschapv2(c_send, c_recv)

    def call(self, env, wait_auth=True):
        """Through the proxy up to the fake pppd's AUTH report (when
        wait_auth; the backend acknowledges it only after CALL_CONNECTED
        verified the binding and the per-user policy allowed the session).
        Returns (client, fake pppd run, correlation id)."""
        corr = cid()
        c = env.client()
        status, _ = c.http_handshake(corr_id=corr)
        check(status == 200, "HTTP status %r through the proxy" % status)
        p = c.sstp_connect()
        check(getattr(p, "msg_type", None) == sc.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
        r = self.pd.find(corr)
        check(r is not None, "no fake pppd of %s on %s" % (corr, self.bid))
        if wait_auth:
            check(r.wait_event("plugin_sent", 5, lambda e: e["type"] == "auth"),
                  "no AUTH report on %s" % self.bid)
        return c, r, corr

    def stop(self):
        if self.b.proc.poll() is None:
            rc = self.b.stop()
            check(rc == 0, "sstp-backend %s exit status %r" % (self.bid, rc))
        rep = self.b.sanitizer_report()
        check(rep is None, "sanitizer report in %s's log:\n%s" % (self.bid, rep))


def with_fleet(fn):
    def run(env):
        fl = Fleet(env)
        failed = True
        try:
            fn(env, fl)
            failed = False
        finally:
            try:
                fl.close()
            except pu.Failure:
                if not failed:
                    raise
            if failed:
                for r in fl.reals:
                    print("---- %s ----\n%s" % (r.bid, r.b.text()[-3000:]))
    return run


# ---- cases ----------------------------------------------------------------------

@with_fleet
def t_registry(env, fl):
    p = env.proxy(fl.sections([]))       # Redis only: no static server
    p.wait_log(r"ev=redis_up")
    check(status_of(env) == 503, "no backend registered yet: want 503")
    be = fl.real("be-reg")                # registers itself: no proxy restart
    p.wait_log(r"ev=registry worker=0 registered=1 backends=1 ", timeout=5)
    hlak = be.prepare()
    c, r, corr = be.call(env)
    check(landed(p, corr) == "be-reg", "the session did not go to the registered backend")
    c.call_connected(hlak)
    check(be.b.wait_log("binding_ok", 5), "no binding_ok on the registered backend")
    c.close()
    # its heartbeat stops: gone within registry_ttl (2 s) + registry_interval (0.3 s)
    t_kill = time.time()
    be.kill()
    line = [ln for ln in p.wait_log(r"ev=registry worker=0 registered=0 backends=0 ", timeout=6)
            .splitlines() if "registered=0 backends=0" in ln][0]
    gone = ts_of(line) - t_kill
    check(gone <= 2.0 + 0.3 + 0.4, "the dead backend stayed in the registry %.2fs" % gone)
    check(status_of(env) == 503, "a session after the backend left: want 503")
    text = metrics(p, env)
    check((pu.metric(text, "sstp_proxy_registry_refreshes_total", {"result": "changed"}) or 0) >= 2,
          "registry changes not counted")
    check(pu.metric(text, "sstp_proxy_redis_connected") == 1, "redis_connected gauge")
    print("     registry: the killed backend left after %.2fs" % gone)


@with_fleet
def t_health(env, fl):
    a = fl.real("hA", redis=False)
    b = fl.real("hB", redis=False)
    s = env.sections(["hA %s" % a.addr, "hB %s" % b.addr])
    s["health"] = {"probe": "sstp"}       # defaults: 500 ms, timeout 1 s, rise 2, fall 2
    p = env.proxy(s)
    got = {landed(p, session(env)) for _ in range(2)}
    check(got == {"hA", "hB"}, "wrr over two healthy backends gave %r" % got)
    wait_for(lambda: a.b.find("close", term="--"), 3, "hA never answered a health probe")
    t_kill = time.time()
    a.kill()
    text = p.wait_log(r"ev=health_down worker=0 backend=hA ", timeout=3)
    down = ts_of([ln for ln in text.splitlines() if "ev=health_down" in ln][0]) - t_kill
    check(down <= 2.0, "health_down %.2fs after the kill" % down)
    time.sleep(max(0.0, t_kill + 2.0 - time.time()))
    for _ in range(4):
        check(landed(p, session(env)) == "hB", "a session went to the dead backend")
    late = [ln for ln in p.text().splitlines()
            if re.search(r" ev=backend_(pick|fail) .*backend=hA ", ln + " ") and ts_of(ln) > t_kill + 2.0]
    check(not late, "hA was still tried more than 2 s after its death: %r" % late)
    # restarted on the same port: back after `rise` (2) good checks
    t_up = time.time()
    a.start()
    text = p.wait_log(r"ev=health_up worker=0 backend=hA checks=2", timeout=4)
    up = ts_of([ln for ln in text.splitlines() if "ev=health_up" in ln][0]) - t_up
    check(up <= 2 * 0.5 + 0.5 + 0.5, "health_up %.2fs after the restart" % up)
    got = {landed(p, session(env)) for _ in range(2)}
    check("hA" in got, "the restarted backend gets no session: %r" % got)
    time.sleep(1.1)
    text = metrics(p, env)
    check(pu.metric(text, "sstp_proxy_backend_healthy", {"backend": "hA"}) == 1, "healthy gauge")
    check((pu.metric(text, "sstp_proxy_health_checks_total", {"result": "fail"}) or 0) >= 2,
          "failed checks not counted")
    print("     health: down %.2fs after the kill, up %.2fs after the restart" % (down, up))


@with_fleet
def t_health_tls(env, fl):
    del fl
    be = env.backend(tls=True)
    tls = {"ca": env.cert("ca.crt"), "cert": env.cert("proxy-client.crt"), "key": env.cert("proxy-client.key")}
    s = env.sections(["good %s tls sni=backend" % be.addr, "wrong %s tls sni=wrong.example" % be.addr],
                     health={"probe": "sstp", "interval": "200ms"})
    s["backends"].update(tls)
    p = env.proxy(s)
    p.wait_log(r"ev=health_down worker=0 backend=wrong reason=tls:", timeout=3)
    probes = [r for r in be.wait_records(2) if r["pp"] and r["pp"]["command"] == 0]
    check(probes, "no PROXY v2 LOCAL probe reached the TLS backend")
    check(probes[0]["head"].startswith(("HEAD %s HTTP/1.1\r\n" % URI).encode()) and
          b"\r\nHost: backend\r\n" in probes[0]["head"], "probe head %r" % probes[0]["head"])
    check(pu.sha256(probes[0]["peer_cert"]) == pu.cert_der_sha256(env.cert("proxy-client.crt")),
          "the probe did not present the proxy's client certificate")
    for _ in range(3):
        check(landed(p, session(env)) == "good", "a session went to the backend failing its checks")
    check(not p.lines("health_down") or all("backend=wrong" in ln for ln in p.lines("health_down")),
          "the good TLS backend failed its checks")


@with_fleet
def t_affinity(env, fl):
    a, b = env.backend(), env.backend()
    s = fl.sections(["a %s" % a.addr, "b %s" % b.addr], workers=2,
                    affinity={"mode": "client_ip", "ttl": "2s"},
                    health={"probe": "sstp", "interval": "200ms", "fall": "1"})
    p = env.proxy(s, workers=2)
    p.wait_log(r"ev=redis_up", count=2)
    key = P + "aff:ip:127.0.0.1"
    first = landed(p, session(env))       # miss: wrr's first choice, recorded
    check(first == "a", "wrr's first choice is a, got %s" % first)
    check(fl.rc.cmd("GET", key) == "a", "affinity not recorded: %r" % fl.rc.cmd("GET", key))
    check(fl.rc.cmd("TTL", key) in (1, 2), "affinity TTL %r, want <= 2" % fl.rc.cmd("TTL", key))
    pids = set()
    for _ in range(5):                    # hits (wrr alone would alternate), on both workers
        corr = session(env)
        check(landed(p, corr) == "a", "reconnect did not go to the recorded backend")
        pids.update(pid_of(ln) for ln in p.lines("start") if corr in ln)
    # expiry: the key goes, the next session is a fresh choice, recorded
    wait_for(lambda: fl.rc.cmd("GET", key) is None, 3.5, "the affinity key did not expire")
    nxt = landed(p, session(env))
    check(nxt == "b" or nxt == "a", "after expiry: %s" % nxt)
    check(fl.rc.cmd("GET", key) == nxt, "the fresh choice was not recorded")
    # the recorded backend dies: a fresh choice, recorded instead
    fl.rc.cmd("SET", key, "b", "EX", "60")
    b.stop()
    p.wait_log(r"ev=health_down worker=\d backend=b ", count=2, timeout=3)
    check(landed(p, session(env)) == "a", "the dead recorded backend was not replaced")
    check(fl.rc.cmd("GET", key) == "a", "the replacement was not recorded")
    time.sleep(1.1)
    text = metrics(p, env)
    m = {r: pu.metric(text, "sstp_proxy_affinity_total", {"result": r}) or 0
         for r in ("hit", "miss", "stale", "timeout", "unavailable")}
    check(m["hit"] >= 5 and m["miss"] >= 2 and m["stale"] == 1 and m["unavailable"] == 0,
          "affinity counters %r" % m)
    print("     affinity: %r, served by %d worker(s)" % (m, len(pids)))


@with_fleet
def t_tenant_groups(env, fl):
    a, b, g = env.backend(), env.backend(), env.backend()
    register(fl.rc, "g-reg", g.addr, group="globex")
    s = fl.sections(["a %s" % a.addr, "b %s group=acme" % b.addr])
    p = env.proxy(s)
    p.wait_log(r"ev=registry worker=0 registered=1 backends=3 ", timeout=5)
    for _ in range(3):
        check(landed(p, session(env)) == "a", "no tenantid must stay in the default group")
        check(landed(p, session(env, tenant="acme")) == "b", "tenantid=acme must go to group acme")
        check(landed(p, session(env, tenant="globex")) == "g-reg",
              "tenantid=globex must go to the registered group")
    check(status_of(env, tenant="initech") == 503, "a tenant no backend serves: want 503")
    p.wait_log(r"ev=no_backend .*reason=no_backend_for_tenant tenant=initech")
    # the registered group leaves: nobody serves its tenant now
    fl.rc.cmd("DEL", P + "backend:g-reg")
    p.wait_log(r"ev=registry worker=0 registered=0 backends=2 ", timeout=5)
    check(status_of(env, tenant="globex") == 503, "the registered group left: want 503")
    time.sleep(1.1)
    text = metrics(p, env)
    check(pu.metric(text, "sstp_proxy_no_backend_reasons_total",
                    {"reason": "no_backend_for_tenant"}) == 2, "reason counter")


def chash_keys(env, p_ports, n_keys, per_proxy):
    """{source address: set of backends its sessions landed on}"""
    out = {}
    for i in range(n_keys):
        src = "198.51.100.%d" % (i + 1)
        for port, p in p_ports:
            for k in range(per_proxy):
                pre = sc.proxy_v1(src, "127.0.0.1", 40000 + k, port)
                out.setdefault(src, set()).add(landed(p, session(env, port=port, pre=pre)))
    return out


@with_fleet
def t_chash(env, fl):
    del fl                                # consistent hashing needs no Redis
    bes = {n: env.backend() for n in ("a", "b", "c")}
    procs, confs = [], []
    for _ in range(2):
        s = env.sections(["%s %s" % (n, be.addr) for n, be in sorted(bes.items())], workers=2,
                         affinity={"mode": "client_ip"})
        s["listen"].update({"bind": ["127.0.0.1:%d proxy" % env.port], "proxy_allow": "127.0.0.1/32"})
        s["backends"]["policy"] = "chash"
        procs.append((env.port, env.proxy(s, workers=2)))
        confs.append(s)
    keys = chash_keys(env, procs, 12, 3)
    split = {src: got for src, got in keys.items() if len(got) != 1}
    check(not split, "one key, several backends: %r" % split)
    used = {next(iter(v)) for v in keys.values()}
    check(len(used) >= 2, "12 keys all on %r: no spread" % used)
    pids = {pid_of(ln) for _, p in procs for ln in p.lines("start")}
    check(len(pids) >= 3, "sessions were served by only %d worker processes" % len(pids))
    # without c: c's keys move, the others stay
    port, p = procs[0]
    confs[0]["backends"]["server"] = ["a %s" % bes["a"].addr, "b %s" % bes["b"].addr]
    p.write_conf(pe.render(confs[0]))
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=\d .*backends=2", count=2)
    after = chash_keys(env, [(port, p)], 12, 1)
    for src, was in keys.items():
        now = after[src]
        if was != {"c"}:
            check(now == was, "key %s moved from %r to %r though its backend stayed" % (src, was, now))
        else:
            check(now <= {"a", "b"}, "key %s of the removed backend went to %r" % (src, now))
    print("     chash: %d keys over %r, %d worker processes" % (len(keys), sorted(used), len(pids)))


@with_fleet
def t_leastsessions(env, fl):
    a, b = env.backend(), env.backend()
    register(fl.rc, "ls-a", a.addr, sessions=10)
    register(fl.rc, "ls-b", b.addr, sessions=0)
    s = fl.sections([])
    s["backends"]["policy"] = "leastsessions"
    p = env.proxy(s)
    p.wait_log(r"ev=registry worker=0 registered=2 backends=2 ", timeout=5)
    got = [landed(p, session(env)) for _ in range(6)]
    check(got == ["ls-b"] * 6, "fleet counts 10 vs 0 (+ picks since) gave %r" % got)
    # the next heartbeat says ls-b holds 30 now: the picks since the last one
    # are in that count, ls-a (10) is the least loaded
    register(fl.rc, "ls-b", b.addr, sessions=30, hb=int(time.time() * 1000) + 1)
    time.sleep(0.8)                      # two registry reads
    got = [landed(p, session(env)) for _ in range(4)]
    check(got == ["ls-a"] * 4, "fleet counts 10 vs 30 gave %r" % got)


@with_fleet
def t_per_user(env, fl):
    # deny: the second session of alice is refused, the first one lives on
    d = fl.real("pu-deny", policy="deny")
    p = env.proxy(env.sections(["pu-deny %s" % d.addr]))  # the backends use Redis, the proxy need not
    # (the policy runs once a session's binding verified, never before)
    h1 = d.prepare("alice")
    c1, r1, _ = d.call(env)
    c1.call_connected(h1)
    check(r1.wait_event("plugin_ack", 5), "the first session was not acknowledged")
    h2 = d.prepare("alice")
    c2, r2, _ = d.call(env)
    c2.call_connected(h2)
    m = c2.recv_ctrl(5)
    check(getattr(m, "msg_type", None) == sc.CALL_DISCONNECT, "deny: want CALL_DISCONNECT, got %r" % (m,))
    check(d.b.wait_log("auth_fail", 3, reason="max_sessions_per_user"), "no auth_fail on the backend")
    check(not r2.events("plugin_ack"), "the denied session was acknowledged")
    check(r1.alive() and c1.recv_ctrl(0.5) is sc.TIMEOUT, "the first session was disturbed")
    c1.close()
    c2.close()
    p.stop()
    # replace: the second session of bob is let in, the first one is disconnected
    rp = fl.real("pu-repl", policy="replace")
    env.proxy(env.sections(["pu-repl %s" % rp.addr]))
    h1 = rp.prepare("bob")
    c1, r1, _ = rp.call(env)
    c1.call_connected(h1)
    check(r1.wait_event("plugin_ack", 5), "the first session was not acknowledged")
    h2 = rp.prepare("bob")
    c2, r2, _ = rp.call(env)
    c2.call_connected(h2)
    m = c1.recv_ctrl(5)
    check(getattr(m, "msg_type", None) == sc.CALL_DISCONNECT, "replace: want CALL_DISCONNECT on the "
          "first session, got %r" % (m,))
    check(rp.b.wait_log("policy_replace", 3, user="bob"), "no policy_replace on the backend")
    check(c2.recv_ctrl(0.5) is sc.TIMEOUT, "the new session was disturbed")
    c1.close()
    c2.close()


def sstpctl(fl, *args):
    r = subprocess.run([SSTPCTL, "-r", fl.redis.url] + list(args), capture_output=True, text=True,
                       timeout=10)
    check(r.returncode == 0, "sstpctl %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def near_now_ms(v, slack_s=30):
    return abs(int(v) - time.time() * 1000) < slack_s * 1000


@with_fleet
def t_schema(env, fl):
    be = fl.real("be-s")
    s = fl.sections([], affinity={"mode": "client_ip", "ttl": "10m"})
    p = env.proxy(s)
    p.wait_log(r"ev=registry worker=0 registered=1 ", timeout=5)
    rc = fl.rc
    hlak = be.prepare("alice")
    c, r, corr = be.call(env)
    c.call_connected(hlak)
    check(be.b.wait_log("binding_ok", 5), "no binding_ok")
    sid = r.start["env"]["SSTP_SESSION_ID"]
    sk = P + "session:" + sid
    wait_for(lambda: rc.hgetall(sk).get("ip") == "10.8.0.11" and rc.hgetall(sk).get("state") == "connected",
             5, "the session hash never showed the connected state and address")
    # IPV6CP up: the client's interface identifier becomes the session's
    # ip6, its link-local address (field since schema 2.1)
    check(rc.hgetall(sk).get("ip6") == "", "ip6 before IPV6CP: %r" % rc.hgetall(sk).get("ip6"))
    ids = bytes.fromhex("0000000000000001" "02163efffe4a5b6c")
    r.ctl(cmd="plugin_raw", hex=(bytes([1, 3, 0, 16]) + ids).hex())   # version 1, IPV6_UP, 16 bytes
    check(be.b.wait_log("ppp6_up", 5, sid=sid, local="fe80::1", remote="fe80::216:3eff:fe4a:5b6c"),
          "no ppp6_up local=fe80::1 remote=fe80::216:3eff:fe4a:5b6c")
    wait_for(lambda: rc.hgetall(sk).get("ip6") == "fe80::216:3eff:fe4a:5b6c", 5,
             "the session hash never showed ip6 (%r)" % rc.hgetall(sk).get("ip6"))
    check(rc.hgetall(sk).get("ip") == "10.8.0.11", "ip6 changed ip: %r" % rc.hgetall(sk).get("ip"))
    c.send(sc.data(b"\xff\x03" + b"x" * 100))
    # schema
    check(rc.cmd("GET", P + "schema") == "2.1", "schema version")
    # backend:<id>
    h = rc.hgetall(P + "backend:be-s")
    want = {"id", "addr", "kind", "group", "weight", "capacity", "sessions", "state", "version", "started",
            "heartbeat"}
    check(want <= set(h), "backend hash lacks %r" % (want - set(h)))
    check(h["id"] == "be-s" and h["addr"] == be.addr and h["kind"] == "proxy" and h["group"] == "" and
          h["weight"] == "1" and int(h["capacity"]) > 0 and h["state"] == "up" and h["version"],
          "backend hash %r" % h)
    wait_for(lambda: rc.hgetall(P + "backend:be-s").get("sessions") == "1", 2, "sessions != 1")
    check(int(h["started"]) <= int(h["heartbeat"]) and near_now_ms(h["heartbeat"], 3), "times %r" % h)
    check(0 < rc.cmd("TTL", P + "backend:be-s") <= 2, "backend TTL %r" % rc.cmd("TTL", P + "backend:be-s"))
    check(near_now_ms(rc.cmd("ZSCORE", P + "backends", "be-s"), 3), "backends zset score")
    # backend:<id>:sessions
    check(rc.cmd("SMEMBERS", P + "backend:be-s:sessions") == [sid], "backend session set")
    check(rc.cmd("TTL", P + "backend:be-s:sessions") > 0, "backend session set has no TTL")
    # session:<sid>
    h = rc.hgetall(sk)
    want = {"id", "user", "client", "client_port", "sni", "proxy", "backend", "start", "bytes_in",
            "bytes_out", "ip", "state", "updated"}
    check(want <= set(h), "session hash lacks %r" % (want - set(h)))
    check(h["id"] == sid and h["user"] == "alice" and h["client"] == "127.0.0.1" and
          int(h["client_port"]) == c.sock.getsockname()[1] and h["sni"] == "localhost" and
          h["proxy"] == "px-schema" and h["backend"] == "be-s" and near_now_ms(h["start"]) and
          int(h["bytes_in"]) >= 0 and int(h["bytes_out"]) >= 0 and int(h["updated"]) >= int(h["start"]),
          "session hash %r" % h)
    check(rc.cmd("TTL", sk) > 0, "session hash without TTL")
    check(rc.cmd("ZSCORE", P + "sessions", sid) == h["start"], "sessions zset")
    uk = P + "user:" + hashlib.sha256(b"alice").hexdigest()  # the exact name, hashed
    check(h["user_key"] == uk[len(P) + 5:], "session's user key %r" % h.get("user_key"))
    check(rc.cmd("ZRANGE", uk, 0, -1) == [sid] and rc.cmd("TTL", uk) > 0, "user zset")
    # aff:<key>
    check(rc.cmd("GET", P + "aff:ip:127.0.0.1") == "be-s", "affinity record")
    check(0 < rc.cmd("TTL", P + "aff:ip:127.0.0.1") <= 600, "affinity TTL")
    # ctl:<id>
    check(P + "ctl:be-s" in rc.cmd("PUBSUB", "CHANNELS", P + "ctl:*"), "nobody listens on ctl:be-s")
    # a reject: an event of the proxy's, and its counter
    bad = env.client()
    check(bad.http_handshake(method="GET")[0] == 405, "GET must be refused")
    bad.close()
    # the end of the session
    c.send(sc.call_disconnect())
    c.recv_ctrl(3)
    c.close()
    wait_for(lambda: rc.cmd("EXISTS", sk) == 0, 5, "the session hash outlived the session")
    check(rc.cmd("ZSCORE", P + "sessions", sid) is None, "the session stayed in the sessions zset")

    def stats_ok():
        st = rc.hgetall(P + "stats")
        need = ("sessions_started", "sessions_ended", "auth_ok", "bytes_in", "bytes_out",
                "proxy_connections", "proxy_sessions", "proxy_rejects", "proxy_bytes_in", "proxy_bytes_out")
        return st if all(int(st.get(k, 0)) > 0 for k in need) else None
    st = wait_for(stats_ok, 8, "stats hash incomplete: %r" % rc.hgetall(P + "stats"))
    check(int(st["proxy_sessions"]) == 1 and int(st["proxy_connections"]) >= 2, "proxy counters %r" % st)

    def events():
        out = []
        for eid, flat in rc.cmd("XRANGE", P + "events", "-", "+") or []:
            out.append(dict(zip(flat[0::2], flat[1::2])))
        return out
    ev = wait_for(lambda: (lambda e: e if {"connect", "auth_ok", "disconnect", "reject"} <=
                           {x["type"] for x in e} else None)(events()), 8,
                  "event types missing: %r" % [x["type"] for x in events()])
    fields = {"type", "session", "user", "client", "backend", "reason", "bytes_in", "bytes_out", "duration_ms"}
    for x in ev:
        if x["type"] == "reject":
            check(x["reason"] == "E_HTTP_METHOD" and x["proxy"] == "px-schema" and x["client"].startswith("127.0.0.1:"),
                  "reject event %r" % x)
        else:
            check(fields <= set(x) and x["session"] == sid and x["backend"] == "be-s", "event %r" % x)
    # drain: no new session there; undrain: back
    sstpctl(fl, "drain", "be-s")
    check(rc.cmd("GET", P + "drain:be-s") == "drain", "drain key")
    wait_for(lambda: rc.hgetall(P + "backend:be-s").get("state") == "draining", 3, "state never draining")
    time.sleep(0.7)                       # two registry reads
    check(status_of(env) == 503, "a drained backend took a new session")
    sstpctl(fl, "undrain", "be-s")
    check(rc.cmd("EXISTS", P + "drain:be-s") == 0, "undrain kept the key")
    wait_for(lambda: rc.hgetall(P + "backend:be-s").get("state") == "up", 3, "state never up again")
    time.sleep(0.7)
    be.prepare("alice")
    c, r, corr = be.call(env)
    c.close()


@with_fleet
def t_redis_outage(env, fl):
    a, b = env.backend(), env.backend()
    s = fl.sections(["a %s" % a.addr, "b %s" % b.addr], affinity={"mode": "client_ip", "ttl": "60s"})
    p = env.proxy(s)
    p.wait_log(r"ev=redis_up")
    results, stop, rc = [], threading.Event(), None

    def load():
        while not stop.is_set():
            try:
                session(env)
                results.append((time.time(), None))
            except Exception as e:  # noqa: BLE001 — every failure is the finding
                results.append((time.time(), repr(e)))
            time.sleep(0.03)
    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        time.sleep(0.8)
        fl.redis.proc.send_signal(signal.SIGSTOP)      # slow: look-ups time out
        time.sleep(1.0)
        fl.redis.proc.send_signal(signal.SIGCONT)
        time.sleep(0.5)
        t_down = time.time()
        fl.redis.kill()                                # gone
        p.wait_log(r"ev=redis_down", timeout=3)
        time.sleep(2.0)
        fl.redis.start()                               # back, empty (no persistence)
        t_up = time.time()
        p.wait_log(r"ev=redis_up", count=2, timeout=8)
        rc = fl.redis.client()
        register(rc, "late", b.addr)                   # the registry reads again
        p.wait_log(r"ev=registry worker=0 registered=1 backends=3 ", timeout=5)
        wait_for(lambda: int(rc.hgetall(P + "stats").get("proxy_sessions", 0)) > 0, 8,
                 "stats never reached the restarted Redis")
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(10)
        if rc:
            rc.close()
    bad = [r for r in results if r[1]]
    check(not bad, "%d of %d sessions failed, first: %r" % (len(bad), len(results), bad[:3]))
    during = [r for r in results if t_down <= r[0] <= t_up]
    check(len(during) >= 10, "only %d sessions while Redis was down" % len(during))
    check(len(p.lines("redis_down")) == 1, "one redis_down line per outage: %r" % p.lines("redis_down"))
    time.sleep(1.1)
    text = metrics(p, env)
    m = {r: pu.metric(text, "sstp_proxy_affinity_total", {"result": r}) or 0
         for r in ("hit", "timeout", "unavailable")}
    check(m["timeout"] >= 1 and m["unavailable"] >= 5 and m["hit"] >= 5, "affinity counters %r" % m)
    check((pu.metric(text, "sstp_proxy_redis_commands_total", {"result": "dropped_down"}) or 0) >= 5,
          "refused commands not counted")
    check(pu.metric(text, "sstp_proxy_redis_connected") == 1, "redis_connected after the restart")
    print("     outage: %d sessions, %d while Redis was down, affinity %r" % (len(results), len(during), m))


CASES = [
    ("registry", t_registry),
    ("health", t_health),
    ("health_tls", t_health_tls),
    ("affinity", t_affinity),
    ("tenant_groups", t_tenant_groups),
    ("chash", t_chash),
    ("leastsessions", t_leastsessions),
    ("per_user", t_per_user),
    ("schema", t_schema),
    ("redis_outage", t_redis_outage),
]

if __name__ == "__main__":
    try:
        sys.exit(pe.main(CASES, sys.argv[1:]))
    finally:
        H.kill_all_started()
