// Convolution with channels in the vector lanes, for the shapes the row-vector kernels of
// conv2d_direct.cpp serve badly: strided convolutions, 1x1 convolutions and small planes. The
// direct kernels put neighbouring output pixels of one channel in a vector; at stride 2 they need
// the polyphase form (zero taps: 16 for 9 at 3x3) and on planes of 8x8 or 7x7 most of each vector
// is padding. Here a vector holds 16 channels of one pixel instead (oneDNN's blocked layouts do the
// same), so any stride, kernel, padding and plane size fills every lane, and a register block of
// kPixels pixels x 2 vectors reuses each loaded weight vector kPixels times and each broadcast
// input value twice.
//
//   forward      out[o][y][x] = b[o] + sum_{c,i,j} w[o][c][i][j] * in[c][y*SH-PH+i][x*SW-PW+j]
//                lanes over o; pixels in raster order; taps as offsets into a zero-bordered copy.
//   input grad   gin[c][iy][ix] = sum_{o,(i,j)} w[o][c][i][j] * gout[o][oy][ox] over the taps
//                with oy*SH = iy+PH-i: the input pixels fall into SH x SW phases by
//                (iy+PH) mod SH, each phase meets only its own taps (no zero taps), lanes over c.
//   weight grad  gw[o][c][i][j] = sum_{n,y,x} gout[o][y][x] * in[c][y*SH-PH+i][x*SW-PW+j]
//                lanes over o, a block of 12 (c, tap) pairs; images in fixed groups.
//
// Results go through a pixel-major scratch and are transposed into NCHW. Every sum runs in an
// order fixed by the geometry (taps in order, images grouped by the batch size and plane alone,
// group parts added in order), so results are the same at any thread count. AVX-512 only: other
// instruction sets keep the direct and polyphase paths.
#include "conv2d_lanes.h"

#include "conv2d_bias_grad.h"
#include "conv2d_direct.h"
#include "conv2d_pointwise.h"
#include "conv_epilogue.h"
#include "copy_rows.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "gemm.h"
#include "scratch.h"

// GCC 12's AVX-512 headers leave a placeholder operand undefined in some intrinsics
// (_mm512_max_ps, _mm512_cvtps_pd, ...) and then warn about it once inlined (GCC bug 105593).
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace convlab::kernels {

namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kBlock = 2 * kLanes;  // channels per register block: two vectors
constexpr int kPixels = 12;             // pixels per forward / input-gradient block
constexpr int kPairs = 12;              // (channel, tap) pairs per weight-gradient block
// Pixels per run of the forward and input gradient: each run streams the packed weights once, in
// blocks of 6 pixels (two vectors' pairs) or 12. Runs of 12 had split a 16-pixel plane (or
// phase) into 8 + 8 and so into blocks of 4: the weights streamed four times, each vector loaded
// for 4 pixels instead of 5 or 6.
constexpr int kRunPixels = 2 * kPixels;
constexpr int64_t kPanelBytes = 640 << 10;
// Forward planes and input-gradient phases of fewer pixels go by groups of images of about this
// many pixels a task, blocks of pixels across the images.
constexpr int64_t kGroupPixels = 4 * kPixels;

int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// Calls f(first, length) for ceil(count / most) runs of [0, count) as equal as can be (the first
// count % runs one longer): a 64-pixel plane in blocks of 12 is 11, 11, 11, 11, 10, 10, not five
// of 12 and a block of 4 that loads nearly as much as one of 12 for a third of the work. Each
// pixel's sums do not depend on its block.
template <typename F>
void for_runs(int64_t count, int64_t most, F f) {
  const int64_t runs = (count + most - 1) / most, base = runs ? count / runs : 0,
                extra = runs ? count % runs : 0;
  for (int64_t r = 0, first = 0; r < runs; ++r) {
    const int64_t length = base + (r < extra ? 1 : 0);
    f(first, length);
    first += length;
  }
}

// for_runs over whole pairs of [0, count): runs of even length but the last when count is odd,
// so that every run starts on an even pixel (the pairs of pixel_block with D > 0 stay pairs).
template <typename F>
void for_pair_runs(int64_t count, int64_t most, F f) {
  for_runs((count + 1) / 2, most / 2, [&](int64_t first, int64_t pairs) {
    f(2 * first, std::min(2 * pairs, count - 2 * first));
  });
}

// One image (C, H, W) copied into a zeroed (C, H + 2PH, W + 2PW) buffer at (PH, PW).
void pad_image(const Conv2dGeometry& g, const float* src, float* dst) {
  copy_into_zeroed(src, g.C, g.H, g.W, dst, g.H + 2 * g.PH, g.W + 2 * g.PW, g.PH, g.PW);
}

// P pixels x NV vectors of channels, summed over `pairs` (input offset, weight row) pairs:
// acc[p][v] += in[base[p] + offset[k]] * w[(v / 2) * wstride + k * kBlock + (v % 2) * kLanes]:
// NV = 1 is the first 16 lanes of a block (16 channels or fewer), 2 one block, 4 two blocks
// wstride apart; pixel p's sums stored at out + p * ld, or at out + rows[p] * ld (straight into a
// scattered or bordered layout). The core of forward and input gradient. Two blocks at 6 pixels
// load 4 weight vectors and 6 broadcasts per 24 multiply-adds, one block at 12 pixels 2 and 12.
// D > 0: pixel 2i + 1 reads D floats past pixel 2i (base[2i + 1] is not read), so that 12 pixels
// need 6 pointer registers, not 12: with 12 the loop had spilled them (an in-L1 test: one block
// at 12 pixels 133-141 GFLOP/s, paired 158-164; two blocks at 6 pixels reach the FMA peak as is).
template <int P, int NV, int D = 0>
__attribute__((target("avx512f"))) inline void pixel_block(
    const float* const* base, const int64_t* offset, const float* w, int64_t wstride, int64_t pairs,
    const float* init, float* out, int64_t ld, bool relu = false, const int64_t* rows = nullptr) {
  __m512 acc[P][NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const __m512 i =
        init ? _mm512_loadu_ps(init + (v / 2) * kBlock + (v % 2) * kLanes) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int p = 0; p < P; ++p) acc[p][v] = i;
  }
  for (int64_t k = 0; k < pairs; ++k) {
    __m512 wv[NV];
    for (int v = 0; v < NV; ++v)
      wv[v] = _mm512_load_ps(w + (v / 2) * wstride + k * kBlock + (v % 2) * kLanes);
    const int64_t o = offset[k];
#pragma GCC unroll 12
    for (int p = 0; p < P; ++p) {
      const __m512 x = _mm512_set1_ps(D ? base[p & ~1][o + (p & 1) * D] : base[p][o]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[p][v] = _mm512_fmadd_ps(x, wv[v], acc[p][v]);
    }
  }
#pragma GCC unroll 12
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (relu) acc[p][v] = _mm512_max_ps(acc[p][v], _mm512_setzero_ps());  // NaN and -0 give +0
      _mm512_storeu_ps(out + (rows ? rows[p] : p) * ld + (v / 2) * kBlock + (v % 2) * kLanes,
                       acc[p][v]);
    }
}

// pixel_block for a block of `count` pixels (at most kPixels / 2 at NV = 4, else kPixels), its
// size known at run time: a block of any size runs its own instance, so no pixel is computed and
// dropped.
template <int NV, int D = 0, int P = (NV == 4 ? kPixels / 2 : kPixels)>
__attribute__((target("avx512f"))) inline void pixel_block_of(int count, const float* const* base,
                                                              const int64_t* offset, const float* w,
                                                              int64_t wstride, int64_t pairs,
                                                              const float* init, float* out,
                                                              int64_t ld, bool relu = false,
                                                              const int64_t* rows = nullptr) {
  if constexpr (P >= 1) {
    if (count == P)
      return pixel_block<P, NV, D>(base, offset, w, wstride, pairs, init, out, ld, relu, rows);
    pixel_block_of<NV, D, P - 1>(count, base, offset, w, wstride, pairs, init, out, ld, relu, rows);
  }
}

// Pixels whose pairs (2i, 2i + 1) all lie d floats apart, d = 1 or 2 (neighbours in a row at
// stride 1 or 2), else 0.
inline int pair_distance(int64_t count, const float* const* base) {
  if (count < 2) return 0;
  const auto at = [&](int64_t p) { return reinterpret_cast<uintptr_t>(base[p]); };
  const uintptr_t d = (at(1) - at(0)) / sizeof(float);
  if ((d != 1 && d != 2) || at(1) - at(0) != d * sizeof(float)) return 0;
  for (int64_t i = 2; i + 1 < count; i += 2)
    if (at(i + 1) - at(i) != d * sizeof(float)) return 0;
  return static_cast<int>(d);
}

template <int NV>
__attribute__((target("avx512f"))) void pixel_run(int64_t count, const float* const* base,
                                                  const int64_t* offset, const float* w,
                                                  int64_t wstride, int64_t pairs, const float* init,
                                                  float* out, int64_t ld, bool relu = false,
                                                  const int64_t* rows = nullptr) {
  constexpr int64_t most = NV == 4 ? kPixels / 2 : kPixels;
  const auto blocks = [&]<int D>() {
    const auto block = [&](int64_t p, int64_t length) {
      pixel_block_of<NV, D>(static_cast<int>(length), base + p, offset, w, wstride, pairs, init,
                            rows ? out : out + p * ld, ld, relu, rows ? rows + p : nullptr);
    };
    if (D) return for_pair_runs(count, most, block);
    for_runs(count, most, block);
  };
  // Paired pixels for one block of channels (two blocks keep 6 pixels, 6 pointers already).
  const int d = NV <= 2 ? pair_distance(count, base) : 0;
  if (d == 1) return blocks.template operator()<1>();
  if (d == 2) return blocks.template operator()<2>();
  blocks.template operator()<0>();
}

// The input gradient's weights as blocks of kBlock lanes over input channels: pair k = o * T + tap,
// packed[(b * O * T + k) * kBlock + l] = w[o][b * kBlock + l][tap], zero past C. Loops over
// (block, o, tap, lane) without a division per element (one per element took 2 % of strided's
// training step).
float* pack_input_grad_weights(const Conv2dGeometry& g, const float* w, int slot) {
  const int64_t T = g.KH * g.KW, blocks = round_up(g.C, kBlock) / kBlock;
  float* packed = scratch(slot, static_cast<size_t>(blocks * g.O * T * kBlock));
  float* dst = packed;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t t = 0; t < T; ++t, dst += kBlock)
        for (int64_t l = 0; l < kBlock; ++l) {
          const int64_t c = b * kBlock + l;
          dst[l] = c < g.C ? w[(o * g.C + c) * T + t] : 0.0f;
        }
  return packed;
}

// Floats from one output pixel's row of turned gradients (gT) to the next: Op, plus 16 where a
// block of the weight gradient reads only part of a row (more than 64 channels). Rows of 128 or
// 256 channels are 512 B or 1 KB apart, so a block's 256 B of each row fell into a quarter or half
// of L1's sets and its gradients did not stay there (deep4x4's 128 -> 256 at stride 2, weight
// gradient, 1 thread: 4.8 -> 4.5 ms; stem7's 64 -> 128 1x1: 3.2 -> 3.0).
inline int64_t grad_ld(const Conv2dGeometry& g) {
  const int64_t Op = round_up(g.O, kBlock);
  return Op > 2 * kBlock ? Op + kLanes : Op;
}

// Images [k0, k1), output rows [y0, y1) of each; the group's first chunk starts the sums.
struct Chunk {
  int64_t k0, k1, y0, y1;
  bool first;
};

// One chunk of a group's weight-gradient part (K x Op, pairs-major) from its padded images and
// pixel-major gradients: a block of R (channel, tap) pairs x NB blocks of 2 vectors of output
// channels summed over images [k0, k1) of the group, output rows [y0, y1) of each, on top of the
// sums so far (zero for the group's first chunk). Chunk after chunk in pixel order, so each sum
// takes the pixels in the order one pass would. R = 12, NB = 1 loads 2 gradient vectors and 12
// broadcasts per 24 multiply-adds; R = 6, NB = 2 loads 4 and 6.
template <int R, int NB>
__attribute__((target("avx512f"))) void weight_grad_block(const Conv2dGeometry& g,
                                                          const float* pads, const float* gT,
                                                          const Chunk& c, const int64_t* corner,
                                                          int64_t count, const int64_t* off,
                                                          int64_t first_pair, int64_t ob,
                                                          float* part) {
  const int64_t Op = round_up(g.O, kBlock), pixels = g.OH * g.OW;
  __m512 acc[R][2 * NB];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < 2 * NB; ++v)
      acc[r][v] = c.first
                      ? _mm512_setzero_ps()
                      : _mm512_loadu_ps(part + (first_pair + r) * Op + ob * kBlock + v * kLanes);
  // The chunk's pixels in one loop (a 4x4 plane's rows had been inner loops of 4): the gradient
  // rows are contiguous over them, the pixels' top-left taps come from `corner`.
  int64_t o[R];
  for (int r = 0; r < R; ++r) o[r] = off[r];
  const int64_t ld = grad_ld(g);
  const float* gp = gT + (c.k0 * pixels + c.y0 * g.OW) * ld + ob * kBlock;
  for (const int64_t* at = corner; at != corner + count; ++at, gp += ld) {
    const float* src = pads + *at;
    __m512 gv[2 * NB];
    for (int v = 0; v < 2 * NB; ++v) gv[v] = _mm512_loadu_ps(gp + v * kLanes);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_set1_ps(src[o[r]]);
#pragma GCC unroll 4
      for (int v = 0; v < 2 * NB; ++v) acc[r][v] = _mm512_fmadd_ps(xv, gv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < 2 * NB; ++v)
      _mm512_storeu_ps(part + (first_pair + r) * Op + ob * kBlock + v * kLanes, acc[r][v]);
}

// weight_grad_block for a block of `rows` pairs (R at most): blocks of pairs as equal as can be,
// (27 pairs of a 3-channel 3x3 are 3 blocks of 9, not 2 of 12 and one of 3).
template <int NB, int R>
void weight_grad_block_of(int64_t rows, const Conv2dGeometry& g, const float* pads, const float* gT,
                          const Chunk& c, const int64_t* corner, int64_t count, const int64_t* off,
                          int64_t first_pair, int64_t ob, float* part) {
  if constexpr (R >= 1) {
    if (rows == R)
      return weight_grad_block<R, NB>(g, pads, gT, c, corner, count, off, first_pair, ob, part);
    weight_grad_block_of<NB, R - 1>(rows, g, pads, gT, c, corner, count, off, first_pair, ob, part);
  }
}

// gw[o][k] += the sum over the groups' parts (K x Op each, K * Op floats apart) in group order of
// part[k][o], for pairs [k0, k1) (at most 16): each pair's row summed a vector at a time, the rows
// turned through this thread's scratch into gw's runs of pairs. (A total filled, summed, turned
// and added in four passes over K x Op floats had taken 15 % of deep4x4's 128 -> 256 weight
// gradient.)
__attribute__((target("avx512f"))) void add_pair_sums(const float* parts, int64_t groups, int64_t K,
                                                      int64_t O, int64_t k0, int64_t k1,
                                                      float* gw) {
  const int64_t Op = round_up(O, kBlock), n = k1 - k0;
  float* rows = scratch(0, static_cast<size_t>(2 * kLanes * Op));
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t o = 0; o < Op; o += kLanes) {
      const float* p = parts + k * Op + o;
      __m512 v = _mm512_loadu_ps(p);
      for (int64_t t = 1; t < groups; ++t) v = _mm512_add_ps(v, _mm512_loadu_ps(p + t * K * Op));
      _mm512_storeu_ps(rows + (k - k0) * Op + o, v);
    }
  // Turned to O x n, then each output channel's n sums added to its run of gw at once (a scalar
  // loop of single additions had taken 1.5 % of deep4x4's training step).
  float* turned = rows + kLanes * Op;
  transpose(n, O, rows, Op, turned, kLanes);
  const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
  for (int64_t o = 0; o < O; ++o) {
    float* dst = gw + o * K + k0;
    _mm512_mask_storeu_ps(dst, m,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst),
                                        _mm512_maskz_loadu_ps(m, turned + o * kLanes)));
  }
}

// A group's gradients in one pass up to kOnePassBytes (else in chunks of rows, below); a group's
// images turned and summed a few at a time, kFewBytes of copies and gradients (L2's share), or
// more, up to kMostBytes, for a few of at least kFewPixels output pixels: each few reloads and
// stores the group's whole part (K x Op sums), so a few of small planes (3 images of 4 x 4 at
// 128 -> 256: 48 pixels against 1.2 MB of sums) spent a third of its time on them.
constexpr int64_t kOnePassBytes = int64_t{1} << 20;
constexpr int64_t kFewBytes = 256 << 10;
constexpr int64_t kMostBytes = 768 << 10;
constexpr int64_t kFewPixels = 128;
constexpr int64_t kGroupMinPixels = 256;

// Images per group of the weight gradient (see conv2d_backward_lanes).
int64_t weight_grad_group_size(const Conv2dGeometry& g) {
  const int64_t pixels = g.OH * g.OW;
  return std::max((g.N + 7) / 8, (kGroupMinPixels + pixels - 1) / pixels);
}

// Image n for the weight gradient: its zero-bordered copy into pad (unless null: no padding) and
// its gout pixel-major into gT, rows grad_ld(g) floats apart: lanes [O, Op) zero, the rest of a
// row's padding (grad_ld(g) - Op floats) left as it is and never read.
void turn_image(const Conv2dGeometry& g, const float* in, const float* gout, int64_t n, float* pad,
                float* gT) {
  const int64_t pixels = g.OH * g.OW, Op = round_up(g.O, kBlock), ld = grad_ld(g);
  if (pad) pad_image(g, in + n * g.C * g.H * g.W, pad);
  transpose(g.O, pixels, gout + n * g.O * pixels, pixels, gT, ld);
  if (Op > g.O)
    for (int64_t p = 0; p < pixels; ++p) std::fill(gT + p * ld + g.O, gT + p * ld + Op, 0.0f);
}

// The blocks of pairs over `count` images of a group (starting its sums if first, else adding to
// them): in one pass each while the images' gradients fit in L2 (1 MB or less), else in chunks of
// whole output rows of about 32 KB of gradients (L1), each chunk meeting every block of pairs while
// it is in cache (a plane of 1 MB of gradients streamed them from beyond L2 once per block of
// pairs). Chunks on images whose gradients fit in L2 cost more in partial sums than they saved:
// stem7's 128 -> 256 layer 46.4 -> 49.8 ms forward + backward.
void weight_grad_group(const Conv2dGeometry& g, const float* pads, const float* gT, int64_t count,
                       const int64_t* offset, bool first, float* part) {
  const int64_t K = g.C * g.KH * g.KW, Op = round_up(g.O, kBlock), blocks = Op / kBlock;
  const int64_t row_bytes = g.OW * grad_ld(g) * static_cast<int64_t>(sizeof(float));
  std::vector<Chunk> chunks;
  if (count * g.OH * row_bytes <= kOnePassBytes) {
    chunks.push_back({0, count, 0, g.OH, first});
  } else {
    const int64_t rows = std::max<int64_t>(1, (32 << 10) / row_bytes);
    for (int64_t k = 0; k < count; ++k)
      for (int64_t y0 = 0; y0 < g.OH; y0 += rows)
        chunks.push_back({k, k + 1, y0, std::min(g.OH, y0 + rows), first && k == 0 && y0 == 0});
  }
  const int64_t Wp = g.W + 2 * g.PW, plane = (g.H + 2 * g.PH) * Wp;
  std::vector<int64_t> corner;  // each pixel's top-left tap in pads, the chunk's in order
  for (const Chunk& c : chunks) {
    corner.clear();
    for (int64_t k = c.k0; k < c.k1; ++k)
      for (int64_t y = c.y0; y < c.y1; ++y)
        for (int64_t x = 0; x < g.OW; ++x)
          corner.push_back(k * g.C * plane + y * g.SH * Wp + x * g.SW);
    const auto n = static_cast<int64_t>(corner.size());
    int64_t ob = 0;  // pairs of blocks of output channels first
    for (; ob + 1 < blocks; ob += 2)
      for_runs(K, kPairs / 2, [&](int64_t k0, int64_t pairs) {
        weight_grad_block_of<2, kPairs / 2>(pairs, g, pads, gT, c, corner.data(), n, offset + k0,
                                            k0, ob, part);
      });
    for (; ob < blocks; ++ob)
      for_runs(K, kPairs, [&](int64_t k0, int64_t pairs) {
        weight_grad_block_of<1, kPairs>(pairs, g, pads, gT, c, corner.data(), n, offset + k0, k0,
                                        ob, part);
      });
  }
}

}  // namespace

bool lanes_conv_applies(const Conv2dGeometry& g) {
  // Rules from bench/run.sh --zoo's layer tables (2026-12-01): lanes need 16 output channels to
  // fill; strided convolutions always gain (no zero taps); at stride 1, 1x1 convolutions with 16
  // input channels or more, and planes of 16 columns or fewer, e.g. ResNet-20's 8x8 and 16x16
  // stages. With fewer than 16 input channels the input gradient (lanes over them) runs on the
  // row-vector kernels (conv2d_backward_lanes hands it to conv2d_backward_direct): LeNet-5's 6 ->
  // 16 5x5 on 10 columns, forward 0.30
  // -> 0.24 ms on lanes, input gradient 0.65 there against 1.30. Wide planes stay with the
  // row-vector kernels, which also fuse ReLU and pooling.
  if (active_isa() != Isa::avx512 || g.O < kLanes) return false;
  if (g.SH > 1 || g.SW > 1) return true;
  if (g.C < kLanes) return g.OW <= 16 && direct_conv_applies(g);
  return (g.KH == 1 && g.KW == 1) || g.OW <= 16;
}

namespace {

// A forward's per-call tables: the weights packed, the bias (and fused BatchNorm) in lanes, each
// output pixel's top-left tap and each pair's offset in the layer's zero-bordered input copy. The
// copy is NCHW (channels `plane` floats apart, pixels 1) or pixel-major (channels 1 apart, pixels
// `stride` floats: a chained layer's input, below).
struct LaneForward {
  const Conv2dGeometry& g;
  ConvFusion f;
  int64_t K, Op, pixels;
  const float* w;
  const float* packed;  // null: the caller packs blocks itself (pack_block)
  std::vector<int64_t> offset, corner;
  std::vector<float> bias_lanes;
  std::vector<double> bn_lanes;  // a fused BatchNorm's mean, scale and shift, each Op long

  __attribute__((target("avx512f")))
  LaneForward(const Conv2dGeometry& geometry, ConvFusion fusion, const float* weights,
              const float* bias, int slot, bool pixel_major, int64_t stride, bool pack = true)
      : g(geometry),
        f(fusion),
        K(g.C * g.KH * g.KW),
        Op(round_up(g.O, kBlock)),
        pixels(g.OH * g.OW),
        w(weights),
        packed(nullptr) {
    const int64_t Wp = g.W + 2 * g.PW, plane = (g.H + 2 * g.PH) * Wp;
    const int64_t channel_step = pixel_major ? 1 : plane, pixel_step = pixel_major ? stride : 1;
    // Packed per call (a loop over the elements took 16 % of a batch-1 inference of stem7).
    if (pack) {
      float* all = scratch(slot, static_cast<size_t>(K * Op));
      parallel_for(Op / kBlock, [&](int64_t b) { pack_block(b, all + b * K * kBlock); });
      packed = all;
    }
    offset.resize(static_cast<size_t>(K));
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t i = 0; i < g.KH; ++i)
        for (int64_t j = 0; j < g.KW; ++j)
          offset[static_cast<size_t>((c * g.KH + i) * g.KW + j)] =
              c * channel_step + (i * Wp + j) * pixel_step;
    bias_lanes.assign(static_cast<size_t>(Op), 0.0f);
    if (bias) std::copy(bias, bias + g.O, bias_lanes.begin());
    if (f.bn_scale) {
      bn_lanes.assign(static_cast<size_t>(3 * Op), 0.0);
      std::copy(f.bn_mean, f.bn_mean + g.O, bn_lanes.begin());
      std::copy(f.bn_scale, f.bn_scale + g.O, bn_lanes.begin() + Op);
      std::copy(f.bn_shift, f.bn_shift + g.O, bn_lanes.begin() + 2 * Op);
    }
    // Each output pixel's top-left tap, once per call (a division per pixel per image cost as
    // much as the multiply-adds of a 3-channel layer).
    corner.resize(static_cast<size_t>(pixels));
    for (int64_t y = 0; y < g.OH; ++y)
      for (int64_t x = 0; x < g.OW; ++x)
        corner[static_cast<size_t>(y * g.OW + x)] = (y * g.SH * Wp + x * g.SW) * pixel_step;
  }

  // (pair k = c * T + tap) -> weight lanes over o: block b of 32 output channels' rows of w
  // turned (K x 32) into dst, zero lanes past O.
  void pack_block(int64_t b, float* dst) const {
    const int64_t rows = std::min(kBlock, g.O - b * kBlock);
    transpose(rows, K, w + b * kBlock * K, K, dst, kBlock);
    if (rows < kBlock)
      for (int64_t k = 0; k < K; ++k)
        std::fill(dst + k * kBlock + rows, dst + (k + 1) * kBlock, 0.0f);
  }

  // Output pixels [q0, q1) of the images whose zero-bordered copies are images[0], images[1], ..
  // (pixel q of images[q / pixels]: a block of pixels may span images), pixel-major into outT (rows
  // of Op, row q at outT + (q - q0) * Op, or at outT + rows[q] * Op), fused ReLU and BatchNorm
  // applied.
  __attribute__((target("avx512f"))) void run(const float* const* images, int64_t q0, int64_t q1,
                                              float* outT, const int64_t* rows = nullptr) const {
    run_blocks(images, q0, q1, 0, Op / kBlock, packed, outT, Op, rows);
  }

  // The same for the output channels of blocks [b0, b1) alone, their weights packed at pk (block
  // b at pk + (b - b0) * K * kBlock), rows of ld floats in outT holding those channels from 0.
  __attribute__((target("avx512f"))) void run_blocks(const float* const* images, int64_t q0,
                                                     int64_t q1, int64_t b0, int64_t b1,
                                                     const float* pk, float* outT, int64_t ld,
                                                     const int64_t* rows = nullptr) const {
    // A fused ReLU alone is applied as the sums are stored; a fused BatchNorm (and the ReLU after
    // it) by the epilogue.
    const bool relu_on_store = f.relu && !f.bn_scale;
    // Calls each(count, base, o, r) for every run of pixels, the run's base pointers filled.
    const auto runs = [&](auto each) {
      for_pair_runs(q1 - q0, kRunPixels, [&](int64_t first, int64_t count) {
        const int64_t p0 = q0 + first;
        const float* base[kRunPixels];
        // Image and pixel stepped along (a division per pixel cost 7 % of a 3-channel layer).
        int64_t k = p0 / pixels, q = p0 % pixels;
        for (int64_t p = 0; p < count; ++p) {
          base[p] = images[k] + corner[static_cast<size_t>(q)];
          if (++q == pixels) q = 0, ++k;
        }
        each(count, base, rows ? outT : outT + (p0 - q0) * ld, rows ? rows + p0 : nullptr);
      });
    };
    // Panels of more than kPanelBytes (half of L2) one pair of blocks at a time over every run,
    // so that the pair's part stays in L2: deep4x4's 128 -> 256 at stride 2 (1.2 MB of weights),
    // forward at 1 thread 4.1 -> 3.6 ms, stem7's 16.6 -> 15.9 ms. Smaller panels stay in L2 whole
    // and run every block per run (deep4x4's 64 -> 128, 0.3 MB: 3.8 ms against 4.0 the other way).
    const bool outer = K * (b1 - b0) * kBlock * static_cast<int64_t>(sizeof(float)) > kPanelBytes;
    const auto blocks_of = [&](int64_t from, int64_t to, int64_t count, const float* const* base,
                               float* o, const int64_t* r) {
      int64_t b = from;
      for (; b + 1 < to; b += 2)
        pixel_run<4>(count, base, offset.data(), pk + (b - b0) * K * kBlock, K * kBlock, K,
                     bias_lanes.data() + b * kBlock, o + (b - b0) * kBlock, ld, relu_on_store, r);
      for (; b < to; ++b)
        if (g.O - b * kBlock <= kLanes)  // the block's second vector would be all zeros
          pixel_run<1>(count, base, offset.data(), pk + (b - b0) * K * kBlock, 0, K,
                       bias_lanes.data() + b * kBlock, o + (b - b0) * kBlock, ld, relu_on_store, r);
        else
          pixel_run<2>(count, base, offset.data(), pk + (b - b0) * K * kBlock, 0, K,
                       bias_lanes.data() + b * kBlock, o + (b - b0) * kBlock, ld, relu_on_store, r);
    };
    const int64_t step = outer ? 2 : std::max<int64_t>(1, b1 - b0);
    for (int64_t b = b0; b < b1; b += step)
      runs([&](int64_t count, const float* const* base, float* o, const int64_t* r) {
        blocks_of(b, std::min(b1, b + step), count, base, o, r);
      });
    if (!f.bn_scale) return;
    // The blocks' channels: a BatchNorm's rows from channel b0 * kBlock on.
    const int64_t first = b0 * kBlock, channels = std::min(g.O, b1 * kBlock) - first;
    const double* bn = bn_lanes.data() + first;
    if (!rows) return conv_epilogue(q1 - q0, channels, bn, Op, f.relu, outT, ld);
    for (int64_t q = q0; q < q1;) {  // runs of consecutive rows
      int64_t e = q + 1;
      while (e < q1 && rows[e] == rows[e - 1] + 1) ++e;
      conv_epilogue(e - q, channels, bn, Op, f.relu, outT + rows[q] * ld, ld);
      q = e;
    }
  }
};

// Each image's zero-bordered copy, made once for the batch in the calling thread's slot 6 (for
// tasks that share images), or without padding the image itself.
std::vector<const float*> bordered_images(const Conv2dGeometry& g, const float* in) {
  const int64_t plane = (g.H + 2 * g.PH) * (g.W + 2 * g.PW);
  float* padded = g.PH || g.PW ? scratch(6, static_cast<size_t>(g.N * g.C * plane)) : nullptr;
  if (padded)
    parallel_for(
        g.N, [&](int64_t n) { pad_image(g, in + n * g.C * g.H * g.W, padded + n * g.C * plane); });
  std::vector<const float*> images(static_cast<size_t>(g.N));
  for (int64_t n = 0; n < g.N; ++n)
    images[static_cast<size_t>(n)] = padded ? padded + n * g.C * plane : in + n * g.C * g.H * g.W;
  return images;
}

// lanes_weights_stationary: few output pixels in the batch, and the weights are most of the
// traffic. Each task packs a pair of 32-channel blocks into its own buffer (it stays in L2) and
// runs every pixel of the batch through it, where the whole panel had been packed to memory first
// and streamed back for each run of pixels (at batch 1 that packing was 45 % of deep4x4's
// inference). Each pixel and channel has the same sum (pixel_block), so the same bits.
__attribute__((target("avx512f"))) void forward_stationary(const Conv2dGeometry& g, ConvFusion f,
                                                           const float* in, const float* w,
                                                           const float* bias, float* out) {
  const LaneForward lf(g, f, w, bias, 5, false, 0, /*pack=*/false);
  const int64_t pixels = lf.pixels, total = g.N * pixels;
  const std::vector<const float*> images = bordered_images(g, in);
  const int64_t blocks = lf.Op / kBlock;
  parallel_for((blocks + 1) / 2, [&](int64_t task) {
    const int64_t b0 = 2 * task, b1 = std::min(blocks, b0 + 2), width = (b1 - b0) * kBlock;
    float* pack = scratch(0, static_cast<size_t>(lf.K * width));
    for (int64_t b = b0; b < b1; ++b) lf.pack_block(b, pack + (b - b0) * lf.K * kBlock);
    float* outT = scratch(1, static_cast<size_t>(round_up(total, kPixels) * width));
    lf.run_blocks(images.data(), 0, total, b0, b1, pack, outT, width);
    const int64_t first = b0 * kBlock, channels = std::min(g.O, b1 * kBlock) - first;
    for (int64_t n = 0; n < g.N; ++n)  // pixel-major into NCHW
      transpose(pixels, channels, outT + n * pixels * width, width,
                out + (n * g.O + first) * pixels, pixels);
  });
}

}  // namespace

bool lanes_weights_stationary(const Conv2dGeometry& g) {
  constexpr int64_t kFewPixels = 4 * kRunPixels;
  return lanes_conv_applies(g) && !pointwise_conv_applies(g) && g.N * g.OH * g.OW <= kFewPixels &&
         round_up(g.O, kBlock) >= 4 * kBlock;
}

__attribute__((target("avx512f"))) void conv2d_forward_lanes(const Conv2dGeometry& g, ConvFusion f,
                                                             const float* in, const float* w,
                                                             const float* bias, float* out) {
  if (pointwise_conv_applies(g)) return conv2d_forward_pointwise(g, f, in, w, bias, out);
  if (lanes_weights_stationary(g)) return forward_stationary(g, f, in, w, bias, out);
  const LaneForward lf(g, f, w, bias, 5, false, 0);
  const int64_t plane = (g.H + 2 * g.PH) * (g.W + 2 * g.PW), pixels = lf.pixels, Op = lf.Op;
  // A batch of fewer than 8 images splits each image's pixels into runs across tasks
  // (parts_per_image), so that batch 1 keeps every thread busy; an output is the same sum whichever
  // task computes it. The images are then padded first, once each. Runs are whole multiples of 16
  // pixels (the transpose's tiles).
  constexpr int64_t kRunUnit = 16;
  const int64_t wanted = parts_per_image(g.N, pixels * lf.K * g.O);
  const int64_t run_pixels = round_up((pixels + wanted - 1) / wanted, kRunUnit);
  const int64_t runs = (pixels + run_pixels - 1) / run_pixels;
  const bool pad = g.PH || g.PW;
  // An image in one run: a task per image or, on planes of fewer than kGroupPixels pixels, per
  // group of images of about that many pixels, blocks of pixels across images, so that a block
  // reuses each weight vector 6 times, not 4 (a 4 x 4 plane was four blocks of 4, each streaming
  // the whole weight panel: 1.2 MB at 128 -> 256).
  if (runs == 1) {
    const int64_t group =
        pixels < kGroupPixels ? std::min(g.N, (kGroupPixels + pixels - 1) / pixels) : 1;
    parallel_for((g.N + group - 1) / group, [&](int64_t task) {
      const int64_t n0 = task * group, count = std::min(group, g.N - n0);
      const float* images[kGroupPixels];
      float* buf = pad ? scratch(0, static_cast<size_t>(count * g.C * plane)) : nullptr;
      for (int64_t k = 0; k < count; ++k) {
        images[k] = in + (n0 + k) * g.C * g.H * g.W;
        if (pad) {
          pad_image(g, images[k], buf + k * g.C * plane);
          images[k] = buf + k * g.C * plane;
        }
      }
      float* outT = scratch(1, static_cast<size_t>(round_up(count * pixels, kPixels) * Op));
      lf.run(images, 0, count * pixels, outT);
      for (int64_t k = 0; k < count; ++k)
        transpose(pixels, g.O, outT + k * pixels * Op, Op, out + (n0 + k) * g.O * pixels, pixels);
    });
    return;
  }
  // Images in several runs, their zero-bordered copies made above (without padding the image
  // itself is one).
  const std::vector<const float*> images = bordered_images(g, in);
  parallel_for(g.N * runs, [&](int64_t task) {
    const int64_t n = task / runs, q0 = (task % runs) * run_pixels;
    const int64_t q1 = std::min(pixels, q0 + run_pixels);
    if (q0 >= q1) return;
    const float* image = images[static_cast<size_t>(n)];
    float* outT = scratch(1, static_cast<size_t>(round_up(q1 - q0, kPixels) * Op));
    lf.run(&image, q0, q1, outT);
    // pixel-major into NCHW
    transpose(q1 - q0, g.O, outT, Op, out + n * g.O * pixels + q0, pixels);
  });
}

bool conv2d_chain_lanes_applies(const Conv2dGeometry& a, ConvFusion fa, const Conv2dGeometry& b,
                                ConvFusion fb) {
  return lanes_conv_applies(a) && lanes_conv_applies(b) && !fa.pool && !fb.pool && b.N == a.N &&
         b.C == a.O && b.H == a.OH && b.W == a.OW &&
         parts_per_image(a.N, a.OH * a.OW * a.C * a.KH * a.KW * a.O) == 1 &&
         parts_per_image(b.N, b.OH * b.OW * b.C * b.KH * b.KW * b.O) == 1;
}

__attribute__((target("avx512f"))) void conv2d_forward_chain_lanes(
    const Conv2dGeometry& a, ConvFusion fa, const float* in, const float* wa, const float* ba,
    const Conv2dGeometry& b, ConvFusion fb, const float* wb, const float* bb, float* out) {
  if (!conv2d_chain_lanes_applies(a, fa, b, fb))
    throw std::logic_error("conv2d_forward_chain_lanes: the chain does not apply to these layers");
  // b reads a's pixel-major output in place: its channels are a's rows, Op of a apart.
  const LaneForward first(a, fa, wa, ba, 5, false, 0);
  const LaneForward second(b, fb, wb, bb, 4, true, first.Op);
  const int64_t plane = (a.H + 2 * a.PH) * (a.W + 2 * a.PW);
  const int64_t bordered = (b.H + 2 * b.PH) * (b.W + 2 * b.PW) * first.Op;
  std::vector<int64_t> rows(static_cast<size_t>(first.pixels));
  for (int64_t y = 0; y < a.OH; ++y)
    for (int64_t x = 0; x < a.OW; ++x)
      rows[static_cast<size_t>(y * a.OW + x)] = (y + b.PH) * (b.W + 2 * b.PW) + x + b.PW;
  parallel_for(a.N, [&](int64_t n) {
    const float* image = in + n * a.C * a.H * a.W;
    if (a.PH || a.PW) {
      float* buf = scratch(0, static_cast<size_t>(a.C * plane));
      pad_image(a, image, buf);
      image = buf;
    }
    // a's pixels go straight into b's zero-bordered copy (rows: their places in it).
    float* next = scratch(2, static_cast<size_t>(bordered));
    if (b.PH || b.PW)
      zero_border(a.OH, a.OW, first.Op, next, b.H + 2 * b.PH, b.W + 2 * b.PW, b.PH, b.PW);
    first.run(&image, 0, first.pixels, next, rows.data());
    float* outT = scratch(3, static_cast<size_t>(round_up(second.pixels, kPixels) * second.Op));
    const float* next_image = next;
    second.run(&next_image, 0, second.pixels, outT);
    transpose(second.pixels, b.O, outT, second.Op, out + n * b.O * second.pixels, second.pixels);
  });
}

__attribute__((target("avx512f"))) void conv2d_backward_lanes(const Conv2dGeometry& g,
                                                              const float* in, const float* w,
                                                              const float* gout, float* gin,
                                                              float* gw, float* gb) {
  const int64_t T = g.KH * g.KW, K = g.C * T, pixels = g.OH * g.OW;
  // With the weight gradient, each image's bias sums are taken where it turns the image's
  // gradient (still in cache), not in a pass of their own over the whole gradient: the same sums
  // (conv2d_bias_grad_image); 1-2 % of a 64 -> 128 1x1 layer's backward on 16 x 16 with a bias,
  // batch 64 (the kernel timer).
  const bool fuse_bias = gb && gw;
  std::vector<float> bias_parts(fuse_bias ? static_cast<size_t>(g.N * g.O) : 0);
  if (gb && !fuse_bias) conv2d_bias_grad(g, gout, gb);
  if (gin && g.C < kLanes && direct_conv_applies(g)) {  // lanes over so few channels run empty
    conv2d_backward_direct(g, {}, in, w, nullptr, nullptr, gout, gin, nullptr, nullptr);
    gin = nullptr;
  }
  // A 1x1 layer's input gradient, image by image in the weight gradient's pass, which reads each
  // image's gradient anyway: read from memory once, not twice (stem7's 64 -> 128 on 16 x 16,
  // backward at 1 thread 4.55 -> 4.27 ms, 2 threads 2.06 -> 1.96); else on its own, where the
  // weight gradient is one task (the input gradient's own tasks split an image's rows).
  const float* pointwise_packed = nullptr;
  float* pointwise_gin = nullptr;
  if (gin && pointwise_conv_applies(g)) {
    if (gw && weight_grad_group_size(g) < g.N) {  // two groups or more: tasks for two threads
      pointwise_packed = pack_input_grad_pointwise(g, w);
      pointwise_gin = gin;
    } else {
      conv2d_input_grad_pointwise(g, w, gout, gin);
    }
    gin = nullptr;
  }

  if (gin) {
    // gout zero-bordered: row Y holds output row Y - AH, so that an input pixel's taps reach
    // rows qy - a >= -AH and past the last output row without tests.
    const int64_t AH = (g.KH - 1) / g.SH, AW = (g.KW - 1) / g.SW;
    const int64_t qh = (g.H - 1 + g.PH) / g.SH + 1, qw = (g.W - 1 + g.PW) / g.SW + 1;
    const int64_t GH = std::max(g.OH, qh) + AH, GW = std::max(g.OW, qw) + AW, gplane = GH * GW;
    const int64_t Cp = round_up(g.C, kBlock), inputs = g.H * g.W;
    // Pairs (o, tap) -> weight lanes over c: w[o][c][tap].
    const float* packed = pack_input_grad_weights(g, w, 5);
    // Each phase: its input pixels in raster order, its taps' offsets into gpad, and its rows of
    // the packed weights, contiguous per block of channels.
    struct Phase {
      std::vector<int64_t> pixels, corner, offset;  // corner: the pixel's place in gpad
      const float* rows;
    };
    std::vector<Phase> phases;
    std::vector<int64_t> pair;
    float* rows = scratch(6, static_cast<size_t>(g.O * T * Cp));
    for (int64_t ry = 0; ry < g.SH; ++ry)
      for (int64_t rx = 0; rx < g.SW; ++rx) {
        Phase ph;
        for (int64_t iy = 0; iy < g.H; ++iy)
          if ((iy + g.PH) % g.SH == ry)
            for (int64_t ix = 0; ix < g.W; ++ix)
              if ((ix + g.PW) % g.SW == rx) {
                ph.pixels.push_back(iy * g.W + ix);
                ph.corner.push_back(((iy + g.PH) / g.SH + AH) * GW + (ix + g.PW) / g.SW + AW);
              }
        if (ph.pixels.empty()) continue;
        pair.clear();
        for (int64_t o = 0; o < g.O; ++o)
          for (int64_t i = ry; i < g.KH; i += g.SH)
            for (int64_t j = rx; j < g.KW; j += g.SW) {
              ph.offset.push_back(o * gplane - ((i - ry) / g.SH) * GW - (j - rx) / g.SW);
              pair.push_back(o * T + i * g.KW + j);
            }
        ph.rows = rows;
        const int64_t pairs = static_cast<int64_t>(pair.size());
        for (int64_t b = 0; b < Cp / kBlock; ++b)
          for (int64_t k = 0; k < pairs; ++k, rows += kBlock)
            std::memcpy(rows, packed + (b * g.O * T + pair[static_cast<size_t>(k)]) * kBlock,
                        kBlock * sizeof(float));
        phases.push_back(std::move(ph));
      }
    // Every input pixel is in one phase; pixels of a phase without taps (1x1 at stride 2) get
    // zeros, the others their sums.
    const bool tapless = std::any_of(phases.begin(), phases.end(),
                                     [](const Phase& ph) { return ph.offset.empty(); });
    // Where the border is empty (1x1 at stride 1: every tap is in the plane) the image's own
    // gradient is the bordered copy.
    const bool border = GH != g.OH || GW != g.OW;
    // Images in groups where the phases are small (a 4 x 4 phase alone was blocks of 6, 5 and 5
    // pixels, each streaming the phase's weights): a task's blocks of pixels run across its
    // images, as the forward's do (deep4x4's 128 -> 256 at stride 2, 1 thread: 4.34 -> 4.16 ms,
    // 2 threads: 2.47 -> 2.32). Each pixel's sums do not depend on its block.
    int64_t most = 1;
    for (const Phase& ph : phases) most = std::max<int64_t>(most, ph.pixels.size());
    // At most N / 8 images a task, so that a small batch keeps 8 tasks or more (8 images in tasks
    // of 3, 3 and 2 gave one of two threads 5 images).
    const int64_t group = std::max<int64_t>(
        1, most < kGroupPixels ? std::min((kGroupPixels + most - 1) / most, g.N / 8) : 1);
    parallel_for((g.N + group - 1) / group, [&](int64_t task) {
      const int64_t n0 = task * group, images = std::min(group, g.N - n0);
      const float* gpads[kGroupPixels];
      float* copies = border ? scratch(0, static_cast<size_t>(images * g.O * gplane)) : nullptr;
      for (int64_t k = 0; k < images; ++k) {
        gpads[k] = gout + (n0 + k) * g.O * pixels;
        if (border) {
          copy_into_zeroed(gpads[k], g.O, g.OH, g.OW, copies + k * g.O * gplane, GH, GW, AH, AW);
          gpads[k] = copies + k * g.O * gplane;
        }
      }
      float* ginT = scratch(1, static_cast<size_t>(images * inputs * Cp));
      if (tapless) std::fill(ginT, ginT + images * inputs * Cp, 0.0f);
      std::vector<int64_t> rows;  // each of the task's phase pixels' row in ginT (of 2+ images)
      for (const Phase& ph : phases) {
        const int64_t count = static_cast<int64_t>(ph.pixels.size());
        const int64_t pairs = static_cast<int64_t>(ph.offset.size());
        if (pairs == 0) continue;
        const int64_t* pixel_rows = ph.pixels.data();  // one image: the phase's own pixels
        if (images > 1) {
          rows.resize(static_cast<size_t>(images * count));
          for (int64_t k = 0; k < images; ++k)
            for (int64_t j = 0; j < count; ++j)
              rows[static_cast<size_t>(k * count + j)] =
                  k * inputs + ph.pixels[static_cast<size_t>(j)];
          pixel_rows = rows.data();
        }
        for_pair_runs(images * count, kRunPixels, [&](int64_t p0, int64_t run) {
          const float* base[kRunPixels];
          // Image and pixel stepped along, without a division per pixel.
          for (int64_t p = 0, k = p0 / count, j = p0 % count; p < run; ++p) {
            base[p] = gpads[k] + ph.corner[static_cast<size_t>(j)];
            if (++j == count) j = 0, ++k;
          }
          // Straight into the pixels' rows of ginT (lanes past C hold zeros: their weights are
          // zero, and the transpose below leaves them).
          const int64_t* r = pixel_rows + p0;
          int64_t b = 0;
          // Pairs of blocks of channels first: 4 weight vectors and 6 broadcasts per 24
          // multiply-adds, where one block at 12 pixels needs 2 and 12 (128 -> 64 1x1 on 7x7: 0.475
          // -> 0.424 ms, 128 -> 256 at stride 2 on 16x16: 15.7 -> 13.0 ms, batch 64, 1 thread).
          for (; b + 1 < Cp / kBlock; b += 2)
            pixel_run<4>(run, base, ph.offset.data(), ph.rows + b * pairs * kBlock, pairs * kBlock,
                         pairs, nullptr, ginT + b * kBlock, Cp, false, r);
          for (; b < Cp / kBlock; ++b)
            if (g.C - b * kBlock <= kLanes)  // the block's second vector would be all zeros
              pixel_run<1>(run, base, ph.offset.data(), ph.rows + b * pairs * kBlock, 0, pairs,
                           nullptr, ginT + b * kBlock, Cp, false, r);
            else
              pixel_run<2>(run, base, ph.offset.data(), ph.rows + b * pairs * kBlock, 0, pairs,
                           nullptr, ginT + b * kBlock, Cp, false, r);
        });
      }
      for (int64_t k = 0; k < images; ++k)  // pixel-major into NCHW
        transpose(inputs, g.C, ginT + k * inputs * Cp, Cp, gin + (n0 + k) * g.C * inputs);
    });
  }

  if (gw) {
    const int64_t Hp = g.H + 2 * g.PH, Wp = g.W + 2 * g.PW, plane = Hp * Wp;
    const int64_t Op = round_up(g.O, kBlock);
    // Images in groups fixed by the batch size and plane alone (at most 8 groups, of at least
    // kGroupMinPixels output pixels): the sums do not depend on the thread count. Each group's
    // part is (K x Op), pairs-major, and the parts are summed below: on planes of 4 x 4, groups
    // of 8 images gave 8 parts of 1.2 MB at 128 -> 256 for 128 pixels each, and their sum took a
    // tenth of the weight gradient (deep4x4's 128 -> 256, 1 thread: 4.38 -> 4.16 ms with 4).
    const int64_t group = weight_grad_group_size(g), groups = (g.N + group - 1) / group;
    std::vector<int64_t> offset(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k)
      offset[static_cast<size_t>(k)] = (k / T) * plane + (k % T / g.KW) * Wp + k % T % g.KW;
    float* parts = scratch(4, static_cast<size_t>(groups * K * Op));
    const bool pad = g.PH || g.PW;
    // A group's images go by a few at a time, each few padded and turned just before their sums,
    // which continue from the previous few's: the same sums in the same order as one pass over
    // the group, with the few's copies still in L2 (all of a group's at once spilled it: stem7's
    // 7x7 layer 9.6 -> 8.4 ms, its 64 -> 128 1x1 2.55 -> 2.17 ms, batch 64, 1 thread).
    const int64_t ld = grad_ld(g);  // floats between the turned gradients' pixel rows
    const int64_t image_bytes =
        ((pad ? g.C * plane : 0) + pixels * ld) * static_cast<int64_t>(sizeof(float));
    const int64_t wanted = std::max(kFewBytes / image_bytes, (kFewPixels + pixels - 1) / pixels);
    const int64_t per = std::clamp<int64_t>(std::min(wanted, kMostBytes / image_bytes), 1, group);
    parallel_for(groups, [&](int64_t t) {
      const int64_t n0 = t * group, count = std::min(group, g.N - n0);
      // Without padding the images themselves are the zero-bordered copies, C * plane apart.
      float* copies = pad ? scratch(0, static_cast<size_t>(per * g.C * plane)) : nullptr;
      float* gT = scratch(1, static_cast<size_t>(per * pixels * ld));
      for (int64_t k0 = 0; k0 < count; k0 += per) {
        const int64_t few = std::min(per, count - k0);
        for (int64_t k = 0; k < few; ++k) {
          turn_image(g, in, gout, n0 + k0 + k, copies ? copies + k * g.C * plane : nullptr,
                     gT + k * pixels * ld);
          if (fuse_bias)
            conv2d_bias_grad_image(g, gout, n0 + k0 + k, bias_parts.data() + (n0 + k0 + k) * g.O);
          if (pointwise_gin)  // scratch slot 0: the images are not padded (1x1), so free here
            input_grad_pointwise_image(g, pointwise_packed, gout, n0 + k0 + k, pointwise_gin);
        }
        const float* pads = copies ? copies : in + (n0 + k0) * g.C * g.H * g.W;
        weight_grad_group(g, pads, gT, few, offset.data(), k0 == 0, parts + t * K * Op);
      }
    });

    if (fuse_bias) conv2d_bias_grad_add(g, bias_parts.data(), gb);
    // The groups' parts summed in order and added into gw (O x K), 16 pairs a task.
    parallel_for((K + kLanes - 1) / kLanes, [&](int64_t task) {
      add_pair_sums(parts, groups, K, g.O, task * kLanes, std::min(K, (task + 1) * kLanes), gw);
    });
  }
}

}  // namespace convlab::kernels
