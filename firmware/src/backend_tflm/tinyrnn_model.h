/* The tinyrnn model interface on top of a TFLite Micro C array (convert/carray.py's
 * model_data.h), so the same harness runs either backend. On the QEMU boards
 * tinyrnn_tflm_config.h (written by deploy/tflm_firmware.py next to the C array) sets the arena,
 * the op list and the model's figures; real boards use the defaults below. */
#ifndef TINYRNN_MODEL_H
#define TINYRNN_MODEL_H

#include <stdint.h>

#include "model_data.h"

#if defined(__has_include)
#if __has_include("tinyrnn_tflm_config.h")
#include "tinyrnn_tflm_config.h"
#endif
#endif

#if !defined(TINYRNN_TFLM_INPUT_TYPE_INT8) || !defined(TINYRNN_TFLM_OUTPUT_TYPE_INT8)
#error "backend_tflm: the harness feeds int8 windows; convert the int8 .tflite, not the float one"
#endif

#ifndef TINYRNN_TFLM_BACKEND_NAME
#define TINYRNN_TFLM_BACKEND_NAME "tflm"
#endif
#ifndef TINYRNN_TFLM_MACS
#define TINYRNN_TFLM_MACS 0 /* see the model card */
#endif
#ifndef TINYRNN_TFLM_WEIGHT_BYTES
#define TINYRNN_TFLM_WEIGHT_BYTES 0 /* see the model card */
#endif

#define TINYRNN_BACKEND_NAME TINYRNN_TFLM_BACKEND_NAME
/* Only a one-step model streams: its interpreter keeps the recurrent state between Invoke()s. */
#define TINYRNN_MODEL_HAS_STEP (TINYRNN_TFLM_STEPS == 1)
#define TINYRNN_MODEL_NAME TINYRNN_TFLM_MODEL_NAME
#define TINYRNN_MODEL_STEPS TINYRNN_TFLM_STEPS
#define TINYRNN_MODEL_CHANNELS TINYRNN_TFLM_CHANNELS
#define TINYRNN_MODEL_INPUT_SIZE (TINYRNN_TFLM_STEPS * TINYRNN_TFLM_CHANNELS)
#define TINYRNN_MODEL_OUTPUT_SIZE TINYRNN_TFLM_NUM_CLASSES
#define TINYRNN_MODEL_INPUT_SCALE TINYRNN_TFLM_INPUT_SCALE
#define TINYRNN_MODEL_INPUT_ZERO_POINT TINYRNN_TFLM_INPUT_ZERO_POINT
#define TINYRNN_MODEL_OUTPUT_SCALE TINYRNN_TFLM_OUTPUT_SCALE
#define TINYRNN_MODEL_OUTPUT_ZERO_POINT TINYRNN_TFLM_OUTPUT_ZERO_POINT
/* The arena is defined in tinyrnn_tflm_arena.cpp, sized by its own header. */
#define TINYRNN_MODEL_ARENA_BYTES tinyrnn_tflm_arena_bytes()
/* What AllocateTensors() took of the arena: `id` reports it as arena_used. */
#define TINYRNN_MODEL_ARENA_USED() tinyrnn_tflm_arena_used()
#define TINYRNN_MODEL_STATE_BYTES 0   /* inside the arena (variable tensors) */
#define TINYRNN_MODEL_WEIGHT_BYTES TINYRNN_TFLM_WEIGHT_BYTES
#define TINYRNN_MODEL_MACS TINYRNN_TFLM_MACS

#ifdef __cplusplus
extern "C" {
#endif

int tinyrnn_model_init(void);
void tinyrnn_model_reset(void);
int tinyrnn_model_invoke(const int8_t *input, int8_t *output);
int tinyrnn_model_step(const int8_t *frame, int8_t *output);
uint32_t tinyrnn_tflm_arena_used(void);
uint32_t tinyrnn_tflm_arena_bytes(void);
extern uint8_t tinyrnn_tflm_arena[];

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_MODEL_H */
