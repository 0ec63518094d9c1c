#!/usr/bin/env python3
"""proxy_surge.py — a connection surge against deliberately slow backends
(issue 10, item 4): CONC clients at once (5x a normal handshake
concurrency) open SESSIONS sessions through one sstp-proxy to BACKENDS
stand-ins that answer one request at a time, SERVICE seconds each, so
answers get slower as the queue grows, as a loaded backend's do. Every
backend stays alive throughout.

Prints: sessions ok/failed, the proxy's 503s by reason, backend_down
events, slow attempts retried, panic picks. With --check it fails unless
no session was refused for no_backend_up and no backend was marked down
(the bounded version in tests/integration/proxy_surge.sh);
tests/bench/proxy_surge.sh runs it big and only prints.
"""
import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
from proxy_util import check             # noqa: E402


def run(env, a):
    backends = [env.backend(service=a.service) for _ in range(a.backends)]
    s = env.sections(["be%d %s" % (i, b.addr) for i, b in enumerate(backends)], workers=a.workers)
    s["proxy"]["log_level"] = "info"
    s["backends"].update({"connect_timeout": "%gs" % a.connect_timeout, "policy": "leastconn"})
    s["listen"].update({"handshake_timeout": "30s", "request_timeout": "30s", "backlog": "4096"})
    p = env.proxy(s, workers=a.workers)
    lock = threading.Lock()
    res = {"ok": 0, "failed": 0, "status": {}}
    todo = [a.sessions]

    def client():
        while True:
            with lock:
                if todo[0] == 0:
                    return
                todo[0] -= 1
            status = None
            try:
                c = env.client(timeout=30)
                status, _ = c.http_handshake(timeout=30)
                c.close()
            except (OSError, AssertionError) as e:
                status = type(e).__name__
            with lock:
                res["ok" if status == 200 else "failed"] += 1
                res["status"][status] = res["status"].get(status, 0) + 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(a.conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.sessions * a.service + 120)
    dur = time.monotonic() - t0
    time.sleep(1.2)
    text = p.admin_get(env.admin, "/metrics")[1]

    def m(name, labels=None):
        return pu.metric(text, name, labels) or 0

    fig = {
        "sessions_ok": res["ok"], "sessions_failed": res["failed"],
        "no_backend_up": m("sstp_proxy_no_backend_reasons_total", {"reason": "no_backend_up"}),
        "attempts_failed": m("sstp_proxy_no_backend_reasons_total", {"reason": "attempts_failed"}),
        "backend_down_events": len(p.lines("backend_down")),
        "slow_retried": m("sstp_proxy_backend_attempts_failed_total", {"cause": "slow"}),
        "panic_picks": m("sstp_proxy_panic_picks_total"),
    }
    print("surge: sessions=%d concurrency=%d backends=%d service_s=%g connect_timeout_s=%g workers=%d "
          "dur_s=%.1f" % (a.sessions, a.conc, a.backends, a.service, a.connect_timeout, a.workers, dur))
    print(" ".join("%s=%s" % kv for kv in fig.items()))
    print("client results: %r" % res["status"])
    if a.check:
        check(res["ok"] + res["failed"] == a.sessions, "not every session finished")
        check(fig["no_backend_up"] == 0, "%d sessions refused for no_backend_up while every backend "
              "was alive" % fig["no_backend_up"])
        check(fig["backend_down_events"] == 0, "live backends marked down: %r" % p.lines("backend_down")[:3])
        check(fig["slow_retried"] > 0, "the surge did not make any answer slow: tune it")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=int(os.environ.get("SESSIONS", 200)))
    ap.add_argument("--conc", type=int, default=int(os.environ.get("CONC", 100)))
    ap.add_argument("--backends", type=int, default=int(os.environ.get("BACKENDS", 2)))
    ap.add_argument("--service", type=float, default=float(os.environ.get("SERVICE", 0.02)))
    ap.add_argument("--connect-timeout", type=float, default=float(os.environ.get("CONNECT_TIMEOUT", 0.5)))
    ap.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", 1)))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    certs = tempfile.mkdtemp(prefix="px-certs-", dir=os.environ.get("PX_WORK"))
    try:
        pe.make_certs(certs)
        return pe.run_cases([("surge", lambda env: run(env, a))], certs)
    finally:
        import shutil
        shutil.rmtree(certs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
