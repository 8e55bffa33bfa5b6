// Identity and Dropout (inference only): output 0 is input 0. Both are views, so the executor
// may alias the output to the input (PreparedNode::aliasesInput) and skip the kernel; the kernel
// still copies, for when it runs standalone. Dropout's optional mask output is all true.
#pragma once

#include "runtime/ops/ops.h"
