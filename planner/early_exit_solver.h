// The `early_exit` strategy (MEANet; BranchyNet; SPINN): blocks with exit heads run in order,
// each on some device; a request finishes at the first block whose exit head is confident
// enough (max softmax at least that exit's threshold) and its result goes back to the source,
// the agent that took the request and reports it, so the blocks after it never run for it and
// nothing more travels. (The topology's sink does not enter: no stage has to run there.)
//
// A plan chooses a device for each block and a threshold for each exit but the last. With
// f_k the fraction of requests finishing at block k and r_k = f_k + ... + f_last the fraction
// reaching it, the expected cost is
//     sum_k  r_k * (transfer into block k + compute of block k)  +  f_k * (result from block k to the source)
// (latency and energy alike: both are means over requests). The fractions come from the bundle's
// held-out statistics for each combination of candidate thresholds; a combination whose
// accuracy's lower confidence bound (accuracyLowerBound) is under the accuracy floor
// (earlyExitAccuracyFloor) is not considered. The solver is exact over the candidates: every combination, and for each
// the cheapest placement, which it finds among the placements that fit in memory (computed
// once, each as a vector of per-block costs the fractions weigh).
//
// Transfers use direct links: consecutive blocks (and the source and block 0, and each block and
// the source, for its results) must be on one device or joined by a link.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "planner/plan.h"
#include "planner/problem.h"
#include "runtime/result.h"

namespace cleave::planner {

// The accuracy every plan's lower confidence bound must reach: the topology's floor, or the
// lower bound of the last block's own accuracy (every input answered there) minus the allowed
// drop, whichever is higher; none when neither is set. An error when a drop is set and the statistics never send every input to
// the last block.
Result<std::optional<double>> earlyExitAccuracyFloor(const PlanningProblem& problem);

// The best early_exit plan, or an error saying why none exists (no placement fits, or no
// thresholds meet the accuracy floor).
Result<Plan> solveEarlyExit(const PlanningProblem& problem);

// The plan for block k on blockDevices[k] with exit e's threshold the candidate exitChoice[e].
// An error when a link is missing or a device cannot hold its stages; the floor is not checked.
Result<Plan> evaluateEarlyExit(const PlanningProblem& problem, const std::vector<size_t>& blockDevices,
                               const std::vector<size_t>& exitChoice);

}  // namespace cleave::planner
