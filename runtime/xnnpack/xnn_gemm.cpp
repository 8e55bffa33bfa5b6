#include "runtime/xnnpack/xnn_gemm.h"

#include <cstdlib>
#include <string_view>

#include <Eigen/Core>
#include <cpuinfo.h>

#include "runtime/xnnpack/xnn_support.h"

namespace cleave::xnn {

namespace {

bool chooseBlas() {
#ifdef EIGEN_USE_BLAS
  const char* forced = std::getenv("CLEAVE_GEMM_ENGINE");
  if (forced && std::string_view(forced) == "openblas") return true;
  if (forced && std::string_view(forced) == "xnnpack") return false;
#if defined(__x86_64__) || defined(__i386__)
  return available() && cpuinfo_initialize() && !cpuinfo_has_x86_avx512f();
#endif
#endif
  return false;
}

}  // namespace

bool gemmOnBlas() {
  static const bool onBlas = chooseBlas();
  return onBlas;
}

const char* gemmEngineName() { return gemmOnBlas() ? "OpenBLAS" : "XNNPACK"; }

ConstantGemm::ConstantGemm(const float* w, int64_t outputs, int64_t depth, int64_t xStride, int64_t yStride)
    : outputs_(outputs), depth_(depth), xStride_(xStride), yStride_(yStride), weights_(w, w + outputs * depth) {}

void ConstantGemm::run(const float* x, float* y, int64_t rows) const {
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstRowMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  using RowMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  const ConstRowMap w(weights_.data(), outputs_, depth_, Eigen::OuterStride<>(depth_));
  const ConstRowMap xm(x, rows, depth_, Eigen::OuterStride<>(xStride_));
  RowMap ym(y, rows, outputs_, Eigen::OuterStride<>(yStride_));
  ym.noalias() = xm * w.transpose();
}

}  // namespace cleave::xnn
