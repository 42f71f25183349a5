#include "convlab/io/pickle.h"

#include "convlab/error.h"

namespace convlab {

void refuse_pickle(const std::string& path, const std::vector<uint8_t>& head) {
  // torch.save writes a zip archive holding a pickle (since PyTorch 1.6), or a bare pickle
  // (protocol 2 and later start with 0x80).
  const bool zip =
      head.size() >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
  const bool pickle = head.size() >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
  // A safetensors file starts with its header length, whose bytes may look like a pickle's
  // protocol mark (a 640-byte header is 0x80 0x02); its JSON header at byte 8 tells them apart.
  const bool safetensors_like = head.size() > 8 && head[8] == '{';
  if (!safetensors_like &&
      (zip || pickle || path.ends_with(".pt") || path.ends_with(".pth") || path.ends_with(".pkl")))
    throw IoError(excerpt(path) +
                  " looks like a PyTorch pickle (torch.save); convlab never loads pickles, which "
                  "can run code when read: save the state_dict with safetensors.torch.save_file, "
                  "or export the model with torch.onnx.export");
}

}  // namespace convlab
