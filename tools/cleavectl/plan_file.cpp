#include "tools/cleavectl/plan_file.h"

#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

namespace cleave::cli {
namespace {

// A TOML basic string: the daemon checks the names, but a quote in a file must not change the
// document's structure.
std::string tomlString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// The JSON plan's stages as the TOML form: a split plan's route and cuts, a nonn plan's student
// devices by index and the fusion's device, an early_exit plan's block devices and thresholds.
Result<std::string> tomlOfJsonPlan(const nlohmann::json& plan, const std::string& name) {
  const std::string strategy = plan.value("strategy", "split");
  const nlohmann::json& stages = plan.at("stages");
  if (!stages.is_array() || stages.empty()) return Error{fmt::format("{}: the plan has no stages", name)};
  if (strategy == "split") {
    std::vector<std::string> route;
    for (const nlohmann::json& stage : stages) route.push_back(tomlString(stage.at("device").get<std::string>()));
    std::vector<int64_t> cuts = plan.at("cuts").get<std::vector<int64_t>>();
    return fmt::format("strategy = \"split\"\nroute = [{}]\ncuts = [{}]\n", fmt::join(route, ", "),
                       fmt::join(cuts, ", "));
  }
  if (strategy == "nonn") {
    std::map<size_t, std::string> students;
    std::string fusion;
    for (const nlohmann::json& stage : stages) {
      const std::string graph = stage.at("graph").get<std::string>();
      if (graph == "student") students[stage.at("graph_index").get<size_t>()] = stage.at("device").get<std::string>();
      if (graph == "fusion") fusion = stage.at("device").get<std::string>();
    }
    for (const nlohmann::json& k : plan.value("missing_students", nlohmann::json::array())) {
      const size_t index = k.get<size_t>();
      if (students.count(index)) return Error{fmt::format("{}: student {} is both placed and missing", name, index)};
      students[index] = "";
    }
    if (!students.empty() && students.rbegin()->first + 1 != students.size())
      return Error{fmt::format("{}: students are numbered 0 to {}, yet {} are placed or missing", name,
                               students.rbegin()->first, students.size())};
    if (fusion.empty()) return Error{fmt::format("{}: a nonn plan needs a fusion stage", name)};
    std::vector<std::string> devices;
    for (size_t k = 0; k < students.size(); ++k) {
      auto it = students.find(k);
      if (it == students.end()) return Error{fmt::format("{}: student {} is neither placed nor missing", name, k)};
      devices.push_back(tomlString(it->second));
    }
    return fmt::format("strategy = \"nonn\"\nstudents = [{}]\nfusion = {}\n", fmt::join(devices, ", "),
                       tomlString(fusion));
  }
  if (strategy == "early_exit") {
    std::map<size_t, std::string> blocks;
    for (const nlohmann::json& stage : stages)
      if (stage.at("graph").get<std::string>() == "block")
        blocks[stage.at("graph_index").get<size_t>()] = tomlString(stage.at("device").get<std::string>());
    if (blocks.empty() || blocks.rbegin()->first + 1 != blocks.size())
      return Error{fmt::format("{}: an early_exit plan places blocks 0, 1, ... each once", name)};
    std::vector<std::string> devices;
    for (const auto& [k, device] : blocks) devices.push_back(device);
    std::vector<double> thresholds = plan.value("exit_thresholds", std::vector<double>{});
    return fmt::format("strategy = \"early_exit\"\nblocks = [{}]\nthresholds = [{}]\n", fmt::join(devices, ", "),
                       fmt::join(thresholds, ", "));
  }
  return Error{fmt::format("{}: strategy '{}' cannot be applied by hand yet (split, nonn and early_exit can)", name,
                           strategy)};
}

}  // namespace

Result<std::string> planTextToml(const std::string& text, const std::string& name, bool json) {
  if (!json) {
    // Checked here for syntax, so a typo is reported with its line before anything is sent; the
    // daemon checks the plan itself.
    try {
      (void)toml::parse(text, name);
    } catch (const toml::parse_error& e) {
      return Error{fmt::format("{}:{}:{}: {}", name, e.source().begin.line, e.source().begin.column, e.description())};
    }
    return text;
  }
  try {
    nlohmann::json parsed = nlohmann::json::parse(text);
    // `cleavectl plan --json` writes {"plans": [best, runner-ups...]}; a bare plan object works too.
    const nlohmann::json& plan = parsed.contains("plans") ? parsed.at("plans").at(0) : parsed;
    return tomlOfJsonPlan(plan, name);
  } catch (const nlohmann::json::exception& e) {
    return Error{fmt::format("{}: not a plan as `cleavectl plan --json` writes it: {}", name, e.what())};
  }
}

Result<std::string> planFileToml(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{fmt::format("{}: cannot read the plan file", path)};
  std::stringstream text;
  text << in.rdbuf();
  const bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  return planTextToml(text.str(), path, json);
}

}  // namespace cleave::cli
