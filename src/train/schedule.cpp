#include "convlab/train/schedule.h"

#include <cmath>
#include <cstdlib>
#include <numbers>

#include "convlab/error.h"

namespace convlab::train {

Schedule Schedule::parse(const std::string& text) {
  Schedule s;
  if (text.empty() || text == "constant") return s;
  if (text == "cosine") {
    s.kind = Kind::cosine;
    return s;
  }
  auto bad = [&] {
    return ValueError("schedule '" + excerpt(text, 40) +
                      "' does not parse; use step:EPOCHS:GAMMA (e.g. step:30:0.1), cosine or "
                      "constant");
  };
  if (text.rfind("step:", 0) != 0) throw bad();
  const std::string rest = text.substr(5);
  const size_t colon = rest.find(':');
  if (colon == std::string::npos) throw bad();
  const std::string a = rest.substr(0, colon), b = rest.substr(colon + 1);
  char* end = nullptr;
  const long long step = std::strtoll(a.c_str(), &end, 10);
  if (a.empty() || *end || step < 1 || step > 1000000) throw bad();
  const double gamma = std::strtod(b.c_str(), &end);
  if (b.empty() || *end || !std::isfinite(gamma) || !(gamma > 0) || gamma > 1e6) throw bad();
  s.kind = Kind::step;
  s.step_size = step;
  s.gamma = gamma;
  return s;
}

double Schedule::lr_at(double base_lr, int64_t epoch, int64_t epochs) const {
  // PyTorch's get_lr() is chainable: each epoch's rate is computed from the previous one, so it
  // is replayed from epoch 0 to round exactly as PyTorch does.
  double lr = base_lr;
  const double pi = std::numbers::pi;
  const double T = static_cast<double>(std::max<int64_t>(epochs, 1));
  for (int64_t e = 1; e <= epoch; ++e) {
    switch (kind) {
      case Kind::constant:
        break;
      case Kind::step:
        if (e % step_size == 0) lr *= gamma;
        break;
      case Kind::cosine: {
        const double E = static_cast<double>(e);
        if ((e - 1 - epochs) % (2 * epochs) == 0)
          lr = lr + base_lr * (1 - std::cos(pi / T)) / 2;
        else
          lr = (1 + std::cos(pi * E / T)) / (1 + std::cos(pi * (E - 1) / T)) * lr;
        break;
      }
    }
  }
  return lr;
}

}  // namespace convlab::train
