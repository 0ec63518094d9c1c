/* schema.c — key names of the Redis schema (see schema.h). */
#include "lb/schema.h"

#include <stdio.h>
#include <stdlib.h>

const char *schema_key(char *out, size_t out_len, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(out, out_len, "%s", prefix);
    if (n < 0 || (size_t)n >= out_len)
        return out;
    va_start(ap, fmt);
    vsnprintf(out + n, out_len - (size_t)n, fmt, ap);
    va_end(ap);
    return out;
}

bool schema_version_ok(const char *v)
{
    char *end;
    long major = v ? strtol(v, &end, 10) : -1;
    return v && end != v && (*end == '\0' || *end == '.') && major == SCHEMA_VERSION_MAJOR;
}
