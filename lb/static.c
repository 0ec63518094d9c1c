/* static.c — the static backend list: parsing of `server` lines from the
 * config into struct lb_spec. The list is checked whole at load time (names
 * unique, addresses numeric), never on the data path. */
#include "lb/lb.h"

#include "core/config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 300 /* longest token of a server line: sni= plus a DNS name */

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= LB_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* A host name for SNI: letters, digits, '-', '.', 1..253 chars. */
static bool valid_host(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* A tenant group: what a tenantid may hold (0x21-0x7E but '&', MS-SSTP
 * 3.2.4.1 as sstp/http.c reads it), 1..LB_GROUP_MAX-1 chars. */
static bool valid_group(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= LB_GROUP_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7E || s[i] == '&')
            return false;
    return true;
}

/* index 0 of spec_probe_names (the default) is never written on a line */
static const char *const spec_probe_names[] = { "", "sstp", "http", "tcp", NULL };
const char *const lb_pp_names[] = { "inside", "before", "none", NULL };

static int name_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < (long)min || v > (long)max)
        return -1;
    *out = (unsigned)v;
    return 0;
}


int lb_spec_parse(struct lb_spec_list *l, const char *line, char *err, size_t err_len)
{
    struct lb_spec spec;
    char tok[TOKEN_MAX];
    const char *p = line;
    bool seen_weight = false, seen_maxconn = false, seen_sni = false, seen_group = false;
    bool seen_probe = false, seen_pp = false;
    int n;

    memset(&spec, 0, sizeof spec);
    spec.weight = 1;
    if ((n = cfg_next_token(&p, tok, sizeof tok)) <= 0 || !valid_name(tok)) {
        snprintf(err, err_len, "server name must be 1-%d of [A-Za-z0-9_.-]", LB_NAME_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i].name, tok) == 0) {
            snprintf(err, err_len, "server '%s' is defined twice", tok);
            return -1;
        }
    }
    memcpy(spec.name, tok, (size_t)n + 1);

    if ((n = cfg_next_token(&p, tok, sizeof tok)) <= 0 || net_addr_parse(&spec.addr, tok) == -1 ||
        !net_addr_specific(&spec.addr)) {
        snprintf(err, err_len, "server '%s': address must be ip:port or [ipv6]:port", spec.name);
        return -1;
    }

    while ((n = cfg_next_token(&p, tok, sizeof tok)) != 0) {
        if (n < 0) {
            snprintf(err, err_len, "server '%s': option too long", spec.name);
            return -1;
        }
        if (strncmp(tok, "weight=", 7) == 0 && !seen_weight) {
            seen_weight = true;
            if (parse_uint(tok + 7, 0, LB_WEIGHT_MAX, &spec.weight) == -1) {
                snprintf(err, err_len, "server '%s': weight must be 0..%d", spec.name, LB_WEIGHT_MAX);
                return -1;
            }
        } else if (strncmp(tok, "maxconn=", 8) == 0 && !seen_maxconn) {
            seen_maxconn = true;
            if (parse_uint(tok + 8, 1, 1000000, &spec.maxconn) == -1) {
                snprintf(err, err_len, "server '%s': maxconn must be 1..1000000", spec.name);
                return -1;
            }
        } else if (strcmp(tok, "tls") == 0 && !spec.tls) {
            spec.tls = true;
        } else if (strncmp(tok, "sni=", 4) == 0 && !seen_sni) {
            seen_sni = true;
            if (!valid_host(tok + 4)) {
                snprintf(err, err_len, "server '%s': sni must be a host name", spec.name);
                return -1;
            }
            snprintf(spec.sni, sizeof spec.sni, "%s", tok + 4);
        } else if (strncmp(tok, "group=", 6) == 0 && !seen_group) {
            seen_group = true;
            if (!valid_group(tok + 6)) {
                snprintf(err, err_len, "server '%s': group must be 1-%d printable characters "
                         "without '&'", spec.name, LB_GROUP_MAX - 1);
                return -1;
            }
            snprintf(spec.group, sizeof spec.group, "%s", tok + 6);
        } else if (strncmp(tok, "probe=", 6) == 0 && !seen_probe) {
            seen_probe = true;
            int i = name_index(spec_probe_names, tok + 6);
            if (i <= LB_SPEC_PROBE_DEFAULT) {
                snprintf(err, err_len, "server '%s': probe must be sstp, http or tcp", spec.name);
                return -1;
            }
            spec.probe = (enum lb_spec_probe)i;
        } else if (strncmp(tok, "proxy_header=", 13) == 0 && !seen_pp) {
            seen_pp = true;
            int i = name_index(lb_pp_names, tok + 13);
            if (i < 0) {
                snprintf(err, err_len, "server '%s': proxy_header must be inside, before or none",
                         spec.name);
                return -1;
            }
            spec.pp = (enum lb_pp_placement)i;
        } else {
            snprintf(err, err_len, "server '%s': unknown or repeated option '%s' (weight=N "
                     "maxconn=N tls sni=HOST group=NAME probe=KIND proxy_header=WHERE)", spec.name, tok);
            return -1;
        }
    }
    if (spec.sni[0] && !spec.tls) {
        snprintf(err, err_len, "server '%s': sni= needs tls", spec.name);
        return -1;
    }
    struct lb_spec *grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    if (!grown) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    l->items = grown;
    l->items[l->n++] = spec;
    return 0;
}

void lb_spec_list_free(struct lb_spec_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}
