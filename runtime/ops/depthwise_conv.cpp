#include "runtime/ops/depthwise_conv.h"

#include <algorithm>
#include <cstring>
#include <utility>

#if defined(__AVX512F__) && defined(__AVX512VL__)
#include "runtime/x86_intrinsics.h"
#define CLEAVE_DEPTHWISE_DIRECT 1
#endif

namespace cleave {

namespace {


// Residual and activation over one output row still in L1 (bias is already in).
void rowEpilogue(float* __restrict y, const float* __restrict z, int64_t n, const Activation& activation) {
  if (z)
    for (int64_t i = 0; i < n; ++i) y[i] += z[i];
  activation.applyInPlace(y, n);
}

// Generic inner loop for a KH x KW kernel known at compile time: one pass per output row with
// every tap's input row as its own pointer, so each output is loaded and stored once and GCC
// vectorises the ow loop (the taps are contiguous thanks to the phase split).
template <int KH, int KW>
void genericRowFixed(float* __restrict yRow, const float* row, const int64_t* tapOffsets, const float* wk, float b,
                     int64_t outW) {
  // Pointers and weights in locals, not in memory the loop also reads: keeps them in registers.
  const float* src[KH * KW];
  float wv[KH * KW];
  for (int t = 0; t < KH * KW; ++t) {
    src[t] = row + tapOffsets[t];
    wv[t] = wk[t];
  }
  for (int64_t ow = 0; ow < outW; ++ow) {
    float acc = b;
    for (int t = 0; t < KH * KW; ++t) acc += wv[t] * src[t][ow];
    yRow[ow] = acc;
  }
}

void genericRow(float* __restrict yRow, const float* row, const int64_t* tapOffsets, const float* wk, float b,
                int64_t taps, int64_t outW) {
  for (int64_t ow = 0; ow < outW; ++ow) yRow[ow] = b;
  for (int64_t t = 0; t < taps; ++t) {
    const float* __restrict src = row + tapOffsets[t];
    float wv = wk[t];
    for (int64_t ow = 0; ow < outW; ++ow) yRow[ow] += wv * src[ow];
  }
}

// Lanes [lo, hi) of a `len`-lane load starting at column c0 that fall inside [0, width).
uint32_t laneMask(int64_t c0, int64_t len, int64_t width) {
  int64_t lo = std::max<int64_t>(0, -c0);
  int64_t hi = std::min(len, width - c0);
  if (hi <= lo) return 0;
  return ((uint32_t{1} << hi) - 1u) & ~((uint32_t{1} << lo) - 1u);  // hi <= len <= 16
}

#ifdef CLEAVE_DEPTHWISE_DIRECT

// The direct kernel is written once over these two vector widths: 16 lanes fill wide rows, 8
// lanes waste less on rows of 7 or 56 (on this Zen 4 machine a 512-bit op is two 256-bit ones,
// so the narrow width costs nothing per element).
struct Lanes16 {
  static constexpr int N = 16;
  using Vec = __m512;
  using Index = __m512i;
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec load(uint32_t m, const float* p) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>(m), p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void storeMasked(float* p, uint32_t m, Vec v) { _mm512_mask_storeu_ps(p, static_cast<__mmask16>(m), v); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm512_min_ps(a, b); }
  static Vec permute2(Vec a, Index i, Vec b) { return _mm512_permutex2var_ps(a, i, b); }
  static Index even() { return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30); }
  static Index odd() { return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31); }
  static Index next() { return _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16); }
};

struct Lanes8 {
  static constexpr int N = 8;
  using Vec = __m256;
  using Index = __m256i;
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec load(uint32_t m, const float* p) { return _mm256_maskz_loadu_ps(static_cast<__mmask8>(m), p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static void storeMasked(float* p, uint32_t m, Vec v) { _mm256_mask_storeu_ps(p, static_cast<__mmask8>(m), v); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
  static Vec permute2(Vec a, Index i, Vec b) { return _mm256_permutex2var_ps(a, i, b); }
  static Index even() { return _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14); }
  static Index odd() { return _mm256_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15); }
  static Index next() { return _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8); }
};

// The activations done in registers before the store; Later stores raw sums and runs
// Activation::applyInPlace over the rows afterwards. Operand order matches Activation::apply's
// comparisons, so NaN behaves the same: Relu(NaN) = 0, Clip(NaN) = NaN.
enum class Clamp : uint8_t { None, Relu, Clip, Later };

using Block = DepthwiseConv::Block;

// ROWS consecutive output rows of one 3x3 plane, stride S in both dims. in[r] points at input row
// oh*S - padTop + r, already offset by -padLeft, or at the zero row where that row is padding.
// The per-row tap loops are expanded at compile time, so each loaded input row feeds every output
// row it belongs to and the accumulators stay in registers.
template <class L, int S, int ROWS>
void directRows(const float* const* in, float* y, const float* z, int64_t outW, const Block* blocks, size_t blockCount,
                const float* wk, float bias, Clamp clamp, float lo, float hi) {
  using Vec = typename L::Vec;
  constexpr int IN_ROWS = S * (ROWS - 1) + 3;
  const Vec w0 = L::set1(wk[0]), w1 = L::set1(wk[1]), w2 = L::set1(wk[2]), w3 = L::set1(wk[3]),
            w4 = L::set1(wk[4]), w5 = L::set1(wk[5]), w6 = L::set1(wk[6]), w7 = L::set1(wk[7]),
            w8 = L::set1(wk[8]);
  const Vec b = L::set1(bias), loV = L::set1(lo), hiV = L::set1(hi);
  const typename L::Index evenIdx = L::even(), oddIdx = L::odd(), nextIdx = L::next();
  for (size_t bi = 0; bi < blockCount; ++bi) {
    const Block& blk = blocks[bi];
    Vec acc[ROWS];
    for (int i = 0; i < ROWS; ++i) acc[i] = b;
    auto inputRow = [&]<int R>(std::integral_constant<int, R>) {
      Vec t0, t1, t2;
      if constexpr (S == 1) {
        const float* src = in[R] + blk.ow0;
        t0 = L::load(blk.load[0], src);
        t1 = L::load(blk.load[1], src + 1);
        t2 = L::load(blk.load[2], src + 2);
      } else {
        // Columns src[2j], src[2j+1], src[2j+2] for the N outputs: de-interleave two loads into
        // even and odd columns, and shift the evens by one lane with the column after them.
        const float* src = in[R] + 2 * blk.ow0;
        Vec a = L::load(blk.load[0], src), c = L::load(blk.load[1], src + L::N);
        Vec last = L::load(blk.load[2], src + 2 * L::N);
        t0 = L::permute2(a, evenIdx, c);
        t1 = L::permute2(a, oddIdx, c);
        t2 = L::permute2(t0, nextIdx, last);
      }
      auto outputRow = [&]<int I>(std::integral_constant<int, I>) {
        constexpr int KH = R - S * I;
        if constexpr (KH == 0) {
          acc[I] = L::fma(t0, w0, acc[I]);
          acc[I] = L::fma(t1, w1, acc[I]);
          acc[I] = L::fma(t2, w2, acc[I]);
        } else if constexpr (KH == 1) {
          acc[I] = L::fma(t0, w3, acc[I]);
          acc[I] = L::fma(t1, w4, acc[I]);
          acc[I] = L::fma(t2, w5, acc[I]);
        } else if constexpr (KH == 2) {
          acc[I] = L::fma(t0, w6, acc[I]);
          acc[I] = L::fma(t1, w7, acc[I]);
          acc[I] = L::fma(t2, w8, acc[I]);
        }
      };
      [&]<int... I>(std::integer_sequence<int, I...>) {
        (outputRow(std::integral_constant<int, I>{}), ...);
      }(std::make_integer_sequence<int, ROWS>{});
    };
    [&]<int... R>(std::integer_sequence<int, R...>) {
      (inputRow(std::integral_constant<int, R>{}), ...);
    }(std::make_integer_sequence<int, IN_ROWS>{});
    for (int i = 0; i < ROWS; ++i) {
      Vec v = acc[i];
      if (z) v = L::add(v, L::load(blk.store, z + i * outW + blk.ow0));
      switch (clamp) {
        case Clamp::Relu: v = L::max(v, loV); break;
        case Clamp::Clip: v = L::min(hiV, L::max(loV, v)); break;
        case Clamp::None:
        case Clamp::Later: break;
      }
      float* dst = y + i * outW + blk.ow0;
      if (blk.full) {
        L::store(dst, v);
      } else {
        L::storeMasked(dst, blk.store, v);
      }
    }
  }
}

// Measured (conv_test -tc='*depthwise benchmark*' --no-skip, best of runs, one thread, shared
// Zen 4 EPYC; direct kernel vs the generic one, GMAC/s): 112/1 42 vs 14, 112/2 18 vs 4.5,
// 56/1 35 vs 14, 56/2 17 vs 3.2, 28/1 31 vs 7, 28/2 15 vs 2.4, 14/1 25 vs 3.9, 14/2 10 vs 1.5,
// 7/1 16 vs 2.3. 16 lanes beat 8 on every width above 8 (56 included, despite the idle lanes);
// splitting each accumulator in two to shorten FMA chains made no difference. Stride 2 is held
// back by 3 shuffles per input row and block (as many as its FMAs), small planes by per-pass setup.
//
// Most output rows processed together: stride 1 reads ROWS + 2 input rows for ROWS outputs,
// stride 2 reads 2 * ROWS + 1; 8 accumulators still leave registers for the 9 weights and taps.
constexpr int64_t MAX_DIRECT_ROWS = 8;

struct DirectArgs {
  const Block* blocks;
  size_t blockCount;
  int64_t inH, inW, outH, outW, padTop, padLeft;
  int64_t rowsPerPass;
  const float* zeroRow;
  Clamp clamp;
  float lo, hi;
  const Activation* activation;
};

template <class L, int S>
void directPlane(const DirectArgs& a, const float* plane, const float* wk, float bias, const float* z, float* y) {
  const float* in[S * (MAX_DIRECT_ROWS - 1) + 3];
  for (int64_t oh = 0; oh < a.outH;) {
    int64_t rows = std::min(a.rowsPerPass, a.outH - oh);
    int64_t inRows = S * (rows - 1) + 3;
    for (int64_t r = 0; r < inRows; ++r) {
      int64_t ih = oh * S - a.padTop + r;
      in[r] = (ih >= 0 && ih < a.inH ? plane + ih * a.inW : a.zeroRow) - a.padLeft;
    }
    float* yRows = y + oh * a.outW;
    const float* zRows = z ? z + oh * a.outW : nullptr;
    auto pass = [&]<int ROWS>(std::integral_constant<int, ROWS>) {
      directRows<L, S, ROWS>(in, yRows, zRows, a.outW, a.blocks, a.blockCount, wk, bias, a.clamp, a.lo, a.hi);
    };
    switch (rows) {
      case 8: pass(std::integral_constant<int, 8>{}); break;
      case 7: pass(std::integral_constant<int, 7>{}); break;
      case 6: pass(std::integral_constant<int, 6>{}); break;
      case 5: pass(std::integral_constant<int, 5>{}); break;
      case 4: pass(std::integral_constant<int, 4>{}); break;
      case 3: pass(std::integral_constant<int, 3>{}); break;
      case 2: pass(std::integral_constant<int, 2>{}); break;
      default: pass(std::integral_constant<int, 1>{}); break;
    }
    if (a.clamp == Clamp::Later)
      for (int64_t i = 0; i < rows; ++i) a.activation->applyInPlace(yRows + i * a.outW, a.outW);
    oh += rows;
  }
}

#endif  // CLEAVE_DEPTHWISE_DIRECT

}  // namespace

bool DepthwiseConv::supportsDirect(const ConvParams& p) {
#ifdef CLEAVE_DEPTHWISE_DIRECT
  if (p.spatialRank != 2 || !p.isDepthwise()) return false;
  if (p.kernel[0] != 3 || p.kernel[1] != 3 || p.dilations[0] != 1 || p.dilations[1] != 1) return false;
  return p.strides[0] == p.strides[1] && (p.strides[0] == 1 || p.strides[0] == 2);
#else
  (void)p;
  return false;
#endif
}

DepthwiseConv::DepthwiseConv(const ConvParams& p, DepthwiseOptions options) : p_(p) {
  multiplier_ = p_.outChannels / p_.inChannels;
  // Lift 1-D to 2-D with height 1.
  size_t lead = 2 - p_.spatialRank;
  auto at = [&](const std::vector<int64_t>& v, size_t i, int64_t fallback) { return i < lead ? fallback : v[i - lead]; };
  inH_ = at(p_.inputSpatial, 0, 1);
  inW_ = at(p_.inputSpatial, 1, 1);
  outH_ = lead == 0 ? p_.outputShape[2] : 1;
  outW_ = p_.outputShape.back();
  kh_ = at(p_.kernel, 0, 1);
  kw_ = at(p_.kernel, 1, 1);
  sh_ = at(p_.strides, 0, 1);
  sw_ = at(p_.strides, 1, 1);
  dh_ = at(p_.dilations, 0, 1);
  dw_ = at(p_.dilations, 1, 1);
  padTop_ = at(p_.padsBegin, 0, 0);
  padLeft_ = at(p_.padsBegin, 1, 0);
  padBottom_ = at(p_.padsEnd, 0, 0);
  padRight_ = at(p_.padsEnd, 1, 0);

  if (!options.allowDirect || !supportsDirect(p_)) return;
  int lanes = options.lanes;
  if (lanes != 8 && lanes != 16) {
    lanes = outW_ <= 8 ? 8 : 16;
  }
  lanes_ = lanes;
  for (int64_t ow0 = 0; ow0 < outW_; ow0 += lanes) {
    Block blk;
    blk.ow0 = ow0;
    if (sw_ == 1) {
      for (int64_t kw = 0; kw < 3; ++kw) blk.load[kw] = laneMask(ow0 + kw - padLeft_, lanes, inW_);
    } else {
      int64_t c0 = 2 * ow0 - padLeft_;
      blk.load[0] = laneMask(c0, lanes, inW_);
      blk.load[1] = laneMask(c0 + lanes, lanes, inW_);
      blk.load[2] = laneMask(c0 + 2 * lanes, 1, inW_);
    }
    blk.store = laneMask(ow0, lanes, outW_);
    blk.full = blk.store == (uint32_t{1} << lanes) - 1u;
    blocks_.push_back(blk);
  }
  zeroRow_.assign(static_cast<size_t>(inW_), 0.0f);
}

void DepthwiseConv::run(const float* x, const float* w, const float* bias, const float* z, float* y,
                        const RunContext& ctx) const {
  if (lanes_ != 0) {
    runDirect(x, w, bias, z, y, ctx);
  } else {
    runGeneric(x, w, bias, z, y, ctx);
  }
}

void DepthwiseConv::runDirect(const float* x, const float* w, const float* bias, const float* z, float* y,
                              const RunContext& ctx) const {
#ifdef CLEAVE_DEPTHWISE_DIRECT
  // Equal passes of at most MAX_DIRECT_ROWS rows: 14 rows run as 7 + 7 rather than 8 + 6.
  int64_t passes = (outH_ + MAX_DIRECT_ROWS - 1) / MAX_DIRECT_ROWS;
  DirectArgs a{blocks_.data(), blocks_.size(),   inH_, inW_, outH_, outW_, padTop_, padLeft_, (outH_ + passes - 1) / passes,
               zeroRow_.data(), Clamp::Later,    0.0f, 0.0f, &p_.activation};
  switch (p_.activation.kind) {
    case Activation::Kind::None: a.clamp = Clamp::None; break;
    case Activation::Kind::Relu: a.clamp = Clamp::Relu; break;
    case Activation::Kind::Clip:
      a.clamp = Clamp::Clip;
      a.lo = p_.activation.alpha;
      a.hi = p_.activation.beta;
      break;
    default: break;
  }
  const int64_t inPlane = inH_ * inW_, outPlane = outH_ * outW_;
  const int64_t units = p_.batch * p_.outChannels;
  ctx.parallelFor(units, 1, [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      int64_t n = unit / p_.outChannels, oc = unit % p_.outChannels;
      const float* plane = x + (n * p_.inChannels + oc / multiplier_) * inPlane;
      const float* wk = w + oc * 9;
      float b = bias ? bias[oc] : 0.0f;
      const float* zPlane = z ? z + unit * outPlane : nullptr;
      float* yPlane = y + unit * outPlane;
      if (lanes_ == 16) {
        if (sh_ == 1) directPlane<Lanes16, 1>(a, plane, wk, b, zPlane, yPlane);
        else directPlane<Lanes16, 2>(a, plane, wk, b, zPlane, yPlane);
      } else {
        if (sh_ == 1) directPlane<Lanes8, 1>(a, plane, wk, b, zPlane, yPlane);
        else directPlane<Lanes8, 2>(a, plane, wk, b, zPlane, yPlane);
      }
    }
  });
#else
  runGeneric(x, w, bias, z, y, ctx);
#endif
}

// The generic kernel's padded, phase-split copy of one input plane (runGeneric says how).
int64_t DepthwiseConv::genericPlaneBytes() const {
  const int64_t paddedH = inH_ + padTop_ + padBottom_;
  const int64_t phaseW = (inW_ + padLeft_ + padRight_ + sw_ - 1) / sw_;
  return alignedFloatBytes(paddedH * phaseW * sw_);
}

int64_t DepthwiseConv::workspaceBytes(int threads) const { return direct() ? 0 : threads * genericPlaneBytes(); }

void DepthwiseConv::runGeneric(const float* x, const float* w, const float* bias, const float* z, float* y,
                               const RunContext& ctx) const {
  // Each input plane is copied once into a zero-padded buffer split by column phase modulo the
  // stride: phase q holds padded columns q, q+s, q+2s, ... Tap kw then reads phase (kw*d) % s at
  // offset (kw*d) / s with unit stride, so stride 2 vectorises like stride 1 and no bounds
  // checks remain in the inner loop.
  const int64_t taps = kh_ * kw_;
  const int64_t paddedH = inH_ + padTop_ + padBottom_;
  const int64_t paddedW = inW_ + padLeft_ + padRight_;
  const int64_t phaseW = (paddedW + sw_ - 1) / sw_;
  const int64_t phasePlane = paddedH * phaseW;
  const int64_t inPlane = inH_ * inW_, outPlane = outH_ * outW_;
  // Offset of each tap's first input within the phase-split plane, relative to the row oh*sh.
  std::vector<int64_t> tapOffsets(static_cast<size_t>(taps));
  for (int64_t i = 0; i < kh_; ++i)
    for (int64_t j = 0; j < kw_; ++j)
      tapOffsets[static_cast<size_t>(i * kw_ + j)] = i * dh_ * phaseW + (j * dw_ % sw_) * phasePlane + j * dw_ / sw_;
  const int64_t units = p_.batch * p_.inChannels;
  ctx.parallelChunks(units, 1, [&](int64_t chunk, int64_t begin, int64_t end) {
    float* padded = ctx.workspaceFloats(chunk, genericPlaneBytes());
    for (int64_t unit = begin; unit < end; ++unit) {
      const float* plane = x + unit * inPlane;
      std::fill(padded, padded + phasePlane * sw_, 0.0f);
      for (int64_t q = 0; q < sw_; ++q) {
        // Phase q holds padded columns q + j*sw, i.e. input columns q + j*sw - padLeft.
        int64_t jBegin = q >= padLeft_ ? 0 : (padLeft_ - q + sw_ - 1) / sw_;
        int64_t jEnd = std::min(phaseW, (inW_ + padLeft_ - q + sw_ - 1) / sw_);
        if (jEnd <= jBegin) continue;  // this phase sees only padding
        int64_t first = q + jBegin * sw_ - padLeft_;
        for (int64_t ih = 0; ih < inH_; ++ih) {
          const float* src = plane + ih * inW_ + first;
          float* dst = padded + q * phasePlane + (ih + padTop_) * phaseW;
          if (sw_ == 1) {
            std::memcpy(dst + jBegin, src, static_cast<size_t>(jEnd - jBegin) * sizeof(float));
          } else {
            for (int64_t j = jBegin; j < jEnd; ++j) dst[j] = src[(j - jBegin) * sw_];
          }
        }
      }
      int64_t n = unit / p_.inChannels, ic = unit % p_.inChannels;
      for (int64_t m = 0; m < multiplier_; ++m) {
        int64_t oc = ic * multiplier_ + m;
        const float* wk = w + oc * taps;
        float b = bias ? bias[oc] : 0.0f;
        int64_t planeOffset = (n * p_.outChannels + oc) * outPlane;
        for (int64_t oh = 0; oh < outH_; ++oh) {
          const float* row = padded + oh * sh_ * phaseW;
          float* yRow = y + planeOffset + oh * outW_;
          if (kh_ == 3 && kw_ == 3) {
            genericRowFixed<3, 3>(yRow, row, tapOffsets.data(), wk, b, outW_);
          } else if (kh_ == 5 && kw_ == 5) {
            genericRowFixed<5, 5>(yRow, row, tapOffsets.data(), wk, b, outW_);
          } else {
            genericRow(yRow, row, tapOffsets.data(), wk, b, taps, outW_);
          }
          // Bias went in above; residual and activation while the row is in L1.
          rowEpilogue(yRow, z ? z + planeOffset + oh * outW_ : nullptr, outW_, p_.activation);
        }
      }
    }
  });
}

}  // namespace cleave
