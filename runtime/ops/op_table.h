// Maps (domain, op type) to its prepare function. A fixed table, not a registry: adding an op
// means adding its line in op_table.cpp.
#pragma once

#include <string_view>
#include <vector>

#include "runtime/op.h"

namespace cleave {

// The prepare function for an op, or null when the op is not supported.
PrepareFn findOp(std::string_view domain, std::string_view opType);
// "Domain::Op" names of every supported op, for error messages and docs.
std::vector<std::string> supportedOps();

}  // namespace cleave
