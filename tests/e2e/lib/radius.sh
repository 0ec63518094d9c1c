# radius.sh — guest helpers for the RADIUS scenario: a FreeRADIUS 3.2
# (Debian `freeradius`) of the test's own, configured from scratch in a
# work-dir folder (never the system's /etc/freeradius nor its service), and
# the client side pppd's radius.so reads (radiusclient.conf, servers,
# dictionary), also in the work dir. Source after sstp.sh.
#
#   radius_server_conf DIR USERS_FILE  radiusd.conf, clients, modules and
#                                      the site in DIR; USERS_FILE is the
#                                      `files` module's users file
#   radius_start DIR NS                freeradius in namespace NS on
#                                      127.0.0.1:1812/1813, wait until ready
#   radius_client_conf DIR             radiusclient.conf (+ servers,
#                                      dictionary, port map) in DIR; names
#                                      the guest (radiusclient needs an address)
#   RADIUS_SECRET                      the shared secret of both sides
#
# What the test server does, per user (the reply policy of the scenario):
#   mschap with use_mppe: MS-MPPE-Send/Recv-Key and Encryption-Policy 1
#   users named nokeys*:   every MS-MPPE attribute removed from the reply
#                          (an MS-CHAPv2 accept without keys)
#   users named nopolicy*: keys kept, MS-MPPE-Encryption-Policy removed
#   users named policy0*:  keys kept, MS-MPPE-Encryption-Policy 0
# Accounting goes to DIR/acct/detail (the `detail` module's format).

RADIUS_SECRET=e2e-radius-secret

radius_server_conf() {
    local d=$1 users=$2
    mkdir -p "$d/log" "$d/acct" "$d/run" || return 1
    : > "$d/dictionary"
    cat > "$d/radiusd.conf" <<EOF
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = $d/log
raddbdir = $d
radacctdir = $d/acct
name = freeradius
confdir = $d
modconfdir = $d
run_dir = $d/run
db_dir = $d
libdir = /usr/lib/freeradius
pidfile = $d/run/radiusd.pid
max_request_time = 10
cleanup_delay = 1
max_requests = 256
hostname_lookups = no
log {
    destination = files
    file = $d/log/radius.log
    auth = yes
    auth_badpass = no
    auth_goodpass = no
}
security {
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = no
}
thread pool {
    start_servers = 1
    max_servers = 2
    min_spare_servers = 1
    max_spare_servers = 2
    max_requests_per_server = 0
}
client localhost {
    ipaddr = 127.0.0.1
    secret = $RADIUS_SECRET
    require_message_authenticator = no
}
modules {
    pap {
    }
    mschap {
        use_mppe = yes
        require_encryption = no
        require_strong = no
    }
    files {
        filename = $users
    }
    detail {
        filename = $d/acct/detail
        permissions = 0600
        header = "%t"
    }
}
server default {
    listen {
        type = auth
        ipaddr = 127.0.0.1
        port = 1812
    }
    listen {
        type = acct
        ipaddr = 127.0.0.1
        port = 1813
    }
    authorize {
        files
        mschap
        pap
    }
    authenticate {
        Auth-Type PAP {
            pap
        }
        Auth-Type MS-CHAP {
            mschap
        }
    }
    post-auth {
        if (&User-Name =~ /^nokeys/) {
            update reply {
                &MS-MPPE-Send-Key !* ANY
                &MS-MPPE-Recv-Key !* ANY
                &MS-MPPE-Encryption-Policy !* ANY
                &MS-MPPE-Encryption-Types !* ANY
            }
        }
        if (&User-Name =~ /^nopolicy/) {
            update reply {
                &MS-MPPE-Encryption-Policy !* ANY
            }
        }
        if (&User-Name =~ /^policy0/) {
            update reply {
                &MS-MPPE-Encryption-Policy := 0
            }
        }
    }
    accounting {
        detail
    }
}
EOF
}

radius_start() {
    local d=$1 ns=$2
    bg_start radiusd ip netns exec "$ns" freeradius -f -l stdout -d "$d"
    wait_for 20 log_has "$W/radiusd.log" "Ready to process requests" || {
        echo "radius_start: FreeRADIUS did not become ready" >&2
        return 1
    }
}

# radiusclient's dictionary: the attributes pppd's radius.so sends or reads
# (RFC 2865/2866/2869, RFC 2548 for Microsoft's), in its own format.
radius_client_conf() {
    local d=$1
    mkdir -p "$d" || return 1
    # radiusclient sends NAS-IP-Address from the host name's address and
    # gives up without one; a UML guest is "(none)" (the overlay's hosts
    # file, never the host's).
    hostname sstplb-guest || return 1
    echo "127.0.0.1 sstplb-guest" >> /etc/hosts || return 1
    cat > "$d/radiusclient.conf" <<EOF
auth_order radius
login_tries 4
login_timeout 60
nologin /etc/nologin
issue $d/issue
authserver 127.0.0.1:1812
acctserver 127.0.0.1:1813
servers $d/servers
dictionary $d/dictionary
login_radius /bin/false
seqfile $d/radius.seq
mapfile $d/port-id-map
default_realm
radius_timeout 3
radius_retries 2
login_local /bin/false
EOF
    echo "127.0.0.1 $RADIUS_SECRET" > "$d/servers"
    : > "$d/port-id-map"
    : > "$d/issue"
    cat > "$d/dictionary" <<'EOF'
ATTRIBUTE User-Name 1 string
ATTRIBUTE User-Password 2 string
ATTRIBUTE CHAP-Password 3 string
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE NAS-Port 5 integer
ATTRIBUTE Service-Type 6 integer
ATTRIBUTE Framed-Protocol 7 integer
ATTRIBUTE Framed-IP-Address 8 ipaddr
ATTRIBUTE Framed-IP-Netmask 9 ipaddr
ATTRIBUTE Framed-Routing 10 integer
ATTRIBUTE Filter-Id 11 string
ATTRIBUTE Framed-MTU 12 integer
ATTRIBUTE Framed-Compression 13 integer
ATTRIBUTE Reply-Message 18 string
ATTRIBUTE Framed-Route 22 string
ATTRIBUTE State 24 string
ATTRIBUTE Class 25 string
ATTRIBUTE Vendor-Specific 26 string
ATTRIBUTE Session-Timeout 27 integer
ATTRIBUTE Idle-Timeout 28 integer
ATTRIBUTE Called-Station-Id 30 string
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Acct-Status-Type 40 integer
ATTRIBUTE Acct-Delay-Time 41 integer
ATTRIBUTE Acct-Input-Octets 42 integer
ATTRIBUTE Acct-Output-Octets 43 integer
ATTRIBUTE Acct-Session-Id 44 string
ATTRIBUTE Acct-Authentic 45 integer
ATTRIBUTE Acct-Session-Time 46 integer
ATTRIBUTE Acct-Input-Packets 47 integer
ATTRIBUTE Acct-Output-Packets 48 integer
ATTRIBUTE Acct-Terminate-Cause 49 integer
ATTRIBUTE Acct-Multi-Session-Id 50 string
ATTRIBUTE Acct-Input-Gigawords 52 integer
ATTRIBUTE Acct-Output-Gigawords 53 integer
ATTRIBUTE CHAP-Challenge 60 string
ATTRIBUTE NAS-Port-Type 61 integer
ATTRIBUTE Port-Limit 62 integer
ATTRIBUTE Connect-Info 77 string
ATTRIBUTE Message-Authenticator 80 string
ATTRIBUTE Acct-Interim-Interval 85 integer
ATTRIBUTE NAS-Port-Id 87 string
VENDOR Microsoft 311
ATTRIBUTE MS-CHAP-Response 1 string Microsoft
ATTRIBUTE MS-CHAP-Error 2 string Microsoft
ATTRIBUTE MS-MPPE-Encryption-Policy 7 integer Microsoft
ATTRIBUTE MS-MPPE-Encryption-Types 8 integer Microsoft
ATTRIBUTE MS-CHAP-Domain 10 string Microsoft
ATTRIBUTE MS-CHAP-Challenge 11 string Microsoft
ATTRIBUTE MS-CHAP-MPPE-Keys 12 string Microsoft
ATTRIBUTE MS-MPPE-Send-Key 16 string Microsoft
ATTRIBUTE MS-MPPE-Recv-Key 17 string Microsoft
ATTRIBUTE MS-CHAP2-Response 25 string Microsoft
ATTRIBUTE MS-CHAP2-Success 26 string Microsoft
ATTRIBUTE MS-Primary-DNS-Server 28 ipaddr Microsoft
ATTRIBUTE MS-Secondary-DNS-Server 29 ipaddr Microsoft
EOF
}
