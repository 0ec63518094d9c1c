#!/usr/bin/env python3
"""proxy_web.py — one port, many services after TLS termination
(backends.web): curl fetches pages from a web backend through the proxy's
port (two on one keep-alive connection) while an SSTP session on the same
port relays data to its backend; both backends see the real client address
(PROXY v2, or X-Forwarded-For/Forwarded rebuilt by the proxy, a
client's own never passed on); the SSTP HEAD probe is still answered by the proxy; a broken
SSTP request and a malformed head are still refused, and without
backends.web a GET is refused as before. Run by tests/integration/proxy_web.sh.
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxy_env as pe                   # noqa: E402
import proxy_real                        # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402


class WebServer:
    """Plain HTTP/1.1 with keep-alive behind a PROXY v2 header (pp2=False:
    none): answers every GET with a page naming its path; keeps
    (connection, client address from the header, path) of every request
    and its head in heads. A request with Connection: close is the
    connection's last, as for any HTTP/1.1 server."""

    def __init__(self, pp2=True):
        self.pp2 = pp2
        self.heads = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.requests = []
        self.n_conns = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.n_conns += 1
            threading.Thread(target=self._serve, args=(c, self.n_conns), daemon=True).start()

    def _serve(self, c, conn_no):
        c.settimeout(5)
        buf = b""
        try:
            pp = {"src": None}
            while self.pp2 and len(buf) < 16:
                buf += c.recv(4096)
            if self.pp2:
                n = 16 + int.from_bytes(buf[14:16], "big")
                while len(buf) < n:
                    buf += c.recv(4096)
                pp, buf = pu.parse_pp2(buf[:n]), buf[n:]
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1].decode()
                self.requests.append((conn_no, pp["src"], path))
                self.heads.append(head.decode("latin-1"))
                close = b"\r\nconnection: close" in head.lower()
                body = ("page %s\n" % path).encode()
                if path == "/big":
                    body = bytes(range(256)) * 8192  # 2 MiB: streamed with back-pressure
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n"
                          % (len(body), b"Connection: close\r\n" if close else b"") + body)
                if close:
                    return
        except (OSError, ValueError):
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


def curl(env, *args):
    cmd = ["curl", "-sS", "--max-time", "10", "--cacert", env.cert("ca.crt"),
           "--resolve", "localhost:%d:127.0.0.1" % env.port] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20)


def t_web_beside_sstp(env):
    web = WebServer()
    try:
        be = env.backend()
        sec = env.sections(["be1 %s" % be.addr])
        sec["backends"]["web"] = "%s proxy_header=v2" % web.addr
        p = env.proxy(sec)
        # an SSTP session on the port, open while the website is used
        c = env.session()
        url = "https://localhost:%d" % env.port
        r = curl(env, "--local-port", "47000-47100", url + "/index.html", url + "/about.html?x=1")
        check(r.returncode == 0, "curl failed: %s" % r.stderr)
        check(r.stdout == "page /index.html\npage /about.html?x=1\n", "pages: %r" % r.stdout)
        check([q[2] for q in web.requests] == ["/index.html", "/about.html?x=1"],
              "web requests %r" % web.requests)
        check(web.n_conns == 1, "keep-alive: %d connections to the web backend" % web.n_conns)
        big = os.path.join(env.work, "big")
        r = curl(env, "-o", big, url + "/big")
        check(r.returncode == 0 and open(big, "rb").read() == bytes(range(256)) * 8192,
              "2 MiB page: %r" % r.stderr)
        del web.requests[2:]
        ip, port = web.requests[0][1]
        check(ip == "127.0.0.1" and 47000 <= port <= 47100,
              "the web backend saw %s:%d, want curl's own address (local port 47000-47100)" % (ip, port))
        p.wait_log(r"ev=web sid=\S+ client=127\.0\.0\.1:%d sni=localhost target=%s proxy_header=v2"
                   % (port, web.addr.replace(".", r"\.")))
        # the SSTP session still relays, and its backend saw its client too
        pe.echo_burst(c, n=20, size=500)
        check(be.records[-1]["pp"]["src"] == c.sock.getsockname(),
              "SSTP backend saw %r, want %r" % (be.records[-1]["pp"]["src"], c.sock.getsockname()))
        c.close()
        # the SSTP HEAD probe is still answered by the proxy itself
        n_before = len(web.requests)
        r = curl(env, "-g", "-I", url + sc.SSTP_URI)  # -g: the braces as they are
        check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200"), "probe: %r %r" % (r.stdout, r.stderr))
        # a broken request for the SSTP URI is refused as before, not sent to the website
        c = env.client()
        status, _ = c.http_handshake(content_length="5")
        c.close()
        check(status == 400, "SSTP URI with a wrong Content-Length: %r, want 400" % (status,))
        check(len(web.requests) == n_before, "the website got a probe or a broken SSTP request")
        p.wait_log(r"ev=http_reject .*rc=E_HTTP_CONTENT_LENGTH")
    finally:
        web.stop()


def t_web_beside_real_backend(env):
    """The same port with the real sstp-backend (fake pppd): the session's
    crypto binding is verified by the backend, which logs the client's own
    address, while curl fetches a page from the website."""
    web = WebServer()
    real = proxy_real.Real(env)
    try:
        sec = env.sections(["be1 127.0.0.1:%d" % real.port])
        sec["backends"]["web"] = "%s proxy_header=v2" % web.addr
        env.proxy(sec)
        hlak = real.mschap()
        c, r = real.call()
        sid = r.start["env"]["SSTP_SESSION_ID"]
        r2 = curl(env, "--local-port", "47200-47300", "https://localhost:%d/home" % env.port)
        check(r2.returncode == 0 and r2.stdout == "page /home\n", "curl: %r %r" % (r2.stdout, r2.stderr))
        ip, port = web.requests[-1][1]
        check(ip == "127.0.0.1" and 47200 <= port <= 47300, "website saw %s:%d" % (ip, port))
        c.call_connected(hlak)
        me = "%s:%d" % c.sock.getsockname()[:2]
        check(real.b.wait_log("binding_ok", 5, sid=sid, client=me),
              "no ev=binding_ok with client=%s on the backend" % me)
        c.send(sc.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == sc.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
        c.close()
    finally:
        real.stop()
        web.stop()


def header_values(head, name):
    """The values of every header called name (any case) in a request head."""
    lines = head.split("\r\n")[1:]
    return [ln.split(":", 1)[1].strip() for ln in lines if ln.split(":", 1)[0].lower() == name.lower()]


def t_web_forwarded(env):
    """headers=forwarded: the website sees the real client address in
    X-Forwarded-For and Forwarded; what the client claimed in its own
    X-Forwarded-For/Forwarded (and its keep-alive) is not passed on; each
    request gets its own connection (Connection: close), so none goes
    through unrewritten."""
    web = WebServer(pp2=False)
    try:
        be = env.backend()
        sec = env.sections(["be1 %s" % be.addr])
        sec["backends"]["web"] = "%s headers=forwarded" % web.addr
        p = env.proxy(sec)
        url = "https://localhost:%d" % env.port
        r = curl(env, "--local-port", "47400-47500", "-H", "X-Forwarded-For: 203.0.113.66",
                 "-H", "Forwarded: for=203.0.113.66;proto=https", "-H", "x-forwarded-for: 203.0.113.67",
                 "-H", "Connection: keep-alive", url + "/one", url + "/two")
        check(r.returncode == 0, "curl failed: %s" % r.stderr)
        check(r.stdout == "page /one\npage /two\n", "pages: %r" % r.stdout)
        check([q[2] for q in web.requests] == ["/one", "/two"], "web requests %r" % web.requests)
        check(web.n_conns == 2, "%d connections to the web backend, want one per request" % web.n_conns)
        for head in web.heads:
            check("203.0.113.6" not in head, "a client-supplied address reached the website:\n%s" % head)
            check(header_values(head, "X-Forwarded-For") == ["127.0.0.1"], "X-Forwarded-For in\n%s" % head)
            check(header_values(head, "Forwarded") == ["for=127.0.0.1;proto=https"], "Forwarded in\n%s" % head)
            check(header_values(head, "Connection") == ["close"], "Connection in\n%s" % head)
            check(header_values(head, "Host") == ["localhost:%d" % env.port], "Host in\n%s" % head)
        rx = (r"ev=web sid=\S+ client=127\.0\.0\.1:(\d+) sni=localhost target=%s proxy_header=none "
              r"headers=forwarded" % web.addr.replace(".", r"\."))
        m = re.search(rx, p.wait_log(rx))
        check(47400 <= int(m.group(1)) <= 47500, "the proxy logged client port %s, not curl's" % m.group(1))
        # a pipelined second request with its own claim: the website answers
        # the first (rewritten, Connection: close) and takes no other
        c = env.client()
        c.sock.sendall(b"GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n"
                       b"GET /second HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 203.0.113.68\r\n\r\n")
        got = b""
        while b"page /first" not in got:
            chunk = c.sock.recv(4096)
            if not chunk:
                break
            got += chunk
        c.close()
        check(b"page /first" in got and b"/second" not in got, "pipelined answer %r" % got)
        deadline = time.monotonic() + 5
        while len(web.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        check([q[2] for q in web.requests][2:] == ["/first"], "web requests %r" % web.requests)
        check(header_values(web.heads[2], "X-Forwarded-For") == ["127.0.0.1"], "XFF of /first")
    finally:
        web.stop()


def t_web_off(env):
    """Without backends.web, a GET gets today's answer (404)."""
    be = env.backend()
    env.proxy(env.sections(["be1 %s" % be.addr]))
    r = curl(env, "-o", "/dev/null", "-w", "%{http_code}", "https://localhost:%d/index.html" % env.port)
    check(r.stdout == "404", "GET without a web backend: %r %r" % (r.stdout, r.stderr))


def t_web_down(env):
    """A web backend that refuses: the client is closed, logged, counted by term."""
    be = env.backend()
    sec = env.sections(["be1 %s" % be.addr])
    sec["backends"]["web"] = "127.0.0.1:%d" % pu.free_port()
    p = env.proxy(sec)
    r = curl(env, "https://localhost:%d/index.html" % env.port)
    check(r.returncode != 0, "curl got an answer from nobody: %r" % r.stdout)
    p.wait_log(r"ev=pass_fail .*err=Connection refused")
    p.wait_log(r"ev=close .*state=PASS term=SD")


CASES = [
    ("web_beside_sstp", t_web_beside_sstp),
    ("web_beside_real_backend", t_web_beside_real_backend),
    ("web_forwarded", t_web_forwarded),
    ("web_off", t_web_off),
    ("web_down", t_web_down),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
