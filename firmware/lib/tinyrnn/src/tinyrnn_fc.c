/* Fully connected int8 -> int8 (TFLM FULLY_CONNECTED, per-tensor or per-channel).
 *
 * Reference semantics, per output o:
 *   acc  = sum_i W[o][i] * (x[i] - input_zp) + bias[o]
 *   y[o] = clamp(mbqm(acc, mult[o], shift[o]) + out_zp, act_min, act_max)
 * The compiler folds -input_zp * sum_i W[o][i] into bias[o]; act_min/act_max carry the fused
 * activation (NONE, RELU, RELU6, RELU_N1_TO_1) as TFLM computes it.
 */
#include "tinyrnn.h"

void tinyrnn_fc(const tinyrnn_fc_t *op, const int8_t *x, int8_t *y) {
  uint16_t o;
  for (o = 0; o < op->out_size; ++o) {
    const int32_t acc =
        tinyrnn_dot_s8(op->weights + (uint32_t)o * op->in_size, x, op->in_size) + op->bias[o];
    int32_t v = tinyrnn_mbqm(acc, op->mult[o], op->shift[o]) + op->out_zp;
    v = v < op->act_min ? op->act_min : v;
    v = v > op->act_max ? op->act_max : v;
    y[o] = (int8_t)v;
  }
}
