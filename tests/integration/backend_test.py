#!/usr/bin/env python3
"""backend_test.py — sstp-backend on loopback, with a fake pppd (no kernel PPP).

Each scenario starts its own sstp-backend (build/asan/sstp-backend when it
exists, else build/sstp-backend; SSTPLB_TEST_BACKEND=path overrides) on free ports,
with lib/fake_pppd.py as pppd, and drives it with lib/sstpclient.py. A
scenario fails on a wrong answer, a missed deadline, a pppd left running or
a zombie, a non-zero exit of the backend, or any sanitizer report in its log.

  tests/integration/backend_test.py [-k SUBSTRING] [-v]
Prints PASS/FAIL per scenario; exits 1 if any failed.
"""
import hashlib
import os
import resource
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import harness as H                      # noqa: E402
import sstpclient as C                   # noqa: E402
from fake_pppd import burst_frame, hdlc_encode as hdlc   # noqa: E402
from harness import check                # noqa: E402

LCP_CONF_REQ = bytes.fromhex("ff03c021010100080506deadbeef")     # magic number option
LCP_ECHO_REQ = bytes.fromhex("ff03c021090200080000abcd")
# an IPv4/UDP packet in a PPP frame, with bytes that need HDLC escaping
# (0x7e, 0x7d, control characters) in its payload
IPV4_FRAME = bytes.fromhex("ff030021" "45000024000040004011" "0000" "0a000002" "0a000001"
                           "1f9000350010" "0000") + bytes([0x7E, 0x7D, 0x00, 0x11, 0x13, 0x20, 0xFF, 0x03])
BIG_IPV4_FRAME = bytes.fromhex("ff030021") + bytes((i * 7) & 0xFF for i in range(1496))

VERBOSE = False


def note(msg):
    if VERBOSE:
        print("    " + msg, flush=True)


def corr():
    return "{%s}" % uuid.uuid4()


class Ctx:
    """One scenario: a work dir, fake pppd options, the backends it started."""

    def __init__(self, root, certs, name):
        self.name = name
        self.work = os.path.join(root, name)
        os.makedirs(self.work)
        self.certs = certs
        self.pd = H.FakePppdDir(self.work)
        self.backends = []

    def cert(self, name):
        return os.path.join(self.certs, name)

    def backend(self, listeners=("tls",), **sections):
        """Starts a backend; `listeners` names the listeners to open; sections
        override the defaults below (short timers, unlimited rate)."""
        ports = {k: H.free_port() for k in listeners}
        cfg = {
            "backend": {"id": "it-" + self.name, "log_level": "debug"},
            "listen": {k: "127.0.0.1:%d" % p for k, p in ports.items()},
            "tls": {"cert": self.cert("server.crt"), "key": self.cert("server.key")},
            "sstp": {"negotiation_timeout": "10s", "abort_timeout": "0.5s", "abort_linger": "0.2s",
                     "disconnect_timeout": "1s", "disconnect_linger": "0.2s",
                     "handshake_timeout": "5s"},
            "pppd": {"path": self.pd.wrapper, "options": self.pd.options,
                     "plugin": "/usr/lib/sstp-lb-test/not-loaded.so", "kill_grace": "1s"},
            "limits": {"per_source_rate": "0"},
        }
        if "proxy" in listeners or "mtls" in listeners:
            cfg["listen"]["proxy_allow"] = "127.0.0.1/32"
        if "mtls" in listeners:
            cfg["tls"]["proxy_ca"] = self.cert("ca.crt")
        for sec, kv in sections.items():
            cfg.setdefault(sec, {}).update(kv)
        for attempt in range(3):
            wdir = os.path.join(self.work, "b%d" % len(self.backends))
            os.makedirs(wdir)
            b = H.Backend(wdir, self.certs, cfg)
            b.ports = ports
            self.backends.append(b)
            try:
                b.start()
                return b
            except H.TestFailure:
                # a free port taken by someone else between the probe and bind
                if "listen_fail" not in b.text() or attempt == 2:
                    raise
                b.stop()
                ports = {k: H.free_port() for k in listeners}
                cfg["listen"].update({k: "127.0.0.1:%d" % p for k, p in ports.items()})

    def client(self, b, listener="tls", **kw):
        tls = listener != "proxy"
        if tls:
            kw.setdefault("cafile", self.cert("ca.crt"))
        return C.SstpClient("127.0.0.1", b.ports[listener], tls=tls, **kw)

    # -- keys --
    def mschap(self, **extra):
        """Fake pppd options for an MS-CHAPv2 login; returns the HLAK a real
        client computes from the same MasterKey."""
        mk = os.urandom(16)
        s_send, s_recv = C.mschapv2_keys(mk, is_server=True)
        c_send, c_recv = C.mschapv2_keys(mk, is_server=False)
        # like pppd, speak first on the tty: the backend holds frames for
        # pppd until then (or for up to a second)
        opts = {"auth": {"method": "mschapv2", "keys_set": 1, "recv_key": s_recv.hex(),
                         "send_key": s_send.hex(), "user": "alice"},
                "write_on_start": [LCP_CONF_REQ.hex()]}
        opts.update(extra)
        self.pd.set(**opts)
        return C.hlak_client_mschapv2(c_send, c_recv)

    def teardown(self, failed):
        errors = []
        for b in self.backends:
            if b.proc is None:
                continue
            pid = b.pid
            if b.proc.poll() is None:
                rc = b.stop()
                if rc != 0:
                    errors.append("backend exit status %r at SIGTERM" % (rc,))
            elif b.rc is None:
                errors.append("backend exited during the scenario (status %r)" % (b.stop(),))
            rep = b.sanitizer_report()
            if rep:
                errors.append("sanitizer report in the backend log:\n" + rep)
            left = H.children_of(pid)
            if left:
                errors.append("processes left behind by backend %d: %s" % (pid, left))
        for r in self.pd.runs():
            if not H.wait_gone(r.pid, 3.0):
                errors.append("fake pppd %d still exists (state %s)" % (r.pid, H.proc_state(r.pid)))
                try:
                    os.kill(r.pid, signal.SIGKILL)
                except OSError:
                    pass
        if (failed or errors) and VERBOSE:
            for b in self.backends:
                print("---- backend log %s ----\n%s" % (b.logpath, b.text()[-6000:]))
        return errors


# ---------------------------------------------------------------- helpers

def start_call(ctx, b, listener="tls", corr_id=None, **kw):
    """TLS/TCP, HTTP 200, CONNECT_REQUEST -> ACK, the fake pppd started.
    Returns (client, fake pppd run)."""
    cid = corr_id or corr()
    c = ctx.client(b, listener, **kw)
    status, hdrs = c.http_handshake(corr_id=cid)
    check(status == 200, "HTTP status %r, want 200" % status)
    check(hdrs.get("content-length") == C.SSTP_CONTENT_LENGTH, "200 without the SSTP Content-Length")
    p = c.sstp_connect()
    check(getattr(p, "msg_type", None) == C.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
    r = ctx.pd.find(cid)
    check(r is not None, "no fake pppd started for the call")
    return c, r


def sid_of(r):
    return r.start["env"]["SSTP_SESSION_ID"]


def auth_gated(r, timeout=5.0):
    """pppd reported AUTH and, the binding being the gate, has no ACK yet:
    the backend acknowledges only after CALL_CONNECTED verified it."""
    check(r.wait_event("plugin_sent", timeout, lambda e: e["type"] == "auth"), "pppd never reported AUTH")
    time.sleep(0.05)
    check(not r.events("plugin_ack"), "AUTH acknowledged before CALL_CONNECTED (the binding is the gate)")


def connect_call(ctx, b, hlak, listener="tls", wait_auth=True, **kw):
    c, r = start_call(ctx, b, listener, **kw)
    if wait_auth:
        auth_gated(r)
    c.call_connected(hlak)
    check(b.wait_log("binding_ok", 5, sid=sid_of(r)), "no ev=binding_ok")
    return c, r


def connect_calls_at_once(ctx, b, hlak, n):
    """N calls whose CALL_CONNECT_REQUESTs go out back to back (each pppd is
    spawned before any call goes on), then each connected and bound."""
    cids = [corr() for _ in range(n)]
    clients = [ctx.client(b) for _ in cids]
    for c, cid in zip(clients, cids):
        check(c.http_handshake(corr_id=cid)[0] == 200, "HTTP status")
    for c in clients:
        p = c.sstp_connect()
        check(getattr(p, "msg_type", None) == C.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
    calls = []
    for c, cid in zip(clients, cids):
        r = ctx.pd.find(cid)
        check(r is not None, "no pppd for a call")
        auth_gated(r)
        c.call_connected(hlak)
        check(b.wait_log("binding_ok", 5, sid=sid_of(r)), "no ev=binding_ok")
        calls.append((c, r))
    return calls


def pppd_rx_report(r, n, timeout):
    """The fake pppd's report of what it received, once it counts n frames
    (None if it does not within timeout s)."""
    def report():
        r.ctl(cmd="report")
        time.sleep(0.1)
        reps = r.events("rx_report")
        return reps[-1] if reps and reps[-1]["frames"] >= n else None
    return H.wait_until(report, timeout, step=0.2)


def expect_status(p, msg_type, attrib_id, status, what):
    check(getattr(p, "msg_type", None) == msg_type,
          "%s: want %s, got %r" % (what, C.MSG_NAMES[msg_type], p))
    st = p.status()
    check(st is not None and st[0] == attrib_id and st[1] == status,
          "%s: want AttribID %d status %d, got %r" % (what, attrib_id, status, st))


def expect_closed_silently(c, timeout, what):
    """The server closes within timeout without sending anything."""
    before = len(c.rbuf)
    check(c.read_closed(timeout), "%s: connection not closed within %.1fs" % (what, timeout))
    check(len(c.rbuf) == before, "%s: server sent %r before closing" % (what, c.rbuf[before:]))


def pppd_terminated(r, timeout=4.0, signal_name="SIGTERM"):
    check(r.wait_event("signal", timeout, lambda e: e["name"] == signal_name),
          "fake pppd %d got no %s" % (r.pid, signal_name))
    check(H.wait_gone(r.pid, timeout), "fake pppd %d still there (state %s)" % (r.pid, H.proc_state(r.pid)))


def raw_tcp(b, listener, timeout=3.0):
    s = socket.create_connection(("127.0.0.1", b.ports[listener]), timeout=timeout)
    s.settimeout(timeout)
    return s


def closed_without_data(s, timeout):
    """True if the peer closes (or resets) within timeout having sent nothing."""
    s.settimeout(timeout)
    try:
        d = s.recv(4096)
    except socket.timeout:
        return False
    except ConnectionError:
        return True
    return d == b""


# ---------------------------------------------------------------- scenarios

TESTS = []


def scenario(fn):
    TESTS.append(fn)
    return fn


@scenario
def s01_direct_mschapv2_relay(ctx):
    hlak = ctx.mschap(ip_up={"local": "10.9.0.1", "remote": "10.9.0.7"}, write_on_start=[LCP_CONF_REQ.hex()])
    b = ctx.backend()
    cid = corr()
    c, r = start_call(ctx, b, corr_id=cid)
    check(c.bitmask == 0x02, "default hash=sha256 must advertise bitmask 0x02, got %r" % c.bitmask)

    # pppd's command line, environment and fds (pppd.h)
    st = r.start
    argv, env, sid = st["argv"], st["env"], sid_of(r)
    want = {"logfd": "2", "file": ctx.pd.options, "plugin": "/usr/lib/sstp-lb-test/not-loaded.so",
            "sstp-lb-fd": "3", "remotenumber": "127.0.0.1", "ipparam": sid}
    got = {k: argv[argv.index(k) + 1] for k in want if k in argv[2:-1]}
    check("nodetach" in argv and got == want, "pppd argv %r" % argv[1:])
    check(argv[1].startswith("/dev/pts/") and st["tty0"] == argv[1], "fd 0 is not the pty slave argv[1]")
    check(env.get("SSTP_CLIENT_ADDR") == "127.0.0.1" and env.get("SSTP_CORRELATION_ID") == cid,
          "pppd env %r" % env)
    check(st["fds"] == [0, 1, 2, 3], "pppd inherited fds %r (want 0-3 only)" % st["fds"])
    check(st["fd3"] == {"family": socket.AF_UNIX, "type": socket.SOCK_SEQPACKET}, "fd 3 is %r" % st["fd3"])
    check(b.find("start", sid=sid, corr=cid), "ev=start without the correlation id")

    # PPP control frames flow before CALL_CONNECTED, data frames do not (gate)
    p = c.recv(3)
    check(not p.is_ctrl and p.payload == LCP_CONF_REQ, "want pppd's LCP Configure-Request, got %r" % (p,))
    c.send(C.data(IPV4_FRAME))
    c.send(C.data(LCP_ECHO_REQ))
    check(r.wait_event("frame", 3, lambda e: e["hex"] == LCP_ECHO_REQ.hex()), "LCP from the client not relayed")
    check(all(f != IPV4_FRAME for f, _ in r.frames()), "IPv4 frame crossed before CALL_CONNECTED")
    r.ctl(cmd="write", frame=IPV4_FRAME.hex())
    r.ctl(cmd="write", frame=LCP_ECHO_REQ.hex())
    got = []
    while True:
        p = c.recv(3)
        check(p is not C.TIMEOUT and p is not C.CLOSED, "pppd's LCP echo never arrived")
        got.append(p)
        if not p.is_ctrl and p.payload == LCP_ECHO_REQ:
            break
    check(all(x.is_ctrl or x.payload != IPV4_FRAME for x in got), "IPv4 frame from pppd crossed before CALL_CONNECTED")

    # crypto binding: pppd's AUTH waits for it (the gate), then goes on to IPCP
    auth_gated(r)
    check(not r.events("plugin_sent")[1:], "IP_UP reported before the binding")
    c.call_connected(hlak)
    check(b.wait_log("binding_ok", 5, sid=sid, user="alice"), "no ev=binding_ok")
    check(r.wait_event("plugin_ack", 5, lambda e: e["acked"] == 1), "AUTH not acknowledged after the binding")
    check(r.wait_event("plugin_ack", 5, lambda e: e["acked"] == 2), "IP_UP not acknowledged")
    check(b.wait_log("ppp_up", 3, sid=sid, remote="10.9.0.7"), "no ev=ppp_up with the address")

    # data both ways, intact, with good FCS on the pty
    c.send(C.data(IPV4_FRAME))
    c.send(C.data(BIG_IPV4_FRAME))
    check(r.wait_event("frame", 3, lambda e: e["hex"] == BIG_IPV4_FRAME.hex()), "big frame not relayed to pppd")
    frames = r.frames()
    check((IPV4_FRAME, True) in frames and (BIG_IPV4_FRAME, True) in frames,
          "frames at pppd not intact or bad FCS: %r" % [(f.hex()[:16], ok) for f, ok in frames])
    r.ctl(cmd="write", frame=IPV4_FRAME.hex())
    r.ctl(cmd="write", frame=BIG_IPV4_FRAME.hex())
    got = []
    deadline = time.monotonic() + 3
    while len(got) < 2 and time.monotonic() < deadline:
        p = c.recv(max(0.0, deadline - time.monotonic()))
        if p is C.TIMEOUT or p is C.CLOSED:
            break
        if not p.is_ctrl and p.payload in (IPV4_FRAME, BIG_IPV4_FRAME):
            got.append(p.payload)
    check(got == [IPV4_FRAME, BIG_IPV4_FRAME], "client got %d of 2 data frames from pppd" % len(got))

    # client disconnect
    c.send(C.call_disconnect())
    p = c.recv_ctrl(3)
    check(getattr(p, "msg_type", None) == C.CALL_DISCONNECT_ACK, "want DISCONNECT_ACK, got %r" % (p,))
    check(c.read_closed(3), "connection not closed after the disconnect linger")
    pppd_terminated(r)
    check(b.wait_log("close", 3, sid=sid, term="--", rc="OK"), "no clean ev=close")
    c.close()


@scenario
def s02_early_call_connected(ctx):
    hlak = ctx.mschap(auth_delay=1.0)
    b = ctx.backend()
    c, r = start_call(ctx, b)
    sid = sid_of(r)
    c.call_connected(hlak)           # before pppd reported anything
    p = c.recv_ctrl(0.5)
    check(p is C.TIMEOUT, "early CALL_CONNECTED answered with %r (must be deferred)" % (p,))
    check(not r.events("plugin_sent"), "fake pppd reported too early for the test to mean anything")
    check(b.wait_log("binding_ok", 4, sid=sid), "deferred binding never validated")
    e_auth = r.wait_event("plugin_sent", 1)
    check(e_auth and e_auth["t"] >= 0.9, "AUTH sent at %r" % (e_auth,))
    c.send(C.data(IPV4_FRAME))
    check(r.wait_event("frame", 3, lambda e: e["hex"] == IPV4_FRAME.hex() and e["fcs_ok"]),
          "data not relayed after the deferred binding")
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)


@scenario
def s03_pap_zero_hlak(ctx):
    b = ctx.backend()
    zero = b"\0" * 32
    ctx.pd.set(auth={"method": "pap", "keys_set": 0, "user": "bob"})
    c, r = connect_call(ctx, b, zero)
    check(b.find("auth_ok", sid=sid_of(r), method="pap", keys="0"), "no ev=auth_ok method=pap")
    # PAP via RADIUS may still carry MPPE keys: the HLAK follows the method (zeros)
    ctx.pd.set(auth={"method": "pap", "keys_set": 1, "recv_key": os.urandom(16).hex(),
                     "send_key": os.urandom(16).hex(), "user": "carol"})
    c2, r2 = connect_call(ctx, b, zero)
    for cl, rr in ((c, r), (c2, r2)):
        cl.send(C.call_disconnect())
        check(getattr(cl.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
        pppd_terminated(rr)


def binding_failure(ctx, b, hlak, cert_der, want_rc, answer_abort):
    c, r = start_call(ctx, b)
    sid = sid_of(r)
    auth_gated(r)
    c.call_connected(hlak, cert_der=cert_der)
    p = c.recv_ctrl(3)
    expect_status(p, C.CALL_ABORT, C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED, "bad binding")
    check(b.wait_log("binding_fail", 3, sid=sid, rc=want_rc), "no ev=binding_fail rc=%s" % want_rc)
    if answer_abort:
        c.send(C.call_abort())
    t0 = time.monotonic()
    check(c.read_closed(3), "not closed after the abort")
    note("closed %.2fs after the abort (answered=%s)" % (time.monotonic() - t0, answer_abort))
    pppd_terminated(r)
    c.close()


@scenario
def s04_wrong_cert_hash(ctx):
    hlak = ctx.mschap()
    b = ctx.backend()
    other = H.der_of(ctx.cert("offload.crt"))
    binding_failure(ctx, b, hlak, other, "E_BIND_CERT_HASH", answer_abort=True)
    check(b.stats()["binding_fail"] == 1, "binding_fail counter")


@scenario
def s05_wrong_mac(ctx):
    ctx.mschap()
    b = ctx.backend()
    wrong = C.hlak_client_mschapv2(*C.mschapv2_keys(os.urandom(16), is_server=False))
    binding_failure(ctx, b, wrong, None, "E_BIND_MAC", answer_abort=False)
    # a PAP client (zero HLAK) against MS-CHAPv2 keys fails the same way
    binding_failure(ctx, b, b"\0" * 32, None, "E_BIND_MAC", answer_abort=True)
    # a deferred CALL_CONNECTED (sent before the keys) is checked when they come
    ctx.mschap(auth_delay=0.5)
    c, r = start_call(ctx, b)
    c.call_connected(wrong)
    t0 = time.monotonic()
    p = c.recv_ctrl(3)
    expect_status(p, C.CALL_ABORT, C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED, "deferred bad MAC")
    check(time.monotonic() - t0 >= 0.3, "deferred binding judged before the keys came")
    check(b.wait_log("binding_fail", 3, sid=sid_of(r), rc="E_BIND_MAC"), "no binding_fail E_BIND_MAC")
    pppd_terminated(r)


@scenario
def s06_hash_sha1(ctx):
    hlak = ctx.mschap()
    b = ctx.backend(sstp={"hash": "sha1"})
    c, r = start_call(ctx, b)
    check(c.bitmask == 0x01, "hash=sha1 must advertise bitmask 0x01, got %r" % c.bitmask)
    auth_gated(r)
    msg = c.call_connected(hlak)
    check(msg[15] == C.HASH_SHA1 and msg[68:80] == b"\0" * 12, "client did not build a SHA-1 binding")
    check(b.wait_log("binding_ok", 5, sid=sid_of(r)), "SHA-1 binding failed")
    # SHA-256 where only SHA-1 was offered is refused
    c2, r2 = start_call(ctx, b)
    auth_gated(r2)
    c2.call_connected(hlak, hash_proto=C.HASH_SHA256)
    expect_status(c2.recv_ctrl(3), C.CALL_ABORT, C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED, "unoffered hash")
    check(b.wait_log("binding_fail", 3, sid=sid_of(r2), rc="E_BIND_HASH_PROTO"), "no binding_fail E_BIND_HASH_PROTO")
    b2 = ctx.backend(sstp={"hash": "both"})
    c3, r3 = start_call(ctx, b2)
    check(c3.bitmask == 0x03, "hash=both must advertise 0x03, got %r" % c3.bitmask)
    auth_gated(r3)
    c3.call_connected(hlak, hash_proto=C.HASH_SHA1)
    check(b2.wait_log("binding_ok", 5, sid=sid_of(r3)), "SHA-1 binding with hash=both failed")
    for cl in (c, c3):
        cl.send(C.call_disconnect())
        check(getattr(cl.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")


@scenario
def s07_proxy_tlvs(ctx):
    hlak = ctx.mschap()
    # the backend's own certificate is backend.crt; clients saw server.crt at the proxy
    b = ctx.backend(listeners=("tls", "proxy", "mtls"), sstp={"hash": "both"},
                    tls={"cert": ctx.cert("backend.crt"), "key": ctx.cert("backend.key")})
    front = H.der_of(ctx.cert("server.crt"))
    own = H.der_of(ctx.cert("backend.crt"))
    tlvs = [C.tlv(C.PP2_CERT_SHA256, C.cert_hash(front, 2)), C.tlv(C.PP2_CERT_SHA1, C.cert_hash(front, 1))]

    def hdr(uid):
        return C.proxy_v2("203.0.113.7", "198.51.100.10", 51234, 443,
                          [C.tlv(C.PP2_UNIQUE_ID, uid.encode())] + tlvs)

    for hp in (C.HASH_SHA256, C.HASH_SHA1):
        uid = "px%d-%s" % (hp, uuid.uuid4().hex[:12])
        c, r = start_call(ctx, b, "proxy", pre=hdr(uid))
        st = r.start
        check(sid_of(r) == uid and st["argv"][st["argv"].index("ipparam") + 1] == uid,
              "sid %r is not the UNIQUE_ID %r" % (sid_of(r), uid))
        check(st["env"]["SSTP_CLIENT_ADDR"] == "203.0.113.7" and
              st["argv"][st["argv"].index("remotenumber") + 1] == "203.0.113.7",
              "pppd does not see the PROXY source address: %r" % st["env"])
        check(b.find("start", sid=uid, client="203.0.113.7:51234"), "ev=start lacks the proxy sid/client")
        auth_gated(r)
        c.call_connected(hlak, hash_proto=hp, cert_der=front)
        check(b.wait_log("binding_ok", 5, sid=uid), "binding against the TLV hash (proto %d) failed" % hp)
        # the line names the hash it matched: the front certificate's, not its own
        key = "cert_sha256" if hp == C.HASH_SHA256 else "cert_sha1"
        logged = b.find("binding_ok", sid=uid).get(key)
        check(logged == C.cert_hash(front, hp).hex() and logged != C.cert_hash(own, hp).hex(),
              "binding_ok %s=%r, the front certificate's is %s" % (key, logged, C.cert_hash(front, hp).hex()))
        c.send(C.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")

    # a UNIQUE_ID that is not a plain token never reaches pppd (ipparam and
    # the scripts' SSTP_SESSION_ID): the backend keeps its own id, counted
    c, r = start_call(ctx, b, "proxy", pre=hdr("a b=c\nd\"e$(id)"))
    sid = sid_of(r)
    argv = r.start["argv"]
    check(len(sid) == 16 and all(ch in "0123456789abcdef" for ch in sid) and
          argv[argv.index("ipparam") + 1] == sid and "SSTP_SESSION_ID=" + sid in argv,
          "unsafe UNIQUE_ID reached pppd: sid %r argv %r" % (sid, argv))
    check(b.wait_log("unsafe_id", 3, what="proxy_session_id"), "no ev=unsafe_id what=proxy_session_id")
    check(b.find("start", sid=sid), "ev=start with the backend's own sid")
    check(b.stats()["unsafe_ids"] == 1, "unsafe_ids counter")
    c.kill()
    pppd_terminated(r)

    # a client that MACs the backend's own certificate hash fails behind the proxy
    uid = "own-" + uuid.uuid4().hex[:8]
    c, r = start_call(ctx, b, "proxy", pre=hdr(uid))
    auth_gated(r)
    c.call_connected(hlak, cert_der=own)
    expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED, "own cert via proxy")
    check(b.wait_log("binding_fail", 3, sid=uid, rc="E_BIND_CERT_HASH"), "no binding_fail")
    pppd_terminated(r)

    # and the proxy's hash is not accepted on the direct listener (own cert only)
    c, r = start_call(ctx, b, "tls")
    auth_gated(r)
    check(C.cert_hash(c.cert_der, 2) == C.cert_hash(own, 2), "direct listener does not present tls.cert")
    c.call_connected(hlak, cert_der=front)
    expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED, "front cert direct")
    pppd_terminated(r)

    # mTLS listener: proxy client certificate, PROXY v2 inside TLS
    uid = "mtls-" + uuid.uuid4().hex[:8]
    c, r = start_call(ctx, b, "mtls", inner=hdr(uid), sni="backend",
                      certfile=ctx.cert("proxy-client.crt"), keyfile=ctx.cert("proxy-client.key"))
    check(sid_of(r) == uid and r.start["env"]["SSTP_CLIENT_ADDR"] == "203.0.113.7", "mtls: sid/addr from PROXY")
    auth_gated(r)
    c.call_connected(hlak, cert_der=front)
    check(b.wait_log("binding_ok", 5, sid=uid), "mtls binding against the TLV hash failed")
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    # the proxy never resumes: the mtls listener sends no session ticket (TLS 1.3 sends them
    # after the handshake; the call's reads since then took any)
    check(c.sock.version() != "TLSv1.3" or not c.sock.session.has_ticket, "mtls listener sent a ticket")
    # mTLS without a client certificate is refused in the handshake
    fails = b.stats()["tls_fail"]
    try:
        c = ctx.client(b, "mtls", sni="backend")
        c.send(hdr("nocert"))
        check(c.read_closed(3), "mTLS without a client certificate was not refused")
    except (ssl.SSLError, ConnectionError):
        pass
    check(H.wait_until(lambda: b.stats()["tls_fail"] == fails + 1, 3), "tls_fail not counted")


@scenario
def s08_proxy_trusted_hash_fallback(ctx):
    hlak = ctx.mschap()
    offload = H.der_of(ctx.cert("offload.crt"))
    other = H.der_of(ctx.cert("server-rsa.crt"))
    h256 = C.cert_hash(offload, 2).hex()
    b = ctx.backend(listeners=("proxy",), sstp={"trusted_cert_hash": [C.cert_hash(other, 2).hex(), h256]})
    for pre in (C.proxy_v2("192.0.2.44", "192.0.2.1", 4000, 443),
                C.proxy_v1("192.0.2.45", "192.0.2.1", 4001, 443)):
        c, r = start_call(ctx, b, "proxy", pre=pre)
        check(r.start["env"]["SSTP_CLIENT_ADDR"] in ("192.0.2.44", "192.0.2.45"), "PROXY address not used")
        auth_gated(r)
        c.call_connected(hlak, cert_der=offload)
        check(b.wait_log("binding_ok", 5, sid=sid_of(r)), "trusted_cert_hash not used without TLVs")
        c.send(C.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    # no TLVs and no trusted hashes: every binding fails, it is never skipped
    b2 = ctx.backend(listeners=("proxy",))
    for der in (offload, b"\0" * 0):
        c, r = start_call(ctx, b2, "proxy", pre=C.proxy_v2("192.0.2.46", "192.0.2.1", 4002, 443))
        auth_gated(r)
        if der:
            c.call_connected(hlak, cert_der=der)
        else:
            c.call_connected(hlak, chash=b"\0" * 32)
        expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED,
                      "no trusted hash")
        check(b2.wait_log("binding_fail", 3, sid=sid_of(r), rc="E_BIND_CERT_HASH"), "no binding_fail")
        c.send(C.call_abort())
        pppd_terminated(r)


@scenario
def s09_untrusted_source_and_misplaced_proxy(ctx):
    b = ctx.backend(listeners=("tls", "proxy"), listen={"proxy_allow": "10.0.0.0/8"})
    s = raw_tcp(b, "proxy")
    s.sendall(C.proxy_v2("203.0.113.9", "198.51.100.10", 1000, 443))
    check(closed_without_data(s, 3), "untrusted source not refused")
    s.close()
    check(b.wait_log("refuse", 3, reason="untrusted_source"), "no ev=refuse reason=untrusted_source")
    # PROXY headers on the direct TLS listener (v2 and v1, inside TLS)
    for hdr in (C.proxy_v2("203.0.113.9", "198.51.100.10", 1000, 443), C.proxy_v1("203.0.113.9", "1.2.3.4", 5, 443)):
        c = ctx.client(b)
        c.send(hdr + b"SSTP_DUPLEX_POST " + C.SSTP_URI.encode() + b" HTTP/1.1\r\n")
        expect_closed_silently(c, 3, "PROXY header on the direct listener")
        c.close()
    check(b.wait_log("refuse", 3, reason="proxy_header_on_direct_listener"), "no proxy_header_on_direct_listener")
    st = b.stats()
    check(st["refused_untrusted"] == 1 and st["refused_proxy_header"] == 2,
          "counters untrusted=%d proxy_header=%d, want 1 and 2" % (st["refused_untrusted"], st["refused_proxy_header"]))
    check(st["pppd_spawned"] == 0 and st["started"] == 0, "sessions started from refused connections")
    # a trusted proxy source that sends no PROXY header is dropped too
    b2 = ctx.backend(listeners=("proxy",))
    s = raw_tcp(b2, "proxy")
    s.sendall(b"SSTP_DUPLEX_POST " + C.SSTP_URI.encode() + b" HTTP/1.1\r\n\r\n")
    check(closed_without_data(s, 3), "proxy listener accepted a connection without a PROXY header")
    s.close()
    check(b2.wait_log("proxy_reject", 3, rc="E_PP_SIGNATURE"), "no ev=proxy_reject rc=E_PP_SIGNATURE")
    # our certificate TLV with a wrong length: the header is refused
    s = raw_tcp(b2, "proxy")
    s.sendall(C.proxy_v2("203.0.113.9", "198.51.100.10", 1000, 443, [C.tlv(C.PP2_CERT_SHA256, bytes(31))]))
    check(closed_without_data(s, 3), "PROXY header with a 31-byte 0xE8 TLV accepted")
    s.close()
    check(b2.wait_log("proxy_reject", 3, rc="E_PP_V2_OUR_TLV"), "no ev=proxy_reject rc=E_PP_V2_OUR_TLV")


@scenario
def s10_http_rejects(ctx):
    b = ctx.backend(sstp={"max_head": "1024"})
    uri = C.SSTP_URI
    cases = [
        ("wrong method", dict(method="POST"), 405),
        ("wrong URI", dict(uri="/index.html"), 404),
        ("HTTP/1.0", dict(version="HTTP/1.0"), 505),
        ("no Content-Length", dict(content_length=None), 411),
        ("Content-Length 0", dict(content_length="0"), 400),
        ("no Host", dict(host=None), 400),
        ("head too long", dict(extra=["X-Pad: " + "a" * 1100]), 400),
    ]
    for what, kw, want in cases:
        c = ctx.client(b)
        c.http_request(**kw)
        status, hdrs = c.read_http_response(3)
        check(status == want, "%s: status %r, want %d" % (what, status, want))
        check(hdrs.get("content-length") == "0" and hdrs.get("connection", "").lower() == "close",
              "%s: error answer headers %r" % (what, hdrs))
        if want == 405:
            check("SSTP_DUPLEX_POST" in hdrs.get("allow", ""), "405 without Allow")
        check(c.read_closed(3), "%s: connection not closed after the error" % what)
        c.close()
    # HEAD probe: 200, closed, no session
    c = ctx.client(b)
    c.send(("HEAD %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % uri).encode())
    status, hdrs = c.read_http_response(3)
    check(status == 200 and hdrs.get("content-length") == "0", "HEAD probe answered %r %r" % (status, hdrs))
    check(c.read_closed(3), "probe connection not closed")
    # no SNI, TLS 1.2 only: still served
    c = ctx.client(b, sni=None, max_version=ssl.TLSVersion.TLSv1_2)
    check(c.sock.version() == "TLSv1.2", "negotiated %s" % c.sock.version())
    c.http_request(method="POST")
    check(c.read_http_response(3)[0] == 405, "no-SNI TLS 1.2 client not served")
    check(b.wait_log("http_reject", 3, status="405", rc="E_HTTP_METHOD"), "no ev=http_reject")
    # TLS 1.1 is refused in the handshake
    before = b.stats()["tls_fail"]
    refused = False
    try:
        c = ctx.client(b, max_version=ssl.TLSVersion.TLSv1_1)
        refused = c.read_closed(2)
    except (ssl.SSLError, ConnectionError) as e:
        refused = True
        note("TLS 1.1: %s" % e)
    check(refused, "TLS 1.1 client was served")
    check(H.wait_until(lambda: b.stats()["tls_fail"] == before + 1, 3), "TLS 1.1 refusal not counted as tls_fail")
    st = b.stats()
    check(st["pppd_spawned"] == 0 and st["started"] == 0 and st["probes"] == 1,
          "spawned=%d started=%d probes=%d" % (st["pppd_spawned"], st["started"], st["probes"]))
    check(not ctx.pd.runs(), "a pppd was started by a rejected request")


@scenario
def s11_timers(ctx):
    hlak = ctx.mschap()
    b = ctx.backend(sstp={"negotiation_timeout": "1s", "hello_interval": "1s", "handshake_timeout": "1s"})
    # (a) no CONNECT_REQUEST
    c = ctx.client(b)
    check(c.http_handshake(corr_id=corr())[0] == 200, "no 200")
    t0 = time.monotonic()
    p = c.recv_ctrl(3)
    expect_status(p, C.CALL_ABORT, C.A_STATUS_INFO, C.ST_NEGOTIATION_TIMEOUT, "no CONNECT_REQUEST")
    dt = time.monotonic() - t0
    check(0.7 <= dt <= 2.0, "negotiation abort after %.2fs, want ~1s" % dt)
    check(c.read_closed(3), "not closed after the negotiation abort")
    # (b) no CALL_CONNECTED
    ctx.pd.set(auth=None)
    c, r = start_call(ctx, b)
    t0 = time.monotonic()
    expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_STATUS_INFO, C.ST_NEGOTIATION_TIMEOUT, "no CALL_CONNECTED")
    check(time.monotonic() - t0 <= 2.0, "negotiation abort too late")
    check(c.read_closed(3), "not closed")
    pppd_terminated(r)
    # (b2) CALL_CONNECTED waiting for keys that never come
    c, r = start_call(ctx, b)
    c.call_connected(hlak)
    expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_STATUS_INFO, C.ST_NEGOTIATION_TIMEOUT, "keys never came")
    check(b.wait_log("binding_fail", 3, sid=sid_of(r), rc="E_FSM_TIMEOUT"), "no binding_fail E_FSM_TIMEOUT")
    pppd_terminated(r)
    # (c) hello: the backend probes an idle call and keeps it while answered
    hlak = ctx.mschap()
    c, r = connect_call(ctx, b, hlak)
    sid = sid_of(r)
    echoes = 0
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        p = c.recv(max(0.05, deadline - time.monotonic()))
        if p is C.TIMEOUT:
            break
        check(p is not C.CLOSED and p.msg_type in (C.ECHO_REQUEST, None), "idle call got %r" % (p,))
        if p.msg_type == C.ECHO_REQUEST:
            echoes += 1
            c.send(C.echo_response())
    check(echoes >= 2, "%d ECHO_REQUESTs in 3.5s with hello_interval=1s" % echoes)
    check(not b.find("close", sid=sid), "answered call was closed")
    # (e) the client's ECHO_REQUEST is answered
    c.send(C.echo_request())
    p = c.recv_ctrl(2, answer_echo=True)
    check(getattr(p, "msg_type", None) == C.ECHO_RESPONSE, "client echo answered with %r" % (p,))
    # (d) stop answering: aborted within two intervals
    t0 = time.monotonic()
    p = c.recv_ctrl(4, answer_echo=False)
    check(getattr(p, "msg_type", None) == C.ECHO_REQUEST, "want ECHO_REQUEST, got %r" % (p,))
    p = c.recv_ctrl(3, answer_echo=False)
    expect_status(p, C.CALL_ABORT, C.A_STATUS_INFO, C.ST_NEGOTIATION_TIMEOUT, "hello timeout")
    check(c.read_closed(2), "not closed after the hello timeout")
    check(time.monotonic() - t0 <= 3.5, "hello abort took %.2fs" % (time.monotonic() - t0))
    check(b.wait_log("close", 3, sid=sid, rc="E_FSM_HELLO_TIMEOUT"), "no close rc=E_FSM_HELLO_TIMEOUT")
    pppd_terminated(r)
    # echo in Call_Connected_Pending is answered too (lenient by design)
    ctx.pd.set(auth=None)
    c, r = start_call(ctx, b)
    c.send(C.echo_request())
    check(getattr(c.recv_ctrl(2, answer_echo=False), "msg_type", None) == C.ECHO_RESPONSE,
          "echo in Call_Connected_Pending not answered")
    c.kill()
    pppd_terminated(r)
    # (f) handshake timeout: TCP only, and TLS with half a request head
    hs = b.stats()["handshake_timeout"]
    s = raw_tcp(b, "tls")
    t0 = time.monotonic()
    check(closed_without_data(s, 3), "silent TCP connection not closed")
    check(time.monotonic() - t0 <= 2.0, "handshake timeout took %.2fs" % (time.monotonic() - t0))
    s.close()
    c = ctx.client(b)
    c.send(b"SSTP_DUPLEX_POST " + C.SSTP_URI.encode() + b" HTTP/1.1\r\nHost: x\r\n")
    expect_closed_silently(c, 3, "half a request head")
    check(H.wait_until(lambda: b.stats()["handshake_timeout"] == hs + 2, 3), "handshake_timeout counter")


@scenario
def s12_pppd_exits(ctx):
    hlak = ctx.mschap()
    b = ctx.backend()
    for answer in (True, False):
        c, r = connect_call(ctx, b, hlak)
        sid = sid_of(r)
        r.ctl(cmd="exit", code=0)
        p = c.recv_ctrl(3)
        expect_status(p, C.CALL_DISCONNECT, C.A_NO_ERROR, C.ST_NO_ERROR, "pppd exited")
        check(b.wait_log("pppd_exit", 3, sid=sid, status="0"), "no ev=pppd_exit status=0")
        t0 = time.monotonic()
        if answer:
            c.send(C.disconnect_ack())
        check(c.read_closed(3), "not closed after CALL_DISCONNECT")
        dt = time.monotonic() - t0
        if answer:
            check(dt < 0.5, "DISCONNECT_ACK did not close at once (%.2fs)" % dt)
        else:
            check(0.7 <= dt <= 2.0, "unanswered disconnect closed after %.2fs, want disconnect_timeout=1s" % dt)
        check(b.wait_log("close", 3, sid=sid), "no ev=close")
        check(H.wait_gone(r.pid, 2), "fake pppd not reaped")


@scenario
def s13_client_killed(ctx):
    hlak = ctx.mschap()
    b = ctx.backend()
    c, r = connect_call(ctx, b, hlak)
    c.kill()
    pppd_terminated(r, 3)
    check(b.wait_log("close", 3, sid=sid_of(r), rc="E_FSM_TRANSPORT_LOST"), "no close rc=E_FSM_TRANSPORT_LOST")
    # before CALL_CONNECTED too
    c, r = start_call(ctx, b)
    c.kill()
    pppd_terminated(r, 3)
    # a pppd that ignores SIGTERM is killed after kill_grace (1s) and reaped
    hlak = ctx.mschap(ignore_sigterm=True)
    c, r = connect_call(ctx, b, hlak)
    t0 = time.monotonic()
    c.kill()
    check(r.wait_event("signal", 3, lambda e: e["name"] == "SIGTERM" and e["ignored"]), "no SIGTERM")
    check(H.wait_gone(r.pid, 4), "pppd ignoring SIGTERM still there (state %s)" % H.proc_state(r.pid))
    dt = time.monotonic() - t0
    check(0.8 <= dt <= 3.0, "SIGKILL after %.2fs, want kill_grace=1s" % dt)
    check(not r.events("exit"), "the fake pppd exited by itself")
    check(b.wait_log("pppd_kill", 2, sid=sid_of(r)), "no ev=pppd_kill")
    check(b.wait_log("pppd_exit", 2, sid=sid_of(r), signal="9"), "no ev=pppd_exit signal=9")
    check(not H.children_of(b.pid), "backend children left: %s" % H.children_of(b.pid))
    check(b.stats()["pppd_killed"] == 1, "pppd_killed counter")


@scenario
def s43_client_close_term_letters(ctx):
    """The close line's term says the phase the client left in: a call that
    bound (Call_Connected) and was then closed by the client ended in the
    data phase (CD), whether with a FIN or a reset; one closed before its
    CALL_CONNECTED ended in set-up/authentication (CA)."""
    hlak = ctx.mschap()
    b = ctx.backend()
    c, r = connect_call(ctx, b, hlak)
    c.close()
    pppd_terminated(r, 3)
    check(b.wait_log("close", 3, sid=sid_of(r), term="CD"),
          "connected call closed by the client: %r, want term=CD" % b.find("close", sid=sid_of(r)))
    c, r = connect_call(ctx, b, hlak)
    c.kill()
    pppd_terminated(r, 3)
    check(b.wait_log("close", 3, sid=sid_of(r), term="CD"),
          "connected call reset by the client: %r, want term=CD" % b.find("close", sid=sid_of(r)))
    c, r = start_call(ctx, b)
    c.close()
    pppd_terminated(r, 3)
    check(b.wait_log("close", 3, sid=sid_of(r), term="CA"),
          "call closed before CALL_CONNECTED: %r, want term=CA" % b.find("close", sid=sid_of(r)))


@scenario
def s14_sigterm_with_sessions(ctx):
    hlak = ctx.mschap()
    b = ctx.backend()
    calls = connect_calls_at_once(ctx, b, hlak, 3)
    calls.append(start_call(ctx, b))          # still before CALL_CONNECTED
    idle = raw_tcp(b, "tls")                  # still in its TLS handshake
    t0 = time.monotonic()
    b.proc.send_signal(signal.SIGTERM)
    for i, (c, r) in enumerate(calls):
        p = c.recv_ctrl(3)
        expect_status(p, C.CALL_DISCONNECT, C.A_NO_ERROR, C.ST_NO_ERROR, "shutdown, call %d" % i)
        if i != 2:                            # the third never answers
            c.send(C.disconnect_ack())
    check(closed_without_data(idle, 2), "handshaking connection not closed at shutdown")
    try:
        socket.create_connection(("127.0.0.1", b.ports["tls"]), timeout=1).close()
        check(False, "listener still accepts after SIGTERM")
    except ConnectionRefusedError:
        pass
    try:
        rc = b.proc.wait(8)
    except Exception:
        rc = None
    dt = time.monotonic() - t0
    check(rc == 0, "backend exit status %r" % (rc,))
    check(dt <= 5.0, "shutdown took %.2fs (deadline disconnect_timeout+kill_grace+2 = 4s)" % dt)
    for c, r in calls:
        pppd_terminated(r, 1)
        check(c.read_closed(1), "client connection not closed")
    b.stop()
    check(b.find("exit", status="0"), "no ev=exit status=0")


@scenario
def s15_limits(ctx):
    hlak = ctx.mschap()
    b = ctx.backend(limits={"max_sessions": "2", "per_source_rate": "0"})
    c1, r1 = connect_call(ctx, b, hlak)
    c2, r2 = start_call(ctx, b)
    s = raw_tcp(b, "tls")
    check(closed_without_data(s, 2), "third connection not refused at max_sessions=2")
    s.close()
    check(b.wait_log("refuse", 2, reason="max_sessions"), "no ev=refuse reason=max_sessions")
    # a freed slot is usable again
    c2.kill()
    pppd_terminated(r2)
    check(b.wait_log("close", 3, sid=sid_of(r2)), "second call not freed")
    c3, r3 = connect_call(ctx, b, hlak)
    st = b.stats()
    check(st["refused_max_sessions"] == 1 and st["sessions"] == 2,
          "refused_max_sessions=%d sessions=%d" % (st["refused_max_sessions"], st["sessions"]))
    for c in (c1, c3):
        c.send(C.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")

    # max_negotiating: a second connection still before CALL_CONNECTED is refused
    b2 = ctx.backend(limits={"max_negotiating": "1", "per_source_rate": "0"})
    s1 = raw_tcp(b2, "tls")
    time.sleep(0.1)
    s2 = raw_tcp(b2, "tls")
    check(closed_without_data(s2, 2), "second negotiating connection not refused")
    check(b2.wait_log("refuse", 2, reason="max_negotiating"), "no reason=max_negotiating")
    s1.close()
    s2.close()

    # per_source_rate: a burst of 2, 1/s; six connections at once. Those
    # over the rate read a 503 with Retry-After (issue 13), not a bare close
    b3 = ctx.backend(limits={"per_source_rate": "1", "per_source_burst": "2"})
    clients = [ctx.client(b3, "tls") for _ in range(6)]
    answers = [c.http_handshake(corr_id=corr()) for c in clients]
    refused = sum(1 for status, hdrs in answers if status == 503 and hdrs.get("retry-after"))
    check(refused + sum(1 for status, _ in answers if status == 200) == 6, "answers %r" % answers)
    for c in clients:
        c.close()
    st = b3.stats()
    note("rate: refused %d of 6; stats %r" % (refused, {k: st[k] for k in ("refused_rate",)}))
    check(refused >= 3, "only %d of 6 connections refused with burst 2" % refused)
    check(st["refused_rate"] == refused, "refused_rate=%d but the client saw %d refusals" % (st["refused_rate"], refused))
    check(b3.find("refuse", reason="per_source_rate"), "no reason=per_source_rate")


@scenario
def s16_fd_and_child_leaks(ctx):
    # pppd here is a shell that sleeps: 200 sessions must not wait for Python
    sh = os.path.join(ctx.work, "sleep-pppd")
    with open(sh, "w") as f:
        f.write("#!/bin/sh\nexec sleep 30\n")
    os.chmod(sh, 0o755)
    b = ctx.backend(pppd={"path": sh}, sstp={"disconnect_linger": "0.1s"})
    n = 200

    def one():
        c = ctx.client(b)
        status, _ = c.http_handshake()
        check(status == 200, "status %r" % status)
        p = c.sstp_connect()
        check(getattr(p, "msg_type", None) == C.CONNECT_ACK, "no ACK: %r" % (p,))
        c.send(C.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
        c.close()

    def settled(k):
        return len(b.entries("close")) >= k and not H.children_of(b.pid)

    one()
    check(H.wait_until(lambda: settled(1), 5), "first session not closed/reaped")
    base = H.fd_count(b.pid)
    t0 = time.monotonic()
    for _ in range(n - 1):
        one()
    check(H.wait_until(lambda: settled(n), 10), "sessions not all closed/reaped: %d closes, children %s"
          % (len(b.entries("close")), H.children_of(b.pid)))
    after = H.fd_count(b.pid)
    note("%d sessions in %.1fs; fds %d -> %d" % (n, time.monotonic() - t0, base, after))
    check(after <= base, "fd count grew from %d to %d over %d sessions" % (base, after, n))
    closes = b.entries("close")
    check(all(d.get("rc") == "OK" for d in closes),
          "a normal disconnect logged rc=%r" % sorted({d.get("rc") for d in closes}))
    st = b.stats()
    check(st["pppd_spawned"] == n and st["ended"] == n and st["sessions"] == 0,
          "spawned=%d ended=%d sessions=%d" % (st["pppd_spawned"], st["ended"], st["sessions"]))


@scenario
def s17_malformed_sstp(ctx):
    hlak = ctx.mschap()
    b = ctx.backend()

    def fresh():
        c = ctx.client(b)
        check(c.http_handshake(corr_id=corr())[0] == 200, "no 200")
        return c

    # bad version byte: closed without a message
    c = fresh()
    c.send(bytes([0x11]) + C.connect_request()[1:])
    expect_closed_silently(c, 3, "version 0x11")
    check(b.wait_log("sstp_reject", 2, rc="E_PKT_VERSION"), "no sstp_reject E_PKT_VERSION")
    # length field below the header: closed without a message
    c = fresh()
    c.send(bytes([0x10, 0x01, 0x00, 0x02]))
    expect_closed_silently(c, 3, "length 2")
    # attribute length overrunning the message: ABORT(7)
    c = fresh()
    bad = bytearray(C.connect_request())
    bad[10:12] = struct.pack(">H", 0x0A)
    c.send(bytes(bad))
    expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_STATUS_INFO, C.ST_INVALID_FRAME, "bad attribute length")
    c.send(C.call_abort())
    check(c.read_closed(3), "not closed")
    # unknown message type: ABORT(7)
    c = fresh()
    c.send(C.ctrl(0x00AA))
    expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_STATUS_INFO, C.ST_INVALID_FRAME, "unknown type")
    # CALL_CONNECTED before CONNECT_REQUEST: ABORT(5)
    c = fresh()
    c.send(C.call_connected(2, b"\0" * 32, b"\0" * 32, hlak))
    expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_STATUS_INFO, C.ST_UNACCEPTED_FRAME, "CONNECTED too early")
    # protocol id 2: NAK echoing the value, then a good request is still accepted
    c = fresh()
    p = c.sstp_connect(proto=2)
    expect_status(p, C.CONNECT_NAK, C.A_ENCAP_PROTO, C.ST_VALUE_NOT_SUPPORTED, "protocol id 2")
    check(p.status()[2] == b"\x00\x02", "NAK does not echo the proposed value: %r" % p)
    check(not ctx.pd.runs(), "pppd started for a NAKed request")
    p = c.sstp_connect(proto=1)
    check(getattr(p, "msg_type", None) == C.CONNECT_ACK, "good request after a NAK: %r" % (p,))
    c.kill()
    # four bad requests: three NAKs, then ABORT(6)
    c = fresh()
    for i in range(3):
        check(getattr(c.sstp_connect(proto=3), "msg_type", None) == C.CONNECT_NAK, "NAK %d" % i)
    c.send(C.connect_request(3))
    expect_status(c.recv_ctrl(3), C.CALL_ABORT, C.A_STATUS_INFO, 6, "retry count")
    # the client aborts a connected call: CALL_ABORT back, closed after abort_linger
    c, r = connect_call(ctx, b, hlak)
    c.send(C.call_abort(C.A_STATUS_INFO, C.ST_INVALID_FRAME))
    p = c.recv_ctrl(3)
    check(getattr(p, "msg_type", None) == C.CALL_ABORT, "client abort answered with %r" % (p,))
    t0 = time.monotonic()
    check(c.read_closed(2), "not closed after the abort exchange")
    check(time.monotonic() - t0 < 1.0, "abort_linger is 0.2s")
    check(b.wait_log("close", 3, sid=sid_of(r), rc="E_FSM_PEER_ABORT"), "no close rc=E_FSM_PEER_ABORT")
    check(b.find("peer_status", sid=sid_of(r), attrib="2", status="7"), "peer's status not logged")
    pppd_terminated(r)
    # CALL_DISCONNECT before CALL_CONNECTED
    c, r = start_call(ctx, b)
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)
    # a malformed plugin message is counted and the call carries on
    c, r = start_call(ctx, b)
    r.ctl(cmd="plugin_raw", hex="01010003aabbcc")
    check(b.wait_log("plugin_bad_msg", 3, sid=sid_of(r)), "no ev=plugin_bad_msg")
    auth_gated(r, 3)
    c.call_connected(hlak)
    check(b.wait_log("binding_ok", 3, sid=sid_of(r)), "call broken by a bad plugin message")
    check(b.stats()["plugin_bad_msg"] == 1, "plugin_bad_msg counter")
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@scenario
def s18_bulk_relay(ctx):
    hlak = ctx.mschap()
    b = ctx.backend()
    c, r = connect_call(ctx, b, hlak)
    bulk_relay(b, c, r)


@scenario
def s18b_bulk_relay_plain(ctx):
    """s18 on the plain proxy listener: the writes to the client are plain
    TCP, whose blocked-write test differs from TLS's."""
    hlak = ctx.mschap()
    front = H.der_of(ctx.cert("server.crt"))
    b = ctx.backend(listeners=("proxy",), sstp={"trusted_cert_hash": hashlib.sha256(front).hexdigest()})
    c, r = start_call(ctx, b, "proxy", pre=C.proxy_v2("198.51.100.9", "198.51.100.10", 42000, 443))
    auth_gated(r)
    c.call_connected(hlak, cert_der=front)
    check(b.wait_log("binding_ok", 5, sid=sid_of(r)), "no ev=binding_ok")
    bulk_relay(b, c, r)


def bulk_relay(b, c, r):
    r.ctl(cmd="quiet")
    n, size = 600, 1400
    frames = [burst_frame(i, size) for i in range(n)]
    want = hashlib.sha256(b"".join(struct.pack(">I", len(f)) + f for f in frames)).hexdigest()
    # client -> pppd: one burst of many TLS records, nothing sent after it
    c.send(b"".join(C.data(f) for f in frames))
    rep = pppd_rx_report(r, n, 15)
    last = r.events("rx_report")
    check(rep, "pppd received %r of %d frames" % (last[-1]["frames"] if last else None, n))
    check(rep["frames"] == n and rep["bad_fcs"] == 0 and rep["sha256"] == want,
          "frames at pppd: %r (want %d frames, hash %s)" % (rep, n, want[:16]))
    # pppd -> client, with the client reading late so back-pressure builds
    # while the client reads nothing the backend waits (for EPOLLOUT or
    # the pty), it does not spin
    r.ctl(cmd="burst", count=n, size=size)
    cpu0 = cpu_seconds(b.proc.pid)
    time.sleep(1.0)
    cpu = cpu_seconds(b.proc.pid) - cpu0
    check(cpu < 0.5, "the backend used %.2f s of CPU in 1 s while the client read nothing" % cpu)
    i = 0
    deadline = time.monotonic() + 20
    while i < n and time.monotonic() < deadline:
        p = c.recv(max(0.0, deadline - time.monotonic()))
        check(p is not C.CLOSED and p is not C.TIMEOUT, "stream ended after %d of %d frames: %r" % (i, n, p))
        if p.is_ctrl:
            check(p.msg_type == C.ECHO_REQUEST, "unexpected %r" % p)
            continue
        if p.payload == LCP_CONF_REQ:
            continue
        check(p.payload == frames[i], "frame %d from pppd differs" % i)
        i += 1
    check(i == n, "client got %d of %d frames" % (i, n))
    check(r.wait_event("burst_done", 5), "pppd burst never finished")
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)


@scenario
def s19_pipelined_request(ctx):
    # HTTP request, CONNECT_REQUEST and an LCP frame in one write: none lost
    hlak = ctx.mschap()
    b = ctx.backend(listeners=("tls", "proxy"))
    for listener in ("tls", "proxy"):
        cid = corr()
        pre = b""
        if listener == "proxy":
            pre = C.proxy_v2("198.51.100.20", "198.51.100.1", 7000, 443)
        c = ctx.client(b, listener)
        req = ("SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %s\r\n"
               "SSTPCORRELATIONID: %s\r\n\r\n" % (C.SSTP_URI, C.SSTP_CONTENT_LENGTH, cid)).encode()
        c.send(pre + req + C.connect_request() + C.data(LCP_CONF_REQ))
        status, _ = c.read_http_response(3)
        check(status == 200, "%s: pipelined request got %r" % (listener, status))
        p = c.recv_ctrl(3)
        check(getattr(p, "msg_type", None) == C.CONNECT_ACK, "%s: pipelined CONNECT_REQUEST got %r" % (listener, p))
        v = p.attr(C.A_CRYPTO_BINDING_REQ)
        c.bitmask, c.nonce = v[3], v[4:36]
        r = ctx.pd.find(cid)
        check(r, "no pppd")
        check(r.wait_event("frame", 3, lambda e: e["hex"] == LCP_CONF_REQ.hex()), "%s: pipelined LCP frame lost" % listener)
        c.kill()
        pppd_terminated(r)


@scenario
def s20_pppd_cannot_run(ctx):
    ctx.mschap()
    b = ctx.backend(pppd={"path": os.path.join(ctx.work, "no-such-pppd")})
    check(b.find("pppd_missing"), "no ev=pppd_missing at start")
    c = ctx.client(b)
    check(c.http_handshake()[0] == 200, "no 200")
    p = c.sstp_connect()
    check(getattr(p, "msg_type", None) == C.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
    expect_status(c.recv_ctrl(3), C.CALL_DISCONNECT, C.A_NO_ERROR, C.ST_NO_ERROR, "pppd spawn failed")
    c.send(C.disconnect_ack())
    check(c.read_closed(3), "not closed")
    check(b.wait_log("pppd_spawn_fail", 3), "no ev=pppd_spawn_fail")
    check(b.stats()["pppd_spawn_fail"] == 1, "pppd_spawn_fail counter")
    # a pppd that dies at once (bad options, no kernel PPP) ends the call the same way
    b2 = ctx.backend()
    ctx.mschap(exit_after=0, exit_code=1)
    c, r = start_call(ctx, b2)
    expect_status(c.recv_ctrl(3), C.CALL_DISCONNECT, C.A_NO_ERROR, C.ST_NO_ERROR, "pppd exited at once")
    check(b2.wait_log("pppd_exit", 3, sid=sid_of(r), status="1"), "no pppd_exit status=1")
    c.send(C.disconnect_ack())
    check(c.read_closed(3), "not closed")


@scenario
def s21_frame_edges(ctx):
    hlak = ctx.mschap()
    b = ctx.backend()
    c, r = connect_call(ctx, b, hlak)
    sid = sid_of(r)
    # the largest frame an SSTP packet holds (4091 bytes) crosses both ways
    biggest = bytes.fromhex("ff030021") + bytes((i * 31 + 7) & 0xFF for i in range(4087))
    check(len(C.data(biggest)) == 4095, "test frame size")
    c.send(C.data(biggest))
    check(r.wait_event("frame", 3, lambda e: e["hex"] == biggest.hex() and e["fcs_ok"]),
          "4091-byte frame not relayed to pppd")
    # from pppd: an oversized frame and one with a bad FCS are dropped, the
    # frames around them pass, and the call goes on
    too_big = bytes.fromhex("ff030021") + bytes(5000)
    bad_fcs = hdlc(IPV4_FRAME, fcs_xor=0x0101)
    r.ctl(cmd="write", frame=too_big.hex())
    r.ctl(cmd="write_raw", hex=bad_fcs.hex())
    r.ctl(cmd="write", frame=biggest.hex())
    got = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        p = c.recv(max(0.0, deadline - time.monotonic()))
        if p is C.TIMEOUT or p is C.CLOSED:
            break
        if p.is_ctrl or p.payload == LCP_CONF_REQ:
            continue
        got.append(p.payload)
        if p.payload == biggest:
            break
    check(got == [biggest], "from pppd the client got %r" % [g[:8].hex() + "/%d" % len(g) for g in got])
    # empty and 1-byte data packets from the client do not end the call
    c.send(C.data(b""))
    c.send(C.data(b"\x21"))
    c.send(C.echo_request())
    check(getattr(c.recv_ctrl(3, answer_echo=False), "msg_type", None) == C.ECHO_RESPONSE,
          "call broken by short data packets")
    check(not b.find("close", sid=sid), "call closed")
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)


@scenario
def s22_dribbled_headers(ctx):
    # PROXY header, HTTP head and SSTP packets one byte per TCP segment
    hlak = ctx.mschap()
    b = ctx.backend(listeners=("proxy", "mtls"))
    for listener in ("proxy", "mtls"):
        cid = corr()
        uid = "drib-" + uuid.uuid4().hex[:8]
        hdr = C.proxy_v2("198.51.100.77", "198.51.100.1", 7001, 443, [C.tlv(C.PP2_UNIQUE_ID, uid.encode()),
                         C.tlv(C.PP2_CERT_SHA256, C.cert_hash(H.der_of(ctx.cert("server.crt")), 2))])
        req = ("SSTP_DUPLEX_POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %s\r\n"
               "SSTPCORRELATIONID: %s\r\n\r\n" % (C.SSTP_URI, C.SSTP_CONTENT_LENGTH, cid)).encode()
        kw = {}
        if listener == "mtls":
            kw = dict(certfile=ctx.cert("proxy-client.crt"), keyfile=ctx.cert("proxy-client.key"))
        c = ctx.client(b, listener, **kw)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in hdr + req + C.connect_request():
            c.send(bytes([byte]))
            time.sleep(0.0005)
        status, _ = c.read_http_response(3)
        check(status == 200, "%s: dribbled request got %r" % (listener, status))
        p = c.recv_ctrl(3)
        check(getattr(p, "msg_type", None) == C.CONNECT_ACK, "%s: dribbled CONNECT_REQUEST got %r" % (listener, p))
        v = p.attr(C.A_CRYPTO_BINDING_REQ)
        c.bitmask, c.nonce = v[3], v[4:36]
        r = ctx.pd.find(cid)
        check(r and sid_of(r) == uid, "%s: no pppd with the UNIQUE_ID sid" % listener)
        auth_gated(r)
        msg = C.call_connected(2, c.nonce, C.cert_hash(H.der_of(ctx.cert("server.crt")), 2), hlak)
        for byte in msg:
            c.send(bytes([byte]))
        check(b.wait_log("binding_ok", 5, sid=uid), "%s: dribbled CALL_CONNECTED not verified" % listener)
        c.send(C.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
        pppd_terminated(r)


@scenario
def s23_ipv6_and_wildcard(ctx):
    hlak = ctx.mschap()
    p6, pt, pp = H.free_port(), H.free_port(), H.free_port()
    b = ctx.backend(listeners=(), listen={"tls": "[::1]:%d" % p6})
    c = C.SstpClient("::1", p6, cafile=ctx.cert("ca.crt"))
    cid = corr()
    check(c.http_handshake(corr_id=cid)[0] == 200, "no 200 over IPv6")
    check(getattr(c.sstp_connect(), "msg_type", None) == C.CONNECT_ACK, "no ACK over IPv6")
    r = ctx.pd.find(cid)
    check(r and r.start["env"]["SSTP_CLIENT_ADDR"] == "::1", "IPv6 client address %r" % (r and r.start["env"],))
    auth_gated(r)
    c.call_connected(hlak)
    check(b.wait_log("binding_ok", 5, sid=sid_of(r), client="[::1]:%d" % c.sock.getsockname()[1]),
          "no binding_ok with the [::1]:port client")
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)
    # wildcard listeners take IPv4 clients as IPv4 (not ::ffff:...), and the
    # proxy allowlist matches them; a TCP6 PROXY source reaches pppd as is
    b2 = ctx.backend(listeners=(), listen={"tls": "*:%d" % pt, "proxy": "*:%d" % pp,
                                           "proxy_allow": "127.0.0.1/32"})
    b2.ports = {"tls": pt, "proxy": pp}
    c, r = start_call(ctx, b2, "tls")
    check(r.start["env"]["SSTP_CLIENT_ADDR"] == "127.0.0.1", "wildcard: client %r" % r.start["env"])
    c.kill()
    pppd_terminated(r)
    c, r = start_call(ctx, b2, "proxy", pre=C.proxy_v2("2001:db8::7", "2001:db8::1", 5555, 443))
    argv = r.start["argv"]
    check(r.start["env"]["SSTP_CLIENT_ADDR"] == "2001:db8::7" and
          argv[argv.index("remotenumber") + 1] == "2001:db8::7", "TCP6 PROXY source %r" % r.start["env"])
    check(b2.find("start", sid=sid_of(r), client="[2001:db8::7]:5555"), "ev=start client")
    c.kill()
    pppd_terminated(r)


# ---------------------------------------------------------------- runner
# ---------------------------------------------------------------- issue 9: the binding is the gate

GATE_ABORT_T1 = {"abort_timeout": "4s"}   # so "pppd hung up at once" means something

def aborted(c, b, r, sid, rc, attrib, status, what):
    """The call ends with CALL_ABORT (attrib, status), ev=binding_fail rc=...,
    pppd hung up at once (SIGTERM well before abort timer 1, GATE_ABORT_T1,
    could expire) and ev=close rc=..."""
    p = c.recv_ctrl(3)
    expect_status(p, C.CALL_ABORT, attrib, status, what)
    check(b.wait_log("binding_fail", 3, sid=sid, rc=rc), "%s: no ev=binding_fail rc=%s" % (what, rc))
    pppd_terminated(r, 1.5)
    c.send(C.call_abort())
    check(b.wait_log("close", 3, sid=sid, rc=rc), "%s: no ev=close rc=%s" % (what, rc))


@scenario
def s24_reauth_after_binding(ctx):
    """Item 1: the attack of issue 9 at the plugin protocol: bound as alice,
    pppd re-authenticates (as it does after an LCP renegotiation) as bob."""
    b = ctx.backend(sstp=GATE_ABORT_T1)
    hlak = ctx.mschap(ip_up={"local": "10.9.0.1", "remote": "10.9.0.7"})
    c, r = connect_call(ctx, b, hlak)
    sid = sid_of(r)
    check(r.wait_event("plugin_ack", 3, lambda e: e["acked"] == 1), "AUTH not acknowledged after the binding")
    check(b.wait_log("ppp_up", 3, sid=sid), "no ppp_up for alice")
    r.ctl(cmd="auth_again", user="bob")
    check(b.wait_log("auth_again", 3, sid=sid, user="alice", new_user="bob"), "no ev=auth_again")
    aborted(c, b, r, sid, "E_BIND_REAUTH", C.A_STATUS_INFO, C.ST_UNACCEPTED_FRAME, "second AUTH")
    acks = [e["acked"] for e in r.events("plugin_ack")]
    check(acks == [1, 2], "pppd got %r: the second AUTH must never be acknowledged" % acks)
    check(not b.find("auth_ok", sid=sid, user="bob"), "bob was accepted")
    st = b.stats()
    check(st["auth_again"] == 1 and st["binding_ok"] == 1, "stats %r" % st)

    # before the binding: a second report while the first waits for CALL_CONNECTED
    hlak = ctx.mschap()
    c, r = start_call(ctx, b)
    sid = sid_of(r)
    auth_gated(r)
    r.ctl(cmd="auth_again", user="bob")
    aborted(c, b, r, sid, "E_BIND_REAUTH", C.A_STATUS_INFO, C.ST_UNACCEPTED_FRAME, "second AUTH, unbound")
    check(not r.events("plugin_ack"), "an AUTH was acknowledged on a call that never bound")
    check(not b.find("binding_ok", sid=sid), "binding_ok after a second authentication")


@scenario
def s25_lcp_renegotiation_after_binding(ctx):
    """Item 1: the client's LCP Configure-Request (or -Ack) on the bound link
    (which makes pppd renegotiate and authenticate again) ends the call and
    never reaches pppd."""
    b = ctx.backend(sstp=GATE_ABORT_T1)
    hlak = ctx.mschap()
    lcp_conf_ack = bytes.fromhex("ff03c021" "02" "01" "0008" "0506deadbeef")
    for frame in (LCP_CONF_REQ, LCP_CONF_REQ[2:], lcp_conf_ack):   # with and without FF 03; an Ack too
        c, r = connect_call(ctx, b, hlak)
        sid = sid_of(r)
        c.send(C.data(IPV4_FRAME))
        check(r.wait_event("frame", 3, lambda e: e["hex"] == IPV4_FRAME.hex()), "data not relayed once bound")
        c.send(C.data(frame))
        aborted(c, b, r, sid, "E_BIND_REAUTH", C.A_STATUS_INFO, C.ST_UNACCEPTED_FRAME, "LCP renegotiation")
        check(all(f != frame for f, _ in r.frames()), "the Configure-Request reached pppd")
    # an LCP Echo-Request is not a renegotiation
    c, r = connect_call(ctx, b, hlak)
    c.send(C.data(LCP_ECHO_REQ))
    check(r.wait_event("frame", 3, lambda e: e["hex"] == LCP_ECHO_REQ.hex()), "LCP echo not relayed")
    check(c.recv_ctrl(0.3) is C.TIMEOUT, "an LCP echo ended the call")
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)


@scenario
def s26_no_keys_and_eap_refused(ctx):
    """Items 2 and 4: MS-CHAPv2 without usable keys and EAP are refused with
    their own reason, never bound with a zero HLAK (which needs no secret)."""
    b = ctx.backend(sstp=GATE_ABORT_T1)
    zero = b"\0" * 32
    cases = [
        ({"method": "mschapv2", "keys_set": 0, "user": "alice"}, "E_BIND_NO_KEYS"),
        ({"method": "mschapv2", "keys_set": 1, "recv_key": "00" * 16, "send_key": "ab" * 16,
          "user": "alice"}, "E_BIND_NO_KEYS"),
        ({"method": "eap", "keys_set": 1, "recv_key": "11" * 16, "send_key": "22" * 16,
          "user": "carol"}, "E_BIND_METHOD"),
        ({"method": "eap", "keys_set": 0, "user": "carol"}, "E_BIND_NO_KEYS"),
    ]
    for i, (auth, rc) in enumerate(cases):
        ctx.pd.set(auth=auth, write_on_start=[LCP_CONF_REQ.hex()], ip_up={"local": "10.9.0.1",
                                                                           "remote": "10.9.0.7"})
        c, r = start_call(ctx, b)
        sid = sid_of(r)
        check(r.wait_event("plugin_sent", 5, lambda e: e["type"] == "auth"), "no AUTH report")
        c.call_connected(zero)       # the attacker's zero-HLAK binding
        check(b.wait_log("auth_refused", 3, sid=sid, rc=rc), "case %d: no ev=auth_refused rc=%s" % (i, rc))
        aborted(c, b, r, sid, rc, C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED, "case %d" % i)
        check(not r.events("plugin_ack"), "case %d: pppd got an ACK" % i)
        check(not b.find("binding_ok", sid=sid), "case %d: bound with a zero HLAK" % i)
    # the operator is told why, once per interval (the rest are counted)
    hints = b.entries("auth_refused_hint")
    check(len(hints) == 1 and "MS-MPPE-Send-Key" in b.text(), "hint lines %r" % hints)
    st = b.stats()
    check(st["binding_ok"] == 0 and st["binding_fail"] == len(cases), "stats %r" % st)
    check(b.find("stats_err", rc="E_BIND_NO_KEYS", count="3") and b.find("stats_err", rc="E_BIND_METHOD", count="1"),
          "per-rc counters")


@scenario
def s27_failed_binding_never_reaches_ipcp(ctx):
    """Item 3: a deferred CALL_CONNECTED that fails its binding: no ACK
    (pppd never reaches IPCP), no IP_UP, pppd hung up at once."""
    b = ctx.backend(sstp=GATE_ABORT_T1)
    hlak = ctx.mschap(auth_delay=0.5, ip_up={"local": "10.9.0.1", "remote": "10.9.0.7"})
    c, r = start_call(ctx, b)
    sid = sid_of(r)
    bad = bytes(x ^ 0x5A for x in hlak)
    c.call_connected(bad)            # before pppd reported: deferred, then fails
    check(not r.events("plugin_sent"), "fake pppd reported too early for the test to mean anything")
    check(b.wait_log("auth_ok", 3, sid=sid), "no AUTH report")
    aborted(c, b, r, sid, "E_BIND_MAC", C.A_CRYPTO_BINDING, C.ST_VALUE_NOT_SUPPORTED, "deferred MAC")
    check(not r.events("plugin_ack"), "pppd got an ACK for a failed binding")
    check(len(r.events("plugin_sent")) == 1, "pppd went past the authentication")
    check(not b.find("ppp_up", sid=sid), "ppp_up for a failed binding")


def busy_503(c, what):
    status, hdrs = c.http_handshake(corr_id=corr())
    check(status == 503 and hdrs.get("retry-after") == "5", "%s: HTTP %r %r, want 503 + Retry-After: 5"
          % (what, status, hdrs))
    check(c.read_closed(3), "%s: not closed after the 503" % what)


@scenario
def s28_admission_per_source(ctx):
    """Item 6: a per-source cap on negotiating sessions, by the PROXY
    header's client address, IPv6 by /64; refusals are 503 + Retry-After
    before any pppd, counted; other sources still connect."""
    hlak = ctx.mschap()
    b = ctx.backend(listeners=("proxy",), limits={"max_negotiating_per_source": "3", "max_negotiating": "20"},
                    sstp={"trusted_cert_hash": hashlib.sha256(H.der_of(ctx.cert("server.crt"))).hexdigest()})
    front = H.der_of(ctx.cert("server.crt"))

    def via(src, port):
        fam6 = ":" in src
        return C.proxy_v2(src, "2001:db8::443" if fam6 else "198.51.100.10", port, 443)

    held = []
    for i in range(3):
        held.append(start_call(ctx, b, "proxy", pre=via("203.0.113.7", 40000 + i)))
    n_pppd = len(ctx.pd.runs())
    for i in range(4):                                          # the flood from one source
        busy_503(ctx.client(b, "proxy", pre=via("203.0.113.7", 41000 + i)), "4th+ from one source")
    check(len(ctx.pd.runs()) == n_pppd, "a refused request started pppd")
    check(b.find("refuse", reason="max_negotiating_per_source", client="203.0.113.7:41000"),
          "no ev=refuse reason=max_negotiating_per_source")
    # another source is not starved, and binds
    c, r = start_call(ctx, b, "proxy", pre=via("198.51.100.9", 42000))
    auth_gated(r)
    c.call_connected(hlak, cert_der=front)
    check(b.wait_log("binding_ok", 5, sid=sid_of(r)), "the other source did not bind")
    # IPv6: one /64 is one source, the next /64 another
    for i in range(3):
        held.append(start_call(ctx, b, "proxy", pre=via("2001:db8:1:2::%x" % (i + 1), 43000 + i)))
    busy_503(ctx.client(b, "proxy", pre=via("2001:db8:1:2:ffff::9", 43100)), "same /64")
    held.append(start_call(ctx, b, "proxy", pre=via("2001:db8:1:3::1", 43200)))
    st = b.stats()
    check(st["refused_per_source"] == 5, "refused_per_source=%d, want 5" % st["refused_per_source"])
    check(st["negotiating"] == 7, "negotiating=%d, want 7 (refused requests are not counted)" % st["negotiating"])
    # a slot comes back when a negotiation ends
    hc, hr = held[0]
    hc.kill()
    pppd_terminated(hr)
    check(b.wait_log("close", 3, sid=sid_of(hr)), "held call not closed")
    held[0] = start_call(ctx, b, "proxy", pre=via("203.0.113.7", 44000))
    for hc, hr in held:
        hc.kill()
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")


@scenario
def s29_script_env(ctx):
    """Item 7: the SSTP_* variables reach pppd's scripts through `set`, and a
    correlation id that is not a GUID never does."""
    ctx.mschap()
    b = ctx.backend()
    cid = corr()
    c, r = start_call(ctx, b, corr_id=cid)
    argv, sid = r.start["argv"], sid_of(r)
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "set"]
    check(sets == ["SSTP_SESSION_ID=" + sid, "SSTP_CLIENT_ADDR=127.0.0.1", "SSTP_CORRELATION_ID=" + cid],
          "pppd set options %r" % sets)
    c.kill()
    pppd_terminated(r)
    before = {x.pid for x in ctx.pd.runs()}
    c = ctx.client(b)
    status, _ = c.http_handshake(corr_id="{x`id`$(reboot);}")
    check(status == 200, "HTTP %r" % status)
    check(getattr(c.sstp_connect(), "msg_type", None) == C.CONNECT_ACK, "no CONNECT_ACK")
    r = H.wait_until(lambda: next((x for x in ctx.pd.runs() if x.pid not in before and x.events("ready")), None), 5)
    check(r is not None, "no pppd for the second call")
    sets = [a for i, a in enumerate(r.start["argv"]) if i and r.start["argv"][i - 1] == "set"]
    check("SSTP_CORRELATION_ID=" in sets and r.start["env"]["SSTP_CORRELATION_ID"] == "",
          "an unsafe correlation id reached pppd: %r" % sets)
    check(b.wait_log("unsafe_id", 3, what="correlation_id"), "no ev=unsafe_id")
    check(b.stats()["unsafe_ids"] == 1, "unsafe_ids counter")
    c.kill()
    pppd_terminated(r)


@scenario
def s30_one_source_cannot_starve_others(ctx):
    """Item 6: 60 negotiations from one source (PROXY header and request
    head, then silence) do not fill max_negotiating; another source still
    binds. The same flood without the per-source cap does fill it (the
    control)."""
    hlak = ctx.mschap()
    front = H.der_of(ctx.cert("server.crt"))
    trusted = {"trusted_cert_hash": hashlib.sha256(front).hexdigest()}

    def flood(b, n):
        socks = []
        for i in range(n):
            sk = raw_tcp(b, "proxy")
            sk.sendall(C.proxy_v2("203.0.113.7", "198.51.100.10", 30000 + i, 443) + head_only_request())
            socks.append(sk)
        # every flood connection either counts as negotiating or was refused
        # (and closed: a fast build closes them before the last is accepted)
        def handled():
            st = b.stats()
            return (st["negotiating"] + st.get("refused_per_source", 0) +
                    st.get("refused_max_negotiating", 0)) >= n
        check(H.wait_until(handled, 15), "the flood was not all accepted")
        return socks

    b = ctx.backend(listeners=("proxy",), sstp=trusted,
                    limits={"max_negotiating": "20", "max_negotiating_per_source": "4"})
    socks = flood(b, 60)
    st = b.stats()
    check(st["negotiating"] == 4, "negotiating=%d: only 4 of the flood may count" % st["negotiating"])
    c, r = start_call(ctx, b, "proxy", pre=C.proxy_v2("198.51.100.9", "198.51.100.10", 42000, 443))
    auth_gated(r)
    c.call_connected(hlak, cert_der=front)
    check(b.wait_log("binding_ok", 5, sid=sid_of(r)), "the other source did not bind during the flood")
    busy_503(ctx.client(b, "proxy", pre=C.proxy_v2("203.0.113.7", "198.51.100.10", 31000, 443)),
             "flooding source")
    for sk in socks:
        sk.close()
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")

    # control: without the per-source cap the same flood starves the others
    b2 = ctx.backend(listeners=("proxy",), sstp=trusted,
                     limits={"max_negotiating": "20", "max_negotiating_per_source": "0"})
    socks = flood(b2, 20)
    check(H.wait_until(lambda: b2.stats()["negotiating"] == 20, 3), "control: the flood did not fill max_negotiating")
    busy_503(ctx.client(b2, "proxy", pre=C.proxy_v2("198.51.100.9", "198.51.100.10", 42001, 443)),
             "control: another source at max_negotiating")
    check(b2.find("refuse", reason="max_negotiating"), "control: no refusal at max_negotiating")
    for sk in socks:
        sk.close()


@scenario
def s40_tls_records_end_on_the_last_packet(ctx):
    """TLS records towards the client (sstp/record.c): data packets with
    more behind them share records (fewer writes under load), every record
    ends on a packet boundary, and the last packet of a burst ends a record
    of its own: sstpc reads one packet per wake-up and would leave a packet
    that shares the last record unread. One SSL_read returns at most one
    record, so each recv() below is one record (or the rest of one)."""
    hlak = ctx.mschap()
    b = ctx.backend()
    c, r = connect_call(ctx, b, hlak)
    r.ctl(cmd="quiet")
    # The backend is stopped while pppd writes the burst, so its first pty
    # read finds the line discipline full (4095 bytes, about 13 packets of
    # this size) and packets with more behind them are bound to share.
    # Left running, it may read each frame as pppd writes it, and sharing
    # would be left to the host's timing (loopback's socket buffers take
    # the whole burst, so the socket never holds packets back either).
    n, size = 300, 300
    frames = [burst_frame(i, size) for i in range(n)]
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        r.ctl(cmd="burst", count=n, size=size)
        time.sleep(0.5)  # pppd fills the pty (its writes wait for room up to 5 s)
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    pending = bytearray(c.rbuf)
    c.rbuf = b""
    records = []     # per record: list of (is_ctrl, payload), bytes left over after it
    got = []
    deadline = time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        c.sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = c.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            break
        check(chunk, "stream closed after %d of %d frames" % (len(got), n))
        pending += chunk
        pkts = []
        while len(pending) >= 4:
            plen = ((pending[2] & 0x0F) << 8) | pending[3]
            check(plen >= 4, "bad packet length %d" % plen)
            if len(pending) < plen:
                break
            is_ctrl = bool(pending[1] & 1)
            payload = bytes(pending[4:plen])
            del pending[:plen]
            pkts.append((is_ctrl, payload))
            if not is_ctrl and payload[:4] == b"\xff\x03\x00\x21":
                got.append(payload)
        records.append((pkts, len(pending)))
    check(got == frames, "client got %d of %d frames, or not in order" % (len(got), n))
    check(all(left == 0 for _, left in records),
          "a record ends inside a packet: %r" % [(len(p), left) for p, left in records if left][:5])
    last = [p for p, _ in records if any(not ct and pl == frames[-1] for ct, pl in p)]
    check(len(last) == 1 and len(last[0]) == 1,
          "the burst's last packet shares its record: %r" % [len(p) for p in last])
    check(all(len(p) == 1 for p, _ in records if any(ct for ct, _ in p)), "a control packet shares a record")
    most = max(len(p) for p, _ in records)
    check(most > 1, "no record carries more than one data packet (%d records for %d frames)" % (len(records), n))
    print("  %d frames in %d records, up to %d per record" % (n, len(records), most))
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)


def strace_counts(path):
    """Per syscall name: calls, and reads that failed with EAGAIN, from an
    `strace -o` file."""
    calls, eagain_reads = {}, 0
    with open(path, errors="replace") as f:
        for ln in f:
            name = ln.split("(", 1)[0].strip()
            if not name or not name.replace("_", "").isalnum():
                continue   # "<... resumed>", "+++ exited", signals
            calls[name] = calls.get(name, 0) + 1
            if name == "read" and "= -1 EAGAIN" in ln:
                eagain_reads += 1
    return calls, eagain_reads


@scenario
def s44_few_syscalls_per_packet(ctx):
    """Issue 15: the data path makes no syscall it does not need. Packets
    paced so each one is its own wake-up (the worst case for batching), N
    each way, under strace: the frames a client read decoded go to the pty
    in one write without arming EPOLLOUT (main armed and disarmed it per
    packet: 2 epoll_ctl each), a TLS read that found the socket dry ends
    the read loop, a pty read that drained it ends that loop, and an event
    fed to write the pty's packets does not read the socket (main: 1-2
    reads per packet that said EAGAIN)."""
    strace = shutil.which("strace")
    check(strace, "strace is needed (apt-get install strace)")
    hlak = ctx.mschap()
    b = ctx.backend()
    c, r = connect_call(ctx, b, hlak)
    r.ctl(cmd="quiet")
    time.sleep(0.2)
    n, size, gap = 60, 1000, 0.01
    frames = [burst_frame(i, size) for i in range(n)]
    out = os.path.join(ctx.work, "strace.out")
    err = open(os.path.join(ctx.work, "strace.err"), "w+")
    tr = subprocess.Popen([strace, "-p", str(b.proc.pid), "-o", out, "-s", "0", "-e", "signal=none",
                           "-e", "trace=read,write,epoll_ctl,epoll_wait,recvfrom,sendto"],
                          stdout=subprocess.DEVNULL, stderr=err)
    try:
        check(H.wait_until(lambda: "attached" in open(err.name).read(), 10), "strace did not attach")
        time.sleep(0.1)
        for f in frames:                  # client -> pppd, one TLS record per packet
            c.send(C.data(f))
            time.sleep(gap)
        rep = pppd_rx_report(r, n, 10)
        check(rep and rep["frames"] == n and rep["bad_fcs"] == 0, "pppd got %r, want %d frames" % (rep, n))
        for f in frames:                  # pppd -> client, one frame per pty write
            r.ctl(cmd="write", frame=f.hex())
            time.sleep(gap)
        got = 0
        deadline = time.monotonic() + 10
        while got < n and time.monotonic() < deadline:
            p = c.recv(max(0.0, deadline - time.monotonic()))
            check(p is not C.CLOSED and p is not C.TIMEOUT, "stream ended after %d of %d frames" % (got, n))
            if not p.is_ctrl and p.payload == frames[got]:
                got += 1
        check(got == n, "client got %d of %d frames" % (got, n))
    finally:
        tr.send_signal(signal.SIGINT)
        try:
            tr.wait(5)
        except subprocess.TimeoutExpired:
            tr.kill()
            tr.wait()
        err.close()
    calls, eagain = strace_counts(out)
    pkts = 2 * n
    print("  %d packets (%d each way): %s, %d reads said EAGAIN" %
          (pkts, n, ", ".join("%s %d" % kv for kv in sorted(calls.items())), eagain))
    # the bounds leave room for LCP echoes, timers and stray wake-ups
    check(calls.get("epoll_ctl", 0) <= 0.1 * pkts,
          "%d epoll_ctl for %d packets (want <= %.0f)" % (calls.get("epoll_ctl", 0), pkts, 0.1 * pkts))
    check(eagain <= 0.1 * pkts, "%d reads said EAGAIN for %d packets (want <= %.0f)" % (eagain, pkts, 0.1 * pkts))
    rw = calls.get("read", 0) + calls.get("write", 0)
    check(rw <= 2.5 * pkts, "%d reads and writes for %d packets (want <= %.0f)" % (rw, pkts, 2.5 * pkts))
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)


def head_only_request():
    """An SSTP request head and nothing after it: no CALL_CONNECT_REQUEST."""
    return ("SSTP_DUPLEX_POST %s HTTP/1.1\r\nContent-Length: %s\r\nHost: localhost\r\n"
            "SSTPCORRELATIONID: %s\r\n\r\n" % (C.SSTP_URI, C.SSTP_CONTENT_LENGTH, corr())).encode()


@scenario
def s31_head_only_sessions_cannot_silence_the_backend(ctx):
    """Review item 1: eight sources hold head-only sessions (PROXY header,
    request head, then silence) and fill max_negotiating. The backend still
    answers a HEAD probe (a close would mark it down at every proxy),
    answers a new call 503 + Retry-After (readable, not a reset), drops the
    head-only sessions after sstp.connect_request_timeout, and a real call
    then binds. The default per-source cap is max_negotiating/8."""
    hlak = ctx.mschap()
    front = H.der_of(ctx.cert("server.crt"))
    b = ctx.backend(listeners=("proxy",),
                    sstp={"trusted_cert_hash": hashlib.sha256(front).hexdigest(),
                          "connect_request_timeout": "1.5s"},
                    limits={"max_negotiating": "16"})
    socks = []
    for src in range(8):
        for i in range(3):  # the third from each source is over max_negotiating/8 = 2
            sk = raw_tcp(b, "proxy")
            sk.sendall(C.proxy_v2("203.0.113.%d" % (src + 1), "198.51.100.10", 30000 + i, 443) +
                       head_only_request())
            socks.append(sk)
    check(H.wait_until(lambda: b.stats()["negotiating"] == 16, 3),
          "negotiating=%d, want 16 (two per source)" % b.stats()["negotiating"])
    check(b.stats()["refused_per_source"] == 8, "refused_per_source=%d, want 8" % b.stats()["refused_per_source"])
    t_full = time.monotonic()
    # (a) a health probe, as the proxies send it (PROXY v2 LOCAL, HEAD)
    probe = ctx.client(b, "proxy", pre=C.proxy_v2("127.0.0.1", "127.0.0.1", 1, 1, command=0))
    status, _ = probe.http_handshake(method="HEAD", content_length=None)
    check(status == 200, "HEAD probe at max_negotiating: HTTP %r, want 200 (alive)" % status)
    probe.close()
    # (b) a new call from a fresh source: a 503 it can read
    busy_503(ctx.client(b, "proxy", pre=C.proxy_v2("198.51.100.9", "198.51.100.10", 42000, 443)),
             "new call at max_negotiating")
    check(b.stats()["refused_max_negotiating"] == 1, "refused_max_negotiating=%d, want 1"
          % b.stats()["refused_max_negotiating"])
    # (c) the head-only sessions are dropped after the short timer, not the 10 s negotiation one
    check(H.wait_until(lambda: b.stats()["negotiating"] == 0, 4),
          "head-only sessions still negotiating %.1fs after the backend filled" % (time.monotonic() - t_full))
    check(time.monotonic() - t_full < 4.5, "head-only sessions dropped late")
    check(b.stats()["connect_request_timeout"] == 16,
          "connect_request_timeout=%d, want 16" % b.stats()["connect_request_timeout"])
    check(b.wait_log("connect_request_timeout", 1), "no ev=connect_request_timeout")
    for sk in socks:
        sk.close()
    c, r = start_call(ctx, b, "proxy", pre=C.proxy_v2("198.51.100.9", "198.51.100.10", 42001, 443))
    auth_gated(r)
    c.call_connected(hlak, cert_der=front)
    check(b.wait_log("binding_ok", 5, sid=sid_of(r)), "a real call did not bind after the drop")
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@scenario
def s41_emfile_pauses_the_listener(ctx):
    """Out of descriptors (its soft RLIMIT_NOFILE lowered to what it holds),
    the backend leaves new connections in the backlog and pauses instead of
    spinning on its listener; one accept_error line per interval, each
    failure counted; once descriptors are back it accepts the waiting
    clients and serves a session."""
    admin = H.free_port()
    b = ctx.backend(admin={"address": "127.0.0.1:%d" % admin})
    n_open = H.fd_count(b.pid)
    soft, hard = resource.prlimit(b.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(b.pid, resource.RLIMIT_NOFILE, (n_open, hard))   # the soft limit only
    waiting = []
    try:
        for _ in range(4):                  # in the backlog: accept4 fails with EMFILE
            waiting.append(raw_tcp(b, "tls"))
        check(b.wait_log("accept_error", 3), "no ev=accept_error line")
        cpu0 = cpu_seconds(b.pid)
        time.sleep(1.5)
        spent = cpu_seconds(b.pid) - cpu0
        note("%.2fs of CPU in 1.5s out of descriptors" % spent)
        check(spent < 0.3, "the backend spun on EMFILE: %.2fs of CPU in 1.5s" % spent)
        lines = b.entries("accept_error")
        check(len(lines) == 1, "accept errors not rate-limited: %d lines" % len(lines))
        check(lines[0].get("listener") == "tls" and "Too many open files" in lines[0].get("err", ""),
              "accept_error line: %r" % (lines[0],))
    finally:
        resource.prlimit(b.pid, resource.RLIMIT_NOFILE, (soft, hard))
    # the clients that waited in the backlog are taken and served: not TLS,
    # each ends in tls_fail at once
    for s in waiting:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    check(H.wait_until(lambda: len(b.entries("tls_fail")) >= len(waiting), 5),
          "the clients that waited in the backlog were not served: %d accepted, %d tls_fail" %
          (len(b.entries("accept")), len(b.entries("tls_fail"))))
    for s in waiting:
        s.close()
    hlak = ctx.mschap()
    c, _ = connect_call(ctx, b, hlak)
    c.close()
    with socket.create_connection(("127.0.0.1", admin), timeout=3) as m:
        m.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        body = b""
        while True:
            d = m.recv(65536)
            if not d:
                break
            body += d
    want = 'sstp_backend_refused_total{reason="accept_error"} '
    got = [int(ln.split()[-1]) for ln in body.decode().splitlines() if ln.startswith(want)]
    check(got and got[0] >= 1, "sstp_backend_refused_total{reason=accept_error}: %r" % (got,))


def scrape(port):
    """/metrics of a backend's admin listener as {sample: value}, checking
    that every sample belongs to a family declared (HELP and TYPE) before it."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    declared, samples = set(), {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
        elif line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            check(name.split("{")[0] in declared, "sample before its family: %r" % line)
            samples[name] = int(value)
    return samples, declared


METRICS_DUMP = []  # (declared families, samples) of s42's scrapes, for comparing two builds


@scenario
def s42_metrics_follow_the_counters(ctx):
    """/metrics (core/metrics tables): every family declared, the counters of
    a real call, a refused request and a failed handshake move as they
    happened, a return code appears once it happened, no Redis families
    without redis.url, the certificate by file name."""
    hlak = ctx.mschap()
    admin = H.free_port()
    b = ctx.backend(admin={"address": "127.0.0.1:%d" % admin})
    m, fams = scrape(admin)
    METRICS_DUMP.append((fams, m))
    check(m["sstp_backend_sessions"] == 0 and m["sstp_backend_sessions_started_total"] == 0, "fresh: %r" % m)
    check("sstp_backend_protocol_errors_total" in fams and
          not [k for k in m if k.startswith("sstp_backend_protocol_errors_total")],
          "return codes that never happened exposed: %r" % m)
    check(not [f for f in fams if f.startswith(("sstp_backend_redis_", "sstp_backend_fleet_"))],
          "fleet families without redis.url: %r" % sorted(fams))
    check(m['sstp_backend_cert_not_after_seconds{cert="server.crt"}'] > time.time(),
          "certificate notAfter %r" % m)
    # core/heap's gauge (the values: glibc's; an ASan build's allocator is not glibc's)
    check('sstp_backend_heap_bytes{state="in_use"}' in m and 'sstp_backend_heap_bytes{state="free"}' in m and
          m["sstp_backend_heap_trims_total"] == 0, "heap families: %r" % m)
    c, r = connect_call(ctx, b, hlak)
    m, _ = scrape(admin)
    check(m["sstp_backend_sessions"] == 1 and m["sstp_backend_sessions_negotiating"] == 0 and
          m['sstp_backend_bindings_total{result="ok"}'] == 1 and
          m['sstp_backend_accepted_total{listener="tls"}'] == 1, "one bound call: %r" % m)
    c.send(C.call_disconnect())
    check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
    pppd_terminated(r)
    check(b.wait_log("close", 3, sid=sid_of(r)), "no ev=close")
    c.close()
    bad = ctx.client(b)
    bad.http_request(method="POST")
    check(bad.read_http_response(3)[0] == 405, "POST not refused")
    bad.close()
    check(b.wait_log("http_reject", 3, rc="E_HTTP_METHOD"), "no ev=http_reject")
    sk = socket.create_connection(("127.0.0.1", b.ports["tls"]), timeout=3)
    sk.sendall(b"\x16\x03\x01\x00\x05hello")
    sk.close()
    check(H.wait_until(lambda: scrape(admin)[0]["sstp_backend_tls_failures_total"] == 1, 3),
          "tls_failures_total did not count the bad handshake")
    m, fams = scrape(admin)
    METRICS_DUMP.append((fams, m))
    st = b.stats()
    check(m["sstp_backend_sessions"] == 0 and m["sstp_backend_sessions_ended_total"] == st["ended"] and
          m["sstp_backend_sessions_started_total"] == 1 and
          m['sstp_backend_protocol_errors_total{rc="E_HTTP_METHOD"}'] == 1 and
          m['sstp_backend_bytes_total{direction="in"}'] > 0 and m["sstp_backend_draining"] == 0,
          "after the call, a 405 and a bad handshake: %r (stats %r)" % (m, st))



def proc_nice(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[16])
    except (OSError, ValueError, IndexError):
        return None


def pool_members(ctx, exclude=()):
    """Fake pppds of the pool now waiting for START (pid -> their spawned event)."""
    out = {}
    for r in ctx.pd.runs():
        sp = r.events("spawned")
        if sp and r.events("pool_ready") and not r.events("start") and not r.events("exit") \
                and r.pid not in exclude and H.proc_state(r.pid) not in (None, "Z"):
            out[r.pid] = sp[0]
    return out


@scenario
def s45_pppd_pool(ctx):
    """pppd.pool_size = 2: two pppds wait (READY) before any call; a call is
    served by one of them (started before the call, START carried the
    session's values, none on its command line), a replacement appears, a
    third call at once finds the pool empty and spawns its own without
    waiting; a member killed while waiting is counted and replaced; a
    member that answers garbage instead of READY is dropped with growing
    delays (no fork storm); SIGTERM leaves no pppd behind."""
    hlak = ctx.mschap(ip_up={"local": "10.9.0.1", "remote": "10.9.0.7"})
    admin = H.free_port()
    b = ctx.backend(pppd={"pool_size": "2"}, admin={"address": "127.0.0.1:%d" % admin})
    check(H.wait_until(lambda: len(pool_members(ctx)) == 2, 10), "pool never had 2 members waiting")
    first = pool_members(ctx)
    check(H.wait_until(lambda: scrape(admin)[0]["sstp_backend_pppd_pool_ready"] == 2, 5),
          "pool_ready gauge %r" % scrape(admin)[0].get("sstp_backend_pppd_pool_ready"))
    for pid, sp in first.items():
        check("sstp-lb-pool" in sp["argv"] and "ipparam" not in sp["argv"] and
              "remotenumber" not in sp["argv"] and not any(a.startswith("SSTP_") for a in sp["argv"]),
              "pool member argv carries a session: %r" % sp["argv"])
        check(not any(k.startswith("SSTP_") for k in sp["env"]), "pool member env %r" % sp["env"])
    if os.geteuid() == 0:   # members start at nice 10, a taken one runs at 0
        check(all(proc_nice(pid) == 10 for pid in first), "pool members' nice %r" %
              [proc_nice(pid) for pid in first])
    t_call = time.time()
    c1, r1 = connect_call(ctx, b, hlak)
    if os.geteuid() == 0:
        check(proc_nice(r1.pid) == 0, "the taken pppd runs at nice %r" % proc_nice(r1.pid))
    check(r1.pid in first, "call 1 served by pid %d, not a pool member %r" % (r1.pid, sorted(first)))
    check(r1.events("spawned")[0]["wall"] < t_call, "the pppd was started after the call began")
    sid1 = sid_of(r1)
    check(b.find("pppd_start", sid=sid1, pid=str(r1.pid), pooled="1"), "no ev=pppd_start pooled=1")
    check(r1.start["env"]["SSTP_CLIENT_ADDR"] == "127.0.0.1", "START client %r" % r1.start["env"])
    check(b.wait_log("ppp_up", 5, sid=sid1), "pooled pppd's IP_UP not taken (no ev=ppp_up)")
    # a replacement joins the remaining member
    check(H.wait_until(lambda: len(pool_members(ctx)) == 2, 5), "no replacement after the take")
    check(not set(pool_members(ctx)) & {r1.pid}, "the served pppd is back in the pool")
    # three calls at once: two pooled, the third spawns its own (pool empty)
    # (CALL_CONNECT_REQUEST back to back: well inside the 0.5 s refill delay)
    calls = connect_calls_at_once(ctx, b, hlak, 3)
    pooled = [c for c in calls if c[1].start.get("pooled")]
    own = [c for c in calls if not c[1].start.get("pooled")]
    check(len(pooled) == 2 and len(own) == 1, "pooled %d, own %d of 3 calls at once" % (len(pooled), len(own)))
    check(own and "ipparam" in own[0][1].start["argv"], "the pppd of an empty pool has no session argv")
    pids = {r1.pid} | {r.pid for _, r in calls}
    sids = {sid1} | {sid_of(r) for _, r in calls}
    check(len(pids) == 4 and len(sids) == 4, "4 calls, %d pppds, %d sessions: one pppd serves one call"
          % (len(pids), len(sids)))
    m, _ = scrape(admin)
    check(m['sstp_backend_pppd_pool_total{event="taken"}'] == 3 and
          m['sstp_backend_pppd_pool_total{event="empty"}'] == 1, "pool counters %r" %
          {k: v for k, v in m.items() if "pool" in k})
    # a member killed while waiting: counted as died and replaced
    check(H.wait_until(lambda: len(pool_members(ctx)) == 2, 5), "pool not refilled after the burst")
    victim = sorted(pool_members(ctx))[0]
    os.kill(victim, signal.SIGKILL)
    check(b.wait_log("pppd_pool_exit", 5, pid=str(victim), signal="9"), "no ev=pppd_pool_exit for the kill")
    check(H.wait_until(lambda: len(pool_members(ctx)) == 2 and victim not in pool_members(ctx), 5),
          "killed member not replaced")
    m, _ = scrape(admin)
    check(m['sstp_backend_pppd_pool_total{event="died"}'] == 1, "died %r" %
          m.get('sstp_backend_pppd_pool_total{event="died"}'))
    for c, r in [(c1, r1)] + calls:
        c.send(C.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == C.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
        pppd_terminated(r)
        c.close()
    # SIGTERM: the waiting members end with the backend, none is left
    waiting = sorted(pool_members(ctx))
    check(b.stop() == 0, "backend exit status at SIGTERM")
    for pid in waiting:
        check(H.wait_gone(pid, 3), "pool member %d left after the backend (state %s)" % (pid, H.proc_state(pid)))
    check(not [r.pid for r in ctx.pd.runs() if H.proc_state(r.pid) not in (None, "Z")],
          "fake pppds left after the backend")

    # a member that never says READY: dropped, retried with growing delays
    ctx.pd.set(pool_bad_ready="01ff0000")
    b2 = ctx.backend(pppd={"pool_size": "1"})
    time.sleep(3.0)
    drops = len(b2.entries("pppd_pool_drop"))
    check(2 <= drops <= 6, "%d members dropped in 3 s (backoff 0.2 s doubling: 3..5 expected)" % drops)
    check(b2.find("pppd_pool_drop", reason="unexpected_plugin_message"), "drop reason")
    note("bad READY: %d dropped in 3 s" % drops)


def main():
    global VERBOSE
    args = sys.argv[1:]
    sel = None
    if "-v" in args:
        VERBOSE = True
        args.remove("-v")
    if "-k" in args:
        i = args.index("-k")
        sel = args[i + 1]
        del args[i:i + 2]
    root = tempfile.mkdtemp(prefix="sstplb-backend-it.")
    certs = H.make_certs(os.path.join(root, "certs"))
    binary = os.path.abspath(H.backend_binary())
    print("sstp-backend: %s" % binary, flush=True)
    # run a copy: a rebuild during the run must not swap the binary under us
    copy = os.path.join(root, "sstp-backend")
    shutil.copy2(binary, copy)
    os.environ["SSTPLB_TEST_BACKEND"] = copy
    failed = []
    t_all = time.monotonic()

    def on_term(signum, frame):
        raise SystemExit("interrupted by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        run_all(root, certs, sel, failed)
    finally:
        H.kill_all_started()
    total = time.monotonic() - t_all
    print("backend integration: %d failed; %.1fs" % (len(failed), total))
    if failed:
        print("failed: " + " ".join(failed))
        print("logs kept in " + root)
        sys.exit(1)
    shutil.rmtree(root, ignore_errors=True)


def run_all(root, certs, sel, failed):
    for fn in TESTS:
        if sel and sel not in fn.__name__:
            continue
        ctx = Ctx(root, certs, fn.__name__)
        t0 = time.monotonic()
        err = None

        def alarm(signum, frame):
            raise H.TestFailure("scenario watchdog (60s) expired")
        signal.signal(signal.SIGALRM, alarm)
        signal.alarm(60)
        try:
            fn(ctx)
        except Exception as e:  # noqa: BLE001 — report every failure the same way
            err = "%s: %s" % (type(e).__name__, e)
            if VERBOSE or not isinstance(e, H.TestFailure):
                err += "\n" + traceback.format_exc()
        finally:
            signal.alarm(0)
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


if __name__ == "__main__":
    main()
