// Concat: joins inputs of equal rank along one axis; all other dimensions must match.
#pragma once

#include "runtime/ops/ops.h"
