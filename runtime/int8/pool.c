#include "runtime/int8/kernels.h"

/* The window of output (oy, ox) clipped to the image: [*y0, *y1) x [*x0, *x1). */
static void window(const cleave_q_pool_shape *s, int32_t oy, int32_t ox, int32_t *y0, int32_t *y1, int32_t *x0,
                   int32_t *x1) {
  const int32_t top = oy * s->stride_height - s->pad_top, left = ox * s->stride_width - s->pad_left;
  *y0 = top < 0 ? 0 : top;
  *x0 = left < 0 ? 0 : left;
  *y1 = top + s->kernel_height > s->in_height ? s->in_height : top + s->kernel_height;
  *x1 = left + s->kernel_width > s->in_width ? s->in_width : left + s->kernel_width;
}

static int8_t clamp(int32_t value, const cleave_q_pool_shape *s) {
  if (value < s->activation_min) value = s->activation_min;
  if (value > s->activation_max) value = s->activation_max;
  return (int8_t)value;
}

void cleave_q_max_pool(const cleave_q_pool_shape *s, const int8_t *input, int8_t *output) {
  for (int32_t n = 0; n < s->batch; ++n)
    for (int32_t oy = 0; oy < s->out_height; ++oy)
      for (int32_t ox = 0; ox < s->out_width; ++ox) {
        int32_t y0, y1, x0, x1;
        window(s, oy, ox, &y0, &y1, &x0, &x1);
        int8_t *out = output + (((int64_t)n * s->out_height + oy) * s->out_width + ox) * s->channels;
        for (int32_t c = 0; c < s->channels; ++c) {
          int32_t best = -128;
          for (int32_t y = y0; y < y1; ++y)
            for (int32_t x = x0; x < x1; ++x) {
              const int32_t v = input[(((int64_t)n * s->in_height + y) * s->in_width + x) * s->channels + c];
              if (v > best) best = v;
            }
          out[c] = clamp(best, s);
        }
      }
}

void cleave_q_average_pool(const cleave_q_pool_shape *s, const int8_t *input, int8_t *output) {
  for (int32_t n = 0; n < s->batch; ++n)
    for (int32_t oy = 0; oy < s->out_height; ++oy)
      for (int32_t ox = 0; ox < s->out_width; ++ox) {
        int32_t y0, y1, x0, x1;
        window(s, oy, ox, &y0, &y1, &x0, &x1);
        const int32_t taps = (y1 - y0) * (x1 - x0);
        int8_t *out = output + (((int64_t)n * s->out_height + oy) * s->out_width + ox) * s->channels;
        for (int32_t c = 0; c < s->channels; ++c) {
          int32_t sum = 0;
          for (int32_t y = y0; y < y1; ++y)
            for (int32_t x = x0; x < x1; ++x)
              sum += input[(((int64_t)n * s->in_height + y) * s->in_width + x) * s->channels + c];
          /* halves away from zero; a window wholly in the padding has no taps and gives 0 */
          const int32_t average = taps == 0 ? 0 : sum > 0 ? (sum + taps / 2) / taps : (sum - taps / 2) / taps;
          out[c] = clamp(average, s);
        }
      }
}
