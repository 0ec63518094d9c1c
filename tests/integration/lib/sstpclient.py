"""sstpclient.py — a small SSTP test client (MS-SSTP), Python stdlib only.

Builds and parses what an SSTP client sends and receives: TLS (or plain TCP
behind a proxy listener), an optional PROXY v1/v2 header (before TLS, or
inside it for the mTLS listener), the HTTP request, SSTP control and data
packets, and the crypto binding of CALL_CONNECTED (HLAK -> CMK -> compound
MAC, MS-SSTP 3.2.5.2). Every wait has a timeout; what the server sends is
returned as a Packet, or as CLOSED / TIMEOUT.
"""
import hashlib
import hmac
import os
import socket
import ssl
import struct
import time

SSTP_URI = "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"
SSTP_CONTENT_LENGTH = "18446744073709551615"
VERSION = 0x10

# control message types (MS-SSTP 2.2.9-2.2.15)
CONNECT_REQUEST, CONNECT_ACK, CONNECT_NAK, CALL_CONNECTED = 1, 2, 3, 4
CALL_ABORT, CALL_DISCONNECT, CALL_DISCONNECT_ACK = 5, 6, 7
ECHO_REQUEST, ECHO_RESPONSE = 8, 9
MSG_NAMES = {1: "CONNECT_REQUEST", 2: "CONNECT_ACK", 3: "CONNECT_NAK", 4: "CALL_CONNECTED",
             5: "CALL_ABORT", 6: "CALL_DISCONNECT", 7: "CALL_DISCONNECT_ACK",
             8: "ECHO_REQUEST", 9: "ECHO_RESPONSE"}

# attributes (MS-SSTP 2.2.4)
A_NO_ERROR, A_ENCAP_PROTO, A_STATUS_INFO, A_CRYPTO_BINDING, A_CRYPTO_BINDING_REQ = 0, 1, 2, 3, 4

# status values (MS-SSTP 2.2.8)
ST_NO_ERROR = 0
ST_VALUE_NOT_SUPPORTED = 4
ST_UNACCEPTED_FRAME = 5
ST_INVALID_FRAME = 7
ST_NEGOTIATION_TIMEOUT = 8
ST_ATTRIB_NOT_SUPPORTED_IN_MSG = 9

HASH_SHA1, HASH_SHA256 = 1, 2
CMK_SEED = b"SSTP inner method derived CMK"


# ---- packets ----

def attr(attr_id, value):
    return struct.pack(">BBH", 0, attr_id, 4 + len(value)) + value


def ctrl(msg_type, attrs=(), length=None, version=VERSION):
    body = b"".join(attrs)
    n = 8 + len(body) if length is None else length
    return struct.pack(">BBHHH", version, 1, n, msg_type, len(attrs)) + body


def data(frame, version=VERSION):
    return struct.pack(">BBH", version, 0, 4 + len(frame)) + frame


def status_info(attrib_id, status, value=b""):
    return attr(A_STATUS_INFO, b"\0\0\0" + bytes([attrib_id]) + struct.pack(">I", status) + value)


def connect_request(proto=1):
    return ctrl(CONNECT_REQUEST, [attr(A_ENCAP_PROTO, struct.pack(">H", proto))])


def call_abort(attrib_id=A_STATUS_INFO, status=ST_INVALID_FRAME):
    return ctrl(CALL_ABORT, [status_info(attrib_id, status)])


def call_disconnect():
    return ctrl(CALL_DISCONNECT, [status_info(A_NO_ERROR, ST_NO_ERROR)])


def disconnect_ack():
    return ctrl(CALL_DISCONNECT_ACK)


def echo_request():
    return ctrl(ECHO_REQUEST)


def echo_response():
    return ctrl(ECHO_RESPONSE)


class Packet:
    """One SSTP packet from the server."""

    def __init__(self, raw):
        self.raw = raw
        self.version, flags, ln = struct.unpack(">BBH", raw[:4])
        self.is_ctrl = bool(flags & 1)
        self.length = ln & 0x0FFF
        self.payload = raw[4:]
        self.msg_type = None
        self.attrs = []
        if self.is_ctrl and len(raw) >= 8:
            self.msg_type, n = struct.unpack(">HH", raw[4:8])
            off = 8
            for _ in range(n):
                if off + 4 > len(raw):
                    break
                _, aid, alen = struct.unpack(">BBH", raw[off:off + 4])
                alen &= 0x0FFF
                self.attrs.append((aid, raw[off + 4:off + alen]))
                off += max(alen, 4)

    @property
    def name(self):
        if not self.is_ctrl:
            return "DATA"
        return MSG_NAMES.get(self.msg_type, "TYPE_%d" % self.msg_type)

    def attr(self, attr_id):
        for aid, value in self.attrs:
            if aid == attr_id:
                return value
        return None

    def status(self):
        """(AttribID, status, value) of the first Status Info, or None."""
        v = self.attr(A_STATUS_INFO)
        if v is None or len(v) < 8:
            return None
        return v[3], struct.unpack(">I", v[4:8])[0], v[8:]

    def __repr__(self):
        if self.is_ctrl:
            return "<%s %s>" % (self.name, self.raw.hex())
        return "<DATA %s>" % self.payload.hex()


class _Marker:
    def __init__(self, name):
        self.name = name
        self.is_ctrl = False
        self.msg_type = None

    def __repr__(self):
        return "<%s>" % self.name


CLOSED = _Marker("CLOSED")
TIMEOUT = _Marker("TIMEOUT")


# ---- crypto binding (MS-SSTP 3.2.5.2; RFC 3079 3.4 for MS-CHAPv2 keys) ----

MAGIC2 = (b"On the client side, this is the send key; "
          b"on the server side, it is the receive key.")
MAGIC3 = (b"On the client side, this is the receive key; "
          b"on the server side, it is the send key.")


def _asymmetric_start_key(master_key, magic):
    h = hashlib.sha1(master_key + b"\0" * 40 + magic + b"\xf2" * 40).digest()
    return h[:16]


def mschapv2_keys(master_key, is_server):
    """(send_key, recv_key) of one side, from the 16-byte MS-CHAPv2 MasterKey
    (RFC 3079 3.4: Magic2 is the client's send / the server's receive key)."""
    k2 = _asymmetric_start_key(master_key, MAGIC2)
    k3 = _asymmetric_start_key(master_key, MAGIC3)
    return (k3, k2) if is_server else (k2, k3)


def hlak_client_mschapv2(client_send_key, client_recv_key):
    """A client's HLAK: MasterSendKey | MasterReceiveKey (MS-SSTP 3.2.5.2.2)."""
    return (client_send_key + client_recv_key).ljust(32, b"\0")[:32]


def hash_mod(hash_proto):
    return hashlib.sha256 if hash_proto == HASH_SHA256 else hashlib.sha1


def cert_hash(der, hash_proto):
    return hash_mod(hash_proto)(der).digest()


def cmk(hlak, hash_proto):
    h = hash_mod(hash_proto)
    size = h().digest_size
    return hmac.new(hlak, CMK_SEED + struct.pack("<H", size) + b"\x01", h).digest()


def call_connected(hash_proto, nonce, chash, hlak, mac_override=None):
    """The 112-byte CALL_CONNECTED with its compound MAC."""
    head = struct.pack(">BBHHH", VERSION, 1, 112, CALL_CONNECTED, 1)
    body = struct.pack(">BBH", 0, A_CRYPTO_BINDING, 104) + b"\0\0\0" + bytes([hash_proto])
    body += nonce + chash.ljust(32, b"\0")
    msg = head + body + b"\0" * 32
    assert len(msg) == 112
    mac = hmac.new(cmk(hlak, hash_proto), msg, hash_mod(hash_proto)).digest()
    if mac_override is not None:
        mac = mac_override
    return msg[:80] + mac.ljust(32, b"\0")


# ---- PROXY protocol (HAProxy spec v1 and v2) ----

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_UNIQUE_ID, PP2_CERT_SHA256, PP2_CERT_SHA1 = 0x05, 0xE8, 0xE9


def proxy_v1(src, dst, sport, dport):
    return ("PROXY TCP4 %s %s %d %d\r\n" % (src, dst, sport, dport)).encode()


def tlv(t, value):
    return struct.pack(">BH", t, len(value)) + value


def proxy_v2(src, dst, sport, dport, tlvs=(), command=1):
    """A v2 header: LOCAL (command 0) or PROXY over TCP4, or TCP6 when src
    is an IPv6 address; then the TLVs."""
    if command == 0:     # LOCAL
        return PP2_SIG + bytes([0x20, 0x00]) + struct.pack(">H", 0)
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    body = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) + struct.pack(">HH", sport, dport)
    body += b"".join(tlvs)
    return PP2_SIG + bytes([0x20 | command, 0x21 if fam == socket.AF_INET6 else 0x11]) + \
        struct.pack(">H", len(body)) + body


# ---- the client ----

class SstpClient:
    """One connection. tls=False speaks plain TCP (the proxy listener).
    `pre` is sent before TLS (a PROXY header to a plain listener), `inner`
    right after the TLS handshake (a PROXY header on the mTLS listener)."""

    def __init__(self, host, port, tls=True, cafile=None, sni="localhost",
                 certfile=None, keyfile=None, max_version=None, pre=b"",
                 inner=b"", timeout=5.0):
        self.host, self.port = host, port
        self.rbuf = b""
        self.sock = None
        self.cert_der = None
        self.nonce = None
        self.bitmask = None
        self.ack = None
        t0 = time.monotonic()
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.settimeout(timeout)
        if pre:
            raw.sendall(pre)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if cafile:
                ctx.load_verify_locations(cafile)
                ctx.check_hostname = sni is not None
            else:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if sni is None:
                ctx.check_hostname = False
            if certfile:
                ctx.load_cert_chain(certfile, keyfile)
            if max_version is not None:
                ctx.maximum_version = max_version
                if max_version < ssl.TLSVersion.TLSv1_2:
                    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
                    ctx.set_ciphers("ALL:@SECLEVEL=0")
            try:
                self.sock = ctx.wrap_socket(raw, server_hostname=sni)
            except BaseException:
                raw.close()
                raise
            self.cert_der = self.sock.getpeercert(binary_form=True)
        else:
            self.sock = raw
        self.handshake_s = time.monotonic() - t0
        if inner:
            self.sock.sendall(inner)

    # -- raw I/O --
    def send(self, b):
        self.sock.sendall(b)

    def _fill(self, deadline):
        """Reads more bytes into rbuf; False on EOF/reset, None on timeout."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return None
        except (ssl.SSLError, ConnectionError, OSError):
            return False
        if not chunk:
            return False
        self.rbuf += chunk
        return True

    def read_closed(self, timeout):
        """True if the server closes within timeout (any bytes before the
        close are kept in rbuf)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self._fill(deadline)
            if r is False:
                return True
            if r is None:
                return False

    # -- HTTP --
    def http_request(self, method="SSTP_DUPLEX_POST", uri=SSTP_URI, version="HTTP/1.1",
                     host="localhost", content_length=SSTP_CONTENT_LENGTH, corr_id=None,
                     extra=()):
        lines = ["%s %s %s" % (method, uri, version)]
        if content_length is not None:
            lines.append("Content-Length: %s" % content_length)
        if host is not None:
            lines.append("Host: %s" % host)
        if corr_id is not None:
            lines.append("SSTPCORRELATIONID: %s" % corr_id)
        lines.extend(extra)
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def read_http_response(self, timeout=5.0):
        """(status, {lower-case header: value}), or (None, None) if the
        server closed or was silent without a complete head."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.rbuf:
            if not self._fill(deadline):
                return None, None
        head, self.rbuf = self.rbuf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) >= 2 and parts[0] == "HTTP/1.1" else -1
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def http_handshake(self, corr_id=None, timeout=5.0, **kw):
        self.http_request(corr_id=corr_id, **kw)
        return self.read_http_response(timeout)

    # -- SSTP --
    def recv(self, timeout=5.0):
        """The next packet, CLOSED or TIMEOUT."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.rbuf) >= 4:
                n = struct.unpack(">H", self.rbuf[2:4])[0] & 0x0FFF
                if n < 4:
                    raise AssertionError("server sent a packet of length %d" % n)
                if len(self.rbuf) >= n:
                    raw, self.rbuf = self.rbuf[:n], self.rbuf[n:]
                    return Packet(raw)
            r = self._fill(deadline)
            if r is False:
                return CLOSED
            if r is None:
                return TIMEOUT

    def recv_ctrl(self, timeout=5.0, answer_echo=True, data_out=None):
        """The next control packet (or CLOSED/TIMEOUT). Data packets are
        appended to data_out (if given) and skipped; ECHO_REQUESTs are
        answered when answer_echo."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.recv(max(0.0, deadline - time.monotonic()))
            if p is CLOSED or p is TIMEOUT:
                return p
            if not p.is_ctrl:
                if data_out is not None:
                    data_out.append(p.payload)
                continue
            if answer_echo and p.msg_type == ECHO_REQUEST:
                self.send(echo_response())
                continue
            return p

    def sstp_connect(self, proto=1, timeout=5.0):
        """CONNECT_REQUEST; returns the server's answer. On an ACK the nonce
        and hash bitmask are kept for call_connected()."""
        self.send(connect_request(proto))
        p = self.recv_ctrl(timeout)
        if getattr(p, "msg_type", None) == CONNECT_ACK:
            v = p.attr(A_CRYPTO_BINDING_REQ)
            if v is None or len(v) != 36:
                raise AssertionError("CONNECT_ACK without a valid binding request: %r" % p)
            self.bitmask = v[3]
            self.nonce = v[4:36]
            self.ack = p
        return p

    def choose_hash(self):
        return HASH_SHA256 if self.bitmask & 2 else HASH_SHA1

    def call_connected(self, hlak, hash_proto=None, cert_der=None, chash=None, nonce=None,
                       mac_override=None):
        """Sends CALL_CONNECTED bound to the certificate this client saw (or
        cert_der / chash given explicitly) and returns the message."""
        hp = hash_proto or self.choose_hash()
        if chash is None:
            chash = cert_hash(cert_der if cert_der is not None else self.cert_der, hp)
        msg = call_connected(hp, nonce or self.nonce, chash, hlak, mac_override)
        self.send(msg)
        return msg

    def kill(self):
        """Closes abruptly: RST instead of FIN, no TLS close_notify."""
        if self.sock is None:
            return
        sock, self.sock = self.sock, None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        if isinstance(sock, ssl.SSLSocket):
            os.close(sock.detach())
        else:
            sock.close()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
