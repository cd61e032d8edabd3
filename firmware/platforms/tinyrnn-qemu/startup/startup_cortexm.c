/* Reset and exception vectors for the tinyrnn-qemu boards (Armv7-M and Armv8-M Mainline).
 *
 * Under QEMU a fault must end the emulator with a recognisable exit code (100 + exception number)
 * instead of spinning forever, so the host sees "firmware crashed" rather than a timeout. That
 * uses semihosting, which QEMU provides with -semihosting; this platform is emulation only. */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);

void Reset_Handler(void);
void tinyrnn_startup_exit(int code) __attribute__((noreturn));
void tinyrnn_startup_default_handler(void);

/* Weak so the harness's porting layer can claim SysTick (or any other vector). */
void NMI_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void HardFault_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void MemManage_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void BusFault_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void SecureFault_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void SVC_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void PendSV_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));
void SysTick_Handler(void) __attribute__((weak, alias("tinyrnn_startup_default_handler")));

typedef void (*tinyrnn_vector_t)(void);

__attribute__((section(".isr_vector"), used))
const tinyrnn_vector_t tinyrnn_vector_table[16] = {
    (tinyrnn_vector_t)(uintptr_t)&_estack,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

#define TINYRNN_SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    const uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; ++dst) {
        *dst = 0u;
    }
#if defined(__ARM_FP)
    /* The compiler may emit FPU instructions anywhere once -mfloat-abi=hard; grant CP10/CP11
     * before the first C function that could use them. */
    TINYRNN_SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    tinyrnn_startup_exit(main());
}

/* Semihosting SYS_EXIT_EXTENDED (0x20) passes the code through to QEMU's exit status. */
void tinyrnn_startup_exit(int code)
{
    static uint32_t block[2];
    block[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)code;
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    for (;;) {
    }
}

void tinyrnn_startup_default_handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    tinyrnn_startup_exit(100 + (int)(ipsr & 0x1FFu));
}
