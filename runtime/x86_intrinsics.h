// <immintrin.h> without GCC 12's false -W(maybe-)uninitialized reports from inside its AVX-512
// intrinsics (their _mm512_undefined_ps pass-through operand). The warnings are located in the
// header, so silencing them around the include is enough. Include only where __AVX512F__ (or the
// instructions a file uses) is defined.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop
