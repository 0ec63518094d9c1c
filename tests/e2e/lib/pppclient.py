"""pppclient.py — a PPP peer of its own over an SSTP connection, for the
e2e attack scenarios (tests/e2e/lib/attacker.py): LCP, MS-CHAPv2 (RFC 2759)
with the MPPE master keys of RFC 3079, IPCP and ICMP echo, carried in SSTP
data packets by tests/integration/lib/sstpclient.py (which owns the SSTP
wire format and the crypto binding). Plays the client side only, and only
as much of each protocol as a real pppd server needs to reach IPCP; every
wait is bounded. MD4 and single DES (which Python's hashlib and OpenSSL 3's
default provider no longer offer) come from libcrypto's low-level calls.
"""
import ctypes
import hashlib
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "integration", "lib"))
import sstpclient as sc  # noqa: E402

PROTO_LCP, PROTO_CHAP, PROTO_IPCP, PROTO_IP = 0xC021, 0xC223, 0x8021, 0x0021
CONF_REQ, CONF_ACK, CONF_NAK, CONF_REJ = 1, 2, 3, 4
TERM_REQ, TERM_ACK, PROTO_REJ = 5, 6, 8
ECHO_REQ, ECHO_REP = 9, 10
CHAP_CHALLENGE, CHAP_RESPONSE, CHAP_SUCCESS, CHAP_FAILURE = 1, 2, 3, 4
LCP_OPT_AUTH, LCP_OPT_MAGIC = 3, 5
IPCP_OPT_ADDR = 3
CHAP_MSCHAPV2 = 0x81

# ---- MS-CHAPv2 (RFC 2759) and its MPPE master key (RFC 3079 3.4) ----

_libcrypto = ctypes.CDLL("libcrypto.so.3")


def md4(data):
    out = ctypes.create_string_buffer(16)
    _libcrypto.MD4(data, len(data), out)
    return out.raw


def _des_key(seven):
    """RFC 2759 8.6: 56 key bits spread over 8 bytes (parity bits unused)."""
    n = int.from_bytes(seven, "big")
    return bytes(((n >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def des_encrypt(seven, block):
    schedule = ctypes.create_string_buffer(256)   # DES_key_schedule is 128 bytes
    out = ctypes.create_string_buffer(8)
    _libcrypto.DES_set_key_unchecked(_des_key(seven), schedule)
    _libcrypto.DES_ecb_encrypt(block, out, schedule, 1)
    return out.raw


def nt_password_hash(password):
    return md4(password.encode("utf-16-le"))


def challenge_hash(peer_challenge, auth_challenge, user):
    return hashlib.sha1(peer_challenge + auth_challenge + user.encode()).digest()[:8]


def nt_response(auth_challenge, peer_challenge, user, password):
    """The 24-byte NT-Response of RFC 2759 8.1."""
    ch = challenge_hash(peer_challenge, auth_challenge, user)
    z = nt_password_hash(password) + b"\0" * 5
    return b"".join(des_encrypt(z[i:i + 7], ch) for i in (0, 7, 14))


def master_key(password, nt_resp):
    """RFC 3079 3.4 GetMasterKey."""
    hh = md4(nt_password_hash(password))
    return hashlib.sha1(hh + nt_resp + b"This is the MPPE Master Key").digest()[:16]


def client_hlak(password, nt_resp):
    """The HLAK a genuine client derives after this MS-CHAPv2 exchange."""
    send, recv = sc.mschapv2_keys(master_key(password, nt_resp), is_server=False)
    return sc.hlak_client_mschapv2(send, recv)


# ---- PPP over SSTP ----

def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def _options(data):
    out, off = [], 0
    while off + 2 <= len(data):
        t, ln = data[off], data[off + 1]
        if ln < 2 or off + ln > len(data):
            break
        out.append((t, data[off + 2:off + ln]))
        off += ln
    return out


class PppPeer:
    """The client end of one PPP link inside an SstpClient. Events seen are
    appended to self.log (strings), so a scenario can report them."""

    def __init__(self, sstp):
        self.sstp = sstp
        self.ident = 0
        self.log = []
        self.closed = None          # "CLOSED", "CALL_ABORT", "CALL_DISCONNECT"
        self.abort_status = None
        self.auth_challenge = None
        self.chap_id = None
        self.chap_result = None
        self.ip = None
        self.ipcp_up = False
        self.echo_replies = 0
        self.lcp_acked_ours = False
        self.lcp_acked_theirs = False

    def _next_id(self):
        self.ident = (self.ident + 1) & 0xFF
        return self.ident

    def send_ppp(self, proto, payload):
        self.sstp.send(sc.data(b"\xff\x03" + struct.pack("!H", proto) + payload))

    def send_cp(self, proto, code, ident, data):
        self.send_ppp(proto, struct.pack("!BBH", code, ident, 4 + len(data)) + data)

    # -- receiving --
    def poll(self, timeout):
        """Handles what arrives within timeout; returns False once the SSTP
        call is over (server closed, CALL_ABORT or CALL_DISCONNECT)."""
        deadline = time.monotonic() + timeout
        while self.closed is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            p = self.sstp.recv(left)
            if p is sc.TIMEOUT:
                return True
            if p is sc.CLOSED:
                self.closed = "CLOSED"
                self.log.append("closed")
                break
            if p.is_ctrl:
                self._on_ctrl(p)
            else:
                self._on_frame(p.payload)
        return False

    def wait(self, cond, timeout):
        """poll() until cond() holds; True if it did."""
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed is not None:
                return cond()
            self.poll(min(left, 0.1))
        return True

    def _on_ctrl(self, p):
        if p.msg_type == sc.ECHO_REQUEST:
            self.sstp.send(sc.echo_response())
        elif p.msg_type in (sc.CALL_ABORT, sc.CALL_DISCONNECT):
            self.closed = p.name
            st = p.status()
            self.abort_status = st[1] if st else None
            self.log.append("%s status=%s" % (p.name, self.abort_status))
            if p.msg_type == sc.CALL_DISCONNECT:
                self.sstp.send(sc.disconnect_ack())

    def _on_frame(self, frame):
        if frame[:2] == b"\xff\x03":
            frame = frame[2:]
        if len(frame) < 2:
            return
        proto = struct.unpack("!H", frame[:2])[0]
        body = frame[2:]
        if proto == PROTO_IP:
            self._on_ip(body)
            return
        if len(body) < 4:
            return
        code, ident, ln = struct.unpack("!BBH", body[:4])
        data = body[4:ln]
        if proto == PROTO_LCP:
            self._on_lcp(code, ident, data)
        elif proto == PROTO_CHAP:
            self._on_chap(code, ident, data)
        elif proto == PROTO_IPCP:
            self._on_ipcp(code, ident, data)
        else:   # IPV6CP, CCP, ...: not spoken here (RFC 1661 5.7)
            self.send_cp(PROTO_LCP, PROTO_REJ, self._next_id(), frame[:2] + body)

    def _on_lcp(self, code, ident, data):
        if code == CONF_REQ:
            opts = _options(data)
            auth = [v for t, v in opts if t == LCP_OPT_AUTH]
            self.log.append("lcp_req auth=%s" % (auth[0].hex() if auth else "-"))
            self.send_cp(PROTO_LCP, CONF_ACK, ident, data)
            self.lcp_acked_theirs = True
        elif code == CONF_ACK:
            self.lcp_acked_ours = True
        elif code == ECHO_REQ:
            self.send_cp(PROTO_LCP, ECHO_REP, ident, b"\0\0\0\0" + data[4:])
        elif code == TERM_REQ:
            self.log.append("lcp_term_req")
            self.send_cp(PROTO_LCP, TERM_ACK, ident, b"")

    def lcp_request(self):
        """Our Configure-Request: a magic number only."""
        self.lcp_acked_ours = False
        self.send_cp(PROTO_LCP, CONF_REQ, self._next_id(),
                     struct.pack("!BBI", LCP_OPT_MAGIC, 6, int.from_bytes(os.urandom(4), "big") | 1))

    def _on_chap(self, code, ident, data):
        if code == CHAP_CHALLENGE and len(data) >= 17 and data[0] == 16:
            self.auth_challenge = data[1:17]
            self.chap_id = ident
            self.log.append("chap_challenge")
        elif code == CHAP_SUCCESS:
            self.log.append("chap_success")
            self.chap_result = "success"
        elif code == CHAP_FAILURE:
            self.log.append("chap_failure")
            self.chap_result = "failure"

    def chap_respond(self, user, password):
        """Answers the last Challenge as `user`; returns the NT-Response."""
        peer = os.urandom(16)
        resp = nt_response(self.auth_challenge, peer, user, password)
        value = peer + b"\0" * 8 + resp + b"\0"
        self.chap_result = None
        self.send_cp(PROTO_CHAP, CHAP_RESPONSE, self.chap_id, bytes([len(value)]) + value + user.encode())
        return resp

    def _on_ipcp(self, code, ident, data):
        if code == CONF_REQ:
            self.send_cp(PROTO_IPCP, CONF_ACK, ident, data)
            self.ipcp_theirs = True
        elif code == CONF_NAK:
            for t, v in _options(data):
                if t == IPCP_OPT_ADDR and len(v) == 4:
                    self.ip = v
            self.ipcp_request()
        elif code == CONF_ACK:
            self.ipcp_up = True
            self.log.append("ipcp_up ip=%s" % ".".join(map(str, self.ip or b"\0\0\0\0")))
        elif code == TERM_REQ:
            self.ipcp_up = False
            self.send_cp(PROTO_IPCP, TERM_ACK, ident, b"")

    def ipcp_request(self):
        self.send_cp(PROTO_IPCP, CONF_REQ, self._next_id(),
                     struct.pack("!BB", IPCP_OPT_ADDR, 6) + (self.ip or b"\0\0\0\0"))

    # -- IP --
    def ping(self, dst, seq):
        """One ICMP echo request from our IPCP address to dst (bytes)."""
        icmp = struct.pack("!BBHHH", 8, 0, 0, 0x5353, seq) + b"sstp-lb attacker"
        icmp = icmp[:2] + struct.pack("!H", _csum(icmp)) + icmp[4:]
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                          self.ip or b"\0\0\0\0", dst)
        hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
        self.send_ppp(PROTO_IP, hdr + icmp)

    def _on_ip(self, pkt):
        if len(pkt) >= 28 and pkt[9] == 1 and pkt[20] == 0:   # ICMP echo reply
            self.echo_replies += 1
            self.log.append("echo_reply")
