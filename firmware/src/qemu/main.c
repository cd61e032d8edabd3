/* Bare-metal entry for the QEMU boards and the real-chip ports (src/<chip>/); the Arduino boards
 * use setup()/loop() instead. */
#if defined(TINYRNN_PLATFORM_QEMU) || defined(TINYRNN_PLATFORM_BAREMETAL)

#include "../tinyrnn_harness.h"

int main(void)
{
    tinyrnn_harness_init();
    for (;;) {
        tinyrnn_harness_poll();
    }
}

#endif
