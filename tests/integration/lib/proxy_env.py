"""proxy_env.py — one sstp-proxy integration scenario's surroundings: a work
dir with throwaway certificates (scripts/mkcerts.sh), config text built from
a dict of sections, and the proxies and test backends it started (all
stopped at the end, sanitizer reports turned into failures).
"""
import os
import select
import shutil
import ssl
import struct
import subprocess
import tempfile
import time

import proxy_util as pu
import sstpclient as sc

URI = sc.SSTP_URI


def render(sections):
    """INI text; a list value becomes one line per item."""
    out = []
    for sec, kv in sections.items():
        out.append("[%s]" % sec)
        for k, v in kv.items():
            for item in (v if isinstance(v, list) else [v]):
                out.append("%s = %s" % (k, item))
        out.append("")
    return "\n".join(out)


class Env:
    def __init__(self, name, certs_dir):
        self.name = name
        self.certs = certs_dir
        self.work = tempfile.mkdtemp(prefix="px-%s-" % name, dir=os.environ.get("PX_WORK"))
        self.proxies = []
        self.backends = []

    def cert(self, name):
        return os.path.join(self.certs, name)

    def backend(self, mode="sstp", tls=False, **kw):
        b = pu.TestBackend(mode, tls=(self.cert("backend.crt"), self.cert("backend.key"),
                                      self.cert("ca.crt")) if tls else None, **kw)
        self.backends.append(b)
        return b

    def sections(self, servers, workers=1, port=None, admin=None, **over):
        """Defaults: one bind on 127.0.0.1, the ECDSA test certificate, short
        timers, debug logs. `over` replaces or adds whole sections."""
        self.port = port or pu.free_port()
        self.admin = admin or pu.free_port()
        s = {
            "proxy": {"id": "px-" + self.name, "workers": str(workers), "log_level": "debug"},
            "listen": {"bind": ["127.0.0.1:%d" % self.port], "handshake_timeout": "3s",
                       "request_timeout": "3s"},
            "tls": {"cert": ["%s %s" % (self.cert("server.crt"), self.cert("server.key"))]},
            "backends": {"server": servers, "policy": "wrr", "connect_timeout": "1s",
                         "down_time": "5s"},
            "session": {"idle_timeout": "30s", "fin_timeout": "3s", "drain_timeout": "3s"},
            "admin": {"address": "127.0.0.1:%d" % self.admin},
            # these suites count every connection their test backends see and
            # time passive marking exactly: no active checks unless asked for
            "health": {"probe": "none"},
        }
        for sec, kv in over.items():
            if kv is None:
                s.pop(sec, None)
            else:
                s.setdefault(sec, {}).update(kv)
        return s

    def proxy(self, sections, workers=1, wait_ready=True):
        p = pu.Proxy(self.work, render(sections), workers=workers,
                     name="proxy%d" % len(self.proxies), wait_ready=wait_ready)
        self.proxies.append(p)
        return p

    def client(self, port=None, sni="localhost", **kw):
        kw.setdefault("cafile", self.cert("ca.crt"))
        return sc.SstpClient("127.0.0.1", port or self.port, sni=sni, **kw)

    def session(self, port=None, corr_id=None, **kw):
        """A client through the HTTP 200 and CONNECT_ACK."""
        c = self.client(port, **kw)
        status, hdrs = c.http_handshake(corr_id=corr_id)
        pu.check(status == 200, "HTTP status %r, want 200" % (status,))
        p = c.sstp_connect()
        pu.check(getattr(p, "msg_type", None) == sc.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
        return c

    def close(self, failed):
        errors = []
        for p in self.proxies:
            try:
                p.stop()
            except pu.Failure as e:
                errors.append(str(e))
            if failed or errors:
                print("---- %s ----\n%s" % (p.log_path, p.text()[-5000:]))
        for b in self.backends:
            b.stop()
        if not (failed or errors) and not os.environ.get("PX_KEEP"):
            shutil.rmtree(self.work, ignore_errors=True)
        return errors


def echo_burst(c, n=400, size=4000, chunk=16384, timeout=20):
    """n data packets of `size` bytes each way through session c, every one
    echoed intact and in order. One thread drives the socket (an SSL object
    is not thread-safe): send while the socket takes it, read while it has
    data, so both directions fill up and the proxy's back-pressure engages."""
    frames = [b"\xff\x03" + struct.pack(">I", i) + os.urandom(size - 6) for i in range(n)]
    out = b"".join(sc.data(f) for f in frames)
    s = c.sock
    s.setblocking(False)
    sent, got, rbuf = 0, 0, bytearray()
    deadline = time.monotonic() + timeout
    while got < n:
        pu.check(time.monotonic() < deadline, "stalled at frame %d (sent %d of %d bytes)" % (got, sent, len(out)))
        r, w, _ = select.select([s], [s] if sent < len(out) else [], [], 0.5)
        if r or s.pending():
            try:
                data = s.recv(65536)
                pu.check(data, "closed after %d frames" % got)
                rbuf += data
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            while len(rbuf) >= 4:
                ln = struct.unpack(">H", rbuf[2:4])[0] & 0x0FFF
                if len(rbuf) < ln:
                    break
                pu.check(bytes(rbuf[4:ln]) == frames[got], "frame %d lost or reordered" % got)
                del rbuf[:ln]
                got += 1
        if w:
            try:
                sent += s.send(out[sent:sent + chunk])
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
    s.setblocking(True)


def make_certs(d):
    subprocess.run([os.path.join(pu.ROOT, "scripts", "mkcerts.sh"), d, "other", "server2"],
                   check=True, stdout=subprocess.DEVNULL)
    return d


def run_cases(cases, certs_dir):
    """cases: [(name, fn(env))]. Each gets a fresh Env; returns exit code."""
    r = pu.Runner()
    for name, fn in cases:
        env = Env(name, certs_dir)

        def body(fn=fn, env=env):
            failed = True
            try:
                fn(env)
                failed = False
            finally:
                errs = env.close(failed)
                if errs and not failed:
                    raise pu.Failure("; ".join(errs))
        r.case(name, body)
    return r.finish()


def main(cases, only):
    """Runs the cases named in `only` (all if empty) with fresh throwaway
    certificates; returns the exit code."""
    certs = tempfile.mkdtemp(prefix="px-certs-", dir=os.environ.get("PX_WORK"))
    try:
        make_certs(certs)
        return run_cases([c for c in cases if not only or c[0] in only], certs)
    finally:
        shutil.rmtree(certs, ignore_errors=True)
