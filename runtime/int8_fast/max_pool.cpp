#include "runtime/int8_fast/max_pool.h"

#include <algorithm>

#include "runtime/int8_fast/fixed_point_avx512.h"

namespace cleave::int8fast {

#ifdef CLEAVE_INT8_AVX512
void maxPool(const cleave_q_pool_shape& s, const int8_t* input, int8_t* output) {
  const int32_t channels = s.channels;
  const __m512i low = _mm512_set1_epi8(static_cast<char>(s.activation_min));
  const __m512i high = _mm512_set1_epi8(static_cast<char>(s.activation_max));
  for (int32_t n = 0; n < s.batch; ++n)
    for (int32_t oy = 0; oy < s.out_height; ++oy)
      for (int32_t ox = 0; ox < s.out_width; ++ox) {
        const int32_t top = oy * s.stride_height - s.pad_top, left = ox * s.stride_width - s.pad_left;
        const int32_t y0 = std::max(top, 0), x0 = std::max(left, 0);
        const int32_t y1 = std::min(top + s.kernel_height, s.in_height),
                      x1 = std::min(left + s.kernel_width, s.in_width);
        int8_t* out = output + ((int64_t{n} * s.out_height + oy) * s.out_width + ox) * channels;
        for (int32_t c = 0; c < channels; c += 64) {
          const auto lanes =
              static_cast<__mmask64>(channels - c >= 64 ? ~uint64_t{0} : (uint64_t{1} << (channels - c)) - 1);
          __m512i best = _mm512_set1_epi8(-128);
          for (int32_t y = y0; y < y1; ++y)
            for (int32_t x = x0; x < x1; ++x)
              best = _mm512_max_epi8(
                  best, _mm512_maskz_loadu_epi8(
                            lanes, input + ((int64_t{n} * s.in_height + y) * s.in_width + x) * channels + c));
          best = _mm512_min_epi8(_mm512_max_epi8(best, low), high);
          _mm512_mask_storeu_epi8(out + c, lanes, best);
        }
      }
}
#else
void maxPool(const cleave_q_pool_shape& s, const int8_t* input, int8_t* output) {
  cleave_q_max_pool(&s, input, output);
}
#endif

}  // namespace cleave::int8fast
