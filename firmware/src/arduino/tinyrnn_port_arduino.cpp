// Porting layer for real boards through the Arduino core: Serial for the protocol, the core's
// own cycle counter for timing. Real-board environments only (not built on the CI machine).
#if defined(ARDUINO)

#include <Arduino.h>

#include "../tinyrnn_harness.h"
#include "../tinyrnn_port.h"

#if defined(ARDUINO_ARCH_ESP32)
#define TINYRNN_BOARD_NAME "esp32"
#define TINYRNN_CPU_NAME "xtensa-lx6"
static inline uint32_t tinyrnn_cycles(void) { return ESP.getCycleCount(); }  // CCOUNT
#elif defined(ARDUINO_ARCH_RP2040)
#define TINYRNN_BOARD_NAME "rp2040"
#define TINYRNN_CPU_NAME "cortex-m0plus"
// Cortex-M0+ has no DWT cycle counter; arduino-pico counts with SysTick at the core clock.
static inline uint32_t tinyrnn_cycles(void) { return rp2040.getCycleCount(); }
#else
// Cortex-M3/M4/M7/M33 (nRF52840, STM32F7): DWT CYCCNT.
#if defined(ARDUINO_ARCH_NRF52840) || defined(ARDUINO_ARCH_MBED)
#define TINYRNN_BOARD_NAME "nano33ble"
#define TINYRNN_CPU_NAME "cortex-m4f"
#else
#define TINYRNN_BOARD_NAME "stm32-nucleo"
#define TINYRNN_CPU_NAME "cortex-m7"
#endif
#define TINYRNN_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define TINYRNN_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define TINYRNN_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define TINYRNN_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)
#define TINYRNN_USE_DWT 1
static inline uint32_t tinyrnn_cycles(void) { return TINYRNN_DWT_CYCCNT; }
#endif

static uint32_t tinyrnn_counter_base;

extern "C" void tinyrnn_port_init(void)
{
    Serial.begin(115200);
    const uint32_t start = millis();
    while (!Serial && (millis() - start) < 3000u) {
        // USB CDC boards: wait briefly for the host to open the port so the banner is seen.
    }
#if defined(TINYRNN_USE_DWT)
    TINYRNN_DEMCR |= (1u << 24);  // TRCENA
    TINYRNN_DWT_LAR = 0xC5ACCE55u;  // Cortex-M7 locks the DWT until this key is written
    TINYRNN_DWT_CYCCNT = 0u;
    TINYRNN_DWT_CTRL |= 1u;
#endif
}

extern "C" void tinyrnn_port_putc(uint8_t c) { Serial.write(c); }

extern "C" int tinyrnn_port_getc(void) { return Serial.available() > 0 ? Serial.read() : -1; }

extern "C" void tinyrnn_port_counter_start(void) { tinyrnn_counter_base = tinyrnn_cycles(); }

extern "C" uint32_t tinyrnn_port_counter_elapsed(void) { return tinyrnn_cycles() - tinyrnn_counter_base; }

extern "C" const char *tinyrnn_port_counter_unit(void) { return "cycles"; }

extern "C" uint32_t tinyrnn_port_counter_resolution(void) { return 1u; }

extern "C" const char *tinyrnn_port_board(void) { return TINYRNN_BOARD_NAME; }

extern "C" const char *tinyrnn_port_cpu(void) { return TINYRNN_CPU_NAME; }

extern "C" void tinyrnn_port_stack(uint32_t *used, uint32_t *reserved)
{
    *used = 0u;  // the Arduino cores own the stack layout
    *reserved = 0u;
}

extern "C" void tinyrnn_port_exit(int code)
{
    (void)code;
    Serial.flush();
    for (;;) {
        delay(1000);
    }
}

void setup() { tinyrnn_harness_init(); }

void loop() { tinyrnn_harness_poll(); }

#endif  // ARDUINO
