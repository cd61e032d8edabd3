/* PROTOCOL FIXTURE, NOT A MODEL: see tinyrnn_model.h for the function it computes. */
#include "tinyrnn_model.h"

#include <stddef.h>

const char *const tinyrnn_model_class_names[TINYRNN_MODEL_OUTPUT_SIZE] = {
    "fixture_0", "fixture_1", "fixture_2", "fixture_3", "fixture_4", "fixture_5", "fixture_6",
};
const float tinyrnn_model_norm_mean[TINYRNN_MODEL_CHANNELS] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
const float tinyrnn_model_norm_std[TINYRNN_MODEL_CHANNELS] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};

static int32_t tinyrnn_fixture_state[TINYRNN_MODEL_OUTPUT_SIZE];

/* floor(v / 16) for v in [-128, 127] without relying on implementation-defined >> of negatives. */
static int32_t tinyrnn_fixture_floor16(int8_t v)
{
    return ((int32_t)v + 128) / 16 - 8;
}

static int8_t tinyrnn_fixture_clamp(int32_t v)
{
    if (v > 127) {
        return 127;
    }
    if (v < -128) {
        return -128;
    }
    return (int8_t)v;
}

int tinyrnn_model_init(void)
{
    tinyrnn_model_reset();
    return 0;
}

void tinyrnn_model_reset(void)
{
    for (size_t k = 0; k < TINYRNN_MODEL_OUTPUT_SIZE; ++k) {
        tinyrnn_fixture_state[k] = 0;
    }
}

int tinyrnn_model_step(const int8_t *frame, int8_t *output)
{
    if (frame == NULL || output == NULL) {
        return -1;
    }
    for (size_t k = 0; k < TINYRNN_MODEL_OUTPUT_SIZE; ++k) {
        tinyrnn_fixture_state[k] += tinyrnn_fixture_floor16(frame[k % TINYRNN_MODEL_CHANNELS]);
        output[k] = tinyrnn_fixture_clamp(tinyrnn_fixture_state[k]);
    }
    return 0;
}

int tinyrnn_model_invoke(const int8_t *input, int8_t *output)
{
    if (input == NULL || output == NULL) {
        return -1;
    }
    for (size_t t = 0; t < TINYRNN_MODEL_STEPS; ++t) {
        (void)tinyrnn_model_step(input + t * TINYRNN_MODEL_CHANNELS, output);
    }
    return 0;
}
