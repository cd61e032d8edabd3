/* Porting layer for the STMicroelectronics STM32F405/407 (Cortex-M4F, up to 168 MHz). Registers
 * from RM0090 (STM32F405/415/407/417 reference manual): RCC, PWR, FLASH, GPIO, USART chapters.
 * The same ELF runs on the board and in QEMU `-M netduinoplus2`.
 *
 * UART: USART1 on PA9 (TX) / PA10 (RX), alternate function 7, 115200 8N1. USART1 is what QEMU
 *   connects to its first -serial; on a board, wire a 3.3 V USB-serial adapter to PA9/PA10.
 * Clock: PLL to 168 MHz (AHB 168, APB1 42, APB2 84 MHz, 5 flash wait states) from the board's
 *   crystal (HSE, TINYRNN_STM32F4_HSE_HZ from the board JSON: whole MHz, 4..26). If the crystal
 *   does not start, from the 16 MHz internal oscillator (HSI) instead; if the PLL does not lock,
 *   the core stays on HSI. Every wait is bounded, so a board without a crystal and QEMU (whose
 *   RCC is an unimplemented stub that reads 0: nothing ever becomes ready) both end on a working
 *   clock.
 * Counter: DWT CYCCNT when it advances (a board: "cycles" at the core clock). QEMU does not model
 *   DWT (CYCCNT reads 0): SysTick at QEMU's fixed 168 MHz system clock under -icount shift=0,
 *   1e9 / 168e6 = 5.95 instructions per tick, unit "instructions_emulated". */
#if defined(TINYRNN_PORT_STM32F4)

#include "../cortexm/tinyrnn_cortexm.h"
#include "../tinyrnn_port.h"

#include <stdint.h>

#ifndef TINYRNN_BOARD_NAME
#error "tinyrnn_port_stm32f4.c: the board JSON's build.extra_flags must define TINYRNN_BOARD_NAME"
#endif
#ifndef TINYRNN_STM32F4_HSE_HZ
#error "tinyrnn_port_stm32f4.c: the board JSON's build.extra_flags must define TINYRNN_STM32F4_HSE_HZ (the board's crystal)"
#endif

#define TINYRNN_STM32F4_HSI_HZ 16000000u
#define TINYRNN_STM32F4_PLL_HZ 168000000u
#define TINYRNN_STM32F4_QEMU_SYSCLK_HZ 168000000u /* QEMU netduinoplus2's fixed system clock */
#define TINYRNN_STM32F4_BAUD 115200u
#define TINYRNN_STM32F4_WAIT 0x20000u /* bounded ready-flag polls: >> HSE start-up (2 ms) */

#define TINYRNN_RCC 0x40023800u
#define TINYRNN_RCC_CR TINYRNN_REG(TINYRNN_RCC + 0x00u)
#define TINYRNN_RCC_PLLCFGR TINYRNN_REG(TINYRNN_RCC + 0x04u)
#define TINYRNN_RCC_CFGR TINYRNN_REG(TINYRNN_RCC + 0x08u)
#define TINYRNN_RCC_AHB1ENR TINYRNN_REG(TINYRNN_RCC + 0x30u)
#define TINYRNN_RCC_APB1ENR TINYRNN_REG(TINYRNN_RCC + 0x40u)
#define TINYRNN_RCC_APB2ENR TINYRNN_REG(TINYRNN_RCC + 0x44u)
#define TINYRNN_RCC_CR_HSEON (1u << 16)
#define TINYRNN_RCC_CR_HSERDY (1u << 17)
#define TINYRNN_RCC_CR_PLLON (1u << 24)
#define TINYRNN_RCC_CR_PLLRDY (1u << 25)
#define TINYRNN_RCC_PLLCFGR_SRC_HSE (1u << 22)
#define TINYRNN_RCC_CFGR_SW_MASK 0x3u
#define TINYRNN_RCC_CFGR_SW_PLL 0x2u
#define TINYRNN_RCC_CFGR_SWS_MASK (0x3u << 2)
#define TINYRNN_RCC_CFGR_SWS_PLL (0x2u << 2)
#define TINYRNN_RCC_CFGR_PPRE1_DIV4 (0x5u << 10)
#define TINYRNN_RCC_CFGR_PPRE2_DIV2 (0x4u << 13)
#define TINYRNN_RCC_AHB1ENR_GPIOAEN (1u << 0)
#define TINYRNN_RCC_APB1ENR_PWREN (1u << 28)
#define TINYRNN_RCC_APB2ENR_USART1EN (1u << 4)

#define TINYRNN_PWR_CR TINYRNN_REG(0x40007000u)
#define TINYRNN_PWR_CR_VOS (1u << 14) /* regulator scale 1: needed above 144 MHz */

#define TINYRNN_FLASH_ACR TINYRNN_REG(0x40023C00u)
#define TINYRNN_FLASH_ACR_168MHZ (5u | (1u << 8) | (1u << 9) | (1u << 10)) /* 5 WS, prefetch, I/D cache */

#define TINYRNN_GPIOA 0x40020000u
#define TINYRNN_GPIOA_MODER TINYRNN_REG(TINYRNN_GPIOA + 0x00u)
#define TINYRNN_GPIOA_PUPDR TINYRNN_REG(TINYRNN_GPIOA + 0x0Cu)
#define TINYRNN_GPIOA_AFRH TINYRNN_REG(TINYRNN_GPIOA + 0x24u)

#define TINYRNN_USART1 0x40011000u
#define TINYRNN_USART_SR TINYRNN_REG(TINYRNN_USART1 + 0x00u)
#define TINYRNN_USART_DR TINYRNN_REG(TINYRNN_USART1 + 0x04u)
#define TINYRNN_USART_BRR TINYRNN_REG(TINYRNN_USART1 + 0x08u)
#define TINYRNN_USART_CR1 TINYRNN_REG(TINYRNN_USART1 + 0x0Cu)
#define TINYRNN_USART_SR_RXNE (1u << 5)
#define TINYRNN_USART_SR_TXE (1u << 7)
#define TINYRNN_USART_CR1_ON ((1u << 13) | (1u << 3) | (1u << 2)) /* UE, TE, RE */

static int tinyrnn_stm32f4_emulated;

static int tinyrnn_stm32f4_wait(uint32_t mask, volatile uint32_t *reg, uint32_t want)
{
    for (uint32_t i = 0u; i < TINYRNN_STM32F4_WAIT; ++i) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

/* Returns the APB2 (USART1) clock it ended with. */
static uint32_t tinyrnn_stm32f4_clock_init(void)
{
    TINYRNN_RCC_APB1ENR |= TINYRNN_RCC_APB1ENR_PWREN;
    TINYRNN_PWR_CR |= TINYRNN_PWR_CR_VOS;

    uint32_t source_hz = TINYRNN_STM32F4_HSE_HZ;
    uint32_t source = TINYRNN_RCC_PLLCFGR_SRC_HSE;
    TINYRNN_RCC_CR |= TINYRNN_RCC_CR_HSEON;
    if (!tinyrnn_stm32f4_wait(TINYRNN_RCC_CR_HSERDY, &TINYRNN_RCC_CR, TINYRNN_RCC_CR_HSERDY)) {
        TINYRNN_RCC_CR &= ~TINYRNN_RCC_CR_HSEON;
        source_hz = TINYRNN_STM32F4_HSI_HZ;
        source = 0u;
    }
    /* VCO input 1 MHz (M = source in MHz), VCO 336 MHz (N = 336), core 168 MHz (P = 2), 48 MHz
     * for USB (Q = 7). */
    const uint32_t pllm = source_hz / 1000000u;
    TINYRNN_RCC_PLLCFGR = pllm | (336u << 6) | (0u << 16) | source | (7u << 24);
    /* Wait states and bus dividers before the switch, so neither flash nor APB1 (max 42 MHz)
     * ever runs too fast. */
    TINYRNN_FLASH_ACR = TINYRNN_FLASH_ACR_168MHZ;
    TINYRNN_RCC_CFGR = (TINYRNN_RCC_CFGR & ~0xFCF0u) | TINYRNN_RCC_CFGR_PPRE1_DIV4 |
                       TINYRNN_RCC_CFGR_PPRE2_DIV2;
    TINYRNN_RCC_CR |= TINYRNN_RCC_CR_PLLON;
    if (tinyrnn_stm32f4_wait(TINYRNN_RCC_CR_PLLRDY, &TINYRNN_RCC_CR, TINYRNN_RCC_CR_PLLRDY)) {
        TINYRNN_RCC_CFGR = (TINYRNN_RCC_CFGR & ~TINYRNN_RCC_CFGR_SW_MASK) | TINYRNN_RCC_CFGR_SW_PLL;
        if (tinyrnn_stm32f4_wait(TINYRNN_RCC_CFGR_SWS_MASK, &TINYRNN_RCC_CFGR,
                                 TINYRNN_RCC_CFGR_SWS_PLL)) {
            return TINYRNN_STM32F4_PLL_HZ / 2u;
        }
    }
    return TINYRNN_STM32F4_HSI_HZ / 2u; /* still on HSI, with the APB2 divider already at 2 */
}

static void tinyrnn_stm32f4_uart_init(uint32_t pclk2_hz)
{
    TINYRNN_RCC_AHB1ENR |= TINYRNN_RCC_AHB1ENR_GPIOAEN;
    TINYRNN_RCC_APB2ENR |= TINYRNN_RCC_APB2ENR_USART1EN;
    /* PA9, PA10: alternate function mode (0b10), AF7 = USART1; pull-up on RX so an unconnected
     * line reads idle instead of noise. */
    TINYRNN_GPIOA_MODER = (TINYRNN_GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);
    TINYRNN_GPIOA_PUPDR = (TINYRNN_GPIOA_PUPDR & ~(0x3u << 20)) | (0x1u << 20);
    TINYRNN_GPIOA_AFRH = (TINYRNN_GPIOA_AFRH & ~0xFF0u) | (0x77u << 4);
    /* Oversampling by 16: BRR = fPCLK / baud, rounded (mantissa and 4-bit fraction together). */
    TINYRNN_USART_BRR = (pclk2_hz + TINYRNN_STM32F4_BAUD / 2u) / TINYRNN_STM32F4_BAUD;
    TINYRNN_USART_CR1 = TINYRNN_USART_CR1_ON;
}

void tinyrnn_port_init(void)
{
    tinyrnn_cortexm_paint_stack();
    const uint32_t pclk2_hz = tinyrnn_stm32f4_clock_init();
    tinyrnn_stm32f4_uart_init(pclk2_hz);
    const int dwt = tinyrnn_cortexm_dwt_probe();
    tinyrnn_stm32f4_emulated = !dwt;
    tinyrnn_cortexm_counter_init(dwt ? TINYRNN_COUNTER_DWT : TINYRNN_COUNTER_SYSTICK_EMULATED,
                                 TINYRNN_STM32F4_QEMU_SYSCLK_HZ);
}

void tinyrnn_port_putc(uint8_t c)
{
    while ((TINYRNN_USART_SR & TINYRNN_USART_SR_TXE) == 0u) {
    }
    TINYRNN_USART_DR = c;
}

int tinyrnn_port_getc(void)
{
    /* Reading SR then DR also clears an overrun flag. */
    if (TINYRNN_USART_SR & TINYRNN_USART_SR_RXNE) {
        return (int)(TINYRNN_USART_DR & 0xFFu);
    }
    return -1;
}

const char *tinyrnn_port_board(void)
{
    return TINYRNN_BOARD_NAME;
}

const char *tinyrnn_port_cpu(void)
{
    return "cortex-m4f";
}

void tinyrnn_port_exit(int code)
{
    tinyrnn_cortexm_exit(tinyrnn_stm32f4_emulated, code);
}

#endif /* TINYRNN_PORT_STM32F4 */
