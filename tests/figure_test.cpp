#include <gtest/gtest.h>

#include <filesystem>

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#include "convlab/error.h"
#include "convlab/report/figure.h"
#include "convlab/report/panels.h"

using namespace convlab;
using report::HeatmapLayout;

namespace {

struct Png {
  int w = 0, h = 0;
  std::vector<unsigned char> rgb;
  explicit Png(const std::string& path) {
    int n = 0;
    unsigned char* p = stbi_load(path.c_str(), &w, &h, &n, 3);
    if (!p) throw std::runtime_error("cannot read " + path);
    rgb.assign(p, p + w * h * 3);
    stbi_image_free(p);
  }
  const unsigned char* at(int x, int y) const { return &rgb[(static_cast<size_t>(y) * w + x) * 3]; }
};

std::string temp_dir() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("convlab_fig_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace

// Each cell's centre pixel has the gray level of its value on the min..max scale, row 0 on top.
TEST(Figure, HeatmapPixelsShowValues) {
  const int64_t h = 3, w = 4;
  const float v[h * w] = {-4, 0, 4, 2, -4, 0, 4, 1, -2, -1, 3, 0};
  const std::string path = temp_dir() + "/map.png";
  report::write_heatmap_png(path, v, h, w, "test map");
  const Png png(path);
  ASSERT_EQ(png.w, HeatmapLayout::kWidthPx);
  ASSERT_EQ(png.h, HeatmapLayout::kHeightPx);
  const double x0 = HeatmapLayout::kLeft * png.w, x1 = HeatmapLayout::kRight * png.w;
  const double y0 = (1 - HeatmapLayout::kTop) * png.h, y1 = (1 - HeatmapLayout::kBottom) * png.h;
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c) {
      const int px = static_cast<int>(x0 + (static_cast<double>(c) + 0.5) / w * (x1 - x0));
      const int py = static_cast<int>(y0 + (static_cast<double>(r) + 0.5) / h * (y1 - y0));
      const unsigned char* p = png.at(px, py);
      const double want = (v[r * w + c] + 4.0) / 8.0 * 255.0;
      EXPECT_EQ(p[0], p[1]);  // gray
      EXPECT_EQ(p[1], p[2]);
      EXPECT_NEAR(p[0], want, 3.0) << "cell (" << r << ", " << c << ")";
    }
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(Figure, UnwritablePlaceIsAnIoErrorAndLeavesNothing) {
  const float v[1] = {1};
  EXPECT_THROW(report::write_heatmap_png("/nonexistent_dir_convlab/x.png", v, 1, 1, "t"), IoError);
  EXPECT_THROW(report::write_heatmap_png("/tmp/x.png", v, 0, 1, "t"), ValueError);
}

// A panel grid: an RGB panel's cells show their colours, a gray panel its values min..max.
TEST(Figure, PanelGridPixelsShowColoursAndValues) {
  report::Panel rgb{
      "rgb", 3, 2, 2, {1, 0, 0, 1, /*G*/ 0, 1, 0, 1, /*B*/ 0, 0, 1, 1}};  // red green / blue white
  report::Panel gray{"gray", 1, 1, 2, {-1, 3}};
  const std::string path = temp_dir() + "/grid.png";
  const int px = 200;
  report::write_panel_grid_png(path, {rgb, gray}, 2, "", px);
  const Png png(path);
  ASSERT_EQ(png.w, 2 * px);
  ASSERT_EQ(png.h, px);
  // Panel 0 occupies x in [0.08, 0.92] * px, y in [0.18, 0.96] * px of its cell (see panels.cpp).
  auto cell = [&](int panel, int64_t h, int64_t w, int64_t r, int64_t c) {
    const double x0 = panel * px + 0.08 * px, x1 = panel * px + 0.92 * px, y0 = 0.18 * px,
                 y1 = 0.96 * px;
    return png.at(static_cast<int>(x0 + (c + 0.5) / static_cast<double>(w) * (x1 - x0)),
                  static_cast<int>(y0 + (r + 0.5) / static_cast<double>(h) * (y1 - y0)));
  };
  const unsigned char want[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
  for (int k = 0; k < 4; ++k)
    for (int ch = 0; ch < 3; ++ch)
      EXPECT_NEAR(cell(0, 2, 2, k / 2, k % 2)[ch], want[k][ch], 2) << k << "," << ch;
  EXPECT_LE(cell(1, 1, 2, 0, 0)[0], 2);    // the minimum: black
  EXPECT_GE(cell(1, 1, 2, 0, 1)[0], 253);  // the maximum: white
  EXPECT_THROW(report::write_panel_grid_png(path, {report::Panel{"bad", 2, 1, 1, {0, 0}}}, 1),
               ValueError);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}
