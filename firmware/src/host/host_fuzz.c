/* libFuzzer target: the real harness (firmware/src) behind the host port, one fuzz input = one
 * burst of bytes on the UART (not lockstep, so the `err busy` path is reachable too).
 *
 * Beyond the sanitizers, every input must keep the protocol's promises, else abort():
 *   - every reply line starts with "ok " or "err " and stays shorter than HOST_FUZZ_REPLY_MAX;
 *   - afterwards, a blank line and `id` get exactly the `id` reply captured at start-up.
 * Harness state (a half-loaded window, a discarded line) carries over between inputs, as it
 * would on a board that keeps receiving. */
#if defined(TINYRNN_PLATFORM_HOST)

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tinyrnn_harness.h"
#include "host_port.h"

#define HOST_FUZZ_REPLY_MAX 512u

typedef struct {
    char line[HOST_FUZZ_REPLY_MAX];
    uint32_t len;
    int banner_allowed;
} host_fuzz_checker_t;

static host_fuzz_checker_t host_fuzz_checker;
static char host_fuzz_id[HOST_FUZZ_REPLY_MAX];

static int host_fuzz_starts_with(const char *line, uint32_t len, const char *prefix)
{
    const size_t n = strlen(prefix);
    return len >= n && memcmp(line, prefix, n) == 0;
}

static void host_fuzz_put(uint8_t c, void *ctx)
{
    host_fuzz_checker_t *k = (host_fuzz_checker_t *)ctx;
    if (c != '\n') {
        if (k->len + 1u >= HOST_FUZZ_REPLY_MAX) {
            abort(); /* a reply that long can only come from unbounded echo */
        }
        k->line[k->len++] = (char)c;
        return;
    }
    if (!host_fuzz_starts_with(k->line, k->len, "ok ") &&
        !host_fuzz_starts_with(k->line, k->len, "err ") &&
        !(k->banner_allowed && host_fuzz_starts_with(k->line, k->len, "ready "))) {
        abort();
    }
    k->line[k->len] = '\0';
    k->len = 0u;
}

static void host_fuzz_send(const uint8_t *data, size_t n)
{
    host_port_feed(data, n);
    tinyrnn_harness_poll();
}

static void host_fuzz_ask_id(char *reply)
{
    static const uint8_t blank[] = "\n";
    static const uint8_t id[] = "id\n";
    host_fuzz_send(blank, 1u);
    host_fuzz_send(id, 3u);
    /* The checker NUL-terminates each finished line in place: the last one is `id`'s reply. */
    memcpy(reply, host_fuzz_checker.line, HOST_FUZZ_REPLY_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    char reply[HOST_FUZZ_REPLY_MAX];
    if (!started) {
        host_fuzz_checker.banner_allowed = 1;
        host_port_set_output(host_fuzz_put, &host_fuzz_checker);
        tinyrnn_harness_init();
        host_fuzz_checker.banner_allowed = 0;
        host_fuzz_ask_id(host_fuzz_id);
        if (!host_fuzz_starts_with(host_fuzz_id, (uint32_t)strlen(host_fuzz_id), "ok id ")) {
            abort();
        }
        started = 1;
    }
    host_fuzz_send(data, size);
    host_fuzz_ask_id(reply);
    if (strcmp(reply, host_fuzz_id) != 0) {
        abort();
    }
    return 0;
}

#endif /* TINYRNN_PLATFORM_HOST */
