#!/usr/bin/env python3
"""sstpctl_cli.py — sstpctl against a real redis-server (issue 11):

  filters        --user, --backend, --proxy, --tenant select exactly the
                 sessions that match (and backends --tenant/--backend)
  json           numbers are JSON numbers (bytes, start, capacity, ages),
                 absent ones null, strings stay strings; an entry proxies
                 ignore is shown as invalid:REASON
  pipelined      1,500 sessions read in a handful of round trips (counted
                 by a relay between sstpctl and Redis), not one per id
  schema         an unknown major schema version is refused (exit 3, no
                 output), minor versions and a missing key are read
  proxies        the proxies view lists the proxy hashes, numbers as numbers
  hostile        a fake Redis (loopback) that answers every read with the
                 wrong type (HGETALL with integers, EXISTS with a string,
                 XREVRANGE with flat integers...): every command, and
                 `sstpctl serve`'s /api/*, ends cleanly (blanks, or exit
                 0/1 with a message), never a crash
  acl            README's ACL example, run as written in a real
                 redis-server with the default user off: a real
                 sstp-backend, sstp-proxy and sstpctl work with their users
                 (a session end to end, drain and undrain), Redis' ACL LOG
                 stays empty, and a proxy or backend user cannot write
                 another backend's registry entry
Run by tests/integration/sstpctl_cli.sh; a case name as an argument runs
only that case. Every wait is bounded; only processes started here are
signalled.
"""
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H                      # noqa: E402
import proxy_env as pe                   # noqa: E402
import proxy_fleet as pf                 # noqa: E402
import proxy_util as pu                  # noqa: E402
import redis_util as ru                  # noqa: E402
from proxy_util import check             # noqa: E402

P = pf.P
SSTPCTL = pf.SSTPCTL


def ctl(url, *args, want_rc=0):
    r = subprocess.run([SSTPCTL, "-r", url] + list(args), capture_output=True, text=True, timeout=20)
    if want_rc is not None:
        check(r.returncode == want_rc, "sstpctl %s: exit %d, want %d: %s" %
              (" ".join(args), r.returncode, want_rc, r.stderr.strip()))
    return r


def ctl_json(url, *args):
    return json.loads(ctl(url, "--json", *args).stdout)


def seed(rc):
    """Four sessions over two backends, two proxies, two users, two groups."""
    now = int(time.time() * 1000)
    rows = [("s1", "alice", "b1", "p1"), ("s2", "alice", "b2", "p2"), ("s3", "bob", "b1", "p2"),
            ("s4", "carol", "b2", "p1")]
    for i, (sid, user, be, px) in enumerate(rows):
        rc.cmd("HSET", P + "session:" + sid, "id", sid, "user", user, "backend", be, "proxy", px,
               "client", "192.0.2.%d" % (i + 1), "client_port", 40000 + i, "ip", "10.8.0.%d" % (i + 1),
               "state", "connected", "start", now - 60000, "bytes_in", 1000 * (i + 1),
               "bytes_out", 7 * (i + 1), "updated", now)
        rc.cmd("ZADD", P + "sessions", now, sid)
        rc.cmd("ZADD", P + "user:" + user, now, sid)
        rc.cmd("SADD", P + "backend:%s:sessions" % be, sid)
    for be, group in (("b1", "acme"), ("b2", "")):
        rc.cmd("HSET", P + "backend:" + be, "id", be, "addr", "10.0.0.%s:4433" % be[1], "kind", "proxy",
               "group", group, "weight", 1, "capacity", 500, "sessions", 2, "state", "up",
               "version", "t", "started", now, "heartbeat", now)
        rc.cmd("ZADD", P + "backends", now, be)
    rc.cmd("SET", P + "schema", "%d.0" % built_major())


def sids(rows):
    return sorted(r["session"] for r in rows)


# ---- cases ----------------------------------------------------------------------

def with_redis(fn):
    def run(env):
        srv = ru.RedisServer(env.work)
        rc = srv.client()
        try:
            fn(env, srv, rc)
        finally:
            rc.close()
            srv.stop()
    return run


@with_redis
def t_filters(env, srv, rc):
    del env
    seed(rc)
    u = srv.url
    check(sids(ctl_json(u, "sessions")) == ["s1", "s2", "s3", "s4"], "all sessions")
    cases = [(["--user", "alice"], ["s1", "s2"]), (["--user", "nobody"], []),
             (["--backend", "b1"], ["s1", "s3"]), (["--proxy", "p1"], ["s1", "s4"]),
             (["--tenant", "acme"], ["s1", "s3"]), (["--user", "alice", "--proxy", "p2"], ["s2"]),
             (["--backend", "b2", "--tenant", "acme"], [])]
    for args, want in cases:
        got = sids(ctl_json(u, "sessions", *args))
        check(got == want, "sessions %s: %r, want %r" % (" ".join(args), got, want))
    # options before the command work as well
    got = sids(json.loads(ctl(u, "--json", "--user", "bob", "sessions").stdout))
    check(got == ["s3"], "options before the command: %r" % got)
    # a stale index entry (hash gone) is not listed under any filter
    rc.cmd("DEL", P + "session:s3")
    check(sids(ctl_json(u, "sessions", "--backend", "b1")) == ["s1"], "an expired session was listed")
    check([r["backend"] for r in ctl_json(u, "backends", "--tenant", "acme")] == ["b1"], "backends --tenant")
    check([r["backend"] for r in ctl_json(u, "backends", "--backend", "b2")] == ["b2"], "backends --backend")
    table = ctl(u, "sessions", "--user", "carol").stdout
    check(re.search(r"^s4\s+carol\s", table, re.M) and "alice" not in table, "text table:\n" + table)


@with_redis
def t_json(env, srv, rc):
    del env
    seed(rc)
    rows = {r["session"]: r for r in ctl_json(srv.url, "sessions")}
    s2 = rows["s2"]
    for k, want in (("bytes_in", 2000), ("bytes_out", 14)):
        check(s2[k] == want and type(s2[k]) is int, "%s = %r, want the number %d" % (k, s2[k], want))
    check(type(s2["start"]) is int and s2["start"] > 1.7e12, "start %r" % s2["start"])
    check(type(s2["age_s"]) in (int, float) and 55 <= s2["age_s"] <= 120, "age_s %r" % s2["age_s"])
    check(s2["user"] == "alice" and s2["ip"] == "10.8.0.2", "strings stay strings: %r" % s2)
    # an absent number is null, not "" or 0
    rc.cmd("HDEL", P + "session:s4", "bytes_out")
    s4 = [r for r in ctl_json(srv.url, "sessions") if r["session"] == "s4"][0]
    check(s4["bytes_out"] is None, "absent bytes_out: %r" % s4["bytes_out"])
    bes = {r["backend"]: r for r in ctl_json(srv.url, "backends")}
    check(bes["b1"]["capacity"] == 500 and bes["b1"]["sessions"] == 2 and bes["b1"]["weight"] == 1,
          "backend numbers: %r" % bes["b1"])
    check(type(bes["b1"]["heartbeat_age_s"]) in (int, float), "heartbeat age %r" % bes["b1"])
    # what proxies would ignore is shown as such
    long_id = "x" * 40
    rc.cmd("HSET", P + "backend:" + long_id, "id", long_id, "addr", "10.0.0.9:1")
    rc.cmd("ZADD", P + "backends", 1, long_id)
    rc.cmd("HSET", P + "backend:evil", "id", "b1", "addr", "10.0.0.66:1")
    rc.cmd("ZADD", P + "backends", 1, "evil")
    bes = {r["backend"]: r for r in ctl_json(srv.url, "backends")}
    check(bes[long_id]["state"] == "invalid:bad_id", "40-byte id: %r" % bes[long_id]["state"])
    check(bes["evil"]["state"] == "invalid:id_mismatch", "id mismatch: %r" % bes["evil"]["state"])
    check(bes["b1"]["state"] == "up", "b1 %r" % bes["b1"]["state"])
    stats_key = P + "stats"
    rc.cmd("HINCRBY", stats_key, "sessions_started", 42)
    st = {r["counter"]: r["value"] for r in ctl_json(srv.url, "stats")}
    check(st["sessions_started"] == 42, "stats value %r" % st)


class TurnCounter:
    """A TCP relay on loopback between one client and Redis that counts the
    client's turns: each time it sends after Redis has answered."""

    def __init__(self, port):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.target = port
        self.turns = 0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.lsock.settimeout(20)
        try:
            c, _ = self.lsock.accept()
        except OSError:
            return
        s = socket.create_connection(("127.0.0.1", self.target), timeout=20)
        sel = selectors.DefaultSelector()
        sel.register(c, selectors.EVENT_READ, s)
        sel.register(s, selectors.EVENT_READ, c)
        answered = True
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for key, _ in sel.select(1):
                data = key.fileobj.recv(65536)
                if not data:
                    c.close()
                    s.close()
                    return
                if key.fileobj is c:
                    if answered:
                        self.turns += 1
                    answered = False
                else:
                    answered = True
                key.data.sendall(data)


@with_redis
def t_pipelined(env, srv, rc):
    del env
    n = 1500
    # the sessions in one script: the hashes and the index
    rc.cmd("EVAL", "for i = 1, tonumber(ARGV[1]) do "
           "  local sid = 'sess-' .. i "
           "  redis.call('HSET', KEYS[1] .. sid, 'id', sid, 'user', 'u' .. (i % 7), 'backend', 'b1', "
           "             'proxy', 'p1', 'bytes_in', i, 'bytes_out', 2 * i, 'start', 1765000000000 + i) "
           "  redis.call('ZADD', KEYS[2], i, sid) "
           "end return 1", 2, P + "session:", P + "sessions", n)
    relay = TurnCounter(srv.port)
    url = "redis://:%s@127.0.0.1:%d" % (srv.password, relay.port)
    t0 = time.monotonic()
    rows = ctl_json(url, "sessions")
    took = time.monotonic() - t0
    relay.t.join(5)
    check(len(rows) == n, "%d sessions listed, want %d" % (len(rows), n))
    check(sum(r["bytes_in"] for r in rows) == n * (n + 1) // 2, "bytes_in do not add up")
    # AUTH, GET schema, ZRANGE, then ceil(1500 / 512) = 3 batches
    check(relay.turns <= 6, "%d round trips for %d sessions" % (relay.turns, n))
    print("     pipelined: %d sessions in %d round trips, %.2fs" % (n, relay.turns, took))


def built_major():
    """The schema major version sstpctl was built for (lb/schema.h)."""
    text = open(os.path.join(pu.ROOT, "lb", "schema.h")).read()
    m = re.search(r'#define SCHEMA_VERSION "(\d+)', text)
    check(m is not None, "no SCHEMA_VERSION in lb/schema.h")
    return int(m.group(1))


@with_redis
def t_schema(env, srv, rc):
    del env
    seed(rc)
    major = built_major()
    for v in (str(major + 1), "%d.0" % (major + 1), str(major + 10), "x", ""):
        rc.cmd("SET", P + "schema", v)
        for cmd in (["sessions"], ["backends"], ["drain", "b1"]):
            r = ctl(srv.url, *cmd, want_rc=3)
            check(r.stdout == "" and ("major version %d" % major) in r.stderr,
                  "schema %r, %s: out %r err %r" % (v, cmd[0], r.stdout, r.stderr))
    check(rc.cmd("GET", P + "drain:b1") is None, "a refused sstpctl wrote a drain")
    for v in (str(major), "%d.7" % major):
        rc.cmd("SET", P + "schema", v)
        check(len(ctl_json(srv.url, "sessions")) == 4, "schema %r not read" % v)
    rc.cmd("DEL", P + "schema")
    check(len(ctl_json(srv.url, "sessions")) == 4, "no schema key: not read")


@with_redis
def t_proxies(env, srv, rc):
    del env
    now = int(time.time() * 1000)
    for px, sess in (("px-a", 12), ("px-b", 0)):
        rc.cmd("HSET", P + "proxy:" + px, "id", px, "addr", "198.51.100.7:443", "version", "t",
               "started", now - 5000, "heartbeat", now, "sessions", sess, "connections", 99)
        rc.cmd("ZADD", P + "proxies", now, px)
    rows = ctl_json(srv.url, "proxies")
    check([r["proxy"] for r in rows] == ["px-a", "px-b"], "proxies %r" % rows)
    check(rows[0]["sessions"] == 12 and rows[0]["connections"] == 99 and rows[0]["addr"] == "198.51.100.7:443",
          "proxy fields %r" % rows[0])
    check([r["proxy"] for r in ctl_json(srv.url, "proxies", "--proxy", "px-b")] == ["px-b"], "--proxy")
    table = ctl(srv.url, "proxies").stdout
    check(re.search(r"^px-a\s+198\.51\.100\.7:443\s", table, re.M), "table:\n" + table)


def readme_acl():
    """The ACL lines of README's example, as written."""
    text = open(os.path.join(pu.ROOT, "README.md")).read()
    m = re.search(r"<!-- acl-example:[^>]*-->\n```\n(.*?)```", text, re.S)
    check(m is not None, "README has no acl-example block")
    return [ln.split() for ln in m.group(1).splitlines() if ln.strip()]


def acl_user(line):
    """(user, password) of an ACL SETUSER line."""
    pw = [w[1:] for w in line[3:] if w.startswith(">")]
    return line[2], pw[0] if pw else None


@pf.with_fleet
def t_acl(env, fl):
    admin_pw = "admin-" + os.urandom(4).hex()
    rc = fl.rc
    rc.cmd("ACL", "SETUSER", "test-admin", "on", ">" + admin_pw, "~*", "&*", "+@all")
    users = {}
    for line in readme_acl():
        check(line[:2] == ["ACL", "SETUSER"], "not an ACL SETUSER line: %r" % line)
        rc.cmd(*line)
        users[acl_user(line)[0]] = acl_user(line)[1]
    rc.close()
    fl.rc = rc = ru.Resp(fl.redis.port)
    rc.cmd("AUTH", "test-admin", admin_pw)
    try:
        ru.Resp(fl.redis.port, fl.redis.password).close()
        check(False, "the default user still logs in")
    except ru.RespError:
        pass
    rc.cmd("ACL", "LOG", "RESET")             # that refusal was ours

    def url(user):
        return "redis://%s:%s@127.0.0.1:%d" % (user, users[user], fl.redis.port)
    be = fl.real("be1", redis=False)
    be.b.stop()
    be.cfg["redis"] = {"url": url("sstp-backend-be1"), "heartbeat": "0.5s", "registry_ttl": "2s",
                       "stats_interval": "1s"}
    be.cfg["policy"] = {"max_sessions_per_user": "2"}   # the per-user script runs too
    be.b = H.Backend(be.work, None, be.cfg)
    be.b.start()
    s = fl.sections([], affinity={"mode": "client_ip"})
    s["redis"]["url"] = url("sstp-proxy")
    p = env.proxy(s)
    p.wait_log(r"ev=registry worker=0 registered=1 backends=1 ", timeout=6)
    hlak = be.prepare()
    c, r, corr = be.call(env)
    c.call_connected(hlak)
    check(be.b.wait_log("binding_ok", 5), "no binding_ok")
    sid = pf.wait_for(lambda: (rc.cmd("ZRANGE", P + "sessions", 0, -1) or [None])[0], 5,
                      "the session never reached Redis")
    check(rc.hgetall(P + "session:" + sid).get("backend") == "be1", "session hash")
    check(rc.cmd("GET", P + "aff:ip:127.0.0.1") == "be1", "the proxy did not record affinity")
    rows = ctl_json(url("sstpctl"), "sessions", "--user", "alice")
    check([x["session"] for x in rows] == [sid], "sstpctl sessions as sstpctl: %r" % rows)
    ctl(url("sstpctl"), "drain", "be1")
    pf.wait_for(lambda: rc.hgetall(P + "backend:be1").get("state") == "draining", 5,
                "the backend did not see the drain")
    ctl(url("sstpctl"), "undrain", "be1")
    pf.wait_for(lambda: rc.hgetall(P + "backend:be1").get("state") == "up", 5, "undrain")
    time.sleep(1.5)                          # a stats interval and proxy flush of writes
    c.close()
    pf.wait_for(lambda: not rc.cmd("ZRANGE", P + "sessions", 0, -1), 8, "the session never left Redis")
    denied = rc.cmd("ACL", "LOG")
    check(not denied, "commands refused by the README ACLs: %r" % denied[:3])
    # what the roles must not do
    for user, cmd in (("sstp-proxy", ["HSET", P + "backend:evil", "addr", "192.0.2.1:1"]),
                      ("sstp-backend-be1", ["HSET", P + "backend:be2", "addr", "192.0.2.1:1"]),
                      ("sstp-proxy", ["FLUSHALL"]), ("sstpctl", ["HSET", P + "backend:be1", "addr", "x"])):
        c2 = ru.Resp(fl.redis.port)
        c2.cmd("AUTH", user, users[user])
        try:
            c2.cmd(*cmd)
            check(False, "%s may %s" % (user, " ".join(cmd)))
        except ru.RespError as e:
            check("NOPERM" in str(e), "%s %s: %s" % (user, cmd[0], e))
        c2.close()
    # a wrong password: sstpctl says so
    r = ctl("redis://sstpctl:wrong@127.0.0.1:%d" % fl.redis.port, "sessions", want_rc=1)
    check("AUTH" in r.stderr or "WRONGPASS" in r.stderr, "wrong password: %r" % r.stderr)
    print("     acl: backend, proxy and sstpctl ran with README's users; ACL LOG empty")


class HostileRedis:
    """A RESP2 server on loopback that answers reads with the wrong types,
    as a compromised Redis could: index reads give ids, everything else
    integers or strings where arrays belong (and the reverse)."""

    ANSWERS = {
        "ZRANGE": b"*2\r\n$2\r\nb1\r\n$2\r\ns1\r\n",
        "SMEMBERS": b"*1\r\n$2\r\ns1\r\n",
        "HGETALL": b"*4\r\n:1\r\n:2\r\n*1\r\n:3\r\n$-1\r\n",
        "HGET": b"*1\r\n:5\r\n",
        "GET": b":2\r\n",
        "EXISTS": b"$1\r\n1\r\n",
        "PUBLISH": b"+OK\r\n",
        "XREVRANGE": b"*3\r\n:1\r\n*1\r\n:2\r\n*2\r\n$-1\r\n:4\r\n",
        "XREAD": b"*1\r\n:9\r\n",
    }

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen = set()
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.client, args=(c,), daemon=True).start()

    def client(self, c):
        buf = b""
        c.settimeout(30)
        try:
            while True:
                while True:
                    cmd, buf = self.parse(buf)
                    if cmd is None:
                        break
                    name = cmd[0].decode().upper() if cmd else ""
                    self.seen.add(name)
                    c.sendall(self.ANSWERS.get(name, b"+OK\r\n"))
                d = c.recv(65536)
                if not d:
                    return
                buf += d
        except OSError:
            return
        finally:
            c.close()

    @staticmethod
    def parse(buf):
        """One command of RESP arrays of bulk strings: (args, rest) or (None, buf)."""
        if not buf.startswith(b"*") or b"\r\n" not in buf:
            return None, buf
        head, rest = buf.split(b"\r\n", 1)
        args = []
        for _ in range(int(head[1:])):
            if b"\r\n" not in rest:
                return None, buf
            ln, after = rest.split(b"\r\n", 1)
            n = int(ln[1:])
            if len(after) < n + 2:
                return None, buf
            args.append(after[:n])
            rest = after[n + 2:]
        return args, rest

    def close(self):
        self.sock.close()


def t_hostile(env):
    fake = HostileRedis()
    url = "redis://127.0.0.1:%d" % fake.port
    ctl_bin = next((b for b in (os.path.join(pu.ROOT, "build", "asan", "sstpctl"), SSTPCTL)
                    if os.access(b, os.X_OK)))
    try:
        runs = [["sessions"], ["--json", "sessions"], ["sessions", "--tenant", "acme"], ["backends"],
                ["--json", "backends"], ["proxies"], ["--json", "proxies"], ["stats"], ["events"],
                ["--json", "events"], ["kick", "s1"], ["drain", "b1"], ["undrain", "b1"],
                ["sessions", "--backend", "b1"]]
        for args in runs:
            r = subprocess.run([ctl_bin, "-r", url] + args, capture_output=True, text=True, timeout=20)
            check(r.returncode in (0, 1), "sstpctl %s under a hostile Redis: exit %d (a crash?)\n%s"
                  % (" ".join(args), r.returncode, r.stderr[-2000:]))
            check(not pu.SANITIZER.search(r.stderr), "sanitizer report:\n" + r.stderr[-3000:])
        for cmd in ("HGETALL", "XREVRANGE", "EXISTS", "HGET"):
            check(cmd in fake.seen, "the fake Redis never saw %s: the test did not reach it" % cmd)
        # the dashboard server reads the same replies, and must stay up
        port = pu.free_port()
        log_path = os.path.join(env.work, "serve.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([ctl_bin, "-r", url, "serve", "--listen", "127.0.0.1:%d" % port],
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            def get(path):
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
                        return r.status
                except urllib.error.HTTPError as e:
                    return e.code
                except OSError:
                    return None
            pf.wait_for(lambda: get("/metrics"), 5, "sstpctl serve did not answer")
            for what in ("sessions", "backends", "proxies", "stats", "events"):
                st = get("/api/" + what)
                check(st is not None and proc.poll() is None,
                      "sstpctl serve died on /api/%s under a hostile Redis (status %r)" % (what, proc.returncode))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(15)
        text = open(log_path, "rb").read().decode("utf-8", "replace")
        check(proc.returncode == 0, "sstpctl serve exit status %r:\n%s" % (proc.returncode, text[-2000:]))
        check(not pu.SANITIZER.search(text), "sanitizer report:\n" + text[-3000:])
    finally:
        fake.close()


CASES = [
    ("filters", t_filters),
    ("json", t_json),
    ("pipelined", t_pipelined),
    ("schema", t_schema),
    ("proxies", t_proxies),
    ("hostile", t_hostile),
    ("acl", t_acl),
]

if __name__ == "__main__":
    try:
        sys.exit(pe.main(CASES, sys.argv[1:]))
    finally:
        H.kill_all_started()
