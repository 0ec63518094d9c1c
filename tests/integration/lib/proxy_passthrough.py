#!/usr/bin/env python3
"""proxy_passthrough.py — SNI passthrough on loopback: a ClientHello naming a
listen.passthrough server reaches that TLS server untouched (the client sees
the server's own certificate, checked by its hash; with proxy_header=v2 the
server gets the client's real address first), while no SNI or another SNI
is terminated by the proxy and its SSTP path still works on the same port;
a ClientHello cut in pieces still routes; a malformed one is closed and
counted; a target that is down closes the client. Run by
tests/integration/proxy_passthrough.sh.
"""
import hashlib
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
from proxy_util import check             # noqa: E402


class TlsServer:
    """A TLS echo server with its own certificate (the test CA's backend
    certificate, not the proxy's). With pp2, a PROXY v2 header must come
    before the handshake; what it said is kept in self.pp."""

    def __init__(self, env, pp2=False):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(env.cert("backend.crt"), env.cert("backend.key"))
        self.pp2 = pp2
        self.pp = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        raw.settimeout(5)
        try:
            if self.pp2:
                head = self._exact(raw, 16)
                head += self._exact(raw, int.from_bytes(head[14:16], "big"))
                self.pp.append(pu.parse_pp2(head))
            s = self.ctx.wrap_socket(raw, server_side=True)
            while True:
                data = s.recv(4096)
                if not data:
                    break
                s.sendall(b"echo:" + data)
            s.close()
        except (OSError, ssl.SSLError):
            raw.close()

    @staticmethod
    def _exact(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise OSError("short")
            buf += chunk
        return buf

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


def der_sha256_of_file(path):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(path).read())).hexdigest()


def tls_to(env, sni):
    """A verified TLS connection to the proxy's port; returns the socket
    and the SHA-256 of the certificate it was shown."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(env.cert("ca.crt"))
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", env.port), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname=sni)
    return s, hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def echo(s, data=b"ping"):
    s.sendall(data)
    got = s.recv(4096)
    check(got == b"echo:" + data, "echo through the passthrough: %r" % (got,))


def setup(env, **over):
    srv, srv_pp = TlsServer(env), TlsServer(env, pp2=True)
    be = env.backend()
    sec = env.sections([("be1 %s" % be.addr)])
    sec["listen"]["passthrough"] = ["rras.example.test %s" % srv.addr,
                                    "*.pp.example.test %s proxy_header=v2" % srv_pp.addr]
    sec["listen"].update(over)
    p = env.proxy(sec)
    return srv, srv_pp, p


def t_passthrough_and_terminate(env):
    srv, srv_pp, p = setup(env)
    try:
        own = der_sha256_of_file(env.cert("backend.crt"))
        proxy_cert = der_sha256_of_file(env.cert("server.crt"))
        check(own != proxy_cert, "the test needs two different certificates")
        s, h = tls_to(env, "RRAS.example.test")   # names are matched case-insensitively
        check(h == own, "passthrough: shown %s, want the server's own %s" % (h, own))
        echo(s, b"x" * 3000)
        s.close()
        # another name, and no name: terminated here, with the proxy's certificate
        for sni in ("localhost", "other.example.test", None):
            s, h = tls_to(env, sni)
            check(h == proxy_cert, "sni %r: shown %s, want the proxy's %s" % (sni, h, proxy_cert))
            s.close()
        # the SSTP path still works on the same port
        c = env.session()
        c.close()
        # a wildcard entry with a PROXY v2 header in front
        s, h = tls_to(env, "a.pp.example.test")
        check(h == own, "wildcard passthrough: shown %s" % h)
        echo(s)
        local = s.getsockname()
        s.close()
        check(len(srv_pp.pp) == 1, "the pp2 server saw %d headers" % len(srv_pp.pp))
        pp = srv_pp.pp[0]
        check(pp["src"] == local, "PROXY v2 source %r, want the client's %r" % (pp["src"], local))
        check(pu.tlv1(pp, 0x02) == b"a.pp.example.test", "AUTHORITY %r" % (pu.tlv1(pp, 0x02),))
        check(len(srv.pp) == 0, "no header for the plain entry")
        p.wait_log(r"ev=passthrough .*sni=rras\.example\.test .*proxy_header=none")
        # b.a.pp.example.test is two labels in front: not the wildcard's
        s, h = tls_to(env, "b.a.pp.example.test")
        check(h == proxy_cert, "two labels in front of a wildcard: terminated here")
        s.close()
    finally:
        srv.stop()
        srv_pp.stop()


def t_split_hello(env):
    """The ClientHello in three pieces 0.2 s apart: still passed through."""
    srv, srv_pp, p = setup(env)
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(env.cert("ca.crt"))
        ctx.check_hostname = False
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out, server_hostname="rras.example.test")
        raw = socket.create_connection(("127.0.0.1", env.port), timeout=5)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        for piece in (hello[:3], hello[3:60], hello[60:]):
            raw.sendall(piece)
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(out.read())
                data = raw.recv(65536)
                check(data, "closed during the handshake")
                inc.write(data)
        raw.sendall(out.read())
        h = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
        check(h == der_sha256_of_file(env.cert("backend.crt")), "split hello: shown %s" % h)
        raw.close()
    finally:
        srv.stop()
        srv_pp.stop()


def t_bad_hello(env):
    """Not TLS, or a ClientHello whose lengths do not add up: closed at once,
    counted by rc, one line."""
    srv, srv_pp, p = setup(env)
    try:
        bad_hs = bytes([22, 3, 1, 0, 6, 2, 0, 0, 2, 3, 3])  # a ServerHello
        for data, rc in ((b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "E_HELLO_RECORD"),
                         (bad_hs, "E_HELLO_MSG")):
            s = socket.create_connection(("127.0.0.1", env.port), timeout=5)
            s.sendall(data)
            t0 = time.monotonic()
            try:
                got = s.recv(100)
            except ConnectionResetError:  # closed with our bytes unread
                got = b""
            check(got == b"", "%s: the proxy answered instead of closing" % rc)
            check(time.monotonic() - t0 < 2, "%s: closed late" % rc)
            s.close()
            p.wait_log(r"ev=hello_reject .*rc=%s" % rc)
        _, text = p.admin_get(env.admin, "/metrics")
        for rc in ("E_HELLO_RECORD", "E_HELLO_MSG"):
            v = pu.metric(text, "sstp_proxy_rejects_total", {"rc": rc})
            check(v == 1, "rejects_total{rc=%s} = %r, want 1" % (rc, v))
    finally:
        srv.stop()
        srv_pp.stop()


def t_target_down(env):
    """A passthrough target that refuses: the client is closed, logged."""
    dead = pu.free_port()
    be = env.backend()
    sec = env.sections(["be1 %s" % be.addr])
    sec["listen"]["passthrough"] = ["rras.example.test 127.0.0.1:%d" % dead]
    p = env.proxy(sec)
    raw = socket.create_connection(("127.0.0.1", env.port), timeout=5)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.wrap_socket(raw, server_hostname="rras.example.test")
        check(False, "a handshake with nobody")
    except (OSError, ssl.SSLError):
        pass
    p.wait_log(r"ev=pass_fail .*sni=rras\.example\.test")
    p.wait_log(r"ev=close .*term=SD")


def t_config_errors(env):
    binary = pu.proxy_binary()
    import subprocess
    for line, why in (("bad/name 127.0.0.1:1", "not a host name"),
                      ("a.example 127.0.0.1:1 proxy_header=v1", "unknown passthrough option"),
                      ("a.example *:443", "is not ip:port"),
                      ("a.example", "is not ip:port")):
        sec = env.sections(["be1 127.0.0.1:9"])
        sec["listen"]["passthrough"] = [line]
        path = os.path.join(env.work, "bad.conf")
        with open(path, "w") as f:
            f.write(pe.render(sec))
        r = subprocess.run([binary, "-c", path, "--check-config"], capture_output=True, text=True,
                           timeout=10)
        check(r.returncode == 1 and why in r.stderr and "listen.passthrough" in r.stderr,
              "%r: %r" % (line, r.stderr))
    sec = env.sections(["be1 127.0.0.1:9"])
    sec["listen"]["passthrough"] = ["a.example 127.0.0.1:1", "A.example 127.0.0.1:2"]
    with open(path, "w") as f:
        f.write(pe.render(sec))
    r = subprocess.run([binary, "-c", path, "--check-config"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "given twice" in r.stderr, "duplicate name: %r" % r.stderr)


CASES = [
    ("passthrough_and_terminate", t_passthrough_and_terminate),
    ("split_hello", t_split_hello),
    ("bad_hello", t_bad_hello),
    ("target_down", t_target_down),
    ("config_errors", t_config_errors),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
