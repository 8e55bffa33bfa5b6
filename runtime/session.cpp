#include "runtime/session.h"

#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "runtime/blas.h"
#include "runtime/memory_plan.h"

namespace cleave {

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(const Graph& graph, SessionOptions options) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();

  keepBlasOnCallingThread();  // a one-thread session means one thread, BLAS included
  std::unique_ptr<Session> s(new Session());
  s->options_ = options;
  s->graph_ = graph;
  s->analysis_ = std::move(analysis).value();
  if (options.threads > 1) s->pool_ = std::make_unique<ThreadPool>(options.threads);

  std::unordered_map<std::string, int64_t> slotOf;
  auto newSlot = [&](const std::string& name) {
    int64_t slot = static_cast<int64_t>(s->values_.size());
    s->values_.emplace_back();
    if (!name.empty()) slotOf[name] = slot;
    return slot;
  };
  for (const ValueInfo& input : graph.inputs) s->inputSlots_.push_back(newSlot(input.name));
  s->inputs_ = graph.inputs;
  for (const auto& [name, tensor] : s->analysis_.constants) s->values_[static_cast<size_t>(newSlot(name))] = tensor;

  // Every slot a step writes maps to the arena buffer holding it; an aliasing step's output maps
  // to its input's buffer. Views of graph inputs have no buffer and are remade each run.
  std::vector<BufferRequest> requests;
  std::unordered_map<int64_t, int64_t> requestOfSlot;

  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (s->analysis_.constantNode[n]) continue;
    const Node& node = graph.nodes[n];
    PreparedNode& prepared = s->analysis_.nodes[n];
    Step step;
    step.node = n;
    int64_t stepIndex = static_cast<int64_t>(s->steps_.size());
    for (const std::string& in : node.inputs) {
      int64_t slot = in.empty() ? -1 : slotOf.at(in);
      step.inputSlots.push_back(slot);
      auto request = requestOfSlot.find(slot);
      if (request != requestOfSlot.end())
        requests[static_cast<size_t>(request->second)].lastStep = stepIndex;
    }
    step.inputScratch.resize(node.inputs.size());
    const std::string firstInput = node.inputs.empty() ? "" : node.inputs[0];
    step.alias = prepared.aliasesInput && !firstInput.empty() && !s->analysis_.isConstant(firstInput) &&
                 node.outputs.size() == 1;
    for (size_t o = 0; o < prepared.outputTypes.size(); ++o) {
      const std::string name = o < node.outputs.size() ? node.outputs[o] : "";
      int64_t slot = newSlot(name);
      step.outputSlots.push_back(slot);
      if (step.alias) {
        // Shares input 0's buffer, which must then live as long as this view does.
        auto root = requestOfSlot.find(step.inputSlots[0]);
        if (root != requestOfSlot.end()) requestOfSlot[slot] = root->second;
      } else {
        requestOfSlot[slot] = static_cast<int64_t>(requests.size());
        requests.push_back({prepared.outputTypes[o].bytes(), stepIndex, stepIndex});
      }
    }
    s->steps_.push_back(std::move(step));
  }
  // Graph outputs are copied out after the last step.
  int64_t end = static_cast<int64_t>(s->steps_.size());
  for (const ValueInfo& out : graph.outputs) {
    int64_t slot = slotOf.at(out.name);
    s->outputSlots_.push_back(slot);
    s->outputs_.push_back({out.name, s->analysis_.typeOf(out.name)});
    auto request = requestOfSlot.find(slot);
    if (request != requestOfSlot.end()) requests[static_cast<size_t>(request->second)].lastStep = end;
  }

  MemoryPlan plan = planMemory(requests);
  s->arenaBytes_ = plan.arenaBytes;
  s->peakLiveBytes_ = plan.peakLiveBytes;
  size_t arenaSize = static_cast<size_t>(std::max<int64_t>(plan.arenaBytes, ARENA_ALIGNMENT));
  void* memory = std::aligned_alloc(TENSOR_ALIGNMENT, arenaSize);
  if (!memory) throw std::bad_alloc();
  std::memset(memory, 0, arenaSize);
  s->arena_ = std::shared_ptr<std::byte>(static_cast<std::byte*>(memory), [](std::byte* p) { std::free(p); });

  for (Step& step : s->steps_) {
    const PreparedNode& prepared = s->analysis_.nodes[step.node];
    for (size_t o = 0; o < step.outputSlots.size(); ++o) {
      int64_t slot = step.outputSlots[o];
      if (step.alias) continue;
      int64_t request = requestOfSlot.at(slot);
      std::byte* data = s->arena_.get() + plan.offsets[static_cast<size_t>(request)];
      Tensor view = Tensor::view(prepared.outputTypes[o].dtype, prepared.outputTypes[o].shape, s->arena_, data);
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
  RunContext ctx{pool_.get()};
  for (Step& step : steps_) {
    const PreparedNode& prepared = analysis_.nodes[step.node];
    if (step.alias) {
      values_[static_cast<size_t>(step.outputSlots[0])] =
          values_[static_cast<size_t>(step.inputSlots[0])].reshaped(prepared.outputTypes[0].shape);
      continue;
    }
    for (size_t i = 0; i < step.inputSlots.size(); ++i)
      step.inputScratch[i] = step.inputSlots[i] < 0 ? Tensor{} : values_[static_cast<size_t>(step.inputSlots[i])];
    if (options_.profile) {
      auto start = std::chrono::steady_clock::now();
      prepared.kernel->run(step.inputScratch, step.outputs, ctx);
      step.totalMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      ++step.calls;
    } else {
      prepared.kernel->run(step.inputScratch, step.outputs, ctx);
    }
  }
  std::vector<Tensor> outputs;
  for (int64_t slot : outputSlots_) outputs.push_back(values_[static_cast<size_t>(slot)].clone());
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
    const Node& node = graph_.nodes[step.node];
    const PreparedNode& prepared = analysis_.nodes[step.node];
    rows.push_back({node.name, node.opType, prepared.opClass, prepared.macs, step.totalMs, step.calls});
  }
  return rows;
}

}  // namespace cleave
