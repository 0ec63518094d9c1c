/* net.h — addresses, CIDR allowlists and non-blocking sockets.
 *
 * No DNS: every address in a config is numeric ("192.0.2.1:443",
 * "[2001:db8::1]:443", "*:443" for all IPv6+IPv4), so nothing here blocks. */
#ifndef SSTP_LB_CORE_NET_H
#define SSTP_LB_CORE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NET_ADDR_STR_MAX 64 /* "[ipv6]:port" fits */

struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* net_addr_parse reads "ip:port", "[ipv6]:port" or "*:port". Returns 0 or -1. */
int net_addr_parse(struct net_addr *out, const char *text);
/* net_addr_specific: one IP address (not the wildcard) and a port, as a
 * backend address must be and as a listener is whose connections all come
 * to that one address. */
bool net_addr_specific(const struct net_addr *a);
/* net_addr_str formats the address as "ip:port" / "[ipv6]:port" into out. */
const char *net_addr_str(const struct sockaddr *sa, char *out, size_t out_len);
/* net_addr_ip formats only the IP (IPv4-mapped IPv6 shown as IPv4). */
const char *net_addr_ip(const struct sockaddr *sa, char *out, size_t out_len);

struct net_cidr {
    int family;          /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

/* A growable list, filled at config load (never on the data path). */
struct net_cidr_list {
    struct net_cidr *items;
    size_t n;
};

/* net_cidr_list_add parses a comma/space separated list of "ip/prefix" or
 * "ip" and appends it. Returns 0, or -1 with err set. */
int net_cidr_list_add(struct net_cidr_list *l, const char *text, char *err, size_t err_len);
void net_cidr_list_free(struct net_cidr_list *l);
/* net_cidr_list_match: true if sa (IPv4, IPv6 or IPv4-mapped) is in the list. */
bool net_cidr_list_match(const struct net_cidr_list *l, const struct sockaddr *sa);
/* net_cidr_list_longest: the entry of l with the longest prefix that holds
 * sa (IPv4-mapped IPv6 counts as IPv4), or NULL. Borrowed from l. */
const struct net_cidr *net_cidr_list_longest(const struct net_cidr_list *l, const struct sockaddr *sa);

/* net_listen opens a non-blocking, close-on-exec listening TCP socket with
 * SO_REUSEADDR (and SO_REUSEPORT if reuseport) and TCP_NODELAY, which the
 * sockets it accepts inherit (with accept4's SOCK_NONBLOCK | SOCK_CLOEXEC
 * (core/listener.c) they need no set-up of their own). Returns the fd or -1
 * with errno set. */
int net_listen(const struct net_addr *a, int backlog, bool reuseport);
/* net_connect starts a non-blocking connect. Returns the fd (connecting or
 * connected) or -1 with errno set. */
int net_connect(const struct net_addr *a);
/* net_port returns the port of an address (host order). */
unsigned net_port(const struct sockaddr *sa);

#endif
