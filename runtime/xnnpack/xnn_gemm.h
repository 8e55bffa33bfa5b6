// The engine of the channels-last kernels' matrix products with constant weights, chosen once
// per process:
//
// - XNNPACK's own operators (weights packed at prepare) on AVX-512 and on ARM.
// - The BLAS (OpenBLAS through Eigen, ConstantGemm below) on x86 without AVX-512. Debian's XNNPACK is built with
//   GCC, and its AVX2/FMA3 GEMM micro-kernel (5x16) needs one register more than x86 has: GCC
//   spills an accumulator to the stack inside the inner loop, and the store-to-load chain holds it
//   to 18 GMAC/s on a Zen 3 core that does 51 G FMA/s. OpenBLAS's hand-written kernels reach
//   24-45 GMAC/s on the same shapes (figures in docs/architecture.md).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>


namespace cleave::xnn {

// True when this process's products run on the BLAS (see above). CLEAVE_GEMM_ENGINE=xnnpack or
// =openblas in the environment overrides the choice (the tests run both engines on any machine;
// an operator can compare them); the BLAS needs a build with one.
bool gemmOnBlas();
// "XNNPACK" or "OpenBLAS", for records.
const char* gemmEngineName();

// A product with constant weights on the BLAS engine, for the kernels that take it when
// gemmOnBlas() (XNNPACK's engine is its own operators, packed at prepare).
class ConstantGemm {
 public:
  // `w` is copied; it need not outlive this.
  ConstantGemm(const float* w, int64_t outputs, int64_t depth, int64_t xStride, int64_t yStride);
  // Y[rows][outputs] = X[rows][depth] W^T on the calling thread; runs may overlap (kernels give
  // each thread its own rows or its own products).
  void run(const float* x, float* y, int64_t rows) const;
  int64_t heldBytes() const { return static_cast<int64_t>(weights_.size() * sizeof(float)); }

 private:
  int64_t outputs_, depth_, xStride_, yStride_;
  std::vector<float> weights_;  // [outputs][depth]
};

}  // namespace cleave::xnn
