/* auth-delay-plugin.c — test-only pppd 2.4.9 plugin for tests/e2e
 * (backend_pap_early.sh): holds pppd inside its auth-up notification until
 * a file exists, then HOLD_MS more. Loaded after sstp-lb-pppd.so, so pppd
 * (whose notifier lists run the last registered first) runs this before our
 * real plugin reports the keys: the client's CALL_CONNECTED reaches
 * sstp-backend first, deterministically. Not part of the product and not
 * built by the Makefile; tests/e2e/run.sh compiles it. */
#include <pppd/pppd.h>

#include <errno.h>
#include <time.h>
#include <unistd.h>

char pppd_version[] = VERSION;

#define POLL_MS  20
#define WAIT_MS  15000  /* give up (and let pppd go on) after this long */
#define HOLD_MS  200    /* after the file appears: keeps the order visible in the timestamps */

static char *flag_file;

static option_t options[] = {
    { "auth-delay-file", o_string, &flag_file,
      "hold auth-up until this file exists", OPT_PRIV },
    { NULL }
};

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    /* pppd's signal handlers interrupt the sleep: finish it */
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void on_auth_up(void *arg, int val)
{
    long waited = 0;

    (void)arg;
    (void)val;
    if (!flag_file)
        return;
    info("auth-delay: holding auth-up until %s exists", flag_file);
    while (access(flag_file, F_OK) != 0) {
        if (waited >= WAIT_MS) {
            warn("auth-delay: %s did not appear within %d ms", flag_file, WAIT_MS);
            return;
        }
        sleep_ms(POLL_MS);
        waited += POLL_MS;
    }
    sleep_ms(HOLD_MS);
    info("auth-delay: released after %ld ms", waited + HOLD_MS);
}

void plugin_init(void)
{
    add_options(options);
    add_notifier(&auth_up_notifier, on_auth_up, NULL);
}
