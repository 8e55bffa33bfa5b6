// cleave_q_add (runtime/int8/add.c) on AVX-512, byte-identical: TFLM's Add of two int8 tensors at
// a common scale. Builds without AVX-512 VNNI fall back to the reference.
#pragma once

#include <cstdint>

#include "runtime/int8/kernels.h"

namespace cleave::int8fast {

void add(int64_t count, const int8_t* input1, const int8_t* input2, const cleave_q_add_params& params, int8_t* output);

}  // namespace cleave::int8fast
