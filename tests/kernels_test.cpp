// The fast float kernels against the reference on random shapes (conv2d: tests/conv2d_test.cpp).
#include <gtest/gtest.h>

#include "test_util.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../src/ops/conv2d_bias_grad.h"  // internal to the kernels, as the GEMM
#include "../src/ops/gemm.h"              // the GEMM is internal to the kernels
#include "../src/ops/simd.h"              // so are the vector helpers
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/ops/reference.h"
#include "convlab/tensor/tensor.h"

using namespace convlab;
using test::random_tensor;

TEST(KernelsFast, LinearMatchesReference) {
  std::mt19937 rng(7);
  for (auto [N, IN, OUT] : {std::array<int64_t, 3>{1, 1, 1},
                            {64, 4096, 64},
                            {64, 64, 10},
                            {5, 33, 67},
                            {3, 130, 9},
                            {7, 600, 20},   // 600: blocks of 256, 256 and 88 columns
                            {40, 600, 10},  // 16 rows or more, 12 outputs or fewer: lanes over rows
                            {16, 300, 12},
                            {33, 64, 1},
                            // the GEMM against rows alone turned in registers: edge columns (88
                            // of a block) and a partial block of 16 outputs
                            {12, 600, 20},
                            {9, 33, 67}}) {
    const Tensor x = random_tensor({N, IN}, rng), w = random_tensor({OUT, IN}, rng),
                 b = random_tensor({OUT}, rng);
    Tensor y_ref({N, OUT}), y({N, OUT}, 1e30f);
    reference::linear_forward(N, IN, OUT, x.data(), w.data(), b.data(), y_ref.data());
    kernels::linear_forward(N, IN, OUT, x.data(), w.data(), b.data(), y.data());
    const double tol = 1e-5 * std::sqrt(static_cast<double>(IN)) * 4;
    ASSERT_TRUE(allclose(y, y_ref, 1e-4, tol)) << max_abs_diff(y, y_ref);
    // Each row alone (batches of 8 rows or fewer turn the weights in registers, more take the
    // GEMM or lanes over rows): the same bits as in the batch.
    for (int64_t n = 0; n < N; ++n) {
      Tensor row({1, OUT}, 1e30f);
      kernels::linear_forward(1, IN, OUT, x.data() + n * IN, w.data(), b.data(), row.data());
      ASSERT_EQ(std::memcmp(row.data(), y.data() + n * OUT, static_cast<size_t>(OUT) * 4), 0)
          << N << "x" << IN << "x" << OUT << " row " << n;
    }
    const Tensor gy = random_tensor({N, OUT}, rng);
    Tensor gx_ref({N, IN}), gw_ref({OUT, IN}, 1.0f), gb_ref({OUT}, 1.0f);
    Tensor gx({N, IN}, 1e30f), gw({OUT, IN}, 1.0f), gb({OUT}, 1.0f);
    reference::linear_backward(N, IN, OUT, x.data(), w.data(), gy.data(), gx_ref.data(),
                               gw_ref.data(), gb_ref.data());
    kernels::linear_backward(N, IN, OUT, x.data(), w.data(), gy.data(), gx.data(), gw.data(),
                             gb.data());
    ASSERT_TRUE(allclose(gx, gx_ref, 1e-4, tol));
    ASSERT_TRUE(allclose(gw, gw_ref, 1e-4, tol));
    ASSERT_TRUE(allclose(gb, gb_ref, 1e-4, tol));
    // Without a bias, and each gradient alone: the same values as with everything asked for.
    Tensor y0({N, OUT}, 1e30f), y0_ref({N, OUT});
    const Tensor zero({OUT});
    reference::linear_forward(N, IN, OUT, x.data(), w.data(), zero.data(), y0_ref.data());
    kernels::linear_forward(N, IN, OUT, x.data(), w.data(), nullptr, y0.data());
    ASSERT_TRUE(allclose(y0, y0_ref, 1e-4, tol));
    Tensor gx_alone({N, IN}, 1e30f), gw_alone({OUT, IN}, 1.0f);
    kernels::linear_backward(N, IN, OUT, x.data(), w.data(), gy.data(), gx_alone.data(), nullptr,
                             nullptr);
    kernels::linear_backward(N, IN, OUT, x.data(), w.data(), gy.data(), nullptr, gw_alone.data(),
                             nullptr);
    ASSERT_EQ(std::memcmp(gx_alone.data(), gx.data(), static_cast<size_t>(gx.numel()) * 4), 0);
    ASSERT_EQ(std::memcmp(gw_alone.data(), gw.data(), static_cast<size_t>(gw.numel()) * 4), 0);
  }
}

TEST(KernelsFast, PoolReluChannelSumMatchReference) {
  std::mt19937 rng(8);
  for (auto [kh, sh, ph] : {std::array<int64_t, 3>{2, 2, 0}, {3, 2, 1}, {3, 1, 0}}) {
    const Tensor x = random_tensor({3, 4, 9, 8}, rng);
    const auto g = pool2d_geometry(x.shape(), kh, kh, sh, sh, ph, ph, "test");
    Tensor y_ref(g.output_shape()), y(g.output_shape(), 1e30f);
    reference::max_pool2d_forward(g, x.data(), y_ref.data());
    kernels::max_pool2d_forward(g, x.data(), y.data());
    ASSERT_EQ(max_abs_diff(y, y_ref), 0.0);
    const Tensor gy = random_tensor(g.output_shape(), rng);
    Tensor gx_ref(x.shape()), gx(x.shape(), 1e30f);
    reference::max_pool2d_backward(g, x.data(), gy.data(), gx_ref.data());
    kernels::max_pool2d_backward(g, x.data(), gy.data(), gx.data());
    ASSERT_EQ(max_abs_diff(gx, gx_ref), 0.0);
  }
  const Tensor x = random_tensor({2, 3, 5, 7}, rng);
  Tensor y_ref(x.shape()), y(x.shape(), 1e30f);
  reference::relu_forward(x.numel(), x.data(), y_ref.data());
  kernels::relu_forward(x.numel(), x.data(), y.data());
  ASSERT_EQ(max_abs_diff(y, y_ref), 0.0);
  // Channel sums bit for bit: a pixel whose channels are all -0 sums to +0 (from 0, in channel
  // order, as the reference), a NaN stays NaN; the backward copies the gradient to each channel.
  Tensor xs = random_tensor({2, 3, 5, 7}, rng);
  for (int64_t c = 0; c < 3; ++c) xs.data()[c * 35 + 4] = -0.0f;
  xs.data()[35 + 9] = std::nanf("");
  Tensor s_ref({2, 1, 5, 7}), s({2, 1, 5, 7}, 1e30f);
  reference::channel_sum_forward(2, 3, 35, xs.data(), s_ref.data());
  kernels::channel_sum_forward(2, 3, 35, xs.data(), s.data());
  EXPECT_EQ(std::memcmp(s.data(), s_ref.data(), s.numel() * sizeof(float)), 0);
  EXPECT_FALSE(std::signbit(s.data()[4]));
  EXPECT_TRUE(std::isnan(s.data()[9]));
  const Tensor gs = random_tensor({2, 1, 5, 7}, rng);
  Tensor gxs_ref(xs.shape()), gxs(xs.shape(), 1e30f);
  reference::channel_sum_backward(2, 3, 35, gs.data(), gxs_ref.data());
  kernels::channel_sum_backward(2, 3, 35, gs.data(), gxs.data());
  EXPECT_EQ(std::memcmp(gxs.data(), gxs_ref.data(), gxs.numel() * sizeof(float)), 0);
}

TEST(KernelsFast, MaxPoolTiesAndNaNFollowPyTorch) {
  // Ties: the first maximum in window order receives the gradient. NaN propagates.
  const Tensor x = tensor({1, 1, 1, 1}).reshape({1, 1, 2, 2});
  const auto g = pool2d_geometry(x.shape(), 2, 2, 2, 2, 0, 0, "test");
  Tensor gx(x.shape());
  kernels::max_pool2d_backward(g, x.data(), tensor({5}).data(), gx.data());
  EXPECT_EQ(gx(0, 0, 0, 0), 5.0f);
  EXPECT_EQ(gx(0, 0, 1, 1), 0.0f);
  const Tensor xn = tensor({1, std::nanf(""), 3, 2}).reshape({1, 1, 2, 2});
  Tensor y({1, 1, 1, 1});
  kernels::max_pool2d_forward(g, xn.data(), y.data());
  EXPECT_TRUE(std::isnan(y.data()[0]));
}

// The max-pooling kernels (2x2 stride 2's rows, and the phase buffer for every other window) on
// widths that use whole vectors of windows and leave tails (of 2, 3, 13 and 14 windows: masked
// groups reaching into a second vector of columns), with many ties (few distinct values),
// NaNs, infinities and signed zeros at random places, planes of -inf (windows where only the
// padding could win), padding and ceil mode, at every instruction set: values and gradients equal
// the reference's exactly.
TEST(KernelsFast, MaxPoolMatchesReferenceWithTiesNaNAndTails) {
  std::mt19937 rng(31);
  const float specials[] = {std::nanf(""), INFINITY, -INFINITY, 0.0f, -0.0f};
  struct Window {
    int64_t kh, kw, sh, sw, ph, pw;
    bool ceil;
  };
  const Window windows[] = {
      {2, 2, 2, 2, 0, 0, false},
      {3, 3, 2, 2, 1, 1, false},
      {3, 3, 2, 2, 1, 1, true},
      {3, 3, 1, 1, 1, 1, false},
      {2, 2, 1, 1, 0, 0, false},
      {3, 2, 3, 1, 0, 1, true},
      {5, 5, 3, 3, 2, 2, false},
      {1, 1, 1, 1, 0, 0, false},
      {4, 3, 2, 3, 2, 1, true},
      // row stride 1 with windows clipped at the top and bottom (the rows' winners carried from
      // one output row to the next): through the phase buffer and straight from the input
      {5, 3, 1, 3, 2, 1, true},
      {5, 5, 1, 1, 2, 2, false}};
  for (auto isa : {kernels::Isa::generic, kernels::Isa::avx512}) {
    kernels::set_isa_limit(isa);
    for (const Window& k : windows)
      for (auto [h, w] : std::vector<std::array<int64_t, 2>>{
               {4, 32}, {5, 37}, {6, 70}, {3, 96}, {5, 5}, {9, 8}, {7, 16}, {4, 28}, {3, 58}}) {
        if (h < k.kh || w < k.kw) continue;
        Tensor x({2, 3, h, w});
        for (int64_t i = 0; i < x.numel(); ++i) {
          const auto r = rng() % 100;
          x.data()[i] = r < 3 ? specials[rng() % 5] : static_cast<float>(static_cast<int>(r % 4));
        }
        std::fill(x.data(), x.data() + h * w, -INFINITY);  // one plane of -inf
        const auto g =
            pool2d_geometry(x.shape(), k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, "test", k.ceil);
        const std::string where =
            std::string(kernels::isa_name(isa)) + " window " + std::to_string(k.kh) + "x" +
            std::to_string(k.kw) + "/" + std::to_string(k.sh) + "," + std::to_string(k.sw) +
            " pad " + std::to_string(k.ph) + "," + std::to_string(k.pw) +
            (k.ceil ? " ceil " : " ") + std::to_string(h) + "x" + std::to_string(w);
        Tensor y_ref(g.output_shape()), y(g.output_shape(), 1e30f);
        reference::max_pool2d_forward(g, x.data(), y_ref.data());
        kernels::max_pool2d_forward(g, x.data(), y.data());
        ASSERT_EQ(std::memcmp(y.data(), y_ref.data(), static_cast<size_t>(y.numel()) * 4), 0)
            << where;
        const Tensor gy = random_tensor(g.output_shape(), rng);
        Tensor gx_ref(x.shape()), gx(x.shape(), 1e30f);
        reference::max_pool2d_backward(g, x.data(), gy.data(), gx_ref.data());
        kernels::max_pool2d_backward(g, x.data(), gy.data(), gx.data());
        ASSERT_EQ(std::memcmp(gx.data(), gx_ref.data(), static_cast<size_t>(gx.numel()) * 4), 0)
            << where;
      }
  }
  kernels::set_isa_limit(kernels::Isa::avx512);
}

// Average pooling, plain and adaptive, forward and backward, equals the reference bit for bit at
// every instruction set: the forward kernels sum 16 planes (AVX-512) or 8 at a time, each in the
// reference's order. Plane counts around the groups (5, 8, 13, 16, 21), padding with and without
// counting it, ceil mode, adaptive windows that overlap and do not divide the plane, at 1 and 3
// threads.
TEST(KernelsFast, AveragePoolingEqualsReferenceBitForBit) {
  std::mt19937 rng(41);
  struct Window {
    int64_t kh, kw, sh, sw, ph, pw;
    bool ceil;
  };
  const Window windows[] = {{2, 2, 2, 2, 0, 0, false},
                            {7, 7, 7, 7, 0, 0, false},
                            {3, 3, 2, 2, 1, 1, true},
                            {3, 2, 1, 2, 1, 1, false},
                            {4, 4, 3, 3, 2, 2, true}};
  const auto same = [](const Tensor& a, const Tensor& b) {
    return std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
  };
  for (auto isa : {kernels::Isa::generic, kernels::Isa::avx512}) {
    kernels::set_isa_limit(isa);
    for (int threads : {1, 3}) {
      ThreadPool pool(threads);
      PoolScope scope(&pool);
      for (int64_t planes : {5, 8, 13, 16, 21})
        for (auto [h, w] : std::vector<std::array<int64_t, 2>>{{7, 7}, {8, 11}, {5, 16}}) {
          const Tensor x = random_tensor({1, planes, h, w}, rng);
          const std::string where = std::string(kernels::isa_name(isa)) + ", " +
                                    std::to_string(planes) + " planes " + std::to_string(h) + "x" +
                                    std::to_string(w);
          for (const Window& k : windows)
            for (bool count_pad : {true, false}) {
              if (h + 2 * k.ph < k.kh || w + 2 * k.pw < k.kw) continue;
              const auto g =
                  pool2d_geometry(x.shape(), k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, "test", k.ceil);
              const std::string window = where + " window " + std::to_string(k.kh) + "x" +
                                         std::to_string(k.kw) + (count_pad ? " counting" : "");
              Tensor y_ref(g.output_shape()), y(g.output_shape(), 1e30f);
              reference::avg_pool2d_forward(g, count_pad, x.data(), y_ref.data());
              kernels::avg_pool2d_forward(g, count_pad, x.data(), y.data());
              ASSERT_TRUE(same(y, y_ref)) << window;
              const Tensor gy = random_tensor(g.output_shape(), rng);
              Tensor gx_ref(x.shape()), gx(x.shape(), 1e30f);
              reference::avg_pool2d_backward(g, count_pad, gy.data(), gx_ref.data());
              kernels::avg_pool2d_backward(g, count_pad, gy.data(), gx.data());
              ASSERT_TRUE(same(gx, gx_ref)) << "backward, " << window;
            }
          for (auto [oh, ow] : std::vector<std::array<int64_t, 2>>{{1, 1}, {3, 2}, {h, w}}) {
            const std::string adaptive =
                where + " adaptive to " + std::to_string(oh) + "x" + std::to_string(ow);
            Tensor y_ref({1, planes, oh, ow}), y({1, planes, oh, ow}, 1e30f);
            reference::adaptive_avg_pool2d_forward(planes, h, w, oh, ow, x.data(), y_ref.data());
            kernels::adaptive_avg_pool2d_forward(planes, h, w, oh, ow, x.data(), y.data());
            ASSERT_TRUE(same(y, y_ref)) << adaptive;
            const Tensor gy = random_tensor({1, planes, oh, ow}, rng);
            Tensor gx_ref(x.shape()), gx(x.shape(), 1e30f);
            reference::adaptive_avg_pool2d_backward(planes, h, w, oh, ow, gy.data(), gx_ref.data());
            kernels::adaptive_avg_pool2d_backward(planes, h, w, oh, ow, gy.data(), gx.data());
            ASSERT_TRUE(same(gx, gx_ref)) << "backward, " << adaptive;
          }
        }
    }
  }
  kernels::set_isa_limit(kernels::Isa::avx512);
}

// Where the pooling windows do not overlap, the backward writes each window's share straight
// (no sums): a gradient of -0 still gives +0, as the reference's sums from +0 do, and pixels no
// window holds get 0.
TEST(KernelsFast, AveragePoolingBackwardOfNegativeZero) {
  const float gy[2] = {-0.0f, -0.0f};
  float gx[2 * 9], gx_ref[2 * 9];
  std::fill(gx, gx + 18, 1e30f);
  reference::adaptive_avg_pool2d_backward(2, 3, 3, 1, 1, gy, gx_ref);
  kernels::adaptive_avg_pool2d_backward(2, 3, 3, 1, 1, gy, gx);
  EXPECT_EQ(std::memcmp(gx, gx_ref, sizeof gx), 0);
  EXPECT_FALSE(std::signbit(gx[4]));
  std::mt19937 rng(5);
  const Tensor g = random_tensor({1, 2, 1, 1}, rng);
  const auto pool = pool2d_geometry({1, 2, 3, 3}, 2, 2, 2, 2, 0, 0, "test", false);  // 1x1 out
  std::fill(gx, gx + 18, 1e30f);
  kernels::avg_pool2d_backward(pool, true, g.data(), gx);
  reference::avg_pool2d_backward(pool, true, g.data(), gx_ref);
  EXPECT_EQ(std::memcmp(gx, gx_ref, sizeof gx), 0);
  EXPECT_EQ(gx[8], 0.0f);  // the last row and column are in no window
}

// The GEMM's register blocks (full 4 x 64, 8 rows of matrices up to 32 wide, and the edges of every
// size, masked on AVX-512) against sums in k order: with FMA the same bits, since every element is
// one chain of fused multiply-adds.
TEST(KernelsFast, GemmEveryBlockEdgeEqualsInOrderSums) {
  const bool fused = __builtin_cpu_supports("avx512f");
  std::mt19937 rng(11);
  std::normal_distribution<float> d;
  // gemm_tn reads A turned (K x M, lda M + 1): the same sums, so the same expected values.
  for (bool turned : {false, true})
    for (int64_t M : {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 19})
      for (int64_t N : {1, 2, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 96, 130})
        for (bool accumulate : {false, true}) {
          const int64_t K = 6, lda = turned ? M + 1 : K + 1, ldb = N + 3, ldc = N + 2;
          std::vector<float> A(static_cast<size_t>((turned ? K : M) * lda)),
              B(static_cast<size_t>(K * ldb)), C(static_cast<size_t>(M * ldc)), expected;
          for (auto* v : {&A, &B, &C})
            for (float& x : *v) x = d(rng);
          const auto a_at = [&](int64_t i, int64_t k) {
            return A[static_cast<size_t>(turned ? k * lda + i : i * lda + k)];
          };
          expected = C;
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              float acc = accumulate ? C[static_cast<size_t>(i * ldc + j)] : 0.0f;
              for (int64_t k = 0; k < K; ++k) {
                const float a = a_at(i, k), b = B[static_cast<size_t>(k * ldb + j)];
                acc = fused ? std::fma(a, b, acc) : acc + a * b;
              }
              expected[static_cast<size_t>(i * ldc + j)] = acc;
            }
          (turned ? kernels::gemm_tn : kernels::gemm_nn)(M, N, K, A.data(), lda, B.data(), ldb,
                                                         C.data(), ldc, accumulate);
          for (size_t i = 0; i < C.size(); ++i) {
            if (fused)  // columns past N (ldc) are untouched too
              ASSERT_EQ(C[i], expected[i])
                  << (turned ? "gemm_tn" : "gemm_nn") << " M " << M << " N " << N << " at " << i;
            else
              ASSERT_NEAR(C[i], expected[i], 1e-5 * (1 + std::fabs(expected[i])));
          }
        }
}

// lane_sums folds sixteen vectors at a time into bit-reversed lanes: each sum must be lane_sum's,
// bit for bit (the direct weight gradient's results depend on it), for counts that leave a
// partial last group. Values of mixed magnitude, so that another order of additions would show.
TEST(KernelsFast, LaneSumsEqualLaneSumBitForBit) {
  using V = kernels::simd::vec<16>;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 20);
  V a[40];
  for (auto& v : a)
    for (int l = 0; l < 16; ++l) v[l] = std::ldexp(mantissa(rng), exponent(rng));
  const auto check = [&]<int N>() {
    float out[N];
    kernels::simd::lane_sums<16, N>(a, out);
    for (int k = 0; k < N; ++k)
      EXPECT_EQ(std::bit_cast<uint32_t>(out[k]),
                std::bit_cast<uint32_t>(kernels::simd::lane_sum<16>(a[k])))
          << "count " << N << ", vector " << k;
  };
  check.template operator()<1>();
  check.template operator()<7>();
  check.template operator()<16>();
  check.template operator()<24>();
  check.template operator()<40>();
}

// The transpose (16 x 16 tiles in registers on AVX-512, edge tiles with masked loads and stores)
// moves every element exactly, into rows ldd apart, and writes nothing else: the gaps between
// destination rows and a guard after the last keep their sentinel.
TEST(KernelsFast, TransposeEveryTileAndEdge) {
  constexpr float kSentinel = -7.5f;
  for (int64_t rows : {1, 15, 16, 17, 33, 64})
    for (int64_t cols : {1, 7, 16, 31, 48, 70})
      for (int64_t gap : {0, 3}) {
        const int64_t lds = cols + 5, ldd = rows + gap, guard = 32;
        std::vector<float> src(static_cast<size_t>(rows * lds)),
            dst(static_cast<size_t>(cols * ldd + guard), kSentinel);
        for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i);
        kernels::transpose(rows, cols, src.data(), lds, dst.data(), ldd);
        for (int64_t j = 0; j < cols; ++j)
          for (int64_t i = 0; i < ldd; ++i)
            ASSERT_EQ(dst[static_cast<size_t>(j * ldd + i)],
                      i < rows ? src[static_cast<size_t>(i * lds + j)] : kSentinel)
                << rows << "x" << cols << " ldd " << ldd << " at " << i << "," << j;
        for (int64_t k = 0; k < guard; ++k)
          ASSERT_EQ(dst[static_cast<size_t>(cols * ldd + k)], kSentinel) << rows << "x" << cols;
      }
}

// The bias gradient (alone, and with a fused ReLU's backward) gives the same bits at every
// instruction set (16 interleaved float lanes per plane, then the lanes in order, then the tail;
// the images in double in image order), gz exactly gout where out > 0 (else +0, NaN too), and
// sums near the double-precision ones, added to what gb held. Planes around the lanes' 16.
TEST(KernelsFast, BiasGradientSameBitsAtEveryIsa) {
  struct IsaGuard {  // the best instruction set back, even when an assertion returns early
    ~IsaGuard() { kernels::set_isa_limit(kernels::Isa::avx512); }
  } guard;
  std::mt19937 rng(77);
  for (int64_t pixels : {1, 15, 16, 17, 49, 64, 196}) {
    const Conv2dGeometry g{3, 2, 1, 1, 5, 1, 1, 1, 1, 0, 0, 1, pixels};
    const Shape shape{g.N, g.O, 1, pixels};
    const Tensor gout = random_tensor(shape, rng);
    Tensor out = random_tensor(shape, rng);
    out.data()[0] = std::nanf("");
    out.data()[1] = 0.0f;
    std::vector<std::vector<float>> results;
    for (auto isa : {kernels::Isa::generic, kernels::Isa::avx512}) {
      if (isa > kernels::best_isa()) continue;
      kernels::set_isa_limit(isa);
      for (bool relu : {false, true}) {
        std::vector<float> gb(static_cast<size_t>(g.O), 0.25f),
            gz(static_cast<size_t>(gout.numel()));
        if (relu)
          kernels::relu_backward_bias_grad(g, out.data(), gout.data(), gz.data(), gb.data());
        else
          kernels::conv2d_bias_grad(g, gout.data(), gb.data());
        for (int64_t o = 0; o < g.O; ++o) {
          double sum = 0.25;
          for (int64_t n = 0; n < g.N; ++n)
            for (int64_t p = 0; p < pixels; ++p) {
              const int64_t i = (n * g.O + o) * pixels + p;
              const float z = !relu || out.data()[i] > 0.0f ? gout.data()[i] : 0.0f;
              if (relu) {
                ASSERT_EQ(std::memcmp(&gz[static_cast<size_t>(i)], &z, 4), 0) << i;
              }
              sum += z;
            }
          ASSERT_NEAR(gb[static_cast<size_t>(o)], sum, 1e-5 * (1 + std::fabs(sum)));
        }
        results.push_back(gb);
        if (relu) results.push_back(gz);
      }
    }
    kernels::set_isa_limit(kernels::Isa::avx512);
    for (size_t r = 3; r < results.size(); ++r)
      ASSERT_EQ(std::memcmp(results[r].data(), results[r - 3].data(), results[r].size() * 4), 0)
          << pixels << " pixels, result " << r;
  }
}
