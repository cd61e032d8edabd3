/* Host port: see host_port.h. The counter reads the host's monotonic clock, so counts are
 * wall-clock nanoseconds of a sanitizer build, meaningful only as "it ran". */
#if defined(TINYRNN_PLATFORM_HOST)

#define _POSIX_C_SOURCE 199309L

#include "host_port.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../tinyrnn_port.h"

static const uint8_t *host_in;
static size_t host_in_len;
static size_t host_in_pos;
static void (*host_put)(uint8_t c, void *ctx);
static void *host_put_ctx;
static int host_exit = -1;
static uint64_t host_counter_origin;

static uint64_t host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void host_port_feed(const uint8_t *data, size_t n)
{
    host_in = data;
    host_in_len = n;
    host_in_pos = 0u;
}

void host_port_set_output(void (*put)(uint8_t c, void *ctx), void *ctx)
{
    host_put = put;
    host_put_ctx = ctx;
}

int host_port_exit_code(void)
{
    return host_exit;
}

void tinyrnn_port_init(void)
{
    host_exit = -1;
}

void tinyrnn_port_putc(uint8_t c)
{
    if (host_put != NULL) {
        host_put(c, host_put_ctx);
    }
}

int tinyrnn_port_getc(void)
{
    if (host_in_pos < host_in_len) {
        return host_in[host_in_pos++];
    }
    return -1;
}

void tinyrnn_port_counter_start(void)
{
    host_counter_origin = host_now_ns();
}

uint32_t tinyrnn_port_counter_elapsed(void)
{
    return (uint32_t)(host_now_ns() - host_counter_origin);
}

const char *tinyrnn_port_counter_unit(void)
{
    return "nanoseconds_host";
}

uint32_t tinyrnn_port_counter_resolution(void)
{
    return 1u;
}

const char *tinyrnn_port_board(void)
{
    return "host";
}

const char *tinyrnn_port_cpu(void)
{
    return "host";
}

void tinyrnn_port_stack(uint32_t *used, uint32_t *reserved)
{
    *used = 0u;
    *reserved = 0u;
}

void tinyrnn_port_exit(int code)
{
    host_exit = code;
}

#endif /* TINYRNN_PLATFORM_HOST */
