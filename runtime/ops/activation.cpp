#include "runtime/ops/activation.h"

#include <fmt/format.h>

namespace cleave {

Result<Activation> Activation::fromName(const std::string& name, const std::vector<float>& params) {
  auto need = [&](size_t count) -> Status {
    if (params.size() != count)
      return Error{fmt::format("activation {} takes {} parameters, got {}", name, count, params.size())};
    return {};
  };
  Activation a;
  if (name.empty() || name == "None") return a;
  if (name == "Relu") {
    a.kind = Kind::Relu;
  } else if (name == "LeakyRelu") {
    CLEAVE_TRY(need(1));
    a.kind = Kind::LeakyRelu;
    a.alpha = params[0];
  } else if (name == "Clip") {
    CLEAVE_TRY(need(2));
    a.kind = Kind::Clip;
    a.alpha = params[0];
    a.beta = params[1];
  } else if (name == "Sigmoid") {
    a.kind = Kind::Sigmoid;
  } else if (name == "HardSigmoid") {
    CLEAVE_TRY(need(2));
    a.kind = Kind::HardSigmoid;
    a.alpha = params[0];
    a.beta = params[1];
  } else if (name == "HardSwish") {
    a.kind = Kind::HardSwish;
  } else {
    return Error{fmt::format("unsupported fused activation '{}'", name)};
  }
  return a;
}

std::string Activation::name() const {
  switch (kind) {
    case Kind::None: return "";
    case Kind::Relu: return "Relu";
    case Kind::LeakyRelu: return "LeakyRelu";
    case Kind::Clip: return "Clip";
    case Kind::Sigmoid: return "Sigmoid";
    case Kind::HardSigmoid: return "HardSigmoid";
    case Kind::HardSwish: return "HardSwish";
  }
  return "";
}

std::vector<float> Activation::params() const {
  switch (kind) {
    case Kind::LeakyRelu: return {alpha};
    case Kind::Clip:
    case Kind::HardSigmoid: return {alpha, beta};
    default: return {};
  }
}

}  // namespace cleave
