/* schema.h — the Redis schema of sstp-lb, version 1: the contract between
 * proxies, backends, sstpctl and ops dashboards. Every key name is built
 * here and nowhere else; README.md ("Redis schema") documents each one.
 *
 * All keys start with the configured prefix (default "sstp:"). Hashes of
 * live things carry a TTL that their writer refreshes, so a crashed node's
 * entries expire by themselves; readers skip index entries whose hash has
 * expired and remove them. */
#ifndef SSTP_LB_LB_SCHEMA_H
#define SSTP_LB_LB_SCHEMA_H

#include <stdarg.h>
#include <stddef.h>

#define SCHEMA_VERSION "1"

/* key formats after the prefix; %s is an id */
#define SCHEMA_K_VERSION      "schema"              /* STRING "1" */
#define SCHEMA_K_BACKEND      "backend:%s"          /* HASH, TTL: registry entry */
#define SCHEMA_K_BACKENDS     "backends"            /* ZSET id -> last heartbeat (unix ms) */
#define SCHEMA_K_BACKEND_SESS "backend:%s:sessions" /* SET of session ids, TTL */
#define SCHEMA_K_DRAIN        "drain:%s"            /* STRING "drain" | "disconnect"; absent = up */
#define SCHEMA_K_AFFINITY     "aff:%s"              /* STRING backend id, TTL */
#define SCHEMA_K_SESSION      "session:%s"          /* HASH, TTL: one live session */
#define SCHEMA_K_SESSIONS     "sessions"            /* ZSET session id -> start (unix ms) */
#define SCHEMA_K_USER         "user:%s"             /* ZSET session id -> start (unix ms), TTL */
#define SCHEMA_K_STATS        "stats"               /* HASH of fleet counters (HINCRBY) */
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
#define SCHEMA_F_BE_STATE     "state"      /* up | draining */
#define SCHEMA_F_BE_VERSION   "version"
#define SCHEMA_F_BE_STARTED   "started"    /* unix ms */
#define SCHEMA_F_BE_HEARTBEAT "heartbeat"  /* unix ms */

/* fields of SCHEMA_K_SESSION */
#define SCHEMA_F_S_ID         "id"
#define SCHEMA_F_S_USER       "user"
#define SCHEMA_F_S_CLIENT     "client"     /* ip */
#define SCHEMA_F_S_PORT       "client_port"
#define SCHEMA_F_S_SNI        "sni"
#define SCHEMA_F_S_PROXY      "proxy"      /* proxy id */
#define SCHEMA_F_S_BACKEND    "backend"    /* backend id */
#define SCHEMA_F_S_START      "start"      /* unix ms */
#define SCHEMA_F_S_BYTES_IN   "bytes_in"   /* from the client */
#define SCHEMA_F_S_BYTES_OUT  "bytes_out"  /* to the client */
#define SCHEMA_F_S_IP         "ip"         /* address IPCP assigned */
#define SCHEMA_F_S_STATE      "state"      /* negotiating | connected | closing */
#define SCHEMA_F_S_UPDATED    "updated"    /* unix ms of the last write */

/* schema_key writes prefix + the formatted key into out. Returns out. */
const char *schema_key(char *out, size_t out_len, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SCHEMA_KEY_MAX 512

#endif
