#!/usr/bin/python3
"""xfer.py — bulk TCP transfer for the e2e tests and the benchmark: one side
sends N bytes (random, or a file), the other receives them; each prints one
line "bytes=N sha256=HEX secs=S" so the caller can compare both ends.
Standard library only.

  xfer.py recv ADDR PORT READYFILE   listen, take one connection, read to EOF
  xfer.py send ADDR PORT NBYTES      connect, send NBYTES of random data
For throughput (the benchmark), without hashing or fresh random data, so
the transfer costs the measuring CPU as little as possible:
  xfer.py sink ADDR PORT READYFILE   like recv, prints "bytes=N secs=S"
  xfer.py source ADDR PORT NBYTES    one random 64 KiB block, sent over again
"""
import hashlib
import os
import socket
import sys
import time

CHUNK = 64 * 1024


def recv(addr, port, ready, digest=True):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(60)
    with open(ready, "w"):
        pass
    conn, _ = ls.accept()
    conn.settimeout(60)
    h = hashlib.sha256()
    n = 0
    t0 = None
    while True:
        b = conn.recv(CHUNK)
        if not b:
            break
        if t0 is None:
            t0 = time.monotonic()
        if digest:
            h.update(b)
        n += len(b)
    secs = time.monotonic() - t0 if t0 is not None else 0.0
    conn.close()
    if digest:
        print("bytes=%d sha256=%s secs=%.3f" % (n, h.hexdigest(), secs), flush=True)
    else:
        print("bytes=%d secs=%.3f" % (n, secs), flush=True)


def send(addr, port, nbytes):
    s = socket.create_connection((addr, port), timeout=60)
    h = hashlib.sha256()
    left = nbytes
    t0 = time.monotonic()
    while left > 0:
        b = os.urandom(min(CHUNK, left))
        h.update(b)
        s.sendall(b)
        left -= len(b)
    s.shutdown(socket.SHUT_WR)
    # wait for the receiver to close: every byte has then been read
    s.settimeout(60)
    while s.recv(CHUNK):
        pass
    secs = time.monotonic() - t0
    s.close()
    print("bytes=%d sha256=%s secs=%.3f" % (nbytes, h.hexdigest(), secs), flush=True)


def source(addr, port, nbytes):
    s = socket.create_connection((addr, port), timeout=60)
    block = memoryview(os.urandom(CHUNK))
    left = nbytes
    t0 = time.monotonic()
    while left > 0:
        k = min(CHUNK, left)
        s.sendall(block[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    s.settimeout(120)
    while s.recv(CHUNK):
        pass
    secs = time.monotonic() - t0
    s.close()
    print("bytes=%d secs=%.3f" % (nbytes, secs), flush=True)


def main():
    modes = ("recv", "send", "sink", "source")
    if len(sys.argv) != 5 or sys.argv[1] not in modes:
        sys.stderr.write(__doc__)
        return 2
    mode, addr, port, arg = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if mode == "recv":
        recv(addr, port, arg)
    elif mode == "sink":
        recv(addr, port, arg, digest=False)
    elif mode == "send":
        send(addr, port, int(arg))
    else:
        source(addr, port, int(arg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
