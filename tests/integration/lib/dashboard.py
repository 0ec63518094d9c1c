#!/usr/bin/env python3
"""dashboard.py — the cases of dashboard.sh (issue 14, a live fleet dashboard):

  fleet_page     Redis, a real sstp-backend (fake pppd) behind sstp-proxy,
                 three live sessions (alice, bob, carol) with traffic, a
                 second backend registered as draining, a proxy entry: the
                 page that `sstpctl serve` gives, rendered by headless
                 chromium, shows the same proxies, backends (state, load),
                 sessions (user, client, backend, IPv4 and IPv6 address:
                 alice's IPV6CP is up, bob's and carol's not, bytes,
                 duration) and events as `sstpctl --json`; a screenshot is
                 saved
  hostile_values a session whose user and client are HTML/script written
                 into Redis: shown as text, nothing runs (the page's title
                 and DOM are unchanged)
  refusals       Host of another name (DNS rebinding) 421, POST 405, a
                 malformed request 400, each counted in the server's
                 /metrics; a client that sends nothing holds one child, not
                 the server; Redis gone: /api/* answer 502, counted, the
                 page itself still loads
Every wait is bounded; only processes started here are signalled.
"""
import html.parser
import json
import os
import shutil
import signal
import socket
import subprocess
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

P = pf.P
SSTPCTL = pf.SSTPCTL
# the server under test: the ASan build when there is one (its log is checked)
SERVE_BIN = next((b for b in (os.path.join(pu.ROOT, "build", "asan", "sstpctl"), SSTPCTL) if os.access(b, os.X_OK)))
# alice's IPv6 tunnel address: fe80:: + the interface identifier her IPV6_UP reports
ALICE_IP6 = "fe80::216:3eff:fe4a:5b6c"
SHOTS = os.path.join(pu.ROOT, "build", "test-output", "dashboard")


def ctl_json(fl, *args):
    r = subprocess.run([SSTPCTL, "-r", fl.redis.url, "--json"] + list(args), capture_output=True,
                       text=True, timeout=20)
    check(r.returncode == 0, "sstpctl %s: %s" % (" ".join(args), r.stderr.strip()))
    return json.loads(r.stdout) if args[0] != "events" else [json.loads(ln) for ln in r.stdout.splitlines()]


class Serve:
    """sstpctl serve on a free loopback port (stopped by stop())."""

    def __init__(self, fl, work):
        self.port = pu.free_port()
        self.log_path = os.path.join(work, "serve.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([SERVE_BIN, "-r", fl.redis.url, "serve", "--listen",
                                      "127.0.0.1:%d" % self.port], stdout=self.log, stderr=subprocess.STDOUT)
        pf.wait_for(lambda: self.try_get("/metrics"), 5, "sstpctl serve did not answer")

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def try_get(self, path):
        try:
            return self.get(path)
        except OSError:
            return None

    def get(self, path, headers=None, method="GET"):
        req = urllib.request.Request(self.url(path), headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def counter(self, result):
        return pu.metric(self.get("/metrics")[1], "sstpctl_serve_requests_total", {"result": result})

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise pu.Failure("sstpctl serve did not stop on SIGTERM")
        self.log.close()
        check(self.proc.returncode == 0, "sstpctl serve exit status %r" % self.proc.returncode)
        check(not pu.SANITIZER.search(self.text()), "sanitizer report:\n" + self.text()[-3000:])


def chromium(work, args, timeout=60):
    """Headless chromium with its own profile in work; returns stdout."""
    profile = os.path.join(work, "chromium-profile")
    r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-extensions", "--disable-background-networking",
                        "--user-data-dir=" + profile, "--virtual-time-budget=6000"] + args,
                       capture_output=True, text=True, timeout=timeout)
    check(r.returncode == 0, "chromium exit %d: %s" % (r.returncode, r.stderr[-1500:]))
    return r.stdout


class Tables(html.parser.HTMLParser):
    """The rendered tables: {table id: [{"id": row data-id, "cells": [data-v...]}]},
    plus the page title and the summary spans."""

    def __init__(self):
        super().__init__()
        self.tables, self.spans, self.title, self.scripts = {}, {}, "", 0
        self.table = self.row = self.span = None
        self.in_title = False
        self.body = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id")
            self.tables[self.table] = []
        elif tag == "tr" and self.table and "data-id" in a:
            self.row = {"id": a["data-id"], "cells": [], "attrs": []}
            self.tables[self.table].append(self.row)
        elif tag == "td" and self.row is not None:
            self.row["cells"].append(a.get("data-v", ""))
            self.row["attrs"].append(a)
        elif tag == "span" and a.get("id", "").startswith("n-"):
            self.span = a["id"]
        elif tag == "title":
            self.in_title = True
        elif tag == "script":
            self.scripts += 1
        elif tag == "body":
            self.body = a
        elif tag in ("img", "iframe", "object") and self.table:
            raise pu.Failure("a %s element inside table %s: client data became HTML" % (tag, self.table))

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None
        elif tag == "tr":
            self.row = None
        elif tag == "span":
            self.span = None
        elif tag == "title":
            self.in_title = False

    def handle_data(self, data):
        if self.span:
            self.spans[self.span] = data
        if self.in_title:
            self.title += data


def render(work, serve):
    t = Tables()
    t.feed(chromium(work, ["--dump-dom", serve.url("/")]))
    check(int(t.body.get("data-refreshed", "0")) >= 1, "the page never refreshed")
    return t


def rows(t, table):
    return {r["id"]: r for r in t.tables.get(table, [])}


def col(table_id, name):
    heads = {
        "proxies": ["proxy", "addr", "version", "workers", "started", "heartbeat"],
        "backends": ["backend", "addr", "kind", "group", "state", "sessions", "weight", "heartbeat_age_s"],
        "sessions": ["user", "client", "backend", "proxy", "ip", "ip6", "state", "bytes_in", "bytes_out", "age_s",
                     "session"],
        "events": ["id", "type", "details"],
    }
    return heads[table_id].index(name)


def cell(row, table_id, name):
    return row["cells"][col(table_id, name)]


def same(a, b):
    return ("" if b is None else str(b)) == a


def with_serve(fn):
    @pf.with_fleet
    def run(env, fl):
        sv = Serve(fl, env.work)
        try:
            fn(env, fl, sv)
        finally:
            sv.stop()
    return run


def settle(fl, n_sessions):
    """sstpctl --json sessions once the interim stats stopped changing."""
    last = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        cur = ctl_json(fl, "sessions")
        key = sorted((s["session"], s["bytes_in"], s["bytes_out"], s["state"], s["ip"], s["ip6"]) for s in cur)
        if len(cur) == n_sessions and all(s["state"] == "connected" and s["ip"] for s in cur) and key == last:
            return cur
        last = key
        time.sleep(1.2)
    raise pu.Failure("sessions never settled: %r" % cur)


@with_serve
def t_fleet_page(env, fl, sv):
    be = fl.real("be-a")
    pf.register(fl.rc, "be-drained", "127.0.0.1:9", state="draining", sessions=0)
    s = fl.sections([])
    s["proxy"]["id"] = "px-dashboard"
    p = env.proxy(s)
    p.wait_log(r"ev=registry worker=0 registered=", timeout=5)
    # the proxy registers itself (proxy:<id>, the proxies index)
    pf.wait_for(lambda: fl.rc.cmd("ZSCORE", P + "proxies", "px-dashboard") is not None, 5,
                "the proxy never registered itself")
    clients = []
    for i, user in enumerate(("alice", "bob", "carol")):
        hlak = be.prepare(user)
        c, r, corr = be.call(env)
        c.call_connected(hlak)
        check(be.b.wait_log("binding_ok", 5) and
              pf.wait_for(lambda: len(be.b.entries("binding_ok")) == i + 1, 5, "binding_ok"), "binding")
        if user == "alice":
            # IPV6CP up for alice only (fake pppd's IPV6_UP report: version 1,
            # type 3, 16 bytes of our and the client's interface identifiers)
            ids = bytes.fromhex("0000000000000001" "02163efffe4a5b6c")
            r.ctl(cmd="plugin_raw", hex=(bytes([1, 3, 0, 16]) + ids).hex())
            check(be.b.wait_log("ppp6_up", 5, remote=ALICE_IP6), "no ppp6_up for alice")
        c.send(sc.data(b"\xff\x03" + b"x" * (100 * (i + 1))))
        clients.append(c)
    try:
        sessions = settle(fl, 3)
        t = render(env.work, sv)
        backends = ctl_json(fl, "backends")
        proxies = ctl_json(fl, "proxies")
        events = ctl_json(fl, "events", "-n", "50")

        got = rows(t, "sessions")
        check(set(got) == {x["session"] for x in sessions}, "sessions on the page %r, sstpctl %r" %
              (sorted(got), sorted(x["session"] for x in sessions)))
        for x in sessions:
            r = got[x["session"]]
            for f in ("user", "client", "backend", "proxy", "ip", "ip6", "state", "bytes_in", "bytes_out"):
                check(same(cell(r, "sessions", f), x[f]), "session %s %s: page %r, sstpctl %r" %
                      (x["session"], f, cell(r, "sessions", f), x[f]))
            check(abs(float(cell(r, "sessions", "age_s")) - x["age_s"]) < 30, "duration of %s" % x["session"])
        check(sorted(x["user"] for x in sessions) == ["alice", "bob", "carol"], "users %r" % sessions)
        check(all(x["backend"] == "be-a" and x["ip"] == "10.8.0.11" and x["bytes_in"] > 0 for x in sessions),
              "session fields %r" % sessions)
        check(sorted((x["user"], x["ip6"]) for x in sessions) ==
              [("alice", ALICE_IP6), ("bob", ""), ("carol", "")], "ip6 of the sessions %r" % sessions)

        got = rows(t, "backends")
        check(set(got) == {b["backend"] for b in backends} == {"be-a", "be-drained"},
              "backends on the page %r, sstpctl %r" % (sorted(got), backends))
        for b in backends:
            r = got[b["backend"]]
            for f in ("addr", "kind", "group", "state", "sessions", "weight"):
                check(same(cell(r, "backends", f), b[f]), "backend %s %s: page %r, sstpctl %r" %
                      (b["backend"], f, cell(r, "backends", f), b[f]))
            check(same(r["attrs"][col("backends", "sessions")].get("data-capacity", ""), b["capacity"]),
                  "capacity of %s" % b["backend"])
        check(cell(got["be-a"], "backends", "state") == "up" and cell(got["be-a"], "backends", "sessions") == "3",
              "be-a on the page: %r" % got["be-a"])
        check(cell(got["be-drained"], "backends", "state") == "draining", "be-drained on the page")

        got = rows(t, "proxies")
        check(set(got) == {x["proxy"] for x in proxies} == {"px-dashboard"}, "proxies %r %r" % (got, proxies))
        for x in proxies:
            for f in ("addr", "version", "workers"):
                check(same(cell(got[x["proxy"]], "proxies", f), x[f]), "proxy %s" % f)

        got = [r["id"] for r in t.tables["events"]]
        want = [e["id"] for e in events]
        check(got and set(got) <= set(want) and len(got) == len(want),
              "events on the page %r, sstpctl %r" % (got, want))
        check(got == sorted(got, reverse=True), "events not newest first")
        check({"connect", "auth_ok"} <= {cell(r, "events", "type") for r in t.tables["events"]},
              "event types on the page")
        check(t.spans.get("n-sessions") == "3 sessions" and t.spans.get("n-backends") == "2 backends",
              "summary %r" % t.spans)

        os.makedirs(SHOTS, exist_ok=True)
        shot = os.path.join(SHOTS, "dashboard.png")
        if os.path.exists(shot):
            os.unlink(shot)
        chromium(env.work, ["--screenshot=" + shot, "--window-size=1400,900", "--hide-scrollbars", sv.url("/")])
        check(os.path.getsize(shot) > 10000, "screenshot %s is too small" % shot)
        with open(shot, "rb") as f:
            check(f.read(8) == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG")
        shutil.copy(shot, os.path.join(env.work, "dashboard.png"))
        print("     screenshot: %s" % shot, flush=True)
    finally:
        for c in clients:
            c.close()


@with_serve
def t_hostile_values(env, fl, sv):
    now = int(time.time() * 1000)
    evil_user = '<img src=x onerror="document.title=\'pwned\'">'
    evil_client = '"><script>document.title="pwned"</script>'
    fl.rc.cmd("HSET", P + "session:evil1", "id", "evil1", "user", evil_user, "client", evil_client,
              "backend", "be-x", "proxy", "px", "start", now, "bytes_in", 1, "bytes_out", 2, "state", "connected",
              "ip", "10.8.0.99")
    fl.rc.cmd("ZADD", P + "sessions", now, "evil1")
    fl.rc.cmd("XADD", P + "events", "*", "type", "<b>auth_fail</b>", "user", evil_user)
    t = render(env.work, sv)
    check(t.title == "sstp-lb fleet", "page title %r: a script ran" % t.title)
    check(t.scripts == 1, "%d script elements: client data became a script" % t.scripts)
    r = rows(t, "sessions").get("evil1")
    check(r and cell(r, "sessions", "user") == evil_user and cell(r, "sessions", "client") == evil_client,
          "the hostile values are not shown as text: %r" % r)
    check(any(cell(x, "events", "type") == "<b>auth_fail</b>" for x in t.tables["events"]), "event type as text")
    # the JSON itself keeps '<' out of a page's reach too
    body = sv.get("/api/sessions")[1]
    check("<" not in body and json.loads(body)[0]["user"] == evil_user, "JSON %r" % body)


def raw(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            b = s.recv(4096)
            if not b:
                return out
            out += b
    finally:
        s.close()


@with_serve
def t_refusals(env, fl, sv):
    st, body = sv.get("/api/sessions", headers={"Host": "dashboard.attacker.example:%d" % sv.port})
    check(st == 421, "a rebound Host got %d" % st)
    st, _ = sv.get("/api/sessions", method="POST")
    check(st == 405, "POST got %d" % st)
    out = raw(sv.port, b"GARBAGE\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400 "), "malformed request: %r" % out[:60])
    check(sv.get("/nothing")[0] == 404, "unknown path")
    check(sv.get("/api/sessions", headers={"Host": "localhost:%d" % sv.port})[0] == 200, "localhost Host")
    check(sv.counter("host_refused") == 1 and sv.counter("method_not_allowed") == 1 and
          sv.counter("bad_request") == 1 and sv.counter("not_found") == 1, "counters:\n" + sv.get("/metrics")[1])
    check("ev=serve_refused reason=host_refused" in sv.text(), "no refusal line:\n" + sv.text())
    # a client that says nothing holds one child; the server still answers
    idle = socket.create_connection(("127.0.0.1", sv.port), timeout=5)
    try:
        t0 = time.monotonic()
        check(sv.get("/api/backends")[0] == 200, "an idle client blocked the server")
        check(time.monotonic() - t0 < 3, "an idle client slowed the server down")
    finally:
        idle.close()
    # Redis gone: the API says so (502, counted), the page still loads
    fl.redis.stop()
    st, body = sv.get("/api/sessions")
    check(st == 502 and body, "without Redis: %d %r" % (st, body))
    check(sv.counter("redis_error") >= 1, "redis_error not counted")
    check(sv.get("/")[0] == 200, "the page needs no Redis")


CASES = [
    ("fleet_page", t_fleet_page),
    ("hostile_values", t_hostile_values),
    ("refusals", t_refusals),
]

if __name__ == "__main__":
    try:
        sys.exit(pe.main(CASES, sys.argv[1:]))
    finally:
        H.kill_all_started()
