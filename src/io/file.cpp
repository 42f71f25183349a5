#include "convlab/io/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "convlab/error.h"
#include "convlab/limits.h"

namespace convlab {

namespace {

std::string reason(int err) {
  return std::strerror(err);
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Closes a descriptor on every path out of a function.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

namespace {

// Reads the whole file into `bytes` (resized to the file's size): shared by the two containers.
template <typename Bytes>
void read_whole_file(const std::string& path, uint64_t max_bytes, const std::string& what,
                     Bytes& bytes) {
  const std::string name = what + " " + excerpt(path);
  if (path.empty()) throw IoError(what + ": the path is empty");
  // O_NONBLOCK: opening a FIFO with no writer must not wait; fstat then refuses it anyway.
  Fd f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
  if (f.fd < 0) throw IoError("cannot open " + name + ": " + reason(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw IoError("cannot read " + name + ": " + reason(errno));
  if (!S_ISREG(st.st_mode))
    throw IoError(name + " is " + kind_of(st.st_mode) + ", not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw IoError(name + " has " + human_bytes(size) + "; at most " + human_bytes(max_bytes) +
                  " are accepted");
  bytes.resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError("cannot read " + name + ": " + reason(errno));
    if (n == 0) throw IoError("cannot read " + name + ": it shrank while being read");
    done += static_cast<size_t>(n);
  }
}

}  // namespace

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes,
                               const std::string& what) {
  std::vector<uint8_t> bytes;
  read_whole_file(path, max_bytes, what, bytes);
  return bytes;
}

void read_file_into(const std::string& path, uint64_t max_bytes, const std::string& what,
                    AlignedVector<uint8_t>& bytes) {
  read_whole_file(path, max_bytes, what, bytes);
}

std::string read_text_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  const auto bytes = read_file(path, max_bytes, what);
  return std::string(bytes.begin(), bytes.end());
}

PathKind path_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno == ENOENT ? PathKind::missing : PathKind::error;
  if (S_ISREG(st.st_mode)) return PathKind::regular;
  if (S_ISDIR(st.st_mode)) return PathKind::directory;
  return PathKind::other;
}

std::string temporary_name(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string&)>& write) {
  const std::string tmp = temporary_name(path);
  // Open the temporary file ourselves first, so an unwritable place fails here with our message
  // rather than inside a library that would not say why.
  if (FILE* probe = std::fopen(tmp.c_str(), "wb")) {
    std::fclose(probe);
  } else {
    throw IoError("cannot write " + excerpt(path) + ": " + reason(errno));
  }
  try {
    write(tmp);
    struct stat st {};
    if (::stat(tmp.c_str(), &st) != 0 || st.st_size == 0)
      throw IoError("cannot write " + excerpt(path) + ": nothing was written");
    // The data must be on disk before the rename makes it visible.
    Fd f{::open(tmp.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0 || ::fsync(f.fd) != 0)
      throw IoError("cannot write " + excerpt(path) + ": " + reason(errno));
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw IoError("cannot write " + excerpt(path) + ": " + reason(errno));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_file_atomically(path, [&](const std::string& tmp) {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError("cannot write " + excerpt(path) + ": " + reason(errno));
    const size_t n = std::fwrite(content.data(), 1, content.size(), f);
    const bool ok = n == content.size() && std::fflush(f) == 0;
    std::fclose(f);
    if (!ok) throw IoError("cannot write " + excerpt(path) + ": short write");
  });
}

int owner_pid(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return 0;
  const std::string digits = name.substr(dot + 1);
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return std::stoi(digits);
}

bool process_runs(int pid) {
  // kill(pid, 0) fails with ESRCH only when no such process exists; EPERM means it lives.
  return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH);
}

int remove_stale_temporaries(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at + 4 != name.rfind('.')) continue;  // "<...>.tmp.<pid>" only
    const int pid = owner_pid(name);
    if (pid == 0 || pid == ::getpid() || process_runs(pid)) continue;
    std::error_code rm;
    std::filesystem::remove_all(it->path(), rm);
    if (!rm) ++removed;
  }
  return removed;
}

void ensure_directory(const std::string& dir, const std::string& what) {
  if (dir.empty()) throw IoError(what + ": the path is empty");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError("cannot create " + what + " " + excerpt(dir) + ": " + ec.message());
  if (path_kind(dir) != PathKind::directory)
    throw IoError("cannot create " + what + " " + excerpt(dir) + ": a file of that name exists");
}

void sync_directory(const std::string& dir) {
  Fd f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (f.fd >= 0) ::fsync(f.fd);
}

}  // namespace convlab
