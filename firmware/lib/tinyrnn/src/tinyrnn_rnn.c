/* One time step of the int8 SimpleRNN (docs/int8-gru-rnn.md, convert/rnn_reference.py).
 *
 * Reference semantics, per unit j (x int8 with its zero point folded into b_in, h int8
 * symmetric at the hidden scale):
 *   a    = sat16( sat16(mbqm(W_in[j] . x + b_in[j], mult_in, shift_in))
 *               + sat16(mbqm(W_rec[j] . h, mult_rec, shift_rec)) )          Q3.12
 *   h'   = sat8(mbqm(tanh16(a, -12), mult_h8, shift_h8))                    Q0.15 -> int8
 * Four units at a time share one pass over x and h (tinyrnn_dot4_s8, DSP path on Cortex-M).
 */
#include <string.h>

#include "tinyrnn_rnn.h"


void tinyrnn_rnn_step(const tinyrnn_rnn_t *layer, const int8_t *x, int8_t *h,
                      int8_t *h_scratch) {
  const uint16_t n_in = layer->input_size;
  const uint16_t n = layer->units;
  uint16_t j0;
  for (j0 = 0; j0 < n; j0 = (uint16_t)(j0 + 4u)) {
    const uint16_t nb = tinyrnn_block_rows(n, j0);
    int32_t ax[4] = {0, 0, 0, 0};
    int32_t ah[4] = {0, 0, 0, 0};
    uint16_t k;
    memcpy(ax, layer->b_in + j0, nb * sizeof(int32_t));
    tinyrnn_dot_rows_s8(layer->w_in + (uint32_t)j0 * n_in, x, n_in, nb, ax);
    tinyrnn_dot_rows_s8(layer->w_rec + (uint32_t)j0 * n, h, n, nb, ah);
    for (k = 0; k < nb; ++k) {
      const int16_t xa = tinyrnn_sat16(tinyrnn_mbqm(ax[k], layer->mult_in, layer->shift_in));
      const int16_t ha = tinyrnn_sat16(tinyrnn_mbqm(ah[k], layer->mult_rec, layer->shift_rec));
      const int16_t c = tinyrnn_tanh_s16(tinyrnn_sat16((int32_t)xa + (int32_t)ha), -12);
      const int32_t v = tinyrnn_mbqm((int32_t)c, layer->mult_h8, layer->shift_h8);
      h_scratch[j0 + k] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
    }
  }
  memcpy(h, h_scratch, n);
}

void tinyrnn_rnn_reset(const tinyrnn_rnn_t *layer, int8_t *h) {
  memset(h, 0, layer->units);
}
