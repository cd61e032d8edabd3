// TFLite Micro backend: the tinyrnn model interface (init/reset/invoke/step) on a MicroInterpreter
// over the model's C array, so the same harness and protocol run either backend.
//
// QEMU boards: TFLM is the cached archive deploy/tflm_lib.py builds from the tree TFLM_TREE names,
// and the op list and arena size come from tinyrnn_tflm_config.h, which deploy/tflm_firmware.py
// writes beside the model's C array (ops the model uses, arena = measured + margin).
// Real boards (Arduino): TFLM from PlatformIO's registry and the default op list below.
#if defined(TINYRNN_BACKEND_TFLM)

#if defined(ARDUINO)
#include <Chirale_TensorFlowLite.h>
#endif

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tinyrnn_model.h"
#include "tinyrnn_tflm_custom_ops.h"

#if defined(TINYRNN_PLATFORM_QEMU)
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#include "../tinyrnn_port.h"
#endif

#ifndef TINYRNN_TFLM_OP_COUNT
// Real boards without a generated config: the ops of the fused-LSTM classifiers convert/ writes.
#define TINYRNN_TFLM_OP_COUNT 9
#define TINYRNN_TFLM_REGISTER_OPS(r)                                                          \
  ((r).AddUnidirectionalSequenceLSTM() == kTfLiteOk && (r).AddFullyConnected() == kTfLiteOk && \
   (r).AddSoftmax() == kTfLiteOk && (r).AddStridedSlice() == kTfLiteOk &&                     \
   (r).AddReshape() == kTfLiteOk && (r).AddQuantize() == kTfLiteOk &&                         \
   (r).AddDequantize() == kTfLiteOk && (r).AddShape() == kTfLiteOk && (r).AddPack() == kTfLiteOk)
#endif

namespace {

using Resolver = tflite::MicroMutableOpResolver<TINYRNN_TFLM_OP_COUNT>;

tflite::MicroInterpreter *tinyrnn_tflm_interpreter = nullptr;
uint32_t tinyrnn_tflm_used = 0;
// Placement storage: no heap on the device.
alignas(Resolver) uint8_t tinyrnn_tflm_resolver_buf[sizeof(Resolver)];
alignas(tflite::MicroInterpreter) uint8_t tinyrnn_tflm_interp_buf[sizeof(tflite::MicroInterpreter)];

#if defined(TINYRNN_PLATFORM_QEMU)
// DebugLog -> UART as whole `log <text>` lines (PROTOCOL.md): TFLM hands over fragments (the
// message, then "\r\n"), and a reply line must never be split by one.
constexpr uint32_t kLogMax = 120;
char tinyrnn_tflm_log[kLogMax];
uint32_t tinyrnn_tflm_log_len = 0;

void tinyrnn_tflm_log_flush() {
  if (tinyrnn_tflm_log_len == 0) return;
  const char *prefix = "log ";
  while (*prefix != '\0') tinyrnn_port_putc(static_cast<uint8_t>(*prefix++));
  for (uint32_t i = 0; i < tinyrnn_tflm_log_len; ++i) {
    tinyrnn_port_putc(static_cast<uint8_t>(tinyrnn_tflm_log[i]));
  }
  tinyrnn_port_putc('\n');
  tinyrnn_tflm_log_len = 0;
}

void tinyrnn_tflm_debug_log(const char *s) {
  for (; *s != '\0'; ++s) {
    const char c = *s;
    if (c == '\n') {
      tinyrnn_tflm_log_flush();
    } else if (c != '\r' && tinyrnn_tflm_log_len < kLogMax) {
      tinyrnn_tflm_log[tinyrnn_tflm_log_len++] = (c >= ' ' && c < 0x7F) ? c : '?';
    }
  }
}
#endif

}  // namespace

#if defined(TINYRNN_PLATFORM_QEMU)
// newlib's malloc is linked (through its stdio) but TFLM allocates nothing outside its arena: no
// heap on these boards, so any allocation fails loudly instead of growing into the stack.
extern "C" void *_sbrk(ptrdiff_t increment)
{
  (void)increment;
  errno = ENOMEM;
  return reinterpret_cast<void *>(-1);
}
#endif

extern "C" uint32_t tinyrnn_tflm_arena_used(void) { return tinyrnn_tflm_used; }

extern "C" int tinyrnn_model_init(void)
{
#if defined(TINYRNN_PLATFORM_QEMU)
  RegisterDebugLogCallback(tinyrnn_tflm_debug_log);
#endif
  const tflite::Model *model = tflite::GetModel(tinyrnn_model_tflite);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    return 1;
  }
  auto *resolver = new (tinyrnn_tflm_resolver_buf) Resolver();
  if (!TINYRNN_TFLM_REGISTER_OPS(*resolver)) {
    return 2;
  }
#if defined(TINYRNN_TFLM_CUSTOM_TINYRNN)
  if (resolver->AddCustom("TINYRNN_GRU", tinyrnn::Register_TINYRNN_GRU()) != kTfLiteOk ||
      resolver->AddCustom("TINYRNN_RNN", tinyrnn::Register_TINYRNN_RNN()) != kTfLiteOk) {
    return 2;
  }
#endif
  tinyrnn_tflm_interpreter = new (tinyrnn_tflm_interp_buf)
      tflite::MicroInterpreter(model, *resolver, tinyrnn_tflm_arena, tinyrnn_tflm_arena_bytes());
  if (tinyrnn_tflm_interpreter->AllocateTensors() != kTfLiteOk) {
    // TFLM has logged the cause (a missing op, the bytes the arena lacks) before this.
    tinyrnn_tflm_interpreter = nullptr;
    return 3;
  }
  tinyrnn_tflm_used = static_cast<uint32_t>(tinyrnn_tflm_interpreter->arena_used_bytes());
  const TfLiteTensor *in = tinyrnn_tflm_interpreter->input(0);
  const TfLiteTensor *out = tinyrnn_tflm_interpreter->output(0);
  if (in->type != kTfLiteInt8 || out->type != kTfLiteInt8 ||
      in->bytes != TINYRNN_MODEL_INPUT_SIZE || out->bytes != TINYRNN_MODEL_OUTPUT_SIZE) {
    tinyrnn_tflm_interpreter = nullptr;
    return 4;
  }
  return 0;
}

extern "C" void tinyrnn_model_reset(void)
{
  // Recurrent state lives in variable tensors (fused LSTM) or kernel state cleared by the op's
  // reset hook (TINYRNN_GRU/RNN); Reset() clears both.
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
#if TINYRNN_MODEL_HAS_STEP
  // A one-step model (T = 1): each Invoke() continues from the state the last one left.
  return tinyrnn_model_invoke(frame, output);
#else
  (void)frame;
  (void)output;
  return -3;
#endif
}

#endif  // TINYRNN_BACKEND_TFLM
