/* Bare-metal entry for the QEMU boards and the real-chip ports (src/<chip>/); the Arduino boards
 * use setup()/loop() instead. */
#if defined(TINYRNN_PLATFORM_QEMU) || defined(TINYRNN_PLATFORM_BAREMETAL)

#include "../tinyrnn_harness.h"

#include "../tinyrnn_port.h"

/* Ports that cannot sleep keep polling. */
__attribute__((weak)) void tinyrnn_port_wait_input(void)
{
}

int main(void)
{
    tinyrnn_harness_init();
    for (;;) {
        tinyrnn_harness_poll();
        tinyrnn_port_wait_input();
    }
}

#endif
