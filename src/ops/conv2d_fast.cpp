#include "convlab/ops/conv2d.h"
#include "convlab/ops/kernels.h"

namespace convlab::kernels {

void conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                    const float* bias, float* output) {
  reference::conv2d_forward(g, input, weight, bias, output);
}

void conv2d_backward(const Conv2dGeometry& g, const float* input, const float* weight,
                     const float* grad_output, float* grad_input, float* grad_weight,
                     float* grad_bias) {
  reference::conv2d_backward(g, input, weight, grad_output, grad_input, grad_weight, grad_bias);
}

}  // namespace convlab::kernels
