#!/usr/bin/env python3
"""deploy_test.py — the deployment artefacts, checked without Docker:

  compose      docker/docker-compose.yml validates with Debian's docker-compose
  image        every path a service uses (entrypoint, command, config files,
               pppd options, plugin, certificates) exists in its image stage
               of docker/Dockerfile, in `make install`'s tree, or a volume
  conf         conf/sstp-backend.conf and conf/sstp-proxy.conf pass
               --check-config (with the same environment overrides compose sets);
               the backend's old backend.admin is read with a warning
  systemd      the units name binaries and configs `make install` installs
  stop-timeout sstp-proxy's systemd TimeoutStopSec and compose stop_grace_period
               cover session.drain_timeout plus the master's kill slack (a
               shorter one kills the sessions the drain promised)
  make-run     scripts/run.sh brings the stack up; the proxy answers the HEAD
               probe and a full SSTP handshake through it reaches CALL_CONNECT_ACK

Prints PASS/FAIL per check; exits non-zero on any failure.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from netutil import free_port  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, "build")
results = []


def check(name, ok, why=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)


def run(cmd, env=None, timeout=60, cwd=REPO):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


# ---- docker-compose config ----------------------------------------------------

def compose_config(tmp):
    env = dict(os.environ, REDIS_PASSWORD="test-password")
    r = run(["docker-compose", "-f", "docker/docker-compose.yml", "config"], env=env)
    check("compose-validates", r.returncode == 0, r.stderr.strip()[-400:])
    if r.returncode != 0:
        return None
    import yaml  # python3-yaml comes with docker-compose
    return yaml.safe_load(r.stdout)


# ---- the image layout ---------------------------------------------------------

def dockerfile_stages():
    """stage name -> (base stage or None, [(src, dest, from_stage)])"""
    stages, cur = {}, None
    for line in open(os.path.join(REPO, "docker", "Dockerfile")):
        line = line.strip()
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            cur = m.group(2) or m.group(1)
            base = m.group(1) if m.group(1) in stages else None
            stages[cur] = (base, [])
            continue
        m = re.match(r"COPY\s+(?:--from=(\S+)\s+)?(\S+)\s+(\S+)$", line, re.I)
        if m and cur:
            stages[cur][1].append((m.group(2), m.group(3), m.group(1)))
    return stages


def image_paths(stages, target):
    """absolute paths a target stage has, from its COPYs and its bases' COPYs"""
    paths = {}
    st = target
    while st:
        base, copies = stages[st]
        for src, dest, frm in copies:
            paths[dest] = (src, frm)
        st = base
    return paths


def install_tree(tmp):
    dest = os.path.join(tmp, "install")
    r = run(["make", "install", "PREFIX=/usr/local", "DESTDIR=" + dest], timeout=300)
    check("make-install", r.returncode == 0, r.stderr[-400:])
    return dest


def debian_package_has(path):
    r = run(["dpkg", "-S", path])
    return r.returncode == 0


def check_image_layout(cfg, tmp):
    stages = dockerfile_stages()
    dest = install_tree(tmp)
    for target in ("proxy", "backend"):
        for path, (src, frm) in image_paths(stages, target).items():
            if frm == "build":
                ok = os.path.exists(os.path.join(dest, src.lstrip("/").replace("out/", "", 1)))
                check(f"image-{target}:{path}", ok, f"{src} is not in make install's tree")
            else:
                check(f"image-{target}:{path}", os.path.exists(os.path.join(REPO, src)), f"{src} missing in repo")
    for name, svc in cfg["services"].items():
        target = (svc.get("build") or {}).get("target")
        if target not in ("proxy", "backend"):
            continue
        have = image_paths(stages, target)
        mounts = [v.split(":")[1] if isinstance(v, str) else v["target"] for v in svc.get("volumes", [])]
        entry = (svc.get("entrypoint") or []) + (svc.get("command") or [])
        values = list((svc.get("environment") or {}).values()) + entry
        # every absolute path a service names must come from the image, a
        # Debian package installed in it, or a volume
        for v in values:
            for p in re.findall(r"(?<![\w:])(/[\w./-]+)", str(v)):
                if p.startswith("/dev/"):
                    continue
                ok = (p in have or any(p == m or p.startswith(m.rstrip("/") + "/") for m in mounts)
                      or debian_package_has(p))
                check(f"service-{name}:{p}", ok, "not in the image, a package or a volume")
    # the images' configs refer to paths the images have, unless compose
    # sets that option from the environment for every service of the image
    for target, conf in (("backend", "conf/sstp-backend.conf"), ("proxy", "conf/sstp-proxy.conf")):
        have = image_paths(stages, target)
        envs = [set((svc.get("environment") or {}).keys()) for svc in cfg["services"].values()
                if (svc.get("build") or {}).get("target") == target]
        overridden = set.intersection(*envs) if envs else set()
        section = None
        for line in open(os.path.join(REPO, conf)):
            ms = re.match(r"\[(\S+)\]", line)
            if ms:
                section = ms.group(1)
            m = re.match(r"\s*(\w+)\s*=\s*(/\S+)", line)
            if m and not line.lstrip().startswith(";"):
                p = m.group(2)
                var = f"SSTP_{target.upper()}_{section.upper()}_{m.group(1).upper()}"
                ok = p in have or debian_package_has(p) or var in overridden
                check(f"config-{target}:{m.group(1)}={p}", ok, "path not in the image")


# ---- --check-config -----------------------------------------------------------

def check_configs(cfg, tmp):
    certs = os.path.join(tmp, "certs")
    run([os.path.join(REPO, "scripts", "mkcerts.sh"), certs])
    # the example's certificate path is the operator's to fill: a test one stands in
    test_cert = {"SSTP_PROXY_TLS_CERT": f"{certs}/server.crt {certs}/server.key default"}
    for daemon, conf in (("sstp-backend", "conf/sstp-backend.conf"), ("sstp-proxy", "conf/sstp-proxy.conf")):
        r = run([os.path.join(BUILD, daemon), "-c", conf, "--check-config"], env=dict(os.environ, **test_cert))
        check(f"check-config:{conf}", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])
    # the backend's admin listener was backend.admin before it became
    # admin.address (the proxy's name): the old variable still works, warned
    be = [os.path.join(BUILD, "sstp-backend"), "-c", "conf/sstp-backend.conf", "--check-config"]
    r = run(be, env=dict(os.environ, SSTP_BACKEND_BACKEND_ADMIN="127.0.0.1:9181"))
    check("check-config:backend.admin-still-read-with-warning",
          r.returncode == 0 and "ev=config_deprecated option=backend.admin use=admin.address" in r.stderr,
          (r.stdout + r.stderr).strip()[-300:])
    r = run(be, env=dict(os.environ, SSTP_BACKEND_ADMIN_ADDRESS="127.0.0.1:9181"))
    check("check-config:admin.address-no-warning",
          r.returncode == 0 and "config_deprecated" not in r.stderr, (r.stdout + r.stderr).strip()[-300:])
    if not cfg:
        return
    # each service's environment on top of the image's config, with the
    # container paths of certificates mapped to test certificates
    for name, svc in cfg["services"].items():
        target = (svc.get("build") or {}).get("target")
        if target not in ("proxy", "backend"):
            continue
        env = dict(os.environ)
        for k, v in (svc.get("environment") or {}).items():
            env[k] = str(v).replace("/certs/", certs + "/")
        daemon = "sstp-proxy" if target == "proxy" else "sstp-backend"
        r = run([os.path.join(BUILD, daemon), "-c", f"conf/{daemon}.conf", "--check-config"], env=env)
        check(f"check-config:{name}-environment", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])
        bad = dict(env)
        bad[next(iter(k for k in svc["environment"] if k.endswith("_LISTEN_BIND") or k.endswith("_LISTEN_PROXY")))] = "nonsense"
        r = run([os.path.join(BUILD, daemon), "-c", f"conf/{daemon}.conf", "--check-config"], env=bad)
        check(f"check-config:{name}-bad-environment-refused", r.returncode != 0 and "env " in r.stderr,
              (r.stdout + r.stderr).strip()[-300:])


def check_conf_documents_every_option():
    """conf/ documents every option the daemons know, in the right section"""
    for daemon in ("sstp-backend", "sstp-proxy"):
        r = run([os.path.join(BUILD, daemon), "--help"])
        conf = open(os.path.join(REPO, "conf", daemon + ".conf")).read()
        section, missing = None, []
        conf_sections = {}
        cur = None
        for line in conf.splitlines():
            m = re.match(r"\[(\S+)\]", line)
            if m:
                cur = m.group(1)
            m = re.match(r";?(\w+)\s*=", line)
            if m and cur:
                conf_sections.setdefault(cur, set()).add(m.group(1))
        for line in r.stdout.splitlines():
            m = re.match(r"\[(\S+)\]", line)
            if m:
                section = m.group(1)
            m = re.match(r";(\w+) =", line)
            if m and section and m.group(1) not in conf_sections.get(section, set()):
                missing.append(f"{section}.{m.group(1)}")
        check(f"conf-documents-every-option:{daemon}", not missing and r.returncode == 0,
              "missing: " + ", ".join(missing))


# ---- systemd units ------------------------------------------------------------

def check_systemd(tmp):
    dest = os.path.join(tmp, "install")
    for unit in ("sstp-proxy.service", "sstp-backend.service"):
        path = os.path.join(dest, "lib", "systemd", "system", unit)
        check(f"systemd:{unit}-installed", os.path.exists(path), "not installed by make install")
        if not os.path.exists(path):
            continue
        text = open(path).read()
        for p in sorted(set(re.findall(r"(/usr/local/\S+|/etc/sstp-lb/\S+)", text))):
            ok = os.path.exists(os.path.join(dest, p.lstrip("/")))
            check(f"systemd:{unit}:{p}", ok, "not in make install's tree")
        check(f"systemd:{unit}-reload", "ExecReload=/bin/kill -HUP $MAINPID" in text, "no SIGHUP reload")


# ---- stop timeouts -------------------------------------------------------------

def seconds(text):
    """'30s', '1m', '500ms', '45' -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def proxy_drain_need(env_over=None):
    """drain_timeout (conf/sstp-proxy.conf: its setting, else its documented
    default; an environment override wins) + the kill slack --help states."""
    drain, section = None, None
    for line in open(os.path.join(REPO, "conf", "sstp-proxy.conf")):
        m = re.match(r"\[(\S+)\]", line)
        if m:
            section = m.group(1)
        m = re.match(r"(;?)drain_timeout\s*=\s*(\S+)", line)
        if m and section == "session" and (drain is None or not m.group(1)):
            drain = seconds(m.group(2))
    if env_over and env_over.get("SSTP_PROXY_SESSION_DRAIN_TIMEOUT"):
        drain = seconds(env_over["SSTP_PROXY_SESSION_DRAIN_TIMEOUT"])
    r = run([os.path.join(BUILD, "sstp-proxy"), "--help"])
    help_text = " ".join(ln.lstrip("; ") for ln in r.stdout.splitlines())
    m = re.search(r"workers still running\s+(\d+) s later are killed", help_text)
    slack = float(m.group(1)) if m else None
    return drain, slack


def check_stop_timeouts(cfg):
    drain, slack = proxy_drain_need()
    check("stop-timeout:drain-and-slack-known", drain is not None and slack is not None,
          f"drain_timeout={drain} slack={slack}")
    if drain is None or slack is None:
        return
    text = open(os.path.join(REPO, "conf", "systemd", "sstp-proxy.service")).read()
    m = re.search(r"^TimeoutStopSec=(\S+)", text, re.M)
    got = seconds(m.group(1)) if m else None
    check("stop-timeout:systemd-sstp-proxy", got is not None and got > drain + slack,
          f"TimeoutStopSec={got} must exceed drain_timeout {drain} + {slack} s")
    for name, svc in ((cfg or {}).get("services") or {}).items():
        if not name.startswith("proxy"):
            continue
        d, _ = proxy_drain_need(svc.get("environment") or {})
        grace = svc.get("stop_grace_period")
        g = seconds(str(grace)) if grace is not None else 10.0  # docker's default
        check(f"stop-timeout:compose-{name}", g is not None and g > d + slack,
              f"stop_grace_period={grace} must exceed drain_timeout {d} + {slack} s")


# ---- make run -----------------------------------------------------------------

def recv_until(sock, want, deadline):
    data = b""
    while len(data) < want and time.time() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    return data


def check_make_run(tmp):
    rundir = os.path.join(tmp, "run")
    ports = {k: free_port() for k in ("SSTP_RUN_PORT", "SSTP_RUN_BACKEND_PORT", "SSTP_RUN_REDIS_PORT", "SSTP_RUN_ADMIN_PORT")}
    env = dict(os.environ, SSTP_RUN_DIR=rundir, SSTP_RUN_FOREGROUND="0", SSTP_RUN_SECRETS="0",
               **{k: str(v) for k, v in ports.items()})
    r = run(["scripts/run.sh"], env=env, timeout=60)
    out = r.stdout + r.stderr
    pids = [int(p) for p in re.findall(r"started \S+ \(pid (\d+)\)", out)]
    try:
        check("make-run-starts", r.returncode == 0, out[-600:])
        check("make-run-prints-sstpc-line", re.search(r"sstpc .*--user sstp-demo --password \S+ 127\.0\.0\.1:%d file " % ports["SSTP_RUN_PORT"], out) is not None,
              "no sstpc command line in the output")
        if r.returncode != 0:
            return
        ctx = ssl.create_default_context(cafile=os.path.join(rundir, "certs", "ca.crt"))
        uri = b"/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"
        # the load balancer's health probe
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", ports["SSTP_RUN_PORT"]), timeout=5),
                             server_hostname="localhost") as s:
            s.sendall(b"HEAD " + uri + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = recv_until(s, 12, time.time() + 5)
        check("make-run-head-probe-200", head.startswith(b"HTTP/1.1 200"), repr(head[:60]))
        # a full SSTP handshake up to CALL_CONNECT_ACK
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", ports["SSTP_RUN_PORT"]), timeout=5),
                             server_hostname="localhost") as s:
            s.sendall(b"SSTP_DUPLEX_POST " + uri + b" HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Length: 18446744073709551615\r\nSSTPCORRELATIONID: {deploy-test}\r\n\r\n")
            resp = b""
            deadline = time.time() + 5
            while b"\r\n\r\n" not in resp and time.time() < deadline:
                resp += recv_until(s, len(resp) + 1, deadline)
            head, _, rest = resp.partition(b"\r\n\r\n")
            check("make-run-sstp-200", head.startswith(b"HTTP/1.1 200"), repr(head[:80]))
            s.sendall(bytes.fromhex("1001000e00010001000100060001"))  # CALL_CONNECT_REQUEST, PPP
            rest += recv_until(s, 48 - len(rest), time.time() + 5)
            ok = len(rest) >= 48 and rest[:4] == b"\x10\x01\x00\x30" and struct.unpack(">H", rest[4:6])[0] == 2
            check("make-run-call-connect-ack", ok, repr(rest[:16]))
    finally:
        for p in reversed(pids):
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in pids:
            for _ in range(50):
                try:
                    os.kill(p, 0)
                    time.sleep(0.1)
                except ProcessLookupError:
                    break
            else:
                os.kill(p, signal.SIGKILL)


def main():
    tmp = tempfile.mkdtemp(prefix="sstplb-deploy.")
    try:
        cfg = compose_config(tmp)
        if cfg:
            check_image_layout(cfg, tmp)
        else:
            install_tree(tmp)
        check_configs(cfg, tmp)
        check_conf_documents_every_option()
        check_systemd(tmp)
        check_stop_timeouts(cfg)
        check_make_run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    failed = results.count(False)
    print(f"deploy_test: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
