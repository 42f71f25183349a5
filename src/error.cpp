#include "convlab/error.h"

#include <cstdio>

namespace convlab {

namespace {

void append_escaped(std::string& out, unsigned char c) {
  switch (c) {
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (c < 0x20 || c == 0x7f) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += buf;
  } else {
    out += static_cast<char>(c);
  }
}

std::string escaped(std::string_view s, size_t max_chars, const char* more) {
  std::string out;
  size_t i = 0;
  for (; i < s.size() && out.size() < max_chars; ++i)
    append_escaped(out, static_cast<unsigned char>(s[i]));
  if (i < s.size()) out += "... (" + std::to_string(s.size() - i) + more;
  return out;
}

}  // namespace

std::string excerpt(std::string_view input, size_t max_chars) {
  return escaped(input, max_chars, " more bytes)");
}

std::string one_line(std::string_view message, size_t max_chars) {
  return escaped(message, max_chars, " more bytes of message)");
}

}  // namespace convlab
