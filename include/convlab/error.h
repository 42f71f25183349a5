// Typed errors thrown by the library. Only the command-line tool turns them into a message and an
// exit code; library code never prints or exits.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace convlab {

// Base of every error convlab throws on purpose. what() is one line that names the problem and
// where it happened (layer, file, line, flag), with expected and actual values where they exist.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A tensor's shape does not fit the operation (wrong channel count, kernel larger than the input).
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A number or option is out of its allowed range (zero kernel size, negative padding, NaN loss).
class ValueError : public Error {
 public:
  using Error::Error;
};

// A file could not be read or written, or its content is not what its format promises.
class IoError : public Error {
 public:
  using Error::Error;
};

// A text file (model description, fixture) does not parse; the message names the line.
class ParseError : public Error {
 public:
  using Error::Error;
};

// How a message shows text that came from input (a model line, a path, a flag value): control
// characters escaped (\x1b, \n), at most `max_chars` characters, the rest counted, so that no
// input can flood the terminal, inject escape codes or break the one-line error.
std::string excerpt(std::string_view input, size_t max_chars = 200);

// A whole message made printable on one line: control characters escaped, at most `max_chars`.
std::string one_line(std::string_view message, size_t max_chars = 1000);

}  // namespace convlab
