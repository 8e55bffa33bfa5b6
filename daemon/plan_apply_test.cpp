// Hand-written plans as `cleavectl plan apply` sends them: each strategy's keys, and errors
// that name the key or the line.
#include "daemon/plan_apply.h"

#include <doctest/doctest.h>

namespace cleave::daemon {

TEST_CASE("plan apply TOML parses into each strategy's placement") {
  Result<AppliedPlan> split = parsePlanApply("route = [\"a\", \"b\"]\ncuts = [3]\n");
  REQUIRE_MESSAGE(split.ok(), split.error().message);
  CHECK(split->strategy == planner::Strategy::Split);
  CHECK(split->route == std::vector<std::string>{"a", "b"});
  CHECK(split->cuts == std::vector<int64_t>{3});

  Result<AppliedPlan> nonn = parsePlanApply("strategy = \"nonn\"\nstudents = [\"p1\", \"\", \"p3\"]\nfusion = \"p1\"\n");
  REQUIRE_MESSAGE(nonn.ok(), nonn.error().message);
  CHECK(nonn->strategy == planner::Strategy::Nonn);
  CHECK(nonn->students == std::vector<std::string>{"p1", "", "p3"});
  CHECK(nonn->fusion == "p1");
}

TEST_CASE("plan apply errors name the key or the line") {
  auto error = [](const char* toml) {
    Result<AppliedPlan> r = parsePlanApply(toml);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  CHECK(error("route = [\"a\"]\n") == "plan apply: a split plan needs 'route' (device names) and 'cuts' (positions)");
  CHECK(error("route = [1]\ncuts = [1]\n") == "plan apply: 'route' must hold device names");
  CHECK(error("route = [\"a\"]\ncuts = [\"x\"]\n") == "plan apply: 'cuts' must hold integers");
  CHECK(error("strategy = \"nonn\"\nstudents = [\"a\"]\n").find("'fusion'") != std::string::npos);
  CHECK(error("strategy = \"magic\"\n") == "plan apply: unknown strategy 'magic'");
  CHECK(error("x = \n").rfind("plan apply: line 1:", 0) == 0);
}

}  // namespace cleave::daemon
