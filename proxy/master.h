/* master.h — sstp-proxy's master process: forks the worker processes (each
 * with its own loop and SO_REUSEPORT listeners, because a process may hold
 * only so many open files and a relayed session costs two), restarts a
 * worker that dies (with backoff), re-reads the configuration on SIGHUP and
 * passes SIGHUP/SIGTERM on, and serves the admin listener with the metrics
 * of every worker summed from shared memory. */
#ifndef SSTP_LB_PROXY_MASTER_H
#define SSTP_LB_PROXY_MASTER_H

#include "proxy/config.h"

/* px_master_main runs until the workers have stopped after SIGTERM/SIGINT.
 * Takes over cfg (already loaded and checked from cfg_path). Returns the
 * process exit status: 0, or 1 if start-up failed. */
int px_master_main(const char *cfg_path, struct px_config *cfg);

#endif
