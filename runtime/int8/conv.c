#include "runtime/int8/kernels.h"

void cleave_q_conv(const cleave_q_conv_shape *s, const int8_t *input, const int8_t *weights, const int32_t *bias,
                   const cleave_q_requant *requant, int8_t *output) {
  const int32_t in_per_group = s->in_channels / s->groups;
  const int32_t out_per_group = s->out_channels / s->groups;
  for (int32_t n = 0; n < s->batch; ++n) {
    const int8_t *image = input + (int64_t)n * s->in_height * s->in_width * s->in_channels;
    for (int32_t oy = 0; oy < s->out_height; ++oy) {
      for (int32_t ox = 0; ox < s->out_width; ++ox) {
        int8_t *pixel = output + (((int64_t)n * s->out_height + oy) * s->out_width + ox) * s->out_channels;
        for (int32_t oc = 0; oc < s->out_channels; ++oc) {
          const int32_t first_in = (oc / out_per_group) * in_per_group;
          const int8_t *filter = weights + (int64_t)oc * s->kernel_height * s->kernel_width * in_per_group;
          int32_t acc = bias ? bias[oc] : 0;
          for (int32_t ky = 0; ky < s->kernel_height; ++ky) {
            const int32_t iy = oy * s->stride_height - s->pad_top + ky * s->dilation_height;
            if (iy < 0 || iy >= s->in_height) continue;
            for (int32_t kx = 0; kx < s->kernel_width; ++kx) {
              const int32_t ix = ox * s->stride_width - s->pad_left + kx * s->dilation_width;
              if (ix < 0 || ix >= s->in_width) continue;
              const int8_t *in = image + ((int64_t)iy * s->in_width + ix) * s->in_channels + first_in;
              const int8_t *w = filter + ((int64_t)ky * s->kernel_width + kx) * in_per_group;
              for (int32_t ic = 0; ic < in_per_group; ++ic) acc += ((int32_t)in[ic] - s->input_zero_point) * w[ic];
            }
          }
          pixel[oc] = cleave_q_requantize(acc, requant, oc);
        }
      }
    }
  }
}
