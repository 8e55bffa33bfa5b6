#include "runtime/int8/kernels.h"

void cleave_q_mul(int64_t count, const int8_t *input1, int32_t input1_zero_point, const int8_t *input2,
                  int32_t input2_zero_point, const cleave_q_requant *requant, int8_t *output) {
  for (int64_t i = 0; i < count; ++i) {
    const int32_t product = ((int32_t)input1[i] - input1_zero_point) * ((int32_t)input2[i] - input2_zero_point);
    output[i] = cleave_q_requantize(product, requant, 0);
  }
}
