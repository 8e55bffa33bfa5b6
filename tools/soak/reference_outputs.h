// Inputs for the soak and what each must come back as: Fashion-MNIST test images (or the model's
// sample when the dataset is not installed) and the single-process runtime's output for each,
// from the same optimised graph the daemon cuts into stages. Fleet results must be bit-identical.
#pragma once

#include <string>
#include <vector>

#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave::soak {

struct ReferenceSet {
  std::vector<Tensor> inputs, outputs;
  std::string source;  // where the inputs came from, for the report
};

// The first `count` test images (fewer when the set is smaller) run through `bundle`.
Result<ReferenceSet> loadReferences(const std::string& bundle, size_t count);

}  // namespace cleave::soak
