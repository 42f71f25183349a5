// A 1x1 convolution at stride 1 is a matrix product per image: out_n (O x P) = w (O x C) x in_n
// (C x P), P = H * W, and its input gradient gin_n (C x P) = w^T (C x O) x gout_n (O x P). The
// channel-lane kernels (conv2d_lanes.cpp) compute it with channels in the lanes, which costs a turn
// of the pixel-major result into NCHW (a third of the time of stem7's 64 -> 128 on 16 x 16, where
// the products ran at under half the FMA peak). Here the lanes hold 16 neighbouring pixels of one
// plane, read and written in place: a register block of kRows rows (output channels) x kVectors
// vectors of pixels loads kVectors vectors and broadcasts kRows weights per kRows * kVectors
// fused multiply-adds, summing over all of K (input channels) before one store.
//
// Each sum starts from the bias (forward) or zero (input gradient) and adds its K products in
// order, one fused multiply-add each: the channel-lane kernels' sums, so the same bits as theirs,
// at every blocking and thread count.
#include "conv2d_pointwise.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv_epilogue.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "scratch.h"
#include "simd.h"

// GCC 12's AVX-512 headers leave a placeholder operand undefined in some intrinsics
// (_mm512_max_ps, _mm512_cvtps_pd, ...) and then warn about it once inlined (GCC bug 105593).
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace convlab::kernels {

namespace {

constexpr int64_t kLanes = 16;
constexpr int kRows = 8;     // rows of the result per register block
constexpr int kVectors = 3;  // vectors of pixels per register block: 24 accumulators

// What is applied to a block's sums as they are stored: an evaluation-mode BatchNorm (row r's
// mean, scale and shift at bn[r], bn[ld + r], bn[2 * ld + r]: conv_epilogue.h's formula, the
// BatchNorm kernel's own), then a ReLU. Blocks take it by reference: by value, its 40 bytes went
// through the stack with a 32-byte load over an 8-byte store, a failed store-to-load forward on
// every block (a stride-1 64 -> 128 forward on 16 x 16: 1.46 -> 1.61 ms).
struct Epilogue {
  const double* bn = nullptr;
  int64_t ld = 0;
  bool relu = false;
  // Or, for a stride-2 layer's input gradient on an output plane of 8 or 16 columns (spread_W =
  // 15 or 16, 31 or 32 input columns, spread_H input rows): each vector stored spread out
  // (spread_rows), c being the input gradient's plane at the tile's first row, ldc its
  // channels' distance.
  int64_t spread_H = 0, spread_W = 0;
};

// Permute indices: lanes 0, 2, .. 30 of two vectors (a row's even pixels), and lanes 0, 0, 1, 1,
// .. 7, 7 (8 values to even lanes, zeroed odd ones by a mask) and 8, 8, .. 15, 15.
__attribute__((target("avx512f"))) inline __m512i even_lanes() {
  return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
__attribute__((target("avx512f"))) inline __m512i doubled_low() {
  return _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
}
__attribute__((target("avx512f"))) inline __m512i doubled_high() {
  return _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
}

// Whether a stride-2 layer's output rows fill its vectors whole (8 or 16 columns: two rows a
// vector or one): then the forward picks its tiles straight out of the input (tile_even_rows)
// and the input gradient is spread as it is stored (spread_rows).
inline bool rows_fill_vectors(const Conv2dGeometry& g) {
  return g.OW == kLanes / 2 || g.OW == kLanes;
}

// Input rows a vector of a stride-2 layer's output plane covers: 2 output rows of 8 pixels (4
// input rows) or one of 16 (2 input rows).
inline int64_t input_rows_per_vector(int64_t W) {
  return W > kLanes ? 2 : 4;
}

// A vector z of 16 input-gradient sums of a stride-2 layer's output plane (two rows of 8 or one of
// 16) stored as the input rows they stand for, from `out` on, W columns and at most H rows: each
// value at an even column of an even row, zeros between. Stored as they come, between the
// products of the next block: written in a pass of their own, the 2 MB of ResNet-20's shortcut
// input gradient took 40 % of its time.
__attribute__((target("avx512f"))) inline void spread_rows(__m512 z, int64_t H, int64_t W,
                                                           float* out) {
  const __m512 zero = _mm512_setzero_ps(),
               first = _mm512_maskz_permutexvar_ps(0x5555, doubled_low(), z),
               second = _mm512_maskz_permutexvar_ps(0x5555, doubled_high(), z);
  if (W > kLanes) {  // one row of 16: input row 0 in two vectors, row 1 zeros
    const __mmask16 m = lanes_mask(W - kLanes);
    _mm512_storeu_ps(out, first);
    _mm512_mask_storeu_ps(out + kLanes, m, second);
    if (H > 1) {
      _mm512_storeu_ps(out + W, zero);
      _mm512_mask_storeu_ps(out + W + kLanes, m, zero);
    }
    return;
  }
  const __mmask16 m = lanes_mask(W);  // two rows of 8
  _mm512_mask_storeu_ps(out, m, first);
  if (H > 1) _mm512_mask_storeu_ps(out + W, m, zero);
  if (H > 2) _mm512_mask_storeu_ps(out + 2 * W, m, second);
  if (H > 3) _mm512_mask_storeu_ps(out + 3 * W, m, zero);
}

// c[r][p] = init[r] (or 0) + sum_k a[k * kRows + r] * b[k * ldb + p], k in order, for r < R and
// p < 16 * (NV - 1) + the lanes of `last` in the last vector.
template <int R, int NV, bool Spread>
__attribute__((target("avx512f"))) void block(int64_t K, const float* a, const float* b,
                                              int64_t ldb, __mmask16 last, const float* init,
                                              float* c, int64_t ldc, const Epilogue& e) {
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 i = init ? _mm512_set1_ps(init[r]) : _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = i;
  }
  for (int64_t k = 0; k < K; ++k, a += kRows, b += ldb) {
    __m512 x[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      x[v] = v + 1 < NV ? _mm512_loadu_ps(b + v * kLanes)
                        : _mm512_maskz_loadu_ps(last, b + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 wr = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x[v], wr, acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    __m512d mean[2], scale[2], shift[2];  // the row's, in both halves
    if (e.bn) {
      mean[0] = mean[1] = _mm512_set1_pd(e.bn[r]);
      scale[0] = scale[1] = _mm512_set1_pd(e.bn[e.ld + r]);
      shift[0] = shift[1] = _mm512_set1_pd(e.bn[2 * e.ld + r]);
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 z = acc[r][v];
      if (e.bn) z = batch_norm_lanes(z, mean, scale, shift);
      if (e.relu) z = _mm512_max_ps(z, _mm512_setzero_ps());  // NaN and -0 give +0, as ReLU
      if constexpr (Spread)
        spread_rows(z, e.spread_H - input_rows_per_vector(e.spread_W) * v, e.spread_W,
                    c + r * ldc + input_rows_per_vector(e.spread_W) * v * e.spread_W);
      else if (v + 1 < NV)
        _mm512_storeu_ps(c + r * ldc + v * kLanes, z);
      else
        _mm512_mask_storeu_ps(c + r * ldc + v * kLanes, last, z);
    }
  }
}

// block<R, NV, Spread> for R (1 .. kRows) known only at run time.
template <int NV, bool Spread, int R = kRows>
__attribute__((target("avx512f"))) void block_of(int rows, int64_t K, const float* a,
                                                 const float* b, int64_t ldb, __mmask16 last,
                                                 const float* init, float* c, int64_t ldc,
                                                 const Epilogue& e) {
  if constexpr (R >= 1) {
    if (rows == R) return block<R, NV, Spread>(K, a, b, ldb, last, init, c, ldc, e);
    block_of<NV, Spread, R - 1>(rows, K, a, b, ldb, last, init, c, ldc, e);
  }
}

// rows_product's tile of vectors [v0, v0 + nv) of the K planes of a stride-2 layer's output
// plane of 8 or 16 columns, from the input's planes b: vector j of plane k is output rows 2j and
// 2j + 1, the even pixels of input rows 4j and 4j + 2 (the second zero past the plane), or output
// row j, input row 2j's. Kept out of line, so that rows_product's plain copy (the stride-1
// layers' path) compiles as it did without it.
__attribute__((target("avx512f"), noinline)) void tile_even_rows(const Conv2dGeometry& g, int64_t K,
                                                                 const float* b, int64_t v0,
                                                                 int64_t nv, float* tile) {
  const __m512i pick = even_lanes();
  if (g.OW == kLanes) {  // 31 or 32 columns
    const __mmask16 m = lanes_mask(g.W - kLanes);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t v = 0; v < nv; ++v) {
        const float* row = b + (k * g.H + 2 * (v0 + v)) * g.W;
        _mm512_storeu_ps(tile + (k * nv + v) * kLanes,
                         _mm512_permutex2var_ps(_mm512_loadu_ps(row), pick,
                                                _mm512_maskz_loadu_ps(m, row + kLanes)));
      }
    return;
  }
  const __mmask16 m = lanes_mask(g.W);  // 15 or 16 columns
  for (int64_t k = 0; k < K; ++k)
    for (int64_t v = 0; v < nv; ++v) {
      const int64_t y = 2 * (v0 + v);
      const float* row = b + (k * g.H + 2 * y) * g.W;
      const __m512 lo = _mm512_maskz_loadu_ps(m, row);
      const __m512 hi =
          y + 1 < g.OH ? _mm512_maskz_loadu_ps(m, row + 2 * g.W) : _mm512_setzero_ps();
      _mm512_storeu_ps(tile + (k * nv + v) * kLanes, _mm512_permutex2var_ps(lo, pick, hi));
    }
}

// Rows [r0, r1) (r0 a multiple of kRows) of c (M x P) = packed a x b (K x P), plane by plane:
// a in blocks of kRows rows, K x kRows each (zero rows past M); init: M values or null. The
// pixels go in tiles of at most kVectors vectors, as equal as can be (16 x 16's 16 vectors are
// 3, 3, 3, 3, 2, 2, not five of 3 and one of 1), the plane's last vector masked.
__attribute__((target("avx512f"))) void rows_product(int64_t M, int64_t P, int64_t K,
                                                     const float* a, const float* b,
                                                     const float* init, float* c, int64_t r0,
                                                     int64_t r1, Epilogue e,
                                                     const Conv2dGeometry* even = nullptr) {
  const int64_t vectors = (P + kLanes - 1) / kLanes, tiles = (vectors + kVectors - 1) / kVectors;
  const int64_t tail = P - (vectors - 1) * kLanes;
  const __mmask16 full = 0xFFFF, end = static_cast<__mmask16>((uint32_t{1} << tail) - 1);
  // The plane's tiles of pixels copied out first, each K rows of its vectors, contiguous: read in
  // place, the plane's rows (P floats apart, a power of two on most planes) fall into a few cache
  // sets. Then each block of rows meets every tile in turn, so that its stores run along 8 rows
  // (a tile meeting every block of rows wrote along 64 or more rows at once, which the
  // prefetchers do not follow: 32 -> 64 on 32 x 32, batch 64, 4.6 -> 6.9 ms).
  float* tiled = scratch(0, static_cast<size_t>(K * vectors * kLanes));
  for (int64_t t = 0, v0 = 0; t < tiles; ++t) {
    const int64_t nv = vectors / tiles + (t < vectors % tiles ? 1 : 0);
    float* tile = tiled + K * v0 * kLanes;
    if (even) {
      tile_even_rows(*even, K, b, v0, nv, tile);
    } else {
      for (int64_t k = 0; k < K; ++k)
        for (int64_t v = 0; v < nv; ++v)
          _mm512_storeu_ps(tile + (k * nv + v) * kLanes,
                           _mm512_maskz_loadu_ps(v0 + v + 1 < vectors ? full : end,
                                                 b + k * P + (v0 + v) * kLanes));
    }
    v0 += nv;
  }
  for (int64_t r = r0; r < r1; r += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, M - r));
    const float* ar = a + r * K;
    Epilogue er = e;
    if (er.bn) er.bn += r;
    const float* it = init ? init + r : nullptr;
    for (int64_t t = 0, v0 = 0; t < tiles; ++t) {
      const int64_t nv = vectors / tiles + (t < vectors % tiles ? 1 : 0);
      const __mmask16 last = v0 + nv == vectors ? end : full;
      const float* tile = tiled + K * v0 * kLanes;
      float* ct = c + r * P + v0 * kLanes;
      int64_t ldc = P;
      if (e.spread_W) {  // the tile's rows 2 v0 .. spread over the input gradient's planes
        ldc = e.spread_H * e.spread_W;
        ct = c + r * ldc + input_rows_per_vector(e.spread_W) * v0 * e.spread_W;
        er.spread_H = e.spread_H - input_rows_per_vector(e.spread_W) * v0;
      }
      // Spread or plain stores, each instance compiled on its own.
      const auto run = [&]<bool Spread>() {
        switch (nv) {
          case 1:
            return block_of<1, Spread>(rows, K, ar, tile, kLanes, last, it, ct, ldc, er);
          case 2:
            return block_of<2, Spread>(rows, K, ar, tile, 2 * kLanes, last, it, ct, ldc, er);
          default:  // nv is at most kVectors
            return block_of<3, Spread>(rows, K, ar, tile, 3 * kLanes, last, it, ct, ldc, er);
        }
      };
      if (e.spread_W)
        run.template operator()<true>();
      else
        run.template operator()<false>();
      v0 += nv;
    }
  }
}

// A 1x1 layer at stride 2 reads (forward) and writes (input gradient) only every other pixel of
// every other row of its input's planes: pixel (y, x) of its OH x OW plane is (2y, 2x) there.
// Where its output rows fill their vectors (rows_fill_vectors) the products read and write the
// input's planes directly; on other planes they run on the plane copied out dense, and the input
// gradient is spread from one in a pass of its own. (The channel lanes had turned every result
// pixel-major <-> NCHW, and zeroed and turned the three phases of the input gradient without
// taps: 38 % of ResNet-20's 32 -> 64 shortcut's input gradient.)

// K planes of the input (H x W each) -> K dense OH x OW planes: each row's even pixels, 16 a
// vector, picked out of two vectors by one permute.
__attribute__((target("avx512f"))) void gather_even_pixels(const Conv2dGeometry& g, int64_t K,
                                                           const float* src, float* dst) {
  const __m512i even = even_lanes();
  for (int64_t x = 0; x < g.OW; x += kLanes) {
    const int64_t left = g.W - 2 * x;  // at least 2 (OW - x) - 1: every pixel wanted
    const __mmask16 ma = lanes_mask(left), mb = lanes_mask(left - kLanes),
                    ms = lanes_mask(g.OW - x);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t y = 0; y < g.OH; ++y) {
        const float* row = src + (k * g.H + 2 * y) * g.W + 2 * x;
        // No load at all where no lane is wanted (a load with every lane masked off was this
        // loop's hottest instruction).
        const __m512 b = mb ? _mm512_maskz_loadu_ps(mb, row + kLanes) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(dst + (k * g.OH + y) * g.OW + x, ms,
                              _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(ma, row), even, b));
      }
  }
}

// Channels [c0, c1) of the dense OH x OW planes src -> the input's H x W planes at dst: each
// value at (2y, 2x), zeros between (odd rows, odd columns).
__attribute__((target("avx512f"))) void spread_even_pixels(const Conv2dGeometry& g, int64_t c0,
                                                           int64_t c1, const float* src,
                                                           float* dst) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512i spread = doubled_low();
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t iy = 0; iy < g.H; ++iy) {
      float* out = dst + (c * g.H + iy) * g.W;
      if (iy % 2) {
        for (int64_t x = 0; x < g.W; x += kLanes)
          _mm512_mask_storeu_ps(out + x, lanes_mask(g.W - x), zero);
        continue;
      }
      const float* row = src + (c * g.OH + iy / 2) * g.OW;
      // Values x .. x + 7 into the even lanes (fewer at the row's end), read only where wanted,
      // by a permute (an expanding load, vexpandps from memory, took 4x as long on Zen 5).
      for (int64_t x = 0; x < g.OW; x += kLanes / 2)
        _mm512_mask_storeu_ps(
            out + 2 * x, lanes_mask(g.W - 2 * x),
            _mm512_maskz_permutexvar_ps(0x5555, spread,
                                        _mm512_maskz_loadu_ps(lanes_mask(g.OW - x), row + x)));
    }
}

// Rows [r0, r1) of image n's output: packed weights (O x C) x its input, plus bias, epilogue e.
void forward_rows(const Conv2dGeometry& g, const float* packed, const float* in, const float* bias,
                  const Epilogue& e, int64_t n, int64_t r0, int64_t r1, float* out) {
  const int64_t P = g.OH * g.OW, image = g.C * g.H * g.W;
  float* out_n = out + n * g.O * P;
  if (g.SH == 1) return rows_product(g.O, P, g.C, packed, in + n * image, bias, out_n, r0, r1, e);
  if (rows_fill_vectors(g))  // the input's even pixels straight into the product's tiles
    return rows_product(g.O, P, g.C, packed, in + n * image, bias, out_n, r0, r1, e, &g);
  float* dense = scratch(2, static_cast<size_t>(g.C * P));
  gather_even_pixels(g, g.C, in + n * image, dense);
  rows_product(g.O, P, g.C, packed, dense, bias, out_n, r0, r1, e);
}

// Rows (input channels) [r0, r1) of image n's input gradient: packed weights (C x O) x its output
// gradient.
void input_grad_rows(const Conv2dGeometry& g, const float* packed, const float* gout, int64_t n,
                     int64_t r0, int64_t r1, float* gin) {
  const int64_t P = g.OH * g.OW, image = g.C * g.H * g.W;
  const float* gout_n = gout + n * g.O * P;
  if (g.SH == 1)
    return rows_product(g.C, P, g.O, packed, gout_n, nullptr, gin + n * image, r0, r1, {});
  if (rows_fill_vectors(g)) {  // spread as the sums are stored
    Epilogue spread;
    spread.spread_H = g.H, spread.spread_W = g.W;
    return rows_product(g.C, P, g.O, packed, gout_n, nullptr, gin + n * image, r0, r1, spread);
  }
  float* dense = scratch(2, static_cast<size_t>(g.C * P));
  rows_product(g.C, P, g.O, packed, gout_n, nullptr, dense, r0, r1, {});
  spread_even_pixels(g, r0, r1, dense, gin + n * image);
}

// rows(n, r0, r1) for every image n and its blocks of M result rows (K products each), in tasks
// of whole blocks of rows, fixed by the shape alone.
template <typename Rows>
void for_row_blocks(const Conv2dGeometry& g, int64_t M, int64_t K, const Rows& rows) {
  const int64_t blocks = (M + kRows - 1) / kRows;
  const int64_t parts = std::min(blocks, parts_per_image(g.N, M * K * g.OH * g.OW));
  parallel_for(g.N * parts, [&](int64_t task) {
    const int64_t n = task / parts, part = task % parts;
    rows(n, part * blocks / parts * kRows, std::min(M, (part + 1) * blocks / parts * kRows));
  });
}

// a (M x K, element (m, k) at a[m * rs + k * ks]) in blocks of kRows rows, each K x kRows.
float* pack_rows(int64_t M, int64_t K, const float* a, int64_t rs, int64_t ks, int slot) {
  const int64_t blocks = (M + kRows - 1) / kRows;
  float* packed = scratch(slot, static_cast<size_t>(blocks * K * kRows));
  for (int64_t i = 0; i < blocks; ++i)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t r = 0; r < kRows; ++r) {
        const int64_t m = i * kRows + r;
        packed[(i * K + k) * kRows + r] = m < M ? a[m * rs + k * ks] : 0.0f;
      }
  return packed;
}

}  // namespace

bool pointwise_conv_applies(const Conv2dGeometry& g) {
  // Planes of 64 pixels or more whose vectors are at most 1/16 lanes past the plane (8 x 8, 14 x
  // 14, 16 x 16, 32 x 32; not 7 x 7, 49 pixels in 4 vectors, nor 4 x 4, one vector a block), from
  // the kernel timer against the channel lanes at batch 8 and 64, 1 thread: 32 -> 64 on 32 x 32
  // forward 0.48 -> 0.29 ms (batch 8), 64 -> 128 on 16 x 16 0.33 -> 0.26; 8 x 8 and 14 x 14 even; 7
  // x 7 0.41 -> 0.53 and 4 x 4 (256 -> 256) 1.0 -> 1.6 at batch 64. At stride 2 the plane is the
  // output's; against the channel lanes (batch 64, 1 thread, alternated, fastest of 300-600
  // calls), ResNet-20's 32 -> 64 shortcut on 16 x 16: forward even (0.11 ms), input gradient
  // 0.145 -> 0.111, forward and backward 0.400 -> 0.373; its 16 -> 32 on 32 x 32: forward 0.19
  // -> 0.15, input gradient 0.52 -> 0.18, forward and backward 0.99 -> 0.53.
  const int64_t P = g.OH * g.OW, padded = (P + kLanes - 1) / kLanes * kLanes;
  const bool stride = (g.SH == 1 && g.SW == 1) || (g.SH == 2 && g.SW == 2);
  return active_isa() == Isa::avx512 && g.KH == 1 && g.KW == 1 && stride && g.PH == 0 &&
         g.PW == 0 && g.C >= kLanes && g.O >= kLanes && P >= 64 && 16 * padded <= 17 * P;
}

void conv2d_forward_pointwise(const Conv2dGeometry& g, ConvFusion f, const float* in,
                              const float* w, const float* bias, float* out) {
  const float* packed = pack_rows(g.O, g.C, w, g.C, 1, 5);
  std::vector<double> bn;
  if (f.bn_scale) {
    bn.resize(static_cast<size_t>(3 * g.O));
    std::copy(f.bn_mean, f.bn_mean + g.O, bn.begin());
    std::copy(f.bn_scale, f.bn_scale + g.O, bn.begin() + g.O);
    std::copy(f.bn_shift, f.bn_shift + g.O, bn.begin() + 2 * g.O);
  }
  const Epilogue e{f.bn_scale ? bn.data() : nullptr, g.O, f.relu};
  for_row_blocks(g, g.O, g.C, [&](int64_t n, int64_t r0, int64_t r1) {
    forward_rows(g, packed, in, bias, e, n, r0, r1, out);
  });
}

void conv2d_input_grad_pointwise(const Conv2dGeometry& g, const float* w, const float* gout,
                                 float* gin) {
  const float* packed = pack_input_grad_pointwise(g, w);
  for_row_blocks(g, g.C, g.O, [&](int64_t n, int64_t r0, int64_t r1) {
    input_grad_rows(g, packed, gout, n, r0, r1, gin);
  });
}

const float* pack_input_grad_pointwise(const Conv2dGeometry& g, const float* w) {
  return pack_rows(g.C, g.O, w, 1, g.C, 5);  // w^T: element (c, o) at w[o * C + c]
}

void input_grad_pointwise_image(const Conv2dGeometry& g, const float* packed, const float* gout,
                                int64_t n, float* gin) {
  input_grad_rows(g, packed, gout, n, 0, g.C, gin);
}

}  // namespace convlab::kernels
