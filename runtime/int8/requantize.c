#include "runtime/int8/fixed_point.h"
#include "runtime/int8/kernels.h"

int8_t cleave_q_requantize(int32_t accumulator, const cleave_q_requant *requant, int32_t c) {
  /* In 64 bits so that no multiplier a stage image may carry makes the sum overflow. */
  int64_t value = cleave_q_multiply(accumulator, requant->multiplier[c], requant->shift[c]);
  value += requant->output_zero_point;
  if (value < requant->activation_min) value = requant->activation_min;
  if (value > requant->activation_max) value = requant->activation_max;
  return (int8_t)value;
}
