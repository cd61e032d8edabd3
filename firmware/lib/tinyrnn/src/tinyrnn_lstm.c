/* One time step of TFLM's 8x8->16 integer LSTM (lstm_eval.h LstmStep), fused per unit.
 *
 * Reference semantics, per unit j, with every gate g in {i, f, c, o} reading h(t-1):
 *   pre_g   = sat16( sat16(rq_in_g(W_in_g[j] . x + b_in_g[j]))
 *                  + sat16(rq_rec_g(W_rec_g[j] . h + b_rec_g[j])) )     FC outputs at 2^-12
 *   g       = sigmoid16(pre_g) for i, f, o; tanh16(pre_c, -12) for the cell gate   (Q0.15)
 *   c'      = sat16( sat16(rq_fc(f * c)) + sat16(rq_ig(i * g)) ), then |c'| <= clip if set
 *   h'      = sat8( rq_h(tanh16(c', cell power) * o) + hidden_zp )
 * TFLM evaluates gate by gate over whole vectors; doing all four gates of one unit together
 * gives the same integers (every step after the dot products is elementwise) and needs only one
 * buffer for h' instead of four int16 gate vectors.
 */
#include <string.h>

#include "tinyrnn.h"

void tinyrnn_lstm_step(const tinyrnn_lstm_t *layer, const int8_t *x, int8_t *h, int16_t *c,
                       int8_t *h_scratch) {
  const uint16_t n_in = layer->input_size;
  const uint16_t n = layer->units;
  const int8_t *w_in = layer->w_in;
  const int8_t *w_rec = layer->w_rec;
  const int32_t *b_in = layer->b_in;
  const int32_t *b_rec = layer->b_rec;
  uint16_t j;
  for (j = 0; j < n; ++j) {
    int32_t acc_in[4];
    int32_t acc_rec[4];
    int16_t gate[4];
    int16_t kept;
    int16_t added;
    int32_t cn;
    int32_t hv;
    int g;
    memcpy(acc_in, b_in, sizeof acc_in);
    memcpy(acc_rec, b_rec, sizeof acc_rec);
    tinyrnn_dot4_s8(w_in, x, n_in, acc_in);
    tinyrnn_dot4_s8(w_rec, h, n, acc_rec);
    w_in += 4u * n_in;
    w_rec += 4u * n;
    b_in += 4;
    b_rec += 4;
    for (g = 0; g < 4; ++g) {
      const int16_t fi = tinyrnn_sat16(tinyrnn_mbqm(acc_in[g], layer->mult_in[g],
                                                    layer->shift_in[g]));
      const int16_t fr = tinyrnn_sat16(tinyrnn_mbqm(acc_rec[g], layer->mult_rec[g],
                                                    layer->shift_rec[g]));
      const int16_t pre = tinyrnn_sat16((int32_t)fi + (int32_t)fr);
      gate[g] = (g == TINYRNN_GATE_CELL && layer->cell_gate_tanh) ? tinyrnn_tanh_s16(pre, -12)
                                                                   : tinyrnn_sigmoid_s16(pre);
    }
    kept = tinyrnn_sat16(tinyrnn_mbqm((int32_t)gate[TINYRNN_GATE_FORGET] * (int32_t)c[j],
                                      layer->mult_fc, layer->shift_fc));
    added = tinyrnn_sat16(tinyrnn_mbqm(
        (int32_t)gate[TINYRNN_GATE_INPUT] * (int32_t)gate[TINYRNN_GATE_CELL], layer->mult_ig,
        layer->shift_ig));
    cn = tinyrnn_sat16((int32_t)kept + (int32_t)added);
    if (layer->cell_clip > 0) {
      cn = cn > layer->cell_clip ? layer->cell_clip
                                 : (cn < -layer->cell_clip ? -layer->cell_clip : cn);
    }
    c[j] = (int16_t)cn;
    hv = tinyrnn_mbqm((int32_t)tinyrnn_tanh_s16((int16_t)cn, layer->cell_scale_power) *
                          (int32_t)gate[TINYRNN_GATE_OUTPUT],
                      layer->mult_h, layer->shift_h) +
         layer->hidden_zp;
    h_scratch[j] = (int8_t)(hv > 127 ? 127 : (hv < -128 ? -128 : hv));
  }
  memcpy(h, h_scratch, n);
}

void tinyrnn_lstm_reset(const tinyrnn_lstm_t *layer, int8_t *h, int16_t *c) {
  /* TFLM resets int8 variable tensors to their zero point and int16 ones to 0. */
  memset(h, (int)(int8_t)layer->hidden_zp, layer->units);
  memset(c, 0, (uint32_t)layer->units * sizeof(int16_t));
}
