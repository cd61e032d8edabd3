/* Serial-protocol harness around one tinyrnn model (see firmware/PROTOCOL.md). */
#ifndef TINYRNN_HARNESS_H
#define TINYRNN_HARNESS_H

#ifdef __cplusplus
extern "C" {
#endif

#define TINYRNN_PROTOCOL_VERSION 1
/* Longest command line accepted, terminator excluded; longer lines get `err too_long`. */
#define TINYRNN_LINE_MAX 160
/* Most payload bytes in one `data` command (2 hex digits each). */
#define TINYRNN_CHUNK_MAX 64
#define TINYRNN_INFER_MAX 10000u
#define TINYRNN_SPIN_MAX 100000000u

/* Prints the `ready` banner; call once after reset. */
void tinyrnn_harness_init(void);

/* Consumes every byte the UART has waiting and answers complete lines; never blocks. */
void tinyrnn_harness_poll(void);

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_HARNESS_H */
