// Cast: converts a tensor between any two of cleave's dtypes, following C++ conversions, except
// that float -> integer saturates (and NaN gives 0) where static_cast would be undefined.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/tensor.h"

namespace cleave {

// Converts `count` elements from `src` (dtype `from`) to `dst` (dtype `to`). Float -> integer
// truncates toward zero, saturating at the target's range; anything -> bool is "!= 0"; bool
// bytes other than 0 read as true. Same dtype is a plain copy.
void convertElements(const std::byte* src, DType from, std::byte* dst, DType to, int64_t count);

}  // namespace cleave
