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
// BatchNorm kernel's own), then a ReLU.
struct Epilogue {
  const double* bn = nullptr;
  int64_t ld = 0;
  bool relu = false;
};

// c[r][p] = init[r] (or 0) + sum_k a[k * kRows + r] * b[k * ldb + p], k in order, for r < R and
// p < 16 * (NV - 1) + the lanes of `last` in the last vector.
template <int R, int NV>
__attribute__((target("avx512f"))) void block(int64_t K, const float* a, const float* b,
                                              int64_t ldb, __mmask16 last, const float* init,
                                              float* c, int64_t ldc, Epilogue e) {
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
      if (v + 1 < NV)
        _mm512_storeu_ps(c + r * ldc + v * kLanes, z);
      else
        _mm512_mask_storeu_ps(c + r * ldc + v * kLanes, last, z);
    }
  }
}

// block<R, NV> for R (1 .. kRows) known only at run time.
template <int NV, int R = kRows>
__attribute__((target("avx512f"))) void block_of(int rows, int64_t K, const float* a,
                                                 const float* b, int64_t ldb, __mmask16 last,
                                                 const float* init, float* c, int64_t ldc,
                                                 Epilogue e) {
  if constexpr (R >= 1) {
    if (rows == R) return block<R, NV>(K, a, b, ldb, last, init, c, ldc, e);
    block_of<NV, R - 1>(rows, K, a, b, ldb, last, init, c, ldc, e);
  }
}

// Rows [r0, r1) (r0 a multiple of kRows) of c (M x P) = packed a x b (K x P), plane by plane:
// a in blocks of kRows rows, K x kRows each (zero rows past M); init: M values or null. The
// pixels go in tiles of at most kVectors vectors, as equal as can be (16 x 16's 16 vectors are
// 3, 3, 3, 3, 2, 2, not five of 3 and one of 1), the plane's last vector masked.
__attribute__((target("avx512f"))) void rows_product(int64_t M, int64_t P, int64_t K,
                                                     const float* a, const float* b,
                                                     const float* init, float* c, int64_t r0,
                                                     int64_t r1, Epilogue e) {
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
    for (int64_t k = 0; k < K; ++k)
      for (int64_t v = 0; v < nv; ++v)
        _mm512_storeu_ps(tile + (k * nv + v) * kLanes,
                         _mm512_maskz_loadu_ps(v0 + v + 1 < vectors ? full : end,
                                               b + k * P + (v0 + v) * kLanes));
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
      switch (nv) {
        case 1:
          block_of<1>(rows, K, ar, tile, kLanes, last, it, ct, P, er);
          break;
        case 2:
          block_of<2>(rows, K, ar, tile, 2 * kLanes, last, it, ct, P, er);
          break;
        default:  // nv is at most kVectors
          block_of<3>(rows, K, ar, tile, 3 * kLanes, last, it, ct, P, er);
          break;
      }
      v0 += nv;
    }
  }
}

// c_n = a x b_n for every image n: rows of a (M x K) packed by the caller, tasks of whole blocks
// of rows, fixed by the shape alone.
void batched_product(int64_t N, int64_t M, int64_t P, int64_t K, const float* packed,
                     const float* b, const float* init, float* c, Epilogue e) {
  const int64_t blocks = (M + kRows - 1) / kRows;
  const int64_t parts = std::min(blocks, parts_per_image(N, M * K * P));
  parallel_for(N * parts, [&](int64_t task) {
    const int64_t n = task / parts, part = task % parts;
    const int64_t r0 = part * blocks / parts * kRows,
                  r1 = std::min(M, (part + 1) * blocks / parts * kRows);
    rows_product(M, P, K, packed, b + n * K * P, init, c + n * M * P, r0, r1, e);
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
  // x 7 0.41 -> 0.53 and 4 x 4 (256 -> 256) 1.0 -> 1.6 at batch 64.
  const int64_t P = g.H * g.W, padded = (P + kLanes - 1) / kLanes * kLanes;
  return active_isa() == Isa::avx512 && g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 &&
         g.PH == 0 && g.PW == 0 && g.C >= kLanes && g.O >= kLanes && P >= 64 &&
         16 * padded <= 17 * P;
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
  batched_product(g.N, g.O, g.H * g.W, g.C, packed, in, bias, out, e);
}

void conv2d_input_grad_pointwise(const Conv2dGeometry& g, const float* w, const float* gout,
                                 float* gin) {
  batched_product(g.N, g.C, g.H * g.W, g.O, pack_input_grad_pointwise(g, w), gout, nullptr, gin,
                  {});
}

const float* pack_input_grad_pointwise(const Conv2dGeometry& g, const float* w) {
  return pack_rows(g.C, g.O, w, 1, g.C, 5);  // w^T: element (c, o) at w[o * C + c]
}

void input_grad_pointwise_image(const Conv2dGeometry& g, const float* packed, const float* gout,
                                int64_t n, float* gin) {
  const int64_t P = g.H * g.W;
  rows_product(g.C, P, g.O, packed, gout + n * g.O * P, nullptr, gin + n * g.C * P, 0, g.C, {});
}

}  // namespace convlab::kernels
