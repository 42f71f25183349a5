#include "convlab/report/panels.h"

#include <algorithm>
#include <cmath>

#include "cells.h"
#include "convlab/error.h"
#include "convlab/io/file.h"
#include "plplot_session.h"

namespace convlab::report {

void write_panel_grid_png(const std::string& path, const std::vector<Panel>& panels, int columns,
                          const std::string& title, int panel_px) {
  if (panels.empty()) throw ValueError("write_panel_grid_png: no panels for " + path);
  if (columns <= 0) throw ValueError("write_panel_grid_png: columns must be positive");
  for (const auto& p : panels)
    if ((p.channels != 1 && p.channels != 3) || p.height <= 0 || p.width <= 0 ||
        static_cast<int64_t>(p.values.size()) != p.channels * p.height * p.width)
      throw ValueError("write_panel_grid_png: panel '" + p.title + "' is malformed");
  const int n = static_cast<int>(panels.size());
  const int cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  const int title_px = title.empty() ? 0 : 40;
  write_file_atomically(path, [&](const std::string& tmp) {
    PlplotPage page(tmp, cols * panel_px, rows * panel_px + title_px);
    PLFLT pos[2] = {0, 1}, level[2] = {0, 1};
    plscmap1n(256);
    plscmap1l(1, 2, pos, level, level, level, nullptr);
    const double top = 1.0 - static_cast<double>(title_px) / (rows * panel_px + title_px);
    pladv(0);
    if (!title.empty()) {
      plvpor(0, 1, top, 1);
      plwind(0, 1, 0, 1);
      plcol0(1);
      plptex(0.5, 0.4, 1, 0, 0.5, title.c_str());
    }
    plschr(0, 0.7);
    for (int i = 0; i < n; ++i) {
      const Panel& p = panels[static_cast<size_t>(i)];
      const int r = i / cols, c = i % cols;
      const double cell_w = 1.0 / cols, cell_h = top / rows;
      // The panel keeps its aspect ratio inside its cell, leaving room above for the title.
      const double x0 = c * cell_w + 0.08 * cell_w, x1 = (c + 1) * cell_w - 0.08 * cell_w;
      const double y1 = top - r * cell_h - 0.18 * cell_h,
                   y0 = top - (r + 1) * cell_h + 0.04 * cell_h;
      plvpor(x0, x1, y0, y1);
      plwind(0, static_cast<double>(p.width), -static_cast<double>(p.height), 0);
      if (p.channels == 3) {
        draw_rgb_cells(p.values.data(), p.height, p.width, 0.0);
      } else {
        const auto [lo, hi] = std::minmax_element(p.values.begin(), p.values.end());
        const double l = *lo, u = *hi == *lo ? *lo + 1.0 : *hi;
        draw_value_cells(p.values.data(), p.height, p.width, l, u, 0.0);
      }
      plcol0(1);
      plbox("bc", 0, 0, "bc", 0, 0);
      plmtex("t", 0.6, 0.5, 0.5, p.title.c_str());
    }
  });
}

}  // namespace convlab::report
