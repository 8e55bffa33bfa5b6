/* int8 reference kernels with TensorFlow Lite Micro's arithmetic: per-output-channel symmetric
 * int8 weights (zero point 0), per-tensor asymmetric int8 activations, int32 bias at scale
 * s_in * s_w[c], int32 accumulators requantised to the output's scale by each channel's
 * fixed-point multiplier and shift (fixed_point.h), then the output zero point added and the
 * fused activation applied as a clamp. Plain loops in C99 with no heap and no state: these are
 * what the MCU runtime runs, and what the host's fast int8 kernels must equal bit for bit.
 * Activations are NHWC; a convolution's weights are [out channels][kernel h][kernel w][in
 * channels per group]. */
#ifndef CLEAVE_INT8_KERNELS_H
#define CLEAVE_INT8_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Per output channel requantisation and the output's zero point and clamp. */
typedef struct {
  const int32_t *multiplier; /* Q0.31, one per output channel */
  const int *shift;          /* one per output channel */
  int32_t output_zero_point;
  int32_t activation_min; /* the clamp, within [-128, 127]: a fused Relu is [zero point, 127] */
  int32_t activation_max;
} cleave_q_requant;

typedef struct {
  int32_t batch;
  int32_t in_height, in_width, in_channels;
  int32_t out_height, out_width, out_channels;
  int32_t kernel_height, kernel_width;
  int32_t stride_height, stride_width;
  int32_t dilation_height, dilation_width;
  int32_t pad_top, pad_left; /* the bottom and right padding follow from the output size */
  int32_t groups;            /* 1, or in_channels for a depthwise convolution */
  int32_t input_zero_point;
} cleave_q_conv_shape;

/* 2-D convolution, grouped or depthwise. bias may be NULL. Taps that fall in the padding
 * contribute nothing, as an input at its zero point would. */
void cleave_q_conv(const cleave_q_conv_shape *shape, const int8_t *input, const int8_t *weights,
                   const int32_t *bias, const cleave_q_requant *requant, int8_t *output);

/* output[r][o] = requant(bias[o] + sum_i (input[r][i] - input_zero_point) * weights[o][i]) for
 * every row r: Gemm and MatMul with constant weights, [out features][in features]. */
void cleave_q_fully_connected(int32_t rows, int32_t in_features, int32_t out_features, const int8_t *input,
                              int32_t input_zero_point, const int8_t *weights, const int32_t *bias,
                              const cleave_q_requant *requant, int8_t *output);

/* Elementwise Add of two int8 tensors of one shape, each with its own scale and zero point:
 * both inputs are brought to a common scale (twice the larger input scale, 2^20 finer) before
 * the sum is requantised, as TFLM does. */
typedef struct {
  int32_t input1_zero_point, input2_zero_point, output_zero_point;
  int32_t input1_multiplier, input2_multiplier, output_multiplier; /* Q0.31 */
  int input1_shift, input2_shift, output_shift;                     /* all <= 0 */
  int32_t activation_min, activation_max;
} cleave_q_add_params;

/* The multipliers and shifts for an Add of the given scales. */
void cleave_q_add_prepare(double input1_scale, int32_t input1_zero_point, double input2_scale,
                          int32_t input2_zero_point, double output_scale, int32_t output_zero_point,
                          cleave_q_add_params *params);
void cleave_q_add(int64_t count, const int8_t *input1, const int8_t *input2, const cleave_q_add_params *params,
                  int8_t *output);

/* Elementwise Mul: (x1 - zp1) * (x2 - zp2) requantised by s1 * s2 / s_out. requant holds one
 * multiplier and shift (channel 0). */
void cleave_q_mul(int64_t count, const int8_t *input1, int32_t input1_zero_point, const int8_t *input2,
                  int32_t input2_zero_point, const cleave_q_requant *requant, int8_t *output);

/* Max and average pooling over NHWC, the output sharing the input's scale and zero point (as
 * ONNX's QDQ pooling and TFLM's do). Taps in the padding are left out; an average divides by
 * the taps inside the image, rounding halves away from zero. The result is clamped to
 * [activation_min, activation_max]. */
typedef struct {
  int32_t batch, in_height, in_width, channels, out_height, out_width;
  int32_t kernel_height, kernel_width, stride_height, stride_width, pad_top, pad_left;
  int32_t activation_min, activation_max;
} cleave_q_pool_shape;
void cleave_q_max_pool(const cleave_q_pool_shape *shape, const int8_t *input, int8_t *output);
void cleave_q_average_pool(const cleave_q_pool_shape *shape, const int8_t *input, int8_t *output);

/* The float boundaries, as ONNX's QuantizeLinear and DequantizeLinear define them: x / scale
 * rounded half to even, plus the zero point, saturated to int8 (NaN gives the zero point); and
 * (q - zero point) * scale. */
void cleave_q_quantize(int64_t count, const float *input, float scale, int32_t zero_point, int8_t *output);
void cleave_q_dequantize(int64_t count, const int8_t *input, float scale, int32_t zero_point, float *output);

/* An int8 tensor moved to another scale and zero point (a Concat input whose quantisation differs
 * from the output's): zero point removed, multiplied by s_in / s_out (multiplier and shift from
 * cleave_q_quantize_multiplier), the output's zero point added, saturated. */
void cleave_q_rescale(int64_t count, const int8_t *input, int32_t input_zero_point, int32_t multiplier, int shift,
                      int32_t output_zero_point, int8_t *output);

/* One accumulator requantised for output channel c: scaled, zero point added, clamped. */
int8_t cleave_q_requantize(int32_t accumulator, const cleave_q_requant *requant, int32_t c);

#ifdef __cplusplus
}
#endif

#endif
