// procreg::replay: thin, Status-returning wrappers over the POSIX file calls the log uses.
//
// Every function retries EINTR, never throws, and reports failure as kIoError naming the
// operation, the path and the errno text. Thread safety: as the underlying system calls.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/status.h"

namespace procreg::replay {

// Owns a file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

// kIoError "<op> <path>: <strerror(err)>".
Status io_error(std::string_view op, const std::string& path, int err);

// open(2) with O_CLOEXEC added.
Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode = 0644);

// Writes all n bytes at the file offset (or the end, under O_APPEND), looping over partial
// writes. On failure some prefix of the bytes may have been written.
Status write_fully(int fd, const char* data, std::size_t n, const std::string& path);

// Writes all n bytes at `offset` (pwrite), looping over partial writes. On failure some prefix
// of the bytes may have been written.
Status write_fully_at(int fd, const char* data, std::size_t n, std::uint64_t offset,
                      const std::string& path);

// Reads from `offset` until n bytes or end of file; returns how many bytes were read.
Result<std::size_t> read_fully_at(int fd, char* buf, std::size_t n, std::uint64_t offset,
                                  const std::string& path);

// fdatasync(2) and fsync(2).
Status sync_data(int fd, const std::string& path);
Status sync_all(int fd, const std::string& path);

// Cuts the open file to `size` bytes (ftruncate), without a sync.
Status truncate_file(int fd, std::uint64_t size, const std::string& path);
// Cuts the open file to `size` bytes and fsyncs it.
Status truncate_and_sync(int fd, std::uint64_t size, const std::string& path);

// Creates `dir` and its missing parents (mkdir -p).
Status create_directories(const std::string& dir);

// Opens `dir` and takes an exclusive, non-blocking flock on it for as long as the returned
// descriptor lives. kUnavailable if another open descriptor holds the lock.
Result<UniqueFd> lock_directory(const std::string& dir);

// Removes dir/name and fsyncs the directory (dir_fd) so the removal is durable.
Status remove_and_sync_dir(int dir_fd, const std::string& dir, const std::string& name);
// Removes the files of `dir` whose name `remove` accepts, then syncs the directory; returns
// their names, in no order.
Result<std::vector<std::string>> remove_files(const std::string& dir,
                                              const std::function<bool(std::string_view)>& remove);

}  // namespace procreg::replay
