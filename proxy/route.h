/* route.h — routing by name: which backend group a request goes to, from
 * its ?tenantid=, its TLS SNI or its Host header.
 *
 * The rule (README "Routing by name"): tenantid > SNI > Host.
 *   1. ?tenantid= in the URI, when present and non-empty, names the group
 *      itself, as it always did: routes never override it.
 *   2. Else, if the client sent an SNI, a route for that name. The SNI
 *      chose the certificate the client verified and bound to; routing the
 *      connection by any other name would split it between two identities.
 *   3. Else (no SNI: sstpc without --tls-ext, MikroTik before 7.15) a route
 *      for the Host header's name (port stripped).
 *   Nothing matched: the default group (backends without group=).
 * Routing is not access control: a client can name any group with
 * ?tenantid= (unchanged from before routes existed).
 *
 * Pure: no allocation, no I/O. */
#ifndef SSTP_LB_PROXY_ROUTE_H
#define SSTP_LB_PROXY_ROUTE_H

#include <stddef.h>

/* One `route` line: requests for NAME go to backend group GROUP. */
struct px_route {
    char *name;               /* lower case; "*.example.com" matches one label in front */
    char *group;
};

struct px_route_list {
    struct px_route *items;
    size_t n;
};

enum px_route_by {
    PX_ROUTE_DEFAULT  = 0,    /* nothing chose: the default group */
    PX_ROUTE_TENANTID = 1,
    PX_ROUTE_SNI      = 2,
    PX_ROUTE_HOST     = 3,
};

/* px_route_find returns the route for `name`: an exact name first, else a
 * wildcard; NULL for none (or name NULL or ""). */
const struct px_route *px_route_find(const struct px_route_list *l, const char *name);

/* px_route_group applies the rule above. tenantid, sni, host: NULL or ""
 * when the request has none (host as the client sent it, maybe with
 * ":port"). Returns the group (borrowed from the arguments or l), or NULL
 * for the default group; *out_by says what decided. */
const char *px_route_group(const struct px_route_list *l, const char *tenantid, const char *sni,
                           const char *host, enum px_route_by *out_by);

/* px_route_by_name: "default", "tenantid", "sni", "host" (log lines). */
const char *px_route_by_name(enum px_route_by by);

#endif
