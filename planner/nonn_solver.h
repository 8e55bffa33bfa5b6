// The `nonn` strategy (Network-of-Neural-Networks, Bhardwaj et al., CODES+ISSS 2019): K student
// networks, each on a device of its own, all read the request's input from the source; only
// their small feature vectors travel, to one fusion graph, whose result goes to the sink.
//
// A plan is stage 0, a relay on the source; one stage per placed student; the fusion; and a
// relay on the sink when the fusion runs elsewhere. Its latency is the slowest student's path
// (input transfer, compute, features to the fusion device) plus the fusion and the result's
// transfer: a bottleneck assignment of students to distinct devices for each choice of fusion
// device. The solver is exact for any objective: for each fusion device and each threshold T
// among the students' path latencies, a minimum-energy assignment of the students to distinct
// devices among the pairs no slower than T (successive shortest paths); the cheapest of these
// is optimal because the optimum is one of them at T = its own slowest path.
//
// When no assignment places every student (devices gone or too small), the fusion runs with
// the missing students' features zeroed: the largest set of students that can be placed, the
// most accurate such set by the bundle's figures, the cheapest plan for it.
#pragma once

#include <optional>
#include <vector>

#include "planner/plan.h"
#include "planner/problem.h"
#include "runtime/result.h"

namespace cleave::planner {

// The best nonn plan, or an error saying why none exists.
Result<Plan> solveNonn(const PlanningProblem& problem);

// The plan for a given placement: student k on studentDevices[k] (nullopt: left out), the
// fusion on `fusionDevice`. An error when a link is missing or a device cannot hold its stages.
Result<Plan> evaluateNonn(const PlanningProblem& problem, const std::vector<std::optional<size_t>>& studentDevices,
                          size_t fusionDevice);

// The expected accuracy with the students present: the bundle's ensemble figure, the
// one-missing figure, or 0 (not known) with more missing.
double nonnAccuracy(const NonnModel& model, const std::vector<bool>& present);

}  // namespace cleave::planner
