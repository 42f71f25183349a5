// The kernels layers call: the fast float implementation of each op, with the same contract as
// its reference in convlab/ops/reference.h (parameter gradients added to, input gradient written,
// skipped when null). tests/kernels_test.cpp holds every one against its reference.
#pragma once

#include <cstdint>

#include "convlab/ops/conv2d.h"
#include "convlab/ops/pool2d.h"

namespace convlab::kernels {

// The instruction set the vectorised kernels use: the best the CPU has, unless lowered (tests run
// every path on one machine). Results are bit-identical across thread counts for a given Isa.
enum class Isa { generic, avx2, avx512 };
Isa active_isa();
Isa best_isa();           // what this CPU supports, lowered by the environment variable CONVLAB_ISA
void set_isa_limit(Isa);  // active_isa() becomes min(best_isa(), limit)
const char* isa_name(Isa);

void conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                    const float* bias, float* output);
void conv2d_backward(const Conv2dGeometry& g, const float* input, const float* weight,
                     const float* grad_output, float* grad_input, float* grad_weight,
                     float* grad_bias);

// A convolution with the layers after it fused in: Conv2d -> ReLU, or Conv2d -> ReLU ->
// MaxPool2d(2) (2x2 windows, stride 2, no padding), run image by image while each image's output
// is in cache. Results equal the separate layers' bit for bit. With pool, `output` is the pooled
// (N, O, OH/2, OW/2) tensor and `argmax` (same size) the window position 0..3 of each maximum.
struct ConvFusion {
  bool relu = false;
  bool pool = false;  // implies relu
  // Inference only (no backward): a BatchNorm in evaluation mode between the convolution and the
  // ReLU, z' = float((double(z) - mean[o]) * scale[o] + shift[o]) per output channel: the
  // BatchNorm kernel's own formula, so the bits equal the separate layers'. Null: none.
  const double* bn_mean = nullptr;
  const double* bn_scale = nullptr;
  const double* bn_shift = nullptr;
};
bool conv2d_fusion_applies(const Conv2dGeometry& g, ConvFusion f);
void conv2d_forward_fused(const Conv2dGeometry& g, ConvFusion f, const float* input,
                          const float* weight, const float* bias, float* output, uint8_t* argmax);
// grad_output is the gradient of the fused output; output and argmax what forward produced.
void conv2d_backward_fused(const Conv2dGeometry& g, ConvFusion f, const float* input,
                           const float* weight, const float* output, const uint8_t* argmax,
                           const float* grad_output, float* grad_input, float* grad_weight,
                           float* grad_bias);

// Inference: convolution a (with fa fused) and then b (with fb) image by image (or block of images
// by block), a's output passed to b in cache and never written out; `out` is b's fused output.
// The same bits as conv2d_forward_fused for a and then for b. Applies when neither pools, b's
// input is a's output and both run on Winograd F(4x4, 3x3), or both on the channel-lane kernels
// (strided, 1x1 and small-plane layers on AVX-512) with a task per image.
bool conv2d_chain_applies(const Conv2dGeometry& a, ConvFusion fa, const Conv2dGeometry& b,
                          ConvFusion fb);
void conv2d_forward_chain(const Conv2dGeometry& a, ConvFusion fa, const float* input,
                          const float* wa, const float* ba, const Conv2dGeometry& b, ConvFusion fb,
                          const float* wb, const float* bb, float* output);

void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                    const float* b, float* y);
void linear_backward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                     const float* gy, float* gx, float* gw, float* gb);

void relu_forward(int64_t n, const float* x, float* y);
// z = a + b, or relu(a + b) (the same bits as relu_forward on the sum): a residual block's join.
void add(int64_t n, const float* a, const float* b, bool relu, float* z);
void relu_backward(int64_t n, const float* x, const float* gy, float* gx);

void max_pool2d_forward(const Pool2dGeometry& g, const float* in, float* out);
void max_pool2d_backward(const Pool2dGeometry& g, const float* in, const float* gout, float* gin);

void leaky_relu_forward(int64_t n, float slope, const float* x, float* y);
void leaky_relu_backward(int64_t n, float slope, const float* x, const float* gy, float* gx);

void avg_pool2d_forward(const Pool2dGeometry& g, bool count_include_pad, const float* in,
                        float* out);
void avg_pool2d_backward(const Pool2dGeometry& g, bool count_include_pad, const float* gout,
                         float* gin);
void adaptive_avg_pool2d_forward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const float* in, float* out);
void adaptive_avg_pool2d_backward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const float* gout, float* gin);

// Batch normalisation over x (N, C, L), as reference::batch_norm_*: statistics in double, summed
// in a fixed lane order (batchnorm_fast.cpp). `relu`: a ReLU fused in, y = relu(batch_norm(x)); its
// backward masks gy where batch_norm(x) (recomputed from x, gamma and beta) is not positive.
void batch_norm_statistics(int64_t N, int64_t C, int64_t L, const float* x, double* mean,
                           double* var);
void batch_norm_normalize(int64_t N, int64_t C, int64_t L, const float* x, const double* mean,
                          const double* invstd, const float* gamma, const float* beta, bool relu,
                          float* y);
// Training's forward: batch_norm_statistics, invstd = 1 / sqrt(var + eps), batch_norm_normalize;
// the same bits, in fewer passes over memory.
void batch_norm_forward_batch(int64_t N, int64_t C, int64_t L, const float* x, double eps,
                              const float* gamma, const float* beta, bool relu, double* mean,
                              double* var, double* invstd, float* y);
void batch_norm_backward(int64_t N, int64_t C, int64_t L, const float* x, const double* mean,
                         const double* invstd, const float* gamma, const float* beta,
                         const float* gy, bool relu, bool batch_stats, float* gx, float* ggamma,
                         float* gbeta);

void channel_sum_forward(int64_t N, int64_t C, int64_t HW, const float* x, float* y);
void channel_sum_backward(int64_t N, int64_t C, int64_t HW, const float* gy, float* gx);

}  // namespace convlab::kernels
