/* Porting layer for the Nordic nRF51 series (nRF51822: Cortex-M0, 16 MHz), board BBC micro:bit v1.
 * Registers from the nRF51 Series Reference Manual v3.0 (CLOCK, GPIO, UART, TIMER chapters).
 * The same ELF runs on the board and in QEMU `-M microbit`.
 *
 * UART: the plain UART (the nRF51 has no UARTE), 115200 8N1, TXD P0.24 / RXD P0.25: the pins the
 *   micro:bit wires to its interface chip, which shows up on the host as a USB serial port.
 * Clock: the core and TIMER0 run from HFCLK (16 MHz). At reset HFCLK is the internal RC
 *   oscillator (+-5%); the micro:bit's 16 MHz crystal is started so the UART baud rate and the
 *   counter are crystal-accurate.
 * Counter: the nRF51's Cortex-M0 has neither DWT CYCCNT nor SysTick (Nordic left SysTick out), so
 *   TIMER0 runs as a 32-bit timer at 16 MHz = the core clock: on the board it counts core clock
 *   cycles ("cycles"). QEMU models TIMER0 against virtual time; under -icount shift=0 (1
 *   instruction = 1 ns) one tick is 62.5 instructions, so the count is ticks * 62.5 and the unit
 *   "instructions_emulated".
 * QEMU is recognised by its CLOCK peripheral, a stub that reads 1 at every address: XTALFREQ reads
 *   0xFF (16 MHz crystal) or 0x00 (32 MHz) on every real nRF51, never 1. */
#if defined(TINYRNN_PORT_NRF51)

#include "../cortexm/tinyrnn_cortexm.h"
#include "../tinyrnn_port.h"

#include <stdint.h>

#ifndef TINYRNN_BOARD_NAME
#error "tinyrnn_port_nrf51.c: the board JSON's build.extra_flags must define TINYRNN_BOARD_NAME"
#endif

#define TINYRNN_NRF_HFCLK_HZ 16000000u

#define TINYRNN_CLOCK 0x40000000u
#define TINYRNN_CLOCK_TASKS_HFCLKSTART TINYRNN_REG(TINYRNN_CLOCK + 0x000u)
#define TINYRNN_CLOCK_EVENTS_HFCLKSTARTED TINYRNN_REG(TINYRNN_CLOCK + 0x100u)
#define TINYRNN_CLOCK_XTALFREQ TINYRNN_REG(TINYRNN_CLOCK + 0x550u)

#define TINYRNN_GPIO 0x50000000u
#define TINYRNN_GPIO_OUTSET TINYRNN_REG(TINYRNN_GPIO + 0x508u)
#define TINYRNN_GPIO_DIRSET TINYRNN_REG(TINYRNN_GPIO + 0x518u)
#define TINYRNN_GPIO_PIN_CNF(n) TINYRNN_REG(TINYRNN_GPIO + 0x700u + 4u * (n))

#define TINYRNN_UART 0x40002000u
#define TINYRNN_UART_TASKS_STARTRX TINYRNN_REG(TINYRNN_UART + 0x000u)
#define TINYRNN_UART_TASKS_STARTTX TINYRNN_REG(TINYRNN_UART + 0x008u)
#define TINYRNN_UART_EVENTS_RXDRDY TINYRNN_REG(TINYRNN_UART + 0x108u)
#define TINYRNN_UART_EVENTS_TXDRDY TINYRNN_REG(TINYRNN_UART + 0x11Cu)
#define TINYRNN_UART_ENABLE TINYRNN_REG(TINYRNN_UART + 0x500u)
#define TINYRNN_UART_PSELTXD TINYRNN_REG(TINYRNN_UART + 0x50Cu)
#define TINYRNN_UART_PSELRXD TINYRNN_REG(TINYRNN_UART + 0x514u)
#define TINYRNN_UART_RXD TINYRNN_REG(TINYRNN_UART + 0x518u)
#define TINYRNN_UART_TXD TINYRNN_REG(TINYRNN_UART + 0x51Cu)
#define TINYRNN_UART_BAUDRATE TINYRNN_REG(TINYRNN_UART + 0x524u)
#define TINYRNN_UART_ENABLE_UART 4u
#define TINYRNN_UART_BAUD_115200 0x01D7E000u
#define TINYRNN_MICROBIT_TX_PIN 24u
#define TINYRNN_MICROBIT_RX_PIN 25u

#define TINYRNN_TIMER0 0x40008000u
#define TINYRNN_TIMER0_TASKS_START TINYRNN_REG(TINYRNN_TIMER0 + 0x000u)
#define TINYRNN_TIMER0_TASKS_STOP TINYRNN_REG(TINYRNN_TIMER0 + 0x004u)
#define TINYRNN_TIMER0_TASKS_CLEAR TINYRNN_REG(TINYRNN_TIMER0 + 0x00Cu)
#define TINYRNN_TIMER0_TASKS_CAPTURE0 TINYRNN_REG(TINYRNN_TIMER0 + 0x040u)
#define TINYRNN_TIMER0_MODE TINYRNN_REG(TINYRNN_TIMER0 + 0x504u)
#define TINYRNN_TIMER0_BITMODE TINYRNN_REG(TINYRNN_TIMER0 + 0x508u)
#define TINYRNN_TIMER0_PRESCALER TINYRNN_REG(TINYRNN_TIMER0 + 0x510u)
#define TINYRNN_TIMER0_CC0 TINYRNN_REG(TINYRNN_TIMER0 + 0x540u)
#define TINYRNN_TIMER_BITMODE_32 3u

/* Bounded wait for the crystal: its start-up is well under 1 ms; a missing crystal must not hang
 * the port (the RC oscillator then stays in use). */
#define TINYRNN_NRF_XTAL_WAIT 200000u

static int tinyrnn_nrf51_emulated;

static void tinyrnn_nrf51_clock_init(void)
{
    TINYRNN_CLOCK_EVENTS_HFCLKSTARTED = 0u;
    TINYRNN_CLOCK_TASKS_HFCLKSTART = 1u;
    for (uint32_t i = 0u; i < TINYRNN_NRF_XTAL_WAIT && TINYRNN_CLOCK_EVENTS_HFCLKSTARTED == 0u; ++i) {
    }
}

static void tinyrnn_nrf51_uart_init(void)
{
    TINYRNN_GPIO_OUTSET = 1u << TINYRNN_MICROBIT_TX_PIN; /* idle high before the UART owns it */
    TINYRNN_GPIO_DIRSET = 1u << TINYRNN_MICROBIT_TX_PIN;
    TINYRNN_GPIO_PIN_CNF(TINYRNN_MICROBIT_RX_PIN) = 0u; /* input, buffer connected, no pull */
    TINYRNN_UART_PSELTXD = TINYRNN_MICROBIT_TX_PIN;
    TINYRNN_UART_PSELRXD = TINYRNN_MICROBIT_RX_PIN;
    TINYRNN_UART_BAUDRATE = TINYRNN_UART_BAUD_115200;
    TINYRNN_UART_ENABLE = TINYRNN_UART_ENABLE_UART;
    TINYRNN_UART_EVENTS_RXDRDY = 0u;
    TINYRNN_UART_EVENTS_TXDRDY = 0u;
    TINYRNN_UART_TASKS_STARTTX = 1u;
    TINYRNN_UART_TASKS_STARTRX = 1u;
}

void tinyrnn_port_init(void)
{
    tinyrnn_cortexm_paint_stack();
    tinyrnn_nrf51_emulated = TINYRNN_CLOCK_XTALFREQ == 1u;
    tinyrnn_nrf51_clock_init();
    tinyrnn_nrf51_uart_init();
    TINYRNN_TIMER0_TASKS_STOP = 1u;
    TINYRNN_TIMER0_MODE = 0u; /* timer, not counter */
    TINYRNN_TIMER0_BITMODE = TINYRNN_TIMER_BITMODE_32;
    TINYRNN_TIMER0_PRESCALER = 0u; /* 16 MHz */
    TINYRNN_TIMER0_TASKS_CLEAR = 1u;
    TINYRNN_TIMER0_TASKS_START = 1u;
}

void tinyrnn_port_putc(uint8_t c)
{
    TINYRNN_UART_EVENTS_TXDRDY = 0u;
    TINYRNN_UART_TXD = c;
    while (TINYRNN_UART_EVENTS_TXDRDY == 0u) {
    }
}

int tinyrnn_port_getc(void)
{
    if (TINYRNN_UART_EVENTS_RXDRDY == 0u) {
        return -1;
    }
    /* Clear the event before reading RXD: reading it lets the next byte in and raises it again. */
    TINYRNN_UART_EVENTS_RXDRDY = 0u;
    return (int)(TINYRNN_UART_RXD & 0xFFu);
}

void tinyrnn_port_counter_start(void)
{
    TINYRNN_TIMER0_TASKS_CLEAR = 1u;
}

uint32_t tinyrnn_port_counter_elapsed(void)
{
    TINYRNN_TIMER0_TASKS_CAPTURE0 = 1u;
    const uint32_t ticks = TINYRNN_TIMER0_CC0;
    return tinyrnn_nrf51_emulated ? tinyrnn_cortexm_ticks_to_instructions(ticks, TINYRNN_NRF_HFCLK_HZ)
                                  : ticks;
}

const char *tinyrnn_port_counter_unit(void)
{
    return tinyrnn_nrf51_emulated ? "instructions_emulated" : "cycles";
}

uint32_t tinyrnn_port_counter_resolution(void)
{
    return tinyrnn_nrf51_emulated ? tinyrnn_cortexm_instructions_per_tick(TINYRNN_NRF_HFCLK_HZ) : 1u;
}

const char *tinyrnn_port_board(void)
{
    return TINYRNN_BOARD_NAME;
}

const char *tinyrnn_port_cpu(void)
{
    return "cortex-m0";
}

void tinyrnn_port_exit(int code)
{
    tinyrnn_cortexm_exit(tinyrnn_nrf51_emulated, code);
}

#endif /* TINYRNN_PORT_NRF51 */
