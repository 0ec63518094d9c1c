/* config.c — table-driven INI loading (inih), with file:line errors. */
#include "core/config.h"

#include "core/net.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct load_ctx {
    const struct cfg_opt *table;
    size_t n;
    void *cfg;
    const char *path;
    char *err;
    size_t err_len;
    bool failed;
    FILE *file;
    int lineno;
    int fail_line; /* Debian's inih has no line numbers in the handler: the reader counts */
};

static void *field_of(void *cfg, const struct cfg_opt *o)
{
    return (char *)cfg + o->offset;
}

int cfg_parse_duration(const char *val, double *out_seconds)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || errno || !isfinite(v) || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        ;
    else if (strcmp(end, "ms") == 0)
        v /= 1000.0;
    else if (strcmp(end, "m") == 0)
        v *= 60.0;
    else if (strcmp(end, "h") == 0)
        v *= 3600.0;
    else
        return -1;
    *out_seconds = v;
    return 0;
}

int cfg_next_token(const char **p, char *tok, size_t tok_len)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = 0;
    while (s[n] && s[n] != ' ' && s[n] != '\t')
        n++;
    if (n >= tok_len)
        return -1;
    memcpy(tok, s, n);
    tok[n] = '\0';
    *p = s + n;
    return (int)n;
}

int cfg_parse_addr(void *field, const char *val, char *err, size_t err_len)
{
    struct net_addr a;
    if (val[0] && net_addr_parse(&a, val) == -1) {
        snprintf(err, err_len, "'%s' is not ip:port, [ipv6]:port or *:port", val);
        return -1;
    }
    char *copy = strdup(val);
    if (!copy) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    free(*(char **)field);
    *(char **)field = copy;
    return 0;
}

void cfg_release_str(void *field)
{
    free(*(char **)field);
    *(char **)field = NULL;
}

int cfg_parse_cidrs(void *field, const char *val, char *err, size_t err_len)
{
    return net_cidr_list_add(field, val, err, err_len);
}

void cfg_release_cidrs(void *field)
{
    net_cidr_list_free(field);
}

static int parse_bool(const char *val, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(val, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(val, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* set_value stores `val` for option `o`. Returns 0, or -1 with a reason. */
static int set_value(const struct cfg_opt *o, void *cfg, const char *val, char *why, size_t why_len)
{
    void *f = field_of(cfg, o);
    switch (o->type) {
    case CFG_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (end == val || *end || errno) {
            snprintf(why, why_len, "'%s' is not an integer", val);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(why, why_len, "%ld is outside [%.0f, %.0f]", v, o->min, o->max);
            return -1;
        }
        *(long *)f = v;
        return 0;
    }
    case CFG_MSEC: {
        double v;
        if (cfg_parse_duration(val, &v) == -1) {
            snprintf(why, why_len, "'%s' is not a duration (e.g. 30s, 250ms, 5m)", val);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(why, why_len, "%gs is outside [%gs, %gs]", v, o->min, o->max);
            return -1;
        }
        *(double *)f = v;
        return 0;
    }
    case CFG_BOOL:
        if (parse_bool(val, (bool *)f) == -1) {
            snprintf(why, why_len, "'%s' is not yes/no", val);
            return -1;
        }
        return 0;
    case CFG_STR: {
        char *copy = strdup(val);
        if (!copy) {
            snprintf(why, why_len, "out of memory");
            return -1;
        }
        free(*(char **)f);
        *(char **)f = copy;
        return 0;
    }
    case CFG_ENUM:
        for (int i = 0; o->choices[i]; i++) {
            if (strcasecmp(val, o->choices[i]) == 0) {
                *(int *)f = i;
                return 0;
            }
        }
        snprintf(why, why_len, "'%s' is not one of the choices", val);
        return -1;
    case CFG_CUSTOM:
        return o->parse(f, val, why, why_len);
    }
    snprintf(why, why_len, "bad option type");
    return -1;
}

int cfg_defaults(const struct cfg_opt *table, size_t n, void *cfg, char *err, size_t err_len)
{
    char why[CFG_ERR_MAX];
    for (size_t i = 0; i < n; i++) {
        if (!table[i].def || !table[i].def[0])
            continue;
        if (set_value(&table[i], cfg, table[i].def, why, sizeof why) == -1) {
            snprintf(err, err_len, "default of %s.%s: %s", table[i].section, table[i].name, why);
            return -1;
        }
    }
    return 0;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *c = user;
    int lineno = c->lineno;
    char why[CFG_ERR_MAX];
    bool known_section = false;

    if (c->failed)
        return 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct cfg_opt *o = &c->table[i];
        if (strcasecmp(o->section, section) != 0)
            continue;
        known_section = true;
        if (strcasecmp(o->name, name) != 0)
            continue;
        if (set_value(o, c->cfg, value, why, sizeof why) == -1) {
            snprintf(c->err, c->err_len, "%s:%d: %s.%s: %s", c->path, lineno, section, name, why);
            c->failed = true;
            c->fail_line = lineno;
            return 0;
        }
        return 1;
    }
    if (!section[0])
        snprintf(c->err, c->err_len, "%s:%d: '%s' outside any [section]", c->path, lineno, name);
    else
        snprintf(c->err, c->err_len, "%s:%d: unknown %s '%s%s%s'", c->path, lineno,
                 known_section ? "option" : "section", section, known_section ? "." : "",
                 known_section ? name : "");
    c->failed = true;
    c->fail_line = lineno;
    return 0;
}

/* inih calls this once per line, so it is where the line number is known.
 * inih reads a line in chunks of its fixed buffer and would take the rest
 * of a longer line for a new one (wrong line numbers, or a value cut in
 * two): a line that does not fit is an error of its own. */
static char *read_line(char *str, int num, void *stream)
{
    struct load_ctx *c = stream;
    if (c->failed)
        return NULL;
    char *line = fgets(str, num, c->file);
    if (!line)
        return NULL;
    c->lineno++;
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] != '\n' && !feof(c->file)) {
        snprintf(c->err, c->err_len, "%s:%d: line longer than %d bytes", c->path, c->lineno, num - 2);
        c->failed = true;
        c->fail_line = c->lineno;
        return NULL;
    }
    return line;
}

int cfg_load(const struct cfg_opt *table, size_t n, void *cfg, const char *path,
             char *err, size_t err_len)
{
    if (cfg_defaults(table, n, cfg, err, err_len) == -1)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct load_ctx c = { table, n, cfg, path, err, err_len, false, f, 0, 0 };
    int rc = ini_parse_stream(read_line, &c, on_ini, &c);
    fclose(f);
    /* inih keeps going after a syntax error, and counts a handler refusal as
     * an error on that line: report whichever came first */
    if (rc > 0 && (!c.failed || rc < c.fail_line)) {
        snprintf(err, err_len, "%s:%d: syntax error", path, rc);
        return -1;
    }
    if (c.failed)
        return -1;
    if (rc < 0) {
        snprintf(err, err_len, "%s: cannot read", path);
        return -1;
    }
    return 0;
}

const char *cfg_env_name(char *out, size_t out_len, const char *env_prefix, const struct cfg_opt *o)
{
    int n = snprintf(out, out_len, "%s%s_%s", env_prefix, o->section, o->name);
    for (int i = (int)strlen(env_prefix); i < n && (size_t)i < out_len; i++)
        out[i] = (out[i] == '.' || out[i] == '-') ? '_' : (char)toupper((unsigned char)out[i]);
    return out;
}

extern char **environ;

int cfg_apply_env(const struct cfg_opt *table, size_t n, void *cfg, const char *env_prefix,
                  char *err, size_t err_len)
{
    char name[128], why[CFG_ERR_MAX];
    size_t plen = strlen(env_prefix);
    /* a misspelt variable must not be ignored any more than a misspelt key */
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, env_prefix, plen) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        bool known = false;
        for (size_t i = 0; i < n && !known; i++) {
            cfg_env_name(name, sizeof name, env_prefix, &table[i]);
            known = strlen(name) == len && strncmp(name, *e, len) == 0;
        }
        if (!known) {
            snprintf(err, err_len, "env %.*s: no such option", (int)len, *e);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *val = getenv(cfg_env_name(name, sizeof name, env_prefix, &table[i]));
        if (!val)
            continue;
        /* the environment replaces what the file said, lists included; an
         * empty value empties a list */
        if (table[i].type == CFG_CUSTOM && table[i].release) {
            table[i].release(field_of(cfg, &table[i]));
            if (!val[0])
                continue;
        }
        if (set_value(&table[i], cfg, val, why, sizeof why) == -1) {
            snprintf(err, err_len, "env %s: %s", name, why);
            return -1;
        }
    }
    return 0;
}

void cfg_free(const struct cfg_opt *table, size_t n, void *cfg)
{
    for (size_t i = 0; i < n; i++) {
        void *f = field_of(cfg, &table[i]);
        if (table[i].type == CFG_STR) {
            free(*(char **)f);
            *(char **)f = NULL;
        } else if (table[i].type == CFG_CUSTOM && table[i].release) {
            table[i].release(f);
        }
    }
}

/* Writes text as "; " comment lines of at most HELP_WIDTH columns, broken at
 * spaces: inih reads a file in lines of INI_MAX_LINE (200) bytes, so a
 * longer comment line would come back as a syntax error. */
#define HELP_WIDTH 78
static void print_comment(FILE *out, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t room = HELP_WIDTH - 2, n = strlen(p);
        if (n > room) {
            n = room;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0) /* one word longer than a line: cut it */
                n = room;
        }
        fprintf(out, "; %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

void cfg_print_help(const struct cfg_opt *table, size_t n, void *stream)
{
    FILE *out = stream;
    const char *section = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct cfg_opt *o = &table[i];
        if (!section || strcmp(section, o->section) != 0) {
            fprintf(out, "%s[%s]\n", section ? "\n" : "", o->section);
            section = o->section;
        }
        print_comment(out, o->help);
        if (o->type == CFG_ENUM) {
            fprintf(out, ";   one of:");
            for (int k = 0; o->choices[k]; k++)
                fprintf(out, " %s", o->choices[k]);
            fprintf(out, "\n");
        }
        if (o->type == CFG_INT || o->type == CFG_MSEC)
            fprintf(out, o->type == CFG_INT ? ";   range: %.0f..%.0f%s\n" : ";   range: %g..%g%s\n",
                    o->min, o->max, o->type == CFG_MSEC ? " s" : "");
        if (o->def && o->def[0])
            fprintf(out, ";%s = %s\n", o->name, o->def);
        else
            fprintf(out, ";%s =\n", o->name);
    }
}
