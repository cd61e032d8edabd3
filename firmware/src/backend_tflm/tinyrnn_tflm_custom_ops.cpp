// TFLite Micro custom operators TINYRNN_GRU and TINYRNN_RNN: a thin wrapper over the tinyrnn C
// kernels (firmware/lib/tinyrnn/src/tinyrnn_gru.c, tinyrnn_rnn.c), so a board running TFLM
// executes the int8_custom.tflite written by convert/rnn_quant.py with exactly the integers of
// the ahead-of-time path (docs/int8-gru-rnn.md).
//
// tinyrnn_backend_tflm.cpp registers them next to the builtin head ops (FULLY_CONNECTED,
// SOFTMAX) when the model uses them. Built against the TFLM tree TFLM_TREE names on the QEMU
// boards (deploy/tflm_lib.py); TFLM API of 2024-2026 (TFLMRegistration, RegisterOp, MicroContext).
//
// Like convert/aot/rnn_plan.py, Prepare folds the input zero point into the biases and turns every
// scale into a (multiplier, shift) pair with tflite::QuantizeMultiplier, into persistent memory.
// The recurrent state is persistent too: Invoke runs the tensor's time steps from the state the
// previous Invoke left, and the interpreter's Reset() clears it through the op's reset hook --
// the same contract as TFLite's fused LSTM and its variable tensors. So a window model after
// Reset() computes reset + all steps, and a one-step model (T = 1) streams frame by frame.
// custom_options state_bits selects the GRU kernel: 16 (default) the int16 state,
// 8 the int8 state (tinyrnn_gru_s8_step); any other width is refused in Prepare.
#if defined(TINYRNN_BACKEND_TFLM)

#include <string.h>

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/kernels/internal/quantization_util.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/micro_context.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "flatbuffers/flexbuffers.h"
#include "tinyrnn_tflm_custom_ops.h"

extern "C" {
#include "tinyrnn_gru.h"
#include "tinyrnn_rnn.h"
}

namespace tinyrnn {
namespace {

constexpr int kX = 0, kWIn = 1, kWRec = 2, kBIn = 3, kBRec = 4;
constexpr double kGateScale = 1.0 / 4096.0;   // Q3.12 gate pre-activations
constexpr double kActScale = 1.0 / 32768.0;   // Q0.15 activations and GRU state

struct OpData {
  bool gru;
  bool state8;     // GRU with an int8 state (state_bits 8): h8 is the whole state
  int state_bits;  // as read from custom_options (0 when absent: the int16 default)
  bool return_sequences;
  int steps;
  tinyrnn_gru_t gru_layer;
  tinyrnn_rnn_t rnn_layer;
  uint8_t *state;  // persistent: int16 state (int16-state GRU) + int8 hidden + int8 step scratch
};

void Quantize(double real, int32_t *mult, int32_t *shift) {
  int s = 0;
  tflite::QuantizeMultiplier(real, mult, &s);
  *shift = s;
}

void *Init(TfLiteContext *context, const char *buffer, size_t length) {
  OpData *data = static_cast<OpData *>(context->AllocatePersistentBuffer(context, sizeof(OpData)));
  memset(data, 0, sizeof(OpData));
  const flexbuffers::Map m = flexbuffers::GetRoot(reinterpret_cast<const uint8_t *>(buffer), length).AsMap();
  data->gru = m["cell"].AsString().str() == "gru";
  data->return_sequences = m["return_sequences"].AsBool();
  data->gru_layer.reset_after = m["reset_after"].AsBool() ? 1 : 0;
  data->state_bits = m["state_bits"].AsInt32();
  data->state8 = data->gru && data->state_bits == 8;
  return data;
}

void Reset(TfLiteContext *context, void *buffer) {
  (void)context;
  OpData *data = static_cast<OpData *>(buffer);
  if (data->state == nullptr) return;
  if (data->state8) {
    tinyrnn_gru_s8_reset(&data->gru_layer, reinterpret_cast<int8_t *>(data->state));
  } else if (data->gru) {
    const int units = data->gru_layer.units;
    tinyrnn_gru_reset(&data->gru_layer, reinterpret_cast<int16_t *>(data->state),
                      reinterpret_cast<int8_t *>(data->state + 2 * units));
  } else {
    tinyrnn_rnn_reset(&data->rnn_layer, reinterpret_cast<int8_t *>(data->state));
  }
}

TfLiteStatus Prepare(TfLiteContext *context, TfLiteNode *node) {
  OpData *data = static_cast<OpData *>(node->user_data);
  tflite::MicroContext *mc = tflite::GetMicroContext(context);
  TfLiteTensor *x = mc->AllocateTempInputTensor(node, kX);
  TfLiteTensor *w_in = mc->AllocateTempInputTensor(node, kWIn);
  TfLiteTensor *w_rec = mc->AllocateTempInputTensor(node, kWRec);
  TfLiteTensor *b_in = mc->AllocateTempInputTensor(node, kBIn);
  TfLiteTensor *b_rec = mc->AllocateTempInputTensor(node, kBRec);  // null when absent
  TfLiteTensor *h = mc->AllocateTempOutputTensor(node, 0);
  TF_LITE_ENSURE(context, x && w_in && w_rec && b_in && h);
  if (data->gru && data->state_bits != 0 && data->state_bits != 8 && data->state_bits != 16) {
    MicroPrintf("TINYRNN_GRU: state_bits %d not supported (8 or 16)", data->state_bits);
    return kTfLiteError;
  }
  TF_LITE_ENSURE_TYPES_EQ(context, x->type, kTfLiteInt8);
  TF_LITE_ENSURE_TYPES_EQ(context, w_in->type, kTfLiteInt8);
  TF_LITE_ENSURE_TYPES_EQ(context, h->type, kTfLiteInt8);
  const int gates = data->gru ? 3 : 1;
  const int units = w_rec->dims->data[1];
  const int n_in = w_in->dims->data[2];
  data->steps = x->dims->data[1];
  const auto *xq = static_cast<const TfLiteAffineQuantization *>(x->quantization.params);
  const auto *hq = static_cast<const TfLiteAffineQuantization *>(h->quantization.params);
  const auto *wiq = static_cast<const TfLiteAffineQuantization *>(w_in->quantization.params);
  const auto *wrq = static_cast<const TfLiteAffineQuantization *>(w_rec->quantization.params);
  const double s_x = xq->scale->data[0], s_h = hq->scale->data[0];
  const int32_t zp_x = xq->zero_point->data[0];
  TF_LITE_ENSURE_EQ(context, hq->zero_point->data[0], 0);

  // Folded input biases: b_in - zp_x * row sums of w_in (what the AOT compiler bakes into C).
  int32_t *bias = static_cast<int32_t *>(
      context->AllocatePersistentBuffer(context, sizeof(int32_t) * gates * units));
  const int8_t *w = tflite::GetTensorData<int8_t>(w_in);
  const int32_t *b = tflite::GetTensorData<int32_t>(b_in);
  for (int r = 0; r < gates * units; ++r) {
    int32_t sum = 0;
    for (int k = 0; k < n_in; ++k) sum += w[r * n_in + k];
    bias[r] = b[r] - zp_x * sum;
  }
  int32_t mult_in[3], shift_in[3], mult_rec[3], shift_rec[3], mult_h8, shift_h8;
  for (int g = 0; g < gates; ++g) {
    const double si = wiq->scale->size == gates ? wiq->scale->data[g] : wiq->scale->data[0];
    const double sr = wrq->scale->size == gates ? wrq->scale->data[g] : wrq->scale->data[0];
    Quantize(s_x * si / kGateScale, &mult_in[g], &shift_in[g]);
    Quantize(s_h * sr / kGateScale, &mult_rec[g], &shift_rec[g]);
  }
  Quantize(kActScale / s_h, &mult_h8, &shift_h8);
  if (data->gru) {
    tinyrnn_gru_t *l = &data->gru_layer;
    l->input_size = static_cast<uint16_t>(n_in);
    l->units = static_cast<uint16_t>(units);
    l->w_in = w;
    l->w_rec = tflite::GetTensorData<int8_t>(w_rec);
    l->b_in = bias;
    l->b_rec = b_rec != nullptr ? tflite::GetTensorData<int32_t>(b_rec) : nullptr;
    memcpy(l->mult_in, mult_in, sizeof l->mult_in);
    memcpy(l->shift_in, shift_in, sizeof l->shift_in);
    memcpy(l->mult_rec, mult_rec, sizeof l->mult_rec);
    memcpy(l->shift_rec, shift_rec, sizeof l->shift_rec);
    l->mult_h8 = mult_h8;
    l->shift_h8 = shift_h8;
  } else {
    tinyrnn_rnn_t *l = &data->rnn_layer;
    l->input_size = static_cast<uint16_t>(n_in);
    l->units = static_cast<uint16_t>(units);
    l->w_in = w;
    l->w_rec = tflite::GetTensorData<int8_t>(w_rec);
    l->b_in = bias;
    l->mult_in = mult_in[0];
    l->shift_in = shift_in[0];
    l->mult_rec = mult_rec[0];
    l->shift_rec = shift_rec[0];
    l->mult_h8 = mult_h8;
    l->shift_h8 = shift_h8;
  }
  // Persistent, so the state outlives the Invoke (an arena scratch buffer would be reused).
  // int16-state GRU: h16, h8, scratch (rh8); int8-state GRU: h8, scratch (rh8, new h8);
  // SimpleRNN: h8, scratch (new h8).
  const size_t bytes = data->state8 ? 3u * units : (data->gru ? 2u * units : 0u) + 2u * units;
  data->state = static_cast<uint8_t *>(context->AllocatePersistentBuffer(context, bytes));
  TF_LITE_ENSURE(context, data->state != nullptr);
  Reset(context, data);  // persistent memory starts undefined
  mc->DeallocateTempTfLiteTensor(x);
  mc->DeallocateTempTfLiteTensor(w_in);
  mc->DeallocateTempTfLiteTensor(w_rec);
  mc->DeallocateTempTfLiteTensor(b_in);
  if (b_rec != nullptr) mc->DeallocateTempTfLiteTensor(b_rec);
  mc->DeallocateTempTfLiteTensor(h);
  return kTfLiteOk;
}

TfLiteStatus Eval(TfLiteContext *context, TfLiteNode *node) {
  const OpData *data = static_cast<const OpData *>(node->user_data);
  const TfLiteEvalTensor *x = tflite::micro::GetEvalInput(context, node, kX);
  TfLiteEvalTensor *h = tflite::micro::GetEvalOutput(context, node, 0);
  const int8_t *in = tflite::micro::GetTensorData<int8_t>(x);
  int8_t *out = tflite::micro::GetTensorData<int8_t>(h);
  const int n_in = x->dims->data[2];
  uint8_t *scratch = data->state;
  if (data->state8) {
    const int units = data->gru_layer.units;
    int8_t *h8 = reinterpret_cast<int8_t *>(scratch);
    int8_t *tmp = h8 + units;
    for (int t = 0; t < data->steps; ++t) {
      tinyrnn_gru_s8_step(&data->gru_layer, in + t * n_in, h8, tmp);
      if (data->return_sequences) memcpy(out + t * units, h8, units);
    }
    if (!data->return_sequences) memcpy(out, h8, units);
  } else if (data->gru) {
    const int units = data->gru_layer.units;
    int16_t *h16 = reinterpret_cast<int16_t *>(scratch);
    int8_t *h8 = reinterpret_cast<int8_t *>(scratch + 2 * units);
    int8_t *tmp = h8 + units;
    for (int t = 0; t < data->steps; ++t) {
      tinyrnn_gru_step(&data->gru_layer, in + t * n_in, h16, h8, tmp);
      if (data->return_sequences) memcpy(out + t * units, h8, units);
    }
    if (!data->return_sequences) memcpy(out, h8, units);
  } else {
    const int units = data->rnn_layer.units;
    int8_t *h8 = reinterpret_cast<int8_t *>(scratch);
    int8_t *tmp = h8 + units;
    for (int t = 0; t < data->steps; ++t) {
      tinyrnn_rnn_step(&data->rnn_layer, in + t * n_in, h8, tmp);
      if (data->return_sequences) memcpy(out + t * units, h8, units);
    }
    if (!data->return_sequences) memcpy(out, h8, units);
  }
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration *Register_TINYRNN_GRU() {
  static TFLMRegistration r = tflite::micro::RegisterOp(Init, Prepare, Eval, nullptr, Reset);
  return &r;
}

TFLMRegistration *Register_TINYRNN_RNN() {
  static TFLMRegistration r = tflite::micro::RegisterOp(Init, Prepare, Eval, nullptr, Reset);
  return &r;
}

}  // namespace tinyrnn

#endif  // TINYRNN_BACKEND_TFLM
