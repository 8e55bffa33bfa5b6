#include "runtime/op.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include <fmt/format.h>

#include "runtime/thread_pool.h"

namespace cleave {

std::string_view opClassName(OpClass opClass) {
  switch (opClass) {
    case OpClass::Conv: return "conv";
    case OpClass::Depthwise: return "depthwise";
    case OpClass::Gemm: return "gemm";
    case OpClass::Elementwise: return "elementwise";
    case OpClass::Other: return "other";
  }
  return "?";
}

int RunContext::threads() const { return pool ? pool->size() : 1; }

void RunContext::parallelFor(int64_t count, int64_t minChunk,
                             const std::function<void(int64_t, int64_t)>& fn) const {
  parallelChunks(count, minChunk, [&](int64_t, int64_t begin, int64_t end) { fn(begin, end); });
}

void RunContext::parallelChunks(int64_t count, int64_t minChunk,
                                const std::function<void(int64_t, int64_t, int64_t)>& fn) const {
  if (count <= 0) return;
  int64_t chunks = std::min<int64_t>(threads(), std::max<int64_t>(1, count / std::max<int64_t>(minChunk, 1)));
  if (chunks <= 1) {
    fn(0, 0, count);
    return;
  }
  pool->run(chunks, [&](int64_t chunk) {
    int64_t begin = count * chunk / chunks;
    int64_t end = count * (chunk + 1) / chunks;
    fn(chunk, begin, end);
  });
}

namespace {
int64_t roundUpToAlignment(int64_t bytes) {
  const auto alignment = static_cast<int64_t>(TENSOR_ALIGNMENT);
  return (bytes + alignment - 1) / alignment * alignment;
}
}  // namespace

int64_t alignedFloatBytes(int64_t floats) { return roundUpToAlignment(floats * static_cast<int64_t>(sizeof(float))); }

Workspace::Workspace(int64_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  void* memory = std::aligned_alloc(TENSOR_ALIGNMENT, static_cast<size_t>(roundUpToAlignment(bytes)));
  if (!memory) throw std::bad_alloc();
  memory_ = std::shared_ptr<std::byte>(static_cast<std::byte*>(memory), [](std::byte* p) { std::free(p); });
}

RunContext Workspace::context(ThreadPool* pool) const {
  return RunContext{pool, pool ? pool->handle() : nullptr, std::span<std::byte>(memory_.get(), static_cast<size_t>(bytes_))};
}

void runWithOwnWorkspace(const Kernel& kernel, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                         ThreadPool* pool) {
  Workspace workspace(kernel.workspaceBytes(pool ? pool->size() : 1));
  kernel.run(inputs, outputs, workspace.context(pool));
}

float* RunContext::workspaceFloats(int64_t chunk, int64_t bytesPerChunk) const {
  return reinterpret_cast<float*>(workspace.data() + chunk * roundUpToAlignment(bytesPerChunk));
}

Error NodeContext::error(const std::string& what) const {
  return Error{fmt::format("node '{}' ({}): {}", node.name, node.opType, what)};
}

Status requireInputCount(const NodeContext& ctx, size_t min, size_t max) {
  size_t present = ctx.inputCount();
  while (present > 0 && !ctx.hasInput(present - 1)) --present;  // trailing omitted inputs
  if (present < min || ctx.inputCount() > max) {
    if (min == max) return ctx.error(fmt::format("expects {} inputs, got {}", min, ctx.inputCount()));
    return ctx.error(fmt::format("expects {} to {} inputs, got {}", min, max, ctx.inputCount()));
  }
  for (size_t i = 0; i < min; ++i)
    if (!ctx.hasInput(i)) return ctx.error(fmt::format("input {} is required", i));
  return {};
}

Status requireDType(const NodeContext& ctx, size_t input, std::initializer_list<DType> allowed) {
  DType d = ctx.input(input).dtype;
  if (std::find(allowed.begin(), allowed.end(), d) != allowed.end()) return {};
  std::vector<std::string_view> names;
  for (DType a : allowed) names.push_back(dtypeName(a));
  return ctx.error(fmt::format("input {} has type {}, expected {}", input, dtypeName(d), fmt::join(names, " or ")));
}

Status requireRank(const NodeContext& ctx, size_t input, size_t minRank, size_t maxRank) {
  size_t rank = ctx.input(input).shape.size();
  if (rank < minRank || rank > maxRank)
    return ctx.error(fmt::format("input {} has rank {} ({}), expected {} to {}", input, rank,
                                 shapeString(ctx.input(input).shape), minRank, maxRank));
  return {};
}

Result<int64_t> normalizeAxis(const NodeContext& ctx, int64_t axis, size_t rank) {
  int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) return ctx.error(fmt::format("axis {} out of range for rank {}", axis, rank));
  return axis < 0 ? axis + r : axis;
}

Result<Shape> broadcastShapes(const NodeContext& ctx, const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return ctx.error(fmt::format("shapes {} and {} do not broadcast", shapeString(a), shapeString(b)));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace cleave
