#include "convlab/train/checkpoint.h"

#include <cstring>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/limits.h"

namespace convlab::train {

namespace {

constexpr char kMagic[8] = {'C', 'O', 'N', 'V', 'L', 'A', 'B', 'K'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Whether a float tensor of this shape fits in `bytes` (without overflowing on the way).
bool numel_fits(const Shape& shape, size_t bytes) {
  uint64_t n = sizeof(float);
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  return n <= bytes;
}

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads from the file's bytes, failing with the path and what was being read.
class Reader {
 public:
  Reader(const std::vector<uint8_t>& b, size_t end, std::string path)
      : b_(b), end_(end), path_(std::move(path)) {}
  template <typename T>
  T get(const char* what) {
    T v;
    bytes(&v, sizeof v, what);
    return v;
  }
  void bytes(void* dst, size_t n, const char* what) {
    if (n > end_ - pos_) throw IoError(path_ + ": checkpoint is truncated (reading " + what + ")");
    if (n == 0) return;  // an empty tensor has no storage: memcpy to null is undefined even for 0
    std::memcpy(dst, b_.data() + pos_, n);
    pos_ += n;
  }
  size_t remaining() const { return end_ - pos_; }

 private:
  const std::vector<uint8_t>& b_;
  size_t end_;
  std::string path_;
  size_t pos_ = 0;
};

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  std::string out(kMagic, sizeof kMagic);
  put<uint32_t>(out, kVersion);
  const std::string header = c.header.dump();
  put<uint64_t>(out, header.size());
  out += header;
  put<uint32_t>(out, static_cast<uint32_t>(c.tensors.size()));
  for (const auto& [name, t] : c.tensors) {
    put<uint32_t>(out, static_cast<uint32_t>(name.size()));
    out += name;
    put<uint32_t>(out, static_cast<uint32_t>(t.dim()));
    for (int64_t d : t.shape()) put<int64_t>(out, d);
    out.append(reinterpret_cast<const char*>(t.data()),
               static_cast<size_t>(t.numel()) * sizeof(float));
  }
  put<uint64_t>(out, fnv1a(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
  write_file_atomically(path, out);
}

Checkpoint load_checkpoint(const std::string& path) {
  // A checkpoint larger than the memory limit could not be loaded anyway.
  return parse_checkpoint(read_file(path, memory_limit_bytes(), "checkpoint"), excerpt(path));
}

Checkpoint parse_checkpoint(const std::vector<uint8_t>& bytes, const std::string& path) {
  if (bytes.size() < sizeof kMagic + 4 + 8 + 4 + 8 ||
      std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw IoError(path + ": not a convlab checkpoint (no CONVLABK header)");
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (stored != fnv1a(bytes.data(), bytes.size() - 8))
    throw IoError(path + ": checkpoint is corrupt or truncated (checksum mismatch)");
  Reader r(bytes, bytes.size() - 8, path);
  char magic[8];
  r.bytes(magic, 8, "magic");
  const auto version = r.get<uint32_t>("version");
  if (version != kVersion)
    throw IoError(path + ": checkpoint format version " + std::to_string(version) +
                  "; this convlab reads version " + std::to_string(kVersion));
  const auto header_size = r.get<uint64_t>("header size");
  if (header_size > r.remaining()) throw IoError(path + ": checkpoint is truncated (header)");
  std::string header(static_cast<size_t>(header_size), '\0');
  r.bytes(header.data(), header.size(), "header");
  Checkpoint c;
  try {
    c.header = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(path + ": checkpoint header is not valid JSON");
  }
  if (!c.header.is_object()) throw IoError(path + ": checkpoint header is not a JSON object");
  const auto count = r.get<uint32_t>("tensor count");
  for (uint32_t i = 0; i < count; ++i) {
    const auto name_size = r.get<uint32_t>("tensor name size");
    if (name_size > r.remaining()) throw IoError(path + ": checkpoint is truncated (tensor name)");
    std::string name(name_size, '\0');
    r.bytes(name.data(), name.size(), "tensor name");
    name = excerpt(name, 100);  // shown in messages; real names are short and printable
    if (c.tensors.count(name)) throw IoError(path + ": tensor " + name + " appears twice");
    const auto rank = r.get<uint32_t>("tensor rank");
    if (rank > 4) throw IoError(path + ": tensor " + name + " has rank " + std::to_string(rank));
    Shape shape(rank);
    for (auto& d : shape) {
      d = r.get<int64_t>("tensor shape");
      if (d < 0) throw IoError(path + ": tensor " + name + " has a negative extent");
    }
    // Every size is checked against what the file really holds before anything is allocated.
    if (!numel_fits(shape, r.remaining()))
      throw IoError(path + ": tensor " + name + " of shape " + to_string(shape) +
                    " is larger than the rest of the checkpoint (" + std::to_string(r.remaining()) +
                    " bytes)");
    Tensor t(shape);
    r.bytes(t.data(), static_cast<size_t>(t.numel()) * sizeof(float), "tensor data");
    c.tensors.emplace(name, std::move(t));
  }
  if (r.remaining() != 0)
    throw IoError(path + ": checkpoint has " + std::to_string(r.remaining()) + " trailing bytes");
  return c;
}

}  // namespace convlab::train
