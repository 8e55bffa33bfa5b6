// Add, Sub, Mul and Div with NumPy multidirectional broadcasting, over f32, i32, i64, i8 and u8.
// Integer ops wrap on overflow (two's complement) instead of being undefined; integer Div
// truncates toward zero like C, and division by zero yields 0 rather than trapping (ONNX leaves
// it undefined; we pick a value so a bad divisor in model data cannot crash the process).
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "runtime/ops/ops.h"

namespace cleave {

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div };

// The scalar semantics every kernel (fast and reference) shares.
template <class T>
inline T applyBinaryOp(BinaryOp op, T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case BinaryOp::Add: return a + b;
      case BinaryOp::Sub: return a - b;
      case BinaryOp::Mul: return a * b;
      case BinaryOp::Div: return a / b;
    }
    return a;
  } else {
    // Unsigned arithmetic wraps by definition; converting back is modular since C++20.
    using U = std::make_unsigned_t<T>;
    switch (op) {
      case BinaryOp::Add: return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
      case BinaryOp::Sub: return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
      case BinaryOp::Mul: return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
      case BinaryOp::Div:
        if (b == 0) return T(0);
        // INT_MIN / -1 overflows (and traps on x86); negate with wrap-around instead.
        if constexpr (std::is_signed_v<T>)
          if (b == T(-1)) return static_cast<T>(U(0) - static_cast<U>(a));
        return static_cast<T>(a / b);
    }
    return a;
  }
}

// How to walk a broadcast: the output's dims with size-1 dims dropped and neighbours merged
// wherever both operands stay contiguous (or stay broadcast) across them, and each operand's
// element stride per dim (0 where it is broadcast). Same-shape and scalar cases come out as one
// dim; per-channel [N,C,H,W] x [C,1,1] as [C, H*W] with strides {H*W, 1} and {1, 0}.
struct BroadcastPlan {
  std::vector<int64_t> dims;  // outermost first, never empty
  std::vector<int64_t> stridesA;
  std::vector<int64_t> stridesB;
  int64_t numel = 0;
};

// `out` must be the broadcast of `a` and `b` (checked by prepare).
BroadcastPlan planBroadcast(const Shape& a, const Shape& b, const Shape& out);

// Computes output elements [begin, end) of the broadcast op.
template <class T>
void runBinaryRange(BinaryOp op, const BroadcastPlan& plan, const T* a, const T* b, T* out, int64_t begin,
                    int64_t end);

}  // namespace cleave
