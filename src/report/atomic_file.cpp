#include "convlab/report/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "convlab/error.h"

namespace convlab {

namespace {

std::string temp_name_for(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string&)>& write) {
  const std::string tmp = temp_name_for(path);
  // Open the temporary file ourselves first, so an unwritable place fails here with our message
  // rather than inside a library that would not say why.
  if (FILE* probe = std::fopen(tmp.c_str(), "wb")) {
    std::fclose(probe);
  } else {
    throw IoError("cannot write " + path + ": " + std::strerror(errno));
  }
  try {
    write(tmp);
    std::error_code ec;
    if (!std::filesystem::exists(tmp, ec) || std::filesystem::file_size(tmp, ec) == 0 || ec)
      throw IoError("cannot write " + path + ": nothing was written");
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw IoError("cannot write " + path + ": " + ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

void ensure_directory(const std::string& dir, const std::string& what) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError("cannot create " + what + " " + dir + ": " + ec.message());
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_file_atomically(path, [&](const std::string& tmp) {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError("cannot write " + path + ": " + std::strerror(errno));
    const size_t n = std::fwrite(content.data(), 1, content.size(), f);
    const bool ok = n == content.size() && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok) throw IoError("cannot write " + path + ": short write");
  });
}

}  // namespace convlab
