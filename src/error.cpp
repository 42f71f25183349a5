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

// Length of the valid UTF-8 sequence starting at s[i] (2 to 4), or 0 if there is none.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(k) & 0xC0) != 0x80) return 0;
  // No overlong forms, surrogates or code points above U+10FFFF.
  if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F) || (c == 0xF0 && b(1) < 0x90) ||
      (c == 0xF4 && b(1) > 0x8F))
    return 0;
  return n;
}

std::string escaped(std::string_view s, size_t max_chars, const char* more) {
  std::string out;
  size_t i = 0;
  while (i < s.size() && out.size() < max_chars) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // Valid UTF-8 (a path named in any language) is kept; any other byte is shown as \xNN,
      // so the message stays valid UTF-8 whatever the input held.
      if (const size_t n = utf8_sequence(s, i)) {
        out.append(s.substr(i, n));
        i += n;
        continue;
      }
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
      ++i;
      continue;
    }
    append_escaped(out, c);
    ++i;
  }
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
