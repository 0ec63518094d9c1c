/* term.h — the termination code of a session's close line (style 2.10),
 * written once for both daemons, in the shape of HAProxy's termination
 * state that operators already read.
 *
 * First letter: who ended it. Second letter: the phase it ended in. "--"
 * is a normal end (both sides closed, or a probe answered). Each daemon maps
 * its own states to a term_phase with a table sized by its state count. */
#ifndef SSTP_LB_CORE_TERM_H
#define SSTP_LB_CORE_TERM_H

#include <stdbool.h>

#define TERM_LEN 3 /* two letters and the NUL */

/* who ended it */
#define TERM_NORMAL    '-' /* nobody: a normal end ("--") */
#define TERM_CLIENT    'C'
#define TERM_SERVER    'S' /* the backend (proxy), pppd (backend) */
#define TERM_PROXY     'P' /* our own decision: timeout, drain, protocol, policy */
#define TERM_RESOURCE  'R'
#define TERM_INTERNAL  'I'
#define TERM_DOWN      'D' /* no backend up */
#define TERM_KILLED    'K' /* shutdown, kick, drain */

enum term_phase {
    TERM_PH_PROXY_HDR = 0, /* X: PROXY header */
    TERM_PH_TLS,           /* T: TLS handshake (or the ClientHello peek) */
    TERM_PH_REQUEST,       /* R: HTTP request head */
    TERM_PH_BACKEND,       /* C: choosing and connecting to a backend */
    TERM_PH_SETUP,         /* A: SSTP call set-up and authentication */
    TERM_PH_DATA,          /* D: data (relay, or a connected call) */
    TERM_PH_COUNT
};

/* term_phase_letter is the second letter of a phase ('?' out of range). */
char term_phase_letter(enum term_phase phase);

/* term_set writes who + the phase letter into term ("--" for TERM_NORMAL),
 * unless a code is there already: the first reason wins. Returns true if it
 * wrote (the caller then records its reason code too). */
bool term_set(char term[TERM_LEN], char who, enum term_phase phase);

/* term_str is the code as logged: "--" while none was set. */
const char *term_str(const char term[TERM_LEN]);

#endif
