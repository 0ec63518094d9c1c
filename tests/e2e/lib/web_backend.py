#!/usr/bin/env python3
"""web_backend.py — the website of the one_port e2e scenario: a plain HTTP
server that requires a PROXY v2 header in front of every connection (as
sstp-proxy's `backends.web = ... proxy_header=v2` sends it), records the
client address that header names, and answers with a fixed page.

    web_backend.py ADDR PORT LOG BODY

One line per connection in LOG: "web client=IP:PORT path=PATH" when served,
"web refused reason=..." when the header is missing or malformed (the
connection is then closed without an answer).
"""
import socket
import struct
import sys

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ValueError("short read")
        buf += chunk
    return buf


def proxy_v2_source(conn):
    head = read_exact(conn, 16)
    if head[:12] != SIG or head[12] != 0x21:
        raise ValueError("no PROXY v2 PROXY command")
    fam = head[13]
    body = read_exact(conn, struct.unpack("!H", head[14:16])[0])
    if fam == 0x11:      # TCP over IPv4
        ip = socket.inet_ntop(socket.AF_INET, body[0:4])
        port = struct.unpack("!H", body[8:10])[0]
    elif fam == 0x21:    # TCP over IPv6
        ip = socket.inet_ntop(socket.AF_INET6, body[0:16])
        port = struct.unpack("!H", body[32:34])[0]
    else:
        raise ValueError("family 0x%02x" % fam)
    return ip, port


def request_path(conn):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk or len(buf) > 65536:
            raise ValueError("no complete request head")
        buf += chunk
    parts = buf.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    return parts[1].decode("ascii", "replace")


def main():
    addr, port, log_path, body = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    page = body.encode() + b"\n"
    srv = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(16)
    with open(log_path, "a", buffering=1) as log:
        log.write("web ready\n")
        while True:
            conn, _ = srv.accept()
            conn.settimeout(5)
            try:
                ip, cport = proxy_v2_source(conn)
                path = request_path(conn)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(page) + page)
                log.write("web client=%s:%d path=%s\n" % (ip, cport, path))
            except (ValueError, OSError) as e:
                log.write("web refused reason=%s\n" % e)
            finally:
                conn.close()


if __name__ == "__main__":
    main()
