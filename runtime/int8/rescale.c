#include "runtime/int8/fixed_point.h"
#include "runtime/int8/kernels.h"

void cleave_q_rescale(int64_t count, const int8_t *input, int32_t input_zero_point, int32_t multiplier, int shift,
                      int32_t output_zero_point, int8_t *output) {
  for (int64_t i = 0; i < count; ++i) {
    int64_t value = (int64_t)cleave_q_multiply((int32_t)input[i] - input_zero_point, multiplier, shift) + output_zero_point;
    if (value < -128) value = -128;
    if (value > 127) value = 127;
    output[i] = (int8_t)value;
  }
}
