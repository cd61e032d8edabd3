/* From raw sensor floats to a class with a model compiled by `tinyrnn compile`.
 *
 * Reads windows of TINYRNN_MODEL_STEPS x TINYRNN_MODEL_CHANNELS floats (time-major: all
 * channels of frame 0, then frame 1, ...; any white space between numbers) from stdin, in the
 * units the model was trained on, and prints one line per window: the class index and name.
 *
 * The generated header does the preprocessing the host pipeline does: with the training
 * data's mean/std (TINYRNN_MODEL_HAS_NORMALIZATION) tinyrnn_model_quantize_raw_input()
 * normalizes and quantizes; without them the input must already be normalized. Both round as
 * tinyrnn/core/quantization.py does, so the int8 window equals the host's bit for bit. */
#include <stdio.h>

#include "tinyrnn_model.h"

static int read_window(float *raw) {
  int i;
  for (i = 0; i < TINYRNN_MODEL_INPUT_SIZE; ++i) {
    if (scanf("%f", &raw[i]) != 1) {
      return 0;
    }
  }
  return 1;
}

int main(void) {
  static float raw[TINYRNN_MODEL_INPUT_SIZE];
  static int8_t input[TINYRNN_MODEL_INPUT_SIZE];
  int8_t scores[TINYRNN_MODEL_OUTPUT_SIZE];
  int k, best;

  if (tinyrnn_model_init() != 0) {
    return 1;
  }
  while (read_window(raw)) {
#if TINYRNN_MODEL_HAS_NORMALIZATION
    tinyrnn_model_quantize_raw_input(raw, input, TINYRNN_MODEL_STEPS);
#else
    tinyrnn_model_quantize_input(raw, input, TINYRNN_MODEL_STEPS);
#endif
    if (tinyrnn_model_invoke(input, scores) != 0) {
      return 1;
    }
    best = 0; /* the first of equal scores, like numpy's argmax */
    for (k = 1; k < TINYRNN_MODEL_OUTPUT_SIZE; ++k) {
      if (scores[k] > scores[best]) {
        best = k;
      }
    }
    printf("%d %s\n", best, tinyrnn_model_class_names[best]);
  }
  return 0;
}
