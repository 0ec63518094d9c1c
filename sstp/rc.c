/* rc.c — names and sentences of the sstp/ return codes (generated from rc.h). */
#include "rc.h"

static const char *const rc_names[SSTP_RC_COUNT] = {
#define X(n, s) #n,
    SSTP_RC_LIST(X)
#undef X
};

static const char *const rc_strs[SSTP_RC_COUNT] = {
#define X(n, s) s,
    SSTP_RC_LIST(X)
#undef X
};

const char *sstp_rc_name(enum sstp_rc rc)
{
    return (unsigned)rc < SSTP_RC_COUNT ? rc_names[rc] : "?";
}

const char *sstp_rc_str(enum sstp_rc rc)
{
    return (unsigned)rc < SSTP_RC_COUNT ? rc_strs[rc] : "unknown";
}
