#!/usr/bin/env python3
"""sentinel_failover.py — Redis Sentinel for real (issue 11): a master and a
replica (real redis-server, password), one redis-sentinel with quorum 1,
sstp-proxy and sstp-backend (fake pppd) configured with the sentinels, and
sessions through the proxy all along:

  failover_kill  the master is SIGKILLed under load (sessions started one
                 after the other, through CALL_CONNECTED). Sentinel promotes
                 the replica; the proxy and the backend follow it (redis_up
                 on the new master), new sessions are recorded in the new
                 master within a bound that is measured and printed, no
                 session fails meanwhile, the sessions held across the
                 failover still answer an SSTP echo, and sstpctl --sentinel
                 reads them from the new master.
  failover_stop  the same with the master SIGSTOPped (a hung host: no
                 close, no RST): only lb/redis.c's reply deadline notices
                 it, then Sentinel is asked again (run when named, see
                 NEEDS_REPLY_DEADLINE).
Run by tests/integration/sentinel_failover.sh. Every wait is bounded; only
processes started here are signalled.
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H                      # noqa: E402
import proxy_env as pe                   # noqa: E402
import proxy_fleet as pf                 # noqa: E402
import proxy_util as pu                  # noqa: E402
import redis_util as ru                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

P = pf.P
MASTER = "sstpmaster"
BOUND_S = 15.0        # new sessions recorded in the new master within this after the kill


class Sentinel:
    """redis-sentinel on an ephemeral loopback port, monitoring one master
    with quorum 1 and fast failure detection."""

    def __init__(self, workdir, master_port, password):
        self.exe = shutil.which("redis-sentinel")
        check(self.exe, "redis-sentinel is not installed (scripts/deps.sh test)")
        self.dir = os.path.join(workdir, "sentinel")
        os.makedirs(self.dir, exist_ok=True)
        self.port = ru.free_port()
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:   # the sentinel rewrites it: its own copy
            f.write("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\n"
                    "sentinel resolve-hostnames no\n"
                    "sentinel monitor %s 127.0.0.1 %d 1\n"
                    "sentinel auth-pass %s %s\n"
                    "sentinel down-after-milliseconds %s 1000\n"
                    "sentinel failover-timeout %s 10000\n"
                    "sentinel parallel-syncs %s 1\n"
                    % (self.port, self.dir, MASTER, master_port, MASTER, password, MASTER, MASTER, MASTER))
        log = open(os.path.join(self.dir, "sentinel.log"), "ab")
        self.proc = subprocess.Popen([self.exe, self.conf], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.c = None
        ok = H.wait_until(self._up, 10)
        check(ok, "redis-sentinel did not start on port %d" % self.port)

    def _up(self):
        try:
            self.c = ru.Resp(self.port, timeout=1.0)
            return self.c.cmd("PING") == "PONG"
        except (OSError, ru.RespError):
            return False

    def master(self):
        """The address Sentinel gives for the master now, as (host, port)."""
        r = self.c.cmd("SENTINEL", "get-master-addr-by-name", MASTER)
        return (r[0], int(r[1])) if r else None

    def replicas_known(self):
        return len(self.c.cmd("SENTINEL", "replicas", MASTER) or [])

    def stop(self):
        if self.c:
            self.c.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def ts_lines(p_text, ev):
    return [(pf.ts_of(ln), ln) for ln in p_text.splitlines() if (" ev=%s " % ev) in ln + " "]


def failover(env, how):
    """how: "kill" (SIGKILL: the connections close) or "stop" (SIGSTOP: the
    master hangs, only a reply deadline notices)."""
    pw = "pw-" + os.urandom(6).hex()
    master = ru.RedisServer(env.work, password=pw, name="master")
    replica = ru.RedisServer(env.work, password=pw, name="replica",
                             extra=["--replicaof", "127.0.0.1", str(master.port), "--masterauth", pw])
    sen = None
    fl = None
    try:
        rc_r = replica.client()
        ok = H.wait_until(lambda: "master_link_status:up" in rc_r.cmd("INFO", "replication"), 10)
        check(ok, "the replica never synced")
        sen = Sentinel(env.work, master.port, pw)
        check(H.wait_until(lambda: sen.replicas_known() >= 1, 10), "Sentinel never found the replica")
        # the fleet, configured with the sentinel only: the URL's host is a decoy
        fl = pf.Fleet.__new__(pf.Fleet)
        fl.env, fl.redis, fl.rc, fl.reals = env, master, master.client(), []
        decoy = "redis://:%s@127.0.0.1:9" % pw
        redis_cfg = {"url": decoy, "sentinels": "127.0.0.1:%d" % sen.port, "sentinel_master": MASTER}
        be = fl.real("be-s", redis=False)
        be.b.stop()
        be.cfg["redis"] = dict(redis_cfg, heartbeat="0.5s", registry_ttl="2s", stats_interval="1s")
        be.b = H.Backend(be.work, None, be.cfg)
        be.b.start()
        s = fl.sections([])
        s["redis"].update(redis_cfg)
        s["redis"]["registry_grace"] = "30s"
        p = env.proxy(s)
        p.wait_log(r"ev=registry worker=0 registered=1 backends=1 ", timeout=8)

        # sessions held across the failover
        held = []
        for _ in range(3):
            hlak = be.prepare()
            c, r, corr = be.call(env)
            c.call_connected(hlak)
            held.append(c)
        check(be.b.wait_log("binding_ok", 5), "no binding_ok before the failover")

        # load: sessions one after the other through CALL_CONNECTED
        results = []                      # (start, end, ok, corr)
        stop = threading.Event()

        def load():
            while not stop.is_set():
                t0 = time.time()
                try:
                    hlak = be.prepare()
                    c, r, corr = be.call(env)
                    c.call_connected(hlak)       # be.call waited for the AUTH ack
                    results.append((t0, time.time(), True, corr))
                    c.close()
                except Exception as e:    # counted: a failed session is the finding
                    results.append((t0, time.time(), False, repr(e)))
                time.sleep(0.05)
        th = threading.Thread(target=load, daemon=True)
        th.start()
        time.sleep(1.0)
        old = sen.master()
        check(old == ("127.0.0.1", master.port), "Sentinel's master %r" % (old,))
        t_kill = time.time()
        if how == "kill":
            master.kill()
        else:
            master.proc.send_signal(signal.SIGSTOP)
        promoted = H.wait_until(lambda: sen.master() == ("127.0.0.1", replica.port), 20, 0.1)
        t_promoted = time.time()
        check(promoted, "Sentinel did not promote the replica within 20 s")
        rc_new = replica.client()

        # the fleet follows: both reconnect to the new master
        def up_after(text):
            return [t for t, ln in ts_lines(text, "redis_up") if t > t_kill and str(replica.port) in ln]
        pf.wait_for(lambda: up_after(p.text()), BOUND_S, "the proxy never reached the new master")
        pf.wait_for(lambda: up_after(be.b.text()), BOUND_S, "the backend never reached the new master")
        t_proxy_up = up_after(p.text())[0]
        t_be_up = up_after(be.b.text())[0]

        # new sessions recorded in the new master
        def recorded():
            """A session started after the kill has its hash in the new master."""
            ids = rc_new.cmd("ZRANGEBYSCORE", P + "sessions", int(t_kill * 1000), "+inf") or []
            return any(rc_new.cmd("EXISTS", P + "session:" + sid) for sid in ids)
        pf.wait_for(recorded, BOUND_S, "no session started after the kill reached the new master")
        t_recorded = time.time()
        time.sleep(1.0)
        stop.set()
        th.join(15)

        failed = [r for r in results if not r[2]]
        check(not failed, "%d of %d sessions failed during the failover: %r" % (len(failed), len(results), failed[:3]))
        during = [r for r in results if t_kill <= r[0] <= t_recorded]
        check(len(during) >= 5, "only %d sessions during the failover" % len(during))

        # the held sessions: untouched, they still answer an echo
        for c in held:
            c.send(sc.echo_request())
            ans = c.recv_ctrl(5)
            check(getattr(ans, "msg_type", None) == sc.ECHO_RESPONSE, "a held session lost: %r" % (ans,))
        # sstpctl through the sentinel reads the new master
        r = subprocess.run([pf.SSTPCTL, "-r", decoy, "--sentinel", "127.0.0.1:%d" % sen.port,
                            "--master", MASTER, "--json", "sessions", "--backend", "be-s"],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 0, "sstpctl --sentinel: %s" % r.stderr.strip())
        check(r.stdout.count('"session"') >= 3, "sstpctl --sentinel lists %d sessions" % r.stdout.count('"session"'))
        for c in held:
            c.close()
        print("     failover: master %s; Sentinel promoted the replica after %.2fs; proxy on the new "
              "master after %.2fs, backend after %.2fs; first new session recorded there within %.2fs "
              "(bound %gs); %d sessions during the failover, 0 failed; 3 held sessions answer echoes"
              % ("killed" if how == "kill" else "stopped", t_promoted - t_kill, t_proxy_up - t_kill, t_be_up - t_kill, t_recorded - t_kill, BOUND_S,
                 len(during)))
        rc_r.close()
        rc_new.close()
    finally:
        if fl:
            for r in fl.reals:
                try:
                    r.stop()
                except pu.Failure:
                    pass
            fl.rc.close()
        if sen:
            sen.stop()
        replica.stop()
        if master.proc.poll() is None:
            master.proc.send_signal(signal.SIGCONT)
        master.stop()


def t_failover_kill(env):
    failover(env, "kill")


def t_failover_stop(env):
    failover(env, "stop")


CASES = [
    ("failover_kill", t_failover_kill),
    ("failover_stop", t_failover_stop),  # a hung master: noticed by lb/redis.c's reply deadline
]

if __name__ == "__main__":
    try:
        only = sys.argv[1:]
        sys.exit(pe.main(CASES, only))
    finally:
        H.kill_all_started()
