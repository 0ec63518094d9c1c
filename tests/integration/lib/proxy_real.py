#!/usr/bin/env python3
"""proxy_real.py — sstp-proxy in front of the real sstp-backend (with
lib/fake_pppd.py as pppd): the backend's crypto binding check uses the
certificate hash the proxy sends in its 0xE8 TLV, so a client bound to the
certificate the proxy presented passes and one bound to another certificate
fails; the backend's session id is the proxy's; plain TCP and mTLS between
them. Run by tests/integration/proxy_real_backend.sh.
"""
import os
import ssl
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H                      # noqa: E402
import proxy_env as pe                   # noqa: E402
import proxy_util as pu                  # noqa: E402
import sstpclient as sc                  # noqa: E402
from proxy_util import check             # noqa: E402

LCP_CONF_REQ = bytes.fromhex("ff03c021010100080506deadbeef")


class Real:
    """A real backend behind a proxy, and MS-CHAPv2 keys for fake pppd."""

    def __init__(self, env, mtls=False):
        self.env = env
        self.pd = H.FakePppdDir(env.work)
        listener = "mtls" if mtls else "proxy"
        self.port = pu.free_port()
        cfg = {
            "backend": {"id": "be-real", "log_level": "debug"},
            "listen": {listener: "127.0.0.1:%d" % self.port, "proxy_allow": "127.0.0.1/32"},
            "tls": {"cert": env.cert("backend.crt"), "key": env.cert("backend.key")},
            "sstp": {"negotiation_timeout": "10s", "handshake_timeout": "5s"},
            "pppd": {"path": self.pd.wrapper, "options": self.pd.options,
                     "plugin": "/usr/lib/sstp-lb-test/not-loaded.so", "kill_grace": "1s"},
            "limits": {"per_source_rate": "0"},
        }
        if mtls:
            cfg["tls"]["proxy_ca"] = env.cert("ca.crt")
        wdir = os.path.join(env.work, "backend")
        os.makedirs(wdir)
        self.b = H.Backend(wdir, env.certs, cfg)
        self.b.start()

    def mschap(self):
        mk = os.urandom(16)
        s_send, s_recv = sc.mschapv2_keys(mk, is_server=True)
        c_send, c_recv = sc.mschapv2_keys(mk, is_server=False)
        self.pd.set(auth={"method": "mschapv2", "keys_set": 1, "recv_key": s_recv.hex(),
                          "send_key": s_send.hex(), "user": "alice"},
                    write_on_start=[LCP_CONF_REQ.hex()])
        return sc.hlak_client_mschapv2(c_send, c_recv)

    def call(self, **kw):
        """Through the proxy up to the fake pppd's AUTH report (the backend
        acknowledges it only after CALL_CONNECTED verified the binding)."""
        cid = "{%s}" % uuid.uuid4()
        c = self.env.client(**kw)
        status, _ = c.http_handshake(corr_id=cid)
        check(status == 200, "HTTP status %r through the proxy" % status)
        p = c.sstp_connect()
        check(getattr(p, "msg_type", None) == sc.CONNECT_ACK, "want CONNECT_ACK, got %r" % (p,))
        r = self.pd.find(cid)
        check(r is not None, "no fake pppd for the call")
        check(r.wait_event("plugin_sent", 5, lambda e: e["type"] == "auth"), "pppd never reported AUTH")
        return c, r

    def stop(self):
        rc = self.b.stop()
        rep = self.b.sanitizer_report()
        check(rep is None, "sanitizer report in sstp-backend's log:\n%s" % rep)
        check(rc == 0, "sstp-backend exit status %r" % rc)


def binding(env, mtls):
    real = Real(env, mtls)
    try:
        server = "be1 127.0.0.1:%d" % real.port
        s = env.sections([server + (" tls sni=localhost" if mtls else "")])
        if mtls:
            s["backends"].update({"ca": env.cert("ca.crt"), "cert": env.cert("proxy-client.crt"),
                                  "key": env.cert("proxy-client.key")})
        p = env.proxy(s)
        # bound to the certificate the proxy presented: accepted
        hlak = real.mschap()
        c, r = real.call()
        sid = r.start["env"]["SSTP_SESSION_ID"]
        start = [ln for ln in p.lines("start") if "sid=%s " % sid in ln]
        check(len(start) == 1, "the backend's session id %s is not the proxy's" % sid)
        c.call_connected(hlak)
        check(real.b.wait_log("binding_ok", 5, sid=sid), "no ev=binding_ok on the backend")
        c.send(sc.call_disconnect())
        check(getattr(c.recv_ctrl(3), "msg_type", None) == sc.CALL_DISCONNECT_ACK, "no DISCONNECT_ACK")
        c.close()
        # bound to another certificate (what a client behind a rogue TLS
        # terminator would see): the backend refuses it
        hlak = real.mschap()
        c, r = real.call()
        sid = r.start["env"]["SSTP_SESSION_ID"]
        with open(env.cert("other.crt")) as f:
            pem = f.read()
        c.call_connected(hlak, cert_der=ssl.PEM_cert_to_DER_cert(pem))
        p2 = c.recv_ctrl(3)
        check(getattr(p2, "msg_type", None) == sc.CALL_ABORT, "want CALL_ABORT, got %r" % (p2,))
        check(real.b.wait_log("binding_fail", 3, sid=sid, rc="E_BIND_CERT_HASH"), "no binding_fail")
        c.close()
        p.wait_log(r"ev=close sid=%s .*state=RELAY" % sid)
    finally:
        real.stop()


def t_real_backend_plain(env):
    binding(env, mtls=False)


def t_real_backend_mtls(env):
    binding(env, mtls=True)


CASES = [
    ("real_backend_plain", t_real_backend_plain),
    ("real_backend_mtls", t_real_backend_mtls),
]

if __name__ == "__main__":
    sys.exit(pe.main(CASES, sys.argv[1:]))
