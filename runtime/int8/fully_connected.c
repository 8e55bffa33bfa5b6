#include "runtime/int8/kernels.h"

void cleave_q_fully_connected(int32_t rows, int32_t in_features, int32_t out_features, const int8_t *input,
                              int32_t input_zero_point, const int8_t *weights, const int32_t *bias,
                              const cleave_q_requant *requant, int8_t *output) {
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t *x = input + (int64_t)r * in_features;
    for (int32_t o = 0; o < out_features; ++o) {
      const int8_t *w = weights + (int64_t)o * in_features;
      int32_t acc = bias ? bias[o] : 0;
      for (int32_t i = 0; i < in_features; ++i) acc += ((int32_t)x[i] - input_zero_point) * w[i];
      output[(int64_t)r * out_features + o] = cleave_q_requantize(acc, requant, o);
    }
  }
}
