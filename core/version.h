/* version.h — the one version string of sstp-lb's programs. */
#ifndef SSTP_LB_CORE_VERSION_H
#define SSTP_LB_CORE_VERSION_H

#define SSTP_LB_VERSION "0.1.0"

#endif
