#include "log/segment_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

namespace procreg::replay {

Result<std::shared_ptr<SegmentWriter>> SegmentWriter::create(int dir_fd, const std::string& dir,
                                                             const SegmentHeader& header,
                                                             bool replace) {
  std::string name = segment_file_name(header.first_seq);
  std::string path = dir + "/" + name;
  const std::string written = replace ? path + std::string(kSegmentTempSuffix) : path;
  auto fd = open_file(written, O_WRONLY | O_CREAT | O_APPEND | (replace ? O_TRUNC : O_EXCL));
  if (!fd.ok()) return fd.status();
  auto segment = std::make_shared<SegmentWriter>(std::move(*fd), path, std::move(name), 0);
  const std::string bytes = encode_segment_header(header);
  Status s = segment->append(bytes.data(), bytes.size());
  if (s.ok()) s = segment->sync();
  if (s.ok() && replace && std::rename(written.c_str(), path.c_str()) != 0) {
    s = io_error("rename", written, errno);
  }
  if (s.ok()) s = sync_all(dir_fd, dir);
  if (!s.ok()) {
    // Best effort: recovery removes a torn last segment anyway, and readers ignore the
    // temporary name.
    ::unlink(written.c_str());
    return s;
  }
  return segment;
}

Result<std::shared_ptr<SegmentWriter>> SegmentWriter::open(const std::string& dir,
                                                           const std::string& name) {
  std::string path = dir + "/" + name;
  auto fd = open_file(path, O_WRONLY | O_APPEND);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return io_error("fstat", path, errno);
  return std::make_shared<SegmentWriter>(std::move(*fd), std::move(path), name,
                                         static_cast<std::uint64_t>(st.st_size));
}

SegmentWriter::SegmentWriter(UniqueFd fd, std::string path, std::string name, std::uint64_t size)
    : fd_(std::move(fd)), path_(std::move(path)), name_(std::move(name)), size_(size) {}

Status SegmentWriter::append(const char* data, std::size_t n, bool* cut_back) {
  Status s = write_fully(fd_.get(), data, n, path_);
  if (s.ok()) {
    size_ += n;
    return s;
  }
  // Leave no partial record behind: the caller reports the append as failed.
  Status cut = truncate(size_);
  if (cut_back != nullptr) *cut_back = cut.ok();
  if (!cut.ok()) {
    return Status::io_error(s.message() + "; cutting the partial record failed: " + cut.message());
  }
  return s;
}

Status SegmentWriter::truncate(std::uint64_t size) {
  Status s = truncate_and_sync(fd_.get(), size, path_);
  if (s.ok()) size_ = size;
  return s;
}

Status SegmentWriter::sync() const { return sync_data(fd_.get(), path_); }

}  // namespace procreg::replay
