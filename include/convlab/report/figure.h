// Pictures of tensors, drawn by PLplot (cairo PNG driver): what the notebooks show with
// plt.imshow(..., cmap=gray) and plt.colorbar(). Every file is written atomically (temp + rename).
#pragma once

#include <cstdint>
#include <string>

namespace convlab::report {

// Where write_heatmap_png puts the image: page size in pixels and the plot area as fractions of
// the page (x from the left, y from the bottom), so that tests can find each cell's pixels.
struct HeatmapLayout {
  static constexpr int kWidthPx = 520, kHeightPx = 440;
  static constexpr double kLeft = 0.10, kRight = 0.78, kBottom = 0.10, kTop = 0.90;
};

// A grayscale map of an h x w array (row 0 at the top, as imshow draws it), with axes, a title and
// a colour bar whose range is the data's min..max. Throws IoError if the file cannot be written.
void write_heatmap_png(const std::string& path, const float* values, int64_t h, int64_t w,
                       const std::string& title);

}  // namespace convlab::report
