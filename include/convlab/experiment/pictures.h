// What the notebooks show as pictures, as panels for report::write_panel_grid_png.
#pragma once

#include <vector>

#include "convlab/data/dataset.h"
#include "convlab/nn/conv2d.h"
#include "convlab/report/panels.h"

namespace convlab::experiment {

// Data set images (x / 255, colour if 3 channels) titled with their class names.
std::vector<report::Panel> sample_panels(const data::Dataset& ds,
                                         const std::vector<int64_t>& indices);
// For each image: the original, then its channel sum (x.sum(dim=0) of x / 255) in gray.
std::vector<report::Panel> summed_panels(const data::Dataset& ds,
                                         const std::vector<int64_t>& indices);
// Each channel of a (1, C, H, W) activation, titled "channel c".
std::vector<report::Panel> channel_panels(const Tensor& activation);
// Each kernel of a Conv2d, titled "out o / in i".
std::vector<report::Panel> kernel_panels(const nn::Conv2d& conv);

}  // namespace convlab::experiment
