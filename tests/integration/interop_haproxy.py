#!/usr/bin/env python3
"""interop_haproxy.py — sstp-backend behind Debian's HAProxy (issue 13), on
loopback, with the fake pppd and the Python SSTP client (which computes a
real crypto binding over the certificate it was shown: HAProxy's).

Deployments, each with the HAProxy certificate's hash trusted (session
binds) and not trusted (E_BIND_CERT_HASH):
  terminate      HAProxy terminates TLS, send-proxy-v2 to the proxy listener
  reencrypt      HAProxy `ssl` to the tls listener (no PROXY header)
  reencrypt_pp   HAProxy `ssl crt ... send-proxy-v2` to the mtls listener
                 with listen.mtls_proxy_header = before
  reencrypt_none HAProxy `ssl crt ...` to the mtls listener with
                 listen.mtls_proxy_header = none
Without HAProxy: the mtls listener's placements refuse what they do not
expect; a direct client over per_source_rate reads a 503 with Retry-After
(and the refusal is counted); the log shows the client's SNI (AUTHORITY),
never the hop's.

Run: tests/integration/interop_haproxy.sh [-k SUBSTRING] [-v]"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "lib"))

import backend_test as BT                # noqa: E402
import harness as H                      # noqa: E402
import sstpclient as C                   # noqa: E402
from harness import check                # noqa: E402

HAPROXIES = []


class Haproxy:
    """One HAProxy in TCP mode: a frontend on a free loopback port, TLS
    terminated with `front_pem` when given, one server line."""

    def __init__(self, ctx, server_line, front_pem=None):
        self.port = H.free_port()
        wdir = os.path.join(ctx.work, "haproxy%d" % len(HAPROXIES))
        os.makedirs(wdir)
        self.cfg = os.path.join(wdir, "haproxy.cfg")
        self.log = os.path.join(wdir, "haproxy.log")
        bind = "bind 127.0.0.1:%d" % self.port
        if front_pem:
            bind += " ssl crt %s" % front_pem
        with open(self.cfg, "w") as f:
            f.write("global\n    maxconn 100\n\n"
                    "defaults\n    mode tcp\n    timeout connect 3s\n"
                    "    timeout client 30s\n    timeout server 30s\n\n"
                    "listen sstp\n    %s\n    server be %s\n" % (bind, server_line))
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf)
        logf.close()
        HAPROXIES.append(self)
        up = H.wait_until(lambda: self.listening() or self.proc.poll() is not None, 10)
        check(up and self.proc.poll() is None, "haproxy did not start: %s" % self.text())

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")[-2000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def pem(ctx, name):
    """cert + key in one file, as HAProxy's crt wants it."""
    out = os.path.join(ctx.work, name + ".pem")
    with open(out, "w") as f:
        for ext in (".crt", ".key"):
            with open(ctx.cert(name + ext)) as g:
                f.write(g.read())
    return out


def offload_hash(ctx):
    return C.cert_hash(H.der_of(ctx.cert("offload.crt")), 2).hex()


def other_hash(ctx):
    return C.cert_hash(H.der_of(ctx.cert("server-rsa.crt")), 2).hex()


def session_through(ctx, b, hp, trusted, want_client=None):
    """One call through HAProxy: binds when trusted, else E_BIND_CERT_HASH."""
    hlak = ctx.mschap()
    cid = BT.corr()
    c = C.SstpClient("127.0.0.1", hp.port, tls=True, cafile=ctx.cert("ca.crt"), sni="offload")
    check(c.cert_der == H.der_of(ctx.cert("offload.crt")), "the client did not see HAProxy's certificate")
    status, _ = c.http_handshake(corr_id=cid)
    check(status == 200, "HTTP status %r through haproxy, want 200" % status)
    p = c.sstp_connect()
    check(getattr(p, "msg_type", None) == C.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
    r = ctx.pd.find(cid)
    check(r is not None, "no fake pppd started for the call")
    if want_client:
        got = r.start["env"]["SSTP_CLIENT_ADDR"]
        check(got == want_client, "client address %r, want %r" % (got, want_client))
    BT.auth_gated(r)
    c.call_connected(hlak)
    sid = BT.sid_of(r)
    if trusted:
        check(b.wait_log("binding_ok", 5, sid=sid), "no binding_ok with HAProxy's hash trusted")
        c.send(C.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    else:
        BT.expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED,
                         "untrusted offloader")
        check(b.wait_log("binding_fail", 3, sid=sid, rc="E_BIND_CERT_HASH"), "no binding_fail E_BIND_CERT_HASH")
        c.send(C.call_abort())
        BT.pppd_terminated(r)
    c.close()


def both_ways(ctx, listener, server_opts, front_tls, backend_extra=None, want_client=None):
    for trusted in (True, False):
        sstp = {"trusted_cert_hash": offload_hash(ctx) if trusted else other_hash(ctx)}
        extra = dict(backend_extra or {})
        b = ctx.backend(listeners=(listener,), sstp=sstp, **extra)
        hp = Haproxy(ctx, "127.0.0.1:%d %s" % (b.ports[listener], server_opts),
                     front_pem=pem(ctx, "offload") if front_tls else None)
        session_through(ctx, b, hp, trusted, want_client)


TESTS = []


def scenario(fn):
    TESTS.append(fn)
    return fn


@scenario
def i01_terminate_proxy_v2(ctx):
    # HAProxy shows its certificate and terminates; the backend reads
    # PROXY v2 on its plain listener and trusts the configured hash
    both_ways(ctx, "proxy", "send-proxy-v2", front_tls=True, want_client="127.0.0.1")


@scenario
def i02_reencrypt_tls_listener(ctx):
    both_ways(ctx, "tls", "ssl verify required ca-file %s sni str(localhost)" % ctx.cert("ca.crt"),
              front_tls=True)


@scenario
def i03_reencrypt_proxy_before_tls(ctx):
    opts = "ssl verify required ca-file %s crt %s send-proxy-v2" % (ctx.cert("ca.crt"), pem(ctx, "proxy-client"))
    both_ways(ctx, "mtls", opts, front_tls=True, backend_extra={"listen": {"mtls_proxy_header": "before"}},
              want_client="127.0.0.1")


@scenario
def i04_reencrypt_mtls_no_header(ctx):
    opts = "ssl verify required ca-file %s crt %s" % (ctx.cert("ca.crt"), pem(ctx, "proxy-client"))
    both_ways(ctx, "mtls", opts, front_tls=True, backend_extra={"listen": {"mtls_proxy_header": "none"}})


@scenario
def i05_mtls_placements_refuse_the_other(ctx):
    # before: TLS first (no PROXY v2 signature) is refused with its rc, counted
    b = ctx.backend(listeners=("mtls",), listen={"mtls_proxy_header": "before"})
    s = BT.raw_tcp(b, "mtls")
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 32)
    check(BT.closed_without_data(s, 3), "a ClientHello where PROXY v2 belongs was not closed")
    s.close()
    check(b.wait_log("proxy_reject", 3, rc="E_PP_SIGNATURE", placement="before"), "no proxy_reject")
    # v1 is refused too: its length is unknown before the CRLF, and reading
    # past it would eat the ClientHello
    s = BT.raw_tcp(b, "mtls")
    s.sendall(C.proxy_v1("192.0.2.9", "192.0.2.1", 4000, 443))
    check(BT.closed_without_data(s, 3), "PROXY v1 before TLS was not closed")
    s.close()
    b.stats()
    check(b.wait_log("stats_err", 3, rc="E_PP_SIGNATURE", count=2), "refusals not counted by rc")
    # the header dribbled byte by byte, the ClientHello right behind it:
    # the backend reads no byte of TLS as header
    hdr = C.proxy_v2("192.0.2.77", "192.0.2.1", 4077, 443)
    raw = BT.raw_tcp(b, "mtls")
    for i in range(len(hdr)):
        raw.sendall(hdr[i:i + 1])
        time.sleep(0.005)
    tctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tctx.load_verify_locations(ctx.cert("ca.crt"))
    tctx.load_cert_chain(ctx.cert("proxy-client.crt"), ctx.cert("proxy-client.key"))
    c = C.SstpClient.__new__(C.SstpClient)
    c.rbuf, c.sock = b"", tctx.wrap_socket(raw, server_hostname="localhost")
    status, _ = c.http_handshake(corr_id=BT.corr())
    check(status == 200, "dribbled header: HTTP %r" % status)
    check(b.wait_log("start", 3, client="192.0.2.77:4077"), "the dribbled header's client address not used")
    c.close()
    # inside (the default): a PROXY header before TLS fails the TLS handshake
    b2 = ctx.backend(listeners=("mtls",))
    s = BT.raw_tcp(b2, "mtls")
    s.sendall(C.proxy_v2("192.0.2.9", "192.0.2.1", 4000, 443))
    s.settimeout(3)
    try:
        s.recv(4096)  # a TLS alert, or nothing, then the close
    except OSError:
        pass
    s.close()
    check(b2.wait_log("tls_fail", 3), "a header before TLS on an inside listener was not a tls_fail")


@scenario
def i06_rate_limited_client_reads_503(ctx):
    b = ctx.backend(listeners=("tls",), limits={"per_source_rate": "1", "per_source_burst": "1"})
    c = ctx.client(b, "tls")
    status, _ = c.http_handshake(corr_id=BT.corr())
    check(status == 200, "first call: %r, want 200" % status)
    c2 = ctx.client(b, "tls")
    status, hdrs = c2.http_handshake(corr_id=BT.corr())
    check(status == 503, "over the rate: HTTP %r, want 503" % status)
    check(hdrs.get("retry-after", "").isdigit(), "503 without Retry-After: %r" % hdrs)
    check(c2.read_closed(3), "the refused connection stays open")
    check(b.wait_log("refuse", 3, reason="per_source_rate", status="503"), "no refuse line")
    check(b.stats().get("refused_rate") == 1, "the refusal is not counted once in refused_rate")
    c.close()
    c2.close()
    # a flood: at most 64 over-rate connections are held for their answer
    # (a TLS handshake each); the rest are closed at accept, as before
    socks = [BT.raw_tcp(b, "tls") for _ in range(80)]
    time.sleep(0.5)  # well within handshake_timeout (5 s)

    def closed_now(s):
        s.setblocking(False)
        try:
            return s.recv(1) == b""
        except BlockingIOError:
            return False
        except ConnectionError:
            return True
    closed = sum(1 for s in socks if closed_now(s))
    for s in socks:
        s.close()
    check(closed == 80 - 64, "%d of 80 flood connections closed at accept, want 16" % closed)
    check(H.wait_until(lambda: b.stats().get("refused_rate") == 81, 3), "flood refusals not counted")


@scenario
def i07_client_sni_not_the_hop(ctx):
    b = ctx.backend(listeners=("mtls",))
    kw = {"sni": "localhost", "certfile": ctx.cert("proxy-client.crt"), "keyfile": ctx.cert("proxy-client.key")}
    # the proxy saw no SNI from its client: the log says so, not the hop's
    c = ctx.client(b, "mtls", inner=C.proxy_v2("192.0.2.50", "192.0.2.1", 4000, 443), **kw)
    c.http_handshake(corr_id=BT.corr())
    check(b.wait_log("start", 3, client="192.0.2.50:4000", sni="-"), "hop SNI logged for a client without one")
    c.close()
    # with the client's SNI in the AUTHORITY TLV, that one is logged
    c = ctx.client(b, "mtls", inner=C.proxy_v2("192.0.2.51", "192.0.2.1", 4000, 443,
                                                tlvs=[C.tlv(0x02, b"vpn.example.test")]), **kw)
    c.http_handshake(corr_id=BT.corr())
    check(b.wait_log("start", 3, client="192.0.2.51:4000", sni="vpn.example.test"), "client SNI not logged")
    c.close()


def main():
    sel = None
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "-k" and args:
            sel = args.pop(0)
        elif a == "-v":
            BT.VERBOSE = True
    if not shutil.which("haproxy"):
        print("interop_haproxy: haproxy is missing (scripts/deps.sh TEST list)")
        sys.exit(1)
    root = tempfile.mkdtemp(prefix="sstp-interop-")
    certs = H.make_certs(os.path.join(root, "certs"))
    failed = []
    t_all = time.monotonic()

    def on_term(signum, frame):
        raise SystemExit("interrupted by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        for fn in TESTS:
            if sel and sel not in fn.__name__:
                continue
            ctx = BT.Ctx(root, certs, fn.__name__)
            t0 = time.monotonic()
            err = None
            signal.signal(signal.SIGALRM, lambda s, f: (_ for _ in ()).throw(H.TestFailure("watchdog (60s)")))
            signal.alarm(60)
            try:
                fn(ctx)
            except Exception as e:  # noqa: BLE001
                err = "%s: %s" % (type(e).__name__, e)
            finally:
                signal.alarm(0)
                for hp in HAPROXIES:
                    hp.stop()
                    if err and BT.VERBOSE:
                        print("---- haproxy log ----\n" + hp.text())
                HAPROXIES.clear()
            errors = ctx.teardown(err is not None)
            if err:
                errors.insert(0, err)
            dt = time.monotonic() - t0
            if errors:
                failed.append(fn.__name__)
                print("FAIL %s (%.1fs)" % (fn.__name__, dt), flush=True)
                for e in errors:
                    print("    " + e.replace("\n", "\n    "), flush=True)
            else:
                print("PASS %s (%.1fs)" % (fn.__name__, dt), flush=True)
    finally:
        for hp in HAPROXIES:
            hp.stop()
        H.kill_all_started()
    print("interop_haproxy: %d failed; %.1fs" % (len(failed), time.monotonic() - t_all))
    if failed:
        print("failed: " + " ".join(failed) + "\nlogs kept in " + root)
        sys.exit(1)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
