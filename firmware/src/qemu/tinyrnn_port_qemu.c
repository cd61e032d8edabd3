/* Porting layer for the tinyrnn-qemu boards.
 *
 * Counter: QEMU does not implement the DWT cycle counter (CYCCNT reads 0), so SysTick runs at the
 * board's system clock, extended to 32 bits by its wrap interrupt. The device link starts QEMU
 * with -icount shift=0: every guest instruction advances virtual time by exactly 1 ns, so one
 * SysTick tick is 1e9 / clock instructions and the count is deterministic over runs. It counts
 * instructions, not cycles (every instruction costs 1), hence the unit "instructions_emulated". */
#if defined(TINYRNN_PLATFORM_QEMU)

#include "../tinyrnn_port.h"

#include <stdint.h>

#if defined(TINYRNN_BOARD_MPS2_AN386)
#define TINYRNN_QEMU_BOARD "mps2-an386"
#define TINYRNN_QEMU_CPU "cortex-m4f"
#define TINYRNN_QEMU_UART_CMSDK 0x40004000u
#define TINYRNN_QEMU_SYSTICK_HZ 25000000u
#elif defined(TINYRNN_BOARD_MPS2_AN500)
#define TINYRNN_QEMU_BOARD "mps2-an500"
#define TINYRNN_QEMU_CPU "cortex-m7"
#define TINYRNN_QEMU_UART_CMSDK 0x40004000u
#define TINYRNN_QEMU_SYSTICK_HZ 25000000u
#elif defined(TINYRNN_BOARD_MPS2_AN505)
#define TINYRNN_QEMU_BOARD "mps2-an505"
#define TINYRNN_QEMU_CPU "cortex-m33"
#define TINYRNN_QEMU_UART_CMSDK 0x50200000u /* secure alias: the core boots secure */
#define TINYRNN_QEMU_SYSTICK_HZ 20000000u
#elif defined(TINYRNN_BOARD_LM3S6965EVB)
#define TINYRNN_QEMU_BOARD "lm3s6965evb"
#define TINYRNN_QEMU_CPU "cortex-m3"
#define TINYRNN_QEMU_UART_PL011 0x4000C000u
#define TINYRNN_QEMU_SYSTICK_HZ 12500000u /* measured: 80 instructions per tick under -icount shift=0 */
#else
#error "tinyrnn_port_qemu.c: no TINYRNN_BOARD_* defined (the board JSON's build.extra_flags sets it)"
#endif

#define TINYRNN_QEMU_INSNS_PER_TICK (1000000000u / TINYRNN_QEMU_SYSTICK_HZ)

#define TINYRNN_REG(addr) (*(volatile uint32_t *)(addr))

#define TINYRNN_SYST_CSR TINYRNN_REG(0xE000E010u)
#define TINYRNN_SYST_RVR TINYRNN_REG(0xE000E014u)
#define TINYRNN_SYST_CVR TINYRNN_REG(0xE000E018u)
#define TINYRNN_SCB_ICSR TINYRNN_REG(0xE000ED04u)
#define TINYRNN_ICSR_PENDSTSET (1u << 26)
#define TINYRNN_ICSR_PENDSTCLR (1u << 25)
#define TINYRNN_SYST_RELOAD 0x00FFFFFFu

extern uint32_t _sstack, _estack;

static volatile uint32_t tinyrnn_qemu_wraps;

#define TINYRNN_STACK_PAINT 0xA5A5A5A5u

void SysTick_Handler(void)
{
    tinyrnn_qemu_wraps++;
}

static void tinyrnn_qemu_paint_stack(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    /* Leave a margin below the live frame: this function's own locals sit there. */
    for (volatile uint32_t *p = &_sstack; (uint32_t)(uintptr_t)p < sp - 64u; ++p) {
        *p = TINYRNN_STACK_PAINT;
    }
}

void tinyrnn_port_init(void)
{
    tinyrnn_qemu_paint_stack();
#if defined(TINYRNN_QEMU_UART_CMSDK)
    TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x10u) = 16u; /* BAUDDIV: QEMU wants >= 16 */
    TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x08u) = 0x3u; /* CTRL: TX and RX enabled */
#else
    TINYRNN_REG(0x400FE104u) |= 1u;                      /* RCGC1: clock UART0 (real chip) */
    TINYRNN_REG(TINYRNN_QEMU_UART_PL011 + 0x30u) = 0x301u; /* UARTCR: UARTEN | TXE | RXE */
#endif
    TINYRNN_SYST_RVR = TINYRNN_SYST_RELOAD;
    TINYRNN_SYST_CVR = 0u;
    TINYRNN_SYST_CSR = 0x7u; /* processor clock, wrap interrupt, enabled */
}

void tinyrnn_port_putc(uint8_t c)
{
#if defined(TINYRNN_QEMU_UART_CMSDK)
    while (TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x04u) & 0x1u) { /* TX full */
    }
    TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x00u) = c;
#else
    while (TINYRNN_REG(TINYRNN_QEMU_UART_PL011 + 0x18u) & (1u << 5)) { /* TXFF */
    }
    TINYRNN_REG(TINYRNN_QEMU_UART_PL011 + 0x00u) = c;
#endif
}

int tinyrnn_port_getc(void)
{
#if defined(TINYRNN_QEMU_UART_CMSDK)
    if (TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x04u) & 0x2u) { /* RX full */
        return (int)(TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x00u) & 0xFFu);
    }
#else
    if ((TINYRNN_REG(TINYRNN_QEMU_UART_PL011 + 0x18u) & (1u << 4)) == 0u) { /* !RXFE */
        return (int)(TINYRNN_REG(TINYRNN_QEMU_UART_PL011 + 0x00u) & 0xFFu);
    }
#endif
    return -1;
}

void tinyrnn_port_counter_start(void)
{
    TINYRNN_SYST_CSR = 0u;
    tinyrnn_qemu_wraps = 0u;
    TINYRNN_SCB_ICSR = TINYRNN_ICSR_PENDSTCLR;
    TINYRNN_SYST_CVR = 0u;
    TINYRNN_SYST_CSR = 0x7u;
}

uint32_t tinyrnn_port_counter_elapsed(void)
{
    uint32_t wraps;
    uint32_t value;
    uint32_t pending;
    do {
        wraps = tinyrnn_qemu_wraps;
        value = TINYRNN_SYST_CVR;
        pending = TINYRNN_SCB_ICSR & TINYRNN_ICSR_PENDSTSET;
    } while (wraps != tinyrnn_qemu_wraps);
    /* Reloaded but the wrap interrupt has not run yet: count that wrap here. */
    if (pending != 0u && value > (TINYRNN_SYST_RELOAD / 2u)) {
        wraps++;
    }
    const uint32_t ticks = (wraps << 24) + (TINYRNN_SYST_RELOAD - value);
    return ticks * TINYRNN_QEMU_INSNS_PER_TICK;
}

const char *tinyrnn_port_counter_unit(void)
{
    return "instructions_emulated";
}

uint32_t tinyrnn_port_counter_resolution(void)
{
    return TINYRNN_QEMU_INSNS_PER_TICK;
}

const char *tinyrnn_port_board(void)
{
    return TINYRNN_QEMU_BOARD;
}

const char *tinyrnn_port_cpu(void)
{
    return TINYRNN_QEMU_CPU;
}

void tinyrnn_port_stack(uint32_t *used, uint32_t *reserved)
{
    const volatile uint32_t *p = &_sstack;
    while (p < &_estack && *p == TINYRNN_STACK_PAINT) {
        ++p;
    }
    *used = (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
    *reserved = (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

extern void tinyrnn_startup_exit(int code) __attribute__((noreturn));

void tinyrnn_port_exit(int code)
{
    tinyrnn_startup_exit(code);
}

#endif /* TINYRNN_PLATFORM_QEMU */
