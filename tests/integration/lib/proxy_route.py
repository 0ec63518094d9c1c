#!/usr/bin/env python3
"""proxy_route.py — routing by name on loopback (backends.route): a client
without SNI picks its backend group by its Host header, a client with SNI by
its SNI (its Host then does not count), ?tenantid= still wins over both, a
name without a route goes to the default group, and a route to a group no
backend serves answers 503. Each session is checked at the backend it
reached (the request head that backend got). Run by
tests/integration/proxy_route.sh.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402


def reached(env, backends, sni, host, uri=sc.SSTP_URI):
    """Opens a session; returns the name of the backend whose record holds
    its request head."""
    before = {n: len(b.records) for n, b in backends.items()}
    # the test certificate names localhost only: names are not verified here
    c = env.client(sni=sni, cafile=None)
    status, _ = c.http_handshake(host=host, uri=uri)
    check(status == 200, "sni=%r host=%r: HTTP %r" % (sni, host, status))
    c.close()
    got = [n for n, b in backends.items() if len(b.records) > before[n]]
    check(len(got) == 1, "sni=%r host=%r reached %r" % (sni, host, got))
    return got[0]


def t_route_by_name(env):
    backends = {"default": env.backend(), "blue": env.backend(), "red": env.backend()}
    sec = env.sections(["d1 %s" % backends["default"].addr,
                        "b1 %s group=blue" % backends["blue"].addr,
                        "r1 %s group=red" % backends["red"].addr])
    sec["backends"]["route"] = ["blue.example.test blue", "*.red.example.test red",
                                "void.example.test nobody"]
    p = env.proxy(sec)
    # no SNI (sstpc without --tls-ext): the Host header decides, port and case aside
    for host, want in (("blue.example.test", "blue"), ("BLUE.example.test:443", "blue"),
                       ("a.red.example.test", "red"), ("vpn.example.test", "default")):
        got = reached(env, backends, None, host)
        check(got == want, "no SNI, Host %s: reached %s, want %s" % (host, got, want))
    p.wait_log(r"ev=route sid=\S+ by=host group=blue")
    # SNI decides when sent; its Host is not asked
    got = reached(env, backends, "a.red.example.test", "blue.example.test")
    check(got == "red", "SNI red, Host blue: reached %s" % got)
    got = reached(env, backends, "localhost", "blue.example.test")
    check(got == "default", "SNI without a route, Host blue: reached %s" % got)
    # ?tenantid= wins over both
    got = reached(env, backends, "a.red.example.test", "a.red.example.test",
                  uri=sc.SSTP_URI + "?tenantid=blue")
    check(got == "blue", "tenantid=blue with SNI red: reached %s" % got)
    # a route to a group nobody serves: 503, no backend reached
    before = sum(len(b.records) for b in backends.values())
    c = env.client(sni=None)
    status, _ = c.http_handshake(host="void.example.test")
    c.close()
    check(status == 503, "route to an unserved group: HTTP %r, want 503" % (status,))
    check(sum(len(b.records) for b in backends.values()) == before, "a backend was reached")
    p.wait_log(r"ev=no_backend .*reason=no_backend_for_tenant tenant=nobody")


def t_config_errors(env):
    import subprocess
    binary = pu.proxy_binary()
    path = os.path.join(env.work, "bad.conf")
    for line, why in (("blue.example.test", "expected NAME GROUP"),
                      ("blue.example.test blue extra", "expected NAME GROUP"),
                      ("blue/x blue", "not a host name"),
                      ("blue.example.test bl/ue", "has a byte outside"),
                      ("a.example blue\nroute = A.example red", "given twice")):
        sec = env.sections(["be1 127.0.0.1:9"])
        sec["backends"]["route"] = [line]
        with open(path, "w") as f:
            f.write(pe.render(sec))
        r = subprocess.run([binary, "-c", path, "--check-config"], capture_output=True, text=True,
                           timeout=10)
        check(r.returncode == 1 and why in r.stderr and "backends.route" in r.stderr,
              "%r: %r" % (line, r.stderr))


CASES = [
    ("route_by_name", t_route_by_name),
    ("config_errors", t_config_errors),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
