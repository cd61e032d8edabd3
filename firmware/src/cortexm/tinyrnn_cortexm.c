/* Shared Cortex-M pieces of the bare-metal chip ports; see tinyrnn_cortexm.h. Register addresses
 * are the architecture's (Armv7-M / Armv8-M ARM, System Control Space). */
#if defined(TINYRNN_PLATFORM_BAREMETAL)

#include "tinyrnn_cortexm.h"
#include "tinyrnn_systick.h"
#include "../tinyrnn_port.h"

#include <stdint.h>

#define TINYRNN_DEMCR TINYRNN_REG(0xE000EDFCu)
#define TINYRNN_DEMCR_TRCENA (1u << 24)
#define TINYRNN_DWT_CTRL TINYRNN_REG(0xE0001000u)
#define TINYRNN_DWT_CYCCNT TINYRNN_REG(0xE0001004u)
#define TINYRNN_DWT_CYCCNTENA 1u

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
        tinyrnn_systick_enable();
    }
}

void tinyrnn_cortexm_counter_start(void)
{
    if (tinyrnn_counter_source == TINYRNN_COUNTER_DWT) {
        TINYRNN_DWT_CYCCNT = 0u;
        return;
    }
    tinyrnn_systick_restart(&tinyrnn_systick_wraps);
}

uint32_t tinyrnn_cortexm_counter_elapsed(void)
{
    switch (tinyrnn_counter_source) {
    case TINYRNN_COUNTER_DWT:
        return TINYRNN_DWT_CYCCNT;
    case TINYRNN_COUNTER_SYSTICK_CYCLES:
        return tinyrnn_systick_ticks(&tinyrnn_systick_wraps);
    default:
        return tinyrnn_cortexm_ticks_to_instructions(tinyrnn_systick_ticks(&tinyrnn_systick_wraps), tinyrnn_counter_hz);
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
    tinyrnn_stack_paint();
}

void tinyrnn_port_stack(uint32_t *used, uint32_t *reserved)
{
    tinyrnn_stack_high_mark(used, reserved);
}

/* The port layer's counter on the core's own timers. Weak: a chip port with another timer (the
 * nRF51's TIMER0) defines its own. */
__attribute__((weak)) void tinyrnn_port_counter_start(void)
{
    tinyrnn_cortexm_counter_start();
}

__attribute__((weak)) uint32_t tinyrnn_port_counter_elapsed(void)
{
    return tinyrnn_cortexm_counter_elapsed();
}

__attribute__((weak)) const char *tinyrnn_port_counter_unit(void)
{
    return tinyrnn_cortexm_counter_unit();
}

__attribute__((weak)) uint32_t tinyrnn_port_counter_resolution(void)
{
    return tinyrnn_cortexm_counter_resolution();
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
