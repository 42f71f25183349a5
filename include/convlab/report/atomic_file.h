// Atomic file writes: the content goes to a temporary file beside the target, which is renamed over
// the target only when complete, so a reader never sees half a file and a failure loses nothing.
#pragma once

#include <functional>
#include <string>

namespace convlab {

// Calls write(temp_path) to produce the file, then renames it to `path`. If write throws or the
// rename fails, the temporary file is removed and `path` is left as it was. Throws IoError.
void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& temp_path)>& write);
// The same for text or bytes already in memory.
void write_file_atomically(const std::string& path, const std::string& content);

// Creates `dir` and its parents if missing; throws IoError "cannot create <what> <dir>: <why>".
void ensure_directory(const std::string& dir, const std::string& what = "output directory");

}  // namespace convlab
