// Matrix products with constant weights for the channels-last kernels: Y = X W^T with W [n][k],
// rows of X and Y at any stride. Two engines behind one interface, chosen once per process:
//
// - XNNPACK's fully-connected operator (weights packed at prepare) on AVX-512 and on ARM.
// - The BLAS (OpenBLAS through Eigen) on x86 without AVX-512. Debian's XNNPACK is built with
//   GCC, and its AVX2/FMA3 GEMM micro-kernel (5x16) needs one register more than x86 has: GCC
//   spills an accumulator to the stack inside the inner loop, and the store-to-load chain holds it
//   to 18 GMAC/s on a Zen 3 core that does 51 G FMA/s. OpenBLAS's hand-written kernels reach
//   24-45 GMAC/s on the same shapes (figures in docs/architecture.md).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/op.h"
#include "runtime/xnnpack/xnn_support.h"

namespace cleave::xnn {

// True when this process's products run on the BLAS (see above). CLEAVE_GEMM_ENGINE=xnnpack or
// =openblas in the environment overrides the choice (the tests run both engines on any machine;
// an operator can compare them); the BLAS needs a build with one.
bool gemmOnBlas();
// "XNNPACK" or "OpenBLAS", for records.
const char* gemmEngineName();

class ConstantGemm {
 public:
  // Null when XNNPACK refuses the shape. `w` is copied or packed; it need not outlive this.
  static std::unique_ptr<ConstantGemm> create(const float* w, int64_t outputs, int64_t depth, int64_t xStride,
                                              int64_t yStride);
  // Y[rows][outputs] = X[rows][depth] W^T. Threaded over ctx's pool unless `serial` (the caller
  // already runs one product per thread). XNNPACK's engine keeps its set-up in the operator: one
  // run at a time per object; the BLAS engine's runs may overlap.
  void run(const float* x, float* y, int64_t rows, const RunContext& ctx, bool serial = false) const;
  int64_t heldBytes() const { return heldBytes_; }

 private:
  ConstantGemm() = default;
  int64_t outputs_ = 0, depth_ = 0, xStride_ = 0, yStride_ = 0;
  std::vector<float> weights_;  // the BLAS engine's copy, [outputs][depth]
  Operator op_;                 // the XNNPACK engine's operator
  int64_t heldBytes_ = 0;
};

}  // namespace cleave::xnn
