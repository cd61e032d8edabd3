/* tinyrnn int8 GRU layer (Keras semantics, reset_after true or false). See tinyrnn_gru.c for
 * the reference semantics and docs/int8-gru-rnn.md for the scheme. */
#ifndef TINYRNN_GRU_H
#define TINYRNN_GRU_H

#include <stdint.h>

#include "tinyrnn.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { TINYRNN_GRU_GATE_Z = 0, TINYRNN_GRU_GATE_R = 1, TINYRNN_GRU_GATE_H = 2 };

/* Weights are gate-major, gates z, r, h (Keras order): w_in[g][j][k], w_rec[g][j][k], so four
 * consecutive units of one gate are four consecutive rows for tinyrnn_dot4_s8. */
typedef struct {
  uint16_t input_size;
  uint16_t units;
  int32_t reset_after;     /* 1: Keras reset_after=True (default), 0: False */
  const int8_t *w_in;      /* [3][units][input_size] */
  const int8_t *w_rec;     /* [3][units][units] */
  const int32_t *b_in;     /* [3][units], input zero-point terms folded in */
  const int32_t *b_rec;    /* [3][units] recurrent biases (reset_after), or 0 */
  int32_t mult_in[3], shift_in[3];   /* W_in x  -> Q3.12 */
  int32_t mult_rec[3], shift_rec[3]; /* W_rec h8 -> Q3.12 */
  int32_t mult_h8, shift_h8;         /* int16 state (Q0.15) -> int8 hidden operand */
} tinyrnn_gru_t;

/* One time step. h16: int16 state [units] (Q0.15); h8: its int8 view [units], read by the
 * recurrent product and the next layer/head; scratch: `units` bytes (reset_after == 0 only,
 * may be 0 otherwise). */
void tinyrnn_gru_step(const tinyrnn_gru_t *layer, const int8_t *x, int16_t *h16, int8_t *h8,
                      int8_t *scratch);
void tinyrnn_gru_reset(const tinyrnn_gru_t *layer, int16_t *h16, int8_t *h8);

/* The int8-state GRU (quantizer state_bits=8): h8 [units] is the whole state; per unit
 * c8 = sat8(mbqm(c, mult_h8, shift_h8)), h8 = sat8(c8 + rshift15(z * (h8 - c8))).
 * scratch: `units` bytes (the new h8, as the products read the old one), 2 * `units` with
 * reset_after == 0 (rh8 first). */
void tinyrnn_gru_s8_step(const tinyrnn_gru_t *layer, const int8_t *x, int8_t *h8,
                         int8_t *scratch);
void tinyrnn_gru_s8_reset(const tinyrnn_gru_t *layer, int8_t *h8);

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_GRU_H */
