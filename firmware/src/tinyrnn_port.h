/* Porting layer: the only board-specific code the harness calls (in the spirit of MLPerf Tiny's
 * th_* / ee_* split). One implementation per board family:
 *   qemu/tinyrnn_port_qemu.c       mps2-an386/an500/an505 (CMSDK UART), lm3s6965evb (PL011 UART)
 *   stm32f4/, nrf51/, corstone300/  real chips, bare metal, same ELF on the board and in QEMU
 *   arduino/tinyrnn_port_arduino.cpp  real boards through the Arduino core (Serial) */
#ifndef TINYRNN_PORT_H
#define TINYRNN_PORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void tinyrnn_port_init(void);

/* Blocks until the byte is accepted by the UART. */
void tinyrnn_port_putc(uint8_t c);

/* Next received byte, or -1 when none is waiting. Never blocks: the harness polls. */
int tinyrnn_port_getc(void);

/* Called when tinyrnn_port_getc() has nothing: may sleep until a byte arrives (or return at
 * once; the default does). QEMU boards sleep in WFI, so an emulated board waiting for the host
 * takes no host CPU instead of a whole core. */
void tinyrnn_port_wait_input(void);

/* Interval counter around each inference: start, run, read elapsed (modulo 2^32, so one
 * interval must stay below 2^32 units). Under QEMU start() restarts SysTick, which puts the
 * tick phase at a fixed instruction: the same work then reads the same count in every run,
 * however long the firmware waited for the host before it. */
void tinyrnn_port_counter_start(void);
uint32_t tinyrnn_port_counter_elapsed(void);

/* What the counter counts, reported verbatim by `id`: "cycles" on hardware (DWT CYCCNT, CCOUNT,
 * SysTick at the core clock) and "instructions_emulated" under QEMU -icount shift=0. */
const char *tinyrnn_port_counter_unit(void);

/* Smallest step of the counter in its unit (QEMU: instructions per SysTick tick). */
uint32_t tinyrnn_port_counter_resolution(void);

const char *tinyrnn_port_board(void);
const char *tinyrnn_port_cpu(void);

/* Stack bytes ever used since boot and reserved, or 0/0 when the port cannot tell. */
void tinyrnn_port_stack(uint32_t *used, uint32_t *reserved);

/* Ends the program: QEMU exits with `code`; hardware parks the core. */
void tinyrnn_port_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_PORT_H */
