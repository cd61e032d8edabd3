/* PROTOCOL FIXTURE, NOT A MODEL.
 *
 * Implements the tinyrnn model interface (the one convert/aot generates) with a trivially
 * checkable function so the harness, protocol and device link can be built and tested before any
 * real model exists. host_tests mirror it in a few lines of Python.
 *
 *   state[k]  += floor(frame[k % C] / 16)      for every time step (step and invoke alike)
 *   output[k]  = clamp(state[k], -128, 127)
 *
 * invoke() runs all T steps from the current state (like a stateful TFLM LSTM), so the harness
 * must reset between windows; step() after T frames from reset equals invoke() from reset. */
#ifndef TINYRNN_MODEL_H
#define TINYRNN_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TINYRNN_MODEL_NAME "protocol-fixture"
#define TINYRNN_MODEL_STEPS 16
#define TINYRNN_MODEL_CHANNELS 6
#define TINYRNN_MODEL_INPUT_SIZE (TINYRNN_MODEL_STEPS * TINYRNN_MODEL_CHANNELS)
#define TINYRNN_MODEL_OUTPUT_SIZE 7
#define TINYRNN_MODEL_INPUT_SCALE 0.0625f
#define TINYRNN_MODEL_INPUT_ZERO_POINT -3
#define TINYRNN_MODEL_OUTPUT_SCALE 0.00390625f
#define TINYRNN_MODEL_OUTPUT_ZERO_POINT -128
#define TINYRNN_MODEL_ARENA_BYTES 0
#define TINYRNN_MODEL_STATE_BYTES (TINYRNN_MODEL_OUTPUT_SIZE * 4)
#define TINYRNN_MODEL_WEIGHT_BYTES 0
#define TINYRNN_MODEL_MACS (TINYRNN_MODEL_STEPS * TINYRNN_MODEL_OUTPUT_SIZE)

extern const char *const tinyrnn_model_class_names[TINYRNN_MODEL_OUTPUT_SIZE];
extern const float tinyrnn_model_norm_mean[TINYRNN_MODEL_CHANNELS];
extern const float tinyrnn_model_norm_std[TINYRNN_MODEL_CHANNELS];

int tinyrnn_model_init(void);
void tinyrnn_model_reset(void);
int tinyrnn_model_invoke(const int8_t *input, int8_t *output);
int tinyrnn_model_step(const int8_t *frame, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_MODEL_H */
