#include "convlab/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/limits.h"

namespace convlab::safetensors {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader copies it as is");

namespace {

enum class Kind { floating, integer, other };

struct DType {
  const char* name;
  uint64_t size;
  Kind kind;
  bool is_signed = false;
};

// Every dtype of the format; the F8 and BOOL ones are recognised (so the layout is checked) but
// never converted.
constexpr DType kDTypes[] = {
    {"F64", 8, Kind::floating},      {"F32", 4, Kind::floating},
    {"F16", 2, Kind::floating},      {"BF16", 2, Kind::floating},
    {"I64", 8, Kind::integer, true}, {"I32", 4, Kind::integer, true},
    {"I16", 2, Kind::integer, true}, {"I8", 1, Kind::integer, true},
    {"U64", 8, Kind::integer},       {"U32", 4, Kind::integer},
    {"U16", 2, Kind::integer},       {"U8", 1, Kind::integer},
    {"BOOL", 1, Kind::other},        {"F8_E5M2", 1, Kind::other},
    {"F8_E4M3", 1, Kind::other},
};

const DType* find_dtype(const std::string& name) {
  for (const DType& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string dtype_list() {
  std::string s;
  for (const DType& d : kDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return to_string(Shape(shape));
}

// IEEE half to float, subnormals and infinities included.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // infinity or NaN (payload kept)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // signed zero
  } else {        // subnormal: normalise
    exponent = 113;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

}  // namespace

File::File(std::vector<uint8_t> bytes, std::string path)
    : bytes_(std::move(bytes)), path_(std::move(path)) {
  auto fail = [&](const std::string& what) { throw IoError(path_ + ": " + what); };
  const uint64_t size = bytes_.size();
  if (size < 8)
    fail("not a safetensors file: " + std::to_string(size) +
         " bytes, fewer than the 8 of the header length");
  uint64_t n = 0;
  std::memcpy(&n, bytes_.data(), 8);
  if (n > kMaxHeaderBytes)
    fail("safetensors header length " + std::to_string(n) + " is over the 100 MB limit");
  if (n > size - 8)
    fail("safetensors header length " + std::to_string(n) + " is longer than the " +
         std::to_string(size - 8) + " bytes that follow it");
  if (n < 2 || bytes_[8] != '{')
    fail("safetensors header does not start with '{' (not a safetensors file?)");
  data_start_ = 8 + n;
  const uint64_t data_size = size - data_start_;

  // nlohmann keeps the last of duplicate keys; the format allows one entry per name.
  std::set<std::string> seen;
  std::string duplicate;
  const nlohmann::json::parser_callback_t no_duplicates =
      [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (event == nlohmann::json::parse_event_t::key && depth == 1 &&
            !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
          duplicate = parsed.get<std::string>();
        return true;
      };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes_.begin() + 8, bytes_.begin() + static_cast<long>(8 + n),
                                   no_duplicates);
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("safetensors header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) fail("safetensors header names '" + excerpt(duplicate) + "' twice");
  if (!header.is_object()) fail("safetensors header is not a JSON object");

  for (const auto& [key, value] : header.items()) {
    const std::string where = "tensor '" + excerpt(key) + "'";
    if (key == "__metadata__") {
      if (!value.is_object()) fail("__metadata__ is not an object of strings");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) fail("__metadata__ entry '" + excerpt(k) + "' is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) fail(where + " is not an object");
    for (const auto& [field, _] : value.items())
      if (field != "dtype" && field != "shape" && field != "data_offsets")
        fail(where + " has an unknown field '" + excerpt(field) +
             "' (expected dtype, shape, data_offsets)");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) fail(where + " has no " + field);
    Entry e;
    e.name = key;
    if (!value["dtype"].is_string()) fail(where + ": dtype is not a string");
    e.dtype = value["dtype"].get<std::string>();
    const DType* dtype = find_dtype(e.dtype);
    if (!dtype)
      fail(where + " has unknown dtype '" + excerpt(e.dtype) + "' (known: " + dtype_list() + ")");
    const auto& shape = value["shape"];
    if (!shape.is_array()) fail(where + ": shape is not a list");
    uint64_t count = 1;
    for (const auto& d : shape) {
      // Extents up to 2^62 only, so that products stay checkable in int64 as well.
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 62))
        fail(where + ": shape " + excerpt(shape.dump()) + " holds something not an extent");
      e.shape.push_back(d.get<int64_t>());
      if (__builtin_mul_overflow(count, d.get<uint64_t>(), &count))
        fail(where + ": shape " + excerpt(shape.dump()) + " has more elements than can be counted");
    }
    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      fail(where + ": data_offsets " + excerpt(offsets.dump()) + " is not [begin, end]");
    e.begin = offsets[0].get<uint64_t>();
    e.end = offsets[1].get<uint64_t>();
    if (e.begin > e.end || e.end > data_size)
      fail(where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
           "] is not a range inside the " + std::to_string(data_size) + " bytes of data");
    uint64_t need = 0;
    if (__builtin_mul_overflow(count, dtype->size, &need) || need != e.end - e.begin)
      fail(where + ": shape " + shape_text(e.shape) + " of " + e.dtype + " needs " +
           (need || !count ? std::to_string(need) : std::string("too many")) +
           " bytes but data_offsets give " + std::to_string(e.end - e.begin));
    entries_.push_back(std::move(e));
  }

  // The tensors tile the data exactly: sorted by offset, each starts where the previous ended.
  std::vector<const Entry*> order;
  for (const Entry& e : entries_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t at = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : order) {
    if (e->begin < at)
      fail("tensors '" + excerpt(previous->name) + "' and '" + excerpt(e->name) +
           "' overlap in the data (bytes " + std::to_string(e->begin) + " to " +
           std::to_string(at) + ")");
    if (e->begin > at)
      fail("a hole of " + std::to_string(e->begin - at) + " bytes in the data before tensor '" +
           excerpt(e->name) + "' (offset " + std::to_string(at) + ")");
    at = e->end;
    previous = e;
  }
  if (at != data_size)
    fail(std::to_string(data_size - at) + " bytes of data after the last tensor belong to none");
}

const Entry* File::find(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

namespace {

// The entry's dtype, which must be of `kind`; else an IoError saying what belongs there.
const DType& dtype_of(const std::string& path, const Entry& e, Kind kind, const char* belongs) {
  const DType* dtype = find_dtype(e.dtype);
  if (!dtype || dtype->kind != kind)
    throw IoError(path + ": tensor '" + excerpt(e.name) + "' has dtype " + e.dtype + " where " +
                  belongs);
  return *dtype;
}

// n values of `dtype` from src, as floats (one loop per dtype, so each one vectorises).
void convert(const std::string& dtype, const uint8_t* src, int64_t n, float* dst) {
  if (dtype == "F32") {
    if (n) std::memcpy(dst, src, static_cast<size_t>(n) * 4);
  } else if (dtype == "F64") {
    for (int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, src + 8 * i, 8);
      dst[i] = static_cast<float>(v);
    }
  } else {
    const bool half = dtype == "F16";
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = half ? half_to_float(h) : std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
    }
  }
}

}  // namespace

Tensor File::floats(const Entry& e) const {
  dtype_of(path_, e, Kind::floating, "floats belong (F32, F16, BF16, F64)");
  const Shape shape(e.shape);
  check_shape(shape, path_ + ": tensor '" + excerpt(e.name) + "'");
  Tensor t(shape);
  convert(e.dtype, bytes_.data() + data_start_ + e.begin, t.numel(), t.data());
  return t;
}

int64_t File::integer_scalar(const Entry& e) const {
  const DType* dtype = &dtype_of(path_, e, Kind::integer, "an integer belongs (I64)");
  const std::string where = path_ + ": tensor '" + excerpt(e.name) + "'";
  if (e.end - e.begin != dtype->size)
    throw IoError(where + " has shape " + shape_text(e.shape) + "; expected one element");
  const uint8_t* p = bytes_.data() + data_start_ + e.begin;
  uint64_t raw = 0;
  std::memcpy(&raw, p, dtype->size);
  if (dtype->is_signed && dtype->size < 8 && (raw >> (dtype->size * 8 - 1)) & 1)
    raw |= ~uint64_t{0} << (dtype->size * 8);  // sign-extend
  if (!dtype->is_signed && raw > static_cast<uint64_t>(INT64_MAX))
    throw IoError(where + " holds " + std::to_string(raw) + ", beyond int64");
  return static_cast<int64_t>(raw);
}

File load(const std::string& path) {
  return File(read_file(path, memory_limit_bytes(), "safetensors file"), excerpt(path));
}

std::string serialize(const std::vector<Named>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const Named& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second)
      throw ValueError("safetensors: cannot save two tensors named '" + excerpt(t.name) + "'");
    const uint64_t bytes = static_cast<uint64_t>(t.value->numel()) * (t.integer ? 8 : 4);
    header[t.name] = {{"dtype", t.integer ? "I64" : "F32"},
                      {"shape", t.value->shape()},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  out += text;
  out.reserve(out.size() + offset);
  for (const Named& t : tensors) {
    const float* v = t.value->data();
    if (!t.integer) {
      out.append(reinterpret_cast<const char*>(v), static_cast<size_t>(t.value->numel()) * 4);
      continue;
    }
    for (int64_t i = 0; i < t.value->numel(); ++i) {
      const auto x = static_cast<int64_t>(v[i]);
      out.append(reinterpret_cast<const char*>(&x), 8);
    }
  }
  return out;
}

void save(const std::string& path, const std::vector<Named>& tensors,
          const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, serialize(tensors, metadata));
}

}  // namespace convlab::safetensors
