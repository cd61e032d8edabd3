/* Porting layer for Arm Corstone-300 (SSE-300 subsystem, Cortex-M55 with Helium) as built into the
 * MPS3 FPGA image AN547; the same ELF runs in QEMU `-M mps3-an547`. Addresses from Arm Application
 * Note AN547 (memory map) and the Cortex-M System Design Kit TRM (CMSDK APB UART).
 *
 * The core boots in Secure state, so code, data and the UART are used through their Secure
 * aliases (address bit 28 set): ITCM 0x10000000, DTCM 0x30000000, UART0 0x59303000.
 * UART: CMSDK APB UART0, 115200 8N1 from the 25 MHz peripheral clock (BAUDDIV = 25e6 / 115200);
 *   on the MPS3 board it is one of the four ports of the board's USB serial bridge.
 * Clock: fixed by the FPGA image (32 MHz core clock in QEMU; the MPS3 board configures it); the
 *   port sets nothing.
 * Counter: DWT CYCCNT when it advances (real hardware: "cycles"). QEMU does not model DWT (CYCCNT
 *   reads 0): SysTick at the 32 MHz processor clock under -icount shift=0, 31.25 instructions per
 *   tick, unit "instructions_emulated". */
#if defined(TINYRNN_PORT_CORSTONE300)

#include "../cortexm/tinyrnn_cortexm.h"
#include "../tinyrnn_port.h"

#include <stdint.h>

#ifndef TINYRNN_BOARD_NAME
#error "tinyrnn_port_corstone300.c: the board JSON's build.extra_flags must define TINYRNN_BOARD_NAME"
#endif

#define TINYRNN_SSE300_CORE_HZ 32000000u
#define TINYRNN_SSE300_PCLK_HZ 25000000u

#define TINYRNN_UART0 0x59303000u
#define TINYRNN_UART_DATA TINYRNN_REG(TINYRNN_UART0 + 0x00u)
#define TINYRNN_UART_STATE TINYRNN_REG(TINYRNN_UART0 + 0x04u)
#define TINYRNN_UART_CTRL TINYRNN_REG(TINYRNN_UART0 + 0x08u)
#define TINYRNN_UART_BAUDDIV TINYRNN_REG(TINYRNN_UART0 + 0x10u)
#define TINYRNN_UART_STATE_TX_FULL 0x1u
#define TINYRNN_UART_STATE_RX_FULL 0x2u
#define TINYRNN_UART_CTRL_TX_RX 0x3u

static int tinyrnn_sse300_emulated;

void tinyrnn_port_init(void)
{
    tinyrnn_cortexm_paint_stack();
    TINYRNN_UART_BAUDDIV = TINYRNN_SSE300_PCLK_HZ / 115200u; /* 217; the CMSDK UART needs >= 16 */
    TINYRNN_UART_CTRL = TINYRNN_UART_CTRL_TX_RX;
    const int dwt = tinyrnn_cortexm_dwt_probe();
    tinyrnn_sse300_emulated = !dwt;
    tinyrnn_cortexm_counter_init(dwt ? TINYRNN_COUNTER_DWT : TINYRNN_COUNTER_SYSTICK_EMULATED,
                                 TINYRNN_SSE300_CORE_HZ);
}

void tinyrnn_port_putc(uint8_t c)
{
    while (TINYRNN_UART_STATE & TINYRNN_UART_STATE_TX_FULL) {
    }
    TINYRNN_UART_DATA = c;
}

int tinyrnn_port_getc(void)
{
    if (TINYRNN_UART_STATE & TINYRNN_UART_STATE_RX_FULL) {
        return (int)(TINYRNN_UART_DATA & 0xFFu);
    }
    return -1;
}

const char *tinyrnn_port_board(void)
{
    return TINYRNN_BOARD_NAME;
}

const char *tinyrnn_port_cpu(void)
{
    return "cortex-m55";
}

void tinyrnn_port_exit(int code)
{
    tinyrnn_cortexm_exit(tinyrnn_sse300_emulated, code);
}

#endif /* TINYRNN_PORT_CORSTONE300 */
