#include "runtime/int8/fixed_point.h"

#include <math.h>

int32_t cleave_q_doubling_high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX; /* the one product that overflows */
  /* 2ab / 2^32 = ab / 2^31; adding half a unit then flooring rounds halves upwards. */
  const int64_t product = (int64_t)a * (int64_t)b;
  return (int32_t)((product + ((int64_t)1 << 30)) >> 31);
}

int32_t cleave_q_divide_by_pot(int32_t x, int exponent) {
  if (exponent == 0) return x;
  /* Floor of (x + half) rounds halves up; one less for negatives rounds them down instead. */
  const int64_t half = (int64_t)1 << (exponent - 1);
  return (int32_t)(((int64_t)x + half - (x < 0 ? 1 : 0)) >> exponent);
}

int32_t cleave_q_multiply(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  /* TFLM multiplies by 2^left in 32 bits; callers keep x small enough that it cannot wrap. */
  const int32_t scaled = (int32_t)((uint32_t)x << left);
  return cleave_q_divide_by_pot(cleave_q_doubling_high_mul(scaled, multiplier), right);
}

void cleave_q_quantize_multiplier(double real, int32_t *multiplier, int *shift) {
  *multiplier = 0;
  *shift = 0;
  if (!(real > 0.0)) return;
  int exponent = 0;
  const double fraction = frexp(real, &exponent); /* real = fraction * 2^exponent, fraction in [0.5, 1) */
  int64_t q = (int64_t)llround(fraction * 2147483648.0);
  if (q == ((int64_t)1 << 31)) { /* rounded up to 1.0: 0.5 one power higher */
    q /= 2;
    ++exponent;
  }
  if (exponent < -31) return; /* below what a right shift of up to 31 can reach */
  if (exponent > 30) {        /* beyond int32: the largest representable factor */
    exponent = 30;
    q = INT32_MAX;
  }
  *multiplier = (int32_t)q;
  *shift = exponent;
}
