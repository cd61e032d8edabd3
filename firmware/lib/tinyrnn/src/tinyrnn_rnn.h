/* tinyrnn int8 SimpleRNN layer (h = tanh(W x + U h + b)). See tinyrnn_rnn.c for the reference
 * semantics and docs/int8-gru-rnn.md for the scheme. */
#ifndef TINYRNN_RNN_H
#define TINYRNN_RNN_H

#include <stdint.h>

#include "tinyrnn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint16_t input_size;
  uint16_t units;
  const int8_t *w_in;   /* [units][input_size] */
  const int8_t *w_rec;  /* [units][units] */
  const int32_t *b_in;  /* [units], input zero-point terms folded in */
  int32_t mult_in, shift_in;   /* W_in x  -> Q3.12 */
  int32_t mult_rec, shift_rec; /* W_rec h -> Q3.12 */
  int32_t mult_h8, shift_h8;   /* tanh output (Q0.15) -> int8 hidden state */
} tinyrnn_rnn_t;

/* One time step; h: int8 state [units]; h_scratch: `units` bytes while it runs. */
void tinyrnn_rnn_step(const tinyrnn_rnn_t *layer, const int8_t *x, int8_t *h,
                      int8_t *h_scratch);
void tinyrnn_rnn_reset(const tinyrnn_rnn_t *layer, int8_t *h);

#ifdef __cplusplus
}
#endif

#endif /* TINYRNN_RNN_H */
