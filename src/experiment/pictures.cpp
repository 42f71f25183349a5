#include "convlab/experiment/pictures.h"

#include "convlab/error.h"

namespace convlab::experiment {

namespace {

report::Panel image_panel(const data::Dataset& ds, int64_t index, std::string title) {
  if (index < 0 || index >= ds.size())
    throw ValueError("image " + std::to_string(index) + " is out of range: " + ds.name +
                     " has images 0.." + std::to_string(ds.size() - 1));
  report::Panel p{std::move(title), ds.channels, ds.height, ds.width, {}};
  const uint8_t* src = ds.image(index);
  for (int64_t i = 0; i < ds.image_bytes(); ++i)
    p.values.push_back(static_cast<float>(src[i]) / 255.0f);
  return p;
}

}  // namespace

std::vector<report::Panel> sample_panels(const data::Dataset& ds,
                                         const std::vector<int64_t>& indices) {
  std::vector<report::Panel> panels;
  for (int64_t i : indices)
    panels.push_back(image_panel(ds, i, ds.classes.at(ds.labels.at(static_cast<size_t>(i)))));
  return panels;
}

std::vector<report::Panel> summed_panels(const data::Dataset& ds,
                                         const std::vector<int64_t>& indices) {
  std::vector<report::Panel> panels;
  for (int64_t i : indices) {
    const std::string name = ds.classes.at(ds.labels.at(static_cast<size_t>(i)));
    report::Panel original = image_panel(ds, i, name + " - original");
    report::Panel sum{name + " - summed", 1, ds.height, ds.width,
                      std::vector<float>(ds.height * ds.width, 0.0f)};
    for (int64_t c = 0; c < ds.channels; ++c)
      for (int64_t k = 0; k < ds.height * ds.width; ++k)
        sum.values[k] += original.values[c * ds.height * ds.width + k];
    panels.push_back(std::move(original));
    panels.push_back(std::move(sum));
  }
  return panels;
}

std::vector<report::Panel> channel_panels(const Tensor& a) {
  if (a.dim() != 4 || a.size(0) != 1)
    throw ShapeError("channel_panels: expected an activation of shape [1, C, H, W]; got " +
                     to_string(a.shape()));
  const int64_t h = a.size(2), w = a.size(3);
  std::vector<report::Panel> panels;
  for (int64_t c = 0; c < a.size(1); ++c)
    panels.push_back({"channel " + std::to_string(c), 1, h, w,
                      std::vector<float>(a.data() + c * h * w, a.data() + (c + 1) * h * w)});
  return panels;
}

std::vector<report::Panel> kernel_panels(const nn::Conv2d& conv) {
  const Tensor& w = conv.weight();
  const int64_t kh = w.size(2), kw = w.size(3);
  std::vector<report::Panel> panels;
  for (int64_t o = 0; o < w.size(0); ++o)
    for (int64_t i = 0; i < w.size(1); ++i) {
      const float* k = w.data() + (o * w.size(1) + i) * kh * kw;
      panels.push_back({"out " + std::to_string(o) + " / in " + std::to_string(i), 1, kh, kw,
                        std::vector<float>(k, k + kh * kw)});
    }
  return panels;
}

}  // namespace convlab::experiment
