// The contract between the engine and one operator. Prepare runs once per node: it checks the
// attributes, input types and shapes, infers the output types, counts MACs and builds a Kernel.
// Kernel::run then works on validated data with no checks of its own (TFLite Micro's
// Prepare/Eval split).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/graph.h"
#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave {

class ThreadPool;
}  // namespace cleave
struct pthreadpool;  // XNNPACK's thread pool (pthreadpool.h), opaque here
namespace cleave {

// Cost-model class of a node: the planner charges each class at its own MAC/s.
enum class OpClass : uint8_t { Conv, Depthwise, Gemm, Elementwise, Other };
std::string_view opClassName(OpClass opClass);

// What a kernel may use at run time.
struct RunContext {
  ThreadPool* pool = nullptr;  // null: single-threaded
  // The same pool's threads as XNNPACK wants them (ThreadPool::handle); null when single-threaded.
  pthreadpool* xnnThreadpool = nullptr;
  // The session's working memory, at least Kernel::workspaceBytes(threads()) bytes, aligned to
  // TENSOR_ALIGNMENT. Shared by every kernel of the session (they run one at a time), so its
  // contents do not survive from one run() to the next.
  std::span<std::byte> workspace{};

  int threads() const;
  // Calls fn(begin, end) over [0, count) split into chunks, on the pool when there is one.
  void parallelFor(int64_t count, int64_t minChunk, const std::function<void(int64_t, int64_t)>& fn) const;
  // The same with the chunk's index, which is below threads(): a kernel gives each chunk its own
  // slice of the workspace.
  void parallelChunks(int64_t count, int64_t minChunk,
                      const std::function<void(int64_t chunk, int64_t begin, int64_t end)>& fn) const;
  // Slice `chunk` of the workspace cut into slices of `bytesPerChunk` (rounded up to the alignment).
  float* workspaceFloats(int64_t chunk, int64_t bytesPerChunk) const;
};

// Bytes of `floats` floats rounded up to TENSOR_ALIGNMENT, the unit workspaces are cut in.
int64_t alignedFloatBytes(int64_t floats);

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Inputs follow the node's input list (an omitted optional input is an empty Tensor); outputs
  // are pre-allocated with the types prepare inferred.
  virtual void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const = 0;
  // Memory the kernel keeps for the session's lifetime beyond the graph's own tensors (weights
  // re-laid out at prepare, such as Winograd's transformed filters). The planner charges it.
  virtual int64_t heldBytes() const { return 0; }
  // Working memory one run needs with `threads` intra-op threads, lent by the session through
  // RunContext::workspace. The session allocates the largest any of its kernels asks for, so the
  // planner charges a stage its maximum, not the sum.
  virtual int64_t workspaceBytes(int threads) const {
    (void)threads;
    return 0;
  }
};

// Working memory for kernel runs: the session's, or one of its own for a kernel run outside a
// session (constant folding, operator tests).
class Workspace {
 public:
  explicit Workspace(int64_t bytes = 0);
  int64_t bytes() const { return bytes_; }
  // A context with this workspace and `pool`'s threads (single-threaded without one).
  RunContext context(ThreadPool* pool = nullptr) const;

 private:
  std::shared_ptr<std::byte> memory_;
  int64_t bytes_ = 0;
};

// Runs `kernel` with a workspace of its size, on `pool` when given.
void runWithOwnWorkspace(const Kernel& kernel, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                         ThreadPool* pool = nullptr);

// Everything prepare sees about a node.
struct NodeContext {
  const Node& node;
  std::span<const TensorType> inputTypes;     // undefined type for an omitted optional input
  std::span<const Tensor* const> constInputs;  // the value when known before run time, else null
  int64_t opset = 13;

  size_t inputCount() const { return inputTypes.size(); }
  bool hasInput(size_t i) const { return i < inputTypes.size() && inputTypes[i].defined(); }
  const TensorType& input(size_t i) const { return inputTypes[i]; }
  const Tensor* constant(size_t i) const { return i < constInputs.size() ? constInputs[i] : nullptr; }
  const Attributes& attributes() const { return node.attributes; }
  // An error that names the node: "node 'conv1' (Conv): <what>".
  Error error(const std::string& what) const;
};

struct PreparedNode {
  std::vector<TensorType> outputTypes;
  int64_t macs = 0;
  OpClass opClass = OpClass::Other;
  std::unique_ptr<Kernel> kernel;
  // Set when the outputs are known at prepare time (Shape of a static shape, ops over
  // constants that chose to compute eagerly); lets analysis propagate constants.
  std::optional<std::vector<Tensor>> constantOutputs;
  // True when output 0 may share input 0's storage (reshape-like views, Identity).
  bool aliasesInput = false;
  // True when `kernel` gives the right answer whatever the layout its rank-4 inputs share
  // (elementwise over equal shapes), so it may run on channels-last data unchanged.
  bool layoutAgnostic = false;
  // Optional second kernel for channels-last data: its non-constant rank-4 inputs and its rank-4
  // outputs are NHWC (layout.h). Set by selectFastKernels, never by prepare; the session's
  // layout plan decides which of the two runs.
  std::unique_ptr<Kernel> nhwcKernel;
};

// Checks a node and builds its kernel. Implemented per op in runtime/ops/.
using PrepareFn = Result<PreparedNode> (*)(const NodeContext&);

// Kernel built from a lambda; convenient for small ops.
template <class F>
class LambdaKernel final : public Kernel {
 public:
  explicit LambdaKernel(F fn) : fn_(std::move(fn)) {}
  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    fn_(inputs, outputs, ctx);
  }

 private:
  F fn_;
};
template <class F>
std::unique_ptr<Kernel> makeKernel(F fn) {
  return std::make_unique<LambdaKernel<F>>(std::move(fn));
}

// Common checks used by many ops' prepare functions.
Status requireInputCount(const NodeContext& ctx, size_t min, size_t max);
Status requireDType(const NodeContext& ctx, size_t input, std::initializer_list<DType> allowed);
Status requireRank(const NodeContext& ctx, size_t input, size_t minRank, size_t maxRank);
// Normalises a possibly negative axis against a rank; error when out of range.
Result<int64_t> normalizeAxis(const NodeContext& ctx, int64_t axis, size_t rank);
// NumPy broadcasting of two shapes; error when incompatible.
Result<Shape> broadcastShapes(const NodeContext& ctx, const Shape& a, const Shape& b);

}  // namespace cleave
