// TFLite Micro backend: implements the tinyrnn model interface with a MicroInterpreter over the
// model's C array. Compiled only in the real-board environments (TFLM comes from PlatformIO's
// registry there, library Chirale_TensorFlowLite); not built on the offline CI machine.
#if defined(TINYRNN_BACKEND_TFLM)

#include <Chirale_TensorFlowLite.h>

#include <string.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tinyrnn_model.h"

namespace {

// Ops of the int8 classifiers convert/ produces: the fused LSTM and its head, plus what the
// converter emits around them (reshape/slice of the last time step, (de)quantize at the edges).
constexpr int kTinyrnnOpCount = 9;

alignas(16) uint8_t tinyrnn_tflm_arena[TINYRNN_TFLM_ARENA_BYTES];
tflite::MicroMutableOpResolver<kTinyrnnOpCount> *tinyrnn_tflm_resolver = nullptr;
tflite::MicroInterpreter *tinyrnn_tflm_interpreter = nullptr;
// Placement storage: no heap on the device.
alignas(tflite::MicroMutableOpResolver<kTinyrnnOpCount>) uint8_t
    tinyrnn_tflm_resolver_buf[sizeof(tflite::MicroMutableOpResolver<kTinyrnnOpCount>)];
alignas(tflite::MicroInterpreter) uint8_t tinyrnn_tflm_interp_buf[sizeof(tflite::MicroInterpreter)];

}  // namespace

extern "C" int tinyrnn_model_init(void)
{
    const tflite::Model *model = tflite::GetModel(tinyrnn_model_tflite);
    if (model->version() != TFLITE_SCHEMA_VERSION) {
        return 1;
    }
    auto *resolver = new (tinyrnn_tflm_resolver_buf) tflite::MicroMutableOpResolver<kTinyrnnOpCount>();
    if (resolver->AddUnidirectionalSequenceLSTM() != kTfLiteOk ||
        resolver->AddFullyConnected() != kTfLiteOk || resolver->AddSoftmax() != kTfLiteOk ||
        resolver->AddStridedSlice() != kTfLiteOk || resolver->AddReshape() != kTfLiteOk ||
        resolver->AddQuantize() != kTfLiteOk || resolver->AddDequantize() != kTfLiteOk ||
        resolver->AddShape() != kTfLiteOk || resolver->AddPack() != kTfLiteOk) {
        return 2;
    }
    tinyrnn_tflm_resolver = resolver;
    tinyrnn_tflm_interpreter = new (tinyrnn_tflm_interp_buf)
        tflite::MicroInterpreter(model, *resolver, tinyrnn_tflm_arena, sizeof tinyrnn_tflm_arena);
    if (tinyrnn_tflm_interpreter->AllocateTensors() != kTfLiteOk) {
        return 3;  // arena too small: raise TINYRNN_TFLM_ARENA_BYTES
    }
    const TfLiteTensor *in = tinyrnn_tflm_interpreter->input(0);
    const TfLiteTensor *out = tinyrnn_tflm_interpreter->output(0);
    if (in->type != kTfLiteInt8 || out->type != kTfLiteInt8 ||
        in->bytes != TINYRNN_MODEL_INPUT_SIZE || out->bytes != TINYRNN_MODEL_OUTPUT_SIZE) {
        return 4;
    }
    return 0;
}

extern "C" void tinyrnn_model_reset(void)
{
    // The fused LSTM keeps h and c in variable tensors across Invoke(): clear them per window.
    if (tinyrnn_tflm_interpreter != nullptr) {
        tinyrnn_tflm_interpreter->Reset();
    }
}

extern "C" int tinyrnn_model_invoke(const int8_t *input, int8_t *output)
{
    if (tinyrnn_tflm_interpreter == nullptr) {
        return -1;
    }
    memcpy(tinyrnn_tflm_interpreter->input(0)->data.int8, input, TINYRNN_MODEL_INPUT_SIZE);
    if (tinyrnn_tflm_interpreter->Invoke() != kTfLiteOk) {
        return -2;
    }
    memcpy(output, tinyrnn_tflm_interpreter->output(0)->data.int8, TINYRNN_MODEL_OUTPUT_SIZE);
    return 0;
}

extern "C" int tinyrnn_model_step(const int8_t *frame, int8_t *output)
{
    (void)frame;
    (void)output;
    return -3;  // no streaming through the fused whole-window LSTM
}

#endif  // TINYRNN_BACKEND_TFLM
