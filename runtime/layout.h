// Where an activation's channels sit in memory. ONNX graphs are NCHW (channels-first); the fast
// kernels (XNNPACK) are NHWC (channels-last). A session picks one layout per value once, when it
// is built, and converts only where a producer and a consumer disagree (see layout_plan.h).
#pragma once

#include <cstdint>

#include "runtime/op.h"
#include "runtime/tensor.h"

namespace cleave {

enum class Layout : uint8_t { Nchw, Nhwc };

// [N, C, H, W] -> [N, H, W, C]: the shape a rank-4 NCHW value has once stored channels-last.
Shape nhwcShape(const Shape& nchw);
// True when NCHW and NHWC store the value's elements in the same order: rank 4 with C == 1 or
// H * W == 1 (the [N, C, 1, 1] tails of squeeze-excitation blocks and classifiers). Such a value
// never needs converting.
bool layoutFree(const Shape& nchw);

// Copies one NCHW image batch to NHWC and back; `shape` is the NCHW shape.
void nchwToNhwc(const float* src, float* dst, const Shape& shape, const RunContext& ctx);
void nhwcToNchw(const float* src, float* dst, const Shape& shape, const RunContext& ctx);

// A session step that converts one value between layouts (input 0 to output 0): float32
// activations, and the int8 ones of quantised graphs.
std::unique_ptr<Kernel> makeLayoutConversion(Layout from, const Shape& nchwShape, DType dtype);

}  // namespace cleave
