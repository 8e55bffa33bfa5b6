#include "runtime/int8_fast/add.h"

#include "runtime/int8_fast/fixed_point_avx512.h"

namespace cleave::int8fast {

#ifdef CLEAVE_INT8_AVX512
namespace {

constexpr int ADD_LEFT_SHIFT = 20;  // as add.c

struct Scaling {
  __m512i multiplier, left, right;
};

Scaling scaling(int32_t multiplier, int shift) {
  return {_mm512_set1_epi32(multiplier), _mm512_set1_epi32(shift > 0 ? shift : 0),
          _mm512_set1_epi32(shift > 0 ? 0 : -shift)};
}

}  // namespace

void add(int64_t count, const int8_t* input1, const int8_t* input2, const cleave_q_add_params& p, int8_t* output) {
  const Scaling s1 = scaling(p.input1_multiplier, p.input1_shift), s2 = scaling(p.input2_multiplier, p.input2_shift),
                out = scaling(p.output_multiplier, p.output_shift);
  const __m512i zero1 = _mm512_set1_epi32(p.input1_zero_point), zero2 = _mm512_set1_epi32(p.input2_zero_point);
  const __m512i zeroOut = _mm512_set1_epi32(p.output_zero_point);
  const __m512i low = _mm512_set1_epi32(p.activation_min), high = _mm512_set1_epi32(p.activation_max);
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m512i a = _mm512_slli_epi32(
        _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(input1 + i))), zero1),
        ADD_LEFT_SHIFT);
    const __m512i b = _mm512_slli_epi32(
        _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(input2 + i))), zero2),
        ADD_LEFT_SHIFT);
    const __m512i sum = _mm512_add_epi32(multiply16(a, s1.multiplier, s1.left, s1.right),
                                         multiply16(b, s2.multiplier, s2.left, s2.right));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(output + i),
                     narrow16(multiply16(sum, out.multiplier, out.left, out.right), zeroOut, low, high));
  }
  cleave_q_add(count - i, input1 + i, input2 + i, &p, output + i);  // the last few, as the reference does them
}
#else
void add(int64_t count, const int8_t* input1, const int8_t* input2, const cleave_q_add_params& p, int8_t* output) {
  cleave_q_add(count, input1, input2, &p, output);
}
#endif

}  // namespace cleave::int8fast
