// Shape: the input's static shape as int64 (opset 15's start/end pick a range of it). Always a
// constant, since cleave's shapes are static.
#pragma once

#include "runtime/ops/ops.h"
