"""proxy_interop.py — sstp-proxy in front of SSTP servers that are not
sstp-backend (issue 13), on loopback. The stand-in server below behaves as
the third parties do where it matters here: accel-ppp answers the HEAD
probe with 501 and, with accept=ssl,proxy, wants the PROXY v2 header before
the TLS handshake; SoftEther and RRAS read no PROXY header at all.

Cases: the http probe keeps a 501 server up (the sstp probe takes it down,
the control); sessions relay through proxy_header=before (the stand-in
checks the header arrives in the clear, before the ClientHello) and
proxy_header=none (plain SSTP first); ?tenantid= without tenant groups
reaches a backend, and gets 503 with tenant_strict; a TLS hop failure names
OpenSSL's reason."""
import os
import socket
import ssl
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import proxy_env as pe          # noqa: E402
import proxy_util as pu         # noqa: E402
import sstpclient as sc         # noqa: E402

check = pu.check


class ThirdParty:
    """A TLS SSTP server. pp: "before" = PROXY v2 in the clear, then TLS
    (accel-ppp accept=ssl,proxy); "none" = TLS, then the request head, and
    a PROXY signature there is an error (SoftEther, RRAS). HEAD gets
    `head_status`; SSTP_DUPLEX_POST gets 200, then CONNECT_ACK and echoes."""

    def __init__(self, env, pp, head_status=501):
        self.pp = pp
        self.head_status = head_status
        self.records = []
        self.lock = threading.Lock()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(env.cert("backend.crt"), env.cert("backend.key"))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        env.backends.append(self)

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _exact(s, n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            if not chunk:
                raise EOFError()
            b += chunk
        return b

    def _serve(self, c):
        rec = {"pp": None, "method": None, "error": None}
        try:
            c.settimeout(10)
            if self.pp == "before":
                # exactly the header's bytes: the ClientHello must follow it
                hdr = self._exact(c, 16)
                check(hdr[:12] == pu.PP2_SIG, "no PROXY v2 header before TLS")
                body = self._exact(c, struct.unpack(">H", hdr[14:16])[0])
                rec["pp"] = pu.parse_pp2(hdr + body)
                first = self._exact(c, 1)
                check(first == b"\x16", "no TLS handshake record after the header")
                rec["tls_after_pp"] = True
                # give the byte back: wrap a socket pair would be overkill,
                # so hand OpenSSL the record through a memory BIO
                s = self._tls_with_prefix(c, first)
            else:
                s = self.ctx.wrap_socket(c, server_side=True)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise EOFError()
                buf += chunk
            check(not buf.startswith(pu.PP2_SIG) and not buf.startswith(b"PROXY "),
                  "a PROXY header where this server wants the request head")
            head, buf = buf.split(b"\r\n\r\n", 1)
            rec["method"] = head.split(b" ", 1)[0].decode()
            with self.lock:
                self.records.append(rec)
            if rec["method"] == "HEAD":
                s.sendall(b"HTTP/1.1 %d Not Implemented\r\nContent-Length: 0\r\n\r\n" % self.head_status)
                s.close()
                return
            s.sendall(pu.SSTP_OK_RESPONSE)
            while True:
                while len(buf) >= 4:
                    n = struct.unpack(">H", buf[2:4])[0] & 0x0FFF
                    if len(buf) < n:
                        break
                    pkt, buf = buf[:n], buf[n:]
                    if pkt[1] & 1 and struct.unpack(">H", pkt[4:6])[0] == 1:
                        s.sendall(pu.connect_ack())
                    else:
                        s.sendall(pkt)
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except (EOFError, OSError, ssl.SSLError, pu.Failure) as e:
            rec["error"] = repr(e)
            with self.lock:
                if rec not in self.records:
                    self.records.append(rec)
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _tls_with_prefix(self, c, prefix):
        """TLS over c whose first byte was already read."""
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        inc.write(prefix)
        obj = self.ctx.wrap_bio(inc, out, server_side=True)
        return _BioSocket(c, obj, inc, out)

    def sessions(self):
        with self.lock:
            return [r for r in self.records if r["method"] == "SSTP_DUPLEX_POST"]

    def probes(self):
        with self.lock:
            return [r for r in self.records if r["method"] == "HEAD"]

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.sock.close()


class _BioSocket:
    """The few socket calls _serve makes, over an SSLObject and two BIOs."""

    def __init__(self, sock, obj, inc, out):
        self.sock, self.obj, self.inc, self.out = sock, obj, inc, out
        self._do(self.obj.do_handshake)

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _do(self, fn, *a):
        while True:
            try:
                r = fn(*a)
                self._flush()
                return r
            except ssl.SSLWantReadError:
                self._flush()
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError()
                self.inc.write(chunk)

    def recv(self, n):
        try:
            return self._do(self.obj.read, n)
        except (EOFError, ssl.SSLZeroReturnError):
            return b""

    def sendall(self, b):
        self._do(self.obj.write, b)

    def close(self):
        self.sock.close()


def proxy_for(env, server, **over):
    s = env.sections([server], backends={"ca": env.cert("ca.crt")}, **over)
    return env.proxy(s)


def relay_one(env, tenant=None):
    c = env.client()
    uri = sc.SSTP_URI + ("?tenantid=%s" % tenant if tenant else "")
    c.http_request(uri=uri)
    status, _ = c.read_http_response()
    if status != 200:
        c.close()
        return status
    p = c.sstp_connect()
    check(getattr(p, "msg_type", None) == sc.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
    pe.echo_burst(c, n=20, size=300)
    c.close()
    return status


def t_http_probe_keeps_501_server_up(env):
    srv = ThirdParty(env, "before")
    health = {"probe": "sstp", "interval": "100ms", "timeout": "1s", "fall": "2", "rise": "1"}
    # control: sstp-backend's probe takes a server answering 501 down
    p = proxy_for(env, "accel %s tls probe=sstp proxy_header=before" % srv.addr, health=health)
    p.wait_log(r"ev=health_down worker=\d+ backend=accel reason=answer:HTTP/1.1.501", timeout=5)
    p.stop()
    n0 = len(srv.probes())
    p = proxy_for(env, "accel %s tls probe=http proxy_header=before" % srv.addr, health=health)
    deadline = time.monotonic() + 5
    while len(srv.probes()) < n0 + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(len(srv.probes()) >= n0 + 5, "the http probe did not reach the server")
    check("ev=health_down" not in p.text(), "a 501 answer to the http probe took the server down")
    for r in srv.probes():
        check(r["error"] is None and r["pp"] is not None and r["pp"]["command"] == 0,
              "a probe without its LOCAL header before TLS: %r" % (r,))
    # the checks are counted as good ones (metrics are published each second)
    deadline, good = time.monotonic() + 5, 0
    while not good and time.monotonic() < deadline:
        good = pu.metric(p.admin_get(env.admin, "/metrics")[1], "sstp_proxy_health_checks_total",
                         {"result": "ok"}) or 0
        time.sleep(0.2)
    check(good >= 1, "no good health check counted")
    check(relay_one(env) == 200, "no session through the http-probed server")


def t_proxy_header_before_tls(env):
    srv = ThirdParty(env, "before")
    proxy_for(env, "accel %s tls proxy_header=before" % srv.addr)
    check(relay_one(env) == 200, "session refused")
    rec = srv.sessions()
    check(len(rec) == 1 and rec[0]["error"] is None, "stand-in saw %r" % (rec,))
    pp = rec[0]["pp"]
    check(pp and pp.get("src") and pp["src"][0] == "127.0.0.1", "no client address in the header: %r" % (pp,))


def t_proxy_header_none(env):
    srv = ThirdParty(env, "none")
    proxy_for(env, "softether %s tls proxy_header=none probe=http" % srv.addr,
              health={"probe": "sstp", "interval": "100ms", "fall": "1"})
    check(relay_one(env) == 200, "session refused")
    rec = srv.sessions()
    check(len(rec) == 1 and rec[0]["error"] is None and rec[0]["pp"] is None, "stand-in saw %r" % (rec,))
    check(all(r["error"] is None for r in srv.probes()), "a probe carried a header: %r" % srv.probes())


class ResetMidTls:
    """Answers a ClientHello with the start of a TLS record, then resets:
    OpenSSL's error queue stays empty, only the socket knows why."""

    def __init__(self, env):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        env.backends.append(self)

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            try:
                c.settimeout(5)
                c.recv(4096)
                c.sendall(b"\x16\x03\x03\x00\x40" + b"\x02" * 8)
                time.sleep(0.05)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            c.close()

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.sock.close()


def t_tls_hop_failure_names_the_reason(env):
    # the default placement to a server that wants the header first: it
    # closes unanswered, a refusal (not held against it)
    srv = ThirdParty(env, "before")
    p = proxy_for(env, "accel %s tls" % srv.addr)
    c = env.client()
    c.http_request()
    status, _ = c.read_http_response()
    check(status == 503, "HTTP %r, want 503" % status)
    p.wait_log(r"ev=backend_fail .*backend=accel .*cause=refused reason=closed_before_answer")
    # a hop reset in the middle of TLS: the socket's reason, not tls:-
    rst = ResetMidTls(env)
    p = proxy_for(env, "midreset %s tls" % rst.addr)
    c = env.client()
    c.http_request()
    status, _ = c.read_http_response()
    check(status == 503, "HTTP %r, want 503" % status)
    t = p.wait_log(r"ev=backend_fail .*backend=midreset ")
    fails = [ln for ln in t.splitlines() if "ev=backend_fail " in ln]
    check(all("reason=tls:-" not in ln for ln in fails), "TLS failure without a reason: %r" % fails)
    check(any("reason=tls:" in ln and "reason=tls:-" not in ln for ln in fails), "no tls reason: %r" % fails)


def t_tenantid_without_groups(env):
    be = env.backend()
    s = env.sections(["be1 %s" % be.addr])
    env.proxy(s)
    check(relay_one(env, tenant="acme") == 200, "?tenantid= without groups did not reach a backend")
    rec = be.wait_records(1)
    check(b"tenantid=acme" in rec[0]["head"], "the tenantid was not passed on")
    s = env.sections(["be1 %s" % be.addr], backends={"tenant_strict": "yes"})
    env.proxy(s)
    check(relay_one(env, tenant="acme") == 503, "tenant_strict did not refuse the tenantid")


CASES = [
    ("http_probe_keeps_501_server_up", t_http_probe_keeps_501_server_up),
    ("proxy_header_before_tls", t_proxy_header_before_tls),
    ("proxy_header_none", t_proxy_header_none),
    ("tls_hop_failure_names_the_reason", t_tls_hop_failure_names_the_reason),
    ("tenantid_without_groups", t_tenantid_without_groups),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
