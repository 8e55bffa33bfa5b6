// What every XNNPACK-backed kernel shares: the library's one-time start, an owning handle for an
// operator, and a meter for the memory an operator keeps. XNNPACK allocates through an allocator
// we hand it at start; counting there is how packed weights and scratch become exact figures in
// Kernel::heldBytes and Kernel::scratchBytes rather than estimates.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <xnnpack.h>

#include "runtime/result.h"

namespace cleave::xnn {

// Starts XNNPACK once per process; false when the CPU lacks what it needs (then nothing may use it).
bool available();

struct OperatorDeleter {
  void operator()(xnn_operator_t op) const { xnn_delete_operator(op); }
};
using Operator = std::unique_ptr<xnn_operator, OperatorDeleter>;

// Counts the bytes XNNPACK allocates, less what it frees, on this thread while the meter lives.
// Meters nest; each sees everything allocated during its own lifetime.
class MemoryMeter {
 public:
  MemoryMeter();
  ~MemoryMeter();
  MemoryMeter(const MemoryMeter&) = delete;
  MemoryMeter& operator=(const MemoryMeter&) = delete;
  int64_t bytes() const;

 private:
  int64_t start_;
};

// Convolution weights from ONNX's [Cout][Cin/g][kh][kw] to channels-last [Cout][kh][kw][Cin/g]:
// the order XNNPACK wants (group-major, without XNN_FLAG_DEPTHWISE_CONVOLUTION) and that of a
// patch gathered from channels-last pixels.
std::vector<float> channelsLastWeights(const float* w, int64_t outChannels, int64_t inPerGroup, int64_t kernelPlane);

// Stands in for an operator's input and output at the set-up done at prepare, which only
// computes addresses from them (the indirection buffer the operator keeps, counted in
// heldBytes); each run sets up again with the real buffers. It must be a live allocation as
// large as the tensor: XNNPACK's kernels take an indirection entry equal to the operator's zero
// buffer for padding, and entries computed from a small static array ran on into the heap and
// hit it on aarch64 (mobilenet_v2's first convolution read zeros for some pixels, 3e-2 off).
class SetupPlaceholder {
 public:
  explicit SetupPlaceholder(int64_t floats) : values_(static_cast<size_t>(std::max<int64_t>(floats, 1) + 16)) {}
  float* data() { return values_.data(); }

 private:
  std::vector<float> values_;
};

// "XNNPACK <what> failed: <status name>".
std::string statusMessage(const char* what, xnn_status status);

}  // namespace cleave::xnn
