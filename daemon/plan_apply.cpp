#include "daemon/plan_apply.h"

#include <fmt/format.h>
#include <toml++/toml.h>

namespace cleave::daemon {
namespace {

// Each element of `key` as a string; nullopt when it is missing or holds anything else.
std::optional<std::vector<std::string>> stringList(const toml::table& t, const char* key) {
  const toml::array* list = t[key].as_array();
  if (!list) return std::nullopt;
  std::vector<std::string> out;
  for (const toml::node& n : *list)
    if (auto s = n.value<std::string>()) out.push_back(*s);
    else return std::nullopt;
  return out;
}

}  // namespace

Result<AppliedPlan> parsePlanApply(std::string_view toml) {
  toml::table t;
  try {
    t = toml::parse(toml, std::string_view("plan"));
  } catch (const toml::parse_error& e) {
    return Error{fmt::format("plan apply: line {}: {}", e.source().begin.line, e.description())};
  }
  AppliedPlan applied;
  const std::string strategy = t["strategy"].value<std::string>().value_or("split");
  std::optional<planner::Strategy> parsed = planner::strategyFromName(strategy);
  if (!parsed) return Error{fmt::format("plan apply: unknown strategy '{}'", strategy)};
  applied.strategy = *parsed;
  switch (applied.strategy) {
    case planner::Strategy::Split: {
      std::optional<std::vector<std::string>> route = stringList(t, "route");
      const toml::array* cuts = t["cuts"].as_array();
      if (!t["route"].as_array() || !cuts)
        return Error{"plan apply: a split plan needs 'route' (device names) and 'cuts' (positions)"};
      if (!route) return Error{"plan apply: 'route' must hold device names"};
      applied.route = std::move(*route);
      for (const toml::node& n : *cuts)
        if (auto v = n.value<int64_t>()) applied.cuts.push_back(*v);
        else return Error{"plan apply: 'cuts' must hold integers"};
      return applied;
    }
    case planner::Strategy::Nonn: {
      std::optional<std::vector<std::string>> students = stringList(t, "students");
      std::optional<std::string> fusion = t["fusion"].value<std::string>();
      if (!students || !fusion)
        return Error{"plan apply: a nonn plan needs 'students' (a device name per student, \"\" for one left out) and "
                     "'fusion' (a device name)"};
      applied.students = std::move(*students);
      applied.fusion = std::move(*fusion);
      return applied;
    }
    case planner::Strategy::EarlyExit: {
      std::optional<std::vector<std::string>> blocks = stringList(t, "blocks");
      const toml::array* thresholds = t["thresholds"].as_array();
      if (!blocks || !thresholds)
        return Error{"plan apply: an early_exit plan needs 'blocks' (a device name per block) and 'thresholds' (one "
                     "per exit but the last)"};
      applied.blocks = std::move(*blocks);
      for (const toml::node& n : *thresholds)
        if (auto v = n.value<double>()) applied.thresholds.push_back(*v);
        else return Error{"plan apply: 'thresholds' must hold numbers"};
      return applied;
    }
    default:
      return Error{fmt::format("plan apply: strategy '{}' cannot be applied by hand yet", strategy)};
  }
}

}  // namespace cleave::daemon
