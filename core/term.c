/* term.c — termination codes (see term.h). */
#include "core/term.h"

static const char phase_letters[TERM_PH_COUNT] = {
    [TERM_PH_PROXY_HDR] = 'X', [TERM_PH_TLS] = 'T',   [TERM_PH_REQUEST] = 'R',
    [TERM_PH_BACKEND] = 'C',   [TERM_PH_SETUP] = 'A', [TERM_PH_DATA] = 'D',
};

char term_phase_letter(enum term_phase phase)
{
    return (unsigned)phase < TERM_PH_COUNT ? phase_letters[phase] : '?';
}

bool term_set(char term[TERM_LEN], char who, enum term_phase phase)
{
    if (term[0] != '\0')
        return false;
    term[0] = who;
    term[1] = who == TERM_NORMAL ? TERM_NORMAL : term_phase_letter(phase);
    term[2] = '\0';
    return true;
}

const char *term_str(const char term[TERM_LEN])
{
    return term[0] != '\0' ? term : "--";
}
