/* The tinyrnn model interface on top of a TFLite Micro C array (convert/carray.py's
 * model_data.h), so the same harness runs either backend. Real-board environments only. */
#ifndef TINYRNN_MODEL_H
#define TINYRNN_MODEL_H

#include <stdint.h>

#include "model_data.h"

#if !defined(TINYRNN_TFLM_INPUT_TYPE_int8) || !defined(TINYRNN_TFLM_OUTPUT_TYPE_int8)
#error "backend_tflm: the harness feeds int8 windows; convert the int8 .tflite, not the float one"
#endif

#ifndef TINYRNN_TFLM_ARENA_BYTES
/* Set from the model card's measured arena plus margin (32-bit targets differ from the host). */
#define TINYRNN_TFLM_ARENA_BYTES 16384
#endif

#define TINYRNN_BACKEND_NAME "tflm"
#define TINYRNN_MODEL_HAS_STEP 0 /* the fused LSTM takes whole windows */
#define TINYRNN_MODEL_NAME TINYRNN_TFLM_MODEL_NAME
#define TINYRNN_MODEL_STEPS TINYRNN_TFLM_STEPS
#define TINYRNN_MODEL_CHANNELS TINYRNN_TFLM_CHANNELS
#define TINYRNN_MODEL_INPUT_SIZE (TINYRNN_TFLM_STEPS * TINYRNN_TFLM_CHANNELS)
#define TINYRNN_MODEL_OUTPUT_SIZE TINYRNN_TFLM_NUM_CLASSES
#define TINYRNN_MODEL_INPUT_SCALE TINYRNN_TFLM_INPUT_SCALE
#define TINYRNN_MODEL_INPUT_ZERO_POINT TINYRNN_TFLM_INPUT_ZERO_POINT
#define TINYRNN_MODEL_OUTPUT_SCALE TINYRNN_TFLM_OUTPUT_SCALE
#define TINYRNN_MODEL_OUTPUT_ZERO_POINT TINYRNN_TFLM_OUTPUT_ZERO_POINT
#define TINYRNN_MODEL_ARENA_BYTES TINYRNN_TFLM_ARENA_BYTES
#define TINYRNN_MODEL_STATE_BYTES 0   /* inside the arena (variable tensors) */
#define TINYRNN_MODEL_WEIGHT_BYTES 0  /* unknown without parsing: see the model card */
#define TINYRNN_MODEL_MACS 0          /* see the model card */

#ifdef __cplusplus
extern "C" {
#endif

int tinyrnn_model_init(void);
void tinyrnn_model_reset(void);
int tinyrnn_model_invoke(const int8_t *input, int8_t *output);
int tinyrnn_model_step(const int8_t *frame, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_MODEL_H */
