#include "runtime/xnnpack/xnn_gemm.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string_view>

#include <Eigen/Core>
#include <cpuinfo.h>

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

std::unique_ptr<ConstantGemm> ConstantGemm::create(const float* w, int64_t outputs, int64_t depth, int64_t xStride,
                                                   int64_t yStride) {
  std::unique_ptr<ConstantGemm> gemm(new ConstantGemm());
  gemm->outputs_ = outputs;
  gemm->depth_ = depth;
  gemm->xStride_ = xStride;
  gemm->yStride_ = yStride;
  if (gemmOnBlas()) {
    gemm->weights_.assign(w, w + outputs * depth);
    gemm->heldBytes_ = static_cast<int64_t>(gemm->weights_.size() * sizeof(float));
    return gemm;
  }
  MemoryMeter held;
  const float inf = std::numeric_limits<float>::infinity();
  xnn_operator_t op = nullptr;
  if (xnn_create_fully_connected_nc_f32(static_cast<size_t>(depth), static_cast<size_t>(outputs),
                                        static_cast<size_t>(xStride), static_cast<size_t>(yStride), w, nullptr, -inf,
                                        inf, 0, &op) != xnn_status_success)
    return nullptr;
  gemm->op_.reset(op);
  gemm->heldBytes_ = held.bytes();
  return gemm;
}

void ConstantGemm::run(const float* x, float* y, int64_t rows, const RunContext& ctx, bool serial) const {
  if (!weights_.empty()) {
    using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using ConstRowMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
    using RowMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
    const ConstRowMap w(weights_.data(), outputs_, depth_, Eigen::OuterStride<>(depth_));
    auto product = [&](int64_t begin, int64_t end) {
      const ConstRowMap xm(x + begin * xStride_, end - begin, depth_, Eigen::OuterStride<>(xStride_));
      RowMap ym(y + begin * yStride_, end - begin, outputs_, Eigen::OuterStride<>(yStride_));
      ym.noalias() = xm * w.transpose();
    };
    // Rows per chunk: enough that each thread's call amortises the BLAS packing the weights.
    constexpr int64_t MIN_ROWS = 32;
    if (serial) product(0, rows);
    else ctx.parallelFor(rows, MIN_ROWS, product);
    return;
  }
  pthreadpool* pool = serial ? nullptr : ctx.xnnThreadpool;
  xnn_setup_fully_connected_nc_f32(op_.get(), static_cast<size_t>(rows), x, y, pool);
  xnn_run_operator(op_.get(), pool);
}

}  // namespace cleave::xnn
