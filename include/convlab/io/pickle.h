// PyTorch's own files (torch.save: .pt, .pth) are pickles, which can run arbitrary code when
// loaded. convlab never reads them; this names the safe formats instead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convlab {

// Throws IoError if the path's suffix (.pt, .pth, .pkl) or the file's first bytes (`head`: a zip
// archive or a pickle protocol mark, unless a safetensors header follows) mark a pickle.
void refuse_pickle(const std::string& path, const std::vector<uint8_t>& head = {});

}  // namespace convlab
