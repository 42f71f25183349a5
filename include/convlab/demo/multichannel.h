// The multi-channel convolution notebook (docs/notebooks/multichannel_convolution.txt), step by
// step: every tensor the notebook prints, printed the same way, and every image and output
// channel written as a grayscale picture with a colour bar.
#pragma once

#include <ostream>
#include <string>

namespace convlab::demo {

// Writes the walk-through to `out`; if `picture_dir` is not empty, writes the PNGs there (the
// directory is created). Returns the number of pictures written.
int multichannel(std::ostream& out, const std::string& picture_dir);

}  // namespace convlab::demo
