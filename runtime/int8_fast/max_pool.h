// cleave_q_max_pool on AVX-512: 64 channels of an NHWC pixel per register, the window clipped to
// the image as the reference clips it. A maximum is exact, so the result is the reference's byte
// for byte. Builds without AVX-512 VNNI call the reference.
#pragma once

#include "runtime/int8/kernels.h"

namespace cleave::int8fast {

void maxPool(const cleave_q_pool_shape& shape, const int8_t* input, int8_t* output);

}  // namespace cleave::int8fast
