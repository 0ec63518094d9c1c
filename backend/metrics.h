/* metrics.h — sstp-backend's admin listener (/healthz, /readyz, /metrics). */
#ifndef SSTP_LB_BACKEND_METRICS_H
#define SSTP_LB_BACKEND_METRICS_H

struct be_server;

/* be_metrics_start listens on admin.address if set. 0, or -1 (logged). */
int be_metrics_start(struct be_server *s);
void be_metrics_stop(struct be_server *s);

#endif
