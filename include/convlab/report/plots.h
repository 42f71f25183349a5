// Charts drawn by PLplot (cairo PNG): the notebook's loss curves and accuracy bars.
#pragma once

#include <string>
#include <vector>

namespace convlab::report {

struct Series {
  std::string label;
  std::vector<double> x, y;
};

// Lines with markers and a legend; axes fitted to the data. Written atomically.
void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<Series>& series);

// One bar per label, heights `values` on a 0..y_max axis, each value written above its bar with
// `value_format` (printf, e.g. "%.3f"). Written atomically.
void write_bar_chart(const std::string& path, const std::string& title, const std::string& y_label,
                     const std::vector<std::string>& labels, const std::vector<double>& values,
                     double y_max, const char* value_format = "%.3f");

}  // namespace convlab::report
