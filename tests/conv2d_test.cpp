#include <gtest/gtest.h>

#include "test_util.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "../src/ops/conv2d_lanes.h"
#include "../src/ops/conv2d_pointwise.h"
#include "../src/ops/conv2d_polyphase.h"
#include "../src/ops/conv2d_winograd3x3.h"
#include "../src/ops/conv2d_winograd_f2x2.h"  // the choice of kernel is internal
#include "../src/ops/scratch.h"               // poisoned below
#include "convlab/error.h"
#include "convlab/nn/conv2d.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/ops/reference.h"
#include "fixture.h"

using namespace convlab;
using test::random_tensor;

// The reference against PyTorch: forward and every gradient on 24 random problems.
TEST(Conv2dReference, MatchesPyTorchGolden) {
  const auto fixture = test::load_fixture("conv2d.json");
  for (const auto& c : fixture.at("cases")) {
    const Tensor x = test::tensor_from(c["input"]), w = test::tensor_from(c["weight"]);
    const bool has_bias = c.contains("bias");
    const Tensor b = has_bias ? test::tensor_from(c["bias"]) : Tensor();
    const auto g = conv2d_geometry(x.shape(), w.shape(), c["stride"][0], c["stride"][1],
                                   c["padding"][0], c["padding"][1], "test");
    Tensor y(g.output_shape());
    reference::conv2d_forward<float>(g, x.data(), w.data(), has_bias ? b.data() : nullptr,
                                     y.data());
    const Tensor want = test::tensor_from(c["output"]);
    ASSERT_EQ(y.shape(), want.shape());
    EXPECT_TRUE(allclose(y, want, 1e-5, 1e-5)) << "max diff " << max_abs_diff(y, want);

    const Tensor gy = test::tensor_from(c["grad_output"]);
    Tensor gx(x.shape(), 1e30f), gw(w.shape()), gb({g.O});
    reference::conv2d_backward(g, x.data(), w.data(), gy.data(), gx.data(), gw.data(),
                               has_bias ? gb.data() : nullptr);
    EXPECT_TRUE(allclose(gx, test::tensor_from(c["grad_input"]), 1e-5, 1e-5));
    EXPECT_TRUE(allclose(gw, test::tensor_from(c["grad_weight"]), 1e-5, 1e-4));
    if (has_bias) {
      EXPECT_TRUE(allclose(gb, test::tensor_from(c["grad_bias"]), 1e-5, 1e-4));
    }
  }
}

// The fast kernels against the reference on random shapes from the whole allowed range.
TEST(Conv2dFast, MatchesReferenceOnRandomShapes) {
  std::mt19937 rng(123);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 60; ++trial) {
    const int n = pick(1, 4), c = pick(1, 16), o = pick(1, 16), kh = pick(1, 5), kw = pick(1, 5);
    const int sh = pick(1, 3), sw = pick(1, 3), ph = pick(0, 2), pw = pick(0, 2);
    const int h = std::max(kh - 2 * ph, 1) + pick(0, 12),
              w = std::max(kw - 2 * pw, 1) + pick(0, 12);
    const Tensor x = random_tensor({n, c, h, w}, rng), wt = random_tensor({o, c, kh, kw}, rng);
    const Tensor b = random_tensor({o}, rng);
    const auto g = conv2d_geometry(x.shape(), wt.shape(), sh, sw, ph, pw, "test");
    Tensor ref(g.output_shape()), fast(g.output_shape(), 1e30f);
    reference::conv2d_forward(g, x.data(), wt.data(), b.data(), ref.data());
    kernels::conv2d_forward(g, x.data(), wt.data(), b.data(), fast.data());
    ASSERT_TRUE(allclose(fast, ref, 1e-4, 1e-4))
        << "trial " << trial << " max diff " << max_abs_diff(fast, ref);

    const Tensor gy = random_tensor(g.output_shape(), rng);
    Tensor gx_ref(x.shape()), gw_ref(wt.shape(), 0.5f), gb_ref({o}, 0.25f);
    Tensor gx(x.shape(), 1e30f), gw(wt.shape(), 0.5f), gb({o}, 0.25f);  // grads must accumulate
    reference::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx_ref.data(), gw_ref.data(),
                               gb_ref.data());
    kernels::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx.data(), gw.data(), gb.data());
    ASSERT_TRUE(allclose(gx, gx_ref, 1e-4, 1e-4)) << "trial " << trial;
    ASSERT_TRUE(allclose(gw, gw_ref, 1e-4, 1e-3)) << "trial " << trial;
    ASSERT_TRUE(allclose(gb, gb_ref, 1e-4, 1e-3)) << "trial " << trial;
  }
}

// Every scratch slot of this thread filled with NaN: a kernel that reads scratch it did not write
// (a zero fill it skipped) then gives NaN, which the comparisons catch; without this, what earlier
// cases left there could hide it.
namespace {
void poison_scratch() {
  constexpr size_t kFloats = size_t{1} << 20;  // more than any case below uses
  for (int slot = 0; slot < 8; ++slot) {
    float* p = kernels::scratch(slot, kFloats);
    std::fill(p, p + kFloats, std::numeric_limits<float>::quiet_NaN());
  }
}
}  // namespace

// The shape classes the kernels are chosen by (AVX-512: Winograd for 3x3, 5x5 and 7x7 stride 1,
// channels in the vector lanes for strided, 1x1 and small-plane convolutions; else the direct,
// polyphase and im2col paths) against the
// reference: kernels 1 to 7, strides 1 to 3, padding 0 to 6, planes from 7 to 33, channels around
// the 16- and 32-lane blocks, batches that do not divide into the weight-gradient groups; and the
// same bits at 1 and 3 threads. At 1 thread the kernels run on this thread, after its scratch is
// poisoned.
// The shapes the rule sends to the channel lanes at stride 1 with fewer than 16 input channels
// (their cases below would pass on any kernel): rows of 16 columns or fewer only.
TEST(Conv2dFast, FewInputChannelsOnNarrowRowsTakeTheLanes) {
  if (kernels::active_isa() != kernels::Isa::avx512) GTEST_SKIP() << "the lanes are AVX-512";
  const auto lanes = [](Shape in, Shape w, int64_t p) {
    return kernels::lanes_conv_applies(conv2d_geometry(in, w, 1, 1, p, p, "test"));
  };
  EXPECT_TRUE(lanes({3, 6, 14, 14}, {16, 6, 5, 5}, 0));
  EXPECT_TRUE(lanes({9, 15, 12, 16}, {33, 15, 5, 5}, 2));
  EXPECT_FALSE(lanes({3, 6, 32, 32}, {16, 6, 5, 5}, 2));  // 32 columns: the row vectors
  EXPECT_FALSE(lanes({3, 6, 14, 14}, {8, 6, 5, 5}, 0));   // 8 output channels
}

TEST(Conv2dFast, ShapeClassesMatchReferenceAndThreadCounts) {
  std::mt19937 rng(321);
  struct Case {
    int n, c, o, h, w, kh, kw, sh, sw, ph, pw;
  };
  const Case cases[] = {
      {3, 3, 32, 32, 32, 3, 3, 2, 2, 1, 1},
      {9, 32, 64, 16, 16, 3, 3, 2, 2, 1, 1},
      {2, 3, 16, 23, 21, 7, 7, 2, 2, 3, 3},
      {5, 16, 17, 14, 14, 1, 1, 2, 2, 0, 0},
      {2, 40, 33, 7, 9, 3, 3, 2, 2, 1, 1},
      {1, 8, 48, 17, 15, 5, 5, 3, 3, 2, 2},
      {4, 1, 32, 28, 28, 3, 3, 2, 2, 1, 1},
      {2, 17, 16, 8, 8, 4, 4, 2, 2, 0, 0},
      {3, 20, 40, 11, 13, 3, 5, 2, 1, 1, 2},
      {2, 6, 20, 33, 10, 2, 2, 2, 2, 0, 1},
      {3, 32, 64, 8, 8, 3, 3, 1, 1, 1, 1},
      {2, 16, 16, 16, 16, 1, 1, 1, 1, 0, 0},
      {9, 20, 40, 7, 7, 3, 3, 1, 1, 1, 1},
      {2, 24, 17, 12, 9, 5, 5, 1, 1, 2, 2},
      {2, 16, 33, 16, 16, 3, 3, 1, 1, 0, 0},
      {2, 48, 16, 20, 20, 1, 1, 1, 1, 0, 0},
      // batches too small to fill the threads: each image's pixels in runs of 16 (the last one
      // shorter), zero-bordered copies made first
      {1, 16, 40, 66, 66, 3, 3, 2, 2, 1, 1},
      {1, 3, 64, 48, 48, 7, 7, 2, 2, 3, 3},
      {1, 64, 48, 33, 33, 1, 1, 1, 1, 0, 0},
      // the channel-lane weight gradient over groups of 2 images with more than 1 MB of output
      // gradient: in chunks of 3 output rows (the last of 2); the last group (1 image) in one pass
      {9, 3, 64, 100, 84, 3, 3, 2, 2, 1, 1},
      // ... and the direct kernel's output channels in runs of whole blocks (32 + 28)
      {1, 3, 60, 32, 32, 5, 5, 1, 1, 2, 2},
      // channel lanes on planes of fewer than 48 pixels: blocks of pixels across a task's group of
      // images (4x4 outputs 3 images a group, the last group 2 or 1; 6x6 outputs without padding
      // 2 a group)
      {5, 32, 64, 8, 8, 3, 3, 2, 2, 1, 1},
      {4, 64, 48, 4, 4, 1, 1, 1, 1, 0, 0},
      {3, 16, 32, 14, 13, 3, 3, 2, 2, 0, 0},
      // ... and input gradients on phases of fewer than 48 pixels, blocks across a task's images
      // (at most N / 8 a task): phases of 9, 6 and 4 pixels (3 images a task, pairs of pixels
      // across two images), and a 1x1 stride-2 layer whose phases without taps are zeros (2 a task)
      {24, 20, 33, 5, 5, 3, 3, 2, 2, 1, 1},
      {16, 32, 32, 6, 6, 1, 1, 2, 2, 0, 0},
      // channel lanes with at most 96 output pixels in the batch and 128 output channels or
      // more: a task per pair of 32-channel blocks (the last one block, of 8 channels)
      {1, 64, 136, 10, 10, 3, 3, 2, 2, 1, 1},
      {3, 40, 150, 5, 5, 3, 3, 1, 1, 1, 1},
      {1, 32, 100, 8, 8, 3, 3, 2, 2, 1, 1},  // four blocks, the last of 4 channels
      // ... and more (108): a forward panel of more than 640 KB (576 pairs x 288 channels) one
      // pair of blocks at a time over every run of pixels, the ninth block alone
      {12, 64, 288, 6, 6, 3, 3, 2, 2, 1, 1},
      // the direct kernel's rows of taps shifted in registers, 6 and 7 taps wide, rows of 38 and
      // 40 outputs (two vectors and a tail)
      {2, 4, 20, 9, 37, 6, 6, 1, 1, 2, 3},
      {2, 3, 16, 12, 40, 7, 7, 1, 1, 3, 3},
      // 3x3 stride 1 on planes of fewer than 4 rows (channel lanes, not Winograd)
      {1, 32, 32, 3, 3, 3, 3, 1, 1, 0, 0},
      {3, 32, 48, 3, 9, 3, 3, 1, 1, 1, 1},
      // Winograd F(4x4, 3x3), channels in the lanes, on larger planes: odd planes, rows of 18
      // tiles, padding 0 to 2 and unequal, 16 to 24 channels (one vector, masked), 10 images in
      // weight-gradient groups
      {3, 32, 40, 9, 11, 3, 3, 1, 1, 1, 1},
      {2, 33, 32, 35, 70, 3, 3, 1, 1, 0, 0},
      {10, 40, 48, 7, 7, 3, 3, 1, 1, 2, 2},
      {2, 64, 64, 20, 20, 3, 3, 1, 1, 1, 1},
      {2, 64, 32, 16, 16, 3, 3, 1, 1, 1, 1},
      {2, 32, 33, 5, 40, 3, 3, 1, 1, 1, 0},
      {3, 16, 16, 32, 32, 3, 3, 1, 1, 1, 1},
      {2, 20, 17, 13, 30, 3, 3, 1, 1, 1, 0},
      {2, 16, 24, 64, 9, 3, 3, 1, 1, 2, 1},
      // ... rows of 16 columns and 16 or 32 channels, turned straight into the padded rows with
      // only the border zeroed: padding 0 to 2 (the input gradient pads by 2 - P), unequal
      {2, 32, 32, 16, 16, 3, 3, 1, 1, 0, 0},
      {2, 16, 32, 8, 32, 3, 3, 1, 1, 2, 1},
      // Winograd F(2x2, 5x5) (5x5 stride 1, 32 channels and more): odd planes, rows of more than
      // 16 tiles, padding 0 to 4 and unequal, 10 images in weight-gradient groups
      {3, 32, 40, 9, 11, 5, 5, 1, 1, 2, 2},
      {2, 33, 32, 20, 37, 5, 5, 1, 1, 0, 0},
      {10, 40, 48, 6, 6, 5, 5, 1, 1, 4, 4},
      {2, 64, 64, 16, 16, 5, 5, 1, 1, 2, 2},
      {2, 32, 33, 9, 40, 5, 5, 1, 1, 3, 1},
      // ... and on one image: blocks of tile rows as tasks (4, 4 and 2 rows of 9 tiles)
      {1, 32, 40, 20, 18, 5, 5, 1, 1, 2, 2},
      // ... with rows of exactly 8 tiles, two rows a vector: 15 columns (the last tile half
      // outside) and an odd count of tile rows (the last vector one row), 5x5 and 7x7, and one
      // image's blocks of 4 rows
      {3, 32, 40, 13, 15, 5, 5, 1, 1, 2, 2},
      {2, 32, 32, 11, 15, 7, 7, 1, 1, 3, 3},
      {1, 32, 40, 20, 16, 5, 5, 1, 1, 2, 2},
      // Winograd F(2x2, 7x7) (7x7 stride 1, 16 channels and more with 100 output pixels, else 32):
      // odd planes, rows of more than 16 tiles, padding 0 to 6 and unequal, 10 images in
      // weight-gradient groups, one image
      {3, 16, 32, 16, 16, 7, 7, 1, 1, 3, 3},
      {3, 32, 40, 9, 11, 7, 7, 1, 1, 3, 3},
      {10, 32, 32, 8, 8, 7, 7, 1, 1, 3, 3},
      {2, 24, 33, 20, 37, 7, 7, 1, 1, 0, 0},
      {2, 16, 16, 10, 12, 7, 7, 1, 1, 6, 2},
      {1, 16, 32, 20, 18, 7, 7, 1, 1, 3, 3},
      // ... and on small planes: channel counts past whole vectors, tiles past the plane, padding
      // 0 to 2 and unequal, 17 images in weight-gradient groups
      {17, 33, 40, 7, 7, 3, 3, 1, 1, 1, 1},
      {4, 64, 128, 7, 7, 3, 3, 1, 1, 1, 1},
      {4, 40, 33, 5, 6, 3, 3, 1, 1, 2, 1},
      {4, 32, 48, 6, 6, 3, 3, 1, 1, 0, 0},
      // ... whose input gradient runs on a 2 x 2 plane, on an 18 x 18 one (2 images a block), and
      // 16 x 16 outputs padded by 2
      {16, 32, 64, 2, 2, 3, 3, 1, 1, 2, 2},
      {2, 64, 32, 18, 18, 3, 3, 1, 1, 0, 0},
      {2, 64, 48, 14, 14, 3, 3, 1, 1, 2, 2},
      // the channel-lane weight gradient 2 images at a time (128 KB of gradients each) over
      // groups of 3, unpadded: sums continuing into a shorter last few
      {24, 16, 128, 16, 16, 1, 1, 1, 1, 0, 0},
      // ... on 3 x 3 outputs in groups of at least 256 output pixels (29, 29 and 12 images), the
      // gradients' rows of 96 channels 112 floats apart
      {70, 16, 96, 6, 6, 3, 3, 2, 2, 1, 1},
      // 1x1 at stride 1 as matrix products on the planes (conv2d_pointwise.cpp): rows past a
      // block of 8 (17 input, 20 and 33 output channels), planes whose last vector is masked (14 x
      // 14, 9 x 12), tiles of 2 and 3 vectors, one image split into parts of rows
      {5, 17, 20, 14, 14, 1, 1, 1, 1, 0, 0},
      {3, 48, 33, 8, 8, 1, 1, 1, 1, 0, 0},
      {4, 100, 70, 9, 12, 1, 1, 1, 1, 0, 0},
      {1, 128, 200, 16, 16, 1, 1, 1, 1, 0, 0},
      // ... and at stride 2 on the output's plane: 8 columns (two rows a vector, picked out of
      // the input into the tiles, spread into the input gradient as stored) from 16 or 15, 17
      // rows from 34 or 33 (the last vector one row), one image split into parts of rows; 16
      // columns (a row a vector) from 32 or 31; 12 columns (the even pixels copied out dense and
      // the sums spread in a pass of their own) from 23
      {3, 32, 64, 16, 16, 1, 1, 2, 2, 0, 0},
      {2, 16, 20, 15, 15, 1, 1, 2, 2, 0, 0},
      {2, 16, 24, 34, 16, 1, 1, 2, 2, 0, 0},
      {2, 17, 24, 33, 15, 1, 1, 2, 2, 0, 0},
      {1, 32, 64, 16, 16, 1, 1, 2, 2, 0, 0},
      {2, 20, 16, 24, 23, 1, 1, 2, 2, 0, 0},
      {2, 16, 33, 31, 32, 1, 1, 2, 2, 0, 0},
      {2, 16, 20, 32, 31, 1, 1, 2, 2, 0, 0},
      // stride 1 on 16 columns or fewer with under 16 input channels: forward and weight gradient
      // on the channel lanes, the input gradient on the row-vector kernels (LeNet-5's 6 -> 16 5x5,
      // one input channel with an unequal kernel and padding, 15 channels)
      {3, 6, 16, 14, 14, 5, 5, 1, 1, 0, 0},
      {2, 1, 20, 9, 12, 3, 5, 1, 1, 1, 2},
      {9, 15, 33, 12, 16, 5, 5, 1, 1, 2, 2},
      // 5x5 at stride 2 through the polyphase form on Winograd F(4x4, 3x3): the form cut to the
      // input's pixels (padding 2 -> 1, 4 -> 2, 3 -> 1 beside 1 -> 0), odd planes, 4C = 20
      // channels (a masked vector), 17 images, 16 tiles or a few more; where the cut form's padding
      // would differ by side (17 x 17, padding 1) the whole form
      {4, 8, 32, 16, 16, 5, 5, 2, 2, 2, 2},
      {2, 5, 20, 21, 19, 5, 5, 2, 2, 2, 2},
      {17, 4, 16, 16, 16, 5, 5, 2, 2, 4, 4},
      {3, 12, 16, 18, 22, 5, 5, 2, 2, 1, 3},
      {3, 16, 17, 20, 21, 5, 5, 2, 2, 0, 0},
      {4, 16, 16, 17, 17, 5, 5, 2, 2, 1, 1},
  };
  for (const Case& k : cases) {
    const Tensor x = random_tensor({k.n, k.c, k.h, k.w}, rng);
    const Tensor wt = random_tensor({k.o, k.c, k.kh, k.kw}, rng), b = random_tensor({k.o}, rng);
    const auto g = conv2d_geometry(x.shape(), wt.shape(), k.sh, k.sw, k.ph, k.pw, "test");
    const std::string where = "case c" + std::to_string(k.c) + " o" + std::to_string(k.o) + " k" +
                              std::to_string(k.kh) + "x" + std::to_string(k.kw) + " s" +
                              std::to_string(k.sh) + " on " + std::to_string(k.h) + "x" +
                              std::to_string(k.w);
    const Tensor gy = random_tensor(g.output_shape(), rng);
    Tensor ref(g.output_shape()), gx_ref(x.shape()), gw_ref(wt.shape(), 0.5f), gb_ref({k.o}, 0.25f);
    reference::conv2d_forward(g, x.data(), wt.data(), b.data(), ref.data());
    reference::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx_ref.data(), gw_ref.data(),
                               gb_ref.data());
    std::vector<Tensor> runs;
    for (int threads : {1, 3}) {
      ThreadPool pool(threads);
      PoolScope scope(&pool);
      Tensor y(g.output_shape(), 1e30f), gx(x.shape(), 1e30f), gw(wt.shape(), 0.5f),
          gb({k.o}, 0.25f);
      if (threads == 1) poison_scratch();
      kernels::conv2d_forward(g, x.data(), wt.data(), b.data(), y.data());
      if (threads == 1) poison_scratch();
      kernels::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx.data(), gw.data(), gb.data());
      const double tol = 1e-4 * std::sqrt(static_cast<double>(k.c * k.kh * k.kw));
      ASSERT_TRUE(allclose(y, ref, 1e-4, tol)) << where << " max diff " << max_abs_diff(y, ref);
      ASSERT_TRUE(allclose(gx, gx_ref, 1e-4, tol)) << where << " " << max_abs_diff(gx, gx_ref);
      ASSERT_TRUE(allclose(gw, gw_ref, 1e-4, 1e-3 * k.n * k.h))
          << where << " " << max_abs_diff(gw, gw_ref);
      ASSERT_TRUE(allclose(gb, gb_ref, 1e-4, 1e-3 * k.n)) << where;
      for (const Tensor* t : {&y, &gx, &gw, &gb}) runs.push_back(*t);
      if (threads != 1) continue;
      // Each gradient alone, as when the other is not wanted, has the same bits as both together
      // (Winograd F(4x4, 3x3) with padding 1 shares the output gradient's transposed copy).
      Tensor gx_alone(x.shape(), 1e30f), gw_alone(wt.shape(), 0.5f);
      poison_scratch();
      kernels::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx_alone.data(), nullptr,
                               nullptr);
      poison_scratch();
      kernels::conv2d_backward(g, x.data(), wt.data(), gy.data(), nullptr, gw_alone.data(),
                               nullptr);
      ASSERT_TRUE(test::same_bits(gx_alone, gx)) << where << ": the input gradient alone differs";
      ASSERT_TRUE(test::same_bits(gw_alone, gw)) << where << ": the weight gradient alone differs";
      Tensor gb_alone({k.o}, 0.25f);
      kernels::conv2d_backward(g, x.data(), wt.data(), gy.data(), nullptr, nullptr,
                               gb_alone.data());
      ASSERT_TRUE(test::same_bits(gb_alone, gb)) << where << ": the bias gradient alone differs";
    }
    for (size_t i = 0; i < 4; ++i)
      ASSERT_EQ(std::memcmp(runs[i].data(), runs[i + 4].data(),
                            static_cast<size_t>(runs[i].numel()) * sizeof(float)),
                0)
          << where << ": output " << i << " differs between 1 and 3 threads";
  }
}

// The channel-lane weight gradient equals the sums it promises, chunked or not: per group of
// images (fixed by the batch size and plane), one chain of fused multiply-adds over the group's
// pixels in (image, row, column) order; the groups' sums added in order; then added into gw. 9
// images in groups of 2, whose 1.6 MB of output gradients run in chunks of 2 rows, and a last
// group of 1 in one pass; 80 output channels, a pair of 32-channel blocks and a single one.
TEST(Conv2dFast, LaneWeightGradientEqualsInOrderSums) {
  std::mt19937 rng(77);
  // ... and 20 images of 4 x 4 outputs, in groups of 16 and 4 (256 output pixels or more a
  // group; groups of 8 images would differ in the last bits).
  for (const auto& [N, H, W] : {std::array<int64_t, 3>{9, 100, 84}, {20, 8, 8}}) {
    const int64_t C = 3, O = 80;
    const Tensor x = random_tensor({N, C, H, W}, rng), wt = random_tensor({O, C, 3, 3}, rng);
    const auto g = conv2d_geometry(x.shape(), wt.shape(), 2, 2, 1, 1, "test");
    // The channel-lane kernels are AVX-512 only; below it the layer runs kernels the shape test
    // holds to the reference.
    const bool avx512 = kernels::active_isa() == kernels::Isa::avx512;
    ASSERT_EQ(kernels::lanes_conv_applies(g), avx512);
    if (!avx512) return;
    const Tensor gy = random_tensor(g.output_shape(), rng);
    Tensor gw(wt.shape(), 0.5f);
    kernels::conv2d_backward(g, x.data(), wt.data(), gy.data(), nullptr, gw.data(), nullptr);
    // conv2d_backward_lanes's groups: 8 at most, of 256 output pixels or more.
    const int64_t pixels = g.OH * g.OW, group = std::max((N + 7) / 8, (256 + pixels - 1) / pixels);
    for (int64_t o = 0; o < O; ++o)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j) {
            float total = 0.0f;
            for (int64_t n0 = 0; n0 < N; n0 += group) {
              float part = 0.0f;
              for (int64_t n = n0; n < std::min(N, n0 + group); ++n)
                for (int64_t y = 0; y < g.OH; ++y)
                  for (int64_t q = 0; q < g.OW; ++q) {
                    const int64_t iy = 2 * y - 1 + i, ix = 2 * q - 1 + j;
                    const float v = iy >= 0 && iy < H && ix >= 0 && ix < W
                                        ? x.data()[((n * C + c) * H + iy) * W + ix]
                                        : 0.0f;
                    part = std::fma(v, gy.data()[((n * O + o) * g.OH + y) * g.OW + q], part);
                  }
              total += part;
            }
            const float want = 0.5f + total, got = gw.data()[((o * C + c) * 3 + i) * 3 + j];
            ASSERT_EQ(std::memcmp(&got, &want, sizeof(float)), 0)
                << N << " images: o " << o << " c " << c << " tap " << i << "," << j << ": " << got
                << " vs " << want;
          }
  }
}

// Winograd F(2x2, 5x5) and F(2x2, 7x7) are chosen by the shape alone: 5x5 at stride 1, padding at
// most 4, 32 channels in and out; 7x7 at stride 1, padding at most 6, 16 channels in and out, with
// 32 both ways or 100 output pixels; planes of 8 x 8 or more, 64 tiles in the batch, on AVX-512
// (the cases above with those shapes run through it). 3x3 layers go to F(4x4, 3x3) below.
TEST(Conv2dFast, WinogradF2x2ChosenByShapeAlone) {
  const bool avx512 = kernels::active_isa() == kernels::Isa::avx512;
  auto applies = [](int64_t c, int64_t o, int64_t h, int64_t k, int64_t s, int64_t p,
                    int64_t n = 4) {
    return kernels::winograd_f2x2_conv_applies(
        conv2d_geometry({n, c, h, h}, {o, c, k, k}, s, s, p, p, "test"));
  };
  EXPECT_EQ(applies(32, 32, 32, 5, 1, 2), avx512);
  EXPECT_EQ(applies(64, 64, 8, 5, 1, 4), avx512);
  EXPECT_EQ(applies(40, 33, 12, 5, 1, 0), avx512);
  EXPECT_FALSE(applies(32, 32, 32, 3, 1, 1));          // 3 x 3
  EXPECT_FALSE(applies(32, 32, 32, 5, 1, 5));          // padding 5
  EXPECT_FALSE(applies(32, 32, 32, 5, 2, 2));          // stride 2
  EXPECT_FALSE(applies(16, 32, 32, 5, 1, 2));          // few input channels
  EXPECT_FALSE(applies(32, 16, 32, 5, 1, 2));          // few output channels
  EXPECT_FALSE(applies(64, 64, 7, 5, 1, 1));           // a 5 x 5 plane
  EXPECT_FALSE(applies(64, 64, 8, 5, 1, 2, 1));        // 16 tiles in the batch
  EXPECT_EQ(applies(64, 64, 16, 5, 1, 2, 1), avx512);  // 64
  EXPECT_EQ(applies(16, 32, 16, 7, 1, 3), avx512);     // 7 x 7: 16 channels in
  EXPECT_EQ(applies(32, 16, 16, 7, 1, 3), avx512);     // and out
  EXPECT_EQ(applies(16, 16, 16, 7, 1, 0), avx512);     // 100 output pixels
  EXPECT_FALSE(applies(16, 16, 15, 7, 1, 0));          // 81
  EXPECT_EQ(applies(32, 32, 8, 7, 1, 3), avx512);      // 64, with 32 channels both ways
  EXPECT_EQ(applies(64, 64, 8, 7, 1, 6), avx512);      // padding 6
  EXPECT_FALSE(applies(64, 64, 8, 7, 1, 7));           // padding 7
  EXPECT_FALSE(applies(8, 32, 32, 7, 1, 3));           // few input channels
  EXPECT_FALSE(applies(32, 8, 32, 7, 1, 3));           // few output channels
  EXPECT_FALSE(applies(32, 32, 32, 7, 2, 3));          // stride 2
  EXPECT_FALSE(applies(3, 64, 64, 7, 1, 3));           // a stem
  EXPECT_FALSE(applies(32, 32, 8, 7, 1, 3, 1));        // 16 tiles in the batch
}

// 5x5 at stride 2 goes through the polyphase form to F(4x4, 3x3) by its shape alone: 4 channels
// in (16 in the form) and 16 out, output planes of 8 x 8 or more, 16 tiles, padding at most 4;
// on AVX-512. The cases above with those shapes run through it.
TEST(Conv2dFast, PolyphaseWinogradChosenByShapeAlone) {
  const bool avx512 = kernels::active_isa() == kernels::Isa::avx512;
  auto applies = [](int64_t c, int64_t o, int64_t h, int64_t w, int64_t k, int64_t s, int64_t p,
                    int64_t q, int64_t n = 4) {
    return kernels::polyphase_winograd_applies(
        conv2d_geometry({n, c, h, w}, {o, c, k, k}, s, s, p, q, "test"));
  };
  EXPECT_EQ(applies(32, 64, 16, 16, 5, 2, 2, 2), avx512);  // strided5x5's second layer
  EXPECT_EQ(applies(8, 32, 16, 16, 5, 2, 2, 2, 4), avx512);
  EXPECT_EQ(applies(5, 20, 21, 19, 5, 2, 2, 2, 2), avx512);
  EXPECT_EQ(applies(4, 16, 16, 16, 5, 2, 4, 4, 17), avx512);
  EXPECT_EQ(applies(12, 16, 18, 22, 5, 2, 1, 3, 3), avx512);
  EXPECT_EQ(applies(16, 17, 20, 21, 5, 2, 0, 0, 3), avx512);
  EXPECT_EQ(applies(16, 16, 17, 17, 5, 2, 1, 1, 4), avx512);
  EXPECT_FALSE(applies(3, 32, 32, 32, 5, 2, 2, 2));     // 12 channels in the form
  EXPECT_FALSE(applies(32, 8, 32, 32, 5, 2, 2, 2));     // 8 output channels
  EXPECT_FALSE(applies(64, 64, 8, 8, 5, 2, 2, 2));      // 4 x 4 out
  EXPECT_FALSE(applies(8, 32, 16, 16, 5, 2, 2, 2, 3));  // 12 tiles in the batch
  EXPECT_FALSE(applies(32, 64, 16, 16, 5, 2, 5, 5));    // padding 5 (2 in the cut form)
  EXPECT_FALSE(applies(32, 64, 17, 17, 5, 2, 7, 7));    // 7 (the whole form, unpadded)
  EXPECT_FALSE(applies(32, 64, 16, 16, 3, 2, 1, 1));    // 3 x 3
  EXPECT_FALSE(applies(32, 64, 16, 16, 7, 2, 3, 3));    // 7 x 7
  EXPECT_FALSE(applies(32, 64, 24, 24, 5, 3, 2, 2));    // stride 3
}

// F(4x4, 3x3) with channels in the lanes takes every 3x3 stride-1 layer of 16 channels or more in
// and out, padding at most 2, output planes of 4 x 4 or more, 16 tiles or more in the batch; on
// AVX-512.
TEST(Conv2dFast, Winograd3x3ChosenByShapeAlone) {
  const bool avx512 = kernels::active_isa() == kernels::Isa::avx512;
  auto applies = [](int64_t c, int64_t o, int64_t h, int64_t k, int64_t s, int64_t p,
                    int64_t n = 4) {
    return kernels::winograd3x3_conv_applies(
        conv2d_geometry({n, c, h, h}, {o, c, k, k}, s, s, p, p, "test"));
  };
  EXPECT_EQ(applies(64, 128, 7, 3, 1, 1), avx512);
  EXPECT_EQ(applies(32, 32, 8, 3, 1, 1), avx512);
  EXPECT_EQ(applies(32, 32, 4, 3, 1, 2), avx512);      // 6 x 6 out
  EXPECT_EQ(applies(16, 16, 32, 3, 1, 1), avx512);     // 16 channels
  EXPECT_EQ(applies(16, 24, 64, 3, 1, 0), avx512);     // 62 x 62 out
  EXPECT_EQ(applies(32, 32, 16, 3, 1, 1, 1), avx512);  // one image
  EXPECT_FALSE(applies(15, 64, 8, 3, 1, 1));           // few input channels
  EXPECT_FALSE(applies(64, 15, 8, 3, 1, 1));           // few output channels
  EXPECT_FALSE(applies(64, 64, 3, 3, 1, 1));           // 3 x 3 out
  EXPECT_FALSE(applies(64, 64, 16, 3, 2, 1));          // stride 2
  EXPECT_FALSE(applies(64, 64, 8, 5, 1, 2));           // 5 x 5
  EXPECT_FALSE(applies(64, 64, 8, 3, 1, 3));           // padding 3
  EXPECT_FALSE(applies(64, 128, 7, 3, 1, 1, 3));       // 12 tiles in the batch
  EXPECT_FALSE(applies(32, 32, 8, 3, 1, 1, 1));        // one image of 4 tiles
}

// 1x1 layers run as matrix products on the planes (conv2d_pointwise.cpp) at stride 1 and 2,
// padding 0, 16 channels and more in and out, where the output plane fills its vectors.
TEST(Conv2dFast, PointwiseChosenByShapeAlone) {
  const bool avx512 = kernels::active_isa() == kernels::Isa::avx512;
  auto applies = [](int64_t c, int64_t o, int64_t h, int64_t w, int64_t s, int64_t p = 0,
                    int64_t sw = 0) {
    return kernels::pointwise_conv_applies(
        conv2d_geometry({4, c, h, w}, {o, c, 1, 1}, s, sw ? sw : s, p, p, "test"));
  };
  EXPECT_EQ(applies(32, 64, 8, 8, 1), avx512);
  EXPECT_EQ(applies(32, 64, 16, 16, 2), avx512);   // ResNet-20's shortcuts: 8 x 8 out
  EXPECT_EQ(applies(16, 32, 32, 32, 2), avx512);   // 16 x 16 out
  EXPECT_EQ(applies(16, 16, 34, 15, 2), avx512);   // 17 x 8 out
  EXPECT_FALSE(applies(32, 64, 14, 14, 2));        // 7 x 7 out
  EXPECT_FALSE(applies(32, 64, 16, 16, 3));        // stride 3
  EXPECT_FALSE(applies(32, 64, 16, 16, 2, 0, 1));  // strides 2 and 1
  EXPECT_FALSE(applies(32, 64, 16, 16, 2, 1));     // padding
  EXPECT_FALSE(applies(15, 64, 16, 16, 2));        // few input channels
}

// The Winograd kernels keep their transformed weights from call to call while the weights are
// unchanged (derived_weights.h). A change anywhere in place, as a numpy view makes one, must be
// seen: after it, the output equals that of the same weights in a fresh buffer (made anew) bit
// for bit, and the reference; unchanged weights give the first call's bits again. On the forward
// alone, the chain of two layers, F(2x2, 5x5 / 7x7), the polyphase 5x5/2, and past the cache's
// capacity.
TEST(Conv2dFast, KeptWeightFormsFollowEveryChangeOfTheWeights) {
  if (kernels::active_isa() != kernels::Isa::avx512) GTEST_SKIP() << "Winograd is AVX-512";
  std::mt19937 rng(26);
  const auto forward = [](const Conv2dGeometry& g, const Tensor& x, const float* w, Tensor& y) {
    kernels::conv2d_forward(g, x.data(), w, nullptr, y.data());
  };
  struct Case {
    Shape in, w;
    int64_t s, p;
  };
  for (const Case& c :
       {Case{{2, 16, 12, 12}, {24, 16, 3, 3}, 1, 1}, Case{{4, 32, 8, 8}, {32, 32, 5, 5}, 1, 2},
        Case{{1, 16, 16, 16}, {16, 16, 7, 7}, 1, 3}, Case{{4, 8, 16, 16}, {32, 8, 5, 5}, 2, 2}}) {
    const auto g = conv2d_geometry(c.in, c.w, c.s, c.s, c.p, c.p, "test");
    ASSERT_TRUE(kernels::winograd3x3_conv_applies(g) || kernels::winograd_f2x2_conv_applies(g) ||
                kernels::polyphase_winograd_applies(g));
    const Tensor x = random_tensor(c.in, rng);
    Tensor w = random_tensor(c.w, rng);
    Tensor first(g.output_shape()), again(g.output_shape()), changed(g.output_shape()),
        fresh(g.output_shape()), want(g.output_shape());
    forward(g, x, w.data(), first);
    forward(g, x, w.data(), again);
    EXPECT_EQ(std::memcmp(first.data(), again.data(), first.numel() * sizeof(float)), 0);
    for (const int64_t at : {w.numel() - 1, int64_t{0}, w.numel() / 2}) {
      w.data()[at] += 0.5f;
      forward(g, x, w.data(), changed);
      const Tensor copy = w;  // its own storage
      forward(g, x, copy.data(), fresh);
      EXPECT_EQ(std::memcmp(changed.data(), fresh.data(), fresh.numel() * sizeof(float)), 0)
          << "weight " << at << " changed, shape " << to_string(c.w);
      reference::conv2d_forward<float>(g, x.data(), w.data(), nullptr, want.data());
      // The shape classes' tolerance (ShapeClassesMatchReferenceAndThreadCounts).
      const double tol = 1e-4 * std::sqrt(static_cast<double>(g.C * g.KH * g.KW));
      EXPECT_TRUE(allclose(changed, want, 1e-4, tol))
          << "weight " << at << " max diff " << max_abs_diff(changed, want);
      EXPECT_FALSE(allclose(changed, first, 1e-4, tol)) << "the change must show";
    }
  }
  // Two Winograd layers chained (both forms kept), the second's weights changed in place.
  const auto a = conv2d_geometry({2, 16, 8, 8}, {16, 16, 3, 3}, 1, 1, 1, 1, "test");
  const auto b = conv2d_geometry({2, 16, 8, 8}, {32, 16, 3, 3}, 1, 1, 1, 1, "test");
  ASSERT_TRUE(kernels::conv2d_chain_applies(a, {}, b, {}));
  const Tensor x = random_tensor(a.input_shape(), rng), wa = random_tensor(a.weight_shape(), rng);
  Tensor wb = random_tensor(b.weight_shape(), rng);
  Tensor mid(a.output_shape()), chained(b.output_shape()), apart(b.output_shape());
  kernels::conv2d_forward_chain(a, {}, x.data(), wa.data(), nullptr, b, {}, wb.data(), nullptr,
                                chained.data());
  wb.data()[7] -= 1.0f;
  kernels::conv2d_forward_chain(a, {}, x.data(), wa.data(), nullptr, b, {}, wb.data(), nullptr,
                                chained.data());
  const Tensor wa2 = wa, wb2 = wb;
  forward(a, x, wa2.data(), mid);
  forward(b, mid, wb2.data(), apart);
  EXPECT_EQ(std::memcmp(chained.data(), apart.data(), apart.numel() * sizeof(float)), 0);
  // More weights than the cache keeps, twice round in the same order (each call a miss after the
  // first 64), then one of them changed: the same bits as each weight's first call.
  const auto g = conv2d_geometry({1, 16, 16, 16}, {16, 16, 3, 3}, 1, 1, 1, 1, "test");
  const Tensor xs = random_tensor(g.input_shape(), rng);
  std::vector<Tensor> ws, ys;
  for (int i = 0; i < 70; ++i) {
    ws.push_back(random_tensor(g.weight_shape(), rng));
    ys.emplace_back(g.output_shape());
    forward(g, xs, ws.back().data(), ys.back());
  }
  Tensor y(g.output_shape());
  for (int i = 0; i < 70; ++i) {
    forward(g, xs, ws[static_cast<size_t>(i)].data(), y);
    EXPECT_EQ(std::memcmp(y.data(), ys[static_cast<size_t>(i)].data(), y.numel() * sizeof(float)),
              0)
        << "weights " << i;
  }
  ws[69].data()[100] *= -1.0f;
  forward(g, xs, ws[69].data(), y);
  const Tensor copy = ws[69];
  forward(g, xs, copy.data(), ys[0]);
  EXPECT_EQ(std::memcmp(y.data(), ys[0].data(), y.numel() * sizeof(float)), 0);
}

TEST(Conv2dLayer, PrintsLikePyTorch) {
  nn::Conv2d a(nn::Conv2dOptions(1, 3, 3));
  EXPECT_EQ(a.repr(), "Conv2d(1, 3, kernel_size=(3, 3), stride=(1, 1))");
  nn::Conv2d b(nn::Conv2dOptions(3, 8, 3).stride(1).padding(1));
  EXPECT_EQ(b.repr(), "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
  nn::Conv2d c(nn::Conv2dOptions(2, 4, {2, 5}).stride({2, 1}).bias(false));
  EXPECT_EQ(c.repr(), "Conv2d(2, 4, kernel_size=(2, 5), stride=(2, 1), bias=False)");
  EXPECT_EQ(c.parameters().size(), 1u);
  EXPECT_EQ(b.output_shape({1, 3, 32, 32}), (Shape{1, 8, 32, 32}));
}

// Each bad input raises an error that names the layer and the expected and actual shapes.
TEST(Conv2dLayer, BadInputNamesLayerAndShapes) {
  nn::Conv2d conv(nn::Conv2dOptions(3, 8, 3));
  auto message_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string wrong_channels = message_of([&] { conv(Tensor({1, 2, 5, 5})); });
  EXPECT_NE(wrong_channels.find("Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))"),
            std::string::npos)
      << wrong_channels;
  EXPECT_NE(wrong_channels.find("3 channels"), std::string::npos) << wrong_channels;
  EXPECT_NE(wrong_channels.find("[1, 2, 5, 5]"), std::string::npos) << wrong_channels;

  const std::string too_small = message_of([&] { conv(Tensor({1, 3, 2, 5})); });
  EXPECT_NE(too_small.find("larger than the padded input"), std::string::npos) << too_small;
  EXPECT_NE(too_small.find("(3, 3)"), std::string::npos) << too_small;

  const std::string not_4d = message_of([&] { conv(Tensor({3, 5, 5})); });
  EXPECT_NE(not_4d.find("4-D"), std::string::npos) << not_4d;

  EXPECT_NE(message_of([&] {
              nn::Conv2d(nn::Conv2dOptions(0, 8, 3));
            }).find("in_channels must be positive"),
            std::string::npos);
  EXPECT_NE(message_of([&] {
              nn::Conv2d(nn::Conv2dOptions(1, 8, {3, -1}));
            }).find("kernel width must be positive"),
            std::string::npos);
  EXPECT_NE(message_of([&] { nn::Conv2d(nn::Conv2dOptions(1, 8, 3).stride(0)); }).find("stride"),
            std::string::npos);
  EXPECT_NE(message_of([&] { nn::Conv2d(nn::Conv2dOptions(1, 8, 3).padding(-1)); }).find("padding"),
            std::string::npos);

  const std::string bad_assign = message_of([&] {
    conv.weight()[0][1] = tensor({{1, 2}, {3, 4}});
  });
  EXPECT_NE(bad_assign.find("Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)).weight[0][1]"),
            std::string::npos)
      << bad_assign;
  EXPECT_NE(bad_assign.find("[2, 2]"), std::string::npos) << bad_assign;
  EXPECT_NE(bad_assign.find("expected shape [3, 3]"), std::string::npos) << bad_assign;

  // Replacing a whole parameter with a wrong shape is caught at the next use, not read past its
  // end.
  conv.bias() = tensor({1, 2});
  const std::string bad_bias = message_of([&] { conv(Tensor({1, 3, 5, 5})); });
  EXPECT_NE(bad_bias.find("bias has shape [2]; expected [8]"), std::string::npos) << bad_bias;
  conv.weight() = Tensor({8, 3, 2, 2});
  const std::string bad_weight = message_of([&] { conv(Tensor({1, 3, 5, 5})); });
  EXPECT_NE(bad_weight.find("weight has shape [8, 3, 2, 2]; expected [8, 3, 3, 3]"),
            std::string::npos)
      << bad_weight;
}

TEST(FunctionalConv2d, ChecksBiasShape) {
  EXPECT_THROW(functional::conv2d(Tensor({1, 1, 3, 3}), Tensor({2, 1, 3, 3}), Tensor({3})),
               ShapeError);
  const Tensor y = functional::conv2d(Tensor({1, 1, 3, 3}, 1.0f), Tensor({2, 1, 3, 3}, 1.0f),
                                      tensor({1, -1}), 1, 1);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 3, 3}));
  EXPECT_EQ(y(0, 0, 1, 1), 10.0f);
  EXPECT_EQ(y(0, 1, 0, 0), 3.0f);
}
