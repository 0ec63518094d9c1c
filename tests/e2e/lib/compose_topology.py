#!/usr/bin/env python3
"""compose_topology.py — turns docker/docker-compose.yml into a plan that the
User-Mode Linux topology tests (tests/e2e/topology_*.sh) run without Docker:
one network namespace per compose service, with the address compose gives
it, running the program its image would run, with the compose environment.

It asks Debian's docker-compose (1.29) for the resolved file (`config`),
reads docker/Dockerfile for each image target's ENTRYPOINT/CMD and COPY
lines, and maps every container path to the repository:
  * COPY <context file> <path>             -> that file of the repo
  * COPY --from=build /out/usr/local/...   -> build/... (the build stage runs
                                              `make install PREFIX=/usr/local
                                              DESTDIR=/out`)
  * volume ./certs:/certs                  -> the test's certificates
  * volume ./chap-secrets:/etc/ppp/chap-secrets
                                           -> the same path in the guest's
                                              overlay (the test writes it)
  * image redis:*                          -> the host's redis-server
Anything the compose file names that this map does not know (a path in an
environment value or a command, a volume, a device, a service key, an
image) is an error: the test must run what compose describes, or fail.

    compose_topology.py --repo DIR --certs DIR --password PW --out FILE
                        [--compose FILE] [--override FILE]... --work DIR
                        [--frontend-subnet CIDR]
                        [--proxy-env SSTP_PROXY_X_Y=VALUE]...

Writes FILE, a bash fragment (see topology.sh) and prints a summary on
stderr. --proxy-env adds a variable to every proxy service through a
compose override file (merged by docker-compose, as a
docker-compose.override.yml would be).
"""
import argparse
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import yaml  # python3-yaml comes with Debian's docker-compose


class PlanError(Exception):
    pass


# Service keys this translator understands (what it does with each is in
# service_plan); any other key is an error.
KNOWN_SERVICE_KEYS = {
    "build", "image", "restart", "depends_on", "sysctls", "volumes",
    "healthcheck", "environment", "ports", "networks", "cap_add", "devices",
    "command", "entrypoint",
    "stop_grace_period",  # compose's wait after SIGTERM; the guest stops services itself
}
# Capabilities and devices a root process in the UML guest already has.
KNOWN_CAPS = {"NET_ADMIN"}
KNOWN_DEVICES = {"/dev/ppp"}
# Per-namespace sysctls the guest can set in the service's namespace.
KNOWN_SYSCTLS = {"net.ipv4.ip_unprivileged_port_start"}
# `make install PREFIX=/usr/local DESTDIR=/out` puts the build's outputs
# here; the map back to build/ (Makefile: DAEMONS -> sbin, TOOLS -> bin,
# the plugin -> lib/sstp-lb).
INSTALL_DIRS = ("/out/usr/local/sbin/", "/out/usr/local/bin/", "/out/usr/local/lib/sstp-lb/")


def compose_config(repo, files, password, work):
    """The resolved compose file, as docker-compose itself merges and
    interpolates it, from a clean environment (no .env, no stray
    variables from the caller)."""
    exe = shutil.which("docker-compose")
    if not exe:
        raise PlanError("docker-compose not installed (apt-get install docker-compose)")
    env_file = os.path.join(work, "compose.env")
    with open(env_file, "w") as f:
        f.write("")
    cmd = [exe]
    for f in files:
        cmd += ["-f", f]
    cmd += ["--env-file", env_file, "config"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work,
           "REDIS_PASSWORD": password}
    r = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise PlanError("docker-compose config failed: " + r.stderr.strip()[-500:])
    return yaml.safe_load(r.stdout)


def parse_dockerfile(path):
    """Stages of a Dockerfile: name -> {parent, copies, entrypoint, cmd,
    runs}. Only the instructions used here are interpreted; line
    continuations are joined."""
    stages = {}
    cur = None
    with open(path) as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        rest = rest.strip()
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            if not m:
                raise PlanError(f"{path}: cannot read FROM {rest}")
            name = m.group(2) or f"stage{len(stages)}"
            cur = {"parent": m.group(1), "copies": [], "entrypoint": None, "cmd": None,
                   "runs": [], "user": None}
            stages[name] = cur
        elif cur is None:
            continue
        elif word == "COPY":
            toks = shlex.split(rest)
            src_stage = None
            while toks and toks[0].startswith("--"):
                opt = toks.pop(0)
                if opt.startswith("--from="):
                    src_stage = opt[len("--from="):]
            if len(toks) != 2:
                raise PlanError(f"{path}: COPY with {len(toks)} paths: {rest}")
            cur["copies"].append((src_stage, toks[0], toks[1]))
        elif word in ("ENTRYPOINT", "CMD"):
            try:
                val = json.loads(rest)
            except ValueError:
                raise PlanError(f"{path}: {word} must be in exec (JSON) form: {rest}")
            cur[word.lower()] = val
        elif word == "RUN":
            cur["runs"].append(rest)
        elif word == "USER":
            cur["user"] = rest
    return stages


def stage_chain(stages, target):
    """The target stage and the stages it is built FROM, target first."""
    chain = []
    name = target
    while name in stages:
        chain.append(stages[name])
        name = stages[name]["parent"]
    if not chain:
        raise PlanError(f"Dockerfile has no stage {target}")
    return chain


class PathMap:
    """Container paths -> repo (or guest) paths: exact files and
    directory prefixes."""

    def __init__(self):
        self.files = {}
        self.dirs = {}

    def add_file(self, container, host, why):
        self.files[container] = (host, why)

    def add_dir(self, container, host, why):
        self.dirs[container.rstrip("/")] = (host, why)

    def lookup(self, path):
        if path in self.files:
            return self.files[path][0]
        for d, (host, _) in self.dirs.items():
            if path == d or path.startswith(d + "/"):
                return host + path[len(d):]
        return None

    def map_value(self, value, what):
        """Every absolute path in a value (space separated words, or a
        whole word after `=`) is mapped; an unknown one is an error."""
        out = []
        for word in value.split(" "):
            key, eq, path = word.rpartition("=")
            if path.startswith("/"):
                mapped = self.lookup(path)
                if mapped is None:
                    raise PlanError(f"{what}: container path {path} is not in the map "
                                    f"(not copied by the Dockerfile, not a known volume)")
                out.append(key + eq + mapped)
            else:
                out.append(word)
        return " ".join(out)


def image_plan(svc_name, svc, repo, dockerfile_cache):
    """(kind, argv in container paths, PathMap, user) of a service's image."""
    pm = PathMap()
    build = svc.get("build")
    image = svc.get("image", "")
    if build:
        dockerfile = os.path.join(build.get("context", "."), build.get("dockerfile", "Dockerfile"))
        if os.path.realpath(build.get("context", ".")) != os.path.realpath(repo):
            raise PlanError(f"{svc_name}: build context {build.get('context')} is not the repo")
        target = build.get("target")
        if target not in ("proxy", "backend"):
            raise PlanError(f"{svc_name}: image target {target!r} is not in the map (proxy, backend)")
        if dockerfile not in dockerfile_cache:
            dockerfile_cache[dockerfile] = parse_dockerfile(dockerfile)
        stages = dockerfile_cache[dockerfile]
        chain = stage_chain(stages, target)
        for st in reversed(chain):
            for src_stage, src, dst in st["copies"]:
                if src_stage is None:
                    host = os.path.join(repo, src)
                    if not os.path.exists(host):
                        raise PlanError(f"{svc_name}: Dockerfile copies {src}, missing in the repo")
                    pm.add_file(dst, host, "COPY")
                    continue
                builder = stages.get(src_stage)
                if builder is None:
                    raise PlanError(f"{svc_name}: COPY --from={src_stage}: no such stage")
                if not any("make install PREFIX=/usr/local DESTDIR=/out" in r for r in builder["runs"]):
                    raise PlanError(f"{svc_name}: stage {src_stage} does not run "
                                    "`make install PREFIX=/usr/local DESTDIR=/out`")
                for d in INSTALL_DIRS:
                    if src.startswith(d) and "/" not in src[len(d):]:
                        host = os.path.join(repo, "build", src[len(d):])
                        if not os.path.exists(host):
                            raise PlanError(f"{svc_name}: {host} not built (make)")
                        pm.add_file(dst, host, "COPY --from=build")
                        break
                else:
                    raise PlanError(f"{svc_name}: COPY --from={src_stage} {src}: not an install path")
        entrypoint = next((st["entrypoint"] for st in chain if st["entrypoint"] is not None), [])
        cmd = next((st["cmd"] for st in chain if st["cmd"] is not None), [])
        user = next((st["user"] for st in chain if st["user"]), None)
        if "entrypoint" in svc:
            entrypoint = svc["entrypoint"]
            cmd = []
        if "command" in svc:
            cmd = svc["command"]
        return target, list(entrypoint) + list(cmd), pm, user
    if re.match(r"^redis:", image):
        argv = svc.get("command")
        if not isinstance(argv, list) or not argv or argv[0] != "redis-server":
            raise PlanError(f"{svc_name}: a redis image must have a `redis-server ...` command")
        exe = shutil.which("redis-server")
        if not exe:
            raise PlanError("redis-server not installed")
        pm.add_file("redis-server", exe, "image redis")
        return "redis", [exe] + [str(a) for a in argv[1:]], pm, None
    raise PlanError(f"{svc_name}: image {image!r} is not in the map (build target proxy/backend, redis:*)")


def healthcheck_argv(svc_name, hc):
    test = hc.get("test")
    if not isinstance(test, list) or not test:
        raise PlanError(f"{svc_name}: healthcheck test must be a list")
    # `docker-compose config` writes a literal $ as $$ again; Docker
    # would hand the command a single $.
    if test[0] == "CMD":
        return [t.replace("$$", "$") for t in test[1:]]
    if test[0] == "CMD-SHELL" and len(test) == 2:
        return ["/bin/sh", "-c", test[1].replace("$$", "$")]
    raise PlanError(f"{svc_name}: healthcheck test {test[0]} is not in the map (CMD, CMD-SHELL)")


def seconds(v, default):
    if v is None:
        return default
    m = re.match(r"^(\d+(?:\.\d+)?)(ms|s|m)?$", str(v))
    if not m:
        raise PlanError(f"cannot read duration {v}")
    x = float(m.group(1))
    return x / 1000 if m.group(2) == "ms" else x * 60 if m.group(2) == "m" else x


def dep_order(services):
    order, seen = [], set()

    def visit(name, stack):
        if name in seen:
            return
        if name in stack:
            raise PlanError(f"depends_on cycle through {name}")
        for dep in (services[name].get("depends_on") or {}):
            if dep not in services:
                raise PlanError(f"{name} depends on unknown service {dep}")
            visit(dep, stack + [name])
        seen.add(name)
        order.append(name)

    for name in sorted(services):
        visit(name, [])
    return order


def proxy_env_override(args, files):
    """--proxy-env K=V: a compose override file (docker-compose.override.yml
    style, merged by docker-compose itself) that adds K=V to the environment
    of every service built from the proxy target."""
    cfg = compose_config(args.repo, files, args.password, args.work)
    env = {}
    for kv in args.proxy_env:
        k, eq, v = kv.partition("=")
        if not eq or not re.match(r"^SSTP_PROXY_[A-Z0-9_]+$", k):
            raise PlanError(f"--proxy-env {kv}: want SSTP_PROXY_<SECTION>_<NAME>=VALUE")
        env[k] = v
    over = {"version": cfg.get("version", "3.9"), "services": {}}
    for name, svc in (cfg.get("services") or {}).items():
        if (svc.get("build") or {}).get("target") == "proxy":
            over["services"][name] = {"environment": dict(env)}
    if not over["services"]:
        raise PlanError("--proxy-env: no proxy service")
    path = os.path.join(args.work, "compose.override.yml")
    with open(path, "w") as f:
        f.write("# written by compose_topology.py --proxy-env\n")
        yaml.safe_dump(over, f, default_flow_style=False)
    return path


def plan(args):
    files = [os.path.join(args.repo, args.compose)] + args.override
    if args.proxy_env:
        files.append(proxy_env_override(args, files))
    cfg = compose_config(args.repo, files, args.password, args.work)
    services = cfg.get("services") or {}
    nets = cfg.get("networks") or {}
    compose_dir = os.path.dirname(os.path.realpath(files[0]))

    net_plan = {}
    for name, n in nets.items():
        n = n or {}
        subnets = [c.get("subnet") for c in ((n.get("ipam") or {}).get("config") or []) if c.get("subnet")]
        if len(subnets) > 1:
            raise PlanError(f"network {name}: more than one subnet")
        subnet = subnets[0] if subnets else None
        if subnet is None:
            # Docker would pick a free pool; the test picks one too.
            subnet = args.frontend_subnet
        net_plan[name] = {"subnet": subnet, "internal": bool(n.get("internal"))}
    used_subnets = [ipaddress.ip_network(p["subnet"]) for p in net_plan.values()]
    for i, a in enumerate(used_subnets):
        for b in used_subnets[i + 1:]:
            if a.overlaps(b):
                raise PlanError(f"subnets {a} and {b} overlap (two networks without ipam?)")

    cache = {}
    out = {}
    next_host = {n: 2 for n in net_plan}
    fixed = {}
    for name, svc in services.items():
        for net, conf in (svc.get("networks") or {}).items():
            addr = (conf or {}).get("ipv4_address")
            if addr:
                fixed.setdefault(net, set()).add(addr)
    for name in dep_order(services):
        svc = services[name]
        unknown = set(svc) - KNOWN_SERVICE_KEYS
        if unknown:
            raise PlanError(f"{name}: service keys not in the map: {', '.join(sorted(unknown))}")
        kind, argv, pm, user = image_plan(name, svc, args.repo, cache)
        for cap in svc.get("cap_add") or []:
            if cap not in KNOWN_CAPS:
                raise PlanError(f"{name}: cap_add {cap} not in the map")
        for dev in svc.get("devices") or []:
            host_dev = dev.split(":")[0]
            if host_dev not in KNOWN_DEVICES:
                raise PlanError(f"{name}: device {dev} not in the map")
        sysctls = svc.get("sysctls") or {}
        for k in sysctls:
            if k not in KNOWN_SYSCTLS:
                raise PlanError(f"{name}: sysctl {k} not in the map")
        for vol in svc.get("volumes") or []:
            if isinstance(vol, dict):
                src, dst = vol.get("source", ""), vol.get("target", "")
            else:
                parts = vol.split(":")
                src, dst = parts[0], parts[1] if len(parts) > 1 else parts[0]
            rel = os.path.relpath(src, compose_dir)
            if dst == "/certs" and rel == "certs":
                pm.add_dir("/certs", args.certs, "volume ./certs")
            elif dst == "/etc/ppp/chap-secrets" and rel == "chap-secrets":
                # the guest writes this file in its overlay, at this path
                pm.add_file(dst, dst, "volume ./chap-secrets (written by the test)")
            else:
                raise PlanError(f"{name}: volume {src}:{dst} not in the map")
        env = {}
        for k, v in (svc.get("environment") or {}).items():
            env[k] = pm.map_value("" if v is None else str(v), f"{name}: environment {k}")
        argv = [argv[0] if kind == "redis" else pm.map_value(argv[0], f"{name}: command")] + \
               [pm.map_value(str(a), f"{name}: command") for a in argv[1:]]
        hc = svc.get("healthcheck")
        if not hc or hc.get("disable"):
            raise PlanError(f"{name}: no healthcheck (the test waits for compose's healthchecks)")
        svc_nets = {}
        for net, conf in (svc.get("networks") or {}).items():
            if net not in net_plan:
                raise PlanError(f"{name}: unknown network {net}")
            addr = (conf or {}).get("ipv4_address")
            prefix = ipaddress.ip_network(net_plan[net]["subnet"])
            if not addr:
                # Docker hands out the next free address of the pool.
                while True:
                    cand = str(prefix.network_address + next_host[net])
                    next_host[net] += 1
                    if cand not in fixed.get(net, set()):
                        break
                addr = cand
            if ipaddress.ip_address(addr) not in prefix:
                raise PlanError(f"{name}: {addr} is not in {net}'s {prefix}")
            svc_nets[net] = f"{addr}/{prefix.prefixlen}"
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        ports = []
        for p in svc.get("ports") or []:
            if isinstance(p, dict):
                ports.append(f"{p.get('published')}:{p.get('target')}")
            else:
                ports.append(str(p))
        out[name] = {
            "kind": kind, "argv": argv, "env": env, "user": user,
            "nets": svc_nets, "sysctls": {k: str(v) for k, v in sysctls.items()},
            "hc": healthcheck_argv(name, hc),
            "hc_interval": seconds(hc.get("interval"), 30), "hc_timeout": seconds(hc.get("timeout"), 30),
            "hc_retries": int(hc.get("retries", 3)),
            "depends": {d: (c or {}).get("condition", "service_started") for d, c in deps.items()},
            "ports": ports, "map": pm,
        }
    return out, net_plan


def bash_array(values):
    return "(" + " ".join(shlex.quote(v) for v in values) + ")"


def emit(out, nets, path):
    q = shlex.quote
    lines = ["# generated by tests/e2e/lib/compose_topology.py; sourced by topology.sh"]
    lines.append("TOPO_SERVICES=" + bash_array(list(out)))
    lines.append("TOPO_NETWORKS=" + bash_array(list(nets)))
    for n, p in nets.items():
        lines.append(f"TOPO_NET_SUBNET[{q(n)}]={q(p['subnet'])}")
        lines.append(f"TOPO_NET_INTERNAL[{q(n)}]={1 if p['internal'] else 0}")
    for name, s in out.items():
        v = re.sub(r"[^A-Za-z0-9_]", "_", name)
        lines.append(f"TOPO_VAR[{q(name)}]={q(v)}")
        lines.append(f"TOPO_KIND[{q(name)}]={q(s['kind'])}")
        lines.append(f"TOPO_NETS[{q(name)}]={q(' '.join(f'{n}={a}' for n, a in s['nets'].items()))}")
        lines.append(f"TOPO_DEPENDS[{q(name)}]={q(' '.join(f'{d}={c}' for d, c in s['depends'].items()))}")
        lines.append(f"TOPO_SYSCTLS[{q(name)}]={q(' '.join(f'{k}={x}' for k, x in s['sysctls'].items()))}")
        lines.append(f"TOPO_PORTS[{q(name)}]={q(' '.join(s['ports']))}")
        lines.append(f"TOPO_HC_INTERVAL[{q(name)}]={s['hc_interval']:g}")
        lines.append(f"TOPO_HC_TIMEOUT[{q(name)}]={s['hc_timeout']:g}")
        lines.append(f"TOPO_HC_RETRIES[{q(name)}]={s['hc_retries']}")
        lines.append(f"TOPO_ARGV_{v}=" + bash_array(s["argv"]))
        lines.append(f"TOPO_ENV_{v}=" + bash_array([f"{k}={x}" for k, x in sorted(s["env"].items())]))
        lines.append(f"TOPO_HC_{v}=" + bash_array(s["hc"]))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def summary(out, nets):
    w = sys.stderr.write
    for n, p in nets.items():
        w(f"network {n}: {p['subnet']}{' internal' if p['internal'] else ''}\n")
    for name, s in out.items():
        w(f"{name} ({s['kind']}): {' '.join(s['nets'].values())}\n")
        w(f"    run: {' '.join(shlex.quote(a) for a in s['argv'])}\n")
        if s["user"]:
            w(f"    image USER {s['user']}: run as root in the guest\n")
        for c, (h, why) in sorted(s["map"].files.items()):
            w(f"    map {c} -> {h} ({why})\n")
        for c, (h, why) in sorted(s["map"].dirs.items()):
            w(f"    map {c}/ -> {h}/ ({why})\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", required=True)
    ap.add_argument("--compose", default="docker/docker-compose.yml")
    ap.add_argument("--override", action="append", default=[])
    ap.add_argument("--certs", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--frontend-subnet", default="172.29.0.0/24")
    ap.add_argument("--proxy-env", action="append", default=[])
    args = ap.parse_args()
    args.repo = os.path.realpath(args.repo)
    args.certs = os.path.realpath(args.certs)
    try:
        out, nets = plan(args)
    except (PlanError, OSError, subprocess.SubprocessError, yaml.YAMLError) as e:
        print(f"compose_topology: {e}", file=sys.stderr)
        return 1
    emit(out, nets, args.out)
    summary(out, nets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
