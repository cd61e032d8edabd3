/* Host port of the harness (gcc/clang on Linux): the real harness sources with a memory-buffer
 * UART, for tests and fuzzing on the build machine. Drivers: host_main.c (stdin/stdout),
 * host_fuzz.c (libFuzzer). */
#ifndef HOST_PORT_H
#define HOST_PORT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes the next tinyrnn_port_getc() calls return, in order; then -1 ("nothing waiting"). The
 * buffer must stay valid until the harness has consumed it (tinyrnn_harness_poll). */
void host_port_feed(const uint8_t *data, size_t n);

/* Where tinyrnn_port_putc() sends each reply byte (default: discarded). */
void host_port_set_output(void (*put)(uint8_t c, void *ctx), void *ctx);

/* The code of the last `exit` command, or -1. The host port keeps running after `exit` so one
 * process can take a whole stream; a driver decides whether to stop. */
int host_port_exit_code(void);

#endif /* HOST_PORT_H */
