// Reference pooling: every output visits every kernel offset and tests each position against the
// input and the padded input. Slow and obviously correct; tests compare the fast kernels to it.
#pragma once

#include <limits>

#include "runtime/ops/pool.h"

namespace cleave::reference {

// Max (isMax) or average pooling; `indices` may be null.
template <class T>
void pool(const PoolGeometry& g, bool isMax, bool countIncludePad, const T* in, T* out, int64_t* indices) {
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
      for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
        for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
          double sum = 0.0;
          T best = std::numeric_limits<T>::lowest();
          int64_t bestIndex = -1, valid = 0, padded = 0;
          for (int64_t k0 = 0; k0 < g.kernel[0]; ++k0)
            for (int64_t k1 = 0; k1 < g.kernel[1]; ++k1)
              for (int64_t k2 = 0; k2 < g.kernel[2]; ++k2) {
                int64_t o[3] = {o0, o1, o2}, k[3] = {k0, k1, k2}, pos[3];
                bool inInput = true, inPadded = true;
                for (int d = 0; d < 3; ++d) {
                  pos[d] = o[d] * g.stride[d] - g.padBegin[d] + k[d] * g.dilation[d];
                  inInput = inInput && pos[d] >= 0 && pos[d] < g.in[d];
                  inPadded = inPadded && pos[d] >= -g.padBegin[d] && pos[d] < g.in[d] + g.padEnd[d];
                }
                padded += inPadded;
                if (!inInput) continue;
                int64_t index = p * g.inPlane() + (pos[0] * g.in[1] + pos[1]) * g.in[2] + pos[2];
                T v = in[index];
                ++valid;
                sum += static_cast<double>(v);
                if (bestIndex < 0 || v > best) {
                  best = v;
                  bestIndex = index;
                }
              }
          int64_t at = p * g.outPlane() + (o0 * g.out[1] + o1) * g.out[2] + o2;
          if (isMax) {
            out[at] = best;
            if (indices) indices[at] = bestIndex;
          } else {
            out[at] = static_cast<T>(sum / static_cast<double>(countIncludePad ? padded : valid));
          }
        }
}

}  // namespace cleave::reference
