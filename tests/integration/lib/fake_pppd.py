#!/usr/bin/env python3
"""fake_pppd.py — a stand-in for pppd under sstp-backend, for loopback tests.

sstp-backend starts it exactly like pppd:
  fake_pppd.py <pty-slave> nodetach logfd 2 file <opts> plugin <so>
               sstp-lb-fd 3 remotenumber <ip> ipparam <sid>
with fd 0 = the pty slave and fd 3 = a SOCK_SEQPACKET socket to the backend.
It speaks the plugin protocol of backend/pppd-plugin/plugin-proto.h, relays
nothing, and instead records what it sees (argv, env, open fds, PPP frames
decoded from RFC 1662 HDLC, signals) as JSON lines in <logdir>/<pid>.jsonl.
Its behaviour comes from the JSON options file (`file <opts>`):

  logdir          where <pid>.jsonl and the control socket <pid>.ctl go
  auth            null (never report) or {"method": "mschapv2"|"pap"|
                  "chap-md5"|"eap"|"none", "keys_set": 0|1, "recv_key": hex,
                  "send_key": hex, "user": str}
  auth_delay      seconds after start before AUTH is sent (default 0)
  ip_up           null or {"local": "a.b.c.d", "remote": "a.b.c.d"}, sent
                  after the AUTH ACK
  exit_after      null or seconds after start: exit by itself (exit_code)
  exit_code       default 0
  ignore_sigterm  true: log SIGTERM/SIGHUP/SIGINT and carry on
  write_on_start  list of hex PPP frames written (HDLC-encoded) at start
  pool_bad_ready  (pooled) send this hex instead of READY

Started with `sstp-lb-pool` (pppd.pool_size), it is a pool member: it logs
"spawned" (argv, env, fds), sends READY and waits for START; a malformed
START, or any other message, ends it (status 1) as the real plugin does.
Once START came it logs "start" with the env the scripts would see (its
own plus SSTP_SESSION_ID/CLIENT_ADDR/CORRELATION_ID from START, and
pooled: true) and goes on as a pppd started for that session (auth_delay
and exit_after count from START).

The control socket (AF_UNIX datagrams of JSON) lets a test act at a chosen
moment: {"cmd": "write", "frame": hex} (HDLC-encode and write),
{"cmd": "write_raw", "hex": hex}, {"cmd": "auth"}, {"cmd": "ip_up"},
{"cmd": "plugin_raw", "hex": hex}, {"cmd": "auth_again", "user": str, "method":
m, "keys_set": 0|1, "recv_key": hex, "send_key": hex} (a second AUTH report,
as a pppd that re-authenticated after an LCP renegotiation would send, if
its plugin let it), {"cmd": "exit", "code": n},
{"cmd": "burst", "count": n, "size": s} (write burst_frame(0..n-1, s)),
{"cmd": "quiet"} (stop logging each frame) and {"cmd": "report"} (log
the count, bytes, bad FCS count and SHA-256 of every frame received).

Also importable: fcs16, hdlc_encode and HdlcDecoder are the RFC 1662 codec
the tests use to check frames. Standard library only.
"""
import errno
import hashlib
import json
import os
import select
import signal
import socket
import struct
import sys
import time

# ---- RFC 1662 async HDLC framing (appendix C.2), written from the RFC ----

FLAG = 0x7E
ESC = 0x7D
GOOD_FCS = 0xF0B8   # residue over data + FCS when the FCS is right


def _make_fcs_table():
    table = []
    for b in range(256):
        v = b
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return table


FCS_TABLE = _make_fcs_table()


def fcs16(data, fcs=0xFFFF):
    for b in data:
        fcs = (fcs >> 8) ^ FCS_TABLE[(fcs ^ b) & 0xFF]
    return fcs


def hdlc_encode(frame, fcs_xor=0):
    """One frame: flag, frame + FCS (complemented, low byte first) with every
    byte < 0x20, 0x7D and 0x7E escaped, flag. fcs_xor != 0 sends a wrong FCS."""
    fcs = fcs16(frame) ^ 0xFFFF ^ fcs_xor
    body = bytes(frame) + bytes([fcs & 0xFF, fcs >> 8])
    out = bytearray([FLAG])
    for b in body:
        if b < 0x20 or b in (ESC, FLAG):
            out += bytes([ESC, b ^ 0x20])
        else:
            out.append(b)
    out.append(FLAG)
    return bytes(out)


class HdlcDecoder:
    """Streaming decoder. feed() returns a list of (frame, fcs_ok) for every
    frame completed by the bytes given; the FCS bytes are stripped. A frame
    shorter than 2 data bytes + FCS is reported with fcs_ok False."""

    def __init__(self):
        self.buf = bytearray()
        self.esc = False
        self.aborted = 0

    def feed(self, data):
        frames = []
        for b in data:
            if b == FLAG:
                if self.esc:              # 7D 7E: frame aborted (RFC 1662 4.2)
                    self.aborted += 1
                elif self.buf:
                    ok = len(self.buf) >= 4 and fcs16(self.buf) == GOOD_FCS
                    frames.append((bytes(self.buf[:-2]), ok))
                self.buf = bytearray()
                self.esc = False
            elif b == ESC:
                self.esc = True
            else:
                if self.esc:
                    b ^= 0x20
                    self.esc = False
                self.buf.append(b)
        return frames


def burst_frame(i, size):
    """Frame i of a numbered burst: an IPv4-protocol PPP frame of `size`
    bytes after FF 03 00 21, starting with the big-endian number i."""
    body = struct.pack(">I", i)
    pad = hashlib.sha256(body).digest()
    body += (pad * (size // len(pad) + 1))[:max(0, size - 4)]
    return b"\xff\x03\x00\x21" + body


# ---- plugin protocol, version 1 (see plugin-proto.h) ----

PLUGIN_VERSION = 1
T_AUTH, T_IP_UP, T_IPV6_UP, T_ACK = 1, 2, 3, 0x80
T_READY, T_START = 4, 0x81
ID_CHARS = set(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._:-{}")


def plugin_parse_start(msg):
    """(sid, client, corr) of a well-formed START, else None (plugin-proto.h)."""
    if len(msg) < 4:
        return None
    ver, typ, blen = struct.unpack(">BBH", msg[:4])
    if ver != PLUGIN_VERSION or typ != T_START or blen != len(msg) - 4:
        return None
    p, vals = msg[4:], []
    for min_len in (1, 1, 0):
        if not p or p[0] > 64 or len(p) < 1 + p[0]:
            return None
        v = p[1:1 + p[0]]
        if len(v) < min_len or not set(v) <= ID_CHARS:
            return None
        vals.append(v.decode())
        p = p[1 + len(v):]
    return tuple(vals) if not p else None
AUTH_METHODS = {"none": 0, "pap": 1, "chap-md5": 2, "mschapv2": 3, "eap": 4}


def plugin_auth_msg(method, keys_set, recv_key, send_key, user):
    u = user.encode() + b"\0"
    body = struct.pack(">BB", AUTH_METHODS[method], keys_set) + recv_key + send_key
    body += struct.pack(">H", len(u)) + u
    return struct.pack(">BBH", PLUGIN_VERSION, T_AUTH, len(body)) + body


def plugin_ip_up_msg(local, remote):
    body = socket.inet_aton(local) + socket.inet_aton(remote)
    return struct.pack(">BBH", PLUGIN_VERSION, T_IP_UP, len(body)) + body


def plugin_parse_ack(msg):
    """The acknowledged type, or None if msg is not a well-formed ACK."""
    if len(msg) != 5:
        return None
    ver, typ, blen, acked = struct.unpack(">BBHB", msg)
    if ver != PLUGIN_VERSION or typ != T_ACK or blen != 1:
        return None
    return acked


# ---- the process ----

class FakePppd:
    def __init__(self, argv):
        self.argv = argv
        self.t0 = time.monotonic()
        self.opts = {}
        self.log_f = None
        self.pty = None
        self.plugin = None
        self.ctl = None
        self.ctl_path = None
        self.dec = HdlcDecoder()
        self.auth_sent = False
        self.awaiting = []          # report types sent, ACK not yet seen
        self.ip_up_pending = False
        self.wake_r = self.wake_w = None
        self.signals = []
        self.log_frames = True
        self.rx_frames = self.rx_bytes = self.rx_bad_fcs = 0
        self.rx_hash = hashlib.sha256()
        self.pooled = "sstp-lb-pool" in argv
        self.waiting_start = False

    def log(self, ev, **kw):
        kw["ev"] = ev
        kw["t"] = round(time.monotonic() - self.t0, 4)
        kw["wall"] = round(time.time(), 4)
        if self.log_f:
            self.log_f.write(json.dumps(kw) + "\n")
            self.log_f.flush()

    def opt_after(self, name):
        v = self.opts.get(name)
        return None if v is None else self.t0 + float(v)

    def setup(self):
        fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
        # listdir's own directory fd is gone by now; keep only what is still open
        fds = [fd for fd in fds if _fd_open(fd)]
        fd3 = None
        try:
            s3 = socket.socket(fileno=os.dup(3))
            fd3 = {"family": int(s3.family), "type": int(s3.type)}
            s3.close()
        except OSError as e:
            fd3 = {"error": e.errno}
        try:
            opts_path = self.argv[self.argv.index("file") + 1]
            with open(opts_path) as f:
                self.opts = json.load(f)
        except (ValueError, OSError, IndexError):
            sys.stderr.write("fake_pppd: cannot read the options file\n")
            sys.exit(2)
        logdir = self.opts["logdir"]
        pid = os.getpid()
        self.log_f = open(os.path.join(logdir, "%d.jsonl" % pid), "a")
        tty0 = None
        try:
            tty0 = os.ttyname(0)
        except OSError:
            pass
        self.ppid = os.getppid()
        self.start_info = dict(pid=pid, ppid=self.ppid, argv=self.argv,
                               env={k: v for k, v in os.environ.items()}, fds=fds, fd3=fd3,
                               tty0=tty0, sid=os.getsid(0))
        if self.pooled:
            self.log("spawned", **self.start_info)
        else:
            self.log("start", **self.start_info)

        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, self.on_signal)

        # open the tty by name like pppd does (O_NOCTTY: we are a session
        # leader and must not take it as a controlling terminal)
        self.pty = os.open(self.argv[1], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.plugin = socket.socket(fileno=3)
        self.plugin.setblocking(False)
        self.ctl_path = os.path.join(logdir, "%d.ctl" % pid)
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ctl.bind(self.ctl_path)
        self.ctl.setblocking(False)
        if self.pooled:
            bad = self.opts.get("pool_bad_ready")
            self.plugin.send(bytes.fromhex(bad) if bad else struct.pack(">BBH", PLUGIN_VERSION, T_READY, 0))
            self.waiting_start = True
            self.log("pool_ready")
            return
        self.session_begins()

    def session_begins(self):
        for hexframe in self.opts.get("write_on_start") or []:
            self.write_frame(bytes.fromhex(hexframe))
        self.log("ready")

    def on_start(self, msg):
        vals = plugin_parse_start(msg)
        if vals is None:
            self.log("start_bad", hex=msg.hex())
            self.finish(1, "bad_start")
        self.waiting_start = False
        self.t0 = time.monotonic()
        info = dict(self.start_info)
        info["env"] = dict(info["env"], SSTP_SESSION_ID=vals[0], SSTP_CLIENT_ADDR=vals[1],
                           SSTP_CORRELATION_ID=vals[2])
        info["pooled"] = True
        self.log("start", **info)
        self.session_begins()

    def on_signal(self, signum, frame):
        self.signals.append(signum)

    def write_frame(self, frame):
        self.write_pty(hdlc_encode(frame))
        self.log("wrote_frame", hex=frame.hex())

    def write_pty(self, data):
        deadline = time.monotonic() + 5
        while data and time.monotonic() < deadline:
            try:
                n = os.write(self.pty, data)
                data = data[n:]
            except BlockingIOError:
                select.select([], [self.pty], [], 0.1)
            except OSError as e:
                self.log("pty_write_error", errno=e.errno)
                return

    def send_plugin(self, msg, typ, name):
        try:
            self.plugin.send(msg)
            self.awaiting.append(typ)
            self.log("plugin_sent", type=name, len=len(msg))
        except OSError as e:
            self.log("plugin_send_error", type=name, errno=e.errno)

    def report_auth(self):
        a = self.opts.get("auth")
        if a is None or self.auth_sent:
            return
        self.auth_sent = True
        msg = plugin_auth_msg(a.get("method", "mschapv2"), int(a.get("keys_set", 1)),
                              bytes.fromhex(a.get("recv_key", "00" * 16)),
                              bytes.fromhex(a.get("send_key", "00" * 16)),
                              a.get("user", "alice"))
        self.send_plugin(msg, T_AUTH, "auth")
        if self.opts.get("ip_up"):
            self.ip_up_pending = True

    def report_auth_again(self, c):
        msg = plugin_auth_msg(c.get("method", "mschapv2"), int(c.get("keys_set", 1)),
                              bytes.fromhex(c.get("recv_key", "11" * 16)),
                              bytes.fromhex(c.get("send_key", "22" * 16)), c.get("user", "bob"))
        self.send_plugin(msg, T_AUTH, "auth_again")

    def report_ip_up(self):
        ip = self.opts.get("ip_up") or {"local": "10.0.0.1", "remote": "10.0.0.2"}
        self.send_plugin(plugin_ip_up_msg(ip["local"], ip["remote"]), T_IP_UP, "ip_up")

    def on_plugin(self):
        try:
            msg = self.plugin.recv(1024)
        except BlockingIOError:
            return
        except OSError as e:
            self.log("plugin_error", errno=e.errno)
            msg = b""
        if not msg:
            self.log("plugin_eof")
            self.plugin.close()
            self.plugin = None
            if self.waiting_start:
                self.finish(1, "closed_before_start")   # the plugin's fatal()
            return
        if self.waiting_start:
            self.on_start(msg)
            return
        acked = plugin_parse_ack(msg)
        if acked is None:
            self.log("plugin_bad_reply", hex=msg.hex())
            return
        self.log("plugin_ack", acked=acked)
        if acked in self.awaiting:
            self.awaiting.remove(acked)
        if acked == T_AUTH and self.ip_up_pending:
            self.ip_up_pending = False
            self.report_ip_up()

    def on_pty(self):
        try:
            data = os.read(self.pty, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            data = b""
            self.log("pty_error", errno=e.errno)
        if not data:
            self.log("pty_hangup")
            os.close(self.pty)
            self.pty = None
            return
        for frame, ok in self.dec.feed(data):
            self.rx_frames += 1
            self.rx_bytes += len(frame)
            self.rx_bad_fcs += 0 if ok else 1
            self.rx_hash.update(struct.pack(">I", len(frame)) + frame)
            if self.log_frames:
                self.log("frame", hex=frame.hex(), fcs_ok=ok)

    def on_ctl(self):
        try:
            msg = self.ctl.recv(65536)
        except BlockingIOError:
            return
        try:
            c = json.loads(msg)
        except ValueError:
            self.log("ctl_bad", raw=msg.hex())
            return
        self.log("ctl", cmd=c.get("cmd"))
        cmd = c.get("cmd")
        if cmd == "write" and self.pty is not None:
            self.write_frame(bytes.fromhex(c["frame"]))
        elif cmd == "write_raw" and self.pty is not None:
            self.write_pty(bytes.fromhex(c["hex"]))
        elif cmd == "burst" and self.pty is not None:
            n, size = int(c["count"]), int(c["size"])
            for i in range(n):
                self.write_pty(hdlc_encode(burst_frame(i, size)))
            self.log("burst_done", count=n)
        elif cmd == "quiet":
            self.log_frames = False
        elif cmd == "report":
            self.log("rx_report", frames=self.rx_frames, bytes=self.rx_bytes,
                     bad_fcs=self.rx_bad_fcs, sha256=self.rx_hash.hexdigest())
        elif cmd == "auth":
            self.report_auth()
        elif cmd == "ip_up":
            self.report_ip_up()
        elif cmd == "auth_again" and self.plugin is not None:
            self.report_auth_again(c)
        elif cmd == "plugin_raw" and self.plugin is not None:
            self.send_plugin(bytes.fromhex(c["hex"]), -1, "raw")
        elif cmd == "exit":
            self.finish(int(c.get("code", 0)), "ctl")

    def handle_signals(self):
        try:
            while os.read(self.wake_r, 64):
                pass
        except BlockingIOError:
            pass
        while self.signals:
            signum = self.signals.pop(0)
            name = signal.Signals(signum).name
            ignore = bool(self.opts.get("ignore_sigterm"))
            self.log("signal", name=name, ignored=ignore)
            if not ignore:
                self.finish(5, name)   # pppd's EXIT_USER_REQUEST

    def finish(self, code, why):
        self.log("exit", code=code, why=why)
        if self.ctl_path:
            try:
                os.unlink(self.ctl_path)
            except OSError:
                pass
        sys.exit(code)

    def run(self):
        os.set_blocking(self.wake_r, False)
        while True:
            auth_at = self.opt_after("auth_delay") or self.t0
            exit_at = self.opt_after("exit_after")
            if self.waiting_start:
                auth_at = exit_at = float("inf")
            now = time.monotonic()
            if not self.auth_sent and self.opts.get("auth") is not None and now >= auth_at:
                self.report_auth()
            if exit_at is not None and now >= exit_at:
                self.finish(int(self.opts.get("exit_code", 0)), "exit_after")
            if os.getppid() != self.ppid:
                self.finish(3, "orphaned")    # the backend is gone: never linger
            timeout = 1.0
            if not self.auth_sent and self.opts.get("auth") is not None and auth_at != float("inf"):
                timeout = min(timeout, max(0.0, auth_at - now))
            if exit_at is not None and exit_at != float("inf"):
                timeout = min(timeout, max(0.0, exit_at - now))
            rl = [self.wake_r, self.ctl]
            if self.pty is not None:
                rl.append(self.pty)
            if self.plugin is not None:
                rl.append(self.plugin)
            try:
                ready, _, _ = select.select(rl, [], [], timeout)
            except InterruptedError:
                ready = []
            if self.wake_r in ready or self.signals:
                self.handle_signals()
            if self.plugin is not None and self.plugin in ready:
                self.on_plugin()
            if self.pty is not None and self.pty in ready:
                self.on_pty()
            if self.ctl in ready:
                self.on_ctl()


def _fd_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError as e:
        return e.errno != errno.EBADF


def main():
    p = FakePppd(sys.argv)
    p.setup()
    p.run()


if __name__ == "__main__":
    main()
