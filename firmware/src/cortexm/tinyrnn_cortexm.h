/* Helpers shared by the bare-metal chip ports (stm32f4/, nrf51/, corstone300/): the interval
 * counter on the Cortex-M core's own timers and the painted stack. Each chip port decides which
 * counter source it has and whether it runs under QEMU; this file only implements the sources.
 *
 * Counter sources:
 *   DWT       DWT CYCCNT, Armv7-M / Armv8-M Mainline. Counts core clock cycles: unit "cycles".
 *   SYSTICK   SysTick at the processor clock, extended to 32 bits by its wrap interrupt. On a
 *             board it counts core clock cycles ("cycles"). Under QEMU -icount shift=0 each
 *             instruction is 1 ns of virtual time, so ticks * 1e9 / clock_hz are instructions:
 *             unit "instructions_emulated". QEMU does not model DWT (CYCCNT reads 0), so this is
 *             the fallback the chip ports take when CYCCNT does not advance. */
#ifndef TINYRNN_CORTEXM_H
#define TINYRNN_CORTEXM_H

#include <stdint.h>

#define TINYRNN_REG(addr) (*(volatile uint32_t *)(addr))

typedef enum {
    TINYRNN_COUNTER_DWT,
    TINYRNN_COUNTER_SYSTICK_CYCLES,
    TINYRNN_COUNTER_SYSTICK_EMULATED
} tinyrnn_counter_source_t;

/* Enables DWT CYCCNT and reports whether it advances (1) or not (0: no DWT on this core, or
 * QEMU, which reads CYCCNT as 0). Always 0 on Armv6-M, which has no CYCCNT. */
int tinyrnn_cortexm_dwt_probe(void);

/* clock_hz: the SysTick (processor) clock, used to turn ticks into emulated instructions. */
void tinyrnn_cortexm_counter_init(tinyrnn_counter_source_t source, uint32_t clock_hz);
void tinyrnn_cortexm_counter_start(void);
uint32_t tinyrnn_cortexm_counter_elapsed(void);
const char *tinyrnn_cortexm_counter_unit(void);
uint32_t tinyrnn_cortexm_counter_resolution(void);

/* Emulated instructions for `ticks` of a timer running at clock_hz under -icount shift=0
 * (1 instruction = 1 ns), rounded down; saturates at 2^32 - 1. */
uint32_t tinyrnn_cortexm_ticks_to_instructions(uint32_t ticks, uint32_t clock_hz);
uint32_t tinyrnn_cortexm_instructions_per_tick(uint32_t clock_hz); /* rounded up */

/* Fill the unused stack with a pattern at boot; tinyrnn_port_stack() (defined in
 * tinyrnn_cortexm.c for every chip port) finds the high mark. tinyrnn_cortexm.c also gives the
 * chip ports tinyrnn_port_counter_*() on the counter chosen by tinyrnn_cortexm_counter_init(),
 * as weak definitions a port with its own timer overrides. */
void tinyrnn_cortexm_paint_stack(void);

/* QEMU: semihosting exit with `code`. A board: interrupts off, the core sleeps forever (a
 * semihosting BKPT without a debugger would fault). */
void tinyrnn_cortexm_exit(int emulated, int code) __attribute__((noreturn));

#endif /* TINYRNN_CORTEXM_H */
