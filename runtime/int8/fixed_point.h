/* int8 requantisation arithmetic as TensorFlow Lite Micro does it (gemmlowp's rounding), in
 * portable C99 so the host's reference kernels and the MCU runtime (agent/mcu/) compute the same
 * bytes. A real multiplier M = s_in * s_w / s_out is stored as a Q0.31 fraction in [0.5, 1)
 * and a power-of-two shift; products are rounded twice, first in the doubling high multiply,
 * then in the division by a power of two, each exactly as gemmlowp's fixedpoint.h rounds.
 * Needs an arithmetic right shift of negative integers (every compiler we target has one). */
#ifndef CLEAVE_INT8_FIXED_POINT_H
#define CLEAVE_INT8_FIXED_POINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* round(a * b / 2^31), halves towards +infinity; INT32_MIN * INT32_MIN saturates to INT32_MAX. */
int32_t cleave_q_doubling_high_mul(int32_t a, int32_t b);

/* round(x / 2^exponent) for exponent in [0, 31], halves away from zero. */
int32_t cleave_q_divide_by_pot(int32_t x, int exponent);

/* x * multiplier * 2^shift / 2^31 with TFLM's two roundings: shift > 0 shifts x left first,
 * shift < 0 divides the high product by 2^-shift. */
int32_t cleave_q_multiply(int32_t x, int32_t multiplier, int shift);

/* The Q0.31 multiplier and shift for a real factor >= 0: real ~= multiplier * 2^(shift - 31).
 * 0, and factors too small to represent (below 2^-32), give multiplier 0. */
void cleave_q_quantize_multiplier(double real, int32_t *multiplier, int *shift);

#ifdef __cplusplus
}
#endif

#endif
