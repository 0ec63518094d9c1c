/* metrics.h — sstp-backend's admin listener (/healthz, /readyz, /metrics). */
#ifndef SSTP_LB_BACKEND_METRICS_H
#define SSTP_LB_BACKEND_METRICS_H

struct be_server;

/* be_metrics_start listens on admin.address if set. 0, or -1 (logged). */
int be_metrics_start(struct be_server *s);
void be_metrics_stop(struct be_server *s);

/* be_cert_watch_start logs cert_expiring / cert_expired for tls.cert when
 * it is within tls.expiry_warn_days, now and then at most once a day
 * (checked every TLS_EXPIRY_CHECK_S). No-op without a certificate. */
void be_cert_watch_start(struct be_server *s);
void be_cert_watch_stop(struct be_server *s);

#endif
