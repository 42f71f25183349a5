#include "convlab/report/figure.h"

#include <plplot/plplot.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cells.h"
#include "convlab/error.h"
#include "convlab/io/file.h"
#include "plplot_session.h"

namespace convlab::report {

namespace {

void gray_colormap() {
  PLFLT pos[2] = {0, 1}, level[2] = {0, 1};
  plscmap1n(256);
  plscmap1l(1, 2, pos, level, level, level, nullptr);
}

}  // namespace

void write_heatmap_png(const std::string& path, const float* values, int64_t h, int64_t w,
                       const std::string& title) {
  if (h <= 0 || w <= 0) throw ValueError("write_heatmap_png: empty image for " + path);
  double lo = values[0], hi = values[0];
  for (int64_t i = 0; i < h * w; ++i) {
    lo = std::min<double>(lo, values[i]);
    hi = std::max<double>(hi, values[i]);
  }
  if (lo == hi) {  // a constant map: centre it in a unit range so it shows as mid-gray
    lo -= 0.5;
    hi += 0.5;
  }
  write_file_atomically(path, [&](const std::string& tmp) {
    using L = HeatmapLayout;
    PlplotPage page(tmp, L::kWidthPx, L::kHeightPx);
    gray_colormap();
    pladv(0);
    plvpor(L::kLeft, L::kRight, L::kBottom, L::kTop);
    // Row r is drawn at y = -r, so row 0 is at the top and PLplot's round ticks (0, -10, ...)
    // label as rows 0, 10, ...; cells are centred on the indices.
    const double x1 = static_cast<double>(w) - 0.5, y0 = 0.5 - static_cast<double>(h);
    plwind(-0.5, x1, y0, 0.5);
    draw_value_cells(values, h, w, lo, hi, 0.5);
    plcol0(1);  // ink for the axes
    plslabelfunc(
        [](PLINT axis, PLFLT value, char* label, PLINT length, PLPointer) {
          std::snprintf(label, static_cast<size_t>(length), "%g",
                        (axis == PL_Y_AXIS ? -value : value) + 0.0);
        },
        nullptr);
    plbox("bcnst", 0, 0, "bcnstvo", 0, 0);  // "o": labels from the function above
    plslabelfunc(nullptr, nullptr);
    plmtex("t", 1.5, 0.5, 0.5, title.c_str());

    PLINT label_opts[1] = {PL_COLORBAR_LABEL_BOTTOM};
    const char* labels[1] = {""};
    const char* axis_opts[1] = {"bcvtm"};
    PLFLT ticks[1] = {0};
    PLINT sub_ticks[1] = {0};
    PLINT n_values[1] = {2};
    PLFLT range[2] = {lo, hi};
    const PLFLT* value_rows[1] = {range};
    PLFLT bar_w = 0, bar_h = 0;
    plcolorbar(&bar_w, &bar_h, PL_COLORBAR_IMAGE, PL_POSITION_RIGHT, 0.03, 0, 0.05, 1.0, 0, 1, 1, 0,
               0, 0, 0, 1, label_opts, labels, 1, axis_opts, ticks, sub_ticks, n_values,
               value_rows);
    plend1();
  });
}

}  // namespace convlab::report
