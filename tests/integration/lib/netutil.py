"""netutil.py — small network helpers shared by every integration suite,
each written once (harness, proxy_util and redis_util re-export them)."""
import socket


def free_port(host="127.0.0.1"):
    """A TCP port free on host (loopback by default; IPv6 when host has a
    ':') at the time of asking."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
