/* tinyrnn runtime: int8 LSTM classifiers compiled ahead of time from TFLite models.
 *
 * Every kernel reproduces the integer arithmetic of TensorFlow Lite Micro's reference kernels
 * bit for bit (the 8x8->16 UNIDIRECTIONAL_SEQUENCE_LSTM, FULLY_CONNECTED and int8 SOFTMAX), so
 * a compiled model's outputs equal the TFLM interpreter's on every byte. No allocation, no libc
 * beyond <stdint.h>/<string.h>; all buffers are owned by the generated model file.
 *
 * Build options:
 *   TINYRNN_NO_DSP       force the portable reference path on cores with the DSP extension.
 *   Cortex-M4/M7/M33 with __ARM_FEATURE_DSP use SMLAD/SXTB16 in the dot product (bit-exact).
 *   TINYRNN_PACKED_SCALAR  use the packed LSTM's scalar loop (as on Cortex-M0/M3) on a host.
 *
 * LSTM layers whose ranges allow it are compiled for tinyrnn_lstm_packed.h (gate-pair packed
 * weights, table activations); GRU (either reset_after) and SimpleRNN layers of any number of
 * units for tinyrnn_{gru,gru_ra0,rnn}_packed.h (rows padded to blocks of 4); the others use the
 * generic reference kernels (tinyrnn_lstm_step() etc.). The packed dot product per core:
 * SMLAD inline asm (DSP: Cortex-M4/M7/M33), Helium VMLADAVA (Cortex-M55, TINYRNN_NO_MVE turns
 * it off), LDRSH/MLA inline asm (Thumb-2 without DSP: Cortex-M3), tinyrnn_dot_pairs_t1.S
 * (Thumb-1: Cortex-M0/M0+), portable C elsewhere.
 *
 * Right shifts of negative values are arithmetic on every compiler this targets (GCC, Clang,
 * armcc); C99 leaves that implementation-defined, and TFLM relies on it in the same places.
 */
#ifndef TINYRNN_H
#define TINYRNN_H

#include <stdint.h>

#include "tinyrnn_activation.h"
#include "tinyrnn_requant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shape limits the compiler checks before emitting a model: with int8 operands they keep every
 * int32 accumulation below 2^31 (128*128*MAX_FEATURES + bias < 2^29). */
#define TINYRNN_MAX_UNITS 1024
#define TINYRNN_MAX_FEATURES 1024

enum { TINYRNN_GATE_INPUT = 0, TINYRNN_GATE_FORGET = 1, TINYRNN_GATE_CELL = 2,
       TINYRNN_GATE_OUTPUT = 3 };

/* One LSTM layer. Weights are unit-major: for unit j the four gate rows (input, forget, cell,
 * output) are adjacent, w_in[j][g][k] and w_rec[j][g][k], so one pass over the input serves all
 * four gates. Biases b_in[j][g] / b_rec[j][g] already include the zero-point terms
 * (-zp * row sums), so the dot products run on the raw int8 values. */
typedef struct {
  uint16_t input_size;
  uint16_t units;
  const int8_t *w_in;      /* [units][4][input_size] */
  const int8_t *w_rec;     /* [units][4][units] */
  const int32_t *b_in;     /* [units][4] */
  const int32_t *b_rec;    /* [units][4] */
  int32_t mult_in[4], shift_in[4];   /* per gate, FC(input) -> Q3.12 */
  int32_t mult_rec[4], shift_rec[4]; /* per gate, FC(hidden) -> Q3.12 */
  int32_t cell_gate_tanh;  /* 1: tanh cell activation (Keras default), 0: sigmoid */
  int32_t cell_scale_power; /* cell state scale = 2^cell_scale_power */
  int32_t cell_clip;       /* quantized |c| bound, 0 = no clipping */
  int32_t mult_fc, shift_fc; /* forget * cell   -> cell   */
  int32_t mult_ig, shift_ig; /* input * cell gate -> cell */
  int32_t mult_h, shift_h;   /* tanh(cell) * output -> hidden */
  int32_t hidden_zp;
} tinyrnn_lstm_t;

typedef struct {
  uint16_t in_size;
  uint16_t out_size;
  const int8_t *weights;  /* [out_size][in_size] */
  const int32_t *bias;    /* [out_size], zero-point terms folded in */
  const int32_t *mult;    /* [out_size] (per-channel; repeated when per-tensor) */
  const int32_t *shift;   /* [out_size] */
  int32_t out_zp;
  int32_t act_min;
  int32_t act_max;
} tinyrnn_fc_t;

typedef struct {
  uint16_t size;
  int32_t mult;
  int32_t left_shift;
  int32_t diff_min;
} tinyrnn_softmax_t;

/* tinyrnn_requant.h: tinyrnn_srdhm, tinyrnn_rdbypot, tinyrnn_mbqm, tinyrnn_sat16 (inline) */

/* tinyrnn_dot.c */
int32_t tinyrnn_dot_s8(const int8_t *a, const int8_t *b, uint16_t n);
/* acc[r] += w[r*n .. r*n+n) . x for r = 0..3 */
void tinyrnn_dot4_s8(const int8_t *w, const int8_t *x, uint16_t n, int32_t acc[4]);
/* acc[r] += w[r*n .. r*n+n) . x for r = 0..nb-1 (nb = 1..4): a block of up to four rows,
 * the last block of a layer whose units are not a multiple of four being short. */
void tinyrnn_dot_rows_s8(const int8_t *w, const int8_t *x, uint16_t n, uint16_t nb,
                         int32_t acc[4]);
/* Rows in the block of (up to) four units of n that starts at j0. */
static inline uint16_t tinyrnn_block_rows(uint16_t n, uint16_t j0) {
  const uint16_t left = (uint16_t)(n - j0);
  return left < 4u ? left : 4u;
}

/* tinyrnn_activation.h: tinyrnn_sigmoid_s16(x), tinyrnn_tanh_s16(x, scale_power) (inline) */

/* tinyrnn_lstm.c: one time step; h_scratch holds `units` bytes while it runs. */
void tinyrnn_lstm_step(const tinyrnn_lstm_t *layer, const int8_t *x, int8_t *h, int16_t *c,
                       int8_t *h_scratch);
void tinyrnn_lstm_reset(const tinyrnn_lstm_t *layer, int8_t *h, int16_t *c);

/* tinyrnn_fc.c */
void tinyrnn_fc(const tinyrnn_fc_t *op, const int8_t *x, int8_t *y);

/* tinyrnn_softmax.c */
void tinyrnn_softmax(const tinyrnn_softmax_t *op, const int8_t *x, int8_t *y);

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_H */
