/* Cortex-M core pieces every Arm port needs, inline so that sharing them changes neither code
 * size nor instruction counts: SysTick extended to 32 bits by its wrap interrupt, and the painted
 * stack whose high mark gives the stack bytes used. Used by qemu/tinyrnn_port_qemu.c and by the
 * chip ports' cortexm/tinyrnn_cortexm.c. Register addresses are the architecture's (Armv6-M,
 * Armv7-M and Armv8-M ARM, System Control Space). */
#ifndef TINYRNN_SYSTICK_H
#define TINYRNN_SYSTICK_H

#include <stdint.h>

#ifndef TINYRNN_REG
#define TINYRNN_REG(addr) (*(volatile uint32_t *)(addr))
#endif

#define TINYRNN_SYST_CSR TINYRNN_REG(0xE000E010u)
#define TINYRNN_SYST_RVR TINYRNN_REG(0xE000E014u)
#define TINYRNN_SYST_CVR TINYRNN_REG(0xE000E018u)
#define TINYRNN_SCB_ICSR TINYRNN_REG(0xE000ED04u)
#define TINYRNN_ICSR_PENDSTSET (1u << 26)
#define TINYRNN_ICSR_PENDSTCLR (1u << 25)
#define TINYRNN_SYST_RELOAD 0x00FFFFFFu
#define TINYRNN_SYST_ON 0x7u /* processor clock, wrap interrupt, enabled */

#define TINYRNN_STACK_PAINT 0xA5A5A5A5u

extern uint32_t _sstack, _estack;

static inline void tinyrnn_systick_enable(void)
{
    TINYRNN_SYST_RVR = TINYRNN_SYST_RELOAD;
    TINYRNN_SYST_CVR = 0u;
    TINYRNN_SYST_CSR = TINYRNN_SYST_ON;
}

/* Restarting SysTick puts the tick phase at a fixed instruction, so under QEMU the same work
 * reads the same count in every run, however long the firmware waited for the host before. */
static inline void tinyrnn_systick_restart(volatile uint32_t *wraps)
{
    TINYRNN_SYST_CSR = 0u;
    *wraps = 0u;
    TINYRNN_SCB_ICSR = TINYRNN_ICSR_PENDSTCLR;
    TINYRNN_SYST_CVR = 0u;
    TINYRNN_SYST_CSR = TINYRNN_SYST_ON;
}

/* Ticks since the restart; `wraps` is counted by the port's SysTick_Handler. */
static inline uint32_t tinyrnn_systick_ticks(const volatile uint32_t *wraps)
{
    uint32_t seen;
    uint32_t value;
    uint32_t pending;
    do {
        seen = *wraps;
        value = TINYRNN_SYST_CVR;
        pending = TINYRNN_SCB_ICSR & TINYRNN_ICSR_PENDSTSET;
    } while (seen != *wraps);
    /* Reloaded but the wrap interrupt has not run yet: count that wrap here. */
    if (pending != 0u && value > (TINYRNN_SYST_RELOAD / 2u)) {
        seen++;
    }
    return (seen << 24) + (TINYRNN_SYST_RELOAD - value);
}

static inline void tinyrnn_stack_paint(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    /* Leave a margin below the live frame: the caller's own locals sit there. */
    for (volatile uint32_t *p = &_sstack; (uint32_t)(uintptr_t)p < sp - 64u; ++p) {
        *p = TINYRNN_STACK_PAINT;
    }
}

static inline void tinyrnn_stack_high_mark(uint32_t *used, uint32_t *reserved)
{
    const volatile uint32_t *p = &_sstack;
    while (p < &_estack && *p == TINYRNN_STACK_PAINT) {
        ++p;
    }
    *used = (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
    *reserved = (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

#endif /* TINYRNN_SYSTICK_H */
