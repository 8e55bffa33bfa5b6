#include "runtime/int8/fixed_point.h"
#include "runtime/int8/kernels.h"

/* Headroom for the common scale: inputs are shifted up this far before they are scaled down
 * to it, so the two scalings lose nothing an int8 output could show. */
enum { ADD_LEFT_SHIFT = 20 };

void cleave_q_add_prepare(double input1_scale, int32_t input1_zero_point, double input2_scale,
                          int32_t input2_zero_point, double output_scale, int32_t output_zero_point,
                          cleave_q_add_params *p) {
  const double common = 2.0 * (input1_scale > input2_scale ? input1_scale : input2_scale);
  p->input1_zero_point = input1_zero_point;
  p->input2_zero_point = input2_zero_point;
  p->output_zero_point = output_zero_point;
  cleave_q_quantize_multiplier(input1_scale / common, &p->input1_multiplier, &p->input1_shift);
  cleave_q_quantize_multiplier(input2_scale / common, &p->input2_multiplier, &p->input2_shift);
  cleave_q_quantize_multiplier(common / ((double)(1 << ADD_LEFT_SHIFT) * output_scale), &p->output_multiplier,
                               &p->output_shift);
  p->activation_min = -128;
  p->activation_max = 127;
}

void cleave_q_add(int64_t count, const int8_t *input1, const int8_t *input2, const cleave_q_add_params *p,
                  int8_t *output) {
  for (int64_t i = 0; i < count; ++i) {
    const int32_t shifted1 = ((int32_t)input1[i] - p->input1_zero_point) * (1 << ADD_LEFT_SHIFT);
    const int32_t shifted2 = ((int32_t)input2[i] - p->input2_zero_point) * (1 << ADD_LEFT_SHIFT);
    const int32_t sum = cleave_q_multiply(shifted1, p->input1_multiplier, p->input1_shift) +
                        cleave_q_multiply(shifted2, p->input2_multiplier, p->input2_shift);
    /* In 64 bits so that no multiplier a stage image may carry makes the sum overflow. */
    int64_t value = (int64_t)cleave_q_multiply(sum, p->output_multiplier, p->output_shift) + p->output_zero_point;
    if (value < p->activation_min) value = p->activation_min;
    if (value > p->activation_max) value = p->activation_max;
    output[i] = (int8_t)value;
  }
}
