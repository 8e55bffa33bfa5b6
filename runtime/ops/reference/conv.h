// Plain reference convolution: direct loops over every output element and kernel tap, in double
// precision accumulation. Slow and obviously correct; the fast kernels in conv.cpp are tested
// against it, and it is tested against ONNX's own expected outputs.
#pragma once

#include <array>
#include <cstdint>

#include "runtime/ops/conv.h"

namespace cleave::reference {

// x: [N, Cin, spatial...], w: [Cout, Cin/group, kernel...], bias: [Cout] or null, z: output-shaped
// or null (FusedConv's residual). y: p.outputShape. Applies p.activation last.
inline void conv(const ConvParams& p, const float* x, const float* w, const float* bias, const float* z,
                 float* y) {
  // Lift 1-D and 2-D convolutions to 3-D with unit leading dims so one loop nest serves all.
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pad{0, 0, 0};
  size_t lead = 3 - p.spatialRank;
  for (size_t i = 0; i < p.spatialRank; ++i) {
    in[lead + i] = p.inputSpatial[i];
    out[lead + i] = p.outputShape[2 + i];
    k[lead + i] = p.kernel[i];
    s[lead + i] = p.strides[i];
    d[lead + i] = p.dilations[i];
    pad[lead + i] = p.padsBegin[i];
  }
  int64_t cinG = p.inChannelsPerGroup(), coutG = p.outChannelsPerGroup();
  int64_t inPlane = in[0] * in[1] * in[2], outPlane = out[0] * out[1] * out[2], kPlane = k[0] * k[1] * k[2];
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t oc = 0; oc < p.outChannels; ++oc) {
      int64_t g = oc / coutG;
      for (int64_t od = 0; od < out[0]; ++od) {
        for (int64_t oh = 0; oh < out[1]; ++oh) {
          for (int64_t ow = 0; ow < out[2]; ++ow) {
            double acc = bias ? static_cast<double>(bias[oc]) : 0.0;
            for (int64_t ic = 0; ic < cinG; ++ic) {
              const float* xPlane = x + (n * p.inChannels + g * cinG + ic) * inPlane;
              const float* wPlane = w + (oc * cinG + ic) * kPlane;
              for (int64_t kd = 0; kd < k[0]; ++kd) {
                int64_t id = od * s[0] + kd * d[0] - pad[0];
                if (id < 0 || id >= in[0]) continue;
                for (int64_t kh = 0; kh < k[1]; ++kh) {
                  int64_t ih = oh * s[1] + kh * d[1] - pad[1];
                  if (ih < 0 || ih >= in[1]) continue;
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    int64_t iw = ow * s[2] + kw * d[2] - pad[2];
                    if (iw < 0 || iw >= in[2]) continue;
                    acc += static_cast<double>(xPlane[(id * in[1] + ih) * in[2] + iw]) *
                           static_cast<double>(wPlane[(kd * k[1] + kh) * k[2] + kw]);
                  }
                }
              }
            }
            int64_t index = ((n * p.outChannels + oc) * outPlane) + (od * out[1] + oh) * out[2] + ow;
            if (z) acc += static_cast<double>(z[index]);
            y[index] = p.activation.apply(static_cast<float>(acc));
          }
        }
      }
    }
  }
}

}  // namespace cleave::reference
