// Learning-rate schedules, stepped once per epoch with PyTorch's own (chainable) formulas, so that
// the learning rate of every epoch equals PyTorch's:
//   ""             constant
//   "step:S:G"     StepLR(step_size=S, gamma=G): multiplied by G every S epochs
//   "cosine"       CosineAnnealingLR(T_max = the run's epochs, eta_min = 0)
#pragma once

#include <cstdint>
#include <string>

namespace convlab::train {

struct Schedule {
  enum class Kind { constant, step, cosine };
  Kind kind = Kind::constant;
  int64_t step_size = 1;
  double gamma = 1;

  // Throws ValueError naming the text and the accepted forms.
  static Schedule parse(const std::string& text);
  // The learning rate of epoch `epoch` (0-based) of a run of `epochs` epochs from `base_lr`.
  double lr_at(double base_lr, int64_t epoch, int64_t epochs) const;
};

}  // namespace convlab::train
