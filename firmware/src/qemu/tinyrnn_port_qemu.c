/* Porting layer for the tinyrnn-qemu boards.
 *
 * Counter: QEMU does not implement the DWT cycle counter (CYCCNT reads 0), so SysTick runs at the
 * board's system clock, extended to 32 bits by its wrap interrupt. The device link starts QEMU
 * with -icount shift=0: every guest instruction advances virtual time by exactly 1 ns, so one
 * SysTick tick is 1e9 / clock instructions and the count is deterministic over runs. It counts
 * instructions, not cycles (every instruction costs 1), hence the unit "instructions_emulated". */
#if defined(TINYRNN_PLATFORM_QEMU)

#include "../tinyrnn_port.h"
#include "../cortexm/tinyrnn_systick.h"

#include <stdint.h>

#if defined(TINYRNN_BOARD_MPS2_AN386)
#define TINYRNN_QEMU_BOARD "mps2-an386"
#define TINYRNN_QEMU_CPU "cortex-m4f"
#define TINYRNN_QEMU_UART_CMSDK 0x40004000u
#define TINYRNN_QEMU_UART_IRQ 0u /* UART0 RX (QEMU hw/arm/mps2.c; AN385 TRM) */
#define TINYRNN_QEMU_SYSTICK_HZ 25000000u
#elif defined(TINYRNN_BOARD_MPS2_AN500)
#define TINYRNN_QEMU_BOARD "mps2-an500"
#define TINYRNN_QEMU_CPU "cortex-m7"
#define TINYRNN_QEMU_UART_CMSDK 0x40004000u
#define TINYRNN_QEMU_UART_IRQ 0u /* UART0 RX */
#define TINYRNN_QEMU_SYSTICK_HZ 25000000u
#elif defined(TINYRNN_BOARD_MPS2_AN505)
#define TINYRNN_QEMU_BOARD "mps2-an505"
#define TINYRNN_QEMU_CPU "cortex-m33"
#define TINYRNN_QEMU_UART_CMSDK 0x50200000u /* secure alias: the core boots secure */
#define TINYRNN_QEMU_UART_IRQ 32u /* UART0 RX (AN505: IRQ 32 + n) */
#define TINYRNN_QEMU_SYSTICK_HZ 20000000u
#elif defined(TINYRNN_BOARD_LM3S6965EVB)
#define TINYRNN_QEMU_BOARD "lm3s6965evb"
#define TINYRNN_QEMU_CPU "cortex-m3"
#define TINYRNN_QEMU_UART_PL011 0x4000C000u
#define TINYRNN_QEMU_UART_IRQ 5u /* UART0 (LM3S6965 data sheet) */
#define TINYRNN_QEMU_SYSTICK_HZ 12500000u /* measured: 80 instructions per tick under -icount shift=0 */
#else
#error "tinyrnn_port_qemu.c: no TINYRNN_BOARD_* defined (the board JSON's build.extra_flags sets it)"
#endif

#define TINYRNN_QEMU_INSNS_PER_TICK (1000000000u / TINYRNN_QEMU_SYSTICK_HZ)

/* NVIC set-enable, clear-enable and clear-pending registers and the UART IRQ's bit in them. */
#define TINYRNN_NVIC_ISER (0xE000E100u + 4u * (TINYRNN_QEMU_UART_IRQ / 32u))
#define TINYRNN_NVIC_ICER (0xE000E180u + 4u * (TINYRNN_QEMU_UART_IRQ / 32u))
#define TINYRNN_NVIC_ICPR (0xE000E280u + 4u * (TINYRNN_QEMU_UART_IRQ / 32u))
#define TINYRNN_UART_IRQ_BIT (1u << (TINYRNN_QEMU_UART_IRQ % 32u))

static volatile uint32_t tinyrnn_qemu_wraps;

void SysTick_Handler(void)
{
    tinyrnn_qemu_wraps++;
}

void tinyrnn_port_init(void)
{
    tinyrnn_stack_paint();
#if defined(TINYRNN_QEMU_UART_CMSDK)
    TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x10u) = 16u; /* BAUDDIV: QEMU wants >= 16 */
    TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x08u) = 0xBu; /* CTRL: TX, RX, RX interrupt */
#else
    TINYRNN_REG(0x400FE104u) |= 1u;                      /* RCGC1: clock UART0 (real chip) */
    TINYRNN_REG(TINYRNN_QEMU_UART_PL011 + 0x38u) = 1u << 4; /* UARTIMSC: RX interrupt */
    TINYRNN_REG(TINYRNN_QEMU_UART_PL011 + 0x30u) = 0x301u; /* UARTCR: UARTEN | TXE | RXE */
#endif
    tinyrnn_systick_enable();
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

static int tinyrnn_qemu_rx_ready(void)
{
#if defined(TINYRNN_QEMU_UART_CMSDK)
    return (TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x04u) & 0x2u) != 0u;
#else
    return (TINYRNN_REG(TINYRNN_QEMU_UART_PL011 + 0x18u) & (1u << 4)) == 0u;
#endif
}

/* Sleep in WFI until the UART has a byte. The RX interrupt is enabled in the NVIC only while
 * PRIMASK masks it: a pending interrupt still ends WFI but is never taken (there is no handler),
 * and SysTick's wrap interrupt, pended meanwhile, runs at the final CPSIE. The second check
 * closes the gap between the caller's poll and WFI. */
void tinyrnn_port_wait_input(void)
{
    __asm__ volatile("cpsid i" ::: "memory");
#if defined(TINYRNN_QEMU_UART_CMSDK)
    TINYRNN_REG(TINYRNN_QEMU_UART_CMSDK + 0x0Cu) = 0x2u; /* INTCLEAR: RX (it latches) */
#endif
    TINYRNN_REG(TINYRNN_NVIC_ICPR) = TINYRNN_UART_IRQ_BIT;
    TINYRNN_REG(TINYRNN_NVIC_ISER) = TINYRNN_UART_IRQ_BIT;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    if (!tinyrnn_qemu_rx_ready()) {
        __asm__ volatile("wfi" ::: "memory");
    }
    TINYRNN_REG(TINYRNN_NVIC_ICER) = TINYRNN_UART_IRQ_BIT;
    TINYRNN_REG(TINYRNN_NVIC_ICPR) = TINYRNN_UART_IRQ_BIT;
    __asm__ volatile("dsb\n\tisb\n\tcpsie i" ::: "memory");
}

void tinyrnn_port_counter_start(void)
{
    tinyrnn_systick_restart(&tinyrnn_qemu_wraps);
}

uint32_t tinyrnn_port_counter_elapsed(void)
{
    return tinyrnn_systick_ticks(&tinyrnn_qemu_wraps) * TINYRNN_QEMU_INSNS_PER_TICK;
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
    tinyrnn_stack_high_mark(used, reserved);
}

extern void tinyrnn_startup_exit(int code) __attribute__((noreturn));

void tinyrnn_port_exit(int code)
{
    tinyrnn_startup_exit(code);
}

#endif /* TINYRNN_PLATFORM_QEMU */
