"""harness.py — runs sstp-backend on loopback for integration tests.

Writes a configuration into a temp dir, starts the daemon (the ASan build
if there is one) on free ports with the fake pppd as its pppd, reads its
log, asks for counters with SIGHUP, finds the fake pppd of a connection by
its correlation id, and checks processes through /proc. Every wait is
bounded. Only processes this harness started are signalled, by pid.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time

import netutil

# written once in netutil; kept under this name for the suites that call it here
free_port = netutil.free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FAKE_PPPD = os.path.join(HERE, "fake_pppd.py")

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                      "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer",
                      "ERROR: UndefinedBehaviorSanitizer")


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def backend_binary():
    env = os.environ.get("SSTPLB_TEST_BACKEND")
    if env:
        return env
    asan = os.path.join(ROOT, "build", "asan", "sstp-backend")
    if os.access(asan, os.X_OK):
        return asan
    return os.path.join(ROOT, "build", "sstp-backend")


def make_certs(d):
    subprocess.run(["sh", os.path.join(ROOT, "scripts", "mkcerts.sh"), d, "offload"],
                   check=True, timeout=60)
    return d


def der_of(pem_path):
    import ssl
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


# ---- /proc ----

def proc_state(pid):
    """The one-letter state of pid, or None if there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2]


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        if int(fields[1]) == ppid:
            out.append(int(d))
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_until(pred, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(step)


def wait_gone(pid, timeout):
    """True once pid is neither running nor a zombie."""
    return wait_until(lambda: proc_state(pid) is None, timeout)


# ---- the log ----

KV_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_line(line):
    m = re.search(r" ev=(\S+)", line)
    if not m:
        return None
    d = {"_ev": m.group(1), "_line": line}
    for k, v in KV_RE.findall(line[m.end():]):
        d[k] = v[1:-1] if v.startswith('"') else v
    return d


# ---- fake pppd instances ----

class FakePppdRun:
    """One fake pppd started by the backend: its log and control socket."""

    def __init__(self, logdir, pid):
        self.logdir = logdir
        self.pid = pid
        self.path = os.path.join(logdir, "%d.jsonl" % pid)

    def events(self, ev=None):
        try:
            with open(self.path) as f:
                lines = f.readlines()
        except OSError:
            return []
        out = []
        for ln in lines:
            if not ln.endswith("\n"):
                break
            e = json.loads(ln)
            if ev is None or e["ev"] == ev:
                out.append(e)
        return out

    @property
    def start(self):
        s = self.events("start")
        return s[0] if s else None

    def wait_event(self, ev, timeout=5.0, pred=None):
        def find():
            for e in self.events(ev):
                if pred is None or pred(e):
                    return e
            return None
        return wait_until(find, timeout)

    def frames(self):
        return [(bytes.fromhex(e["hex"]), e["fcs_ok"]) for e in self.events("frame")]

    def ctl(self, **cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.sendto(json.dumps(cmd).encode(), os.path.join(self.logdir, "%d.ctl" % self.pid))
        finally:
            s.close()

    def alive(self):
        st = proc_state(self.pid)
        return st is not None and st != "Z"


class FakePppdDir:
    """The options file the backend passes to every fake pppd, and the
    directory where each one logs."""

    def __init__(self, work):
        self.dir = os.path.join(work, "pppd")
        os.makedirs(self.dir, exist_ok=True)
        self.options = os.path.join(work, "pppd.options.json")
        self.wrapper = os.path.join(work, "fake-pppd")
        with open(self.wrapper, "w") as f:
            # -I -S: a lean interpreter start; exec keeps the pid the backend knows
            f.write("#!/bin/sh\nexec /usr/bin/env python3 -I -S %s \"$@\"\n" % FAKE_PPPD)
        os.chmod(self.wrapper, 0o755)
        self.set()

    def set(self, **opts):
        opts["logdir"] = self.dir
        tmp = self.options + ".tmp"
        with open(tmp, "w") as f:
            json.dump(opts, f)
        os.rename(tmp, self.options)

    def runs(self):
        out = []
        for n in os.listdir(self.dir):
            if n.endswith(".jsonl"):
                out.append(FakePppdRun(self.dir, int(n[:-6])))
        return out

    def find(self, corr_id, timeout=5.0):
        """The fake pppd whose SSTP_CORRELATION_ID is corr_id, once ready."""
        def look():
            for r in self.runs():
                st = r.start
                if st and st["env"].get("SSTP_CORRELATION_ID") == corr_id and r.events("ready"):
                    return r
            return None
        return wait_until(look, timeout)


# ---- the daemon ----

STARTED = []   # every Backend started, for the last-resort cleanup


def kill_all_started():
    """SIGKILL what is left of the backends this process started and of their
    children (fake pppds), by pid. For an interrupted run."""
    for b in STARTED:
        if b.proc is None or b.proc.poll() is not None:
            continue
        for pid in children_of(b.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        b.proc.kill()
        try:
            b.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


class Backend:
    def __init__(self, work, certs, sections, binary=None):
        self.work = work
        self.certs = certs
        self.binary = binary or backend_binary()
        self.conf = os.path.join(work, "sstp-backend.conf")
        self.logpath = os.path.join(work, "backend.log")
        self.sections = sections
        self.proc = None
        self.rc = None
        self._stats_seen = 0

    def write_conf(self):
        with open(self.conf, "w") as f:
            for sec, kv in self.sections.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    if isinstance(v, (list, tuple)):
                        for item in v:
                            f.write("%s = %s\n" % (k, item))
                    else:
                        f.write("%s = %s\n" % (k, v))

    def start(self, timeout=10.0):
        self.write_conf()
        # the daemon reads SSTP_BACKEND_<SECTION>_<NAME> overrides: only
        # the file written here may configure it
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSTP_BACKEND_")}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.logf = open(self.logpath, "ab")
        try:
            self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=self.logf, env=env)
        except OSError as e:
            self.logf.close()
            raise TestFailure("cannot run %s: %s" % (self.binary, e))
        STARTED.append(self)
        ok = wait_until(lambda: self.find("ready") or self.proc.poll() is not None, timeout)
        if not self.find("ready"):
            raise TestFailure("backend did not start (rc=%s):\n%s" % (self.proc.poll(), self.text()[-2000:]))
        return ok

    @property
    def pid(self):
        return self.proc.pid

    def text(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def entries(self, ev=None):
        out = []
        for ln in self.text().splitlines():
            d = parse_line(ln)
            if d and (ev is None or d["_ev"] == ev):
                out.append(d)
        return out

    def find(self, ev, **match):
        for d in self.entries(ev):
            if all(d.get(k) == str(v) for k, v in match.items()):
                return d
        return None

    def wait_log(self, ev, timeout=5.0, **match):
        return wait_until(lambda: self.find(ev, **match), timeout)

    def stats(self, timeout=5.0):
        """SIGHUP, then the counters of the new ev=stats line."""
        before = len(self.entries("stats"))
        self.proc.send_signal(signal.SIGHUP)
        got = wait_until(lambda: len(self.entries("stats")) > before, timeout)
        check(got, "no ev=stats line after SIGHUP")
        d = self.entries("stats")[before]
        return {k: int(v) for k, v in d.items() if not k.startswith("_") and v.isdigit()}

    def sanitizer_report(self):
        t = self.text()
        for p in SANITIZER_PATTERNS:
            i = t.find(p)
            if i >= 0:
                return t[max(0, i - 200):i + 3000]
        return None

    def stop(self, timeout=15.0):
        """SIGTERM and wait; SIGKILL if it hangs. Returns the exit status."""
        if self.proc is None:
            return self.rc
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.rc = self.proc.wait(5)
                self.rc = "hung"
        else:
            self.rc = self.proc.returncode
        self.logf.close()
        return self.rc
