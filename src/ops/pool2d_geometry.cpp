#include "convlab/error.h"
#include "convlab/limits.h"
#include "convlab/ops/pool2d.h"

namespace convlab {

Pool2dGeometry pool2d_geometry(const Shape& input, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, const std::string& who, bool ceil_mode) {
  auto pair = [](int64_t a, int64_t b) {
    return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
  };
  if (kh <= 0 || kw <= 0)
    throw ValueError(who + ": kernel size must be positive; got " + pair(kh, kw));
  if (sh <= 0 || sw <= 0) throw ValueError(who + ": stride must be positive; got " + pair(sh, sw));
  if (ph < 0 || pw < 0 || ph > kh / 2 || pw > kw / 2)
    throw ValueError(who + ": padding must be between 0 and half the kernel size " + pair(kh, kw) +
                     "; got " + pair(ph, pw));
  if (input.size() != 4)
    throw ShapeError(who + ": expected a 4-D input (N, C, H, W); got shape " + to_string(input));
  for (int64_t d : input)
    if (d <= 0)
      throw ShapeError(who + ": input sizes must be positive; got shape " + to_string(input));
  Pool2dGeometry g{input[0], input[1], input[2], input[3], kh, kw, sh, sw, ph, pw, 0, 0};
  // padding <= kernel / 2 above, so these sums are small unless the input is huge: checked.
  const int64_t hp = checked_add(g.H, 2 * ph, who), wp = checked_add(g.W, 2 * pw, who);
  if (hp < kh || wp < kw)
    throw ShapeError(who + ": kernel size " + pair(kh, kw) + " is larger than the padded input " +
                     pair(hp, wp) + " of input shape " + to_string(input));
  auto out = [&](int64_t padded, int64_t in, int64_t k, int64_t s, int64_t p) {
    int64_t o = (padded - k + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (o - 1) * s >= in + p) --o;
    return o;
  };
  g.OH = out(hp, g.H, kh, sh, ph);
  g.OW = out(wp, g.W, kw, sw, pw);
  checked_numel(g.output_shape(),
                who + ": output");  // the output's element count must be countable
  return g;
}

}  // namespace convlab
