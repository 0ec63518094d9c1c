"""grafana_dashboard.py — the case of grafana_dashboard.sh.

  queries_exist  conf/grafana/sstp-lb.json parses; its panels have unique
                 ids, fit the 24-column grid, use the ${datasource}
                 variable; every metric name in every PromQL expression is
                 exposed by a real sstp-proxy (with an OCSP staple) or
                 sstp-backend (with a tls listener), and every family either
                 daemon exposes is on the dashboard or listed as left out on
                 purpose
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as H  # noqa: E402
import proxy_env as pe  # noqa: E402
import proxy_util as pu  # noqa: E402
from cert_expiry import leaf  # noqa: E402
from proxy_tls_trust import ocsp_response  # noqa: E402

check = pu.check
DASHBOARD = os.path.join(pu.ROOT, "conf", "grafana", "sstp-lb.json")
# PromQL words that are not metric names
PROMQL = {"sum", "min", "max", "avg", "count", "rate", "irate", "increase", "time", "by", "without",
          "on", "ignoring", "and", "or", "unless", "histogram_quantile", "abs", "clamp_min", "topk"}
# families a dashboard need not show (counts too fine-grained to chart)
LEFT_OUT = {"sstp_proxy_probes_total", "sstp_proxy_buffers", "sstp_proxy_registry_refreshes_total",
            "sstp_proxy_registry_held_total", "sstp_proxy_health_checks_total",
            "sstp_backend_accepted_total", "sstp_backend_hdlc_errors_total",
            "sstp_backend_tls_failures_total", "sstp_backend_handshake_timeouts_total",
            "sstp_backend_probes_total", "sstp_backend_sessions_started_total",
            "sstp_backend_sessions_connected_total", "sstp_backend_sessions_ended_total",
            "sstp_backend_unsafe_ids_total"}


def metric_names(expr):
    """The metric names of a PromQL expression: identifiers left once label
    matchers, grouping clauses, ranges and strings are removed."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", e)
    return {w for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e) if w not in PROMQL}


def exposed(text):
    names = set()
    for ln in text.splitlines():
        m = re.match(r"# TYPE (\S+) ", ln) or re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)[{ ]", ln)
        if m:
            names.add(m.group(1))
    return names


def t_queries_exist(env):
    with open(DASHBOARD) as f:
        dash = json.load(f)
    check(dash.get("title") and dash.get("uid") and isinstance(dash.get("panels"), list), "not a dashboard")
    check(any(v.get("name") == "datasource" and v.get("type") == "datasource"
              for v in dash.get("templating", {}).get("list", [])), "no datasource variable")
    ids, queried = set(), {}
    for p in dash["panels"]:
        check(p.get("id") not in ids, "panel id %r twice" % p.get("id"))
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        check(0 <= g.get("x", -1) and g.get("x", 0) + g.get("w", 99) <= 24 and g.get("h", 0) > 0,
              "panel %r off the grid: %r" % (p.get("title"), g))
        if p["type"] == "row":
            continue
        check(p.get("datasource", {}).get("uid") == "${datasource}", "panel %r datasource" % p["title"])
        check(p.get("targets"), "panel %r has no query" % p["title"])
        for t in p["targets"]:
            for name in metric_names(t["expr"]):
                queried.setdefault(name, p["title"])

    # the daemons, with what makes every family appear: certificates, an
    # OCSP staple, a backend with a tls listener
    crt, key = leaf(env, "vpn", 30)
    staple = ocsp_response(env, env.work, crt)
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr], tls={"cert": ["%s %s ocsp=%s" % (crt, key, staple)]}))
    proxy_text = p.admin_get(env.admin, "/metrics")[1]
    admin = H.free_port()
    b = H.Backend(env.work, env.certs, {
        "backend": {"id": "be-grafana"},
        "admin": {"address": "127.0.0.1:%d" % admin},
        "listen": {"tls": "127.0.0.1:%d" % H.free_port()},
        "tls": {"cert": env.cert("server.crt"), "key": env.cert("server.key")},
    })
    try:
        b.start()
        backend_text = pu.Proxy.admin_get(None, admin, "/metrics")[1]
    finally:
        b.stop()
    names = exposed(proxy_text) | exposed(backend_text)
    missing = {n: t for n, t in queried.items() if n not in names}
    check(not missing, "the dashboard queries metrics no daemon exposes: %r" % missing)
    families = {n for n in names if n.startswith(("sstp_proxy_", "sstp_backend_"))}
    unshown = families - set(queried) - LEFT_OUT
    check(not unshown, "families on no panel (add a panel or list them in LEFT_OUT): %r" % sorted(unshown))
    print("     %d panels, %d metrics queried, all exposed" % (len(ids), len(queried)))


if __name__ == "__main__":
    sys.exit(pe.main([("queries_exist", t_queries_exist)], sys.argv[1:]))
