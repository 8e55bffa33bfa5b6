#include "runtime/ops/data_movement.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace cleave {

Result<std::vector<int64_t>> constantInts(const NodeContext& ctx, size_t input, std::string_view what) {
  if (!ctx.hasInput(input)) return ctx.error(fmt::format("{} input (input {}) is required", what, input));
  const Tensor* value = ctx.constant(input);
  if (value == nullptr)
    return ctx.error(fmt::format("{} input must be a constant (cleave needs static shapes)", what));
  if (value->dtype() != DType::I64 && value->dtype() != DType::I32)
    return ctx.error(fmt::format("{} input has type {}, expected int64 or int32", what, dtypeName(value->dtype())));
  if (value->rank() > 1)
    return ctx.error(fmt::format("{} input must be a scalar or 1-D, got shape {}", what, shapeString(value->shape())));
  return value->toInt64s();
}

Result<std::optional<std::vector<int64_t>>> optionalConstantInts(const NodeContext& ctx, size_t input,
                                                                  std::string_view what) {
  if (!ctx.hasInput(input)) return std::optional<std::vector<int64_t>>{};
  Result<std::vector<int64_t>> values = constantInts(ctx, input, what);
  if (!values) return values.error();
  return std::optional<std::vector<int64_t>>{std::move(values).value()};
}

void copyIfDistinct(const Tensor& in, Tensor& out) {
  if (in.raw() == out.raw() || in.bytes() == 0) return;
  std::memcpy(out.raw(), in.raw(), in.bytes());
}

PreparedNode viewNode(DType dtype, Shape shape) {
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{dtype, std::move(shape)}};
  // Views count 0 MACs: aliased, they cost nothing at run time.
  prepared.macs = 0;
  prepared.opClass = OpClass::Other;
  prepared.aliasesInput = true;
  prepared.kernel = makeKernel([](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext&) {
    copyIfDistinct(inputs[0], outputs[0]);
  });
  return prepared;
}

std::vector<int64_t> contiguousStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t k = shape.size(); k-- > 1;) strides[k - 1] = strides[k] * shape[k];
  return strides;
}

namespace {

// A box to copy after dropping unit dimensions and merging dimensions contiguous in both
// source and destination; rank 0 means a single element.
struct Box {
  std::vector<int64_t> shape, src, dst;
};

Box simplify(const Shape& shape, std::span<const int64_t> srcStrides, std::span<const int64_t> dstStrides) {
  Box box;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 1) continue;
    if (!box.shape.empty() && box.src.back() == srcStrides[k] * shape[k] &&
        box.dst.back() == dstStrides[k] * shape[k]) {
      box.shape.back() *= shape[k];
      box.src.back() = srcStrides[k];
      box.dst.back() = dstStrides[k];
    } else {
      box.shape.push_back(shape[k]);
      box.src.push_back(srcStrides[k]);
      box.dst.push_back(dstStrides[k]);
    }
  }
  return box;
}

// Walks the first `outerRank` dimensions of a box from linear position `begin`, keeping source and
// destination offsets (in elements) up to date without divisions in the loop.
class OuterWalker {
 public:
  OuterWalker(const Box& box, size_t outerRank, int64_t begin) : box_(box), index_(outerRank, 0) {
    for (size_t k = outerRank; k-- > 0;) {
      index_[k] = begin % box.shape[k];
      begin /= box.shape[k];
      src_ += index_[k] * box.src[k];
      dst_ += index_[k] * box.dst[k];
    }
  }
  int64_t src() const { return src_; }
  int64_t dst() const { return dst_; }
  void next() {
    for (size_t k = index_.size(); k-- > 0;) {
      src_ += box_.src[k];
      dst_ += box_.dst[k];
      if (++index_[k] < box_.shape[k]) return;
      src_ -= box_.src[k] * box_.shape[k];
      dst_ -= box_.dst[k] * box_.shape[k];
      index_[k] = 0;
    }
  }

 private:
  const Box& box_;
  std::vector<int64_t> index_;
  int64_t src_ = 0;
  int64_t dst_ = 0;
};

constexpr int64_t PARALLEL_MIN_ELEMENTS = 32 * 1024;
constexpr int64_t TILE = 32;

template <class T>
void copyRowsTyped(const T* src, T* dst, const Box& box, int64_t begin, int64_t end) {
  size_t outer = box.shape.size() - 1;
  int64_t n = box.shape.back(), ss = box.src.back(), ds = box.dst.back();
  OuterWalker walk(box, outer, begin);
  for (int64_t row = begin; row < end; ++row, walk.next()) {
    const T* s = src + walk.src();
    T* d = dst + walk.dst();
    for (int64_t i = 0; i < n; ++i) d[i * ds] = s[i * ss];
  }
}

// Last two dimensions (rows, cols) with source stride 1 along rows and destination stride 1 along
// cols: a batched 2-D transpose, done tile by tile so both sides stay in cache.
template <class T>
void copyTilesTyped(const T* src, T* dst, const Box& box, int64_t begin, int64_t end) {
  size_t outer = box.shape.size() - 2;
  int64_t rows = box.shape[outer], cols = box.shape[outer + 1];
  int64_t srcCol = box.src[outer + 1], dstRow = box.dst[outer];
  int64_t rowTiles = (rows + TILE - 1) / TILE;
  for (int64_t unit = begin; unit < end;) {
    int64_t batch = unit / rowTiles;
    OuterWalker walk(box, outer, batch);
    for (; unit < end && unit / rowTiles == batch; ++unit) {
      int64_t r0 = (unit % rowTiles) * TILE, r1 = std::min(rows, r0 + TILE);
      const T* s = src + walk.src();
      T* d = dst + walk.dst();
      for (int64_t c0 = 0; c0 < cols; c0 += TILE) {
        int64_t c1 = std::min(cols, c0 + TILE);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) d[r * dstRow + c] = s[r + c * srcCol];
      }
    }
  }
}

template <class T>
void copyBoxTyped(const std::byte* srcBytes, std::byte* dstBytes, const Box& box, const RunContext& ctx) {
  const T* src = reinterpret_cast<const T*>(srcBytes);
  T* dst = reinterpret_cast<T*>(dstBytes);
  size_t rank = box.shape.size();
  if (rank >= 2 && box.dst.back() == 1 && box.src[rank - 2] == 1 && box.shape.back() > 1) {
    int64_t batches = 1;
    for (size_t k = 0; k + 2 < rank; ++k) batches *= box.shape[k];
    int64_t units = batches * ((box.shape[rank - 2] + TILE - 1) / TILE);
    int64_t unitElements = TILE * box.shape.back();
    ctx.parallelFor(units, std::max<int64_t>(1, PARALLEL_MIN_ELEMENTS / unitElements),
                    [&](int64_t b, int64_t e) { copyTilesTyped(src, dst, box, b, e); });
    return;
  }
  int64_t rows = 1;
  for (size_t k = 0; k + 1 < rank; ++k) rows *= box.shape[k];
  ctx.parallelFor(rows, std::max<int64_t>(1, PARALLEL_MIN_ELEMENTS / box.shape.back()),
                  [&](int64_t b, int64_t e) { copyRowsTyped(src, dst, box, b, e); });
}

// Element sizes without a typed loop (none today) copy element by element.
void copyBoxBytes(const std::byte* src, std::byte* dst, size_t elemSize, const Box& box) {
  int64_t rows = 1;
  for (size_t k = 0; k + 1 < box.shape.size(); ++k) rows *= box.shape[k];
  OuterWalker walk(box, box.shape.size() - 1, 0);
  int64_t es = static_cast<int64_t>(elemSize);
  for (int64_t row = 0; row < rows; ++row, walk.next())
    for (int64_t i = 0; i < box.shape.back(); ++i)
      std::memcpy(dst + (walk.dst() + i * box.dst.back()) * es, src + (walk.src() + i * box.src.back()) * es, elemSize);
}

}  // namespace

void copyStrided(const std::byte* src, std::byte* dst, size_t elemSize, const Shape& shape,
                 std::span<const int64_t> srcStrides, std::span<const int64_t> dstStrides,
                 const RunContext& ctx) {
  if (shapeNumel(shape) == 0) return;
  Box box = simplify(shape, srcStrides, dstStrides);
  if (box.shape.empty()) {
    std::memcpy(dst, src, elemSize);
    return;
  }
  if (box.src.back() == 1 && box.dst.back() == 1) {
    // Contiguous rows on both sides: one memcpy per row.
    size_t rank = box.shape.size();
    int64_t rows = 1;
    for (size_t k = 0; k + 1 < rank; ++k) rows *= box.shape[k];
    int64_t es = static_cast<int64_t>(elemSize);
    size_t rowBytes = static_cast<size_t>(box.shape.back() * es);
    ctx.parallelFor(rows, std::max<int64_t>(1, PARALLEL_MIN_ELEMENTS / box.shape.back()), [&](int64_t b, int64_t e) {
      OuterWalker walk(box, rank - 1, b);
      for (int64_t row = b; row < e; ++row, walk.next())
        std::memcpy(dst + walk.dst() * es, src + walk.src() * es, rowBytes);
    });
    return;
  }
  switch (elemSize) {
    case 1: copyBoxTyped<uint8_t>(src, dst, box, ctx); return;
    case 2: copyBoxTyped<uint16_t>(src, dst, box, ctx); return;
    case 4: copyBoxTyped<uint32_t>(src, dst, box, ctx); return;
    case 8: copyBoxTyped<uint64_t>(src, dst, box, ctx); return;
    default: copyBoxBytes(src, dst, elemSize, box); return;
  }
}

namespace {
template <class T>
void fillTyped(std::byte* dst, int64_t count, const std::byte* value) {
  T v;
  std::memcpy(&v, value, sizeof v);
  std::fill_n(reinterpret_cast<T*>(dst), count, v);
}
}  // namespace

void fillElements(std::byte* dst, int64_t count, const std::byte* value, size_t elemSize) {
  if (count <= 0) return;
  switch (elemSize) {
    case 1: std::memset(dst, static_cast<int>(value[0]), static_cast<size_t>(count)); return;
    case 2: fillTyped<uint16_t>(dst, count, value); return;
    case 4: fillTyped<uint32_t>(dst, count, value); return;
    case 8: fillTyped<uint64_t>(dst, count, value); return;
    default:
      for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * static_cast<int64_t>(elemSize), value, elemSize);
  }
}

PreparedNode constantNode(Tensor value) {
  PreparedNode prepared;
  prepared.outputTypes = {value.type()};
  prepared.macs = 0;  // the analysis folds constants: nothing runs
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([value](std::span<const Tensor>, std::span<Tensor> outputs, const RunContext&) {
    copyIfDistinct(value, outputs[0]);
  });
  prepared.constantOutputs = std::vector<Tensor>{std::move(value)};
  return prepared;
}

}  // namespace cleave
