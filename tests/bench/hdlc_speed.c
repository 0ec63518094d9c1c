/* hdlc_speed.c — MB/s of sstp/hdlc.c's encoder and decoder on the frames a
 * tunnel carries: 1400-byte frames of random bytes (1 in 8 is escaped: a
 * control character, flag or escape) and of plain text-like bytes (none
 * escaped). Linked against whichever hdlc.c tests/bench/hdlc_speed.sh
 * gives it, so two versions are measured in one run. Prints one line per
 * case: "hdlc case=... op=encode|decode mb_s=...". Not a test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sstp/hdlc.h"

#define FRAME 1400
#define N_FRAMES 64

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void run(const char *name, int plain, double secs)
{
    static uint8_t frames[N_FRAMES][FRAME], stream[N_FRAMES * HDLC_ENCODED_MAX(FRAME)];
    static uint8_t frame_buf[SSTP_HDLC_FRAME_BUF];
    uint32_t x = 2463534242u;
    size_t stream_len = 0, n;

    for (int f = 0; f < N_FRAMES; f++)
        for (int b = 0; b < FRAME; b++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            frames[f][b] = plain ? (uint8_t)(0x20 + x % 0x5d) : (uint8_t)x;
        }
    for (int f = 0; f < N_FRAMES; f++) {
        if (sstp_hdlc_encode(stream + stream_len, sizeof stream - stream_len, &n, frames[f], FRAME) != SSTP_OK)
            abort();
        stream_len += n;
    }

    /* encode: frame bytes in per second */
    unsigned long long bytes = 0;
    double t0 = now_s(), t;
    do {
        for (int f = 0; f < N_FRAMES; f++) {
            if (sstp_hdlc_encode(stream, sizeof stream, &n, frames[f], FRAME) != SSTP_OK)
                abort();
            bytes += FRAME;
        }
        t = now_s() - t0;
    } while (t < secs);
    printf("hdlc case=%s op=encode mb_s=%.1f\n", name, (double)bytes / t / 1e6);

    /* re-encode the stream (the loop above overwrote its head) */
    stream_len = 0;
    for (int f = 0; f < N_FRAMES; f++) {
        sstp_hdlc_encode(stream + stream_len, sizeof stream - stream_len, &n, frames[f], FRAME);
        stream_len += n;
    }
    /* decode: frame bytes out per second */
    bytes = 0;
    t0 = now_s();
    do {
        struct sstp_hdlc_dec d = { 0 };
        const uint8_t *p = stream;
        size_t left = stream_len, used, flen;
        while (left) {
            enum sstp_rc rc = sstp_hdlc_decode(&d, frame_buf, sizeof frame_buf, &flen, &used, p, left);
            p += used, left -= used;
            if (rc == SSTP_OK)
                bytes += flen;
            else if (rc != SSTP_AGAIN)
                abort();
        }
        t = now_s() - t0;
    } while (t < secs);
    printf("hdlc case=%s op=decode mb_s=%.1f\n", name, (double)bytes / t / 1e6);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    run("random", 0, secs);
    run("plain", 1, secs);
    return 0;
}
