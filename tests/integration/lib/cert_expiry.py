"""cert_expiry.py — the cases of cert_expiry.sh.

  proxy_metrics_warn   two certificates (5 days, 400 days left) and an OCSP
                       staple: /metrics gives each notAfter as `openssl x509
                       -enddate` reads it and the staple's nextUpdate; one
                       cert_expiring line for the 5-day one only, at start
                       and again at a SIGHUP reload, none per connection
  check_config         --check-config exits 0 and warns on the 5-day
                       certificate; not with expiry_warn_days = 3 (window
                       respected) nor for the 400-day one alone
  backend_metrics_warn sstp-backend with the 5-day certificate on its tls
                       listener: cert_expiring at start, notAfter in
                       /metrics; its --check-config warns too
"""
import calendar
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as H  # noqa: E402
import proxy_env as pe  # noqa: E402
import proxy_util as pu  # noqa: E402
from proxy_tls_trust import ocsp_response  # noqa: E402

check = pu.check


def leaf(env, name, days):
    """NAME.crt/.key in the work dir, signed by the test CA, valid `days`."""
    d = env.work
    key, csr, ext, crt = (os.path.join(d, name + s) for s in (".key", ".csr", ".ext", ".crt"))
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=%s.example.test" % name,
                    "-out", csr], check=True, capture_output=True)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s.example.test\n" % name)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", env.cert("ca.crt"), "-CAkey",
                    env.cert("ca.key"), "-CAcreateserial", "-days", str(days), "-extfile", ext,
                    "-out", crt], check=True, capture_output=True)
    return crt, key


def openssl_date(args, field):
    """A date openssl prints (e.g. notAfter=Dec 12 03:36:10 2026 GMT) as unix seconds."""
    out = subprocess.run(["openssl"] + args, check=True, capture_output=True, text=True).stdout
    m = re.search(r"%s\s*[=:]\s*(\w{3} +\d+ \d\d:\d\d:\d\d \d{4}) GMT" % field, out)
    check(m, "no %s in: %s" % (field, out[-500:]))
    return calendar.timegm(time.strptime(m.group(1), "%b %d %H:%M:%S %Y"))


def metrics(port):
    return pu.Proxy.admin_get(None, port, "/metrics")[1]


def t_proxy_metrics_warn(env):
    soon_crt, soon_key = leaf(env, "soon", 5)
    far_crt, far_key = leaf(env, "far", 400)
    staple = ocsp_response(env, env.work, soon_crt)
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr],
                     tls={"cert": ["%s %s ocsp=%s default" % (soon_crt, soon_key, staple),
                                   "%s %s sni=far.example.test" % (far_crt, far_key)]})
    p = env.proxy(s)
    text = metrics(env.admin)
    want_soon = openssl_date(["x509", "-in", soon_crt, "-noout", "-enddate"], "notAfter")
    want_far = openssl_date(["x509", "-in", far_crt, "-noout", "-enddate"], "notAfter")
    got_soon = pu.metric(text, "sstp_proxy_cert_not_after_seconds", {"cert": "soon.crt"})
    got_far = pu.metric(text, "sstp_proxy_cert_not_after_seconds", {"cert": "far.crt"})
    check(got_soon == want_soon, "soon.crt notAfter %r, openssl says %d" % (got_soon, want_soon))
    check(got_far == want_far, "far.crt notAfter %r, openssl says %d" % (got_far, want_far))
    left = (got_soon - time.time()) / 86400
    check(4.9 < left <= 5.0, "soon.crt has %.2f days left, want 5" % left)
    want_next = openssl_date(["ocsp", "-respin", staple, "-resp_text", "-noverify"], "Next Update")
    got_next = pu.metric(text, "sstp_proxy_ocsp_next_update_seconds", {"cert": "soon.crt"})
    check(got_next == want_next, "OCSP nextUpdate %r, openssl says %d" % (got_next, want_next))
    check(pu.metric(text, "sstp_proxy_ocsp_next_update_seconds", {"cert": "far.crt"}) is None,
          "far.crt has no staple, yet a nextUpdate is published")

    warned = p.lines("cert_expiring")
    check(len(warned) == 1 and "cert=%s " % soon_crt in warned[0] and "days_left=5.0" in warned[0] and
          'subject="soon.example.test"' in warned[0], "want one cert_expiring for soon.crt: %r" % warned)
    check(not p.lines("cert_expired"), "nothing expired yet")

    # connections do not warn: a few sessions through both certificates
    for sni in ("soon.example.test", "far.example.test"):
        c = env.session(sni=sni)
        c.close()
    check(len(p.lines("cert_expiring")) == 1, "a connection logged cert_expiring again")

    # a reload loads a new generation: warned again, once
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reload ")
    warned = p.lines("cert_expiring")
    check(len(warned) == 2 and all("soon.crt" in w for w in warned), "reload warnings: %r" % warned)
    text = metrics(env.admin)
    check(pu.metric(text, "sstp_proxy_cert_not_after_seconds", {"cert": "soon.crt"}) == want_soon,
          "notAfter after the reload")

    # a reload without the 5-day certificate: it leaves /metrics
    s["tls"]["cert"] = ["%s %s" % (far_crt, far_key)]
    p.write_conf(pe.render(s))
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reload ", count=2)
    text = metrics(env.admin)
    check(pu.metric(text, "sstp_proxy_cert_not_after_seconds", {"cert": "soon.crt"}) is None,
          "a certificate no longer served is still in /metrics")
    check(pu.metric(text, "sstp_proxy_ocsp_next_update_seconds", {"cert": "soon.crt"}) is None,
          "its staple is still in /metrics")
    check(pu.metric(text, "sstp_proxy_cert_not_after_seconds", {"cert": "far.crt"}) == want_far,
          "far.crt after the second reload")
    check(len(p.lines("cert_expiring")) == 2, "far.crt (400 days) was warned")


def check_config(binary, conf_path, env_clear):
    env = {k: v for k, v in os.environ.items() if not k.startswith(env_clear)}
    return subprocess.run([binary, "-c", conf_path, "--check-config"], capture_output=True, text=True,
                          timeout=30, env=env)


def t_check_config(env):
    soon_crt, soon_key = leaf(env, "soon", 5)
    far_crt, far_key = leaf(env, "far", 400)
    conf = os.path.join(env.work, "check.conf")
    cases = [  # certificates, expiry_warn_days, warned
        (["%s %s" % (far_crt, far_key), "%s %s" % (soon_crt, soon_key)], None, True),
        (["%s %s" % (far_crt, far_key), "%s %s" % (soon_crt, soon_key)], "3", False),
        (["%s %s" % (far_crt, far_key)], None, False),
        (["%s %s" % (soon_crt, soon_key)], "0", False),
    ]
    for certs, days, warned in cases:
        s = env.sections(["be1 127.0.0.1:1"], tls={"cert": certs})
        if days is not None:
            s["tls"]["expiry_warn_days"] = days
        with open(conf, "w") as f:
            f.write(pe.render(s))
        r = check_config(pu.proxy_binary(), conf, "SSTP_PROXY_")
        what = "check-config certs=%d days=%s: rc=%d\n%s%s" % (len(certs), days, r.returncode, r.stdout,
                                                               r.stderr)
        check(r.returncode == 0, what)
        lines = [ln for ln in r.stderr.splitlines() if "ev=cert_expiring" in ln]
        if warned:
            check(len(lines) == 1 and "cert=%s " % soon_crt in lines[0] and " warn " in lines[0] and
                  "(with certificate warnings)" in r.stdout, what)
        else:
            check(not lines and r.stdout.strip() == "%s: ok" % conf, what)


def t_backend_metrics_warn(env):
    soon_crt, soon_key = leaf(env, "soon", 5)
    admin = H.free_port()
    sections = {
        "backend": {"id": "be-expiry", "log_level": "info"},
        "admin": {"address": "127.0.0.1:%d" % admin},
        "listen": {"tls": "127.0.0.1:%d" % H.free_port()},
        "tls": {"cert": soon_crt, "key": soon_key},
    }
    b = H.Backend(env.work, env.certs, sections)
    try:
        b.start()
        warned = b.entries("cert_expiring")
        check(len(warned) == 1 and warned[0].get("cert") == soon_crt, "backend warnings: %r" % warned)
        text = pu.Proxy.admin_get(None, admin, "/metrics")[1]
        want = openssl_date(["x509", "-in", soon_crt, "-noout", "-enddate"], "notAfter")
        got = pu.metric(text, "sstp_backend_cert_not_after_seconds", {"cert": "soon.crt"})
        check(got == want, "backend notAfter %r, openssl says %d" % (got, want))
        r = check_config(b.binary, b.conf, "SSTP_BACKEND_")
        check(r.returncode == 0 and "ev=cert_expiring" in r.stderr and "(with certificate warnings)" in r.stdout,
              "backend check-config: rc=%d %s %s" % (r.returncode, r.stdout, r.stderr))
    finally:
        rc = b.stop()
        rep = b.sanitizer_report()
    check(rc == 0, "sstp-backend exit status %r:\n%s" % (rc, b.text()[-2000:]))
    check(rep is None, "sanitizer report:\n%s" % rep)


CASES = [
    ("proxy_metrics_warn", t_proxy_metrics_warn),
    ("check_config", t_check_config),
    ("backend_metrics_warn", t_backend_metrics_warn),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
