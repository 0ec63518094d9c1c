/* schema.h — the Redis schema of sstp-lb, version 2.1: the contract between
 * proxies, backends, sstpctl and ops dashboards. Every key name is built
 * here and nowhere else; README.md ("Redis schema") documents each one and
 * must say the same.
 *
 * All keys start with the configured prefix (default "sstp:"). Hashes of
 * live things carry a TTL that their writer refreshes, so a crashed node's
 * entries expire by themselves; readers skip index entries whose hash has
 * expired and remove them. Writers change a hash, its TTL and its indexes
 * in one Lua script, so no key is ever left without its TTL.
 *
 * Versioning: "major.minor" in the `schema` key. A minor step only adds
 * keys or fields (old readers keep working); a major step changes or
 * removes something, and a reader refuses a major it does not know. */
#ifndef SSTP_LB_LB_SCHEMA_H
#define SSTP_LB_LB_SCHEMA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define SCHEMA_VERSION_MAJOR 2
#define SCHEMA_VERSION_MINOR 1
#define SCHEMA_VERSION "2.1"

/* key formats after the prefix; %s is an id */
#define SCHEMA_K_VERSION      "schema"              /* STRING "major.minor" */
#define SCHEMA_K_BACKEND      "backend:%s"          /* HASH, TTL: registry entry */
#define SCHEMA_K_BACKENDS     "backends"            /* ZSET id -> last heartbeat (unix ms) */
#define SCHEMA_K_BACKEND_SESS "backend:%s:sessions" /* SET of session ids, TTL */
#define SCHEMA_K_DRAIN        "drain:%s"            /* STRING "drain" | "disconnect"; absent = up */
#define SCHEMA_K_AFFINITY     "aff:%s"              /* STRING backend id, TTL */
#define SCHEMA_K_SESSION      "session:%s"          /* HASH, TTL: one live session */
#define SCHEMA_K_SESSIONS     "sessions"            /* ZSET session id -> start (unix ms) */
#define SCHEMA_K_USER         "user:%s"             /* ZSET session id -> start (unix ms), TTL;
                                                       %s = user key (SHA-256 hex of the name) */
#define SCHEMA_K_STATS        "stats"               /* HASH of fleet counters (HINCRBY) */
#define SCHEMA_K_STATS_BACKEND "stats:backend:%s"   /* HASH: the same counters, one backend */
#define SCHEMA_K_STATS_PROXY  "stats:proxy:%s"      /* HASH: the proxy_* counters, one proxy */
#define SCHEMA_K_PROXY        "proxy:%s"            /* HASH, TTL: a proxy's registry entry */
#define SCHEMA_K_PROXIES      "proxies"             /* ZSET id -> last heartbeat (unix ms) */
#define SCHEMA_K_EVENTS       "events"              /* STREAM, capped with MAXLEN ~ */
#define SCHEMA_K_CTL          "ctl:%s"              /* pub/sub channel of one backend */

/* fields of SCHEMA_K_BACKEND */
#define SCHEMA_F_BE_ID        "id"
#define SCHEMA_F_BE_ADDR      "addr"       /* ip:port proxies connect to */
#define SCHEMA_F_BE_KIND      "kind"       /* proxy | mtls */
#define SCHEMA_F_BE_GROUP     "group"      /* tenant group ("" = default) */
#define SCHEMA_F_BE_WEIGHT    "weight"
#define SCHEMA_F_BE_CAPACITY  "capacity"   /* max sessions */
#define SCHEMA_F_BE_SESSIONS  "sessions"   /* live sessions now */
#define SCHEMA_F_BE_STATE     "state"      /* SCHEMA_BE_UP | SCHEMA_BE_DRAINING */
#define SCHEMA_F_BE_VERSION   "version"
#define SCHEMA_F_BE_STARTED   "started"    /* unix ms */
#define SCHEMA_F_BE_HEARTBEAT "heartbeat"  /* unix ms */
#define SCHEMA_F_BE_INSTANCE  "instance"   /* random per process start: two live
                                              processes with one id disagree on it */
#define SCHEMA_BE_UP          "up"
#define SCHEMA_BE_DRAINING    "draining"

/* fields of SCHEMA_K_PROXY (counters are in SCHEMA_K_STATS_PROXY) */
#define SCHEMA_F_PX_ID        "id"
#define SCHEMA_F_PX_ADDR      "addr"       /* the client listener */
#define SCHEMA_F_PX_VERSION   "version"
#define SCHEMA_F_PX_STARTED   "started"    /* unix ms */
#define SCHEMA_F_PX_HEARTBEAT "heartbeat"  /* unix ms */
#define SCHEMA_F_PX_WORKERS   "workers"

/* fields of SCHEMA_K_SESSION */
#define SCHEMA_F_S_ID         "id"
#define SCHEMA_F_S_USER       "user"       /* sanitised for display */
#define SCHEMA_F_S_USER_KEY   "user_key"   /* the user:%s index it counts in */
#define SCHEMA_F_S_CLIENT     "client"     /* ip */
#define SCHEMA_F_S_PORT       "client_port"
#define SCHEMA_F_S_SNI        "sni"
#define SCHEMA_F_S_PROXY      "proxy"      /* proxy id */
#define SCHEMA_F_S_BACKEND    "backend"    /* backend id */
#define SCHEMA_F_S_START      "start"      /* unix ms */
#define SCHEMA_F_S_BYTES_IN   "bytes_in"   /* from the client */
#define SCHEMA_F_S_BYTES_OUT  "bytes_out"  /* to the client */
#define SCHEMA_F_S_IP         "ip"         /* address IPCP assigned */
#define SCHEMA_F_S_IP6        "ip6"        /* the client's fe80::<IPV6CP identifier>
                                              (since 2.1) */
#define SCHEMA_F_S_STATE      "state"      /* SCHEMA_S_* below */
#define SCHEMA_F_S_UPDATED    "updated"    /* unix ms of the last write */

/* values of SCHEMA_F_S_STATE; an ended session's hash is deleted */
#define SCHEMA_S_NEGOTIATING   "negotiating"   /* HTTP accepted, PPP not authenticated */
#define SCHEMA_S_AUTHENTICATED "authenticated" /* PPP authenticated, admitted */
#define SCHEMA_S_CONNECTED     "connected"     /* crypto binding verified */

/* schema_version_ok: true when v ("major.minor") has this build's major,
 * i.e. a reader of this build understands what is stored. */
bool schema_version_ok(const char *v);

/* schema_key writes prefix + the formatted key into out. Returns out. */
const char *schema_key(char *out, size_t out_len, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SCHEMA_KEY_MAX 512

#endif
