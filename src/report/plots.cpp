#include "convlab/report/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "plplot_session.h"

namespace convlab::report {

namespace {

// Distinct, print-friendly line colours (matplotlib's first four), in cmap0 slots 2..5.
void set_palette() {
  plscol0(2, 31, 119, 180);
  plscol0(3, 255, 127, 14);
  plscol0(4, 44, 160, 44);
  plscol0(5, 214, 39, 40);
  plscol0(6, 210, 210, 210);  // grid
}

}  // namespace

void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<Series>& series) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series) {
    if (s.x.size() != s.y.size() || s.x.empty())
      throw ValueError("write_line_plot: series '" + s.label + "' is empty or ragged");
    for (double v : s.x) x0 = std::min(x0, v), x1 = std::max(x1, v);
    for (double v : s.y) y0 = std::min(y0, v), y1 = std::max(y1, v);
  }
  if (series.empty()) throw ValueError("write_line_plot: no series for " + path);
  if (x0 == x1) x0 -= 0.5, x1 += 0.5;
  if (y0 == y1) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  write_file_atomically(path, [&](const std::string& tmp) {
    PlplotPage page(tmp, 720, 480);
    set_palette();
    pladv(0);
    plvpor(0.10, 0.95, 0.12, 0.90);
    plwind(x0, x1, y0 - pad, y1 + pad);
    plcol0(6);
    plbox("g", 0, 0, "g", 0, 0);  // light grid first, under the data
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab(x_label.c_str(), y_label.c_str(), title.c_str());
    std::vector<PLINT> opts, text_colors, line_colors, line_styles, symbol_colors, symbol_numbers;
    std::vector<PLFLT> line_widths, symbol_scales;
    std::vector<const char*> texts, symbols;
    for (size_t i = 0; i < series.size(); ++i) {
      const PLINT colour = static_cast<PLINT>(2 + i % 4);
      plcol0(colour);
      plwidth(2.0);
      plline(static_cast<PLINT>(series[i].x.size()), series[i].x.data(), series[i].y.data());
      plpoin(static_cast<PLINT>(series[i].x.size()), series[i].x.data(), series[i].y.data(),
             17);  // filled dots
      opts.push_back(PL_LEGEND_LINE);
      text_colors.push_back(1);
      line_colors.push_back(colour);
      line_styles.push_back(1);
      line_widths.push_back(2.0);
      symbol_colors.push_back(colour);
      symbol_scales.push_back(1.0);
      symbol_numbers.push_back(0);
      texts.push_back(series[i].label.c_str());
      symbols.push_back("");
    }
    plwidth(1.0);
    plcol0(1);
    PLFLT legend_w = 0, legend_h = 0;
    pllegend(&legend_w, &legend_h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, 0, 1, 1, 0,
             0, static_cast<PLINT>(series.size()), opts.data(), 1.0, 1.0, 2.0, 1.0,
             text_colors.data(), texts.data(), nullptr, nullptr, nullptr, nullptr,
             line_colors.data(), line_styles.data(), line_widths.data(), symbol_colors.data(),
             symbol_scales.data(), symbol_numbers.data(), symbols.data());
  });
}

void write_bar_chart(const std::string& path, const std::string& title, const std::string& y_label,
                     const std::vector<std::string>& labels, const std::vector<double>& values,
                     double y_max, const char* value_format) {
  if (labels.empty() || labels.size() != values.size())
    throw ValueError("write_bar_chart: labels and values differ in number for " + path);
  write_file_atomically(path, [&](const std::string& tmp) {
    PlplotPage page(tmp, 560, 480);
    set_palette();
    pladv(0);
    plvpor(0.12, 0.95, 0.12, 0.90);
    const double n = static_cast<double>(labels.size());
    plwind(-0.6, n - 0.4, 0, y_max);
    plcol0(1);
    plbox("bc", 0, 0, "bcnstv", 0, 0);
    pllab("", y_label.c_str(), title.c_str());
    for (size_t i = 0; i < labels.size(); ++i) {
      const double c = static_cast<double>(i), v = std::clamp(values[i], 0.0, y_max);
      PLFLT xs[4] = {c - 0.35, c - 0.35, c + 0.35, c + 0.35}, ys[4] = {0, v, v, 0};
      plcol0(static_cast<PLINT>(2 + i % 4));
      plfill(4, xs, ys);
      plcol0(1);
      plline(4, xs, ys);
      char text[64];
      std::snprintf(text, sizeof text, value_format, values[i]);
      plptex(c, v + 0.02 * y_max, 1, 0, 0.5, text);
      plmtex("b", 1.5, (c + 0.6) / n, 0.5, labels[i].c_str());
    }
  });
}

}  // namespace convlab::report
