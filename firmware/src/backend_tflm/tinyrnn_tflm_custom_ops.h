// TFLite Micro registrations of the custom operators TINYRNN_GRU and TINYRNN_RNN
// (tinyrnn_tflm_custom_ops.cpp): the tinyrnn C kernels behind TFLM's op interface.
#ifndef TINYRNN_TFLM_CUSTOM_OPS_H
#define TINYRNN_TFLM_CUSTOM_OPS_H

#include "tensorflow/lite/micro/micro_common.h"

namespace tinyrnn {

TFLMRegistration *Register_TINYRNN_GRU();
TFLMRegistration *Register_TINYRNN_RNN();

}  // namespace tinyrnn

#endif  // TINYRNN_TFLM_CUSTOM_OPS_H
