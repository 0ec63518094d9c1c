/* config.h — the option table behind every INI file, --help and --check-config.
 *
 * Each daemon declares one table of struct cfg_opt (section, name, type,
 * where it lands in the daemon's config struct, bounds, default, help).
 * cfg_load() applies the defaults, reads the file with inih and stores typed
 * values; every error carries file:line. The same table prints --help and
 * the documented example files, so the docs cannot drift from the code. */
#ifndef SSTP_LB_CORE_CONFIG_H
#define SSTP_LB_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum cfg_type {
    CFG_INT,    /* long within [min, max] */
    CFG_MSEC,   /* duration: "250ms", "3s", "5m" or plain seconds -> double seconds */
    CFG_BOOL,   /* yes/no/true/false/on/off/1/0 */
    CFG_STR,    /* char * (owned by the config, freed by cfg_free) */
    CFG_ENUM,   /* int index into `choices` */
    CFG_CUSTOM, /* parsed by `parse`; called once per line, so it may accumulate lists */
};

#define CFG_ERR_MAX 256

struct cfg_opt {
    const char *section;
    const char *name;
    enum cfg_type type;
    size_t offset;            /* offsetof(the daemon's config struct, field) */
    double min, max;          /* CFG_INT, CFG_MSEC */
    const char *def;          /* default as it would be written in the file; NULL = none */
    const char *const *choices; /* CFG_ENUM: NULL-terminated */
    /* CFG_CUSTOM: store `val` into `field`; return 0, or -1 with a reason in err */
    int (*parse)(void *field, const char *val, char *err, size_t err_len);
    void (*release)(void *field); /* CFG_CUSTOM: free what parse stored (may be NULL) */
    const char *help;
};

/* cfg_defaults stores every option's default into `cfg` (zeroed first by
 * the caller). Returns 0, or -1 with err set (a bad default is a bug). */
int cfg_defaults(const struct cfg_opt *table, size_t n, void *cfg, char *err, size_t err_len);

/* cfg_load applies defaults, then reads `path`. Returns 0, or -1 with err
 * set to "path:line: section.name: reason" (or "path: reason"). Unknown
 * sections and keys are errors: a typo must not silently fall back to a
 * default. */
int cfg_load(const struct cfg_opt *table, size_t n, void *cfg, const char *path,
             char *err, size_t err_len);

/* cfg_apply_env overrides options from the environment, for containers:
 * option `name` of [section] is read from <env_prefix><SECTION>_<NAME>,
 * upper-cased with '.' and '-' as '_' (e.g. SSTP_BACKEND_REDIS_URL for
 * redis.url with prefix "SSTP_BACKEND_"). The variable replaces the file's
 * value, the whole list for a repeatable (CFG_CUSTOM) option, which an empty
 * value empties. A variable with the prefix that names no option is an
 * error, like an unknown key in the file. Returns 0, or -1 with err
 * "env NAME: reason". */
int cfg_apply_env(const struct cfg_opt *table, size_t n, void *cfg, const char *env_prefix,
                  char *err, size_t err_len);
/* cfg_env_name writes the variable name of an option into out. */
const char *cfg_env_name(char *out, size_t out_len, const char *env_prefix, const struct cfg_opt *o);

/* cfg_free releases strings and custom values held by `cfg`. */
void cfg_free(const struct cfg_opt *table, size_t n, void *cfg);

/* cfg_print_help writes the table as a commented INI file (defaults and
 * help), which is also the format of the examples in conf/. */
void cfg_print_help(const struct cfg_opt *table, size_t n, void *stream);

/* cfg_next_token copies the next whitespace-separated token of *p into tok
 * and moves *p past it (for options with several words on one line).
 * Returns its length, 0 at the end, or -1 if it does not fit in tok. */
int cfg_next_token(const char **p, char *tok, size_t tok_len);

/* Parsers shared by the daemons for CFG_CUSTOM options. */
int cfg_parse_duration(const char *val, double *out_seconds);
/* char * field: a numeric listen address ("ip:port", "[ipv6]:port",
 * "*:port") or empty, checked when read so the error has its line. */
int cfg_parse_addr(void *field, const char *val, char *err, size_t err_len);
void cfg_release_str(void *field);
/* struct net_cidr_list field: appends a comma/space separated list. */
int cfg_parse_cidrs(void *field, const char *val, char *err, size_t err_len);
void cfg_release_cidrs(void *field);

#endif
