// Placeholders until the ops below land; each returns a clear 'not implemented' error.
// Delete a function here when its real file pair exists.
#include "runtime/ops/ops.h"

namespace cleave {
Result<PreparedNode> prepareConv(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareGemm(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareMatMul(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
Result<PreparedNode> prepareBatchNormalization(const NodeContext& ctx) { return ctx.error("not implemented yet"); }
}  // namespace cleave
