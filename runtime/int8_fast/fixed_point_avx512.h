// runtime/int8/fixed_point.c on 16 int32 lanes at once, the same integer operations lane by lane
// so the results are the reference's bit for bit. Include only where CLEAVE_INT8_AVX512 is set.
#pragma once

#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define CLEAVE_INT8_AVX512 1
#include "runtime/x86_intrinsics.h"

namespace cleave::int8fast {

// cleave_q_multiply: x * 2^left, the doubling high multiply on 64-bit products (never the
// saturating case: a multiplier is never INT32_MIN), then the rounding division by 2^right as
// remainder against threshold, which rounds halves away from zero as the reference's
// (x + half - (x < 0)) >> e does, without its 64-bit sum.
inline __m512i multiply16(__m512i x, __m512i multiplier, __m512i left, __m512i right) {
  const __m512i scaled = _mm512_sllv_epi32(x, left);
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(scaled, multiplier), nudge), 31);
  const __m512i odd = _mm512_srai_epi64(
      _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(scaled, 32), _mm512_srli_epi64(multiplier, 32)), nudge), 31);
  const __m512i product = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));

  const __m512i one = _mm512_set1_epi32(1);
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
  const __m512i remainder = _mm512_and_si512(product, mask);
  const __m512i threshold = _mm512_add_epi32(_mm512_srai_epi32(mask, 1), _mm512_srli_epi32(product, 31));
  const __m512i quotient = _mm512_srav_epi32(product, right);
  return _mm512_mask_add_epi32(quotient, _mm512_cmpgt_epi32_mask(remainder, threshold), quotient, one);
}

// The zero point added, the clamp applied, narrowed to 16 int8 values.
inline __m128i narrow16(__m512i value, __m512i zeroPoint, __m512i low, __m512i high) {
  value = _mm512_add_epi32(value, zeroPoint);
  return _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(value, low), high));
}

}  // namespace cleave::int8fast
#endif
