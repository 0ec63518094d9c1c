/* session_int.h — functions shared by session.c (client side) and
 * session_ppp.c (pppd side). Not for use outside the session. */
#ifndef SSTP_LB_BACKEND_SESSION_INT_H
#define SSTP_LB_BACKEND_SESSION_INT_H

#include "backend/session.h"

/* session.c */
void be_session_set_term(struct be_session *s, char who, enum sstp_rc rc);
void be_session_maybe_free(struct be_session *s);
void be_session_close_transport(struct be_session *s);
void be_session_update_client(struct be_session *s);
int be_session_run_actions(struct be_session *s, const struct sstp_srv_actions *act);
int be_session_step(struct be_session *s, const struct sstp_srv_ev *ev, struct sstp_srv_actions *act);
int be_session_queue_client(struct be_session *s, const uint8_t *p, size_t n);

/* session_ppp.c */
void be_session_ppp_init(struct be_session *s);
int be_session_ppp_start(struct be_session *s);
void be_session_ppp_hangup(struct be_session *s);
void be_session_ppp_update(struct be_session *s);
void be_session_send_frame_to_pppd(struct be_session *s, const uint8_t *frame, size_t len);
/* writes the frames queued for pppd now, unless a short write is waiting
 * for the pty (then pty_w, armed by be_session_ppp_update, goes on) */
void be_session_ppp_flush(struct be_session *s);
/* the crypto binding verified the call's authentication: run the per-user
 * policy, then let pppd go on */
void be_session_bound(struct be_session *s);
/* the fleet's per-user policy decided (fleet.c calls it) */
void be_session_auth_decided(struct be_session *s, bool allow);

struct sstp_plugin_msg;
/* be_session_hlak_from_auth derives the HLAK from an AUTH report, strictly
 * by method (MS-SSTP 3.2.5.2.2): MS-CHAPv2 needs both keys (else
 * SSTP_E_BIND_NO_KEYS), EAP cannot be bound with pppd 2.4.9's 16-byte keys
 * (SSTP_E_BIND_METHOD; SSTP_E_BIND_NO_KEYS without keys), PAP, CHAP-MD5 and
 * none give 32 zero bytes. Returns SSTP_OK with hlak set, or the reason
 * (hlak zeroed). */
enum sstp_rc be_session_hlak_from_auth(uint8_t hlak[SSTP_HLAK_LEN], const struct sstp_plugin_msg *m);

#endif
