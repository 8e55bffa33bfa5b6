// Placeholders until the ops below land; each returns a clear 'not implemented' error.
// Delete a function here when its real file pair exists.
#include "runtime/ops/ops.h"

namespace cleave {
Result<PreparedNode> prepareFlatten(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareReshape(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareTranspose(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareConcat(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareSplit(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareSlice(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> preparePad(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareSqueeze(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareUnsqueeze(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareIdentity(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareConstant(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareShape(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareGather(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareCast(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareConstantOfShape(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
}  // namespace cleave
