/* worker_fleet.h — a worker's fleet (fleet.h) wired to the worker. */
#ifndef SSTP_LB_PROXY_WORKER_FLEET_H
#define SSTP_LB_PROXY_WORKER_FLEET_H

struct px_worker;

/* px_worker_fleet_new: the worker's fleet (NULL: see px_fleet_new). */
struct px_fleet *px_worker_fleet_new(struct px_worker *w);
/* px_worker_fleet_publish adds the Redis client's counters to the worker's
 * metrics (the once-a-second tick); w->fleet must be set. */
void px_worker_fleet_publish(struct px_worker *w);

#endif
