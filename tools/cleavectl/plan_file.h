// Plan files for `cleavectl plan apply FILE`: a plan in the TOML form the daemon takes, or the
// JSON that `cleavectl plan CONFIG --json` writes (its best plan), turned into that TOML form.
//
//   strategy = "split"                     strategy = "nonn"
//   route = ["camera", "edge", "cloud"]    students = ["pi1", "pi2", "", "pi4"]  # "" leaves one out
//   cuts = [2, 4]                          fusion = "pi8"
#pragma once

#include <string>

#include "runtime/result.h"

namespace cleave::cli {

// The TOML form of the plan in `path` (.toml or .json); errors name the file and what is wrong.
Result<std::string> planFileToml(const std::string& path);

// The same from text already read; `name` is for errors, `json` picks the format.
Result<std::string> planTextToml(const std::string& text, const std::string& name, bool json);

}  // namespace cleave::cli
