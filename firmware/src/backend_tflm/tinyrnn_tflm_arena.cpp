// The TFLM arena, alone in its file. Its size comes from tinyrnn_tflm_arena.h, which
// deploy/tflm_firmware.py writes beside the model's C array; a graph sized on the board (a probe
// build, then the final one in the same build folder) then recompiles only this file, not the
// glue that parses TFLM's headers (~5 s a file).
#if defined(TINYRNN_BACKEND_TFLM)

#include <stdint.h>

#include "tinyrnn_model.h" /* declares both symbols: a mismatch is a compile error here */

#if defined(__has_include)
#if __has_include("tinyrnn_tflm_arena.h")
#include "tinyrnn_tflm_arena.h"
#endif
#endif

#ifndef TINYRNN_TFLM_ARENA_BYTES
// Real boards without a generated header: set from the model card's measured arena plus margin
// (32-bit targets differ from the host).
#define TINYRNN_TFLM_ARENA_BYTES 16384
#endif

extern "C" {
alignas(16) uint8_t tinyrnn_tflm_arena[TINYRNN_TFLM_ARENA_BYTES];
uint32_t tinyrnn_tflm_arena_bytes(void) { return TINYRNN_TFLM_ARENA_BYTES; }
}

#endif
