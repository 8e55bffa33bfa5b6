#include "proto/wire_names.h"

namespace cleave::proto {

std::string_view strategyName(wire::Strategy strategy) {
  switch (strategy) {
    case wire::Strategy::SPLIT: return "split";
    case wire::Strategy::CLIO: return "clio";
    case wire::Strategy::NONN: return "nonn";
    case wire::Strategy::EARLY_EXIT: return "early_exit";
  }
  return "unknown";
}

}  // namespace cleave::proto
