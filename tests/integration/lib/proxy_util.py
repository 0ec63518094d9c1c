"""proxy_util.py — helpers of the sstp-proxy integration tests (stdlib only).

  parse_pp2()       an independent PROXY v2 parser (HAProxy proxy-protocol.txt
                    §2.2), to check what sstp-proxy sends to backends
  TestBackend       a small SSTP server standing in for sstp-backend: records
                    the PROXY v2 header and the request head of each
                    connection, answers 200 + CALL_CONNECT_ACK and echoes
                    data packets; plain TCP or TLS with client-certificate
                    verification; or misbehaves on purpose (closes, stays silent)
  Proxy             writes a config, runs build/asan/sstp-proxy (or
                    build/sstp-proxy), waits for its workers, reads its log,
                    sends signals, queries the admin listener, and stops it
                    (failing on any sanitizer report)
  cert_der_sha256() what `openssl x509 -outform der | sha256sum` prints
Every wait is bounded; only processes started here are signalled.
"""
import hashlib
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.request

import netutil

# written once in netutil; kept under this name for the suites that call it here
free_port = netutil.free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
T_AUTHORITY, T_UNIQUE_ID, T_SSL = 0x02, 0x05, 0x20
T_SSL_VERSION, T_SSL_CN, T_SSL_CIPHER, T_SSL_SIG_ALG, T_SSL_KEY_ALG = 0x21, 0x22, 0x23, 0x24, 0x25
T_CERT_SHA256, T_CERT_SHA1, T_META = 0xE8, 0xE9, 0xEB

SSTP_OK_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n"
                    b"Server: Microsoft-HTTPAPI/2.0\r\n\r\n")


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def cert_der_sha256(path):
    der = subprocess.run(["openssl", "x509", "-in", path, "-outform", "der"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).digest()


def sha256(b):
    return hashlib.sha256(b).digest()


def cert_der_sha1(path):
    der = subprocess.run(["openssl", "x509", "-in", path, "-outform", "der"],
                         check=True, capture_output=True).stdout
    return hashlib.sha1(der).digest()


# ---- PROXY v2 ----

def parse_pp2(data):
    """Parses one whole PROXY v2 header. Returns a dict with command,
    family, src, dst (ip, port), tlvs {type: [values]}, ssl {client,
    verify, subs {type: value}} and meta (decoded 0xEB)."""
    check(data[:12] == PP2_SIG, "PROXY v2 signature")
    ver_cmd, fam, ln = data[12], data[13], struct.unpack(">H", data[14:16])[0]
    check(ver_cmd >> 4 == 2, "PROXY v2 version nibble")
    check(len(data) == 16 + ln, "PROXY v2 length %d vs %d" % (16 + ln, len(data)))
    out = {"command": ver_cmd & 0xF, "family": fam, "src": None, "dst": None, "tlvs": {}}
    body = data[16:]
    if fam == 0x11:
        out["src"] = (socket.inet_ntop(socket.AF_INET, body[0:4]), struct.unpack(">H", body[8:10])[0])
        out["dst"] = (socket.inet_ntop(socket.AF_INET, body[4:8]), struct.unpack(">H", body[10:12])[0])
        off = 12
    elif fam == 0x21:
        out["src"] = (socket.inet_ntop(socket.AF_INET6, body[0:16]), struct.unpack(">H", body[32:34])[0])
        out["dst"] = (socket.inet_ntop(socket.AF_INET6, body[16:32]), struct.unpack(">H", body[34:36])[0])
        off = 36
    elif fam == 0x00:
        off = 0
    else:
        raise Failure("unexpected PROXY v2 family 0x%02x" % fam)
    while off < len(body):
        check(off + 3 <= len(body), "TLV header overruns")
        t, n = body[off], struct.unpack(">H", body[off + 1:off + 3])[0]
        check(off + 3 + n <= len(body), "TLV 0x%02x overruns" % t)
        out["tlvs"].setdefault(t, []).append(body[off + 3:off + 3 + n])
        off += 3 + n
    if T_SSL in out["tlvs"]:
        v = out["tlvs"][T_SSL][0]
        subs, o = {}, 5
        while o < len(v):
            st, sn = v[o], struct.unpack(">H", v[o + 1:o + 3])[0]
            subs[st] = v[o + 3:o + 3 + sn]
            o += 3 + sn
        out["ssl"] = {"client": v[0], "verify": struct.unpack(">I", v[1:5])[0], "subs": subs}
    if T_META in out["tlvs"]:
        v = out["tlvs"][T_META][0]
        check(v[0] == 1, "meta version")
        flags, n = v[1], v[2]
        o = 3
        meta = {"flags": flags, "proxy_id": v[o:o + n].decode()}
        o += n
        if flags & 1:
            meta["client_cert_sha256"] = v[o:o + 32]
            o += 32
        tn = v[o]
        meta["tenant"] = v[o + 1:o + 1 + tn].decode()
        o += 1 + tn
        an = v[o]
        meta["affinity"] = v[o + 1:o + 1 + an]
        check(o + 1 + an == len(v), "meta length")
        out["meta"] = meta
    return out


def tlv1(pp, t):
    """The single value of TLV type t, or None."""
    v = pp["tlvs"].get(t)
    if v is None:
        return None
    check(len(v) == 1, "TLV 0x%02x repeated" % t)
    return v[0]


# ---- a test backend ----

def _ctrl(msg_type, attrs=b"", n_attrs=0):
    return struct.pack(">BBHHH", 0x10, 1, 8 + len(attrs), msg_type, n_attrs) + attrs


def connect_ack():
    value = b"\0\0\0" + bytes([0x02]) + os.urandom(32)       # SHA-256 only, nonce
    attr = struct.pack(">BBH", 0, 4, 4 + len(value)) + value  # CRYPTO_BINDING_REQ
    return _ctrl(2, attr, 1)


class TestBackend:
    """mode: "sstp" (answer and echo), "close" (close right after the
    head), "silent" (read, never answer). tls: (cert, key, ca) to require
    TLS with a client certificate signed by ca."""

    def __init__(self, mode="sstp", tls=None, host="127.0.0.1", after_ack=b"", delay=0.0,
                 service=0.0, fail_first=0, refuse_host=None):
        self.mode = mode
        self.after_ack = after_ack  # sent in the same write as CALL_CONNECT_ACK
        # a slow or picky backend (proxy_judging): every answer waits `delay`;
        # answers leave one at a time, `service` seconds each (a loaded
        # backend's queue); the first `fail_first` heads are closed on; a head
        # with Host: refuse_host gets 400
        self.delay, self.service, self.fail_first, self.refuse_host = delay, service, fail_first, refuse_host
        self.serial = threading.Lock()
        self.n_heads = 0
        self.records = []
        self.lock = threading.Lock()
        self.ctx = None
        if tls:
            cert, key, ca = tls
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(ca)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.addr = "%s:%d" % (host, self.port)
        self.stopping = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read_exact(s, n, buf):
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError()
            buf += chunk
        return buf[:n], buf[n:]

    def _serve(self, c):
        rec = {"pp": None, "head": None, "peer_cert": None, "error": None, "closed": False}
        try:
            c.settimeout(30)
            s = c
            if self.ctx:
                s = self.ctx.wrap_socket(c, server_side=True)
                rec["peer_cert"] = s.getpeercert(binary_form=True)
            buf = b""
            hdr, buf = self._read_exact(s, 16, buf)
            check(hdr[:12] == PP2_SIG, "backend: no PROXY v2 header first")
            body, buf = self._read_exact(s, struct.unpack(">H", hdr[14:16])[0], buf)
            rec["pp"] = parse_pp2(hdr + body)
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise EOFError()
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            rec["head"] = head + b"\r\n\r\n"
            rec["packets"] = []  # the first SSTP packets received
            with self.lock:
                self.records.append(rec)
            with self.lock:
                self.n_heads += 1
                fail_now = self.n_heads <= self.fail_first
            if self.mode == "close" or fail_now:
                s.close()
                return
            if self.refuse_host and (b"\r\nHost: %s\r\n" % self.refuse_host.encode()) in rec["head"]:
                s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                s.close()
                return
            if self.delay:
                time.sleep(self.delay)
            if self.service:
                with self.serial:
                    time.sleep(self.service)
            if self.mode == "silent":
                while s.recv(65536):
                    pass
                return
            s.sendall(SSTP_OK_RESPONSE)
            while True:
                while len(buf) >= 4:
                    n = struct.unpack(">H", buf[2:4])[0] & 0x0FFF
                    if len(buf) < n:
                        break
                    pkt, buf = buf[:n], buf[n:]
                    if len(rec["packets"]) < 8:
                        rec["packets"].append(pkt)
                    if pkt[1] & 1 and struct.unpack(">H", pkt[4:6])[0] == 1:
                        s.sendall(connect_ack() + self.after_ack)
                    else:
                        s.sendall(pkt)  # echo
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            s.close()
        except (EOFError, OSError, ssl.SSLError, Failure) as e:
            rec["error"] = repr(e)
            if rec not in self.records:
                with self.lock:
                    self.records.append(rec)
        finally:
            rec["closed"] = True
            try:
                c.close()
            except OSError:
                pass

    def wait_records(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.records) >= n:
                    return list(self.records)
            time.sleep(0.02)
        raise Failure("backend %s saw %d connections, wanted %d" % (self.addr, len(self.records), n))

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


# ---- the proxy process ----

def proxy_binary():
    if os.environ.get("PX_PROXY_BIN"):         # benchmarks: e.g. the optimised build
        return os.environ["PX_PROXY_BIN"]
    asan = os.path.join(ROOT, "build", "asan", "sstp-proxy")
    if os.path.exists(asan):
        return asan
    return os.path.join(ROOT, "build", "sstp-proxy")


SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehavior")


class Proxy:
    """conf: the INI text (use {port} {admin} placeholders or fill them in
    before). workers: how many worker_ready lines to wait for."""

    def __init__(self, workdir, conf, workers=1, name="proxy", wait_ready=True):
        self.workdir = workdir
        self.conf_path = os.path.join(workdir, name + ".conf")
        self.log_path = os.path.join(workdir, name + ".log")
        self.workers = workers
        self.write_conf(conf)
        self.log = open(self.log_path, "wb")
        # only the file written here configures it (SSTP_PROXY_* would override)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSTP_PROXY_")}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.proc = subprocess.Popen([proxy_binary(), "-c", self.conf_path], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        if wait_ready:
            self.wait_log(r"ev=worker_ready", count=workers, timeout=15)

    def write_conf(self, conf):
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, count=1, timeout=5.0, start=0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.text()[start:]
            found = rx.findall(t)
            if len(found) >= count:
                return t
            if self.proc.poll() is not None:
                raise Failure("sstp-proxy exited (%s) while waiting for %r:\n%s" %
                              (self.proc.returncode, pattern, self.text()[-3000:]))
            time.sleep(0.02)
        raise Failure("no %d x %r in the proxy log within %gs:\n%s" %
                      (count, pattern, timeout, self.text()[-3000:]))

    def lines(self, ev):
        return [ln for ln in self.text().splitlines() if (" ev=%s " % ev) in ln + " "]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def admin_get(self, port, path, timeout=5.0):
        """(status, body) of GET http://127.0.0.1:port/path."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self, timeout=20.0):
        """SIGTERM, wait; fails on a bad exit status or a sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise Failure("sstp-proxy did not stop within %gs" % timeout)
        self.log.close()
        t = self.text()
        if SANITIZER.search(t):
            raise Failure("sanitizer report in the proxy log:\n" + t[-6000:])
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if not self.log.closed:
            self.log.close()


def metric(text, name, labels=None):
    """The value of one sample in Prometheus text, or None."""
    want = name
    if labels:
        want += "{" + ",".join('%s="%s"' % kv for kv in labels.items()) + "}"
    for ln in text.splitlines():
        if ln.startswith(want + " "):
            return int(ln.split()[-1])
    return None


class Runner:
    """Runs named cases, prints PASS/FAIL per case, exits non-zero if any
    failed."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def case(self, name, fn, *args):
        t0 = time.monotonic()
        try:
            fn(*args)
            self.passed += 1
            print("ok   %-45s %.2fs" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # report every failure, run every case
            self.failed.append(name)
            print("FAIL %-45s %s: %s" % (name, type(e).__name__, e), flush=True)

    def finish(self):
        print("%d passed, %d failed%s" % (self.passed, len(self.failed),
                                          (": " + " ".join(self.failed)) if self.failed else ""))
        return 1 if self.failed else 0
