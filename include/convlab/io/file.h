// Files, in one low layer that data, train and report all use: reads that accept regular files
// only and never block, writes that are atomic, and the clean-up of temporaries a killed process
// left behind. Every failure is an IoError naming the path and the reason.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "convlab/tensor/aligned.h"

namespace convlab {

// Reads a whole regular file of at most `max_bytes`. The path is opened without blocking and
// fstat'ed: a directory, FIFO, device or socket is refused ("<what> <path> is a directory, not a
// regular file"), as is a file over the cap; symlink loops and permissions are ordinary IoErrors.
// `what` names the file's role in messages ("model file", "checkpoint").
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes,
                               const std::string& what = "file");
// The same into a reused buffer on huge pages (data sets of hundreds of megabytes: no 4 KiB page
// faults, no new allocation per file).
void read_file_into(const std::string& path, uint64_t max_bytes, const std::string& what,
                    AlignedVector<uint8_t>& bytes);
std::string read_text_file(const std::string& path, uint64_t max_bytes,
                           const std::string& what = "file");

// What is at a path, without following a final symlink loop into an exception.
enum class PathKind { missing, regular, directory, other, error };
PathKind path_kind(const std::string& path);

// Calls write(temp_path) to produce the file, then renames it over `path` (fsync'ed), so a reader
// never sees half a file and a failure or a kill loses nothing. Temporaries are named
// "<path>.tmp.<pid>", so that remove_stale_temporaries can tell a dead writer's from a live one's.
void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& temp_path)>& write);
// The same for text or bytes already in memory.
void write_file_atomically(const std::string& path, const std::string& content);

// The temporary name write_file_atomically uses for `path` in this process.
std::string temporary_name(const std::string& path);

// The pid an entry named "<...>.<pid>" belongs to (temporaries, run epoch directories), or 0.
int owner_pid(const std::string& name);
// Whether a process with this pid runs (kill(pid, 0): only ESRCH means it does not).
bool process_runs(int pid);

// Removes, in `dir`, every "*.tmp.<pid>" entry whose process no longer runs (files and
// directories). Returns how many it removed. Missing `dir` is not an error.
int remove_stale_temporaries(const std::string& dir);

// Creates `dir` and its parents if missing; throws IoError "cannot create <what> <dir>: <why>".
void ensure_directory(const std::string& dir, const std::string& what = "output directory");

// fsync of a directory, so that a rename inside it survives a crash of the machine.
void sync_directory(const std::string& dir);

}  // namespace convlab
