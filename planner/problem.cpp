#include "planner/problem.h"

#include <fmt/format.h>

namespace cleave::planner {

const char* strategyName(Strategy strategy) {
  switch (strategy) {
    case Strategy::Split: return "split";
    case Strategy::Clio: return "clio";
    case Strategy::Nonn: return "nonn";
    case Strategy::EarlyExit: return "early_exit";
    case Strategy::Auto: return "auto";
  }
  return "auto";
}

std::optional<Strategy> strategyFromName(const std::string& name) {
  for (Strategy s : {Strategy::Split, Strategy::Clio, Strategy::Nonn, Strategy::EarlyExit, Strategy::Auto})
    if (name == strategyName(s)) return s;
  return std::nullopt;
}

std::string Objective::describe() const {
  if (energyWeight == 0) return "latency";
  if (latencyWeight == 0) return "energy";
  return fmt::format("weighted ({} x seconds + {} x joules)", latencyWeight, energyWeight);
}

}  // namespace cleave::planner
