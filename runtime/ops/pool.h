// MaxPool, AveragePool (1D/2D/3D, NCHW-style layout) and GlobalAveragePool (any rank >= 3).
// Spatial dims are padded to three (leading size-1 axes with kernel 1) so one kernel serves all
// ranks. Output sizes follow ONNX, with one refinement ONNX later adopted from PyTorch: under
// ceil_mode a window that would start inside the end padding is dropped, so no window is empty.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "runtime/ops/ops.h"

namespace cleave {

constexpr size_t POOL_DIMS = 3;

// Everything a pooling kernel needs, validated by prepare.
struct PoolGeometry {
  int64_t planes = 0;  // batch * channels
  std::array<int64_t, POOL_DIMS> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1},
      padBegin{0, 0, 0}, padEnd{0, 0, 0};

  int64_t inPlane() const { return in[0] * in[1] * in[2]; }
  int64_t outPlane() const { return out[0] * out[1] * out[2]; }
  int64_t kernelSize() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// Reads and checks kernel_shape, strides, pads, auto_pad, dilations and ceil_mode against the
// input shape (rank 3 to 5). AveragePool gains dilations only in opset 19; we accept them at
// every opset since the kernels handle them anyway.
Result<PoolGeometry> poolGeometry(const NodeContext& ctx, const Shape& input);

// Fast kernels over planes [planeBegin, planeEnd). `indices` may be null; when given it gets
// ONNX's flattened (storage_order 0) index of each maximum, counting from the tensor's start.
template <class T>
void maxPool(const PoolGeometry& g, const T* in, T* out, int64_t* indices, int64_t planeBegin, int64_t planeEnd);
void averagePool(const PoolGeometry& g, bool countIncludePad, const float* in, float* out, int64_t planeBegin,
                 int64_t planeEnd);
// Mean of each of `planes` contiguous runs of `size` floats.
void globalAveragePool(const float* in, float* out, int64_t size, int64_t planeBegin, int64_t planeEnd);

}  // namespace cleave
