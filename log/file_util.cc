#include "log/file_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace procreg::replay {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

void UniqueFd::reset() {
  // close(2) is not retried on EINTR: on Linux the descriptor is released either way.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status io_error(std::string_view op, const std::string& path, int err) {
  std::string message(op);
  message += ' ';
  message += path;
  message += ": ";
  message += std::generic_category().message(err);
  return Status::io_error(std::move(message));
}

Result<UniqueFd> open_file(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return io_error("open", path, errno);
  return UniqueFd(fd);
}

Status write_fully(int fd, const char* data, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t written = ::write(fd, data, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      return io_error("write", path, errno);
    }
    data += written;
    n -= static_cast<std::size_t>(written);
  }
  return Status();
}

Status write_fully_at(int fd, const char* data, std::size_t n, std::uint64_t offset,
                      const std::string& path) {
  while (n > 0) {
    const ssize_t written = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      return io_error("write", path, errno);
    }
    data += written;
    offset += static_cast<std::uint64_t>(written);
    n -= static_cast<std::size_t>(written);
  }
  return Status();
}

Result<std::size_t> read_fully_at(int fd, char* buf, std::size_t n, std::uint64_t offset,
                                  const std::string& path) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return io_error("read", path, errno);
    }
    if (got == 0) break;  // end of file
    done += static_cast<std::size_t>(got);
  }
  return done;
}

Status sync_data(int fd, const std::string& path) {
  int rc;
  do {
    rc = ::fdatasync(fd);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? Status() : io_error("fdatasync", path, errno);
}

Status sync_all(int fd, const std::string& path) {
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? Status() : io_error("fsync", path, errno);
}

Status truncate_file(int fd, std::uint64_t size, const std::string& path) {
  int rc;
  do {
    rc = ::ftruncate(fd, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? Status() : io_error("ftruncate", path, errno);
}

Status truncate_and_sync(int fd, std::uint64_t size, const std::string& path) {
  if (Status s = truncate_file(fd, size, path); !s.ok()) return s;
  return sync_all(fd, path);
}

Status create_directories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("mkdir -p", dir, ec.value());
  return Status();
}

Result<UniqueFd> lock_directory(const std::string& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return fd.status();
  int rc;
  do {
    rc = ::flock(fd->get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno == EWOULDBLOCK) {
    return Status::unavailable("log directory " + dir + " is in use by another writer");
  }
  if (rc != 0) return io_error("flock", dir, errno);
  return fd;
}

Status remove_and_sync_dir(int dir_fd, const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  if (::unlink(path.c_str()) != 0) return io_error("unlink", path, errno);
  return sync_all(dir_fd, dir);
}

Result<std::vector<std::string>> remove_files(const std::string& dir,
                                              const std::function<bool(std::string_view)>& remove) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  std::vector<std::string> names;
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (remove(name)) names.push_back(std::move(name));
  }
  if (ec) return Status::io_error("cannot list log directory " + dir + ": " + ec.message());
  if (names.empty()) return names;
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("unlink", path, errno);
  }
  auto dir_fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!dir_fd.ok()) return dir_fd.status();
  Status synced = sync_all(dir_fd->get(), dir);
  if (!synced.ok()) return synced;
  return names;
}

}  // namespace procreg::replay
