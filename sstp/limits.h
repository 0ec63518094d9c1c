/* limits.h — protocol constants of SSTP, HDLC and PROXY, each with its source.
 * Policy limits (head size, buffer sizes) are parameters, not constants here. */
#ifndef SSTP_LB_SSTP_LIMITS_H
#define SSTP_LB_SSTP_LIMITS_H

#define SSTP_VERSION              0x10   /* MS-SSTP 2.2.1: major 1, minor 0 */
#define SSTP_HDR_LEN              4      /* MS-SSTP 2.2.1 */
#define SSTP_CTRL_HDR_LEN         8      /* MS-SSTP 2.2.2: header + type + count */
#define SSTP_ATTR_HDR_LEN         4      /* MS-SSTP 2.2.4 */
#define SSTP_LEN_MASK             0x0FFF /* MS-SSTP 2.2.1: 12-bit length */
#define SSTP_PKT_MAX_LEN          4095   /* MS-SSTP 2.2.1: 12-bit length */
#define SSTP_PPP_MAX_FRAME        (SSTP_PKT_MAX_LEN - SSTP_HDR_LEN) /* 4091, MS-SSTP 3.1.5.2 */
#define SSTP_NONCE_LEN            32     /* MS-SSTP 2.2.6 */
#define SSTP_HASH_MAX_LEN         32     /* SHA-256; SHA-1 is 20 + 12 pad */
#define SSTP_SHA1_LEN             20
#define SSTP_SHA256_LEN           32
#define SSTP_HLAK_LEN             32     /* MS-SSTP 3.2.5.2.2 */
#define SSTP_STATUS_VALUE_MAX     64     /* MS-SSTP 2.2.8: AttribValue <= 64 */
#define SSTP_CONNECTED_LEN        112    /* MS-SSTP 2.2.11 */
#define SSTP_MAC_OFFSET           80     /* MS-SSTP 2.2.7: compound MAC in CALL_CONNECTED */
#define SSTP_CONNECT_NAK_RETRIES  3      /* MS-SSTP 3.3.5.2.2, note <2> */

/* MS-SSTP 3.1.2, 3.2.2, 3.3.2: timer defaults in seconds */
#define SSTP_NEGOTIATION_TIMEOUT_S 60
#define SSTP_HELLO_INTERVAL_S      60
#define SSTP_ABORT_T1_S            3
#define SSTP_ABORT_T2_S            1
#define SSTP_DISCONNECT_T1_S       5
#define SSTP_DISCONNECT_T2_S       1

/* MS-SSTP 3.2.4.1: the one Content-Length and URI an SSTP request carries */
#define SSTP_HTTP_CONTENT_LENGTH  "18446744073709551615"
#define SSTP_HTTP_METHOD          "SSTP_DUPLEX_POST"
#define SSTP_HTTP_URI             "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"
#define SSTP_CORRELATION_ID_MAX   64     /* longer ids are not kept */

/* RFC 1662 §4, §C.2 */
#define HDLC_FLAG                 0x7E
#define HDLC_ESCAPE               0x7D
#define HDLC_XOR                  0x20
#define HDLC_FCS_INIT             0xFFFF
#define HDLC_FCS_GOOD             0xF0B8
#define HDLC_FCS_LEN              2
/* worst case of one encoded frame: every byte escaped, plus two flags */
#define HDLC_ENCODED_MAX(n)       (2 * ((n) + HDLC_FCS_LEN) + 2)

/* PROXY protocol (HAProxy doc/proxy-protocol.txt) */
#define PP_V1_MAX_LEN             107    /* §2.1: line incl. CRLF */
#define PP_V2_HDR_LEN             16     /* §2.2: signature + ver/cmd + fam + len */
#define PP_V2_SIG_LEN             12
#define PP_V2_MAX_LEN             (PP_V2_HDR_LEN + 65535)

#endif
