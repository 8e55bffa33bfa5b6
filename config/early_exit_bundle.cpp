#include "config/early_exit_bundle.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "config/bundle.h"
#include "runtime/analysis.h"

namespace cleave::config {
namespace {

// Each element of `key` (an array) as T; nullopt with an error when it is not that.
template <class T>
std::optional<std::vector<T>> arrayOf(TableReader& reader, std::string_view key, const char* what) {
  const toml::node* node = reader.node(key);
  if (!node) return std::nullopt;
  std::vector<T> out;
  const toml::array* list = node->as_array();
  if (list)
    for (const toml::node& n : *list) {
      std::optional<T> v = n.value<T>();
      if (!v) {
        list = nullptr;
        break;
      }
      out.push_back(*v);
    }
  if (!list) {
    reader.error(key, fmt::format("must be an array of {}", what));
    return std::nullopt;
  }
  return out;
}

bool sameThreshold(double a, double b) { return std::abs(a - b) <= 1e-9; }

}  // namespace

void readEarlyExitManifest(TableReader& section, const toml::node* blocks, const std::string& file,
                           ModelBundle& bundle, Diagnostics& diagnostics) {
  bundle.earlyExit.emplace();
  EarlyExitGraphs& graphs = *bundle.earlyExit;
  if (std::optional<std::string> stats = section.string("statistics", true))
    graphs.statisticsFile = graphPath(file, *stats, section, "statistics");
  if (std::optional<std::string> confidence = section.string("confidence", false); confidence && *confidence != "max_softmax")
    section.error("confidence", fmt::format("is \"{}\"; the only rule is \"max_softmax\"", *confidence));
  section.string("teacher", false);
  section.string("statistics_split", false);
  arrayOf<int64_t>(section, "hard_classes", "class indices");

  const toml::array* list = blocks ? blocks->as_array() : nullptr;
  if (!list || list->empty() || !list->is_array_of_tables()) {
    diagnostics.error(blocks ? blocks->source() : toml::source_region{},
                      "an early_exit bundle needs [[block]] tables, one per block, in order");
    return;
  }
  for (size_t k = 0; k < list->size(); ++k) {
    const bool last = k + 1 == list->size();
    TableReader reader(*list->get(k)->as_table(), fmt::format("[[block]] {}", k), diagnostics);
    EarlyExitBlockGraph block;
    if (std::optional<std::string> model = reader.string("model", true)) block.file = graphPath(file, *model, reader, "model");
    block.exit = reader.string("exit", true).value_or("");
    block.forward = arrayOf<std::string>(reader, "forward", "tensor names").value_or(std::vector<std::string>{});
    std::optional<std::vector<double>> thresholds = arrayOf<double>(reader, "thresholds", "numbers");
    if (last && thresholds && !thresholds->empty())
      reader.error("thresholds", "the last block's exit takes every request that reaches it: it has no thresholds");
    if (!last && (!thresholds || thresholds->empty()))
      reader.error("thresholds", "every block but the last needs candidate thresholds for its exit");
    if (thresholds && !std::is_sorted(thresholds->begin(), thresholds->end()))
      reader.error("thresholds", "must be in ascending order");
    if (thresholds && std::adjacent_find(thresholds->begin(), thresholds->end()) != thresholds->end())
      reader.error("thresholds", "lists a threshold twice");
    block.thresholds = thresholds.value_or(std::vector<double>{});
    reader.integer("parameters", false);  // the training's own figures, for people
    reader.integer("macs", false);
    reader.finish({"model", "exit", "forward", "thresholds", "parameters", "macs"});
    graphs.blocks.push_back(std::move(block));
  }
}

Result<planner::ExitStatistics> readExitStatistics(const std::string& file,
                                                    const std::vector<std::vector<double>>& candidates) {
  std::ifstream in(file);
  if (!in) return Error{fmt::format("{}: cannot read", file)};
  const size_t exits = candidates.size() + 1;
  std::vector<std::string> header;
  for (size_t e = 0; e + 1 < exits; ++e) header.push_back(fmt::format("t{}", e));
  for (size_t e = 0; e < exits; ++e) {
    header.push_back(fmt::format("exited_{}", e));
    header.push_back(fmt::format("correct_{}", e));
  }
  planner::ExitStatistics stats;
  stats.candidates = candidates;
  const size_t rows = stats.combinations();
  stats.exited.assign(rows, {});
  stats.correct.assign(rows, {});
  std::vector<bool> seen(rows, false);
  size_t filled = 0;
  bool haveHeader = false;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto error = [&](const std::string& what) { return Error{fmt::format("{}:{}: {}", file, number, what)}; };
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string> fields;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, ',');) fields.push_back(field);
    if (!haveHeader) {
      if (fields != header) return error(fmt::format("the header must be '{}'", fmt::join(header, ",")));
      haveHeader = true;
      continue;
    }
    if (fields.size() != header.size()) return error(fmt::format("{} fields, the header has {}", fields.size(), header.size()));
    std::vector<size_t> choice;
    for (size_t e = 0; e + 1 < exits; ++e) {
      char* end = nullptr;
      const double t = std::strtod(fields[e].c_str(), &end);
      if (fields[e].empty() || *end != '\0') return error(fmt::format("t{} is not a number", e));
      auto at = std::find_if(candidates[e].begin(), candidates[e].end(), [&](double c) { return sameThreshold(c, t); });
      if (at == candidates[e].end()) return error(fmt::format("t{} = {} is not one of block {}'s thresholds", e, fields[e], e));
      choice.push_back(static_cast<size_t>(at - candidates[e].begin()));
    }
    const size_t row = stats.row(choice);
    if (seen[row]) return error("this combination of thresholds appears twice");
    int64_t total = 0;
    for (size_t e = 0; e < exits; ++e) {
      int64_t counts[2];
      for (int j = 0; j < 2; ++j) {
        const std::string& field = fields[exits - 1 + 2 * e + static_cast<size_t>(j)];
        char* end = nullptr;
        const long long v = std::strtoll(field.c_str(), &end, 10);
        if (field.empty() || *end != '\0' || v < 0) return error(fmt::format("'{}' is not a count", field));
        counts[j] = v;
      }
      if (counts[1] > counts[0]) return error(fmt::format("more correct than exited at exit {}", e));
      stats.exited[row].push_back(counts[0]);
      stats.correct[row].push_back(counts[1]);
      total += counts[0];
    }
    if (filled == 0) stats.samples = total;
    if (total != stats.samples || total == 0)
      return error(fmt::format("the exits count {} inputs, earlier rows {}", total, stats.samples));
    seen[row] = true;
    ++filled;
  }
  if (!haveHeader) return Error{fmt::format("{}: no header line", file)};
  if (filled != rows)
    return Error{fmt::format("{}: {} rows, one per combination of the blocks' thresholds makes {}", file, filled, rows)};
  return stats;
}

Status finishEarlyExit(EarlyExitGraphs& graphs) {
  // Names and types of every block's inputs and outputs.
  for (const EarlyExitBlockGraph& block : graphs.blocks) {
    Result<GraphAnalysis> analysis = analyzeGraph(block.graph);
    if (!analysis) return Error{fmt::format("{}: {}", block.file, analysis.error().message)};
    for (const ValueInfo& v : block.graph.inputs) graphs.types[v.name] = analysis->typeOf(v.name);
    for (const ValueInfo& v : block.graph.outputs) graphs.types[v.name] = analysis->typeOf(v.name);
  }
  const EarlyExitBlockGraph& first = graphs.blocks.front();
  if (first.graph.inputs.size() != 1)
    return Error{fmt::format("{}: block 0 reads the request's one input; it has {} inputs", first.file,
                             first.graph.inputs.size())};
  // What exists before block k: the request's input and what earlier blocks forward.
  std::set<std::string> available{first.graph.inputs.front().name};
  for (size_t k = 0; k < graphs.blocks.size(); ++k) {
    const EarlyExitBlockGraph& block = graphs.blocks[k];
    for (const ValueInfo& in : block.graph.inputs)
      if (!available.count(in.name))
        return Error{fmt::format("{}: block {} reads '{}', which neither the request nor an earlier block's forward "
                                 "provides",
                                 block.file, k, in.name)};
    auto produces = [&](const std::string& name) {
      return std::any_of(block.graph.outputs.begin(), block.graph.outputs.end(),
                         [&](const ValueInfo& v) { return v.name == name; });
    };
    if (!produces(block.exit)) return Error{fmt::format("{}: block {} has no output '{}' (its exit)", block.file, k, block.exit)};
    const TensorType& scores = graphs.types.at(block.exit);
    if (scores.dtype != DType::F32 || scores.numel() < 2)
      return Error{fmt::format("{}: the exit '{}' is {}; class scores are float32, at least two", block.file, block.exit,
                               scores.toString())};
    for (const std::string& name : block.forward) {
      if (!produces(name)) return Error{fmt::format("{}: block {} forwards '{}', which it does not output", block.file, k, name)};
      available.insert(name);
    }
  }
  // What travels into block k: what blocks k and after read that exists before k.
  graphs.receives.assign(graphs.blocks.size(), {});
  std::set<std::string> producedBefore{first.graph.inputs.front().name};
  for (size_t k = 0; k < graphs.blocks.size(); ++k) {
    std::set<std::string> wanted;
    for (size_t j = k; j < graphs.blocks.size(); ++j)
      for (const ValueInfo& in : graphs.blocks[j].graph.inputs) wanted.insert(in.name);
    for (const std::string& name : wanted)
      if (producedBefore.count(name)) graphs.receives[k].push_back(name);
    for (const std::string& name : graphs.blocks[k].forward) producedBefore.insert(name);
  }
  std::vector<std::vector<double>> candidates;
  for (size_t k = 0; k + 1 < graphs.blocks.size(); ++k) candidates.push_back(graphs.blocks[k].thresholds);
  Result<planner::ExitStatistics> stats = readExitStatistics(graphs.statisticsFile, candidates);
  if (!stats) return stats.error();
  graphs.statistics = std::move(*stats);
  return {};
}

planner::EarlyExitModel earlyExitModel(const EarlyExitGraphs& graphs) {
  planner::EarlyExitModel model;
  for (size_t k = 0; k < graphs.blocks.size(); ++k) {
    const EarlyExitBlockGraph& block = graphs.blocks[k];
    planner::EarlyExitBlock b;
    b.graph = modelCosts(block.report);
    b.exit = block.exit;
    b.exitBytes = graphs.types.at(block.exit).bytes();
    b.receives = graphs.receives[k];
    for (const std::string& name : b.receives) b.receiveBytes += graphs.types.at(name).bytes();
    model.blocks.push_back(std::move(b));
  }
  model.statistics = graphs.statistics;
  return model;
}

}  // namespace cleave::config
