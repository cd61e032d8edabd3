/* stdin/stdout driver of the host harness: the banner, then one reply line per command line.
 *
 *   harness-stdio [-s] [-k] < commands > replies
 *     default  lockstep: each line is handed over only after the previous one was answered,
 *              as deploy/link.py does
 *     -s       stream: whole read() chunks at once, so lines sent during a long command meet
 *              the `err busy` path
 *     -k       keep going after `exit` (default: stop with its code, as QEMU does) */
#if defined(TINYRNN_PLATFORM_HOST)

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../tinyrnn_harness.h"
#include "host_port.h"

static void host_main_put(uint8_t c, void *ctx)
{
    (void)ctx;
    putchar(c);
}

static int host_main_feed(const uint8_t *data, size_t n, int keep_going)
{
    host_port_feed(data, n);
    tinyrnn_harness_poll();
    return !keep_going && host_port_exit_code() >= 0;
}

int main(int argc, char **argv)
{
    int stream = 0;
    int keep_going = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "-s") == 0) {
            stream = 1;
        } else if (strcmp(argv[i], "-k") == 0) {
            keep_going = 1;
        } else {
            fprintf(stderr, "usage: %s [-s] [-k] < commands\n", argv[0]);
            return 2;
        }
    }
    host_port_set_output(host_main_put, NULL);
    tinyrnn_harness_init();
    static uint8_t buf[1u << 16];
    size_t got;
    while ((got = fread(buf, 1u, sizeof buf, stdin)) > 0u) {
        size_t start = 0u;
        while (start < got) {
            size_t end = got;
            if (!stream) {
                const uint8_t *nl = memchr(buf + start, '\n', got - start);
                end = nl != NULL ? (size_t)(nl - buf) + 1u : got;
            }
            if (host_main_feed(buf + start, end - start, keep_going)) {
                fflush(stdout);
                return host_port_exit_code();
            }
            start = end;
        }
    }
    fflush(stdout);
    return 0;
}

#endif /* TINYRNN_PLATFORM_HOST */
