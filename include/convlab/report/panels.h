// Grids of small pictures with titles, drawn by PLplot: sample images with their class names,
// images next to their channel sums, every channel of a layer's output, every kernel of a layer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convlab::report {

struct Panel {
  std::string title;
  int64_t channels = 1;  // 3: RGB values in [0, 1]; 1: gray, scaled to the panel's min..max
  int64_t height = 0, width = 0;
  std::vector<float> values;  // channels x height x width, planar (CHW)
};

// Panels left to right, top to bottom, `columns` per row, under an optional overall title.
// Written atomically; throws ValueError for an empty or malformed panel, IoError if unwritable.
void write_panel_grid_png(const std::string& path, const std::vector<Panel>& panels, int columns,
                          const std::string& title = "", int panel_px = 150);

}  // namespace convlab::report
