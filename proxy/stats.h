/* stats.h — sstp-proxy's metric families (core/metrics) and the helpers
 * the worker and the master count with.
 *
 * Block layout: one block per worker (index = worker number) plus the
 * master's own (index = number of workers), so /metrics on the master's
 * admin listener sums every process without locks. */
#ifndef SSTP_LB_PROXY_STATS_H
#define SSTP_LB_PROXY_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "sstp/rc.h"

enum px_metric {
    PXM_CONNECTIONS = 0,    /* accepted connections */
    PXM_CONNECTIONS_ACTIVE,
    PXM_SESSIONS,           /* sessions relayed to a backend */
    PXM_SESSIONS_ACTIVE,
    PXM_REFUSED,            /* {reason} connections closed before any protocol */
    PXM_PROTO_ERRORS,       /* {rc} rejected PROXY headers and HTTP requests */
    PXM_TLS_HANDSHAKES,     /* {version} */
    PXM_TLS_CIPHERS,        /* {cipher} */
    PXM_TLS_FAILURES,
    PXM_TLS_RESUMED,
    PXM_TIMEOUTS,           /* {phase} */
    PXM_PROBES,             /* {status} HEAD health probes answered */
    PXM_BYTES,              /* {direction} */
    PXM_TERM,               /* {term} connections ended, by termination code */
    PXM_BACKEND_UP,         /* {backend} 1 up, 0 marked down (min over workers) */
    PXM_BACKEND_ACTIVE,     /* {backend} sessions on it */
    PXM_BACKEND_SESSIONS,   /* {backend} sessions relayed to it */
    PXM_BACKEND_FAILURES,   /* {backend} refused/reset/timed out before any byte */
    PXM_RETRIES,            /* sessions moved to another backend */
    PXM_NO_BACKEND,         /* sessions answered 503: no backend could take them */
    PXM_BUFFERS,            /* pool buffers in use */
    PXM_WORKER_READY,       /* workers listening with a backend available */
    PXM_WORKERS,            /* master: worker processes running */
    PXM_WORKER_RESTARTS,    /* master */
    PXM_RELOADS,            /* {result} master: SIGHUP reloads */
    PXM_NO_BACKEND_REASON,  /* {reason} the 503s of PXM_NO_BACKEND by reason */
    PXM_BACKEND_HEALTHY,    /* {backend} 1 passing its active checks, 0 failing (min over workers) */
    PXM_HEALTH_CHECKS,      /* {result} active health checks done */
    PXM_REDIS_CONNECTED,    /* workers connected to Redis now */
    PXM_REDIS_COMMANDS,     /* {result} Redis commands sent, failed, refused */
    PXM_REGISTRY_REFRESHES, /* {result} registry reads answered */
    PXM_REGISTRY_BACKENDS,  /* backends registered in Redis (max over workers) */
    PXM_AFFINITY,           /* {result} affinity look-ups of new sessions */
    PXM_TLS_POLICY,         /* {reason} resumptions and connections refused, staples dropped */
    PXM_REGISTRY_IGNORED,   /* {reason} registry entries ignored (each read), lb_reg_rc - 1 */
    PXM_REGISTRY_HELD,      /* registry reads held back: empty or shrunken within the grace */
    PXM_ATTEMPTS_FAILED,    /* {cause} backend attempts given up, by whose doing */
    PXM_RESOURCE_ERRORS,    /* {reason} this proxy's own resources ran out on a backend attempt */
    PXM_PANIC_PICKS,        /* backends picked in panic mode (lb_panic) */
    PXM_PAUSES,             /* times a worker at max_conns left its listeners' groups */
    PXM_HANDSHAKES,         /* connections not relayed yet (limits.max_handshakes) */
    PXM_MEMORY_WAITS,       /* relay reads put off because limits.relay_memory was taken */
    PXM_BUFFER_BYTES,       /* bytes of pool buffers held now */
    PXM_BUFFER_BYTES_PEAK,  /* most bytes of pool buffers held at once since start (max over workers) */
    PXM_REDIS_ERRORS,       /* {reason} Redis connections failed or dropped (enum rds_err) */
    PXM_CERT_NOT_AFTER,     /* {cert} master: notAfter of each served certificate, unix seconds */
    PXM_OCSP_NEXT_UPDATE,   /* {cert} master: nextUpdate of the OCSP response stapled with it */
    PXM_HEAP_BYTES,         /* {state} in_use|free: the worker's malloc heap (core/heap.h) */
    PXM_HEAP_TRIMS,         /* malloc_trim calls after many sessions left */
    PXM_KTLS_SESSIONS,      /* {mode} relayed sessions whose TLS the kernel does (core/ktls.h) */
    PXM_KTLS_EVENTS,        /* {event} kernel TLS fall-backs and sessions closed for it */
    PXM_COUNT
};

/* Fixed label values. */
enum px_refuse { PXR_MAX_CONNS = 0, PXR_UNTRUSTED_PROXY, PXR_ACCEPT_ERROR, PXR_DRAINING, PXR_NO_MEMORY,
                 PXR_SOURCE_RATE, PXR_SOURCE_CONNS, PXR_SOURCE_TABLE, PXR_HANDSHAKES, PXR_COUNT };
enum px_timeout { PXT_HANDSHAKE = 0, PXT_REQUEST, PXT_BACKEND, PXT_IDLE, PXT_FIN, PXT_COUNT };
enum px_dir { PXD_IN = 0, PXD_OUT = 1 };   /* in = client to backend */
enum px_probe { PXP_200 = 0, PXP_503 = 1 };
enum px_reload { PXL_OK = 0, PXL_FAILED = 1 };
enum px_nb_reason { PXN_NO_BACKEND_UP = 0, PXN_NO_BACKEND_FOR_TENANT, PXN_ATTEMPTS_FAILED, PXN_COUNT };
/* Why a backend attempt was given up (conn.c). backend: its own fault
 * (refused, reset, closed, 5xx, connect/TLS timeout or verification),
 * counted against it; slow: it accepted but did not answer in time;
 * busy: it answered 503; request: it answered 4xx, which went to the
 * client; local: this proxy ran out of something (PXM_RESOURCE_ERRORS).
 * Only `backend` marks a backend down. */
enum px_attempt { PXF_BACKEND = 0, PXF_SLOW, PXF_BUSY, PXF_REQUEST, PXF_LOCAL, PXF_REFUSED, PXF_COUNT };
enum px_resource { PXE_EMFILE = 0, PXE_ENFILE, PXE_ENOBUFS, PXE_ENOMEM, PXE_EADDRNOTAVAIL, PXE_SSL,
                   PXE_OTHER, PXE_COUNT };
enum px_check { PXK_OK = 0, PXK_FAIL = 1, PXK_STRETCHED = 2 }; /* stretched: a timeout excused, the loop stalled */
enum px_rds_cmd { PXQ_SENT = 0, PXQ_ERROR, PXQ_DROPPED_DOWN, PXQ_DROPPED_FULL, PXQ_COUNT };
enum px_registry { PXG_SAME = 0, PXG_CHANGED = 1, PXG_ERROR = 2 };
/* hit: the recorded backend took the session; miss: nothing recorded;
 * stale: the recorded backend cannot take it; timeout: no answer within
 * affinity.lookup_timeout; unavailable: Redis down or its queue full, not
 * asked; no_key: the connection lacks what the mode needs */
enum px_aff { PXA_HIT = 0, PXA_MISS, PXA_STALE, PXA_TIMEOUT, PXA_UNAVAILABLE, PXA_NO_KEY, PXA_COUNT };

/* ticket_cert_not_served: a ticket claimed a certificate this process has
 * not presented within a ticket lifetime (full handshake instead);
 * no_verified_client_cert: client_verify = required and the session (a
 * resumed one too) shows none (refused); cert_unknown: which certificate
 * the client saw cannot be told (refused); ocsp_not_stapled: a response
 * refused at load (stale, another certificate, not good) */
enum px_tls_policy { PXTP_TICKET_CERT_NOT_SERVED = 0, PXTP_NO_VERIFIED_CLIENT_CERT, PXTP_CERT_UNKNOWN,
                     PXTP_OCSP_NOT_STAPLED, PXTP_COUNT };

/* tx / rx: the kernel encrypts / decrypts; kernel_only: OpenSSL's state
 * freed, the kernel alone (TLS 1.2 both ways) */
enum px_ktls_mode { PXK_CLIENT_TX = 0, PXK_CLIENT_RX, PXK_CLIENT_KERNEL_ONLY, PXK_BACKEND_TX,
                    PXK_BACKEND_RX, PXK_BACKEND_KERNEL_ONLY, PXK_COUNT };
/* fallback: a client handshake done in user space with tls.ktls on or
 * auto (the kernel did not take its cipher); key_update, renegotiation,
 * alert, record: sessions closed on such a record (core/io.h io_refusal) */
enum px_ktls_event { PXKE_FALLBACK = 0, PXKE_KEY_UPDATE, PXKE_RENEGOTIATION, PXKE_ALERT, PXKE_RECORD,
                     PXKE_COUNT };

#define PX_BACKEND_SLOTS 64 /* backend names a worker can publish over its lifetime */
#define PX_CERT_SLOTS 32    /* certificate names the master can publish over its lifetime */

/* px_stats_table fills out[PXM_COUNT] with the families (the caller owns
 * the storage: metrics_init writes the layout into it). */
void px_stats_table(struct metrics_family out[PXM_COUNT]);

/* px_stats_rc_index maps an sstp_rc to its PXM_PROTO_ERRORS label index. */
size_t px_stats_rc_index(const struct metrics *m, enum sstp_rc rc);

#endif
