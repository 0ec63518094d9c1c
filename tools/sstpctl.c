/* sstpctl — the operator's view of an sstp-lb fleet, through the Redis
 * schema (lb/schema.h, README "Redis schema") and nothing else.
 *
 *   sstpctl [-r URL] [--prefix P] [--json] COMMAND
 *     sessions                  live sessions
 *     backends                  the backend registry
 *     stats                     fleet counters
 *     drain BACKEND [--disconnect]   no new sessions (and end the live ones)
 *     undrain BACKEND
 *     kick SESSION              end one session (CALL_DISCONNECT)
 *     events [-n N] [--follow]  the event stream
 */
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb/redis.h"
#include "lb/schema.h"

#define COLS_MAX 12

struct ctl {
    struct rds_sync *c;
    const char *prefix;
    bool json;
};

/* ---- output: aligned tables or JSON ------------------------------------- */

struct table {
    const char *const *head;
    size_t n_cols, n_rows, cap;
    char **cells; /* n_rows * n_cols, owned */
};

static void table_add(struct table *t, const char *const *row)
{
    if (t->n_rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = realloc(t->cells, t->cap * t->n_cols * sizeof *t->cells);
        if (!t->cells) {
            perror("sstpctl");
            exit(1);
        }
    }
    for (size_t i = 0; i < t->n_cols; i++)
        t->cells[t->n_rows * t->n_cols + i] = strdup(row[i] ? row[i] : "");
    t->n_rows++;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void table_print(struct table *t, bool json)
{
    if (json) {
        printf("[");
        for (size_t r = 0; r < t->n_rows; r++) {
            printf("%s{", r ? "," : "");
            for (size_t c = 0; c < t->n_cols; c++) {
                printf("%s", c ? "," : "");
                json_str(t->head[c]);
                putchar(':');
                json_str(t->cells[r * t->n_cols + c]);
            }
            printf("}");
        }
        printf("]\n");
    } else {
        size_t w[COLS_MAX];
        for (size_t c = 0; c < t->n_cols; c++) {
            w[c] = strlen(t->head[c]);
            for (size_t r = 0; r < t->n_rows; r++) {
                size_t l = strlen(t->cells[r * t->n_cols + c]);
                if (l > w[c])
                    w[c] = l;
            }
        }
        for (size_t c = 0; c < t->n_cols; c++)
            printf("%-*s%s", (int)w[c], t->head[c], c + 1 < t->n_cols ? "  " : "\n");
        for (size_t r = 0; r < t->n_rows; r++)
            for (size_t c = 0; c < t->n_cols; c++)
                printf("%-*s%s", (int)w[c], t->cells[r * t->n_cols + c], c + 1 < t->n_cols ? "  " : "\n");
    }
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* ---- Redis helpers ------------------------------------------------------- */

static redisReply *run(struct ctl *x, int argc, const char **argv)
{
    redisReply *r = rds_sync_cmd(x->c, argc, argv);
    if (!r) {
        fprintf(stderr, "sstpctl: lost the connection to Redis\n");
        exit(1);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "sstpctl: redis: %s\n", r->str);
        exit(1);
    }
    return r;
}

static const char *key(struct ctl *x, char *out, const char *fmt, const char *id)
{
    return schema_key(out, SCHEMA_KEY_MAX, x->prefix, fmt, id);
}

/* field of an HGETALL reply, "" if absent */
static const char *field(const redisReply *h, const char *name)
{
    for (size_t i = 0; h && i + 1 < h->elements; i += 2)
        if (strcmp(h->element[i]->str, name) == 0)
            return h->element[i + 1]->str;
    return "";
}

static void age(char *out, size_t len, const char *unix_ms)
{
    if (!unix_ms[0]) {
        snprintf(out, len, "-");
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double secs = (double)ts.tv_sec - atof(unix_ms) / 1000.0;
    if (secs < 0)
        secs = 0;
    if (secs < 120)
        snprintf(out, len, "%.1fs", secs);
    else if (secs < 7200)
        snprintf(out, len, "%.0fm", secs / 60);
    else
        snprintf(out, len, "%.1fh", secs / 3600);
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_sessions(struct ctl *x)
{
    static const char *const head[] = { "session", "user", "client", "backend", "proxy", "ip",
                                         "state", "age", "bytes_in", "bytes_out" };
    struct table t = { head, 10, 0, 0, NULL };
    char k[SCHEMA_KEY_MAX], k2[SCHEMA_KEY_MAX];
    redisReply *ids = run(x, 4, (const char *[]){ "ZRANGE", key(x, k, SCHEMA_K_SESSIONS, ""), "0", "-1" });
    for (size_t i = 0; i < ids->elements; i++) {
        const char *sid = ids->element[i]->str;
        redisReply *h = run(x, 2, (const char *[]){ "HGETALL", key(x, k2, SCHEMA_K_SESSION, sid) });
        if (h->elements > 0) { /* an id whose hash expired belongs to a crashed node */
            char a[16];
            age(a, sizeof a, field(h, SCHEMA_F_S_START));
            const char *row[] = { sid, field(h, SCHEMA_F_S_USER), field(h, SCHEMA_F_S_CLIENT),
                                  field(h, SCHEMA_F_S_BACKEND), field(h, SCHEMA_F_S_PROXY),
                                  field(h, SCHEMA_F_S_IP), field(h, SCHEMA_F_S_STATE), a,
                                  field(h, SCHEMA_F_S_BYTES_IN), field(h, SCHEMA_F_S_BYTES_OUT) };
            table_add(&t, row);
        }
        rds_sync_reply_free(h);
    }
    rds_sync_reply_free(ids);
    table_print(&t, x->json);
    return 0;
}

static int cmd_backends(struct ctl *x)
{
    static const char *const head[] = { "backend", "addr", "kind", "group", "state", "sessions",
                                         "capacity", "weight", "heartbeat", "version" };
    struct table t = { head, 10, 0, 0, NULL };
    char k[SCHEMA_KEY_MAX], k2[SCHEMA_KEY_MAX];
    redisReply *ids = run(x, 4, (const char *[]){ "ZRANGE", key(x, k, SCHEMA_K_BACKENDS, ""), "0", "-1" });
    for (size_t i = 0; i < ids->elements; i++) {
        const char *id = ids->element[i]->str;
        redisReply *h = run(x, 2, (const char *[]){ "HGETALL", key(x, k2, SCHEMA_K_BACKEND, id) });
        redisReply *d = run(x, 2, (const char *[]){ "GET", key(x, k2, SCHEMA_K_DRAIN, id) });
        char hb[16];
        const char *state = h->elements == 0 ? "expired" : field(h, SCHEMA_F_BE_STATE);
        if (d->type == REDIS_REPLY_STRING && h->elements > 0 && strcmp(state, "up") == 0)
            state = "draining"; /* asked, not yet seen by the backend */
        age(hb, sizeof hb, field(h, SCHEMA_F_BE_HEARTBEAT));
        const char *row[] = { id, field(h, SCHEMA_F_BE_ADDR), field(h, SCHEMA_F_BE_KIND),
                              field(h, SCHEMA_F_BE_GROUP), state, field(h, SCHEMA_F_BE_SESSIONS),
                              field(h, SCHEMA_F_BE_CAPACITY), field(h, SCHEMA_F_BE_WEIGHT), hb,
                              field(h, SCHEMA_F_BE_VERSION) };
        table_add(&t, row);
        rds_sync_reply_free(h);
        rds_sync_reply_free(d);
    }
    rds_sync_reply_free(ids);
    table_print(&t, x->json);
    return 0;
}

static int cmd_stats(struct ctl *x)
{
    static const char *const head[] = { "counter", "value" };
    struct table t = { head, 2, 0, 0, NULL };
    char k[SCHEMA_KEY_MAX];
    redisReply *h = run(x, 2, (const char *[]){ "HGETALL", key(x, k, SCHEMA_K_STATS, "") });
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        table_add(&t, (const char *[]){ h->element[i]->str, h->element[i + 1]->str });
    rds_sync_reply_free(h);
    table_print(&t, x->json);
    return 0;
}

static int cmd_drain(struct ctl *x, const char *id, bool drain, bool disconnect)
{
    char k[SCHEMA_KEY_MAX], ch[SCHEMA_KEY_MAX];
    redisReply *h = run(x, 2, (const char *[]){ "EXISTS", key(x, k, SCHEMA_K_BACKEND, id) });
    bool known = h->integer == 1;
    rds_sync_reply_free(h);
    if (!known)
        fprintf(stderr, "sstpctl: warning: backend %s is not registered (now)\n", id);
    key(x, k, SCHEMA_K_DRAIN, id);
    rds_sync_reply_free(drain ? run(x, 3, (const char *[]){ "SET", k, disconnect ? "disconnect" : "drain" })
                              : run(x, 2, (const char *[]){ "DEL", k }));
    redisReply *p = run(x, 3, (const char *[]){ "PUBLISH", key(x, ch, SCHEMA_K_CTL, id), "drain" });
    printf("%s %s%s (%lld listener%s notified)\n", drain ? "drained" : "undrained", id,
           disconnect ? ", sessions disconnected" : "", p->integer, p->integer == 1 ? "" : "s");
    rds_sync_reply_free(p);
    return 0;
}

static int cmd_kick(struct ctl *x, const char *sid)
{
    char k[SCHEMA_KEY_MAX], ch[SCHEMA_KEY_MAX], msg[128];
    redisReply *b = run(x, 3, (const char *[]){ "HGET", key(x, k, SCHEMA_K_SESSION, sid), SCHEMA_F_S_BACKEND });
    if (b->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "sstpctl: no live session %s\n", sid);
        rds_sync_reply_free(b);
        return 1;
    }
    snprintf(msg, sizeof msg, "kick %s", sid);
    redisReply *p = run(x, 3, (const char *[]){ "PUBLISH", key(x, ch, SCHEMA_K_CTL, b->str), msg });
    printf("kick %s sent to backend %s (%lld listener%s)\n", sid, b->str, p->integer,
           p->integer == 1 ? "" : "s");
    int rc = p->integer > 0 ? 0 : 1;
    rds_sync_reply_free(p);
    rds_sync_reply_free(b);
    return rc;
}

static void print_event(struct ctl *x, const redisReply *e)
{
    const redisReply *kv = e->element[1];
    if (x->json) {
        printf("{\"id\":");
        json_str(e->element[0]->str);
        for (size_t i = 0; i + 1 < kv->elements; i += 2) {
            putchar(',');
            json_str(kv->element[i]->str);
            putchar(':');
            json_str(kv->element[i + 1]->str);
        }
        printf("}\n");
    } else {
        long long ms = atoll(e->element[0]->str);
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        char ts[32];
        gmtime_r(&secs, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%s", ts);
        for (size_t i = 0; i + 1 < kv->elements; i += 2)
            if (kv->element[i + 1]->str[0])
                printf(" %s=%s", kv->element[i]->str, kv->element[i + 1]->str);
        putchar('\n');
    }
    fflush(stdout);
}

static volatile sig_atomic_t stop;
static void on_sigint(int sig)
{
    (void)sig;
    stop = 1;
}

static int cmd_events(struct ctl *x, long n, bool follow)
{
    char k[SCHEMA_KEY_MAX], count[24], last[64] = "$";
    snprintf(count, sizeof count, "%ld", n);
    key(x, k, SCHEMA_K_EVENTS, "");
    redisReply *r = run(x, 6, (const char *[]){ "XREVRANGE", k, "+", "-", "COUNT", count });
    for (size_t i = r->elements; i > 0; i--)
        print_event(x, r->element[i - 1]);
    if (r->elements > 0)
        snprintf(last, sizeof last, "%s", r->element[0]->element[0]->str);
    rds_sync_reply_free(r);
    if (!follow)
        return 0;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    while (!stop) {
        /* block at most 1 s so Ctrl-C is noticed */
        redisReply *s = rds_sync_cmd(x->c, 6, (const char *[]){ "XREAD", "BLOCK", "1000", "STREAMS", k, last });
        if (!s) {
            if (stop)
                break;
            fprintf(stderr, "sstpctl: lost the connection to Redis\n");
            return 1;
        }
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 1) {
            const redisReply *entries = s->element[0]->element[1];
            for (size_t i = 0; i < entries->elements; i++) {
                print_event(x, entries->element[i]);
                snprintf(last, sizeof last, "%s", entries->element[i]->element[0]->str);
            }
        }
        rds_sync_reply_free(s);
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sstpctl [-r URL] [--prefix P] [--json] COMMAND [ARGS]\n"
            "\n"
            "Reads and changes an sstp-lb fleet through its Redis schema.\n"
            "\n"
            "  -r, --redis URL    redis://[user:password@]host[:port][/db]\n"
            "                     (default $SSTP_REDIS_URL, else redis://127.0.0.1:6379)\n"
            "      --prefix P     key prefix (default $SSTP_REDIS_PREFIX, else sstp:)\n"
            "      --json         JSON instead of aligned tables\n"
            "\n"
            "commands:\n"
            "  sessions                      live sessions (user, client, backend, address, bytes)\n"
            "  backends                      registered backends and their state\n"
            "  stats                         fleet counters\n"
            "  drain BACKEND [--disconnect]  take no new sessions (and end the live ones)\n"
            "  undrain BACKEND               take sessions again\n"
            "  kick SESSION                  end one session with CALL_DISCONNECT\n"
            "  events [-n N] [--follow]      the last N events (default 20), then new ones\n");
}

int main(int argc, char **argv)
{
    struct rds_opts o;
    struct ctl x = { 0 };
    const char *url = getenv("SSTP_REDIS_URL");
    const char *prefix = getenv("SSTP_REDIS_PREFIX");
    bool disconnect = false, follow = false;
    long n = 20;
    static const struct option longopts[] = {
        { "redis", required_argument, NULL, 'r' }, { "prefix", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },        { "disconnect", no_argument, NULL, 'd' },
        { "follow", no_argument, NULL, 'f' },      { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "+r:n:fh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r': url = optarg; break;
        case 'p': prefix = optarg; break;
        case 'j': x.json = true; break;
        case 'd': disconnect = true; break;
        case 'f': follow = true; break;
        case 'n': n = atol(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    /* options may also follow the command */
    int first = optind;
    optind = first + 1;
    while (first < argc && (opt = getopt_long(argc, argv, "+r:n:fh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r': url = optarg; break;
        case 'p': prefix = optarg; break;
        case 'j': x.json = true; break;
        case 'd': disconnect = true; break;
        case 'f': follow = true; break;
        case 'n': n = atol(optarg); break;
        default: usage(stderr); return 2;
        }
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[first];
    const char *arg = optind < argc ? argv[optind] : NULL;

    rds_opts_default(&o);
    if (url && rds_parse_url(&o, url) == -1) {
        fprintf(stderr, "sstpctl: bad redis URL '%s'\n", url);
        return 2;
    }
    x.prefix = prefix ? prefix : o.prefix;
    char err[256];
    x.c = rds_sync_connect(&o, 3.0, err, sizeof err);
    if (!x.c) {
        fprintf(stderr, "sstpctl: %s\n", err);
        return 1;
    }
    int rc;
    if (strcmp(cmd, "sessions") == 0)
        rc = cmd_sessions(&x);
    else if (strcmp(cmd, "backends") == 0)
        rc = cmd_backends(&x);
    else if (strcmp(cmd, "stats") == 0)
        rc = cmd_stats(&x);
    else if ((strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0) && arg)
        rc = cmd_drain(&x, arg, cmd[0] == 'd', disconnect);
    else if (strcmp(cmd, "kick") == 0 && arg)
        rc = cmd_kick(&x, arg);
    else if (strcmp(cmd, "events") == 0)
        rc = cmd_events(&x, n > 0 ? n : 20, follow);
    else {
        usage(stderr);
        rc = 2;
    }
    rds_sync_close(x.c);
    return rc;
}
