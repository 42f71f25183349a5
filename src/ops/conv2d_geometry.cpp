#include "convlab/error.h"
#include "convlab/limits.h"
#include "convlab/ops/conv2d.h"

namespace convlab {

Conv2dGeometry conv2d_geometry(const Shape& input, const Shape& weight, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, const std::string& who) {
  if (weight.size() != 4)
    throw ShapeError(who + ": weight must be 4-D (out_channels, in_channels, kH, kW); got shape " +
                     to_string(weight));
  if (input.size() != 4)
    throw ShapeError(who + ": expected a 4-D input (N, C, H, W) with C = " +
                     std::to_string(weight[1]) + "; got shape " + to_string(input));
  for (int64_t d : weight)
    if (d <= 0)
      throw ValueError(who + ": weight sizes must be positive; got shape " + to_string(weight));
  if (sh <= 0 || sw <= 0)
    throw ValueError(who + ": stride must be positive; got (" + std::to_string(sh) + ", " +
                     std::to_string(sw) + ")");
  if (ph < 0 || pw < 0)
    throw ValueError(who + ": padding must be non-negative; got (" + std::to_string(ph) + ", " +
                     std::to_string(pw) + ")");
  if (input[1] != weight[1])
    throw ShapeError(who + ": expected input with " + std::to_string(weight[1]) +
                     " channels, shape [N, " + std::to_string(weight[1]) + ", H, W]; got " +
                     std::to_string(input[1]) + " channels, shape " + to_string(input));
  if (input[0] <= 0 || input[2] <= 0 || input[3] <= 0)
    throw ShapeError(who + ": input sizes must be positive; got shape " + to_string(input));
  // Padding comes from model text: the padded size must not overflow (then the output size is
  // small enough to count, and its element count is checked below).
  const int64_t hp =
      checked_add(input[2], checked_mul(2, ph, who + ": padding"), who + ": padded height");
  const int64_t wp =
      checked_add(input[3], checked_mul(2, pw, who + ": padding"), who + ": padded width");
  if (weight[2] > hp || weight[3] > wp)
    throw ShapeError(who + ": kernel size (" + std::to_string(weight[2]) + ", " +
                     std::to_string(weight[3]) + ") is larger than the padded input (" +
                     std::to_string(hp) + ", " + std::to_string(wp) + ") of input shape " +
                     to_string(input));
  Conv2dGeometry g{input[0], input[1], input[2], input[3], weight[0], weight[2], weight[3],
                   sh,       sw,       ph,       pw,       0,         0};
  g.OH = (hp - g.KH) / sh + 1;
  g.OW = (wp - g.KW) / sw + 1;
  checked_numel(g.output_shape(),
                who + ": output");  // the output's element count must be countable
  return g;
}

}  // namespace convlab
