#!/usr/bin/python3
"""plugin_test.py — guest side of tests/e2e/plugin_test.sh.

Plays sstp-backend's part for one real pppd 2.4.9 server loading
build/sstp-lb-pppd.so: holds the other end of the SOCK_SEQPACKET socketpair
(pppd's fd 3), the pty masters of the server pppd and of a client pppd
(the same pty arrangement as the backend: pppd on the slave, raw), relays
bytes between the two masters, decodes the plugin's messages with its own
strict decoder written from the layout in plugin-proto.h, and answers ACKs.
Then it checks what it got against values it computes itself:

  mschapv2  AUTH says MS-CHAPv2, keys_set=1, user "alice", and recv_key/
            send_key equal K2/K3 (RFC 3079) derived here from the password
            and the NT-Response pppd logged; the logged Authenticator
            Response (RFC 2759) is recomputed too, which proves the logged
            challenge/response are the ones pppd used. IP_UP, ping. The
            server pppd also gets sstp-backend's `set SSTP_...=` options:
            its ip-up script must see them (and not a variable of pppd's
            own environment: pppd builds the scripts' environment itself).
  pap       AUTH says PAP, keys_set=0, user "bob"; IP_UP and IPV6_UP carry
            what IPCP/IPV6CP negotiated (also read back from the kernel).
  noauth    server without authentication: AUTH still comes, method none.
  noack     never ACK AUTH: pppd must exit with status 1 about 10 s later,
            before IPCP; plus option checks (bad fd, non-SEQPACKET fd,
            option missing) that must stop pppd at once.
  badack    answer AUTH with an ACK for IP_UP: pppd must exit at once.
  pool      the server pppd started as a pool member (`sstp-lb-pool`, no
            session options): READY comes, pppd stays silent on its tty
            until START, then the MS-CHAPv2 session runs as in mschapv2 and
            ip-up sees START's values (SSTP_* variables, ipparam as $6).
  pooldup   START sent twice: pppd must end itself at the AUTH report (the
            second START is not the ACK), before IPCP. Also pool members
            that get a malformed START, an ACK instead, a closed socket or
            SIGTERM while waiting: each ends at once, before LCP.
  reauth    MS-CHAPv2 up, then the client side sends an LCP
            Configure-Request on the open link (the renegotiation that
            makes pppd authenticate again): the server pppd must end itself
            through the plugin's fatal() on re-entering authentication,
            with one AUTH report only and no second CHAP Challenge. The
            noack scenario also checks that a pppd.options allowing only
            EAP stops pppd at start (pppd 2.4.9 cannot give the MSK), and
            how the plugin names radius.so's accounting session from
            ipparam (both attributes, only Acct-Multi-Session-Id when
            radius.so was loaded first, a bad ipparam skipped, nothing
            without radius.so), pppd going on to LCP each time.

Usage (inside a uml.sh guest, namespaces "srv" and "cli" already made):
    plugin_test.py SCENARIO WORKDIR PLUGIN_SO
Prints one ok/FAIL line per check and a summary; exit 0 iff all passed.
Python stdlib only; MD4 is implemented here (OpenSSL 3 has dropped it).
"""

import hashlib
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import time
import tty

PPPD = "/usr/sbin/pppd"
CLIENT_OPTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "conf", "pppd-client.options")
SRV_NAME = "sstp-test-srv"
SRV_IP, CLI_IP = "10.88.0.1", "10.88.0.2"
SRV_IFID, CLI_IFID = "::a:1", "::b:2"      # IPV6CP interface identifiers
USERS = {"mschapv2": ("alice", "Pa55-w0rd!x"), "noack": ("alice", "Pa55-w0rd!x"),
         "reauth": ("alice", "Pa55-w0rd!x"),
         "noauth": ("nobody", "unused"),
         "badack": ("alice", "Pa55-w0rd!x"), "pap": ("bob", "pap-secret-9"),
         "pool": ("alice", "Pa55-w0rd!x"), "pooldup": ("alice", "Pa55-w0rd!x")}
AUTH_ACK_TIMEOUT_S = 10.0                  # the plugin's AUTH_ACK_TIMEOUT_MS
# What sstp-backend (backend/pppd.c) passes with pppd's `set` option.
SCRIPT_SET = ("SSTP_SESSION_ID=3af08715b013f28e", "SSTP_CLIENT_ADDR=203.0.113.7",
              "SSTP_CORRELATION_ID={6B8B4567-327B-23C6-643C-98696B8B4567}")

# ---------------------------------------------------------------- MD4, MS-CHAPv2

def md4(msg):
    """MD4 (RFC 1320)."""
    mask = 0xFFFFFFFF

    def rol(x, n):
        return ((x << n) | (x >> (32 - n))) & mask

    msg = bytes(msg)
    bits = len(msg) * 8
    msg += b"\x80" + b"\x00" * ((55 - len(msg)) % 64) + struct.pack("<Q", bits)
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    rounds = (
        (lambda x, y, z: (x & y) | (~x & z), 0, list(range(16)), (3, 7, 11, 19)),
        (lambda x, y, z: (x & y) | (x & z) | (y & z), 0x5A827999,
         [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15], (3, 5, 9, 13)),
        (lambda x, y, z: x ^ y ^ z, 0x6ED9EBA1,
         [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15], (3, 9, 11, 15)),
    )
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off:off + 64])
        v = list(h)                                  # a, b, c, d
        for fn, const, order, shifts in rounds:
            for i, k in enumerate(order):
                # Steps cycle a, d, c, b: target index 0, 3, 2, 1.
                t = (-i) % 4
                a, b, c, d = v[t], v[(t + 1) % 4], v[(t + 2) % 4], v[(t + 3) % 4]
                v[t] = rol((a + fn(b, c, d) + x[k] + const) & mask, shifts[i % 4])
        h = [(h[i] + v[i]) & mask for i in range(4)]
    return struct.pack("<4I", *h)


MAGIC1 = b"This is the MPPE Master Key"
MAGIC2 = (b"On the client side, this is the send key; "
          b"on the server side, it is the receive key.")
MAGIC3 = (b"On the client side, this is the receive key; "
          b"on the server side, it is the send key.")
SIGN_MAGIC1 = b"Magic server to client signing constant"
SIGN_MAGIC2 = b"Pad to make it do more than one iteration"


def sha1(*parts):
    return hashlib.sha1(b"".join(parts)).digest()


def password_hash_hash(password):
    return md4(md4(password.encode("utf-16-le")))


def master_key(password, nt_response):
    """RFC 3079 3.4 GetMasterKey."""
    return sha1(password_hash_hash(password), nt_response, MAGIC1)[:16]


def start_key(master, magic):
    """RFC 3079 3.4 GetAsymmetricStartKey, 128-bit."""
    return sha1(master, b"\x00" * 40, magic, b"\xf2" * 40)[:16]


def authenticator_response(password, nt_response, peer_chal, auth_chal, user):
    """RFC 2759 8.7 GenerateAuthenticatorResponse: the 40 hex digits after S=."""
    digest = sha1(password_hash_hash(password), nt_response, SIGN_MAGIC1)
    challenge_hash = sha1(peer_chal, auth_chal, user.encode())[:8]
    return sha1(digest, challenge_hash, SIGN_MAGIC2).hex().upper()


def self_test():
    """The derivations above against published values (RFC 1320 A.5,
    RFC 2759 9.2, RFC 3079 3.5.3): a wrong formula here would otherwise
    look like a plugin bug, or hide one."""
    assert md4(b"").hex() == "31d6cfe0d16ae931b73c59d7e0c089c0"
    assert md4(b"abc").hex() == "a448017aaf21d8525fc10ae87aa6729d"
    assert md4(b"message digest").hex() == "d9130a8164549fe818874806e1c7014b"
    assert len(MAGIC2) == 84 and len(MAGIC3) == 84
    nt = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
    assert md4("clientPass".encode("utf-16-le")).hex() == "44ebba8d5312b8d611474411f56989ae"
    assert password_hash_hash("clientPass").hex() == "41c00c584bd2d91c4017a2a12fa59f3f"
    mk = master_key("clientPass", nt)
    assert mk.hex() == "fdece3717a8c838cb388e527ae3cdd31"
    assert start_key(mk, MAGIC3).hex() == "8b7cdc149b993a1ba118cb153f56dccb"
    assert authenticator_response(
        "clientPass", nt, bytes.fromhex("21402324255E262A28295F2B3A337C7E"),
        bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628"), "User",
    ) == "407A5589115FD0D6209F510FE9C04566932CDA56"

# ---------------------------------------------------------------- plugin protocol

T_AUTH, T_IP_UP, T_IPV6_UP, T_ACK = 1, 2, 3, 0x80
T_READY, T_START = 4, 0x81
AUTH_NAMES = {0: "none", 1: "pap", 2: "chap-md5", 3: "mschapv2", 4: "eap"}


def decode(b):
    """Strict decode of one datagram, from the documented layout."""
    if len(b) < 4:
        raise ValueError("short header")
    ver, typ, body = struct.unpack(">BBH", b[:4])
    if ver != 1 or body != len(b) - 4:
        raise ValueError("version %d, body %d for %d bytes" % (ver, body, len(b)))
    p = b[4:]
    if typ == T_AUTH:
        if body < 36 + 1:
            raise ValueError("AUTH too short")
        auth, keys_set = p[0], p[1]
        (ulen,) = struct.unpack(">H", p[34:36])
        user = p[36:]
        if auth not in AUTH_NAMES or keys_set > 1 or ulen != len(user) or not 1 <= ulen <= 256 \
                or user.index(0) != ulen - 1:
            raise ValueError("bad AUTH fields")
        return {"type": "AUTH", "auth": AUTH_NAMES[auth], "keys_set": keys_set,
                "recv_key": p[2:18].hex(), "send_key": p[18:34].hex(),
                "user": user[:-1].decode("utf-8", "replace")}
    if typ == T_IP_UP and body == 8:
        return {"type": "IP_UP", "ip_local": socket.inet_ntoa(p[:4]),
                "ip_remote": socket.inet_ntoa(p[4:8])}
    if typ == T_READY and body == 0:
        return {"type": "READY"}
    if typ == T_IPV6_UP and body == 16:
        return {"type": "IPV6_UP", "ipv6_local": p[:8].hex(), "ipv6_remote": p[8:].hex()}
    raise ValueError("unexpected type 0x%02x with body %d" % (typ, body))


def hdlc(frame):
    """One RFC 1662 async HDLC frame (flag, escaped frame + FCS-16, flag)."""
    fcs = 0xFFFF
    for b in frame:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    fcs ^= 0xFFFF
    out = bytearray([0x7E])
    for b in bytes(frame) + bytes([fcs & 0xFF, fcs >> 8]):
        if b < 0x20 or b in (0x7D, 0x7E):
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    out.append(0x7E)
    return bytes(out)


# An LCP Configure-Request (RFC 1661 5.1) with a fresh magic number, as a
# peer renegotiating the open link would send it.
LCP_RENEG = bytes.fromhex("ff03c021" "01" "7a" "000a" "0506" "5eed1e55")


def ack(typ):
    return struct.pack(">BBHB", 1, T_ACK, 1, typ)


def start_msg(sid, client, corr):
    """START (plugin-proto.h): three u8-length-prefixed values."""
    body = b"".join(bytes([len(v)]) + v.encode() for v in (sid, client, corr))
    return struct.pack(">BBH", 1, T_START, len(body)) + body


START_VALUES = tuple(kv.split("=", 1)[1] for kv in SCRIPT_SET)   # sid, client, corr


def ifid_bytes(text):
    """'::a:1' -> the 8-byte interface identifier (low 64 bits)."""
    return socket.inet_pton(socket.AF_INET6, text)[8:].hex()

# ---------------------------------------------------------------- the run


class Checks:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def now():
    return time.monotonic()


class Session:
    """Two pppd on two ptys, relayed; the plugin socket answered per mode."""

    def __init__(self, scenario, work, plugin):
        self.scenario, self.work, self.plugin = scenario, work, plugin
        self.msgs = []                      # (time since start, decoded)
        self.raw = []                       # raw datagrams, hex
        self.bad = []                       # undecodable datagrams
        self.procs = {}
        self.exit = {}                      # name -> (status, time since start)
        self.sock = None
        self.sock_closed_at = None
        self.t0 = now()

    def log_path(self, name):
        return os.path.join(self.work, "pppd-%s-%s.log" % (name, self.scenario))

    def open_pty(self):
        master, slave = os.openpty()
        tty.setraw(slave)                   # raw before anyone writes (no echo)
        return master, slave, os.ttyname(slave)

    def spawn(self, name, ns, args, fd3=None):
        open(self.log_path(name), "w").close()  # pppd appends: start empty
        out = open(self.log_path(name) + ".out", "wb")

        def child():
            if fd3 is not None:
                os.dup2(fd3, 3)
                os.set_inheritable(3, True)
        cmd = ["ip", "netns", "exec", ns, PPPD] + args
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             close_fds=False, preexec_fn=child,
                             env=dict(os.environ, SSTP_LEAK_CHECK="1"))
        out.close()
        self.procs[name] = p
        return p

    def ip_up_dump(self):
        """An ip-up script that writes its environment to ip-up.env."""
        path = os.path.join(self.work, "ip-up-dump")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n{ env; echo \"IPUP_ARG6=$6\"; } > %s.tmp && mv %s.tmp %s\n"
                    % ((self.ip_up_env(),) * 3))
        os.chmod(path, 0o755)
        return path

    def ip_up_env(self):
        return os.path.join(self.work, "ip-up.env")

    def common(self, name):
        return ["nodetach", "local", "debug", "logfile", self.log_path(name),
                "lcp-echo-interval", "0", "noccp", "nobsdcomp", "nodeflate",
                "mtu", "1400", "mru", "1400", "nodefaultroute",
                "ip-up-script", "/bin/true", "ip-down-script", "/bin/true"]

    def start(self):
        user, password = USERS[self.scenario]
        self.srv_m, self.srv_s, srv_tty = self.open_pty()
        self.cli_m, self.cli_s, cli_tty = self.open_pty()
        self.sock, pppd_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.spoke = {self.srv_m: False, self.cli_m: False}
        self.held = {self.srv_m: b"", self.cli_m: b""}

        srv = [srv_tty] + self.common("srv") + ["name", SRV_NAME,
                                               "%s:%s" % (SRV_IP, CLI_IP)]
        cli = [cli_tty] + self.common("cli") + ["user", user, "password", password]
        if self.scenario == "noauth":
            srv += ["noauth", "noipv6"]
            cli += ["noauth", "noipdefault", "noipv6"]
        elif self.scenario == "pap":
            srv += ["require-pap", "+ipv6", "ipv6", SRV_IFID + ","]
            cli += ["noauth", "noipdefault", "refuse-eap", "refuse-chap", "refuse-mschap",
                    "refuse-mschap-v2", "+ipv6", "ipv6", CLI_IFID + ","]
        else:
            # The sstpc test client's options (MS-CHAPv2 only), so they are
            # proven against a real MS-CHAPv2 server here.
            srv += ["require-mschap-v2", "noipv6"]
            cli[1:1] = ["file", CLIENT_OPTIONS]
        srv += ["plugin", self.plugin, "sstp-lb-fd", "3"]
        if self.scenario in ("pool", "pooldup"):
            # no ipparam, no `set`: the session's values come in START
            srv += ["sstp-lb-pool", "ip-up-script", self.ip_up_dump()]
        if self.scenario == "mschapv2":
            srv += ["ip-up-script", self.ip_up_dump()] + [a for kv in SCRIPT_SET for a in ("set", kv)]
        self.spawn("srv", "srv", srv, fd3=pppd_end.fileno())
        pppd_end.close()                    # only pppd holds that end now
        self.spawn("cli", "cli", cli)

    def pump(self, until, limit_s, answer=True):
        """Relay and serve the plugin socket until until() or limit_s."""
        end = now() + limit_s
        while not until():
            fds = [self.srv_m, self.cli_m]
            if self.sock_closed_at is None:
                fds.append(self.sock.fileno())
            left = end - now()
            if left <= 0:
                return False
            r, _, _ = select.select(fds, [], [], min(left, 0.05))
            for fd in r:
                if fd == self.sock.fileno():
                    self.serve(answer)
                    continue
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if data:
                    self.relay(fd, data)
            for name, p in self.procs.items():
                if name not in self.exit and p.poll() is not None:
                    self.exit[name] = (p.returncode, now() - self.t0)
        return True

    def relay(self, src, data):
        """Forward src's bytes to the other master. A pppd that has not
        spoken yet may not have put its line discipline on the tty, and
        that switch drops what is queued: hold its bytes until it speaks
        (any server feeding pppd a pty has to do the same)."""
        dst = self.cli_m if src == self.srv_m else self.srv_m
        if not self.spoke[src]:
            self.spoke[src] = True
            if self.held[src]:
                os.write(src, self.held[src])
                self.held[src] = b""
        if self.spoke[dst]:
            os.write(dst, data)
        else:
            self.held[dst] += data

    def serve(self, answer):
        try:
            b = self.sock.recv(513)          # SSTP_PLUGIN_MSG_MAX + 1: spots oversize
        except OSError:
            b = b""
        if not b:                            # pppd's end closed (pppd exited)
            self.sock_closed_at = now() - self.t0
            return
        self.raw.append(b.hex())
        try:
            m = decode(b)
        except ValueError as e:
            self.bad.append("%s: %s" % (b.hex(), e))
            return
        self.msgs.append((round(now() - self.t0, 3), m))
        if not answer or m["type"] == "READY":     # READY is answered by START, by run()
            return
        if self.scenario == "badack" and m["type"] == "AUTH":
            self.sock.send(ack(T_IP_UP))
        else:
            self.sock.send(ack({"AUTH": T_AUTH, "IP_UP": T_IP_UP, "IPV6_UP": T_IPV6_UP}[m["type"]]))

    def got(self, typ):
        return [m for _, m in self.msgs if m["type"] == typ]

    def when(self, typ):
        for t, m in self.msgs:
            if m["type"] == typ:
                return t
        return None

    def stop(self, *names, sig_timeout=5):
        """TERM the named pppd together (they say goodbye to each other
        through the relay), KILL what is left after sig_timeout."""
        procs = [self.procs[n] for n in names]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        self.pump(lambda: all(p.poll() is not None for p in procs), sig_timeout)
        killed = False
        for n, p in zip(names, procs):
            if p.poll() is None:
                p.kill()
                p.wait()
                killed = True
            self.exit.setdefault(n, (p.returncode, now() - self.t0))
        return not killed

    def run(self, args, timeout=20):
        """Run a command while relaying (traffic through the tunnel needs
        the relay). Returns (status, output)."""
        out = open(os.path.join(self.work, "cmd.out"), "w+")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT)
        if not self.pump(lambda: p.poll() is not None, timeout):
            p.kill()
            p.wait()
        out.seek(0)
        text = out.read()
        out.close()
        return p.returncode, text

    def log(self, name):
        try:
            with open(self.log_path(name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def cmd(*args):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=20)


def fd_flags(pid, fd):
    with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    return None


def check_mschapv2(s, c):
    user, password = USERS["mschapv2"]
    auth = s.got("AUTH")
    if not c.check(len(auth) == 1, "exactly one AUTH message (got %d)" % len(auth)):
        return
    a = auth[0]
    c.check(a["auth"] == "mschapv2", "AUTH method mschapv2 (got %s)" % a["auth"])
    c.check(a["keys_set"] == 1, "AUTH keys_set=1 (got %d)" % a["keys_set"])
    c.check(a["user"] == user, "AUTH user %r (got %r)" % (user, a["user"]))

    # The exchange as the server pppd logged it (debug).
    log = s.log("srv")
    chal = re.findall(r'sent \[CHAP Challenge id=0x([0-9a-f]+) <([0-9a-f]+)>, name = "([^"]*)"\]', log)
    resp = re.findall(r'rcvd \[CHAP Response id=0x([0-9a-f]+) <([0-9a-f]+)>, name = "([^"]*)"\]', log)
    succ = re.findall(r'sent \[CHAP Success id=0x([0-9a-f]+) "S=([0-9A-F]{40})', log)
    if not c.check(chal and resp and succ, "server log has CHAP Challenge, Response and Success"):
        return
    sid, s_hex = succ[-1]
    auth_chal = [bytes.fromhex(v) for i, v, _ in chal if i == sid][-1]
    value = [bytes.fromhex(v) for i, v, _ in resp if i == sid][-1]
    c.check(len(auth_chal) == 16 and len(value) == 49,
            "challenge 16 bytes, response value 49 bytes (RFC 2759 4)")
    peer_chal, nt_response = value[:16], value[24:48]
    c.check(authenticator_response(password, nt_response, peer_chal, auth_chal, user) == s_hex,
            "S= recomputed from password + logged challenge/response matches pppd's")

    mk = master_key(password, nt_response)
    k2, k3 = start_key(mk, MAGIC2).hex(), start_key(mk, MAGIC3).hex()
    c.check(a["recv_key"] == k2, "recv_key == K2 (Magic2, server receive) %s" % k2)
    c.check(a["send_key"] == k3, "send_key == K3 (Magic3, server send) %s" % k3)
    print("     HLAK (K2|K3) the backend will build: %s%s" % (k2, k3))


def pool_start(s, c, twice=False):
    """READY, silence on the tty until START, then START (twice: a duplicate)."""
    ok = s.pump(lambda: s.got("READY") or "srv" in s.exit, 15)
    c.check(ok and s.got("READY") and "srv" not in s.exit, "pool member said READY (%.2f s)" % (now() - s.t0))
    c.check(s.msgs and s.msgs[0][1]["type"] == "READY", "READY is the first message")
    s.pump(lambda: False, 0.7)
    c.check(not s.spoke[s.srv_m] and "srv" not in s.exit,
            "no byte on the server's tty in 0.7 s before START (LCP waits)")
    c.check("sent [LCP ConfReq" not in s.log("srv"), "pppd sent no LCP Configure-Request before START")
    s.sock.send(start_msg(*START_VALUES))
    if twice:
        s.sock.send(start_msg(*START_VALUES))
    c.check(len(s.got("READY")) == 1, "one READY only")


def pool_wait_checks(s, c):
    """A pool member ends at once, before LCP, on a malformed START, an ACK
    instead of START, its socket closing, or SIGTERM while it waits."""
    def one(tag, act, want_text):
        m, sl, path = s.open_pty()
        name = "pool-" + tag
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        args = [path] + s.common(name) + ["noauth", "plugin", s.plugin, "sstp-lb-fd", "3", "sstp-lb-pool"]
        p = s.spawn(name, "srv", args, fd3=b.fileno())
        b.close()
        a.settimeout(10)
        try:
            got = a.recv(64)
        except OSError:
            got = b""
        c.check(got == struct.pack(">BBH", 1, T_READY, 0), "%s: READY (got %r)" % (tag, got.hex()))
        t0 = now()
        act(a, p)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        a.close()
        os.close(m)
        os.close(sl)
        log = s.log(name)
        c.check(p.returncode == 1 and want_text in log and now() - t0 < 3,
                "%s: pppd ended in %.2f s, status %s, says %r" % (tag, now() - t0, p.returncode, want_text))
        c.check("sent [LCP ConfReq" not in log, "%s: no LCP before the session" % tag)

    one("bad-start", lambda a, p: a.send(bytes.fromhex("0181000100")), "malformed START")
    one("unsafe-start", lambda a, p: a.send(start_msg("sid;reboot", "1.2.3.4", "")), "malformed START")
    one("ack-not-start", lambda a, p: a.send(ack(T_AUTH)), "malformed START")
    one("closed", lambda a, p: a.shutdown(socket.SHUT_RDWR), "closed the socket before START")
    one("sigterm", lambda a, p: p.terminate(), "stopped before its session")


def read_env(path):
    try:
        with open(path) as f:
            return dict(ln.rstrip("\n").split("=", 1) for ln in f if "=" in ln)
    except OSError:
        return {}


def check_script_env(s, c):
    """pppd 2.4.9 runs ip-up with an environment it builds itself: the
    `set` variables reach it, pppd's own environment does not."""
    path = s.ip_up_env()
    s.pump(lambda: os.path.exists(path), 10)
    try:
        with open(path) as f:
            env = dict(ln.rstrip("\n").split("=", 1) for ln in f if "=" in ln)
    except OSError:
        env = {}
    c.check(env.get("IFNAME") == "ppp0", "ip-up ran with pppd's script environment (IFNAME=%r)"
            % env.get("IFNAME"))
    for kv in SCRIPT_SET:
        k, v = kv.split("=", 1)
        c.check(env.get(k) == v, "ip-up sees %s=%s (got %r)" % (k, v, env.get(k)))
    c.check("SSTP_LEAK_CHECK" not in env, "pppd's own environment does not reach ip-up")


def check_cloexec(s, c):
    """The plugin made its socket close-on-exec (read while pppd runs)."""
    try:
        fl = fd_flags(s.procs["srv"].pid, 3)
    except OSError as e:
        c.check(False, "server pppd fd 3 flags: %s" % e)
        return
    c.check(fl is not None and fl & os.O_CLOEXEC,
            "server pppd holds fd 3 close-on-exec (flags %s)" % (oct(fl) if fl else fl))


def check_ip_up(s, c):
    ip = s.got("IP_UP")
    if not c.check(len(ip) == 1, "exactly one IP_UP message (got %d)" % len(ip)):
        return
    c.check(s.when("AUTH") < s.when("IP_UP"), "AUTH came before IP_UP")
    c.check(ip[0]["ip_local"] == SRV_IP and ip[0]["ip_remote"] == CLI_IP,
            "IP_UP local=%s remote=%s (want %s/%s)" % (ip[0]["ip_local"], ip[0]["ip_remote"],
                                                       SRV_IP, CLI_IP))
    # What the kernel has on the server's ppp0, independently of pppd's globals.
    out = cmd("ip", "-n", "srv", "-j", "addr", "show", "dev", "ppp0").stdout
    try:
        addrs = [a for i in json.loads(out) for a in i.get("addr_info", [])
                 if a.get("family") == "inet"]
    except ValueError:
        addrs = []
    c.check(any(a.get("local") == ip[0]["ip_local"] and a.get("address") == ip[0]["ip_remote"]
                for a in addrs), "kernel srv ppp0 has local %s peer %s" % (SRV_IP, CLI_IP))


def check_ping(s, c):
    rc, out = s.run(["ip", "netns", "exec", "cli", "ping", "-c", "2", "-i", "0.2", "-W", "2",
                     "-q", SRV_IP])
    c.check(rc == 0 and " 2 received" in out, "ping cli -> srv %s through the tunnel" % SRV_IP)


def run(scenario, work, plugin):
    c = Checks()
    self_test()
    c.check(True, "MD4/MS-CHAPv2/MPPE derivations match RFC 1320/2759/3079 vectors")
    s = Session(scenario, work, plugin)
    s.start()
    if scenario in ("pool", "pooldup"):
        pool_start(s, c, twice=scenario == "pooldup")
    if scenario == "pooldup":
        ok = s.pump(lambda: "srv" in s.exit, 20)
        t_auth = s.when("AUTH")
        c.check(ok and t_auth is not None, "AUTH arrived and pppd exited")
        if ok and t_auth is not None:
            status, t_exit = s.exit["srv"]
            c.check(t_exit - t_auth < 2, "pppd exited %.2f s after AUTH (the second START)" % (t_exit - t_auth))
            c.check(status == 1, "pppd exit status 1 (got %s)" % status)
        c.check("malformed reply" in s.log("srv") and "to AUTH" in s.log("srv"),
                "pppd logged the second START as a wrong reply to AUTH")
        c.check(not s.got("IP_UP") and not os.path.exists(s.ip_up_env()), "no IPCP, no ip-up after it")
        s.stop("cli", sig_timeout=0.5)
        pool_wait_checks(s, c)
    if scenario in ("mschapv2", "pap", "noauth", "pool"):
        want = ["AUTH", "IP_UP"] + (["IPV6_UP"] if scenario == "pap" else [])
        ok = s.pump(lambda: all(s.got(t) for t in want) and
                    "local  IP address" in s.log("cli"), 20)
        c.check(ok, "AUTH%s arrived and the client's IPCP is up (%.2f s)" %
                ("".join(", " + t for t in want[1:]), now() - s.t0))
        c.check(not s.bad, "every datagram decoded strictly (bad: %s)" % s.bad)
        c.check("srv" not in s.exit, "server pppd still running")
        check_cloexec(s, c)
        if scenario in ("mschapv2", "pool"):
            check_mschapv2(s, c)
            check_script_env(s, c)
            if scenario == "pool":
                env = read_env(s.ip_up_env())
                c.check(env.get("IPUP_ARG6") == START_VALUES[0],
                        "ip-up's $6 (ipparam) is START's session id (got %r)" % env.get("IPUP_ARG6"))
        elif scenario == "noauth":
            a = s.got("AUTH")
            if c.check(len(a) == 1, "exactly one AUTH message (got %d)" % len(a)):
                c.check(a[0]["auth"] == "none" and a[0]["keys_set"] == 0 and a[0]["user"] == "",
                        "AUTH method none, keys_set=0, user '' (got %s, %d, %r)" %
                        (a[0]["auth"], a[0]["keys_set"], a[0]["user"]))
        else:
            a = s.got("AUTH")
            if c.check(len(a) == 1, "exactly one AUTH message (got %d)" % len(a)):
                c.check(a[0]["auth"] == "pap", "AUTH method pap (got %s)" % a[0]["auth"])
                c.check(a[0]["keys_set"] == 0, "AUTH keys_set=0 (got %d)" % a[0]["keys_set"])
                c.check(a[0]["user"] == USERS["pap"][0], "AUTH user %r" % a[0]["user"])
            v6 = s.got("IPV6_UP")
            if c.check(len(v6) == 1, "exactly one IPV6_UP message"):
                c.check(v6[0]["ipv6_local"] == ifid_bytes(SRV_IFID) and
                        v6[0]["ipv6_remote"] == ifid_bytes(CLI_IFID),
                        "IPV6_UP ids local=%s remote=%s" % (v6[0]["ipv6_local"],
                                                           v6[0]["ipv6_remote"]))
                out = cmd("ip", "-n", "srv", "-6", "-o", "addr", "show", "dev", "ppp0").stdout
                c.check("fe80::a:1" in out, "kernel srv ppp0 has fe80::a:1")
        check_ip_up(s, c)
        check_ping(s, c)
        # The client leaves first (TermReq, the server acks), then the
        # server, which would otherwise sit out LCP's 3 s restart timer.
        t_stop = now()
        n_before = len(s.msgs)
        ok = s.stop("cli") and s.stop("srv")
        c.check(len(s.msgs) == n_before, "no messages at teardown (got %s)" %
                [m["type"] for _, m in s.msgs[n_before:]])
        c.check(ok, "both pppd exited on TERM (status cli %s, srv %s) in %.2f s" %
                (s.exit["cli"][0], s.exit["srv"][0], now() - t_stop))

    elif scenario == "noack":
        s.pump(lambda: s.got("AUTH") or "srv" in s.exit, 20, answer=False)
        if "srv" not in s.exit:
            check_cloexec(s, c)              # pppd is blocked waiting for the ACK
        ok = s.pump(lambda: "srv" in s.exit, AUTH_ACK_TIMEOUT_S + 15, answer=False)
        t_auth = s.when("AUTH")
        c.check(t_auth is not None, "AUTH arrived (at %.2f s)" % (t_auth or -1))
        c.check(ok, "server pppd exited without an ACK")
        if ok and t_auth is not None:
            status, t_exit = s.exit["srv"]
            waited = t_exit - t_auth
            c.check(AUTH_ACK_TIMEOUT_S - 0.5 <= waited <= AUTH_ACK_TIMEOUT_S + 3,
                    "pppd gave up %.2f s after AUTH (timeout %.0f s)" % (waited, AUTH_ACK_TIMEOUT_S))
            c.check(status == 1, "pppd exit status 1 = EXIT_FATAL_ERROR (got %s)" % status)
        log = s.log("srv")
        c.check("no ACK for AUTH from sstp-backend within 10000 ms" in log,
                "pppd logged the missing ACK")
        c.check(not s.got("IP_UP") and "sent [IPCP ConfReq" not in log,
                "IPCP never started (fail closed)")
        s.stop("cli", sig_timeout=0.5)     # its peer is gone: no TermAck will come
        option_checks(s, c)
        radius_checks(s, c)

    elif scenario == "reauth":
        ok = s.pump(lambda: s.got("AUTH") and s.got("IP_UP") and "local  IP address" in s.log("cli"), 20)
        c.check(ok, "MS-CHAPv2 session up (AUTH, IP_UP, client IPCP) in %.2f s" % (now() - s.t0))
        check_ping(s, c)
        n_chal = s.log("srv").count("sent [CHAP Challenge")
        t_inj = now() - s.t0
        os.write(s.srv_m, hdlc(LCP_RENEG))          # as if from the client
        ok = s.pump(lambda: "srv" in s.exit, 15)
        log = s.log("srv")
        c.check(ok, "server pppd ended itself after the renegotiation")
        if ok:
            status, t_exit = s.exit["srv"]
            c.check(status == 1, "pppd exit status 1 = EXIT_FATAL_ERROR from fatal() (got %s)" % status)
            c.check(t_exit - t_inj < 10, "pppd ended %.2f s after the Configure-Request" % (t_exit - t_inj))
        c.check("rcvd [LCP ConfReq id=0x7a" in log, "pppd received the renegotiating Configure-Request")
        c.check("authentication re-entered after the link's authentication was reported" in log,
                "pppd logged the plugin's refusal")
        c.check(log.count("sent [CHAP Challenge") == n_chal,
                "no second CHAP Challenge (no second authentication started)")
        c.check(len(s.got("AUTH")) == 1, "exactly one AUTH report (got %d)" % len(s.got("AUTH")))
        s.stop("cli", sig_timeout=0.5)

    elif scenario == "badack":
        ok = s.pump(lambda: "srv" in s.exit, 15)
        t_auth = s.when("AUTH")
        c.check(ok and t_auth is not None, "AUTH arrived and pppd exited")
        if ok and t_auth is not None:
            status, t_exit = s.exit["srv"]
            c.check(t_exit - t_auth < 2, "pppd exited %.2f s after the wrong ACK" % (t_exit - t_auth))
            c.check(status == 1, "pppd exit status 1 (got %s)" % status)
        c.check("acknowledged IP_UP while AUTH was pending" in s.log("srv"),
                "pppd logged the mismatched ACK")
        c.check(not s.got("IP_UP"), "no IP_UP after the bad ACK")
        s.stop("cli", sig_timeout=0.5)

    with open(os.path.join(work, "plugin-%s.json" % scenario), "w") as f:
        json.dump({"messages": s.msgs, "raw": s.raw, "bad": s.bad,
                   "exit": s.exit}, f, indent=1)
    return c


def option_checks(s, c):
    """pppd must refuse to start with a wrong sstp-lb-fd, and stop at the
    first phase change without one."""
    def one(tag, extra, fd3=None, want_status=2, want_text=""):
        m, sl, path = s.open_pty()
        name = "opt-" + tag
        args = [path] + s.common(name) + ["noauth", "plugin", s.plugin] + extra
        p = s.spawn(name, "srv", args, fd3=fd3)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        os.close(m)
        os.close(sl)
        with open(s.log_path(name) + ".out", errors="replace") as f:
            text = f.read() + s.log(name)
        c.check(p.returncode == want_status and want_text in text,
                "%s: pppd status %s (want %d), says %r" % (tag, p.returncode, want_status, want_text))

    one("fd-not-open", ["sstp-lb-fd", "9"], want_text="the file descriptor is not open")
    r, w = os.pipe()
    one("fd-is-pipe", ["sstp-lb-fd", "3"], fd3=r, want_text="not a SOCK_SEQPACKET socket")
    os.close(r)
    os.close(w)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    one("fd-is-stream", ["sstp-lb-fd", "3"], fd3=a.fileno(), want_text="not a SOCK_SEQPACKET socket")
    a.close()
    b.close()
    one("fd-too-low", ["sstp-lb-fd", "1"], want_text="not a file descriptor number")
    one("no-fd-option", [], want_status=1, want_text="plugin loaded without the sstp-lb-fd option")
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    one("eap-only", ["require-eap", "sstp-lb-fd", "3"], fd3=b.fileno(), want_status=1,
        want_text="EAP is the only authentication pppd.options allows")
    a.close()
    b.close()


def radius_checks(s, c):
    """With pppd's radius.so the plugin names the accounting session after
    `ipparam` (sstp-backend's session id) before LCP starts: both
    attributes when the plugin is loaded first (sstp-backend's order), only
    Acct-Multi-Session-Id when radius.so came first; a non-token ipparam
    is skipped with a notice. Without radius.so nothing is said or added.
    In every case pppd goes on to LCP (no peer: it gives up after one
    Configure-Request) rather than stopping in the plugin. No RADIUS
    server is needed: radius.so reads its config at the first request."""
    sid = SCRIPT_SET[0].split("=", 1)[1]
    cases = [
        ("radius-after", ["plugin", s.plugin, "plugin", "radius.so", "ipparam", sid],
         "sstp-lb: RADIUS accounting: Acct-Session-Id and Acct-Multi-Session-Id = " + sid),
        ("radius-first", ["plugin", "radius.so", "plugin", s.plugin, "ipparam", sid],
         "sstp-lb: RADIUS accounting: radius.so was loaded before sstp-lb's plugin and names "
         "Acct-Session-Id itself; Acct-Multi-Session-Id = " + sid),
        ("radius-bad-ipparam", ["plugin", s.plugin, "plugin", "radius.so", "ipparam", "a,b=c"],
         "sstp-lb: ipparam a,b=c is not an sstp-lb session id"),
        ("no-radius", ["plugin", s.plugin, "ipparam", sid], ""),
    ]
    running = []                        # side by side: each waits ~1.5 s for LCP
    for tag, extra, want in cases:
        m, sl, path = s.open_pty()
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        name = "acct-" + tag
        args = ([path] + s.common(name) + ["noauth", "lcp-max-configure", "1", "lcp-restart", "1"] +
                extra + ["sstp-lb-fd", "3"])
        p = s.spawn(name, "srv", args, fd3=b.fileno())
        b.close()
        running.append((tag, want, name, p, (m, sl), a))
    for tag, want, name, p, fds, a in running:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for fd in fds:
            os.close(fd)
        a.close()
        with open(s.log_path(name) + ".out", errors="replace") as f:
            text = f.read() + s.log(name)
        said = [ln for ln in text.splitlines() if "RADIUS accounting" in ln or "session id" in ln]
        c.check("sent [LCP ConfReq" in text and
                (any(want in ln for ln in said) if want else not said),
                "%s: pppd reached LCP (status %s), sstp-lb said %r" % (tag, p.returncode, said))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("mschapv2", "pap", "noauth", "noack", "badack", "reauth",
                                                 "pool", "pooldup"):
        print(__doc__, file=sys.stderr)
        return 2
    scenario, work, plugin = sys.argv[1:]
    t0 = now()
    c = run(scenario, work, os.path.abspath(plugin))
    print("plugin_test %s: %s: %d checks passed, %d failed (%.2f s)" %
          (scenario, "PASS" if c.failed == 0 else "FAIL", c.passed, c.failed, now() - t0))
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
