// Placeholders until the ops below land; each returns a clear 'not implemented' error.
// Delete a function here when its real file pair exists.
#include "runtime/ops/ops.h"

namespace cleave {
Result<PreparedNode> prepareUnaryActivation(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareBinaryElementwise(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareMaxPool(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareAveragePool(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareGlobalAveragePool(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareReduceMean(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareSoftmax(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
}  // namespace cleave
