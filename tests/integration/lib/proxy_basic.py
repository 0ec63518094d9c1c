#!/usr/bin/env python3
"""proxy_basic.py — sstp-proxy's main path on loopback: relay through a test
backend and the PROXY v2 header it receives (client address, SNI, session
id, TLS data, the hashes of the certificate actually presented, metadata),
certificate choice by SNI and key type, ALPN, HEAD probes, the admin
listener, PROXY v1/v2 from a trusted load balancer, session tickets across
workers, OCSP stapling, the key log, client certificates, IPv6, and the
command line. Run by tests/integration/proxy_basic.sh.
"""
import hashlib
import os
import select
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

URI = sc.SSTP_URI
HEAD = ("SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: vpn.example.test\r\n"
        "Content-Length: 18446744073709551615\r\n\r\n" % URI).encode()


def raw_tls(env, sni="localhost", session=None, alpn=None, max_version=None, ciphers=None,
            certfile=None, keyfile=None, verify=True, pre=b""):
    """A TLS socket to the proxy with the options the SstpClient lacks."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(env.cert("ca.crt"))
        ctx.check_hostname = sni is not None
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    raw = socket.create_connection(("127.0.0.1", env.port), timeout=5)
    if pre:
        raw.sendall(pre)
    return ctx.wrap_socket(raw, server_hostname=sni, session=session), ctx


def read_head(s, timeout=5.0):
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def sha256(b):
    return hashlib.sha256(b).digest()


# ---------------------------------------------------------------- cases

def t_relay_and_tlvs(env):
    be = env.backend()
    # ?tenantid=contoso may only go to group contoso
    p = env.proxy(env.sections(["be1 %s group=contoso" % be.addr], workers=2), workers=2)
    c = env.client()
    head = ("SSTP_DUPLEX_POST %s?tenantid=contoso HTTP/1.1\r\nHost: vpn.example.test\r\n"
            "Content-Length: 18446744073709551615\r\n"
            "SSTPCORRELATIONID: {11111111-2222-3333-4444-555555555555}\r\n\r\n" % URI).encode()
    creq = sc.connect_request()
    c.send(head + creq)                         # a client that pipelines
    status, _ = c.read_http_response()
    check(status == 200, "status %r" % status)
    check(getattr(c.recv_ctrl(), "msg_type", None) == sc.CONNECT_ACK, "no CONNECT_ACK")
    for n in (10, 1400, 4087):
        pl = b"\xff\x03" + os.urandom(n)
        c.send(sc.data(pl))
        got = c.recv()
        check(getattr(got, "payload", None) == pl, "echo of %d bytes: %r" % (n, got))

    rec = be.wait_records(1)[0]
    # the canonical head the proxy rebuilds (sstp_http_req_canonical_build)
    canon = ("SSTP_DUPLEX_POST %s?tenantid=contoso HTTP/1.1\r\n"
             "Content-Length: 18446744073709551615\r\nHost: vpn.example.test\r\n"
             "SSTPCORRELATIONID: {11111111-2222-3333-4444-555555555555}\r\n\r\n" % URI).encode()
    check(rec["head"] == canon, "backend got a different head: %r" % rec["head"])
    check(rec["packets"][:1] == [creq], "pipelined CONNECT_REQUEST not passed on first")
    pp = rec["pp"]
    check(pp["command"] == 1 and pp["family"] == 0x11, "PROXY TCP4 expected: %r" % pp)
    check(pp["src"] == c.sock.getsockname()[:2], "src %r vs client %r" % (pp["src"], c.sock.getsockname()))
    check(pp["dst"] == ("127.0.0.1", env.port), "dst %r" % (pp["dst"],))
    want256 = pu.cert_der_sha256(env.cert("server.crt"))
    check(pu.tlv1(pp, pu.T_CERT_SHA256) == want256, "0xE8 is not the SHA-256 of server.crt")
    check(sha256(c.cert_der) == want256, "the client did not see server.crt")
    check(pu.tlv1(pp, pu.T_CERT_SHA1) == pu.cert_der_sha1(env.cert("server.crt")), "0xE9 wrong")
    check(pu.tlv1(pp, pu.T_AUTHORITY) == b"localhost", "AUTHORITY %r" % pu.tlv1(pp, pu.T_AUTHORITY))
    ssl_tlv = pp["ssl"]
    cipher, version, _ = c.sock.cipher()
    check(ssl_tlv["client"] == 0x01 and ssl_tlv["verify"] != 0, "SSL client/verify %r" % ssl_tlv)
    check(ssl_tlv["subs"].get(pu.T_SSL_VERSION) == version.encode(), "SSL version %r" % ssl_tlv)
    check(ssl_tlv["subs"].get(pu.T_SSL_CIPHER) == cipher.encode(), "SSL cipher %r" % ssl_tlv)
    check(ssl_tlv["subs"].get(pu.T_SSL_SIG_ALG) == b"ecdsa-with-SHA256", "sig alg %r" % ssl_tlv)
    check(ssl_tlv["subs"].get(pu.T_SSL_KEY_ALG) == b"EC256", "key alg %r" % ssl_tlv)
    meta = pp["meta"]
    check(meta["proxy_id"] == "px-relay_and_tlvs" and meta["tenant"] == "contoso" and meta["flags"] == 0,
          "meta %r" % meta)
    uid = pu.tlv1(pp, pu.T_UNIQUE_ID).decode()
    start = [ln for ln in p.lines("start") if "sid=%s " % uid in ln]
    check(len(start) == 1 and "backend=be1" in start[0] and
          "corr={11111111-2222-3333-4444-555555555555}" in start[0] and "tenant=contoso" in start[0],
          "start line for sid %s: %r" % (uid, start))
    c.close()
    p.wait_log(r"ev=close sid=%s .*state=RELAY term=-- " % uid)


def t_backpressure_burst(env):
    """1.6 MB each way through 16 KiB buffers: everything echoed, in order
    (pe.echo_burst)."""
    be = env.backend()
    env.proxy(env.sections(["be1 %s" % be.addr]))
    c = env.session()
    pe.echo_burst(c, n=400, size=4000, chunk=16384, timeout=20)
    c.close()


def t_one_record_per_packet(env):
    """Two SSTP packets the backend writes at once reach the client as two
    TLS records (a client that handles one packet per read wakeup must not
    find the second one stuck behind the first)."""
    be = env.backend(after_ack=sc.echo_request())
    env.proxy(env.sections(["be1 %s" % be.addr]))
    c = env.client()
    status, _ = c.http_handshake()
    check(status == 200 and c.rbuf == b"", "the 200 head shares its record: %r" % c.rbuf)
    c.send(sc.connect_request())
    c.sock.settimeout(5)
    first = c.sock.recv(65536)      # SSL_read returns one record at most
    check(len(first) == 48 and first[4:6] == b"\x00\x02", "first record: %r" % first)
    second = c.sock.recv(65536)
    check(second == sc.echo_request(), "second record: %r" % second)
    c.close()


def t_sni_selection(env):
    be = env.backend()
    certs = ["%s %s" % (env.cert("server.crt"), env.cert("server.key")),
             "%s %s sni=other,alias.example" % (env.cert("other.crt"), env.cert("other.key"))]
    env.proxy(env.sections(["be1 %s" % be.addr], tls={"cert": certs}))
    cases = [("localhost", "server.crt"), ("vpn.example.test", "server.crt"), ("other", "other.crt"),
             ("alias.example", "other.crt"), (None, "server.crt"), ("unknown.example", "server.crt")]
    for i, (sni, want) in enumerate(cases):
        verify = sni in ("localhost", "vpn.example.test", "other")
        c = env.session(sni=sni, cafile=env.cert("ca.crt") if verify else None)
        wanted = pu.cert_der_sha256(env.cert(want))
        check(sha256(c.cert_der) == wanted, "SNI %r: client was shown the wrong certificate" % sni)
        pp = be.wait_records(i + 1)[i]["pp"]
        check(pu.tlv1(pp, pu.T_CERT_SHA256) == wanted, "SNI %r: 0xE8 is not %s's hash" % (sni, want))
        check(pu.tlv1(pp, pu.T_AUTHORITY) == (sni.encode() if sni else None),
              "SNI %r: AUTHORITY %r" % (sni, pu.tlv1(pp, pu.T_AUTHORITY)))
        c.close()


def t_rsa_and_ecdsa(env):
    be = env.backend()
    certs = ["%s %s" % (env.cert("server.crt"), env.cert("server.key")),
             "%s %s" % (env.cert("server-rsa.crt"), env.cert("server-rsa.key"))]
    env.proxy(env.sections(["be1 %s" % be.addr], tls={"cert": certs}))
    s, _ = raw_tls(env)                                   # offers ECDSA: gets it
    s.sendall(HEAD)
    check(read_head(s).startswith(b"HTTP/1.1 200"), "no 200")
    check(sha256(s.getpeercert(True)) == pu.cert_der_sha256(env.cert("server.crt")), "ECDSA cert expected")
    s.close()
    s, _ = raw_tls(env, max_version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    s.sendall(HEAD)
    check(read_head(s).startswith(b"HTTP/1.1 200"), "no 200 over TLS 1.2/RSA")
    want = pu.cert_der_sha256(env.cert("server-rsa.crt"))
    check(sha256(s.getpeercert(True)) == want, "an RSA-only client must get the RSA certificate")
    pp = be.wait_records(2)[1]["pp"]
    check(pu.tlv1(pp, pu.T_CERT_SHA256) == want, "0xE8 is not the RSA certificate's hash")
    check(pp["ssl"]["subs"].get(pu.T_SSL_KEY_ALG) == b"RSA2048", "key alg %r" % pp["ssl"])
    check(pp["ssl"]["subs"].get(pu.T_SSL_VERSION) == b"TLSv1.2", "version %r" % pp["ssl"])
    s.close()


def t_alpn(env):
    be = env.backend()
    env.proxy(env.sections(["be1 %s" % be.addr]))
    s, _ = raw_tls(env, alpn=["h2", "http/1.1"])
    check(s.selected_alpn_protocol() == "http/1.1", "ALPN %r" % s.selected_alpn_protocol())
    s.close()
    s, _ = raw_tls(env, alpn=["h2"])
    check(s.selected_alpn_protocol() is None, "ALPN h2 must not be accepted")
    s.close()


def t_head_probe(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr]))
    for _ in range(2):
        c = env.client()
        c.send(("HEAD %s HTTP/1.1\r\nHost: lb-probe\r\n\r\n" % URI).encode())
        status, hdrs = c.read_http_response()
        check(status == 200 and hdrs.get("content-length") == "0", "probe: %r %r" % (status, hdrs))
        check(c.read_closed(3), "the probe connection must be closed")
    check(len(be.records) == 0, "a probe must not reach a backend")
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_probes_total", {"status": "200"}) == 2, "probe counter")


def t_admin(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr], workers=2), workers=2)
    for _ in range(3):
        env.session().close()
    c = env.client()
    c.http_request(method="GET")
    check(c.read_http_response()[0] == 405, "GET must be 405")
    c.close()
    time.sleep(1.3)                                       # the workers publish gauges every second
    check(p.admin_get(env.admin, "/healthz") == (200, "ok\n"), "healthz")
    check(p.admin_get(env.admin, "/readyz") == (200, "ready\n"), "readyz")
    check(p.admin_get(env.admin, "/nope")[0] == 404, "unknown path must be 404")
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % env.admin, data=b"x", method="POST")
    try:
        urllib.request.urlopen(req, timeout=5)
        check(False, "POST must fail")
    except urllib.error.HTTPError as e:
        check(e.code == 405, "POST: %d" % e.code)
    status, text = p.admin_get(env.admin, "/metrics")
    check(status == 200, "metrics status %d" % status)
    want = [("sstp_proxy_connections_total", None, 4), ("sstp_proxy_sessions_total", None, 3),
            ("sstp_proxy_tls_handshakes_total", {"version": "TLSv1.3"}, 4),
            ("sstp_proxy_rejects_total", {"rc": "E_HTTP_METHOD"}, 1),
            ("sstp_proxy_backend_sessions_total", {"backend": "be1"}, 3),
            ("sstp_proxy_backend_up", {"backend": "be1"}, 1),
            ("sstp_proxy_workers", None, 2), ("sstp_proxy_workers_ready", None, 2),
            ("sstp_proxy_terminations_total", {"term": "--"}, 3),
            ("sstp_proxy_terminations_total", {"term": "CR"}, 1)]
    for name, labels, value in want:
        got = pu.metric(text, name, labels)
        check(got == value, "%s%r = %r, want %r" % (name, labels or {}, got, value))
    check(pu.metric(text, "sstp_proxy_bytes_total", {"direction": "backend_to_client"}) > 0, "bytes")
    check("# TYPE sstp_proxy_connections_total counter" in text, "TYPE line missing")
    check(pu.metric(text, "sstp_proxy_tls_ciphers_total", {"cipher": "TLS_AES_128_GCM_SHA256"}) is not None
          or pu.metric(text, "sstp_proxy_tls_ciphers_total", {"cipher": "TLS_AES_256_GCM_SHA384"}) is not None,
          "cipher counter")


def pp2(src, dst, sport, dport, tlvs=b"", fam=0x11, command=1):
    af = socket.AF_INET if fam == 0x11 else socket.AF_INET6
    body = (socket.inet_pton(af, src) + socket.inet_pton(af, dst) + struct.pack(">HH", sport, dport)
            if command == 1 else b"") + tlvs
    return pu.PP2_SIG + bytes([0x20 | command, fam if command == 1 else 0]) + struct.pack(">H", len(body)) + body


def t_proxy_protocol_in(env):
    be = env.backend()
    port = pu.free_port()
    p = env.proxy(env.sections(["be1 %s" % be.addr],
                               listen={"bind": ["127.0.0.1:%d proxy" % port],
                                       "proxy_allow": "10.0.0.0/8, 127.0.0.1/32"}))
    # v1
    c = env.session(port=port, pre=b"PROXY TCP4 203.0.113.7 198.51.100.10 51234 443\r\n")
    pp = be.wait_records(1)[0]["pp"]
    check(pp["src"] == ("203.0.113.7", 51234) and pp["dst"] == ("198.51.100.10", 443),
          "v1 addresses not forwarded: %r" % pp)
    c.close()
    # v2, IPv6, with a cloud vendor TLV and an AUTHORITY of the balancer's own
    foreign = struct.pack(">BH", 0xEA, 9) + b"\x01vpce-123" + struct.pack(">BH", 0x02, 12) + b"evil.example"
    c = env.session(port=port, pre=pp2("2001:db8::7", "2001:db8::1", 4000, 443, foreign, fam=0x21))
    pp = be.wait_records(2)[1]["pp"]
    check(pp["family"] == 0x21 and pp["src"] == ("2001:db8::7", 4000) and pp["dst"] == ("2001:db8::1", 443),
          "v2 addresses not forwarded: %r" % pp)
    check(0xEA not in pp["tlvs"], "a load balancer's TLV was passed on")
    check(pu.tlv1(pp, pu.T_AUTHORITY) == b"localhost", "AUTHORITY must be our SNI")
    check(any("client=[2001:db8::7]:4000" in ln for ln in p.lines("start")), "start line lacks the client")
    c.close()
    # v2 LOCAL: the connection's own addresses
    c = env.session(port=port, pre=pp2("", "", 0, 0, command=0))
    pp = be.wait_records(3)[2]["pp"]
    check(pp["src"] == c.sock.getsockname()[:2], "LOCAL must keep the real peer: %r" % (pp["src"],))
    c.close()


def t_tickets(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr], workers=2), workers=2)
    want = pu.cert_der_sha256(env.cert("server.crt"))
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        s, ctx = raw_tls(env, max_version=version)
        s.sendall(HEAD)
        check(read_head(s).startswith(b"HTTP/1.1 200"), "no 200")
        sess = s.session
        s.close()
        for _ in range(4):                                 # SO_REUSEPORT spreads these over both workers
            raw = socket.create_connection(("127.0.0.1", env.port), timeout=5)
            s = ctx.wrap_socket(raw, server_hostname="localhost", session=sess)
            check(s.session_reused, "%s: session not resumed" % version)
            s.sendall(HEAD)
            check(read_head(s).startswith(b"HTTP/1.1 200"), "no 200 after resumption")
            s.close()
    recs = be.wait_records(10)
    for r in recs:
        check(pu.tlv1(r["pp"], pu.T_CERT_SHA256) == want, "a resumed session lost the certificate hash")
    time.sleep(1.2)
    _, text = p.admin_get(env.admin, "/metrics")
    check(pu.metric(text, "sstp_proxy_tls_resumed_total") == 8, "resumed counter: %r" %
          pu.metric(text, "sstp_proxy_tls_resumed_total"))


def t_ocsp_stapling(env):
    be = env.backend()
    d = env.work
    serial = subprocess.run(["openssl", "x509", "-in", env.cert("server.crt"), "-noout", "-serial"],
                            check=True, capture_output=True, text=True).stdout.strip().split("=")[1]
    with open(os.path.join(d, "index.txt"), "w") as f:
        f.write("V\t301231000000Z\t\t%s\tunknown\t/CN=server\n" % serial)
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, cwd=d)
    run("openssl", "ocsp", "-issuer", env.cert("ca.crt"), "-cert", env.cert("server.crt"),
        "-reqout", "req.der", "-no_nonce")
    run("openssl", "ocsp", "-index", "index.txt", "-rsigner", env.cert("ca.crt"), "-rkey", env.cert("ca.key"),
        "-CA", env.cert("ca.crt"), "-reqin", "req.der", "-respout", "resp.der", "-ndays", "1")
    certs = ["%s %s ocsp=%s" % (env.cert("server.crt"), env.cert("server.key"), os.path.join(d, "resp.der"))]
    env.proxy(env.sections(["be1 %s" % be.addr], tls={"cert": certs}))
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % env.port, "-servername",
                          "localhost", "-status", "-CAfile", env.cert("ca.crt")],
                         input=b"", capture_output=True, timeout=10).stdout.decode()
    check("OCSP Response Status: successful" in out and "Cert Status: good" in out,
          "no stapled OCSP response:\n" + out[:1500])


def t_keylog(env):
    be = env.backend()
    path = os.path.join(env.work, "keys.log")
    env.proxy(env.sections(["be1 %s" % be.addr], tls={"keylog_file": path}))
    env.session().close()
    with open(path) as f:
        text = f.read()
    check("CLIENT_HANDSHAKE_TRAFFIC_SECRET " in text and "SERVER_TRAFFIC_SECRET_0 " in text,
          "key log lacks the TLS 1.3 secrets: %r" % text[:200])


def t_client_cert(env):
    be = env.backend()
    p = env.proxy(env.sections(["be1 %s" % be.addr],
                               tls={"client_ca": env.cert("ca.crt"), "client_verify": "optional"}))
    c = env.session(certfile=env.cert("proxy-client.crt"), keyfile=env.cert("proxy-client.key"))
    pp = be.wait_records(1)[0]["pp"]
    want = pu.cert_der_sha256(env.cert("proxy-client.crt"))
    check(pp["meta"]["flags"] == 1 and pp["meta"].get("client_cert_sha256") == want,
          "meta lacks the client certificate: %r" % pp["meta"])
    check(pp["ssl"]["client"] == 0x07 and pp["ssl"]["verify"] == 0, "SSL TLV %r" % pp["ssl"])
    check(pp["ssl"]["subs"].get(pu.T_SSL_CN) == b"proxy-client", "CN %r" % pp["ssl"]["subs"])
    c.close()
    c = env.session()                                       # optional: none is fine
    pp = be.wait_records(2)[1]["pp"]
    check(pp["meta"]["flags"] == 0 and pp["ssl"]["client"] == 0x01, "no certificate: %r" % pp)
    c.close()
    # required: a client without a certificate does not get through
    p2 = env.proxy(env.sections(["be1 %s" % be.addr],
                                tls={"client_ca": env.cert("ca.crt"), "client_verify": "required"}))
    try:
        c = env.session()
        check(False, "a client without a certificate got a session")
    except (ssl.SSLError, OSError, pu.Failure):
        pass
    p2.wait_log(r"ev=tls_fail")
    check(len(be.records) == 2, "the rejected client reached the backend")
    del p


def t_wildcard_dst(env):
    """A wildcard bind asks the socket where each connection came (a bind to
    one address takes that address without asking): the PROXY v2
    destination is the address the client dialled, on either family."""
    be = env.backend()
    port = pu.free_port()
    env.proxy(env.sections(["be1 %s" % be.addr], listen={"bind": ["*:%d" % port]}))
    for host in ("127.0.0.1", "::1"):
        c = sc.SstpClient(host, port, cafile=env.cert("ca.crt"), sni="localhost")
        check(c.http_handshake()[0] == 200, "no 200 via %s" % host)
        c.close()
    recs = be.wait_records(2)
    check(recs[0]["pp"]["dst"] == ("127.0.0.1", port), "IPv4 dst %r" % (recs[0]["pp"]["dst"],))
    check(recs[1]["pp"]["dst"] == ("::1", port), "IPv6 dst %r" % (recs[1]["pp"]["dst"],))


def t_ipv6(env):
    be = env.backend()
    port = pu.free_port("::1")
    env.proxy(env.sections(["be1 %s" % be.addr], listen={"bind": ["[::1]:%d" % port]}))
    c = sc.SstpClient("::1", port, cafile=env.cert("ca.crt"), sni="localhost")
    check(c.http_handshake()[0] == 200, "no 200 over IPv6")
    pp = be.wait_records(1)[0]["pp"]
    check(pp["family"] == 0x21 and pp["src"][0] == "::1" and pp["dst"] == ("::1", port),
          "IPv6 addresses: %r" % pp)
    c.close()


def t_cli(env):
    binary = pu.proxy_binary()
    r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and r.stdout.startswith("sstp-proxy "), "--version: %r" % r.stdout)
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "[backends]" in r.stdout and ";server =" in r.stdout, "--help")
    good = os.path.join(env.work, "good.conf")
    with open(good, "w") as f:
        f.write(pe.render(env.sections(["be1 127.0.0.1:9"])))
    r = subprocess.run([binary, "-c", good, "--check-config"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "ok" in r.stdout, "check-config of a good file: %r" % (r.stderr,))
    bad = os.path.join(env.work, "bad.conf")
    with open(bad, "w") as f:
        f.write("[proxy]\nworkers = 2\n\n[listen]\nbind = 127.0.0.1:1\nbacklog = 5\n")
    r = subprocess.run([binary, "-c", bad, "--check-config"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "bad.conf:6: listen.backlog" in r.stderr, "bad line: %r" % r.stderr)
    with open(bad, "w") as f:
        f.write(pe.render(env.sections(["be1 127.0.0.1:9"], tls={"cert": ["/nonexistent/x.crt"]})))
    r = subprocess.run([binary, "-c", bad, "--check-config"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "/nonexistent/x.crt" in r.stderr, "missing cert: %r" % r.stderr)
    with open(bad, "w") as f:
        f.write(pe.render(env.sections(["be1 127.0.0.1:9", "be1 127.0.0.1:10"])))
    r = subprocess.run([binary, "-c", bad, "--check-config"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "defined twice" in r.stderr and "bad.conf:" in r.stderr,
          "duplicate server: %r" % r.stderr)


CASES = [
    ("relay_and_tlvs", t_relay_and_tlvs),
    ("backpressure_burst", t_backpressure_burst),
    ("one_record_per_packet", t_one_record_per_packet),
    ("sni_selection", t_sni_selection),
    ("rsa_and_ecdsa", t_rsa_and_ecdsa),
    ("alpn", t_alpn),
    ("head_probe", t_head_probe),
    ("admin", t_admin),
    ("proxy_protocol_in", t_proxy_protocol_in),
    ("tickets", t_tickets),
    ("ocsp_stapling", t_ocsp_stapling),
    ("keylog", t_keylog),
    ("client_cert", t_client_cert),
    ("ipv6", t_ipv6),
    ("wildcard_dst", t_wildcard_dst),
    ("cli", t_cli),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
