/* fuzz_tls_hello.c — libFuzzer target for sstp/tls_hello.c: any input is
 * read as the client's first bytes; the extension found must lie inside the
 * input's first record, and no prefix of an input the parser accepted may
 * be anything but incomplete. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sstp/tls_hello.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sstp_slice ext;
    enum sstp_rc rc = sstp_hello_sni(&ext, data, size);
    CHECK(rc == SSTP_OK || rc == SSTP_AGAIN || rc == SSTP_E_HELLO_RECORD || rc == SSTP_E_HELLO_MSG ||
          (rc == SSTP_E_ARG && !data));
    if (rc != SSTP_OK) {
        CHECK(ext.len == 0);
        return 0;
    }
    size_t rec_end = SSTP_HELLO_HDR_LEN + ((size_t)data[3] << 8 | data[4]);
    CHECK(rec_end <= size && rec_end <= SSTP_HELLO_PEEK_MAX);
    CHECK(ext.len == 0 || (ext.p >= data && ext.p + ext.len <= data + rec_end));
    /* the record is complete only at its end: one byte less is AGAIN */
    struct sstp_slice short_ext;
    CHECK(sstp_hello_sni(&short_ext, data, rec_end - 1) == SSTP_AGAIN);
    return 0;
}
