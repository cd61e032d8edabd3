/* Shared Cortex-M pieces of the bare-metal chip ports; see tinyrnn_cortexm.h. Register addresses
 * are the architecture's (Armv7-M / Armv8-M ARM, System Control Space). */
#if defined(TINYRNN_PLATFORM_BAREMETAL)

#include "tinyrnn_cortexm.h"

#include <stdint.h>

#define TINYRNN_SYST_CSR TINYRNN_REG(0xE000E010u)
#define TINYRNN_SYST_RVR TINYRNN_REG(0xE000E014u)
#define TINYRNN_SYST_CVR TINYRNN_REG(0xE000E018u)
#define TINYRNN_SCB_ICSR TINYRNN_REG(0xE000ED04u)
#define TINYRNN_ICSR_PENDSTSET (1u << 26)
#define TINYRNN_ICSR_PENDSTCLR (1u << 25)
#define TINYRNN_SYST_RELOAD 0x00FFFFFFu
#define TINYRNN_SYST_ON 0x7u /* processor clock, wrap interrupt, enabled */

#define TINYRNN_DEMCR TINYRNN_REG(0xE000EDFCu)
#define TINYRNN_DEMCR_TRCENA (1u << 24)
#define TINYRNN_DWT_CTRL TINYRNN_REG(0xE0001000u)
#define TINYRNN_DWT_CYCCNT TINYRNN_REG(0xE0001004u)
#define TINYRNN_DWT_CYCCNTENA 1u

#define TINYRNN_STACK_PAINT 0xA5A5A5A5u

extern uint32_t _sstack, _estack;

static tinyrnn_counter_source_t tinyrnn_counter_source = TINYRNN_COUNTER_SYSTICK_EMULATED;
static uint32_t tinyrnn_counter_hz = 1u;
static volatile uint32_t tinyrnn_systick_wraps;

void SysTick_Handler(void)
{
    tinyrnn_systick_wraps++;
}

int tinyrnn_cortexm_dwt_probe(void)
{
#if defined(__ARM_ARCH_6M__)
    return 0;
#else
    TINYRNN_DEMCR |= TINYRNN_DEMCR_TRCENA;
    TINYRNN_DWT_CYCCNT = 0u;
    TINYRNN_DWT_CTRL |= TINYRNN_DWT_CYCCNTENA;
    for (volatile uint32_t i = 0u; i < 16u; ++i) {
    }
    return TINYRNN_DWT_CYCCNT != 0u;
#endif
}

uint32_t tinyrnn_cortexm_ticks_to_instructions(uint32_t ticks, uint32_t clock_hz)
{
    const uint64_t insns = ((uint64_t)ticks * 1000000000u) / clock_hz;
    return insns > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)insns;
}

uint32_t tinyrnn_cortexm_instructions_per_tick(uint32_t clock_hz)
{
    return (1000000000u + clock_hz - 1u) / clock_hz;
}

void tinyrnn_cortexm_counter_init(tinyrnn_counter_source_t source, uint32_t clock_hz)
{
    tinyrnn_counter_source = source;
    tinyrnn_counter_hz = clock_hz != 0u ? clock_hz : 1u;
    if (source != TINYRNN_COUNTER_DWT) {
        TINYRNN_SYST_RVR = TINYRNN_SYST_RELOAD;
        TINYRNN_SYST_CVR = 0u;
        TINYRNN_SYST_CSR = TINYRNN_SYST_ON;
    }
}

void tinyrnn_cortexm_counter_start(void)
{
    if (tinyrnn_counter_source == TINYRNN_COUNTER_DWT) {
        TINYRNN_DWT_CYCCNT = 0u;
        return;
    }
    /* Restarting SysTick puts the tick phase at a fixed instruction, so under QEMU the same work
     * reads the same count in every run. */
    TINYRNN_SYST_CSR = 0u;
    tinyrnn_systick_wraps = 0u;
    TINYRNN_SCB_ICSR = TINYRNN_ICSR_PENDSTCLR;
    TINYRNN_SYST_CVR = 0u;
    TINYRNN_SYST_CSR = TINYRNN_SYST_ON;
}

static uint32_t tinyrnn_systick_ticks(void)
{
    uint32_t wraps;
    uint32_t value;
    uint32_t pending;
    do {
        wraps = tinyrnn_systick_wraps;
        value = TINYRNN_SYST_CVR;
        pending = TINYRNN_SCB_ICSR & TINYRNN_ICSR_PENDSTSET;
    } while (wraps != tinyrnn_systick_wraps);
    /* Reloaded but the wrap interrupt has not run yet: count that wrap here. */
    if (pending != 0u && value > (TINYRNN_SYST_RELOAD / 2u)) {
        wraps++;
    }
    return (wraps << 24) + (TINYRNN_SYST_RELOAD - value);
}

uint32_t tinyrnn_cortexm_counter_elapsed(void)
{
    switch (tinyrnn_counter_source) {
    case TINYRNN_COUNTER_DWT:
        return TINYRNN_DWT_CYCCNT;
    case TINYRNN_COUNTER_SYSTICK_CYCLES:
        return tinyrnn_systick_ticks();
    default:
        return tinyrnn_cortexm_ticks_to_instructions(tinyrnn_systick_ticks(), tinyrnn_counter_hz);
    }
}

const char *tinyrnn_cortexm_counter_unit(void)
{
    return tinyrnn_counter_source == TINYRNN_COUNTER_SYSTICK_EMULATED ? "instructions_emulated"
                                                                      : "cycles";
}

uint32_t tinyrnn_cortexm_counter_resolution(void)
{
    return tinyrnn_counter_source == TINYRNN_COUNTER_SYSTICK_EMULATED
               ? tinyrnn_cortexm_instructions_per_tick(tinyrnn_counter_hz)
               : 1u;
}

void tinyrnn_cortexm_paint_stack(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    /* Leave a margin below the live frame: this function's own locals sit there. */
    for (volatile uint32_t *p = &_sstack; (uint32_t)(uintptr_t)p < sp - 64u; ++p) {
        *p = TINYRNN_STACK_PAINT;
    }
}

void tinyrnn_cortexm_stack(uint32_t *used, uint32_t *reserved)
{
    const volatile uint32_t *p = &_sstack;
    while (p < &_estack && *p == TINYRNN_STACK_PAINT) {
        ++p;
    }
    *used = (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
    *reserved = (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

extern void tinyrnn_startup_exit(int code) __attribute__((noreturn));

void tinyrnn_cortexm_exit(int emulated, int code)
{
    if (emulated) {
        tinyrnn_startup_exit(code);
    }
    __asm__ volatile("cpsid i" ::: "memory");
    for (;;) {
        __asm__ volatile("wfi");
    }
}

#endif /* TINYRNN_PLATFORM_BAREMETAL */
