// Files written line by line or replaced atomically, and read back whole: what programs that
// report to each other through files need (a writer's acknowledgements, a subscriber's
// position, a server's endpoints, a dump).
//
// Thread safety: LineFile::append may be called from any thread (one write(2) per call); the
// functions have no state.
#pragma once

#include <string>
#include <vector>

namespace procreg::tools {

// A file opened for appending; each append() is one write(2) of whole lines, optionally
// followed by fsync(2), so a reader never sees half a line unless the writer dies inside
// the call.
class LineFile {
 public:
  // Opens (creates) `path` for appending. Throws std::runtime_error if it cannot.
  explicit LineFile(const std::string& path);
  ~LineFile();
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;

  const std::string& path() const { return path_; }
  // `lines` must end with '\n'. Throws std::runtime_error on a failed write or fsync.
  void append(const std::string& lines, bool sync) const;

 private:
  std::string path_;
  int fd_ = -1;
};

// Replaces `path` with `content` atomically (a temporary file, fsync, rename): a reader sees
// the old content or the new one, also after a crash. Throws std::runtime_error.
void write_file_atomic(const std::string& path, const std::string& content);

// The whole file ("" if it cannot be read).
std::string read_file(const std::string& path);

// The complete lines of a file (a last line without '\n', being written, is left out).
std::vector<std::string> read_lines(const std::string& path);

}  // namespace procreg::tools
