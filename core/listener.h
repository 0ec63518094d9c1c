/* listener.h — the accept loop of a listening socket, once for every
 * server in the tree.
 *
 * It accepts in batches (fairness with the connections already up) and
 * hands each new descriptor to its owner. When the host runs out of
 * something (EMFILE, ENFILE, ENOBUFS, ENOMEM) the connection stays in the
 * backlog and the listener pauses for a while instead of spinning on its
 * level-triggered watcher (libev's "accept()ing when you can't"): the
 * failure is counted and logged at most once per interval. The owner may
 * also pause it (a connection limit) and resume it, and may be told of
 * every failed accept (its own counter). */
#ifndef SSTP_LB_CORE_LISTENER_H
#define SSTP_LB_CORE_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/log.h"

#define LISTENER_BATCH   64   /* accepts per wake-up */
#define LISTENER_PAUSE_S 0.1  /* out of descriptors or memory: retry after this */
#define LISTENER_LOG_S   10.0 /* at most one accept_error line per interval (default) */

struct listener;

/* A new connection: fd is non-blocking and close-on-exec, and now the
 * owner's; peer is its address (peer_len bytes). */
typedef void (*listener_accept_fn)(struct listener *l, int fd, const struct sockaddr *peer,
                                   socklen_t peer_len);
/* An accept() that failed for another reason than an empty backlog or a
 * connection gone before it was taken (err is its errno). */
typedef void (*listener_error_fn)(struct listener *l, int err);

struct listener {
    ev_io io;                 /* watches the listening socket */
    ev_timer retry;           /* resumes after a resource failure */
    struct ev_loop *loop;
    listener_accept_fn on_accept;
    listener_error_fn on_error; /* optional: set after listener_init */
    void *data;               /* the owner's */
    const char *name;         /* for the log line (borrowed) */
    bool held;                /* paused by the owner (listener_hold) */
    uint64_t n_accepted;
    uint64_t n_resource_fail; /* accept() failures for want of descriptors or memory */
    /* the accept_error line: one per LISTENER_LOG_S unless the owner
     * re-inits it after listener_init */
    struct log_limit log_limit;
};

/* listener_init prepares l on the listening socket fd (non-blocking);
 * nothing is watched before listener_start. name is borrowed. */
void listener_init(struct listener *l, struct ev_loop *loop, int fd, const char *name,
                   listener_accept_fn on_accept, void *data);
/* listener_start watches the socket (unless held). */
void listener_start(struct listener *l);
/* listener_stop stops watching and any pending retry; the socket stays open
 * (the owner closes it). */
void listener_stop(struct listener *l);
/* listener_hold / listener_release: the owner's pause (e.g. at its
 * connection limit) and its end. A resource pause still ends on its own
 * timer, but never while held. */
void listener_hold(struct listener *l);
void listener_release(struct listener *l);
/* listener_paused: not accepting now (held, or waiting out a resource
 * failure). */
bool listener_paused(const struct listener *l);

#endif
