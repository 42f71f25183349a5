#include "convlab/data/image_file.h"

#include <algorithm>
#include <memory>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/limits.h"

// stb_image, for the three formats predict reads: less decoder, less to attack.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC  // internal: a program may link its own stb_image
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace convlab::data {

Tensor resize_bilinear(const Tensor& image, int64_t oh, int64_t ow) {
  const int64_t c = image.size(1), h = image.size(2), w = image.size(3);
  Tensor out({1, c, oh, ow});
  // Source coordinate of output pixel i: (i + 0.5) * in / out - 0.5, clamped at 0 (PyTorch).
  auto source = [](int64_t i, int64_t in, int64_t out_size, int64_t& i0, int64_t& i1, float& t) {
    const float scale = static_cast<float>(in) / static_cast<float>(out_size);
    const float x = std::max((static_cast<float>(i) + 0.5f) * scale - 0.5f, 0.0f);
    i0 = std::min(static_cast<int64_t>(x), in - 1);
    i1 = std::min(i0 + 1, in - 1);
    t = x - static_cast<float>(i0);
  };
  for (int64_t y = 0; y < oh; ++y) {
    int64_t y0, y1;
    float ty;
    source(y, h, oh, y0, y1, ty);
    for (int64_t x = 0; x < ow; ++x) {
      int64_t x0, x1;
      float tx;
      source(x, w, ow, x0, x1, tx);
      for (int64_t k = 0; k < c; ++k) {
        const float* p = image.data() + k * h * w;
        const float top = p[y0 * w + x0] * (1 - tx) + p[y0 * w + x1] * tx;
        const float bottom = p[y1 * w + x0] * (1 - tx) + p[y1 * w + x1] * tx;
        out.data()[(k * oh + y) * ow + x] = top * (1 - ty) + bottom * ty;
      }
    }
  }
  return out;
}

Tensor read_image(const std::string& path, const ImageSize& want, bool resize) {
  const std::string shown = excerpt(path);
  const std::vector<uint8_t> bytes = read_file(path, memory_limit_bytes(), "image file");
  if (bytes.size() > static_cast<size_t>(INT32_MAX))
    throw IoError(shown + ": image file over 2 GB");
  const int size = static_cast<int>(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), size, &w, &h, &comp))
    throw IoError(shown + ": not a PNG, JPEG or BMP image (" + stbi_failure_reason() + ")");
  // A decompression bomb is refused on its header's word, before any pixel is decoded.
  check_memory(static_cast<uint64_t>(w) * static_cast<uint64_t>(h) * 4 * sizeof(float),
               shown + ": a " + std::to_string(w) + "x" + std::to_string(h) + " image");
  const int channels = comp == 4 ? 3 : comp == 2 ? 1 : comp;  // alpha dropped
  if (channels != want.channels)
    throw IoError(shown + ": the image has " + std::to_string(channels) + " channel" +
                  (channels == 1 ? "" : "s") + (comp != channels ? " (and alpha)" : "") +
                  "; the model takes " + std::to_string(want.channels));
  if ((h != want.height || w != want.width) && !resize)
    throw IoError(shown + ": the image is " + std::to_string(w) + "x" + std::to_string(h) +
                  " (width x height); the model takes " + std::to_string(want.width) + "x" +
                  std::to_string(want.height) + " (pass --resize to resize it)");
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), size, &w, &h, &comp, channels), stbi_image_free);
  if (!pixels) throw IoError(shown + ": cannot decode the image (" + stbi_failure_reason() + ")");
  Tensor t({1, channels, h, w});
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < channels; ++k)
        t.data()[(k * h + y) * w + x] =
            static_cast<float>(pixels.get()[(y * w + x) * channels + k]) / 255.0f;
  if (h != want.height || w != want.width) return resize_bilinear(t, want.height, want.width);
  return t;
}

}  // namespace convlab::data
