// Pictures drawn cell by cell with plfill: one way for gray and colour pictures, each cell exactly
// where it belongs (tests/figure_test.cpp and tests/decompose_test.cpp read the pixels back). The
// pictures are small (at most a few thousand cells), so this costs nothing. Callers set the ink
// back (plcol0) before drawing axes. Cell (r, c) covers x in [c - shift, c + 1 - shift] and y in
// [-r - 1 + shift, -r + shift]: row 0 on top; shift 0.5 centres cells on integer coordinates for
// labelled axes.
#pragma once

#include <plplot/plplot.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace convlab::report {

inline void fill_cell(int64_t r, int64_t c, double shift) {
  const double x0 = static_cast<double>(c) - shift, y0 = -static_cast<double>(r) - 1 + shift;
  PLFLT xs[4] = {x0, x0, x0 + 1, x0 + 1}, ys[4] = {y0, y0 + 1, y0 + 1, y0};
  plfill(4, xs, ys);
}

// Values on cmap1 (set by the caller), lo..hi mapped to 0..1.
inline void draw_value_cells(const float* v, int64_t h, int64_t w, double lo, double hi,
                             double shift) {
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c) {
      plcol1(std::clamp((static_cast<double>(v[r * w + c]) - lo) / (hi - lo), 0.0, 1.0));
      fill_cell(r, c, shift);
    }
}

// Planar RGB values in [0, 1], through cmap0 slot 15.
inline void draw_rgb_cells(const float* v, int64_t h, int64_t w, double shift) {
  const int64_t plane = h * w;
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c) {
      auto level = [&](int64_t ch) {
        return static_cast<PLINT>(
            std::lround(std::clamp(v[ch * plane + r * w + c], 0.0f, 1.0f) * 255));
      };
      plscol0(15, level(0), level(1), level(2));
      plcol0(15);
      fill_cell(r, c, shift);
    }
}

}  // namespace convlab::report
