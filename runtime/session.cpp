#include "runtime/session.h"

#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "runtime/blas.h"
#include "runtime/fast_kernels.h"
#include "runtime/layout_plan.h"
#include "runtime/memory_plan.h"

namespace cleave {

Session::~Session() = default;

namespace {

// A step doing less work than this (MACs, or values a conversion moves) runs on the calling
// thread even in a threaded session. Handing it to a second thread costs more than it saves:
// per node, one against two threads on the seven benchmark networks (2-vCPU AMD EPYC VM),
// convolutions under 1e5 MACs took 1.1-2.4x longer on two threads and those over 3e5 0.6-0.9x;
// other ops (elementwise, pooling, data movement) under 1e5 values 1.5-2.2x, around 3e5 0.95x,
// over 1e6 0.54x. Two threads made mobilenet_v3_small, whose ops are mostly small, slower
// than one (2.0 against 1.6 ms) before this.
constexpr int64_t MIN_THREADED_WORK = 300'000;

// Fast kernels may read up to this many bytes past a tensor (XNNPACK's micro-kernels load whole
// vectors); the arena's end carries the slack so the last tensor in it is covered too.
constexpr int64_t ARENA_READ_SLACK = 64;

// Zeroed memory aligned for any tensor, with the read slack past its end.
std::shared_ptr<std::byte> alignedBuffer(int64_t bytes) {
  const auto alignment = static_cast<int64_t>(TENSOR_ALIGNMENT);
  size_t size = static_cast<size_t>((bytes + alignment - 1) / alignment * alignment + ARENA_READ_SLACK);
  void* memory = std::aligned_alloc(TENSOR_ALIGNMENT, size);
  if (!memory) throw std::bad_alloc();
  std::memset(memory, 0, size);
  return std::shared_ptr<std::byte>(static_cast<std::byte*>(memory), [](std::byte* p) { std::free(p); });
}

}  // namespace

Result<std::unique_ptr<Session>> Session::create(const Graph& graph, SessionOptions options) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();

  keepBlasOnCallingThread();  // a one-thread session means one thread, BLAS included
  std::unique_ptr<Session> s(new Session());
  s->options_ = options;
  s->graph_ = graph;
  s->analysis_ = std::move(analysis).value();
  if (options.fastKernels) selectFastKernels(graph, s->analysis_);
  if (options.threads > 1) s->pool_ = std::make_unique<ThreadPool>(options.threads);
  const LayoutPlan layouts = planLayouts(graph, s->analysis_);
  const GraphAnalysis& an = s->analysis_;

  std::unordered_map<std::string, int64_t> slotOf;      // each value in the layout it is produced in
  std::unordered_map<std::string, Layout> layoutOf;     // values that need converting: produced layout
  std::unordered_map<std::string, int64_t> convertedSlotOf;  // their copy in the other layout
  auto newSlot = [&]() {
    s->values_.emplace_back();
    return static_cast<int64_t>(s->values_.size() - 1);
  };
  for (const ValueInfo& input : graph.inputs) {
    s->inputSlots_.push_back(slotOf[input.name] = newSlot());
    if (needsConversion(an, input.name)) layoutOf[input.name] = Layout::Nchw;
  }
  s->inputs_ = graph.inputs;
  for (const auto& [name, tensor] : an.constants) s->values_[static_cast<size_t>(slotOf[name] = newSlot())] = tensor;

  // Every slot a step writes maps to the arena buffer holding it; an aliasing step's output maps
  // to its input's buffer. Views of graph inputs have no buffer and are remade each run.
  std::vector<BufferRequest> requests;
  std::unordered_map<int64_t, int64_t> requestOfSlot;
  std::vector<Shape> viewShapes;  // per step output slot, the shape its arena view has
  std::unordered_map<int64_t, Shape> viewShapeOf;
  auto extendLife = [&](int64_t slot, int64_t step) {
    auto request = requestOfSlot.find(slot);
    if (request != requestOfSlot.end()) requests[static_cast<size_t>(request->second)].lastStep = step;
  };
  auto addBuffer = [&](int64_t slot, const TensorType& type, const Shape& viewShape, int64_t step) {
    requestOfSlot[slot] = static_cast<int64_t>(requests.size());
    requests.push_back({type.bytes(), step, step});
    viewShapeOf[slot] = viewShape;
  };
  // The slot holding `value` in `layout`, adding a conversion step the first time it is needed.
  auto slotIn = [&](const std::string& value, Layout layout) -> int64_t {
    if (value.empty()) return -1;
    int64_t slot = slotOf.at(value);
    auto produced = layoutOf.find(value);
    if (produced == layoutOf.end() || produced->second == layout) return slot;
    auto converted = convertedSlotOf.find(value);
    if (converted != convertedSlotOf.end()) return converted->second;
    const TensorType& type = an.typeOf(value);
    Step step;
    step.conversion = makeLayoutConversion(produced->second, type.shape, type.dtype);
    step.kernel = step.conversion.get();
    step.threaded = type.numel() >= MIN_THREADED_WORK;
    step.convertedValue = value;
    int64_t stepIndex = static_cast<int64_t>(s->steps_.size());
    step.inputSlots = {slot};
    extendLife(slot, stepIndex);
    step.inputScratch.resize(1);
    int64_t out = newSlot();
    step.outputSlots = {out};
    addBuffer(out, type, layout == Layout::Nhwc ? nhwcShape(type.shape) : type.shape, stepIndex);
    s->steps_.push_back(std::move(step));
    ++s->layoutConversions_;
    return convertedSlotOf[value] = out;
  };

  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (an.constantNode[n]) continue;
    const Node& node = graph.nodes[n];
    const PreparedNode& prepared = an.nodes[n];
    const Layout layout = layouts.nodeLayout[n];
    Step step;
    step.node = n;
    step.kernel = layout == Layout::Nhwc && prepared.nhwcKernel ? prepared.nhwcKernel.get() : prepared.kernel.get();
    step.threaded = prepared.macs >= MIN_THREADED_WORK;
    if (layout == Layout::Nhwc) ++s->nhwcNodes_;
    for (const std::string& in : node.inputs) step.inputSlots.push_back(slotIn(in, layout));
    int64_t stepIndex = static_cast<int64_t>(s->steps_.size());
    for (int64_t slot : step.inputSlots) extendLife(slot, stepIndex);
    step.inputScratch.resize(node.inputs.size());
    const std::string firstInput = node.inputs.empty() ? "" : node.inputs[0];
    step.alias = prepared.aliasesInput && !firstInput.empty() && !an.isConstant(firstInput) &&
                 node.outputs.size() == 1;
    for (size_t o = 0; o < prepared.outputTypes.size(); ++o) {
      const std::string name = o < node.outputs.size() ? node.outputs[o] : "";
      int64_t slot = newSlot();
      if (!name.empty()) {
        slotOf[name] = slot;
        if (needsConversion(an, name)) layoutOf[name] = layout;
      }
      step.outputSlots.push_back(slot);
      const TensorType& type = prepared.outputTypes[o];
      if (step.alias) {
        // Shares input 0's buffer, which must then live as long as this view does.
        auto root = requestOfSlot.find(step.inputSlots[0]);
        if (root != requestOfSlot.end()) requestOfSlot[slot] = root->second;
      } else {
        bool nhwc = layout == Layout::Nhwc && type.shape.size() == 4;
        addBuffer(slot, type, nhwc ? nhwcShape(type.shape) : type.shape, stepIndex);
      }
    }
    s->steps_.push_back(std::move(step));
  }
  // Graph outputs are NCHW, copied out after the last step.
  for (const ValueInfo& out : graph.outputs) {
    int64_t slot = slotIn(out.name, Layout::Nchw);
    s->outputSlots_.push_back(slot);
    s->outputs_.push_back({out.name, an.typeOf(out.name)});
  }
  int64_t end = static_cast<int64_t>(s->steps_.size());
  for (int64_t slot : s->outputSlots_) extendLife(slot, end);

  MemoryPlan plan = planMemory(requests);
  s->arenaBytes_ = plan.arenaBytes;
  s->peakLiveBytes_ = plan.peakLiveBytes;
  s->arena_ = alignedBuffer(std::max<int64_t>(plan.arenaBytes, ARENA_ALIGNMENT));

  int64_t workspaceBytes = 0;
  for (Step& step : s->steps_) {
    if (!step.kernel) continue;
    s->heldBytes_ += step.kernel->heldBytes();
    workspaceBytes = std::max(workspaceBytes, step.kernel->workspaceBytes(options.threads));
  }
  s->workspace_ = Workspace(workspaceBytes);

  for (Step& step : s->steps_) {
    if (step.alias) continue;
    for (size_t o = 0; o < step.outputSlots.size(); ++o) {
      int64_t slot = step.outputSlots[o];
      int64_t request = requestOfSlot.at(slot);
      std::byte* data = s->arena_.get() + plan.offsets[static_cast<size_t>(request)];
      DType type = step.conversion ? an.typeOf(step.convertedValue).dtype : an.nodes[step.node].outputTypes[o].dtype;
      Tensor view = Tensor::view(type, viewShapeOf.at(slot), s->arena_, data);
      step.outputs.push_back(view);
      s->values_[static_cast<size_t>(slot)] = view;
    }
  }
  return s;
}

Result<std::vector<Tensor>> Session::run(const std::vector<Tensor>& inputs) {
  if (inputs.size() != inputs_.size())
    return Error{fmt::format("model takes {} inputs, got {}", inputs_.size(), inputs.size())};
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].type() != inputs_[i].type)
      return Error{fmt::format("input '{}' expects {}, got {}", inputs_[i].name, inputs_[i].type.toString(),
                               inputs[i].type().toString())};
    values_[static_cast<size_t>(inputSlots_[i])] = inputs[i];
  }
  const RunContext threaded = workspace_.context(pool_.get());
  const RunContext serial = workspace_.context(nullptr);
  const bool usePool = pool_ && (!options_.measurePool || poolChoice_.usePool());
  const auto runStart = std::chrono::steady_clock::now();
  bool workersAwake = false;  // they spin for a while after a threaded step
  for (Step& step : steps_) {
    const bool onPool = usePool && step.threaded;
    workersAwake = workersAwake || onPool;
    const RunContext& ctx = onPool ? threaded : serial;
    if (step.alias) {
      values_[static_cast<size_t>(step.outputSlots[0])] =
          values_[static_cast<size_t>(step.inputSlots[0])].reshaped(analysis_.nodes[step.node].outputTypes[0].shape);
      continue;
    }
    for (size_t i = 0; i < step.inputSlots.size(); ++i)
      step.inputScratch[i] = step.inputSlots[i] < 0 ? Tensor{} : values_[static_cast<size_t>(step.inputSlots[i])];
    if (options_.profile) {
      auto start = std::chrono::steady_clock::now();
      step.kernel->run(step.inputScratch, step.outputs, ctx);
      step.totalMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      ++step.calls;
    } else {
      step.kernel->run(step.inputScratch, step.outputs, ctx);
    }
  }
  if (workersAwake) pool_->park();  // nothing to spin for between runs
  if (pool_ && options_.measurePool) {
    const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - runStart;
    poolChoice_.record(elapsed.count());
  }
  std::vector<Tensor> outputs;
  // A layout-free [N, C, 1, 1] output may have been stored under its NHWC shape; same bytes.
  for (size_t o = 0; o < outputSlots_.size(); ++o)
    outputs.push_back(values_[static_cast<size_t>(outputSlots_[o])].reshaped(outputs_[o].type.shape).clone());
  // Drop references to the caller's inputs so they are not kept alive by the session.
  for (int64_t slot : inputSlots_) values_[static_cast<size_t>(slot)] = Tensor{};
  return outputs;
}

void Session::resetProfile() {
  for (Step& step : steps_) {
    step.totalMs = 0.0;
    step.calls = 0;
  }
}

std::vector<NodeProfile> Session::profile() const {
  std::vector<NodeProfile> rows;
  for (const Step& step : steps_) {
    if (step.conversion) {
      rows.push_back({step.convertedValue, "LayoutConversion", OpClass::Other, 0, step.totalMs, step.calls, true});
      continue;
    }
    const Node& node = graph_.nodes[step.node];
    const PreparedNode& prepared = analysis_.nodes[step.node];
    rows.push_back({node.name, node.opType, prepared.opClass, prepared.macs, step.totalMs, step.calls, false});
  }
  return rows;
}

}  // namespace cleave
