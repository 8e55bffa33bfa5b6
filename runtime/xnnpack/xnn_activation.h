// A fused activation applied in place to a channels-last block after an XNNPACK operator:
// the kinds XNNPACK has as operators run as one, HardSigmoid as a plain loop.
#pragma once

#include <memory>

#include "runtime/op.h"
#include "runtime/ops/activation.h"
#include "runtime/xnnpack/xnn_support.h"

namespace cleave::xnn {

// True when an operator's output clamp can carry the activation (Relu, Clip) on its own.
bool isClamp(const Activation& activation);
// The clamp bounds of such an activation, or (-inf, inf) for any other.
float clampMin(const Activation& activation);
float clampMax(const Activation& activation);

class InPlaceActivation {
 public:
  // Null for None and for the clamps (the operator before it carries those).
  static std::unique_ptr<InPlaceActivation> create(const Activation& activation, int64_t elements);
  void run(float* data, const RunContext& ctx) const;
  int64_t heldBytes() const { return heldBytes_; }

 private:
  Activation activation_;
  int64_t elements_ = 0;
  Operator op_;  // null for HardSigmoid
  int64_t heldBytes_ = 0;
};

}  // namespace cleave::xnn
