#!/usr/bin/env python3
"""proxy_tls_trust.py — what sstp-proxy's TLS side lets a client get away
with, attacked with real `openssl s_client` and real certificates:

  groups_*               finite-field DH groups refused by default, accepted
                         only when tls.groups names them
  resumption_policy_*    a session saved under client_verify = none does not
                         resume after the switch to required (TLS 1.2, 1.3)
  crl_revoked            a revoked client certificate is refused; a CRL
                         reloaded with SIGHUP takes effect, its old sessions
                         do not resume; an expired CRL refuses every one
  forged_ticket_*        a ticket re-encrypted under the known key (the
                         documented key file) claiming another certificate
                         hash: full handshake, the backend gets the hash of
                         the certificate presented (TLS 1.2, 1.3)
  ticket_key_file        the operator's keys: the first encrypts, all decrypt;
                         a key dropped from the file (SIGHUP) resumes no more
  replaced_cert_ticket   a ticket issued under certificate A resumes after a
                         SIGHUP that kept A; after one that replaced A by B
                         (a leaked key, say) it is a full handshake and the
                         backend gets B's hash (TLS 1.2, 1.3)
  worker_restart_no_disk SIGKILLed workers restart while the certificate
                         file is gone: the others serve meanwhile, the new
                         ones serve the last good certificate
  keylog_file            opened without following a symlink, forced 0600,
                         its use logged at warning
  ocsp_checked           a staple for another certificate, without nextUpdate
                         or past it is not stapled (warned, counted); a
                         matching current one is
  admin_host             the admin listener answers 421 to a Host that is a
                         name other than localhost (DNS rebinding), counted
  admin_emfile           the admin listener out of descriptors pauses its
                         accept (no spinning: the master's CPU time stays
                         low), logs once, and serves again afterwards
Run by tests/integration/proxy_tls_trust.sh. Loopback only; stdlib and the
openssl binary only.
"""
import base64
import hashlib
import hmac
import os
import re
import resource
import select
import socket
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

HEAD = ("SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Length: 18446744073709551615\r\n\r\n" % sc.SSTP_URI).encode()
POLICY_NONE = hashlib.sha256(b"sstp-proxy client policy v1" + b"\x00").digest()  # tls_ctx.c


def s_client(env, *args, timeout=8.0):
    """openssl s_client to the proxy: sends the SSTP request head once the
    handshake is done, returns everything it printed once the proxy
    answered (or closed, or the time is up)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % env.port, "-servername", "localhost",
           "-CAfile", env.cert("ca.crt")] + list(args)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    try:
        p.stdin.write(HEAD)
        p.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and b"HTTP/1.1 " not in out:
            r, _, _ = select.select([p.stdout], [], [], 0.1)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        time.sleep(0.1)  # a TLS 1.3 ticket may follow the answer in the same flight
    except BrokenPipeError:
        pass
    finally:
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        p.stdin = None
        try:
            rest, _ = p.communicate(timeout=5)
            out += rest or b""
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
    return out.decode("utf-8", "replace")


def answered(out):
    return "HTTP/1.1 200" in out


def resumed(out):
    return re.search(r"^Reused, TLSv1\.[23]", out, re.M) is not None


def run(*args, cwd=None):
    return subprocess.run(list(args), check=True, capture_output=True, cwd=cwd)


def metrics(env, p):
    time.sleep(1.2)  # workers publish once a second
    _, text = p.admin_get(env.admin, "/metrics")
    return text


# ---- groups ----

def t_groups_default(env):
    be = env.backend()
    env.proxy(env.sections(["be1 %s" % be.addr]))
    out = s_client(env, "-tls1_3", "-groups", "ffdhe2048")
    check(not answered(out) and not be.records, "ffdhe2048 was accepted by default:\n" + out[-800:])
    out = s_client(env, "-tls1_3", "-groups", "X25519")
    check(answered(out), "X25519 refused:\n" + out[-800:])


def t_groups_configured(env):
    be = env.backend()
    env.proxy(env.sections(["be1 %s" % be.addr], tls={"groups": "X25519:ffdhe2048"}))
    out = s_client(env, "-tls1_3", "-groups", "ffdhe2048")
    check(answered(out), "tls.groups = ...:ffdhe2048 did not accept it:\n" + out[-800:])
    check(re.search(r"Server Temp Key: .*(DH|ffdhe|FFDHE).*2048", out), "not DH 2048:\n" + out[-800:])


# ---- client-certificate policy and resumption ----

def resumption_policy(env, version):
    be = env.backend()
    sections = env.sections(["be1 %s" % be.addr])
    p = env.proxy(sections)
    sess = os.path.join(env.work, "s.pem")
    out = s_client(env, version, "-sess_out", sess)
    check(answered(out) and os.path.exists(sess), "no first session:\n" + out[-800:])
    out = s_client(env, version, "-sess_in", sess)
    check(answered(out) and resumed(out), "the session does not resume under the same policy:\n" + out[-800:])
    n = len(be.records)
    sections["tls"].update({"client_verify": "required", "client_ca": env.cert("ca.crt")})
    p.write_conf(pe.render(sections))
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=0")
    out = s_client(env, version)
    check(not answered(out), "a fresh connection without a certificate was relayed:\n" + out[-800:])
    out = s_client(env, version, "-sess_in", sess)
    check(not answered(out), "the old session, without a certificate, was relayed:\n" + out[-800:])
    check(not resumed(out), "the old session was resumed under the new policy:\n" + out[-800:])
    check(len(be.records) == n, "the backend saw a connection without a client certificate")
    out = s_client(env, version, "-cert", env.cert("proxy-client.crt"), "-key", env.cert("proxy-client.key"))
    check(answered(out), "a client with a certificate is refused:\n" + out[-800:])


def t_resumption_policy_tls12(env):
    resumption_policy(env, "-tls1_2")


def t_resumption_policy_tls13(env):
    resumption_policy(env, "-tls1_3")


CA_CNF = """[ca]
default_ca = d
[d]
database = index.txt
crlnumber = crlnumber
certificate = {ca}
private_key = {key}
default_md = sha256
default_crl_days = 7
"""


def client_cert(env, d, name):
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
        name + ".key", cwd=d)
    run("openssl", "req", "-new", "-key", name + ".key", "-subj", "/CN=" + name, "-out", name + ".csr", cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
    run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", env.cert("ca.crt"), "-CAkey", env.cert("ca.key"),
        "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2", "-extfile", name + ".ext",
        "-out", name + ".crt", cwd=d)
    return ["-cert", os.path.join(d, name + ".crt"), "-key", os.path.join(d, name + ".key")]


def gen_crl(d, revoke=None, days_ago=0):
    if revoke:
        run("openssl", "ca", "-config", "ca.cnf", "-revoke", revoke + ".crt", cwd=d)
    when = ["faketime", "-f", "-%dd" % days_ago] if days_ago else []
    run(*when, "openssl", "ca", "-config", "ca.cnf", "-gencrl", "-crldays", "1", "-out", "crl.pem", cwd=d)


def t_crl_revoked(env):
    d = os.path.join(env.work, "pki")
    os.makedirs(d)
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(CA_CNF.format(ca=env.cert("ca.crt"), key=env.cert("ca.key")))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "crlnumber"), "w") as f:
        f.write("01\n")
    good, bad = client_cert(env, d, "good"), client_cert(env, d, "bad")
    gen_crl(d, revoke="bad")
    be = env.backend()
    sections = env.sections(["be1 %s" % be.addr], tls={
        "client_verify": "required", "client_ca": env.cert("ca.crt"),
        "client_crl": os.path.join(d, "crl.pem")})
    p = env.proxy(sections)
    sess = os.path.join(env.work, "good.pem")
    out = s_client(env, "-tls1_2", "-sess_out", sess, *good)
    check(answered(out), "an unrevoked client certificate is refused:\n" + out[-800:])
    for v in ("-tls1_2", "-tls1_3"):
        n = len(be.records)
        out = s_client(env, v, *bad)
        check(not answered(out) and len(be.records) == n, "a revoked certificate was relayed (%s):\n%s" %
              (v, out[-800:]))
        check("certificate revoked" in out, "not refused as revoked (%s):\n%s" % (v, out[-800:]))
    # the operator revokes `good` too: SIGHUP reloads the CRL, and the
    # session `good` made before must not resume past it
    gen_crl(d, revoke="good")
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=0")
    n = len(be.records)
    out = s_client(env, "-tls1_2", "-sess_in", sess, *good)
    check(not answered(out) and not resumed(out) and len(be.records) == n,
          "a certificate revoked by the reloaded CRL got through:\n" + out[-800:])
    p.wait_log(r"ev=tls_fail ", count=3)
    # a CRL past its nextUpdate fails closed: even an unrevoked certificate is refused
    other = client_cert(env, d, "other")
    gen_crl(d, days_ago=3)
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=0", count=2)
    n = len(be.records)
    out = s_client(env, "-tls1_3", *other)
    check(not answered(out) and len(be.records) == n, "an expired CRL let a certificate through:\n" + out[-800:])
    check("certificate expired" in out, "not refused for the expired CRL:\n" + out[-800:])


# ---- forged tickets ----

def ticket_keys(key_line, policy):
    base = hashlib.sha256(base64.b64decode(key_line)).digest()
    k = lambda label: hmac.new(base, b"sstp-proxy ticket v2" + label + policy, hashlib.sha256).digest()
    return k(b"name")[:16], k(b"aes"), k(b"hmac")


def aes_cbc(data, key, iv, decrypt):
    args = ["openssl", "enc", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex()] + (["-d"] if decrypt else [])
    return subprocess.run(args, input=data, check=True, capture_output=True).stdout


def der_len_before(der, at):
    """Length of the DER OCTET STRING whose content starts at `at`."""
    for hdr in (2, 3, 4):
        h = der[at - hdr:at]
        if h[0] != 0x04:
            continue
        if hdr == 2 and h[1] < 0x80:
            return h[1]
        if hdr == 3 and h[1] == 0x81:
            return h[2]
        if hdr == 4 and h[1] == 0x82:
            return (h[2] << 8) | h[3]
    raise pu.Failure("ticket not in an OCTET STRING")


def forge(sess_pem, out_pem, key_line, real, fake):
    """Rewrites the ticket of a client session file: decrypt under the
    known key, replace the certificate hashes `real` (sha256|sha1) with
    `fake`, encrypt and MAC again (OpenSSL's ticket: name | iv | AES-CBC
    | HMAC(name | iv | ciphertext))."""
    name, aes, mac = ticket_keys(key_line, POLICY_NONE)
    pem = open(sess_pem).read()
    b64 = "".join(ln for ln in pem.splitlines() if not ln.startswith("-----"))
    der = bytearray(base64.b64decode(b64))
    at = der.find(name)
    check(at > 0, "the session's ticket is not under the key of the file")
    n = der_len_before(der, at)
    ticket = bytes(der[at:at + n])
    iv, body, tag = ticket[16:32], ticket[32:-32], ticket[-32:]
    check(hmac.compare_digest(tag, hmac.new(mac, ticket[:-32], hashlib.sha256).digest()),
          "the ticket's MAC does not check under the derived key")
    plain = aes_cbc(body, aes, iv, decrypt=True)
    check(plain.count(real) == 1, "the ticket does not carry the certificate hashes once")
    body2 = aes_cbc(plain.replace(real, fake), aes, iv, decrypt=False)
    check(len(body2) == len(body), "re-encryption changed the length")
    forged = name + iv + body2
    forged += hmac.new(mac, forged, hashlib.sha256).digest()
    der[at:at + n] = forged
    with open(out_pem, "w") as f:
        f.write("-----BEGIN SSL SESSION PARAMETERS-----\n")
        enc = base64.b64encode(bytes(der)).decode()
        f.write("\n".join(enc[i:i + 64] for i in range(0, len(enc), 64)))
        f.write("\n-----END SSL SESSION PARAMETERS-----\n")


def forged_ticket(env, version):
    be = env.backend()
    key_line = base64.b64encode(os.urandom(48)).decode()
    key_file = os.path.join(env.work, "ticket.keys")
    with open(key_file, "w") as f:
        f.write("# test key\n%s\n" % key_line)
    p = env.proxy(env.sections(["be1 %s" % be.addr], tls={"ticket_key_file": key_file}))
    cert = env.cert("server.crt")
    real = pu.cert_der_sha256(cert) + pu.cert_der_sha1(cert)
    fake = os.urandom(52)
    sess = os.path.join(env.work, "s.pem")
    out = s_client(env, version, "-sess_out", sess)
    check(answered(out) and os.path.exists(sess), "no session:\n" + out[-800:])
    # control: the same re-encryption with the true hashes resumes, so the
    # forgery below is a valid ticket under the key
    same = os.path.join(env.work, "same.pem")
    forge(sess, same, key_line, real, real)
    out = s_client(env, version, "-sess_in", same)
    check(answered(out) and resumed(out), "a re-encrypted genuine ticket does not resume:\n" + out[-800:])
    forged = os.path.join(env.work, "forged.pem")
    forge(sess, forged, key_line, real, fake)
    n = len(be.records)
    out = s_client(env, version, "-sess_in", forged)
    check(answered(out), "no answer with the forged ticket:\n" + out[-800:])
    check(not resumed(out), "the forged ticket was resumed:\n" + out[-800:])
    rec = be.wait_records(n + 1)[-1]
    check(pu.tlv1(rec["pp"], pu.T_CERT_SHA256) == real[:32],
          "the backend was told %s, not the presented certificate" % pu.tlv1(rec["pp"], pu.T_CERT_SHA256).hex())
    check(pu.tlv1(rec["pp"], pu.T_CERT_SHA1) == real[32:], "0xE9 is not the presented certificate's SHA-1")
    text = metrics(env, p)
    check(pu.metric(text, "sstp_proxy_tls_policy_total", {"reason": "ticket_cert_not_served"}) == 1,
          "ticket_cert_not_served counter: %r" %
          pu.metric(text, "sstp_proxy_tls_policy_total", {"reason": "ticket_cert_not_served"}))


def t_forged_ticket_tls12(env):
    forged_ticket(env, "-tls1_2")


def t_forged_ticket_tls13(env):
    forged_ticket(env, "-tls1_3")


def session_key_name(sess_pem, key_lines):
    """Which of key_lines (index) the ticket in a client session file is under."""
    der = base64.b64decode("".join(ln for ln in open(sess_pem).read().splitlines() if not ln.startswith("-----")))
    for i, k in enumerate(key_lines):
        if ticket_keys(k, POLICY_NONE)[0] in der:
            return i
    return None


def t_ticket_key_file(env):
    be = env.backend()
    k1, k2 = (base64.b64encode(os.urandom(48)).decode() for _ in range(2))
    key_file = os.path.join(env.work, "ticket.keys")

    def keys(*lines):
        with open(key_file, "w") as f:
            f.write("\n".join(lines) + "\n")
    keys(k1)
    p = env.proxy(env.sections(["be1 %s" % be.addr], tls={"ticket_key_file": key_file}))
    s1, s2 = os.path.join(env.work, "s1.pem"), os.path.join(env.work, "s2.pem")
    check(answered(s_client(env, "-tls1_2", "-sess_out", s1)), "no first session")
    check(session_key_name(s1, [k1, k2]) == 0, "the ticket is not under the file's key")
    keys(k2, k1)                                  # the operator adds a new first key
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=0")
    out = s_client(env, "-tls1_2", "-sess_in", s1)
    check(answered(out) and resumed(out), "a ticket of the second key does not resume:\n" + out[-800:])
    check(answered(s_client(env, "-tls1_2", "-sess_out", s2)), "no second session")
    check(session_key_name(s2, [k1, k2]) == 1, "new tickets are not under the first key of the file")
    keys(k2)                                      # ... and drops the old one
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=0", count=2)
    out = s_client(env, "-tls1_2", "-sess_in", s1)
    check(answered(out) and not resumed(out), "a ticket of a dropped key resumed:\n" + out[-800:])
    out = s_client(env, "-tls1_2", "-sess_in", s2)
    check(answered(out) and resumed(out), "a ticket of the kept key does not resume:\n" + out[-800:])


def replaced_cert_ticket(env, version):
    be = env.backend()
    crt, key = os.path.join(env.work, "live.crt"), os.path.join(env.work, "live.key")

    def install(name):
        for src, dst in ((env.cert(name + ".crt"), crt), (env.cert(name + ".key"), key)):
            with open(src, "rb") as a, open(dst + ".new", "wb") as b:
                b.write(a.read())
            os.rename(dst + ".new", dst)
    install("server")
    a_hash, b_hash = pu.cert_der_sha256(env.cert("server.crt")), pu.cert_der_sha256(env.cert("server-rsa.crt"))
    p = env.proxy(env.sections(["be1 %s" % be.addr], tls={"cert": ["%s %s" % (crt, key)]}))
    sess = os.path.join(env.work, "a.pem")
    check(answered(s_client(env, version, "-sess_out", sess)), "no session under A")
    p.signal(signal.SIGHUP)                       # A still configured: its tickets resume
    p.wait_log(r"ev=reloaded worker=0")
    out = s_client(env, version, "-sess_in", sess)
    check(answered(out) and resumed(out), "a ticket of the kept certificate does not resume:\n" + out[-800:])
    install("server-rsa")                         # A replaced by B
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=0", count=2)
    n = len(be.records)
    out = s_client(env, version, "-sess_in", sess)
    check(answered(out), "no answer after the replacement:\n" + out[-800:])
    check(not resumed(out), "a ticket of the replaced certificate resumed:\n" + out[-800:])
    rec = be.wait_records(n + 1)[-1]
    told = pu.tlv1(rec["pp"], pu.T_CERT_SHA256)
    check(told == b_hash, "the backend was told %s, not B's hash (A's: %s)" % (told.hex(), told == a_hash))


def t_replaced_cert_ticket_tls12(env):
    replaced_cert_ticket(env, "-tls1_2")


def t_replaced_cert_ticket_tls13(env):
    replaced_cert_ticket(env, "-tls1_3")


# ---- worker restart ----

def t_worker_restart_no_disk(env):
    be = env.backend()
    crt, key = os.path.join(env.work, "live.crt"), os.path.join(env.work, "live.key")
    for src, dst in ((env.cert("server.crt"), crt), (env.cert("server.key"), key)):
        with open(src, "rb") as a, open(dst, "wb") as b:
            b.write(a.read())
    old_hash = pu.cert_der_sha256(crt)
    p = env.proxy(env.sections(["be1 %s" % be.addr], workers=2, tls={"cert": ["%s %s" % (crt, key)]}),
                  workers=2)
    os.rename(crt, crt + ".renewing")            # mid-renewal: the file is gone (root ignores chmod 000)
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reload_fail ")
    for victim_no, ready in ((0, 3), (1, 4)):
        pid = int(re.findall(r"ev=worker_start worker=%d pid=(\d+)" % victim_no, p.text())[-1])
        os.kill(pid, signal.SIGKILL)             # a child of the proxy this test started
        p.wait_log(r"ev=worker_exit worker=%d pid=%d signal=9" % (victim_no, pid))
        c = env.session()                        # the other worker serves meanwhile
        c.close()
        p.wait_log(r"ev=worker_restart worker=%d" % victim_no, count=1)
        p.wait_log(r"ev=worker_ready", count=ready, timeout=10)
    # both workers now started while the file was missing
    check(p.proc.poll() is None, "the master stopped")
    for _ in range(4):
        c = env.session()
        check(pu.sha256(c.cert_der) == old_hash, "a restarted worker does not show the last good certificate")
        c.close()
    check(pu.tlv1(be.records[-1]["pp"], pu.T_CERT_SHA256) == old_hash, "0xE8 is not the last good hash")
    check("worker_cannot_start" not in p.text(), "a worker could not start")
    text = metrics(env, p)
    check(pu.metric(text, "sstp_proxy_workers") == 2, "workers gauge")
    os.rename(crt + ".renewing", crt)


# ---- small items ----

def t_keylog_file(env):
    be = env.backend()
    target = os.path.join(env.work, "elsewhere")
    link = os.path.join(env.work, "keys.log")
    os.symlink(target, link)
    s = env.sections(["be1 %s" % be.addr], tls={"keylog_file": link})
    p = env.proxy(s, wait_ready=False)
    try:
        p.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise pu.Failure("the proxy started with a symlinked key log")
    check(p.proc.returncode != 0 and not os.path.exists(target), "the key log followed a symlink")
    check(re.search(r"keylog_file .*keys\.log", p.text()), "no clear error for the symlink:\n" + p.text()[-500:])
    os.unlink(link)
    with open(link, "w") as f:
        f.write("")
    os.chmod(link, 0o644)                        # left readable by someone else
    p = env.proxy(s)
    check(os.stat(link).st_mode & 0o777 == 0o600, "the key log is not 0600: %o" % (os.stat(link).st_mode & 0o777))
    check(re.search(r"level=warn ev=keylog |\"level\":\"warn\".*keylog|WARN.*keylog|ev=keylog ", p.text()),
          "the key log's use is not logged:\n" + p.text()[-800:])
    check([ln for ln in p.text().splitlines() if "ev=keylog " in ln and "warn" in ln.lower()],
          "the key log line is not a warning:\n" + p.text()[-800:])


def ocsp_response(env, d, cert, ndays="1", name=None, days_ago=0):
    serial = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"],
                            check=True, capture_output=True, text=True).stdout.strip().split("=")[1]
    with open(os.path.join(d, "index.txt"), "w") as f:
        f.write("V\t301231000000Z\t\t%s\tunknown\t/CN=x\n" % serial)
    run("openssl", "ocsp", "-issuer", env.cert("ca.crt"), "-cert", cert, "-reqout", "req.der", "-no_nonce", cwd=d)
    out = os.path.join(d, name or os.path.basename(cert) + ".ocsp")
    # faketime (scripts/deps.sh test) signs a response that is already past its nextUpdate
    when = ["faketime", "-f", "-%dd" % days_ago] if days_ago else []
    run(*when, "openssl", "ocsp", "-index", "index.txt", "-rsigner", env.cert("ca.crt"), "-rkey",
        env.cert("ca.key"), "-CA", env.cert("ca.crt"), "-reqin", "req.der", "-respout", out,
        *(["-ndays", ndays] if ndays else []), cwd=d)
    return out


def stapled(env):
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % env.port, "-servername",
                          "localhost", "-status", "-CAfile", env.cert("ca.crt")],
                         input=b"", capture_output=True, timeout=10).stdout.decode()
    return "OCSP Response Status: successful" in out


def t_ocsp_checked(env):
    be = env.backend()
    d = env.work
    other = ocsp_response(env, d, env.cert("server2.crt"))   # good, but for another certificate
    mine = ocsp_response(env, d, env.cert("server.crt"))
    undated = ocsp_response(env, d, env.cert("server.crt"), ndays=None, name="undated.ocsp")  # no nextUpdate
    stale = ocsp_response(env, d, env.cert("server.crt"), name="stale.ocsp", days_ago=3)   # expired 2 days ago
    crt_key = "%s %s" % (env.cert("server.crt"), env.cert("server.key"))
    s = env.sections(["be1 %s" % be.addr], tls={"cert": ["%s ocsp=%s" % (crt_key, other)]})
    p = env.proxy(s)
    check(not stapled(env), "a response about another certificate was stapled")
    p.wait_log(r"ev=ocsp_not_stapled .*reason=for_another_certificate")
    check(pu.metric(metrics(env, p), "sstp_proxy_tls_policy_total", {"reason": "ocsp_not_stapled"}) == 1,
          "ocsp_not_stapled counter")
    s["tls"]["cert"] = ["%s ocsp=%s" % (crt_key, undated)]
    p.write_conf(pe.render(s))
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=ocsp_not_stapled .*reason=no_next_update")
    p.wait_log(r"ev=reloaded worker=0")
    check(not stapled(env), "a response without nextUpdate was stapled")
    s["tls"]["cert"] = ["%s ocsp=%s" % (crt_key, stale)]
    p.write_conf(pe.render(s))
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=ocsp_not_stapled .*reason=stale")
    p.wait_log(r"ev=reloaded worker=0", count=2)
    check(not stapled(env), "a response past its nextUpdate was stapled")
    s["tls"]["cert"] = ["%s ocsp=%s" % (crt_key, mine)]
    p.write_conf(pe.render(s))
    p.signal(signal.SIGHUP)
    p.wait_log(r"ev=reloaded worker=0", count=3)
    check(stapled(env), "the matching response is not stapled after the reload")


# ---- admin listener ----

def admin_raw(port, head, timeout=5.0):
    """Sends a raw request head to the admin listener; returns the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode())
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    m = re.match(rb"HTTP/1\.1 (\d+) ", buf)
    return int(m.group(1)) if m else None


def t_admin_host(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr]))
    a = env.admin
    for host, want in (("evil.example", 421), ("evil.example:%d" % a, 421), ("127.0.0.1.nip.io", 421),
                       ("localhost:%d" % a, 200), ("127.0.0.1:%d" % a, 200), ("[::1]:%d" % a, 200)):
        got = admin_raw(a, "GET /metrics HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
        check(got == want, "Host %s: %r, want %d" % (host, got, want))
    check(admin_raw(a, "GET /readyz HTTP/1.0\r\n\r\n") == 200, "an HTTP/1.0 probe without Host is refused")
    check(admin_raw(a, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n") == 400,
          "two Host headers are not a bad request")
    _, text = p.admin_get(a, "/metrics")
    check(pu.metric(text, "sstp_admin_refused_total", {"reason": "host"}) == 3, "host refusal counter")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def t_admin_emfile(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr]))
    pid = p.proc.pid                             # the master, which serves the admin listener
    n_open = len(os.listdir("/proc/%d/fd" % pid))
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (n_open + 2, hard))   # the soft limit only
    idle = []
    try:
        for _ in range(6):                       # 2 take the last descriptors, the rest wait: EMFILE
            idle.append(socket.create_connection(("127.0.0.1", env.admin), timeout=5))
        time.sleep(0.3)
        cpu0 = cpu_seconds(pid)
        time.sleep(1.5)
        spent = cpu_seconds(pid) - cpu0
        check(spent < 0.5, "the master spun on EMFILE: %.2fs of CPU in 1.5s" % spent)
        p.wait_log(r"ev=admin_accept_error .*Too many open files")
        check(len(p.lines("admin_accept_error")) <= 2, "accept errors are not rate-limited: %d lines" %
              len(p.lines("admin_accept_error")))
    finally:
        for s in idle:
            s.close()
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if p.admin_get(env.admin, "/healthz", timeout=2)[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        raise pu.Failure("the admin listener did not serve again")
    _, text = p.admin_get(env.admin, "/metrics")
    check((pu.metric(text, "sstp_admin_refused_total", {"reason": "accept_error"}) or 0) >= 1,
          "accept_error counter")


CASES = [
    ("groups_default", t_groups_default),
    ("groups_configured", t_groups_configured),
    ("resumption_policy_tls12", t_resumption_policy_tls12),
    ("resumption_policy_tls13", t_resumption_policy_tls13),
    ("crl_revoked", t_crl_revoked),
    ("forged_ticket_tls12", t_forged_ticket_tls12),
    ("forged_ticket_tls13", t_forged_ticket_tls13),
    ("ticket_key_file", t_ticket_key_file),
    ("replaced_cert_ticket_tls12", t_replaced_cert_ticket_tls12),
    ("replaced_cert_ticket_tls13", t_replaced_cert_ticket_tls13),
    ("worker_restart_no_disk", t_worker_restart_no_disk),
    ("keylog_file", t_keylog_file),
    ("ocsp_checked", t_ocsp_checked),
    ("admin_host", t_admin_host),
    ("admin_emfile", t_admin_emfile),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
