// An early-exit stage's decision: does a request end at this stage's exit head? The head's
// output is class scores (logits); the confidence is the largest softmax probability,
// 1 / sum_j exp(s_j - max s), computed in float32 with the sum taken in index order (the rule
// the bundle's statistics and the tests' reference cascade follow), and the request
// ends here when it is at least the plan's threshold (0: always; above 1: never).
#pragma once

#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave::agent {

// The confidence of `scores` (float32, at least two values); an error for anything else or for
// a score that is not finite.
Result<float> maxSoftmax(const Tensor& scores);

// Whether a request with these scores ends at a head with `threshold`.
Result<bool> exitsHere(const Tensor& scores, float threshold);

}  // namespace cleave::agent
