#include "runtime/layout.h"

#include <algorithm>

namespace cleave {

Shape nhwcShape(const Shape& nchw) { return {nchw[0], nchw[2], nchw[3], nchw[1]}; }

bool layoutFree(const Shape& nchw) { return nchw.size() == 4 && (nchw[1] == 1 || nchw[2] * nchw[3] == 1); }

namespace {

constexpr int64_t TILE = 16;

// Rows [rowBegin, rowEnd) of a [rows, cols] matrix transposed into [cols, rows], in square tiles
// so that both the reads and the writes stay within a few cache lines per tile.
template <class T>
void transposeRows(const T* src, T* dst, int64_t rows, int64_t cols, int64_t rowBegin, int64_t rowEnd) {
  for (int64_t r0 = rowBegin; r0 < rowEnd; r0 += TILE) {
    int64_t r1 = std::min(rowEnd, r0 + TILE);
    for (int64_t c0 = 0; c0 < cols; c0 += TILE) {
      int64_t c1 = std::min(cols, c0 + TILE);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
    }
  }
}

// Per image, a [rows, cols] plane transposed. Bands of TILE rows of every image are spread over
// the pool, so one image (batch 1) is shared by all threads rather than left to one while the
// others wait.
template <class T>
void transposeImages(const T* src, T* dst, int64_t images, int64_t rows, int64_t cols, const RunContext& ctx) {
  const int64_t bands = (rows + TILE - 1) / TILE;
  // A chunk of at least 16 K values: below that, handing it to another thread costs more than it saves.
  const int64_t minBands = std::max<int64_t>(1, 16 * 1024 / std::max<int64_t>(1, TILE * cols));
  ctx.parallelFor(images * bands, minBands, [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / bands, r0 = unit % bands * TILE;
      transposeRows(src + n * rows * cols, dst + n * rows * cols, rows, cols, r0, std::min(rows, r0 + TILE));
    }
  });
}

class LayoutConversion final : public Kernel {
 public:
  LayoutConversion(Layout from, Shape shape, DType dtype) : from_(from), shape_(std::move(shape)), dtype_(dtype) {}
  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    if (dtype_ == DType::F32) {
      if (from_ == Layout::Nchw)
        nchwToNhwc(inputs[0].data<float>(), outputs[0].data<float>(), shape_, ctx);
      else
        nhwcToNchw(inputs[0].data<float>(), outputs[0].data<float>(), shape_, ctx);
      return;
    }
    // One-byte values (int8 activations).
    const auto* src = inputs[0].data<uint8_t>();
    auto* dst = outputs[0].data<uint8_t>();
    const int64_t plane = shape_[2] * shape_[3];
    if (from_ == Layout::Nchw)
      transposeImages(src, dst, shape_[0], shape_[1], plane, ctx);
    else
      transposeImages(src, dst, shape_[0], plane, shape_[1], ctx);
  }

 private:
  Layout from_;
  Shape shape_;
  DType dtype_;
};

}  // namespace

void nchwToNhwc(const float* src, float* dst, const Shape& shape, const RunContext& ctx) {
  transposeImages(src, dst, shape[0], shape[1], shape[2] * shape[3], ctx);
}

void nhwcToNchw(const float* src, float* dst, const Shape& shape, const RunContext& ctx) {
  transposeImages(src, dst, shape[0], shape[2] * shape[3], shape[1], ctx);
}

std::unique_ptr<Kernel> makeLayoutConversion(Layout from, const Shape& nchwShape, DType dtype) {
  return std::make_unique<LayoutConversion>(from, nchwShape, dtype);
}

}  // namespace cleave
