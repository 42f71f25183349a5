#include <gtest/gtest.h>

#include <filesystem>

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#include "convlab/error.h"
#include "convlab/report/figure.h"
#include "convlab/report/panels.h"
#include "convlab/report/plots.h"

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

// Bars reach their values: at height 0.5 of a 0..1 axis, the 0.75 bar is coloured and the 0.25 bar
// is not; the values are written above the bars (checked by the dark text pixels there).
TEST(Figure, BarChartBarsHaveTheirHeights) {
  const std::string path = temp_dir() + "/bars.png";
  report::write_bar_chart(path, "t", "Accuracy", {"low", "high"}, {0.25, 0.75}, 1.0);
  const Png png(path);
  ASSERT_EQ(png.w, 560);
  ASSERT_EQ(png.h, 480);
  // Layout from plots.cpp: viewport x 0.12..0.95, y 0.12..0.90; world x -0.6..1.6, y 0..1.
  auto px = [&](double wx, double wy) {
    return png.at(static_cast<int>((0.12 + (wx + 0.6) / 2.2 * 0.83) * png.w),
                  static_cast<int>((1 - (0.12 + wy * 0.78)) * png.h));
  };
  auto is_white = [](const unsigned char* p) { return p[0] > 245 && p[1] > 245 && p[2] > 245; };
  EXPECT_FALSE(is_white(px(0, 0.1)));  // inside the low bar
  EXPECT_TRUE(is_white(px(0, 0.5)));   // above it
  EXPECT_FALSE(is_white(px(1, 0.5)));  // inside the high bar
  EXPECT_TRUE(is_white(px(1, 0.9)));   // above it
  const unsigned char* orange = px(1, 0.5);
  EXPECT_GT(orange[0], 200);  // the second bar's colour (255, 127, 14)
  EXPECT_LT(orange[2], 60);
  int dark = 0;  // the label "0.750" just above the high bar
  for (int dx = -20; dx <= 20; ++dx)
    for (int dy = 0; dy < 14; ++dy) {
      const unsigned char* p = png.at(static_cast<int>((0.12 + 1.6 / 2.2 * 0.83) * png.w) + dx,
                                      static_cast<int>((1 - (0.12 + 0.77 * 0.78)) * png.h) - dy);
      dark += p[0] < 100 && p[1] < 100 && p[2] < 100;
    }
  EXPECT_GT(dark, 10);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// Each series is drawn in its colour where its values are: two flat lines at 1 and 2.
TEST(Figure, LinePlotDrawsEachSeriesAtItsValues) {
  const std::string path = temp_dir() + "/lines.png";
  report::write_line_plot(path, "t", "Epoch", "Loss",
                          {{"a", {1, 2, 3}, {1, 1, 1}}, {"b", {1, 2, 3}, {2, 2, 2}}});
  const Png png(path);
  ASSERT_EQ(png.w, 720);
  // plots.cpp: viewport x 0.10..0.95, y 0.12..0.90; world y 1 - 0.05 .. 2 + 0.05.
  auto row_of = [&](double wy) {
    return static_cast<int>((1 - (0.12 + (wy - 0.95) / 1.1 * 0.78)) * png.h);
  };
  const int x = static_cast<int>(0.3 * png.w);
  auto colour_near = [&](int row, int r, int g, int b) {
    for (int dy = -3; dy <= 3; ++dy) {
      const unsigned char* p = png.at(x, row + dy);
      if (std::abs(p[0] - r) < 40 && std::abs(p[1] - g) < 40 && std::abs(p[2] - b) < 40)
        return true;
    }
    return false;
  };
  EXPECT_TRUE(colour_near(row_of(1.0), 31, 119, 180));  // series a, blue, at 1
  EXPECT_TRUE(colour_near(row_of(2.0), 255, 127, 14));  // series b, orange, at 2
  EXPECT_FALSE(colour_near(row_of(1.5), 31, 119, 180));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}
