"""redis_util.py — a real redis-server for integration tests and a small
RESP2 client to look inside it (standard library only).

  RedisServer  runs redis-server on an ephemeral loopback port with a
               password, no persistence; kill() (SIGKILL, by pid) and
               start() again on the same port, to test outages
  Resp         one connection: cmd("HGETALL", key) returns str / int /
               list / None, raises RespError on an error reply
Every wait is bounded; only the process started here is signalled.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

import netutil

# written once in netutil; kept under this name for the suites that call it here
free_port = netutil.free_port


class RespError(Exception):
    pass


class Resp:
    def __init__(self, port, password=None, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        if password:
            self.cmd("AUTH", password)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RespError("unexpected reply %r" % line)

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def hgetall(self, key):
        flat = self.cmd("HGETALL", key) or []
        return dict(zip(flat[0::2], flat[1::2]))


class RedisServer:
    def __init__(self, workdir, password="pw-" + os.urandom(6).hex(), port=None, extra=(), name="redis"):
        self.exe = shutil.which("redis-server")
        if not self.exe:
            raise RuntimeError("redis-server is not installed (scripts/deps.sh test)")
        self.dir = os.path.join(workdir, name)
        self.extra = list(extra)            # more redis-server options (e.g. --replicaof)
        os.makedirs(self.dir, exist_ok=True)
        self.password = password
        self.port = port or free_port()
        self.proc = None
        self.start()

    @property
    def url(self):
        return "redis://:%s@127.0.0.1:%d" % (self.password, self.port)

    def start(self, timeout=10.0):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--requirepass", self.password,
             "--save", "", "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no"] + self.extra,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = Resp(self.port, self.password, timeout=1.0)
                ok = c.cmd("PING") == "PONG"
                c.close()
                if ok:
                    return
            except (OSError, RespError):
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start on port %d" % self.port)

    def client(self):
        return Resp(self.port, self.password)

    def kill(self):
        """SIGKILL: no shutdown, no goodbye to the clients (a crash)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
