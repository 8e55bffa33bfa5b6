// Constant and ConstantOfShape: outputs known at prepare time, handed to the analysis as
// PreparedNode::constantOutputs (the kernels produce the same values when run).
#pragma once

#include "runtime/ops/ops.h"
