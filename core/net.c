/* net.c — numeric addresses, CIDR allowlists, non-blocking sockets. */
#include "core/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int net_addr_parse(struct net_addr *out, const char *text)
{
    char host[64];
    const char *colon, *port_s;
    char *end;

    memset(out, 0, sizeof *out);
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            return -1;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_s = close + 2;
    } else {
        colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof host)
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_s = colon + 1;
    }
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || errno || port < 0 || port > 65535)
        return -1;

    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
    if (strcmp(host, "*") == 0 || strcmp(host, "::") == 0) {
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
        v6->sin6_port = htons((uint16_t)port);
        out->len = sizeof *v6;
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        out->len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        out->len = sizeof *v6;
    } else {
        return -1;
    }
    return 0;
}

const char *net_addr_ip(const struct sockaddr *sa, char *out, size_t out_len)
{
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)out_len);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)out_len);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)out_len);
    } else {
        snprintf(out, out_len, "unix");
    }
    return out;
}

bool net_addr_specific(const struct net_addr *a)
{
    const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
    if (net_port(sa) == 0)
        return false; /* also any family but these two */
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr != htonl(INADDR_ANY);
    return !IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

unsigned net_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

const char *net_addr_str(const struct sockaddr *sa, char *out, size_t out_len)
{
    char ip[INET6_ADDRSTRLEN];
    net_addr_ip(sa, ip, sizeof ip);
    if (strchr(ip, ':'))
        snprintf(out, out_len, "[%s]:%u", ip, net_port(sa));
    else
        snprintf(out, out_len, "%s:%u", ip, net_port(sa));
    return out;
}

static int cidr_parse(struct net_cidr *c, const char *text, size_t len)
{
    char buf[64];
    unsigned max;
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    c->prefix = max;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || p < 0 || p > (long)max)
            return -1;
        c->prefix = (unsigned)p;
    }
    return 0;
}

int net_cidr_list_add(struct net_cidr_list *l, const char *text, char *err, size_t err_len)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ' ' && *p != ',' && *p != '\t')
            p++;
        struct net_cidr c;
        if (cidr_parse(&c, start, (size_t)(p - start)) == -1) {
            snprintf(err, err_len, "'%.*s' is not an address or CIDR", (int)(p - start), start);
            return -1;
        }
        struct net_cidr *grown = realloc(l->items, (l->n + 1) * sizeof *grown);
        if (!grown) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
        l->items = grown;
        l->items[l->n++] = c;
    }
    return 0;
}

void net_cidr_list_free(struct net_cidr_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

const struct net_cidr *net_cidr_list_longest(const struct net_cidr_list *l, const struct sockaddr *sa)
{
    uint8_t addr[16];
    int family;
    if (sa->sa_family == AF_INET) {
        family = AF_INET;
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            memcpy(addr, &a6->s6_addr[12], 4);
        } else {
            family = AF_INET6;
            memcpy(addr, a6, 16);
        }
    } else {
        return NULL;
    }
    const struct net_cidr *best = NULL;
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].family == family && prefix_equal(addr, l->items[i].addr, l->items[i].prefix) &&
            (!best || l->items[i].prefix > best->prefix))
            best = &l->items[i];
    return best;
}

bool net_cidr_list_match(const struct net_cidr_list *l, const struct sockaddr *sa)
{
    return net_cidr_list_longest(l, sa) != NULL;
}

int net_listen(const struct net_addr *a, int backlog, bool reuseport)
{
    int one = 1, zero = 0;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1)
        goto fail;
    /* "*:port" is one dual-stack socket */
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    /* Linux hands TCP_NODELAY on to every socket accept() returns: set once
     * here, it costs no system call per connection */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 || listen(fd, backlog) == -1)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int net_connect(const struct net_addr *a)
{
    int one = 1;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}
