// The kernels layers call: the fast implementation of each op, same contract as its reference
// in namespace convlab::reference. Tests hold every fast kernel against its reference.
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

void conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                    const float* bias, float* output);
void conv2d_backward(const Conv2dGeometry& g, const float* input, const float* weight,
                     const float* grad_output, float* grad_input, float* grad_weight,
                     float* grad_bias);

}  // namespace convlab::kernels
