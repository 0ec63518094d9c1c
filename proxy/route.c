/* route.c — routing by name (see route.h). */
#include "proxy/route.h"

#include <string.h>

#include "proxy/sni.h"

const struct px_route *px_route_find(const struct px_route_list *l, const char *name)
{
    if (!name || !name[0])
        return NULL;
    for (int wildcard = 0; wildcard < 2; wildcard++)
        for (size_t i = 0; i < l->n; i++)
            if ((l->items[i].name[0] == '*') == wildcard && px_host_match(l->items[i].name, name))
                return &l->items[i];
    return NULL;
}

/* The name of a Host value: without ":port" (a bracketed IPv6 literal is
 * no route's name and is left whole) and one trailing dot. "" if it does
 * not fit. */
static void host_name(char *out, size_t out_len, const char *host)
{
    size_t n = strlen(host);
    const char *colon = host[0] == '[' ? NULL : strrchr(host, ':');
    if (colon)
        n = (size_t)(colon - host);
    if (n > 0 && host[n - 1] == '.')
        n--;
    if (n >= out_len)
        n = 0;
    memcpy(out, host, n);
    out[n] = '\0';
}

const char *px_route_group(const struct px_route_list *l, const char *tenantid, const char *sni,
                           const char *host, enum px_route_by *out_by)
{
    *out_by = PX_ROUTE_DEFAULT;
    if (tenantid && tenantid[0]) {
        *out_by = PX_ROUTE_TENANTID;
        return tenantid;
    }
    const struct px_route *r = NULL;
    if (sni && sni[0]) {
        r = px_route_find(l, sni);
        if (r)
            *out_by = PX_ROUTE_SNI;
    } else if (host && host[0]) {
        char name[PX_SNI_MAX + 1];
        host_name(name, sizeof name, host);
        r = px_route_find(l, name);
        if (r)
            *out_by = PX_ROUTE_HOST;
    }
    return r ? r->group : NULL;
}

const char *px_route_by_name(enum px_route_by by)
{
    static const char *const names[] = { "default", "tenantid", "sni", "host" };
    return (unsigned)by < sizeof names / sizeof names[0] ? names[by] : "?";
}
