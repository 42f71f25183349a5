// Max pooling, forward and backward, with the reference's window rule (reference.h): in window
// order (row by row) the first strict maximum wins and the first NaN wins over everything; the
// backward pass adds each output gradient to its window's winner, outputs in raster order.
//
// 2x2 stride 2 (the notebook's, and the one fused into convolutions) has its own row kernels
// (pool2x2.h). With AVX-512, other windows of column stride 1 or 2 read their taps straight from
// the input with masked loads, -inf in the padding (DirectTaps). The rest goes through a phase
// buffer, the same taps from a copy: each input row is copied with -inf in its padding and split
// by column phase (padded column i goes to phase i % SW at position i / SW), so that tap (ky, kx)
// of 16 adjacent windows is one contiguous load (phase kx % SW, from position x + kx / SW) and no
// tap needs a bounds check. A -inf from the padding never wins over anything (it is not greater
// than -inf, and it is not NaN), so the values are the reference's; where every real tap of a
// window is -inf too, no tap "wins" and the backward pass gives the gradient to the window's
// first real tap, as the reference does.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/ops/reference.h"
#include "pool2x2.h"
#include "scratch.h"

namespace convlab::kernels {

namespace {

// ---- 2x2 stride 2: the row kernels of pool2x2.h, one image per task ----

bool is_2x2_stride2(const Pool2dGeometry& g) {
  return g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0;
}

// 2x2 stride-2 pooling of `planes` planes (H, W), forward and backward, per instruction set
// (pool2x2.h: 16 windows at a time with AVX-512, the scalar rule otherwise).
template <int VL>
CONVLAB_INLINE void pool_planes(const float* in, int64_t planes, int64_t H, int64_t W, float* out) {
  const int64_t OH = H / 2, OW = W / 2;
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t y = 0; y < OH; ++y) {
      const float* r0 = in + (c * H + 2 * y) * W;
      pool2x2::forward_row<VL, /*kRelu=*/false>(r0, r0 + W, OW, out + (c * OH + y) * OW, nullptr);
    }
}

template <int VL>
CONVLAB_INLINE void pool_planes_backward(const float* in, const float* gout, int64_t planes,
                                         int64_t H, int64_t W, float* gin) {
  const int64_t OH = H / 2, OW = W / 2;
  for (int64_t c = 0; c < planes; ++c) {
    for (int64_t y = 0; y < OH; ++y) {
      const float* r0 = in + (c * H + 2 * y) * W;
      float* g0 = gin + (c * H + 2 * y) * W;
      pool2x2::backward_row<VL>(r0, r0 + W, gout + (c * OH + y) * OW, OW, g0, g0 + W);
      for (int64_t x = 2 * OW; x < W; ++x) g0[x] = g0[W + x] = 0.0f;  // odd width: in no window
    }
    if (H % 2) std::fill(gin + (c * H + H - 1) * W, gin + (c + 1) * H * W, 0.0f);
  }
}

__attribute__((target("arch=x86-64-v4"), flatten)) void pool_planes_avx512(const float* in,
                                                                           int64_t planes,
                                                                           int64_t H, int64_t W,
                                                                           float* out) {
  pool_planes<16>(in, planes, H, W, out);
}
__attribute__((flatten)) void pool_planes_scalar(const float* in, int64_t planes, int64_t H,
                                                 int64_t W, float* out) {
  pool_planes<1>(in, planes, H, W, out);
}
__attribute__((target("arch=x86-64-v4"), flatten)) void pool_planes_backward_avx512(
    const float* in, const float* gout, int64_t planes, int64_t H, int64_t W, float* gin) {
  pool_planes_backward<16>(in, gout, planes, H, W, gin);
}
__attribute__((flatten)) void pool_planes_backward_scalar(const float* in, const float* gout,
                                                          int64_t planes, int64_t H, int64_t W,
                                                          float* gin) {
  pool_planes_backward<1>(in, gout, planes, H, W, gin);
}

// ---- any window: the phase buffer ----

constexpr int64_t kLanes = 16;

// One plane's rows split by column phase: row iy, phase r, position j holds padded column
// j * SW + r (input column j * SW + r - PW, or -inf outside the row).
struct PhaseRows {
  int64_t length;  // positions per phase: OW rounded up to whole vectors, plus (KW - 1) / SW

  explicit PhaseRows(const Pool2dGeometry& g)
      : length((g.OW + kLanes - 1) / kLanes * kLanes + (g.KW - 1) / g.SW) {}
  int64_t floats(const Pool2dGeometry& g) const { return g.H * g.SW * length; }
  // Tap kx of window x in row iy.
  const float* tap(const float* buf, const Pool2dGeometry& g, int64_t iy, int64_t kx,
                   int64_t x) const {
    return buf + (iy * g.SW + kx % g.SW) * length + x + kx / g.SW;
  }
};

// The address `offset` floats from p for a masked load, where p + offset may lie outside the
// array (the load touches no lane that is off): formed as an integer, as pointer arithmetic past
// an array's bounds is undefined.
inline const float* masked_address(const float* p, int64_t offset) {
  return reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(p) +
                                        static_cast<uintptr_t>(offset) * sizeof(float));
}

// Phase r of one input row: out[j] = in[j * SW + r - PW] where that column is inside the row,
// -inf elsewhere. The columns inside are the positions [lo, hi); stride 1 is a copy, any other
// stride element by element (with AVX-512 only strides of 3 and more come here: DirectTaps reads
// strides 1 and 2 in place).
void fill_phase_row(const Pool2dGeometry& g, int64_t r, int64_t length, const float* in,
                    float* out) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t first = r - g.PW;  // the input column of position 0
  const int64_t lo = std::min(length, first >= 0 ? 0 : (-first + g.SW - 1) / g.SW);
  const int64_t last = g.W - 1 - first;  // position j reads column first + j * SW <= W - 1
  const int64_t hi = std::max(lo, std::min(length, last >= 0 ? last / g.SW + 1 : 0));
  std::fill(out, out + lo, kNegInf);
  int64_t j = 0;
  const float* src = hi > lo ? in + first + lo * g.SW : in;
  if (g.SW == 1) {
    std::copy(src, src + (hi - lo), out + lo);
    j = hi - lo;
  }
  for (; j < hi - lo; ++j) out[lo + j] = src[j * g.SW];
  std::fill(out + hi, out + length, kNegInf);
}

void fill_phases(const Pool2dGeometry& g, const PhaseRows& rows, const float* plane, float* buf) {
  for (int64_t iy = 0; iy < g.H; ++iy)
    for (int64_t r = 0; r < g.SW; ++r)
      fill_phase_row(g, r, rows.length, plane + iy * g.W, buf + (iy * g.SW + r) * rows.length);
}

// The rows ky of output row y's windows that lie inside the input: [first, last).
struct TapRows {
  int64_t first, last;
};
TapRows tap_rows(const Pool2dGeometry& g, int64_t y) {
  const int64_t top = y * g.SH - g.PH;
  return {std::max<int64_t>(0, -top), std::min(g.KH, g.H - top)};
}

// Does v take the window from best? The reference's rule, per lane.
#define CONVLAB_AVX512_POOL __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
CONVLAB_AVX512_POOL inline __mmask16 takes(__m512 v, __m512 best) {
  return _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
         (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q));
}
inline bool takes(float v, float best) {
  return v > best || (v != v && best == best);
}

// Tap kx of the 16 windows of vector block b (outputs 16 b ...) in input row iy, from the phase
// buffer: one load.
struct PhaseTaps {
  const Pool2dGeometry& g;
  const PhaseRows& rows;
  const float* buf;
  CONVLAB_AVX512_POOL CONVLAB_INLINE __m512 load(int64_t iy, int64_t kx, int64_t b) const {
    return _mm512_loadu_ps(rows.tap(buf, g, iy, kx, b * kLanes));
  }
};

// The same taps straight from the input plane, for strides 1 and 2 with AVX-512: the 16 (stride
// 1) or 32 (stride 2, then the even columns kept) columns from SW * 16 b + kx - PW on, with -inf
// where a column is padding. Which lanes are inside the row depends only on (b, kx): the masks are
// worked out once per call (ColumnMasks), so a plane needs no copy at all.
struct ColumnMasks {
  std::vector<uint32_t> masks;  // (block, kx): bit l set when column start + l is in the row

  explicit ColumnMasks(const Pool2dGeometry& g) {  // strides 1 and 2 only: 32 lanes at most
    const int64_t blocks = (g.OW + kLanes - 1) / kLanes;
    masks.resize(static_cast<size_t>(blocks * g.KW));
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        const int64_t start = g.SW * b * kLanes + kx - g.PW;
        uint32_t m = 0;
        for (int64_t l = 0; l < g.SW * kLanes; ++l)
          if (start + l >= 0 && start + l < g.W) m |= uint32_t{1} << l;
        masks[static_cast<size_t>(b * g.KW + kx)] = m;
      }
  }
};

struct DirectTaps {
  const Pool2dGeometry& g;
  const ColumnMasks& columns;
  const float* plane;
  CONVLAB_AVX512_POOL CONVLAB_INLINE __m512 load(int64_t iy, int64_t kx, int64_t b) const {
    const __m512 pad = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    const uint32_t m = columns.masks[static_cast<size_t>(b * g.KW + kx)];
    // Only lanes inside the row are read: the address of a masked-off lane is never touched.
    const float* row = plane + iy * g.W;
    const int64_t start = g.SW * b * kLanes + kx - g.PW;  // -PW at the row's first block
    const __m512 lo =
        _mm512_mask_loadu_ps(pad, static_cast<__mmask16>(m), masked_address(row, start));
    if (g.SW == 1) return lo;
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 hi = _mm512_mask_loadu_ps(pad, static_cast<__mmask16>(m >> 16),
                                           masked_address(row, start + kLanes));
    return _mm512_permutex2var_ps(lo, even, hi);
  }
};

// Each window row's winner first, then the rows in order: the same winner as one search in window
// order (the rule picks the first NaN, else the first maximum, and so does any grouping of it).
// A row's winner depends on the input row and the block of windows alone, so output row y takes
// the winner of the last input row of row y - 1 where its windows start there (3 x 3 at stride 2:
// two rows searched per output row instead of three).
// With kArg, *arg gets each winner's index in the plane, from `left` (each window's tap 0 at row
// iy: iy * W + its first column).
template <bool kArg = false, typename Taps>
CONVLAB_AVX512_POOL CONVLAB_INLINE __m512 row_winner(const Pool2dGeometry& g, const Taps& taps,
                                                     int64_t iy, int64_t b, __m512i left,
                                                     __m512i* arg) {
  __m512 row = taps.load(iy, 0, b);
  if constexpr (kArg) *arg = left;
  for (int64_t kx = 1; kx < g.KW; ++kx) {
    const __m512 v = taps.load(iy, kx, b);
    const __mmask16 take = takes(v, row);
    row = _mm512_mask_mov_ps(row, take, v);
    if constexpr (kArg)
      *arg = _mm512_mask_mov_epi32(
          *arg, take, _mm512_add_epi32(left, _mm512_set1_epi32(static_cast<int32_t>(kx))));
  }
  return row;
}

template <typename Taps>
CONVLAB_AVX512_POOL void forward_plane_avx512(const Pool2dGeometry& g, const Taps& taps,
                                              float* out) {
  for (int64_t x = 0; x < g.OW; x += kLanes) {
    const int64_t b = x / kLanes, lanes = std::min(kLanes, g.OW - x);
    __m512 kept = _mm512_setzero_ps();
    int64_t kept_row = -1;  // the input row whose winner `kept` holds
    for (int64_t y = 0; y < g.OH; ++y) {
      const TapRows t = tap_rows(g, y);
      __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
      for (int64_t ky = t.first; ky < t.last; ++ky) {
        const int64_t iy = y * g.SH - g.PH + ky;
        const __m512 row =
            iy == kept_row ? kept : row_winner(g, taps, iy, b, _mm512_setzero_si512(), nullptr);
        best = _mm512_mask_mov_ps(best, takes(row, best), row);
        if (ky == t.last - 1) {
          kept = row;
          kept_row = iy;
        }
      }
      _mm512_mask_storeu_ps(out + y * g.OW + x, static_cast<__mmask16>((1u << lanes) - 1), best);
    }
  }
}

void forward_plane_scalar(const Pool2dGeometry& g, const PhaseRows& rows, const float* buf,
                          float* out) {
  for (int64_t y = 0; y < g.OH; ++y) {
    const TapRows t = tap_rows(g, y);
    for (int64_t x = 0; x < g.OW; ++x) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t ky = t.first; ky < t.last; ++ky)
        for (int64_t kx = 0; kx < g.KW; ++kx) {
          const float v = *rows.tap(buf, g, y * g.SH - g.PH + ky, kx, x);
          if (takes(v, best)) best = v;
        }
      out[y * g.OW + x] = best;
    }
  }
}

// Backward: the same search, keeping the winner's index in the plane (iy * W + ix); -1 where no
// tap won (every real tap -inf), which then goes to the window's first real tap. Outputs in raster
// order (the order of the additions into gin), so the row winners carried from one output row to
// the next (as in the forward) wait in a buffer, a vector and its indices per block.
template <typename Taps>
CONVLAB_AVX512_POOL void backward_plane_avx512(const Pool2dGeometry& g, const Taps& taps,
                                               const float* gout, float* gin) {
  std::fill(gin, gin + g.H * g.W, 0.0f);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  alignas(64) int32_t winner[kLanes];
  const int64_t blocks = (g.OW + kLanes - 1) / kLanes;
  thread_local std::vector<float> kept_values;
  thread_local std::vector<int32_t> kept_args;
  kept_values.resize(static_cast<size_t>(blocks * kLanes));
  kept_args.resize(static_cast<size_t>(blocks * kLanes));
  int64_t kept_row = -1;  // the input row whose winners the buffers hold
  for (int64_t y = 0; y < g.OH; ++y) {
    const TapRows t = tap_rows(g, y);
    const int64_t top = y * g.SH - g.PH;
    for (int64_t x = 0; x < g.OW; x += kLanes) {
      float* kept_value = kept_values.data() + x;
      int32_t* kept_arg = kept_args.data() + x;
      // Input column of tap 0 of each window: SW * (x + lane) - PW.
      const __m512i left = _mm512_sub_epi32(
          _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(x))),
                             _mm512_set1_epi32(static_cast<int32_t>(g.SW))),
          _mm512_set1_epi32(static_cast<int32_t>(g.PW)));
      __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
      __m512i arg = _mm512_set1_epi32(-1);
      for (int64_t ky = t.first; ky < t.last; ++ky) {  // grouped by rows, as the forward
        const int64_t iy = top + ky;
        __m512 row;
        __m512i row_arg;
        if (iy == kept_row) {
          row = _mm512_loadu_ps(kept_value);
          row_arg = _mm512_loadu_si512(kept_arg);
        } else {
          row = row_winner<true>(
              g, taps, iy, x / kLanes,
              _mm512_add_epi32(left, _mm512_set1_epi32(static_cast<int32_t>(iy * g.W))), &row_arg);
        }
        const __mmask16 take = takes(row, best);
        best = _mm512_mask_mov_ps(best, take, row);
        arg = _mm512_mask_mov_epi32(arg, take, row_arg);
        if (ky == t.last - 1) {
          _mm512_storeu_ps(kept_value, row);
          _mm512_storeu_si512(kept_arg, row_arg);
        }
      }
      const __m512i first_real =
          _mm512_add_epi32(_mm512_max_epi32(left, _mm512_setzero_si512()),
                           _mm512_set1_epi32(static_cast<int32_t>((top + t.first) * g.W)));
      arg = _mm512_mask_mov_epi32(arg, _mm512_cmplt_epi32_mask(arg, _mm512_setzero_si512()),
                                  first_real);
      _mm512_store_si512(winner, arg);
      const float* go = gout + y * g.OW + x;
      const int64_t lanes = std::min(kLanes, g.OW - x);
      for (int64_t i = 0; i < lanes; ++i) gin[winner[i]] += go[i];
    }
    kept_row = top + t.last - 1;
  }
}

void backward_plane_scalar(const Pool2dGeometry& g, const PhaseRows& rows, const float* buf,
                           const float* gout, float* gin) {
  std::fill(gin, gin + g.H * g.W, 0.0f);
  for (int64_t y = 0; y < g.OH; ++y) {
    const TapRows t = tap_rows(g, y);
    const int64_t top = y * g.SH - g.PH;
    for (int64_t x = 0; x < g.OW; ++x) {
      const int64_t left = x * g.SW - g.PW;
      float best = -std::numeric_limits<float>::infinity();
      int64_t arg = -1;
      for (int64_t ky = t.first; ky < t.last; ++ky)
        for (int64_t kx = 0; kx < g.KW; ++kx) {
          const float v = *rows.tap(buf, g, top + ky, kx, x);
          if (takes(v, best)) {
            best = v;
            arg = (top + ky) * g.W + left + kx;
          }
        }
      if (arg < 0) arg = (top + t.first) * g.W + std::max<int64_t>(left, 0);
      gin[arg] += gout[y * g.OW + x];
    }
  }
}

// Calls f(rows, p, buf) for every plane p, with buf its phase rows.
template <typename F>
void for_each_plane(const Pool2dGeometry& g, const float* in, F f) {
  const PhaseRows rows(g);
  parallel_for_items(g.N * g.C, g.H * g.W, [&](int64_t p) {
    float* buf = scratch(0, static_cast<size_t>(rows.floats(g)));
    fill_phases(g, rows, in + p * g.H * g.W, buf);
    f(rows, p, buf);
  });
}

// The AVX-512 kernels on every plane, their taps straight from the input (strides 1 and 2) or
// from a phase buffer (wider strides).
// Calls f(taps, p) for every plane p with the AVX-512 kernels' taps of that plane: straight from
// the input at column strides 1 and 2, from a phase buffer at wider strides.
template <typename F>
void for_each_plane_avx512(const Pool2dGeometry& g, const float* in, F f) {
  const int64_t in_plane = g.H * g.W;
  if (g.SW <= 2) {
    const ColumnMasks columns(g);
    parallel_for_items(g.N * g.C, in_plane, [&](int64_t p) {
      f(DirectTaps{g, columns, in + p * in_plane}, p);
    });
    return;
  }
  for_each_plane(g, in, [&](const PhaseRows& rows, int64_t p, const float* buf) {
    f(PhaseTaps{g, rows, buf}, p);
  });
}

}  // namespace

void max_pool2d_forward(const Pool2dGeometry& g, const float* in, float* out) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  const bool avx512 = active_isa() == Isa::avx512;
  if (is_2x2_stride2(g)) {  // one task per image
    parallel_for(g.N, [&](int64_t n) {
      const float* src = in + n * g.C * in_plane;
      float* dst = out + n * g.C * out_plane;
      if (avx512)
        pool_planes_avx512(src, g.C, g.H, g.W, dst);
      else
        pool_planes_scalar(src, g.C, g.H, g.W, dst);
    });
    return;
  }
  if (avx512)
    return for_each_plane_avx512(g, in, [&](const auto& taps, int64_t p) {
      forward_plane_avx512(g, taps, out + p * out_plane);
    });
  for_each_plane(g, in, [&](const PhaseRows& rows, int64_t p, const float* buf) {
    forward_plane_scalar(g, rows, buf, out + p * out_plane);
  });
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* in, const float* gout, float* gin) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  // (the AVX-512 search keeps 32-bit positions in the plane)
  const bool avx512 = active_isa() == Isa::avx512 && in_plane < (int64_t{1} << 31);
  if (is_2x2_stride2(g)) {  // one task per image
    parallel_for(g.N, [&](int64_t n) {
      const float* src = in + n * g.C * in_plane;
      const float* go = gout + n * g.C * out_plane;
      float* gi = gin + n * g.C * in_plane;
      if (avx512)
        pool_planes_backward_avx512(src, go, g.C, g.H, g.W, gi);
      else
        pool_planes_backward_scalar(src, go, g.C, g.H, g.W, gi);
    });
    return;
  }
  if (avx512)
    return for_each_plane_avx512(g, in, [&](const auto& taps, int64_t p) {
      backward_plane_avx512(g, taps, gout + p * out_plane, gin + p * in_plane);
    });
  for_each_plane(g, in, [&](const PhaseRows& rows, int64_t p, const float* buf) {
    backward_plane_scalar(g, rows, buf, gout + p * out_plane, gin + p * in_plane);
  });
}

}  // namespace convlab::kernels
