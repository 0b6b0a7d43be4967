#include "log/segment_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

namespace procreg::replay {
namespace {

// Zeros are written from here, at most this much per write(2).
constexpr std::size_t kZeroChunk = 1u << 20;
const char kZeros[kZeroChunk] = {};
// The zero fill grows in whole pages.
constexpr std::uint64_t kPage = 4096;

}  // namespace

Result<std::shared_ptr<SegmentWriter>> SegmentWriter::create(int dir_fd, const std::string& dir,
                                                             const SegmentHeader& header,
                                                             bool replace,
                                                             std::uint64_t zero_fill) {
  std::string name = segment_file_name(header.first_seq);
  std::string path = dir + "/" + name;
  const std::string written = replace ? path + std::string(kSegmentTempSuffix) : path;
  auto fd = open_file(written, O_WRONLY | O_CREAT | (replace ? O_TRUNC : O_EXCL));
  if (!fd.ok()) return fd.status();
  const std::uint64_t fill = header.unsynced_limit > 0 ? std::max<std::uint64_t>(zero_fill, 1) : 0;
  auto segment = std::make_shared<SegmentWriter>(std::move(*fd), path, std::move(name), 0, fill,
                                                 header.unsynced_limit);
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
  auto fd = open_file(path, O_WRONLY);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return io_error("fstat", path, errno);
  return std::make_shared<SegmentWriter>(std::move(*fd), std::move(path), name,
                                         static_cast<std::uint64_t>(st.st_size), 0, 0);
}

SegmentWriter::SegmentWriter(UniqueFd fd, std::string path, std::string name, std::uint64_t size,
                             std::uint64_t zero_fill, std::uint32_t unsynced_limit)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      name_(std::move(name)),
      zero_fill_(zero_fill),
      unsynced_limit_(unsynced_limit),
      size_(size),
      filled_(size),
      written_(size),
      synced_(size) {}

Status SegmentWriter::append(const char* data, std::size_t n, bool* cut_back) {
  Status s = write_fully_at(fd_.get(), data, n, size_, path_);
  if (!s.ok()) {
    // Leave no partial record behind: the caller reports the append as failed. (The zero fill
    // goes too; the next append writes it again.)
    Status cut = truncate(size_);
    if (cut_back != nullptr) *cut_back = cut.ok();
    if (!cut.ok()) {
      return Status::io_error(s.message() +
                              "; cutting the partial record failed: " + cut.message());
    }
    return s;
  }
  size_ += n;
  filled_ = std::max(filled_, size_);
  written_.store(size_, std::memory_order_release);
  // Zeros after the records, so that the next ones are written over synced blocks. Records
  // first, zeros after: a crash between leaves what an append would. A zero fill that cannot
  // be written (a full disk) is only a slower sync: the records grow the file instead.
  if (zero_fill_ > 0 && filled_ - size_ < zero_fill_ / 2 + 1) (void)extend_fill(size_);
  return s;
}

Status SegmentWriter::extend_fill(std::uint64_t end) {
  const std::uint64_t target = (end + zero_fill_ + kPage - 1) / kPage * kPage;
  while (filled_ < target) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kZeroChunk, target - filled_));
    Status s = write_fully_at(fd_.get(), kZeros, n, filled_, path_);
    if (!s.ok()) return s;
    filled_ += n;
  }
  return Status();
}

bool SegmentWriter::must_sync_before(std::size_t n) const {
  return unsynced_limit_ > 0 &&
         size_ + n - std::min(size_, synced_.load(std::memory_order_acquire)) > unsynced_limit_;
}

Status SegmentWriter::truncate(std::uint64_t size) {
  Status s = truncate_and_sync(fd_.get(), size, path_);
  if (s.ok()) {
    size_ = std::min(size_, size);
    filled_ = size;
    written_.store(size_, std::memory_order_release);
    synced_.store(size_, std::memory_order_release);
  }
  return s;
}

Status SegmentWriter::seal() {
  if (filled_ > size_) {
    if (Status s = truncate_file(fd_.get(), size_, path_); !s.ok()) return s;
    filled_ = size_;
  }
  return sync();  // fdatasync makes the new size durable too
}

Status SegmentWriter::sync() const {
  const std::uint64_t covered = written_.load(std::memory_order_acquire);
  Status s = sync_data(fd_.get(), path_);
  if (!s.ok()) return s;
  std::uint64_t prev = synced_.load(std::memory_order_relaxed);
  while (prev < covered &&
         !synced_.compare_exchange_weak(prev, covered, std::memory_order_acq_rel)) {
  }
  return s;
}

}  // namespace procreg::replay
