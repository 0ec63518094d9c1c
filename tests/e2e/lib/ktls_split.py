#!/usr/bin/env python3
"""ktls_split.py — an SSTP client whose TLS records reach sstp-proxy cut in
pieces across the moment it hands the session to kernel TLS.

  ktls_split.py HOST PORT CA SNI

TLS 1.2 (the proxy frees OpenSSL's state for those). The TLS runs in memory
(ssl.MemoryBIO), so the script decides how the record bytes are cut into
TCP segments: the request head goes in two segments 0.3 s apart (the
handshake side), then CALL_CONNECT_REQUEST's record is cut after 7 bytes:
the first part leaves before the backend has answered (before the
handover), the rest 0.5 s after its answer was read (after it). The
backend's CALL_CONNECT_ACK must come back, then our close_notify ends the
session. Prints "ok ..." and exits 0, or "FAIL reason" and exits 1."""
import socket
import ssl
import struct
import sys
import time

HEAD = (b"SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\r\n"
        b"Host: vpn.example.test\r\nContent-Length: 18446744073709551615\r\n"
        b"SSTPCORRELATIONID: {22222222-3333-4444-5555-666666666666}\r\n\r\n")
# MS-SSTP 2.2: control packet, CALL_CONNECT_REQUEST with one attribute,
# ENCAPSULATED_PROTOCOL_ID = PPP
CONNECT = bytes([0x10, 0x01, 0x00, 0x0e, 0x00, 0x01, 0x00, 0x01,
                 0x00, 0x01, 0x00, 0x06, 0x00, 0x01])
MSG_CALL_CONNECT_ACK = 0x0002


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def main():
    host, port, ca, sni = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inb, outb, server_hostname=sni)
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def flush():
        data = outb.read()
        if data:
            sock.sendall(data)

    def feed():
        data = sock.recv(65536)
        if not data:
            fail("the proxy closed the connection")
        inb.write(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            feed()
    flush()
    if tls.version() != "TLSv1.2":
        fail("negotiated %s, not TLSv1.2" % tls.version())

    # the head's record in two segments
    tls.write(HEAD)
    rec = outb.read()
    sock.sendall(rec[:9])
    time.sleep(0.3)
    sock.sendall(rec[9:])
    # CALL_CONNECT_REQUEST's record: a first piece before the answer
    tls.write(CONNECT)
    rec = outb.read()
    sock.sendall(rec[:7])

    buf = b""
    deadline = time.time() + 10
    while b"\r\n\r\n" not in buf:
        if time.time() > deadline:
            fail("no HTTP answer")
        try:
            buf += tls.read(65536)
        except ssl.SSLWantReadError:
            feed()
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        fail("answer %r" % head[:40])
    time.sleep(0.5)  # the proxy has relayed the answer: the session is the kernel's now
    sock.sendall(rec[7:])

    buf = rest
    while len(buf) < 8:
        if time.time() > deadline:
            fail("no CALL_CONNECT_ACK (got %r)" % buf)
        try:
            buf += tls.read(65536)
        except ssl.SSLWantReadError:
            feed()
    ver, flags, length, msg = struct.unpack(">BBHH", buf[:6])
    if ver != 0x10 or not flags & 1 or msg != MSG_CALL_CONNECT_ACK:
        fail("expected CALL_CONNECT_ACK, got %r" % buf[:16])
    try:
        tls.unwrap()  # close_notify
    except ssl.SSLWantReadError:
        pass
    flush()
    sock.close()
    print("ok TLSv1.2 %s: head and CALL_CONNECT_REQUEST records split across the handover, "
          "CALL_CONNECT_ACK back" % tls.cipher()[0])


if __name__ == "__main__":
    main()
