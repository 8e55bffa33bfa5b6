#include <math.h>

#include "runtime/int8/kernels.h"

void cleave_q_quantize(int64_t count, const float *input, float scale, int32_t zero_point, int8_t *output) {
  for (int64_t i = 0; i < count; ++i) {
    /* rintf rounds halves to even in the default rounding mode, as QuantizeLinear asks */
    const float scaled = rintf(input[i] / scale) + (float)zero_point;
    if (scaled != scaled) { /* NaN: no integer is right; the zero point (0.0) at least is harmless */
      output[i] = (int8_t)zero_point;
      continue;
    }
    output[i] = (int8_t)(scaled < -128.0f ? -128 : scaled > 127.0f ? 127 : (int32_t)scaled);
  }
}

void cleave_q_dequantize(int64_t count, const int8_t *input, float scale, int32_t zero_point, float *output) {
  for (int64_t i = 0; i < count; ++i) output[i] = (float)((int32_t)input[i] - zero_point) * scale;
}
