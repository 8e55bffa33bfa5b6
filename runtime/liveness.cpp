#include "runtime/liveness.h"

#include <unordered_map>

namespace cleave {

Liveness computeLiveness(const Graph& graph, const GraphAnalysis& analysis) {
  Liveness live;
  std::unordered_map<std::string, size_t> index;
  auto add = [&](const std::string& name, int64_t producer, bool isInput) {
    index[name] = live.values.size();
    live.values.push_back({name, analysis.typeOf(name).bytes(), producer, producer, isInput});
  };
  for (const ValueInfo& input : graph.inputs) add(input.name, -1, true);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (analysis.constantNode[n]) continue;
    int64_t position = static_cast<int64_t>(live.runnable.size());
    live.runnable.push_back(n);
    for (const std::string& in : graph.nodes[n].inputs) {
      auto it = index.find(in);
      if (it != index.end()) live.values[it->second].lastUse = position;
    }
    for (const std::string& out : graph.nodes[n].outputs)
      if (!out.empty()) add(out, position, false);
  }
  for (const ValueInfo& out : graph.outputs) {
    auto it = index.find(out.name);
    if (it != index.end()) live.values[it->second].lastUse = live.positions();
  }
  return live;
}

std::vector<const ValueLife*> Liveness::crossing(int64_t p) const {
  std::vector<const ValueLife*> out;
  for (const ValueLife& v : values)
    if (v.producer < p && v.lastUse >= p) out.push_back(&v);
  return out;
}

std::vector<int64_t> Liveness::liveBytesPerPosition() const {
  std::vector<int64_t> bytes(runnable.size(), 0);
  for (const ValueLife& v : values) {
    int64_t first = std::max<int64_t>(v.producer, 0);
    int64_t last = std::min<int64_t>(v.lastUse, positions() - 1);
    for (int64_t i = first; i <= last; ++i) bytes[static_cast<size_t>(i)] += v.bytes;
  }
  return bytes;
}

}  // namespace cleave
