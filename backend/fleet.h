/* fleet.h — sstp-backend's part of the Redis schema (lb/schema.h): its
 * registry entry and heartbeat, the live session hashes and the event
 * stream, the fleet-wide per-user policy, and the control channel
 * (kick, drain) that sstpctl and other backends publish to.
 *
 * Redis is never on the packet path and its loss only degrades: sessions
 * carry on, the policy allows, stats go stale; everything resumes when the
 * client reconnects. With no redis.url configured every call is a no-op. */
#ifndef SSTP_LB_BACKEND_FLEET_H
#define SSTP_LB_BACKEND_FLEET_H

#include <stdbool.h>
#include <stddef.h>

struct be_server;
struct be_session;

int be_fleet_start(struct be_server *srv);
void be_fleet_stop(struct be_server *srv);

/* be_fleet_session_start: the HTTP request was accepted (event "connect"). */
void be_fleet_session_start(struct be_session *s);
/* be_fleet_session_auth: the crypto binding verified the user's one PPP
 * authentication (never called before). user[0..user_len) is the exact
 * name pppd authenticated (raw bytes, NUL-terminated; s->user is only its
 * sanitised form for logs). Applies the per-user policy, then calls
 * be_session_auth_decided(s, allow) — at once when there is nothing to ask
 * Redis, else when Redis answers or a short timeout passes (allow). */
void be_fleet_session_auth(struct be_session *s, const char *user, size_t user_len);
/* be_fleet_session_connected: the crypto binding verified. */
void be_fleet_session_connected(struct be_session *s);
/* be_fleet_session_ip: IPCP assigned the client's address. */
void be_fleet_session_ip(struct be_session *s);
/* be_fleet_session_event: auth_fail / binding_fail with a reason. */
void be_fleet_session_event(struct be_session *s, const char *type, const char *reason);
/* be_fleet_session_end: the session is being freed (event "disconnect"). */
void be_fleet_session_end(struct be_session *s);

/* be_fleet_accepting: false while this backend is drained. */
bool be_fleet_accepting(const struct be_server *srv);

struct rds;
/* be_fleet_rds: the Redis client (for metrics and /readyz), NULL without
 * redis.url. */
const struct rds *be_fleet_rds(const struct be_server *srv);

#endif
