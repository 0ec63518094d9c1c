#!/usr/bin/python3
"""tls_proxy.py — a tiny TLS-terminating forwarder for the e2e tests: it
plays sstp-proxy in front of sstp-backend's proxy listener. It terminates
the client's TLS with CERT/KEY, connects to the backend over plain TCP and
sends a PROXY v2 header first, optionally with sstp-lb's certificate-hash
TLV (type 0xE8, 32 bytes: the SHA-256 the backend must trust for this
connection, sstp/proxyproto.h), then relays bytes both ways. Towards the
client each SSTP packet goes in a TLS record of its own (sstpc 1.0.18
reads one packet per socket wake-up and would otherwise stall).

  tls_proxy.py serve ADDR PORT CERT KEY MODEFILE READYFILE
      MODEFILE is read at each connection: "BACKEND_PORT none" or
      "BACKEND_PORT sha256=<64 hex>"; the backend is 127.0.0.1:BACKEND_PORT.
  tls_proxy.py hash CERT       print the SHA-256 of CERT's DER, hex
Standard library only.
"""
import hashlib
import socket
import ssl
import struct
import sys
import threading

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
TLV_CERT_SHA256 = 0xE8


def cert_sha256(path):
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def proxy_v2(src, dst, tlv_hash):
    body = socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) + struct.pack("!HH", src[1], dst[1])
    if tlv_hash is not None:
        body += struct.pack("!BH", TLV_CERT_SHA256, len(tlv_hash)) + tlv_hash
    # version 2, PROXY command; TCP over IPv4
    return PP2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        b = sock.recv(n - len(out))
        if not b:
            return None
        out += b
    return out


def client_to_backend(tls, be):
    try:
        while True:
            b = tls.recv(16384)
            if not b:
                break
            be.sendall(b)
    except OSError:
        pass
    try:
        be.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def backend_to_client(be, tls):
    try:
        # the HTTP response head as it comes, then one record per SSTP packet
        head = b""
        while b"\r\n\r\n" not in head:
            b = be.recv(1)
            if not b:
                return
            head += b
        tls.sendall(head)
        while True:
            hdr = read_exact(be, 4)
            if hdr is None:
                break
            length = ((hdr[2] & 0x0F) << 8) | hdr[3]
            rest = read_exact(be, max(length - 4, 0))
            if rest is None:
                break
            tls.sendall(hdr + rest)
    except OSError:
        pass
    finally:
        try:
            tls.close()
        except OSError:
            pass


def handle(ctx, conn, peer, modefile):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError) as e:
        sys.stderr.write("tls_proxy: handshake with %s failed: %s\n" % (peer, e))
        conn.close()
        return
    with open(modefile) as f:
        port, mode = f.read().split()
    tlv = None
    if mode.startswith("sha256="):
        tlv = bytes.fromhex(mode[len("sha256="):])
    be = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    be.settimeout(None)
    be.sendall(proxy_v2(peer, tls.getsockname(), tlv))
    sys.stderr.write("tls_proxy: %s -> backend :%s with %s\n" % (peer, port, mode))
    sys.stderr.flush()
    threading.Thread(target=client_to_backend, args=(tls, be), daemon=True).start()
    backend_to_client(be, tls)
    be.close()


def serve(addr, port, cert, key, modefile, ready):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(16)
    with open(ready, "w"):
        pass
    while True:
        conn, peer = ls.accept()
        threading.Thread(target=handle, args=(ctx, conn, peer, modefile), daemon=True).start()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "hash":
        print(cert_sha256(sys.argv[2]))
        return 0
    if len(sys.argv) == 8 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
