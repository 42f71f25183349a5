// What happens to a training image between the uint8 data set and the network: torchvision's
// RandomCrop(32, padding=4) then RandomHorizontalFlip() (--augment crop,flip), each image's draws
// taken from the run's generator in batch order on one thread (so results do not depend on the
// thread count and resume exactly), then ToTensor's x / 255, then Normalize(mean, std)
// (--normalize). Evaluation uses the normalisation only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convlab::data {

struct Transform {
  bool crop = false;  // RandomCrop(size, padding=pad): zero padding, a random window
  int64_t pad = 4;
  bool flip = false;        // RandomHorizontalFlip(p=0.5)
  std::vector<float> mean;  // empty: no normalisation
  std::vector<float> std;

  // "crop,flip", "crop", "flip" or "" / "none"; "MEAN,MEAN,MEAN/STD,STD,STD" or "". ValueError
  // names what does not parse.
  static Transform parse(const std::string& augment, const std::string& normalize);
  bool augments() const { return crop || flip; }
  // The flag texts again, for recipes and messages.
  std::string augment_text() const;
  std::string normalize_text() const;
};

// One image's draws: crop offsets in [0, 2*pad] and the flip.
struct ImageDraw {
  int64_t dy = 0, dx = 0;
  bool flip = false;
};

}  // namespace convlab::data
